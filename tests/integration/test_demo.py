"""The README's main-job command (``vigil demo``) from a clean clone, as a user runs it: a
fresh venv, ``pip install -e .``, then the demo until its first alarm and a dashboard that
answers; then Ctrl-C (SIGINT to the process group) and a clean exit 0.

The command is read from the README (the first fenced block under "On a fresh machine"), so
this test cannot drift from it. It needs PyPI (or a configured index) and takes a few
minutes: most of it is pip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from streams.kafka.embedded_broker import free_port
from tests.support.demo_process import ALARM, DemoProcess

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def readme_main_command(readme: str) -> str:
    """The first fenced ``sh`` block under "## On a fresh machine".

    >>> readme_main_command("## On a fresh machine\\n\\nRun:\\n\\n```sh\\nmake it\\n```\\n")
    'make it'
    """
    section = readme.split("## On a fresh machine", 1)[1]
    found = re.search(r"```(?:sh|bash)?\n(.*?)\n```", section, re.S)
    assert found, "no fenced command under 'On a fresh machine'"
    return found.group(1).strip()


def test_readme_main_command_is_the_demo() -> None:
    command = readme_main_command((ROOT / "README.md").read_text(encoding="utf-8"))
    assert command.endswith("vigil demo"), command


def test_demo_from_a_clean_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone = tmp_path / "vigil"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    command = readme_main_command((clone / "README.md").read_text(encoding="utf-8"))
    command = command.replace("pip install -e .", "pip install --quiet -e .")
    command += f" --seconds 150 --port {free_port()}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIGIL_", "VIRTUAL_ENV", "PYTHONPATH"))}
    demo = DemoProcess(command, cwd=clone, log=tmp_path / "demo.out", env=env, shell=True)
    try:
        url = demo.dashboard_url(timeout=600)  # pip install comes first
        alarm = demo.wait_for(ALARM, timeout=120)
        demo.wait_answering(url, timeout=60)
        assert "ALARM" in alarm.group(0)
    finally:
        code = demo.interrupt(timeout=30)
    assert code == 0, f"exit {code}; see {tmp_path / 'demo.out'}"
    assert (clone / "vigil-demo" / "escalation.db").is_file()
    assert any(line.startswith("{") and '"cases"' in line for line in demo.lines)
