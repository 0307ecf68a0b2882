"""The worker's Prometheus metrics, served on the faust web server at ``/metrics``."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

EVENTS_CONSUMED = Counter("vigil_events_consumed_total", "Events read from the events topic")
EVENTS_ACCEPTED = Counter("vigil_events_accepted_total", "Events that passed the contract")
EVENTS_REJECTED = Counter("vigil_events_rejected_total", "Events sent to the dead-letter topic",
                          ["reason"])
EVENTS_SKIPPED = Counter("vigil_events_redelivered_skipped_total",
                         "Redelivered events whose effects were already durable")
OBSERVATIONS_APPLIED = Counter("vigil_observations_applied_total",
                               "Observations applied to monitors")
OBSERVATIONS_SKIPPED = Counter("vigil_observations_redelivered_skipped_total",
                               "Redelivered observations already applied")
LATE = Counter("vigil_late_observations_total",
               "Events (stage episodes) and observations (stage entities) that arrived behind "
               "the watermark or behind what their episode or entity had taken, applied on "
               "arrival out of the canonical order; their signals say late", ["stage"])
HELD = Gauge("vigil_held_items", "Items a stage holds until the watermark passes them",
             ["stage"])
SIGNALS = Counter("vigil_signals_total", "Signals published", ["level", "direction"])
LATENCY = Histogram(
    "vigil_signal_latency_seconds",
    "From the source event's Kafka timestamp to the signal's publication",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUARANTINED = Counter("vigil_quarantined_total",
                      "Records on which a stage raised, dead-lettered as internal_error",
                      ["stage"])
INFRASTRUCTURE_RETRIES = Counter("vigil_infrastructure_retries_total",
                                 "Retries of a batch's writes to Kafka after a failure",
                                 ["stage"])
# Labelled so that a worker without an escalation side (no --rules) exports no sample,
# rather than a 0 that would read as "log down".
ESCALATION_LOG_UP = Gauge("vigil_escalation_log_up",
                          "1 while the escalation log takes the escalation side's writes, "
                          "0 while they fail and are retried", ["group"])
LAG = Gauge("vigil_consumer_lag", "Messages behind the high watermark", ["topic", "partition"])
TABLE_KEYS = Gauge("vigil_table_keys", "Keys held in a table on this worker", ["table"])
ASSIGNED = Gauge("vigil_assigned_partitions",
                 "Partitions of an input topic assigned to this worker (set at each rebalance)",
                 ["topic"])


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
