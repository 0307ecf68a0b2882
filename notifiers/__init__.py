"""Escalation: rules, cases, the escalation log and the notifier adapters."""
