"""Prometheus metrics of the escalation side, registered once on the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

NOTIFICATIONS_SENT = Counter(
    "vigil_notifications_sent", "Notifications delivered, by channel", ["adapter"])
NOTIFICATIONS_FAILED = Counter(
    "vigil_notifications_failed", "Failed delivery attempts, by channel and reason",
    ["adapter", "reason"])
NOTIFICATIONS_DEAD_LETTERED = Counter(
    "vigil_notifications_dead_lettered",
    "Notifications given up on after the delivery deadline", ["adapter", "reason"])
NOTIFICATIONS_BLOCKED = Counter(
    "vigil_notifications_blocked", "Regulator notifications refused for lack of sign-off",
    ["recipient"])
AUDIT_CHAIN_OK = Gauge(
    "vigil_audit_chain_ok",
    "1 while the escalation log's hash chain verifies, 0 once it does not")
AUDIT_CHAIN_ENTRIES = Gauge(
    "vigil_audit_chain_entries", "Entries found intact by the latest chain verification")
AUDIT_HEAD_SEQ = Gauge(
    "vigil_audit_head_seq",
    "Seq of the escalation log's head at the latest verification (it only ever grows: a drop "
    "means entries were removed)")
