"""Prometheus counters for delivery, registered once on the default registry."""

from __future__ import annotations

from prometheus_client import Counter

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
