"""The registry of channel types: configuration in, a :class:`~notifiers.adapters.base.Notifier`
out."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from notifiers.adapters.base import Notifier
from notifiers.adapters.outbox import OutboxNotifier
from notifiers.adapters.smtp import EmailNotifier
from notifiers.adapters.webhook import WebhookNotifier
from notifiers.recipients import RecipientsConfig

CHANNEL_TYPES: dict[str, Callable[[str, dict[str, Any], dict[str, str]], Notifier]] = {
    "outbox": OutboxNotifier.from_config,
    "email": EmailNotifier.from_config,
    "webhook": WebhookNotifier.from_config,
}


def build_notifiers(config: RecipientsConfig,
                    env: Mapping[str, str] | None = None) -> dict[str, Notifier]:
    """One notifier per configured channel; secrets come from ``env`` (default: os.environ).

    >>> from notifiers.recipients import embedded_recipients
    >>> sorted(build_notifiers(embedded_recipients("/tmp/out")))
    ['outbox']
    """
    environment = dict(os.environ if env is None else env)
    notifiers = {}
    for name, settings in config.channels.items():
        kind = settings["type"]
        if kind not in CHANNEL_TYPES:
            raise ValueError(f"channel {name}: unknown type {kind!r}; one of "
                             f"{', '.join(sorted(CHANNEL_TYPES))}")
        options = {k: v for k, v in settings.items() if k != "type"}
        notifiers[name] = CHANNEL_TYPES[kind](name, options, environment)
    return notifiers
