"""Escalation wired once: rules, log, recipients, dispatcher and engine.

The streaming worker (``vigil run --rules``), ``vigil demo`` and replay escalation
(``vigil replay --escalate``) all run the same escalation side; they differ only in what
they pass here: the clock (the wall clock, or replay's simulated one), the log (a URL, or a
log the caller already holds), the recipients (a file, the demo's SMTP sink, or every role
to an outbox folder) and the dispatcher's retry policy.

>>> import tempfile
>>> from notifiers.rules import default_rules_path
>>> with tempfile.TemporaryDirectory() as outbox:
...     wired = build_escalation("memory://", default_rules_path(), outbox=outbox)
...     sorted(wired.dispatcher.notifiers), wired.engine.log is wired.dispatcher.log
(['outbox'], True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from notifiers.adapters.channels import build_notifiers
from notifiers.clock import Clock
from notifiers.delivery import Dispatcher, RetryPolicy
from notifiers.engine import EscalationEngine
from notifiers.log.escalation_log import EscalationLog, open_log
from notifiers.pack_source import PackSource
from notifiers.recipients import RecipientsConfig, embedded_recipients, load_recipients
from notifiers.rules import Rules, RulesHolder

DEFAULT_OUTBOX = Path("vigil-outbox")
"""Where notifications go when neither recipients nor an outbox folder are given."""


@dataclass(frozen=True, slots=True)
class Escalation:
    """An engine and a dispatcher on one escalation log, with the recipients they serve."""

    engine: EscalationEngine
    dispatcher: Dispatcher
    recipients: RecipientsConfig

    @property
    def log(self) -> EscalationLog:
        return self.engine.log


def rules_holder(rules: Rules | RulesHolder | str | Path) -> RulesHolder:
    """The rules as a holder: a YAML path is read (and validated) now."""
    if isinstance(rules, RulesHolder):
        return rules
    if isinstance(rules, Rules):
        return RulesHolder(rules=rules)
    return RulesHolder(rules)


def build_escalation(
    log: EscalationLog | str,
    rules: Rules | RulesHolder | str | Path,
    *,
    recipients: RecipientsConfig | str | Path | None = None,
    outbox: str | Path | None = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    packs: PackSource | None = None,
) -> Escalation:
    """Wire the escalation side.

    Parameters
    ----------
    log
        The escalation log, or its URL (opened here; the caller closes ``.log``).
    rules
        The escalation rules: a YAML path, loaded rules, or a holder (to allow reloads).
    recipients
        Who gets what: a config, or the path of a recipients YAML file. Without it every
        role goes to the outbox folder ``outbox`` (one subfolder per role).
    outbox
        The outbox folder when there is no ``recipients`` (default ``vigil-outbox``).
    clock
        Time for the engine and the dispatcher (default the wall clock).
    retry
        The dispatcher's backoff and deadlines (default :class:`RetryPolicy`).
    packs
        Look-back packs for preliminary notices (``notifiers.pack_source``; optional).
    """
    opened = open_log(log) if isinstance(log, str) else log
    if isinstance(recipients, str | Path):
        recipients = load_recipients(recipients)
    elif recipients is None:
        recipients = embedded_recipients(outbox if outbox is not None else DEFAULT_OUTBOX)
    engine = EscalationEngine(opened, rules_holder(rules), clock=clock, packs=packs)
    dispatcher = Dispatcher(opened, build_notifiers(recipients), recipients, retry=retry,
                            packs=packs,
                            clock=clock)
    return Escalation(engine, dispatcher, recipients)
