"""Access to the public datasets in ``../shared/data`` (beside the repository).

A user's clone has no ``../shared``; tests that need it skip with a clear reason. CI has it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"  # beside the repository


def cardiac_surgery_rows() -> list[dict[str, int]]:
    """The rows of cardiacsurgery.csv (spcadjust 1.1) as ints, or skip the test."""
    path = SHARED / "data" / "cardiacsurgery.csv"
    if not path.is_file():
        pytest.skip(f"{path} not present: ../shared/data comes with CI, not with a user's clone")
    with path.open(newline="") as handle:
        return [{k: int(v) for k, v in row.items()} for row in csv.DictReader(handle)]
