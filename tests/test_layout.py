"""The package layout holds: no import cycle, commands never import commands, the pure
layers stay pure. Read statically (ast), imports inside functions included, so a lazy
import cannot hide a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("signals", "streams", "notifiers")
COMMAND_FOLDERS = ("streams.cli", "notifiers.cli")
BROKER_CLIENTS = ("faust", "aiokafka")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


MODULES = _modules()


def _imported(name: str, path: Path) -> set[str]:
    """Every module name ``name`` imports, resolved: relative imports made absolute, and
    ``from a import b`` counted as importing the module ``a.b`` when there is one, else
    ``a``. (``from a import b`` runs ``a/__init__`` too, but a module inside ``a`` has it
    loaded already, and one outside depends on ``a.b``, not on what ``a`` re-exports.)"""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports. Third-party imports are left out: they
    cannot close a cycle through our code."""
    return {name: {i for i in _imported(name, path) if i in MODULES and i != name}
            for name, path in MODULES.items()}


GRAPH = _graph()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_cycle_finder_names_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_imports_resolve_to_modules(tmp_path: Path) -> None:
    module = tmp_path / "pkg" / "sub" / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text("from . import sibling\nfrom ..top import name\n"
                      "def later():\n    import streams.console\n")
    assert _imported("pkg.sub.mod", module) == {"pkg.sub", "pkg.top", "streams.console"}
    # a submodule named in ``from package import name`` is the dependency, not the package
    assert _imported("streams.dashboard.web", MODULES["streams.dashboard.web"]) >= {
        "streams.dashboard.data", "streams.dashboard.chart_history"}
    assert "streams.dashboard" not in GRAPH["streams.dashboard.web"]


def test_no_import_cycle() -> None:
    cycle = _cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _is_command(name: str) -> bool:
    """A command module registers commands on the ``vigil`` parser (``add_commands``)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == "add_commands"
               for node in tree.body)


CLI_MODULES = sorted(n for n in MODULES if n.startswith(tuple(f + "." for f in COMMAND_FOLDERS)))


@pytest.mark.parametrize("name", CLI_MODULES)
def test_no_command_imports_another_command(name: str) -> None:
    commands = {n for n in CLI_MODULES if _is_command(n)}
    imported = sorted((GRAPH[name] & commands) - {name})
    if name == "streams.cli.__main__":
        imported = [n for n in imported if n != "streams.cli.main"]
    assert not imported, f"{name} imports the command module(s) {imported}"


def test_main_imports_no_command_statically() -> None:
    commands = {n for n in CLI_MODULES if _is_command(n)}
    assert not GRAPH["streams.cli.main"] & commands


def _imports_of(prefix: str) -> dict[str, set[str]]:
    return {name: _imported(name, path) for name, path in MODULES.items()
            if name == prefix or name.startswith(prefix + ".")}


def test_signals_import_nothing_from_the_shells() -> None:
    offending = {name: sorted(i for i in imported if i.split(".")[0] in ("streams", "notifiers"))
                 for name, imported in _imports_of("signals").items()}
    assert not {k: v for k, v in offending.items() if v}


@pytest.mark.parametrize("package", ["streams.pipeline", "streams.contract"])
def test_pipeline_and_contract_use_no_broker_client(package: str) -> None:
    offending = {name: sorted(i for i in imported if i.split(".")[0] in BROKER_CLIENTS)
                 for name, imported in _imports_of(package).items()}
    assert not {k: v for k, v in offending.items() if v}


def test_replay_and_the_config_do_not_import_river_or_scipy() -> None:
    """river and scipy cost seconds to import: only configs with drift or calibration pay
    for them, so ``vigil replay`` of an ordinary config starts quickly."""
    import subprocess
    import sys

    code = ("import sys, streams.cli.replay, streams.pipeline.config, streams.pipeline.core; "
            "print(sorted(m for m in ('river', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip() == "[]"
