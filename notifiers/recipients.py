"""Who each recipient role is, in practice: channels and addresses, from configuration.

The rules speak of roles; this file maps them to targets, each a named channel plus an
address. A provider has three roles, as HQIP's process has (lead clinician, told first;
Medical Director, copied; Chief Executive, at confirmation), and ``provider`` means the
provider as a whole (its lead clinician where the roles are given). Providers are looked
up by ODS code (a site code such as ``RXF05`` falls back to its trust ``RXF``), then
``default``; an entry is either one list of targets for every role or a mapping of roles,
and a role it leaves out falls back to ``default``. A clinician's case goes to the roles
of the clinician's provider (the signal's ``provider``). Manufacturers are looked up by
device (UDI-DI/GTIN, padded to 14 digits), then ``default``. Secrets are never in the
file: channels name the environment variable that holds them.

Example::

    channels:
      outbox: {type: outbox, directory: /var/lib/vigil/outbox}
      nhsmail: {type: email, host: send.nhs.net, port: 587, sender: audit@nhs.net,
                username: audit@nhs.net, password_env: VIGIL_SMTP_PASSWORD}
      cqc_hook: {type: webhook, url: "https://intake.example/vigil", secret_env: VIGIL_CQC_KEY}
    provider:
      default: [{channel: outbox, address: providers}]
      by_ods:
        RXF:
          lead_clinician: [{channel: nhsmail, address: cardiac.lead@nhs.net}]
          medical_director: [{channel: nhsmail, address: medical.director@nhs.net}]
          chief_executive: [{channel: nhsmail, address: chief.executive@nhs.net}]
        RAJ: [{channel: nhsmail, address: audit.office@nhs.net}]
    cqc: [{channel: cqc_hook}]
    nhs_england: [{channel: nhsmail, address: england.oversight@nhs.net}]
    mhra: [{channel: nhsmail, address: devices@mhra.example}]
    manufacturer:
      by_device:
        "05012345678900": {name: Example Orthopaedics Ltd,
                           targets: [{channel: nhsmail, address: vigilance@example.com}]}
    operator: [{channel: outbox, address: operator}]
    commissioner: [{channel: outbox, address: commissioner}]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from notifiers.rules import PROVIDER_ROLES, RulesError
from streams.contract.identifiers import ODS_CODE, gtin
from streams.contract.validation import error_messages

_STRICT = ConfigDict(extra="forbid", frozen=True)
SINGLE_ROLES = ("cqc", "nhs_england", "mhra", "operator", "commissioner")
"""Roles with one set of targets, whatever the case."""


class Target(BaseModel):
    """One channel and the address on it (empty: the channel's own default)."""

    model_config = _STRICT
    channel: str
    address: str = ""


class ProviderContacts(BaseModel):
    """One provider's targets, role by role."""

    model_config = _STRICT
    lead_clinician: tuple[Target, ...] = ()
    medical_director: tuple[Target, ...] = ()
    chief_executive: tuple[Target, ...] = ()

    def targets(self) -> Iterable[Target]:
        for role in PROVIDER_ROLES:
            yield from getattr(self, role)


ProviderEntry = tuple[Target, ...] | ProviderContacts


def _for_role(entry: ProviderEntry | None, role: str) -> tuple[Target, ...]:
    """An entry's targets for ``role`` (``provider``: its lead clinician); a list serves
    every role."""
    if entry is None:
        return ()
    if isinstance(entry, ProviderContacts):
        return getattr(entry, "lead_clinician" if role == "provider" else role)
    return entry


def _entry_targets(entry: ProviderEntry) -> Iterable[Target]:
    return entry.targets() if isinstance(entry, ProviderContacts) else entry


class ProviderTargets(BaseModel):
    """Providers' targets by ODS code, and the default for any provider or role not given."""

    model_config = _STRICT
    default: ProviderEntry = ()
    by_ods: dict[str, ProviderEntry] = Field(default_factory=dict)

    @field_validator("by_ods", mode="before")
    @classmethod
    def _ods_codes(cls, value: Any) -> Any:
        for code in value if isinstance(value, dict) else ():
            if not re.fullmatch(ODS_CODE, str(code)):
                raise ValueError(f"{code!r} is not an ODS code (3 to 6 uppercase letters "
                                 "or digits)")
        return value

    def resolve(self, role: str, code: str) -> tuple[Target, ...]:
        entry = self.by_ods.get(code) or self.by_ods.get(code[:3])
        return _for_role(entry, role) or _for_role(self.default, role)


class Manufacturer(BaseModel):
    """A device's manufacturer: its name and where to write to it."""

    model_config = _STRICT
    name: str = Field(min_length=1)
    targets: tuple[Target, ...] = ()


class ManufacturerTargets(BaseModel):
    """Manufacturers by device identifier (any GTIN form, held padded to 14 digits)."""

    model_config = _STRICT
    default: tuple[Target, ...] = ()
    by_device: dict[str, Manufacturer] = Field(default_factory=dict)

    @field_validator("by_device")
    @classmethod
    def _gtins(cls, value: dict[str, Manufacturer]) -> dict[str, Manufacturer]:
        return {gtin(str(device)): maker for device, maker in value.items()}

    def resolve(self, device: str) -> tuple[Target, ...]:
        try:
            maker = self.by_device.get(gtin(device))
        except ValueError:
            maker = None
        return (maker.targets if maker else ()) or self.default


class RecipientsConfig(BaseModel):
    """Channels (``type`` plus the adapter's settings) and the targets of every role."""

    model_config = _STRICT
    channels: dict[str, dict[str, Any]]
    provider: ProviderTargets = ProviderTargets()
    cqc: tuple[Target, ...] = ()
    nhs_england: tuple[Target, ...] = ()
    mhra: tuple[Target, ...] = ()
    manufacturer: ManufacturerTargets = ManufacturerTargets()
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
        yield from _entry_targets(self.provider.default)
        for entry in self.provider.by_ods.values():
            yield from _entry_targets(entry)
        yield from self.manufacturer.default
        for maker in self.manufacturer.by_device.values():
            yield from maker.targets
        for role in SINGLE_ROLES:
            yield from getattr(self, role)

    def resolve(self, recipient: str, ods_codes: Iterable[str] = (),
                device_ids: Iterable[str] = ()) -> list[Target]:
        """The targets for a role: for a provider role, each ODS code's (or the default);
        for ``manufacturer``, each device's maker (or the default).

        >>> config = RecipientsConfig(
        ...     channels={"out": {"type": "outbox"}},
        ...     provider={"default": [{"channel": "out", "address": "providers"}],
        ...               "by_ods": {"RXF": {"medical_director": [{"channel": "out",
        ...                                                        "address": "rxf-md"}]},
        ...                          "RAJ": [{"channel": "out", "address": "raj"}]}},
        ...     manufacturer={"by_device": {"05012345678900": {
        ...         "name": "Example Ltd", "targets": [{"channel": "out", "address": "ex"}]}}})
        >>> [t.address for t in config.resolve("medical_director", ["RXF05", "RAJ", "RHM"])]
        ['rxf-md', 'raj', 'providers']
        >>> [t.address for t in config.resolve("chief_executive", ["RXF"])]  # not given
        ['providers']
        >>> [t.address for t in config.resolve("manufacturer", device_ids=["05012345678900"])]
        ['ex']
        >>> config.resolve("cqc")
        []
        """
        found: list[Target] = []
        if recipient == "manufacturer":
            for device in device_ids:
                found.extend(self.manufacturer.resolve(device))
            return list(dict.fromkeys(found or self.manufacturer.default))
        if recipient != "provider" and recipient not in PROVIDER_ROLES:
            return list(getattr(self, recipient, ()))
        for code in list(ods_codes) or [""]:
            found.extend(self.provider.resolve(recipient, code))
        return list(dict.fromkeys(found))

    def manufacturer_name(self, device: str) -> str | None:
        """The name the directory gives a device's manufacturer, if any."""
        try:
            maker = self.manufacturer.by_device.get(gtin(device))
        except ValueError:
            return None
        return maker.name if maker else None


def embedded_recipients(directory: str | Path = "vigil-outbox") -> RecipientsConfig:
    """Every role to the outbox folder, one subfolder each: the zero-configuration default."""
    outbox = {"channel": "outbox"}
    return RecipientsConfig(
        channels={"outbox": {"type": "outbox", "directory": str(directory)}},
        provider={"default": {role: [{**outbox, "address": role}] for role in PROVIDER_ROLES}},
        manufacturer={"default": [{**outbox, "address": "manufacturer"}]},
        **{role: [{**outbox, "address": role}] for role in SINGLE_ROLES},
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
