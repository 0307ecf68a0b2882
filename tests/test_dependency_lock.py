"""The dependency locks agree with pyproject.toml, and CI installs from them.

``requirements/runtime.lock`` (the image, the main job) and ``requirements/dev.lock`` (the
tests, ``.ci/run``) hold the exact versions CI tested; pyproject.toml holds the ranges a
release may use. ``requirements/compile`` makes the locks from the ranges; these tests keep a
hand edit or a changed range from letting the two drift apart.
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
LOCKS = {"runtime": ("rocksdb",), "dev": ("dev",)}  # lock -> the extras it was compiled with


def parse_lock(text: str) -> dict[NormalizedName, Version]:
    """The pinned versions in a lock (pip-compile / ``uv pip compile`` format), by name.

    >>> parse_lock("# header\\nPyYAML==6.0.4\\n    # via vigil\\nscipy==1.17.1\\n")
    {'pyyaml': <Version('6.0.4')>, 'scipy': <Version('1.17.1')>}
    """
    pins: dict[NormalizedName, Version] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", " ")):
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        (spec,) = requirement.specifier  # a lock pins, one `==` each
        assert spec.operator == "==", line
        pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    """pyproject's runtime requirements plus those of ``extras``, following ``vigil[...]``
    self-references (the dev extra includes the rocksdb one).

    >>> sorted({r.name for r in declared(("rocksdb",))} - {r.name for r in declared(())})
    ['rocksdict']
    """
    found = [Requirement(r) for r in PROJECT["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in PROJECT["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def lock(name: str) -> dict[NormalizedName, Version]:
    return parse_lock((ROOT / "requirements" / f"{name}.lock").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_lock_satisfies_pyproject_ranges(name: str) -> None:
    pins = lock(name)
    for requirement in declared(LOCKS[name]):
        key = canonicalize_name(requirement.name)
        assert key in pins, f"{requirement} is not in requirements/{name}.lock"
        assert requirement.specifier.contains(pins[key], prereleases=True), (
            f"requirements/{name}.lock pins {key}=={pins[key]}, outside pyproject's "
            f"{requirement}: run requirements/compile")


def test_every_range_has_both_bounds() -> None:
    for requirement in declared(("dev",)):
        operators = {spec.operator for spec in requirement.specifier}
        assert operators & {">=", "~=", "=="} and operators & {"<", "~=", "=="}, (
            f"{requirement}: pin a tested lower bound and an upper bound")


def test_runtime_lock_is_the_tested_one() -> None:
    """The image runs what the tests ran: every runtime pin is the dev lock's version."""
    runtime, dev = lock("runtime"), lock("dev")
    assert {k: v for k, v in runtime.items() if dev.get(k) != v} == {}


def test_environment_matches_the_dev_lock() -> None:
    """A passing run is evidence for the lock only if it ran on the lock's versions."""
    drift = {}
    for key, version in lock("dev").items():
        try:
            installed = Version(metadata.version(key))
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            drift[key] = f"locked {version}, installed {installed}"
    if drift and not os.environ.get("CI"):
        pytest.skip(f"this venv is not the dev lock's (pip install -r requirements/dev.lock): "
                    f"{drift}")
    assert drift == {}


def fenced_command(readme: str, heading: str, before: str) -> str:
    """The fenced ``sh`` block right after the paragraph ``before`` in the section ``heading``.

    >>> fenced_command("## A\\n\\nRun it:\\n\\n```sh\\nmake it\\n```\\n", "## A", "Run it")
    'make it'
    """
    section = readme.split(heading, 1)[1]
    found = re.search(re.escape(before) + r".*?```(?:sh|bash)?\n(.*?)\n```", section, re.S)
    assert found, f"no fenced command after {before!r} under {heading!r}"
    return found.group(1).strip()


def test_ci_runs_the_readme_test_command_ruff_and_mypy() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = fenced_command(readme, "## On a fresh machine", "Run the tests")
    assert "requirements/dev.lock" in command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    at = 0
    for step in [*command.split(" && "), ".venv/bin/ruff check .", ".venv/bin/mypy"]:
        found = [i for i, line in enumerate(lines) if step in line]
        assert found, f".ci/run does not run {step!r}"
        if step in command:  # the README's steps in the README's order
            assert found[-1] >= at, f".ci/run runs {step!r} out of order"
            at = found[-1]


def test_main_job_and_image_install_from_the_runtime_lock() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = fenced_command(readme, "## On a fresh machine", "Run Vigil's main job")
    assert "-r requirements/runtime.lock" in command and command.endswith("vigil demo")
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert "-r requirements/runtime.lock" in dockerfile
