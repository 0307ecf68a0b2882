"""Fixtures of the notifiers' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifiers.log.escalation_log import EscalationLog, open_log
from tests.support.log_backends import Backend


@pytest.fixture
def log(log_backend: Backend) -> Iterator[EscalationLog]:
    """An open escalation log on each stored backend (SQLite, PostgreSQL), closed after."""
    opened = open_log(log_backend.url)
    yield opened
    opened.close()
