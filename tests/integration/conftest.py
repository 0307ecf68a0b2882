"""Fixtures of the integration tests: plain logging for in-process pipelines, and a real
headless Chromium for the dashboard (the broker and PostgreSQL are in ``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def plain_logging() -> None:
    """structlog's defaults: the in-process replay must not inherit a configuration an
    earlier test (a CLI run) installed."""
    structlog.reset_defaults()


def _need(what: str) -> None:
    message = f"{what} (Debian: apt-get install -y chromium; pip install playwright)"
    if os.environ.get("CI"):
        pytest.fail(f"CI needs {message}")
    pytest.skip(f"no {message}")


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (Debian's ``chromium`` driven by Playwright through
    ``executable_path``), closed afterwards; skips without one, fails in CI."""
    executable = shutil.which("chromium") or CHROMIUM
    if not Path(executable).exists():
        _need("Chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("Playwright for Python")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
