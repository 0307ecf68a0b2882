"""pydantic validation errors as ``path: message`` lines people can act on.

Events, the metric config, the escalation rules and the recipients file all report their
problems this way; one formatter keeps the paths alike (``metrics[0].monitors[1].kind``) and
never echoes the offending input, which may be personal data.

>>> from pydantic import BaseModel, ValidationError, field_validator
>>> class Target(BaseModel):
...     channel: str
...     @field_validator("channel")
...     @classmethod
...     def known(cls, value: str) -> str:
...         raise ValueError(f"unknown channel {value!r}")
>>> class Recipients(BaseModel):
...     cqc: list[Target]
>>> try:
...     Recipients.model_validate({"cqc": [{"channel": "fax"}, {}]})
... except ValidationError as error:
...     problems = error
>>> error_messages(problems)
["cqc[0].channel: unknown channel 'fax'", 'cqc[1].channel: Field required']
>>> error_messages(problems, strip_value_error=False)[0]
"cqc[0].channel: Value error, unknown channel 'fax'"
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

VALUE_ERROR_PREFIX = "Value error, "
"""What pydantic puts before the text of a ``ValueError`` raised in a validator."""


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def error_path(loc: Iterable[Any], *, hide: Collection[Any] = (), mask_keys: bool = False) -> str:
    """A location as a path: dotted names, ``[i]`` for list indices, without the parts in
    ``hide`` (a discriminated union's tags, pydantic's ``[key]`` marker), which are not
    where the user wrote anything.

    >>> error_path(("metrics", 0, "binary_outcome", "monitors", 1, "kind"),
    ...            hide={"binary_outcome"})
    'metrics[0].monitors[1].kind'
    >>> error_path(())
    ''

    With ``mask_keys``, a part that is not a plain name is shown as ``<key>``: the keys of
    ``risk_factors`` and ``outcomes`` are input, and a reason must never echo input (an NHS
    number used as a key, say).

    >>> error_path(("risk_factors", "943 476 5919"), mask_keys=True)
    'risk_factors.<key>'
    """
    path = ""
    for part in loc:
        if part in hide:
            continue
        if mask_keys and isinstance(part, str) and part != "[key]" \
                and not _PLAIN_KEY.match(part):
            part = "<key>"
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def error_items(error: ValidationError, *, hide: Collection[Any] = (),
                union_tags: Collection[Any] = (), strip_value_error: bool = True,
                mask_keys: bool = False) -> Iterator[tuple[str, str, ErrorDetails]]:
    """``(path, message, details)`` for each error, for a caller that rewords some kinds of
    error (``details["type"]``). ``union_tags``: a first location part naming the member of
    a discriminated union (an event's type) is left out, but only in first place.
    ``strip_value_error``: drop pydantic's ``"Value error, "`` before a validator's text.
    """
    for item in error.errors(include_url=False, include_input=False):
        loc = tuple(item["loc"])
        if loc and loc[0] in union_tags:
            loc = loc[1:]
        message = item["msg"]
        if strip_value_error:
            message = message.removeprefix(VALUE_ERROR_PREFIX)
        yield error_path(loc, hide=hide, mask_keys=mask_keys), message, item


def error_messages(error: ValidationError, *, hide: Collection[Any] = (),
                   union_tags: Collection[Any] = (), strip_value_error: bool = True,
                   top: str | None = None, mask_keys: bool = False) -> list[str]:
    """One ``path: message`` line per error (see :func:`error_items`). An error about the
    whole document has no path: its line is the bare message, or ``top: message`` when
    ``top`` is given (``"(top)"``, say).

    >>> from pydantic import BaseModel, ValidationError
    >>> class Policy(BaseModel):
    ...     stages: list[int]
    >>> try:
    ...     Policy.model_validate([])
    ... except ValidationError as error:
    ...     for line in error_messages(error) + error_messages(error, top="(top)"):
    ...         print(line)
    Input should be a valid dictionary or instance of Policy
    (top): Input should be a valid dictionary or instance of Policy
    """
    lines = []
    for path, message, _ in error_items(error, hide=hide, union_tags=union_tags,
                                        strip_value_error=strip_value_error,
                                        mask_keys=mask_keys):
        if path:
            lines.append(f"{path}: {message}")
        elif top is not None:
            lines.append(f"{top}: {message}")
        else:
            lines.append(message)
    return lines
