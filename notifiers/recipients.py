"""Who each recipient role is, in practice: channels and addresses, from configuration.

The rules speak of roles (provider, cqc, mhra, operator, commissioner); this file maps them
to targets, each a named channel plus an address. Providers are looked up by ODS code (a
site code such as ``RXF05`` falls back to its trust ``RXF``), then ``default``. Secrets are
never in the file: channels name the environment variable that holds them.

Example::

    channels:
      outbox: {type: outbox, directory: /var/lib/vigil/outbox}
      nhsmail: {type: email, host: send.nhs.net, port: 587, sender: audit@nhs.net,
                username: audit@nhs.net, password_env: VIGIL_SMTP_PASSWORD}
      cqc_hook: {type: webhook, url: "https://intake.example/vigil", secret_env: VIGIL_CQC_KEY}
    provider:
      default: [{channel: outbox, address: providers}]
      by_ods:
        RXF: [{channel: nhsmail, address: lead.clinician@nhs.net}]
    cqc: [{channel: cqc_hook}]
    mhra: [{channel: nhsmail, address: devices@mhra.example}]
    operator: [{channel: outbox, address: operator}]
    commissioner: [{channel: outbox, address: commissioner}]
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from notifiers.rules import RulesError
from streams.contract.validation import error_messages

_STRICT = ConfigDict(extra="forbid", frozen=True)


class Target(BaseModel):
    """One channel and the address on it (empty: the channel's own default)."""

    model_config = _STRICT
    channel: str
    address: str = ""


class ProviderTargets(BaseModel):
    model_config = _STRICT
    default: tuple[Target, ...] = ()
    by_ods: dict[str, tuple[Target, ...]] = Field(default_factory=dict)


class RecipientsConfig(BaseModel):
    """Channels (``type`` plus the adapter's settings) and the targets of every role."""

    model_config = _STRICT
    channels: dict[str, dict[str, Any]]
    provider: ProviderTargets = ProviderTargets()
    cqc: tuple[Target, ...] = ()
    mhra: tuple[Target, ...] = ()
    operator: tuple[Target, ...] = ()
    commissioner: tuple[Target, ...] = ()

    @model_validator(mode="after")
    def _channels_exist(self) -> RecipientsConfig:
        for name, settings in self.channels.items():
            if "type" not in settings:
                raise ValueError(f"channel {name!r} has no type")
        for target in self._all_targets():
            if target.channel not in self.channels:
                raise ValueError(f"unknown channel {target.channel!r}")
        return self

    def _all_targets(self) -> Iterable[Target]:
        yield from self.provider.default
        for targets in self.provider.by_ods.values():
            yield from targets
        for role in ("cqc", "mhra", "operator", "commissioner"):
            yield from getattr(self, role)

    def resolve(self, recipient: str, ods_codes: Iterable[str] = ()) -> list[Target]:
        """The targets for a role; for ``provider``, each ODS code's (or the default).

        >>> config = RecipientsConfig(
        ...     channels={"out": {"type": "outbox"}},
        ...     provider={"default": [{"channel": "out", "address": "providers"}],
        ...               "by_ods": {"RXF": [{"channel": "out", "address": "rxf"}]}})
        >>> [t.address for t in config.resolve("provider", ["RXF05", "RAJ"])]
        ['rxf', 'providers']
        >>> config.resolve("cqc")
        []
        """
        if recipient != "provider":
            return list(getattr(self, recipient, ()))
        found: list[Target] = []
        for code in list(ods_codes) or [""]:
            by_ods = self.provider.by_ods
            found.extend(by_ods.get(code) or by_ods.get(code[:3]) or self.provider.default)
        return list(dict.fromkeys(found))


def embedded_recipients(directory: str | Path = "vigil-outbox") -> RecipientsConfig:
    """Every role to the outbox folder, one subfolder each: the zero-configuration default."""
    return RecipientsConfig(
        channels={"outbox": {"type": "outbox", "directory": str(directory)}},
        provider={"default": [{"channel": "outbox", "address": "provider"}]},
        **{role: [{"channel": "outbox", "address": role}]
           for role in ("cqc", "mhra", "operator", "commissioner")},
    )


def load_recipients(path: str | Path) -> RecipientsConfig:
    """Read and validate a recipients YAML file; :class:`RulesError` lists every problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RecipientsConfig.model_validate(data)
    except OSError as error:
        raise RulesError([f"{path}: cannot read: {error.strerror}"]) from None
    except yaml.YAMLError as error:
        raise RulesError([f"{path}: not valid YAML: {error}"]) from None
    except ValidationError as error:
        raise RulesError([f"{path.name}: {line}" for line in
                          error_messages(error, strip_value_error=False, top="(top)")]
                         ) from None
