"""What every ``vigil`` command shares at the console: exit codes and the usage error.

One definition, so that ``vigil replay``, ``vigil case`` and the rest mean the same thing by
the same status (scripts and the deploy checks test these numbers):

* ``0``: done;
* :data:`EXIT_FAILED` (1): the work ran and failed (a model that cannot be fitted, a broken
  hash chain, a file that cannot be written);
* :data:`EXIT_REFUSED` (1): a valid request the system declines (no such case, an action
  the case's state does not allow);
* :data:`EXIT_USAGE` (2): the command line, a config or a rules file cannot be acted on;
  nothing was done.

>>> import contextlib, io
>>> err = io.StringIO()
>>> with contextlib.redirect_stderr(err):
...     code = usage_error("vigil replay: --config is required with an events file")
>>> code, err.getvalue()
(2, 'vigil replay: --config is required with an events file\\n')
"""

from __future__ import annotations

import sys

EXIT_FAILED = 1
EXIT_REFUSED = 1
EXIT_USAGE = 2


def usage_error(message: object) -> int:
    """Print ``message`` to stderr and return :data:`EXIT_USAGE`, for ``return
    usage_error(...)`` in a command."""
    print(message, file=sys.stderr)
    return EXIT_USAGE


def refused(message: object) -> int:
    """Print ``message`` to stderr and return :data:`EXIT_REFUSED`.

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()):
    ...     refused("vigil case: no case C9")
    1
    """
    print(message, file=sys.stderr)
    return EXIT_REFUSED


def failed(message: object) -> int:
    """Print ``message`` to stderr and return :data:`EXIT_FAILED`.

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()):
    ...     failed("vigil fit-risk-model: cannot write model.yaml: Permission denied")
    1
    """
    print(message, file=sys.stderr)
    return EXIT_FAILED
