"""Runtime settings, from the environment (prefix ``VIGIL_``) or a dotenv file named by
``VIGIL_ENV_FILE`` (never one found by chance in the working directory)."""

from __future__ import annotations

import os
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from streams import secret_policy
from streams.contract.pseudonym import Pseudonymiser

ENV_FILE_VARIABLE = "VIGIL_ENV_FILE"


class VigilSettings(BaseSettings):
    """Settings shared by every ``vigil`` command.

    >>> VigilSettings(hmac_key="a-secret-of-sixteen+").pseudonymiser() is not None
    True
    >>> VigilSettings(escalation_log="postgresql://u:pw@db/vigil").masked()["escalation_log"]
    'postgresql://u:***@db/vigil'
    >>> VigilSettings(sasl_mechanism="PLAIN", sasl_username="u",
    ...               sasl_password="p").masked()["sasl_password"]
    '**********'
    """

    # Attribute docstrings become field descriptions: the configuration reference in the
    # README is generated from them (streams.docs.settings_reference).
    # No implicit ``.env``: a file left in the working directory must not add API tokens or
    # swap the key unnoticed. ``VIGIL_ENV_FILE`` names one explicitly (settings_customise_sources).
    model_config = SettingsConfigDict(env_prefix="VIGIL_", env_file=None, extra="ignore",
                                      use_attribute_docstrings=True)

    mode: Literal["production", "demo"] = "production"
    """``production`` refuses the demo key, shipped placeholders, keys under 32 bytes or
    patterned, and API tokens under 128 bits; ``demo`` (``vigil demo``, tests) only the
    16-byte minimum."""
    demo_injected: dict[str, str] = Field(default_factory=dict)
    """Entity id → the outlier ``vigil demo``'s feed injected there (JSON, set by the demo):
    the dashboard marks those entities as injected."""
    env_file: Path | None = None
    """A dotenv file to read settings from (read only when named here; the environment
    wins over it). Unset: no file is read, not even ``./.env``."""
    hmac_key: SecretStr | None = None
    """Key for pseudonymising NHS numbers (at least 16 bytes; 32 random bytes in
    production mode, e.g. ``openssl rand -hex 32``). Keep it secret."""
    log_level: str = "INFO"
    """DEBUG, INFO, WARNING, ERROR or CRITICAL (JSON log lines on stderr)."""

    # -- Kafka ---------------------------------------------------------------------------
    bootstrap_servers: str | None = None
    """Comma-separated host:port list of a real cluster (``vigil run`` needs it)."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    """Derived from the TLS and SASL settings when unset."""
    ssl_cafile: Path | None = None
    """CA bundle to verify the brokers with (turns TLS on)."""
    ssl_certfile: Path | None = None
    """Client certificate for mutual TLS (with ``ssl_keyfile``)."""
    ssl_keyfile: Path | None = None
    """Private key of the client certificate."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """SASL authentication to the brokers (needs username and password)."""
    sasl_username: str | None = None
    """SASL user name."""
    sasl_password: SecretStr | None = None
    """SASL password. Keep it secret."""
    broker_quirks: Literal["none", "tansu"] = "none"
    """Workarounds for a broker that is not Apache Kafka: ``tansu`` (the embedded broker;
    set by ``vigil run --embedded-broker`` and ``vigil demo``) reads changelog ends from a
    fetch, since its ListOffsets answer falls short of the last batch. ``none`` on Kafka."""

    app_id: str = "vigil"
    """faust app id: the consumer group and the prefix of the tables' changelog topics."""
    events_topic: str = "vigil.events"
    """Registry events in, keyed however the producer likes (the worker repartitions)."""
    episodes_topic: str = "vigil.episodes"
    """Between stage 1 and stage 2: events repartitioned by episode."""
    observations_topic: str = "vigil.observations"
    """Between stage 2 and stage 3 (keyed by metric and entity)."""
    signals_topic: str = "vigil.signals"
    """Signals out, to escalation (keyed by metric and entity)."""
    dead_letter_topic: str = "vigil.dead-letters"
    """Rejected events with their reason, NHS numbers pseudonymised."""
    partitions: int = Field(8, ge=1, le=1024)
    """Partitions of the topics Vigil creates: the most workers that can share the load."""
    replication_factor: int = Field(1, ge=1)
    """Replicas of the topics Vigil creates (3 on a production cluster)."""
    store: str = "memory://"
    """Table store: ``memory://`` (tests) or ``rocksdb://`` (production)."""
    web_port: int = Field(6066, ge=0, le=65535)
    """Worker web server: ``/metrics``, ``/healthz``, ``/readyz`` and ``/dashboard/``."""
    web_header_timeout: float = Field(10.0, gt=0, le=300)
    """Seconds a connection to the web server may take to send a whole request head, and
    may stay idle between requests, before it is closed (half-sent requests are dropped)."""
    allowed_lateness: float = Field(3600.0, ge=0)
    """Seconds of *event time* the worker waits for events behind the latest read on every
    partition before applying observations in the canonical order (``occurred_at``, then
    ``event_id``). An event later than that is still applied, on arrival, and its signals
    say ``late``: its entity's monitors may then differ from ``vigil replay``'s. Set it
    above the skew between producers (and above the gap, when outcomes follow long after
    their procedures in a second run)."""
    idle_timeout: float = Field(5.0, gt=0)
    """Seconds (wall clock) after which a partition with nothing to read stops holding the
    watermark back; when every partition is idle, everything held is applied (the end of a
    backfill flushes)."""
    join_window_days: float = Field(30.0, gt=0)
    """Days of event time an outcome that arrives before its procedure waits for it before
    it is rejected as ``unknown_episode`` (``vigil replay`` uses the same)."""
    batch_size: int = Field(2000, ge=1)
    """Most events or observations handled as one batch."""
    batch_within: float = Field(0.05, gt=0)
    """Seconds to wait for a batch to fill before handling what has arrived."""
    session_timeout: float = Field(30.0, gt=0)
    """Seconds without a heartbeat before the group gives a worker's partitions away."""
    heartbeat_interval: float = Field(3.0, gt=0)
    """Seconds between consumer heartbeats."""
    commit_interval: float = Field(1.0, gt=0)
    """Seconds between commits of acknowledged offsets."""
    fetch_max_wait_ms: int = Field(100, ge=0, le=10_000)
    """Longest the broker may hold a fetch waiting for data (faust fixes 1500 ms, which
    adds up to 1.5 s of latency per hop)."""
    on_internal_error: Literal["quarantine", "stop"] = "quarantine"
    """When a stage raises on a record (a bug, not bad input): ``quarantine`` dead-letters it
    (reason ``internal_error``, with a stack fingerprint) and goes on with the batch;
    ``stop`` exits with code 70 before committing, to investigate on a stopped stream."""

    # -- escalation (``vigil run --rules``) ---------------------------------------------
    escalation_log: str = "sqlite:///vigil-escalation.db"
    """Escalation log URL; ``postgresql://...`` for several workers on one log."""
    recipients: Path | None = None
    """Recipients YAML (``notifiers.recipients``); unset: every role to ``outbox_dir``."""
    outbox_dir: Path = Path("vigil-outbox")
    lookback_events: Path | None = None
    """The events file (JSON lines, as ``vigil replay`` reads) that look-back packs are
    built from: the escalation side attaches a case's pack to its preliminary notice and
    the dashboard serves it at ``/dashboard/api/cases/{case_id}/pack``. Unset: no packs
    (the notice says why, the route answers 503). ``vigil demo`` sets it to its feed."""
    api_tokens: SecretStr | None = None
    """``token:role:name,...`` (role ``operator`` or ``auditor``): mounts the case API under
    ``/api/`` on the web port. Unset: no API."""
    audit_checkpoint_file: Path | None = None
    """File the escalation side rewrites at each log verification with the log's head
    (``seq``, ``hash``) signed with ``audit_checkpoint_key``, for a witness outside the
    database to keep (``vigil audit verify --expect-head``). Unset: no file."""
    audit_checkpoint_key: SecretStr | None = None
    """HMAC-SHA256 key of the checkpoint file (at least 32 characters); the witness checks
    it with the same key."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        named = os.environ.get(ENV_FILE_VARIABLE)
        if not named:
            return init_settings, env_settings, file_secret_settings
        return (init_settings, env_settings, DotEnvSettingsSource(settings_cls, env_file=named),
                file_secret_settings)

    @field_validator("env_file")
    @classmethod
    def _env_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"VIGIL_ENV_FILE names {value}, which is not a file")
        return value

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if not value.startswith(("memory://", "rocksdb://")):
            raise ValueError("store must be memory:// or rocksdb://[path]")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @model_validator(mode="after")
    def _credentials(self) -> VigilSettings:
        if self.sasl_mechanism and not (self.sasl_username and self.sasl_password):
            raise ValueError("sasl_mechanism needs sasl_username and sasl_password")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together (client certificate)")
        if self.audit_checkpoint_file is not None and (
                self.audit_checkpoint_key is None
                or len(self.audit_checkpoint_key.get_secret_value()) < 32):
            raise ValueError("audit_checkpoint_file needs audit_checkpoint_key of at least "
                             "32 characters (an unsigned checkpoint proves nothing)")
        for path in (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self

    def api_principals(self) -> dict[str, tuple[str, str]]:
        """Token → (role, name) from ``api_tokens``.

        >>> VigilSettings(api_tokens="t1:operator:Dr A,t2:auditor:CQC").api_principals()
        {'t1': ('operator', 'Dr A'), 't2': ('auditor', 'CQC')}
        """
        if self.api_tokens is None:
            return {}
        out = {}
        for item in self.api_tokens.get_secret_value().split(","):
            if not item.strip():
                continue
            token, role, name = (part.strip() for part in [*item.split(":", 2), "", ""][:3])
            out[token] = (role, name or role)
        return out

    @field_validator("api_tokens")
    @classmethod
    def _tokens(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for item in value.get_secret_value().split(","):
            parts = item.strip().split(":", 2)
            if item.strip() and (len(parts) < 2 or not parts[0]
                                 or parts[1] not in ("operator", "auditor")):
                raise ValueError("api_tokens is token:role:name,... with role operator or "
                                 "auditor")
        return value

    def secret_problems(self, *, production: bool | None = None) -> list[str]:
        """One line per refused secret (each names its setting, never its value); empty
        when every secret is usable. ``production`` defaults to ``mode == "production"``.
        ``vigil run``, ``vigil config check`` and ``vigil replay`` all refuse on these.

        >>> VigilSettings(mode="demo", hmac_key="short").secret_problems()
        ['VIGIL_HMAC_KEY is shorter than 16 bytes']
        >>> VigilSettings(hmac_key="a" * 32).secret_problems()  # doctest: +ELLIPSIS
        ['VIGIL_HMAC_KEY is a repeated pattern, ...']
        """
        strict = self.mode == "production" if production is None else production
        problems = []
        if self.hmac_key is not None:
            problems.append(secret_policy.key_problem(
                "VIGIL_HMAC_KEY", self.hmac_key.get_secret_value(), production=strict))
        for token in self.api_principals():
            problems.append(secret_policy.token_problem("VIGIL_API_TOKENS", token,
                                                        production=strict))
        problems.append(secret_policy.database_url_problem(
            "VIGIL_ESCALATION_LOG", self.escalation_log, production=strict))
        return list(dict.fromkeys(p for p in problems if p is not None))

    def pseudonymiser(self) -> Pseudonymiser | None:
        """The configured pseudonymiser, or None when no key is set."""
        if self.hmac_key is None:
            return None
        return Pseudonymiser(self.hmac_key.get_secret_value().encode())

    def protocol(self) -> str:
        """The effective Kafka security protocol."""
        if self.security_protocol:
            return self.security_protocol
        tls = self.ssl_cafile is not None or self.ssl_certfile is not None
        if self.sasl_mechanism:
            return "SASL_SSL" if tls else "SASL_PLAINTEXT"
        return "SSL" if tls else "PLAINTEXT"

    def join_window(self) -> timedelta:
        """``join_window_days`` as a duration, for ``Pipeline``."""
        return timedelta(days=self.join_window_days)

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.protocol() not in ("SSL", "SASL_SSL"):
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        if self.ssl_certfile and self.ssl_keyfile:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile))
        return context

    def aiokafka_options(self) -> dict[str, Any]:
        """Security keyword arguments for aiokafka clients."""
        options: dict[str, Any] = {"security_protocol": self.protocol()}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            assert self.sasl_password is not None
            options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return options

    def masked(self) -> dict[str, Any]:
        """The effective settings as JSON-ready values, secrets replaced by asterisks."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                out[name] = "**********"
            elif name == "escalation_log":
                out[name] = secret_policy.mask_url(value)
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        out["effective_security_protocol"] = self.protocol()
        return out
