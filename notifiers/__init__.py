"""Escalation: rules, cases, the tamper-evident escalation log and notifier adapters."""
