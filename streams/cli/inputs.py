"""What the commands that run an events file through the pipeline read first: the metric
config and the events file, or a one-line usage error naming the command.

>>> import contextlib, io
>>> from streams.bundled_samples import sample_paths
>>> with contextlib.redirect_stderr(io.StringIO()) as err:
...     code = config_and_events("vigil report", sample_paths()[1], "no-such.jsonl")
>>> code, err.getvalue().strip()
(2, 'vigil report: --events no-such.jsonl not found')
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from streams.console import usage_error

if TYPE_CHECKING:
    from streams.pipeline.config import VigilConfig


def config_and_events(command: str, config: str | Path, events: str | Path
                      ) -> tuple[VigilConfig, Path] | int:
    """The loaded ``config`` and the ``events`` path, or the exit code of a usage error
    (an invalid config, or no events file) already printed."""
    from streams.pipeline.config import ConfigError, load_config

    try:
        loaded = load_config(config)
    except ConfigError as error:
        return usage_error(error)
    path = Path(events)
    if not path.is_file():
        return usage_error(f"{command}: --events {path} not found")
    return loaded, path
