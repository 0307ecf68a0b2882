"""The every-kind synthetic registry (binary outcomes, devices, submissions; patients with
ICBs), written once per session, and its tallies by financial year and over the whole span."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.contract.pseudonym import Pseudonymiser
from streams.exports.tallies import Tallies, tally_events
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from tests.support.every_kind import write_every_kind


@pytest.fixture(scope="session")
def every_kind(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_every_kind(tmp_path_factory.mktemp("every-kind"))


def tallies_of(files: tuple[Path, Path], period: str) -> Tallies:
    events, config = files
    with events.open("rb") as lines:
        return tally_events(lines, Pipeline(load_config(config)), Pseudonymiser.ephemeral(),
                            period)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def yearly(every_kind: tuple[Path, Path]) -> Tallies:
    return tallies_of(every_kind, "financial_year")


@pytest.fixture(scope="session")
def whole(every_kind: tuple[Path, Path]) -> Tallies:
    return tallies_of(every_kind, "all")
