"""The configuration reference, generated from the settings model so it cannot drift.

Every row is read from :class:`streams.settings.VigilSettings` when this runs: the
environment variable a field is read from (its ``VIGIL_`` prefix, or an alias, as
pydantic-settings resolves it), its type, its default and its description (the attribute
docstring). The few variables read outside the model (:data:`OTHER_VARIABLES`) follow; a
test checks that they are exactly the ``"VIGIL_…"`` names the package's code holds.
``vigil config reference`` and ``python -m streams.docs.settings_reference`` print it
(:mod:`streams.docs.settings_reference`).

>>> from pydantic import Field
>>> from pydantic_settings import BaseSettings, SettingsConfigDict
>>> class Example(BaseSettings):  # attribute docstrings need a source file; a doctest has none
...     model_config = SettingsConfigDict(env_prefix="APP_")
...     port: int = Field(8080, ge=1, le=65535, description="Where the web server listens.")
>>> print(settings_reference_markdown(Example, others={}), end="")
| Environment variable | Type | Default | Description |
|---|---|---|---|
| `APP_PORT` | integer, 1 to 65535 | `8080` | Where the web server listens. |
"""

from __future__ import annotations

import ast
import enum
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

OTHER_VARIABLES: dict[str, tuple[str, str, str]] = {
    "VIGIL_EVENT_TIME_EARLIEST": (
        "ISO date or time", "1900-01-01",
        "Events that occurred before this are rejected (`invalid_event`, naming `occurred_at`)."),
    "VIGIL_EVENT_TIME_AHEAD_DAYS": (
        "days (0–36500)", "1",
        "Events more than this far ahead of now are rejected; the demo's fast-forward "
        "synthetic feed raises it."),
    "VIGIL_EVENT_TIME_NOW": (
        "ISO time", "the wall clock",
        "Fixes \"now\" for the event-time window (replaying or simulating a stream dated "
        "ahead of today; the test suite sets it)."),
    "VIGIL_API_TOKEN": (
        "secret string", "*unset*",
        "Your own token (one of `VIGIL_API_TOKENS`) for `vigil case` actions: the log records "
        "its principal as who acted (or `--token-file`)."),
}
"""Variables read with ``os.environ`` rather than through the settings model:
name → (type, default, description)."""

CHANNEL_SECRETS_NOTE = (
    "Notifier channel secrets are not fixed names: the recipients file names the variable "
    "that holds each SMTP password or webhook signing key (`password_env`, `secret_env`; "
    "e.g. `VIGIL_SMTP_PASSWORD`, `VIGIL_CQC_KEY`).")

PACKAGES = ("signals", "streams", "notifiers")

HEADER = ("| Environment variable | Type | Default | Description |\n"
          "|---|---|---|---|")


@dataclass(frozen=True, slots=True)
class SettingRow:
    """One environment variable of the settings model."""

    env: str
    type: str
    default: str
    description: str
    secret: bool

    def markdown(self) -> str:
        cells = (f"`{self.env}`", self.type, self.default, self.description)
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _default_model() -> type[BaseModel]:
    from streams.settings import VigilSettings

    return VigilSettings


def environment_names(field_name: str, field: FieldInfo, prefix: str) -> list[str]:
    """The variables pydantic-settings reads a field from (upper case): an alias replaces
    the prefixed name.

    >>> environment_names("web_port", FieldInfo(), "VIGIL_")
    ['VIGIL_WEB_PORT']
    >>> environment_names("x", FieldInfo(validation_alias=AliasChoices("A_B", "C")), "VIGIL_")
    ['A_B', 'C']
    """
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [c.upper() for c in alias.choices if isinstance(c, str)]
    return [(prefix + field_name).upper()]


def setting_rows(model: type[BaseModel] | None = None) -> Iterator[SettingRow]:
    """The model's environment variables in declaration order; a nested model's fields
    are listed one by one when the model sets ``env_nested_delimiter``."""
    model = model or _default_model()
    config = model.model_config
    yield from _rows(model, str(config.get("env_prefix") or ""),
                     config.get("env_nested_delimiter"))


def _rows(model: type[BaseModel], prefix: str, delimiter: Any) -> Iterator[SettingRow]:
    for name, field in model.model_fields.items():
        nested = _model_type(field.annotation)
        for env in environment_names(name, field, prefix):
            if nested is not None and delimiter:
                yield from _rows(nested, env + delimiter, delimiter)
                continue
            yield SettingRow(env, describe_type(field), describe_default(field),
                             _markdown(field.description or ""),
                             _is_secret(field.annotation))


def _markdown(docstring: str) -> str:
    """One line, reStructuredText's ````code```` as Markdown's ```code```."""
    return re.sub(r"``(.+?)``", r"`\1`", " ".join(docstring.split()))


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _model_type(annotation: Any) -> type[BaseModel] | None:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _is_secret(annotation: Any) -> bool:
    return any(m is SecretStr for m in _members(annotation))


_NAMES = {str: "string", int: "integer", float: "number", bool: "true/false",
          Path: "file path", SecretStr: "secret string"}


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(f"`{v}`" for v in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
    if annotation in _NAMES:
        return _NAMES[annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "JSON object"
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return "JSON array"
    if origin is dict:
        return "JSON object"
    return getattr(annotation, "__name__", str(annotation))


def describe_type(field: FieldInfo) -> str:
    """A reader's name for the field's type, with its bounds.

    >>> from pydantic import Field
    >>> describe_type(Field(8, ge=1, le=1024))  # annotation set by the model normally
    'integer, 1 to 1024'
    """
    annotation = field.annotation if field.annotation is not None else type(field.default)
    members = [m for m in _members(annotation) if m is not type(None)]
    text = " or ".join(_type_name(m) for m in members)
    bounds = {type(m).__name__: getattr(m, type(m).__name__.lower(), None)
              for m in field.metadata}
    if "Ge" in bounds and "Le" in bounds:
        text += f", {bounds['Ge']} to {bounds['Le']}"
    elif "Ge" in bounds:
        text += f", ≥ {bounds['Ge']}"
    elif "Gt" in bounds:
        text += f", > {bounds['Gt']}"
    if "Le" in bounds and "Ge" not in bounds:
        text += f", ≤ {bounds['Le']}"
    if "Lt" in bounds:
        text += f", < {bounds['Lt']}"
    return text


def describe_default(field: FieldInfo) -> str:
    """The default as the variable would be written, or *unset* / *required*."""
    if field.default_factory is not None:
        default = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "*required*"
    else:
        default = field.default
    if default is None:
        return "*unset*"
    if isinstance(default, SecretStr):
        return "*secret*"
    if isinstance(default, enum.Enum):
        default = default.value
    if isinstance(default, bool):
        default = str(default).lower()
    return f"`{default}`"


def settings_reference_markdown(
        model: type[BaseModel] | None = None,
        others: dict[str, tuple[str, str, str]] | None = None) -> str:
    """The reference table (Markdown, ending in a newline): the model's variables, then
    ``others`` (default :data:`OTHER_VARIABLES`, with the note on channel secrets)."""
    rows = [row.markdown() for row in setting_rows(model)]
    others = OTHER_VARIABLES if others is None else others
    rows += [SettingRow(env, *about, secret=False).markdown() for env, about in others.items()]
    text = "\n".join([HEADER, *rows]) + "\n"
    if others is OTHER_VARIABLES:
        text += "\n" + CHANNEL_SECRETS_NOTE + "\n"
    return text


def source_environment_names(root: Path | None = None) -> dict[str, list[str]]:
    """Every string constant of the form ``VIGIL_NAME`` in the package sources under
    ``root`` (default: this checkout), with the files that hold it: the variables the code
    reads outside the settings model. This module is left out: it documents them."""
    root = root or Path(__file__).resolve().parents[2]
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path.relative_to(root).as_posix() == "streams/docs/settings_table.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and re.fullmatch(r"VIGIL_[A-Z0-9_]+", node.value)):
                    found.setdefault(node.value, []).append(str(path.relative_to(root)))
    return found
