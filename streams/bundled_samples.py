"""The synthetic registry sample shipped inside the package, so that ``vigil replay`` with no
arguments, the benchmarks and the tests all run on the same events without a download."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_paths() -> tuple[Path, Path]:
    """The bundled synthetic registry sample and its metric config.

    >>> events, config = sample_paths()
    >>> events.name, config.name, events.is_file() and config.is_file()
    ('ncap-sample.jsonl', 'ncap.yaml', True)
    """
    root = resources.files("streams") / "samples"
    return Path(str(root / "ncap-sample.jsonl")), Path(str(root / "ncap.yaml"))
