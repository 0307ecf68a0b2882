"""Reading :class:`~streams.settings.VigilSettings` at a command's start, where a bad
environment is the user's to fix: it is reported on stderr, not raised."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from streams.settings import VigilSettings


def load_settings() -> VigilSettings | None:
    """The settings from the environment, or ``None`` after saying on stderr what is wrong.

    >>> import contextlib, io, os
    >>> os.environ["VIGIL_PARTITIONS"] = "many"
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     settings = load_settings()
    >>> del os.environ["VIGIL_PARTITIONS"]
    >>> settings, err.getvalue().startswith("vigil: invalid settings: 1 validation error")
    (None, True)
    """
    try:
        return VigilSettings()
    except ValidationError as error:
        print(f"vigil: invalid settings: {error}", file=sys.stderr)
        return None
