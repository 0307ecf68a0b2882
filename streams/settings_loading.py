"""Reading :class:`~streams.settings.VigilSettings` at a command's start, where a bad
environment is the user's to fix: it is reported on stderr in one line naming the
variable, never raised as a traceback, and never with the value given (it may be a
secret)."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from streams.settings import VigilSettings

ENV_PREFIX = str(VigilSettings.model_config.get("env_prefix", "VIGIL_"))


def settings_problem(error: ValidationError) -> str:
    """One line saying which ``VIGIL_*`` variables are wrong and why, without their values.

    >>> try:
    ...     VigilSettings(web_port=-1, batch_size=0)
    ... except ValidationError as error:
    ...     for part in settings_problem(error).split("; "):
    ...         print(part)
    vigil: invalid setting VIGIL_WEB_PORT: Input should be greater than or equal to 0
    VIGIL_BATCH_SIZE: Input should be greater than or equal to 1
    """
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        loc = item["loc"]
        parts.append(f"{ENV_PREFIX}{str(loc[0]).upper()}: {message}" if loc else message)
    return "vigil: invalid setting " + "; ".join(parts)


def is_settings_error(error: BaseException) -> bool:
    """Whether ``error`` is the settings model refusing the environment."""
    return isinstance(error, ValidationError) and error.title == VigilSettings.__name__


def load_settings() -> VigilSettings | None:
    """The settings from the environment, or ``None`` after saying on stderr what is wrong.

    >>> import contextlib, io, os
    >>> os.environ["VIGIL_PARTITIONS"] = "many"
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     settings = load_settings()
    >>> del os.environ["VIGIL_PARTITIONS"]
    >>> settings, err.getvalue().startswith("vigil: invalid setting VIGIL_PARTITIONS: ")
    (None, True)
    """
    try:
        return VigilSettings()
    except ValidationError as error:
        print(settings_problem(error), file=sys.stderr)
        return None
