"""The kinds of fact the escalation log holds: every ``kind`` the engine and the dispatcher
write is one of these.

Each is stored as its string value, exactly as when kinds were bare strings, so the hash
chain of a log written before this enum still verifies, and the enum is a ``str``: an entry
read back from storage (a plain string) compares equal to its member.

>>> LogKind.CASE_OPENED == "case_opened", LogKind("dead_letter").name
(True, 'DEAD_LETTER')
>>> import json; json.dumps({"kind": LogKind.SIGNAL_REJECTED})
'{"kind": "signal_rejected"}'
"""

from __future__ import annotations

from enum import StrEnum


class LogKind(StrEnum):
    """What a log entry records."""

    # rules
    RULES_VERSION = "rules_version"
    """The rules in force changed (the full rules are in the payload)."""
    RULES_REJECTED = "rules_rejected"
    """A reload found a bad rules file; the running rules stay."""

    # signals and routing
    SIGNAL_RECEIVED = "signal_received"
    SIGNAL_DUPLICATE = "signal_duplicate"
    SIGNAL_REJECTED = "signal_rejected"
    """A record that was not a valid signal, with the reason."""
    ROUTE_DECISION = "route_decision"
    INHIBIT = "inhibit"
    """An alert held back because an alarm case is open for the same chart and entity."""

    # cases
    CASE_OPENED = "case_opened"
    CASE_UPGRADED = "case_upgraded"
    SIGNAL_RECORDED = "signal_recorded"
    """A signal on an open case of its key (a re-alarm included): recorded, nothing sent."""
    SIGNAL_ABSORBED = "signal_absorbed"
    """A signal on a closed case of its key, inside the repeat interval or the same
    reporting period: recorded on that case, no case opened, nothing sent."""
    STAGE_AWAITING_SIGNOFF = "stage_awaiting_signoff"
    STAGE_ENTERED = "stage_entered"
    STAGE_COMPLETED = "stage_completed"
    DEADLINE_SET = "deadline_set"
    DEADLINE_FIRED = "deadline_fired"
    DEADLINE_EXPIRED = "deadline_expired"
    REMINDER = "reminder"
    ACTION = "action"
    """A person's action on a case (acknowledge, respond, confirm, withdraw, signoff, note)."""
    CASE_MONITORING = "case_monitoring"
    CASE_CLOSED = "case_closed"

    # notifications (requested by the engine, delivered by the dispatcher)
    NOTIFICATION_REQUESTED = "notification_requested"
    NOTIFICATION_ATTEMPT = "notification_attempt"
    NOTIFICATION_SENT = "notification_sent"
    NOTIFICATION_BLOCKED = "notification_blocked"
    """A regulator notification held back for want of sign-off."""
    DEAD_LETTER = "dead_letter"
    """A notification given up on (deadline passed, or no target for the role)."""
