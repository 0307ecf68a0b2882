"""Fixtures shared across test modules."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synthetic_replay(tmp_path_factory) -> Path:
    """The seeded synthetic registry with injected outliers, replayed once per session;
    returns the replay's output folder."""
    from streams.cli import main
    from tests import synthetic_registry as reg

    folder = tmp_path_factory.mktemp("synthetic-registry")
    events, config = reg.write_registry(folder)
    out = folder / "out"
    assert main(["replay", str(events), "--config", str(config), "--out", str(out)]) == 0
    return out
