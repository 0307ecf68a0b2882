"""The README's generated sections: text between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers, rewritten from the code it documents.

- ``settings-reference``: the configuration reference (:mod:`streams.docs.settings_table`).
- ``rules``: ``vigil rules explain`` of the bundled escalation rules, its headings moved one
  level down to sit under the README's section.
- ``runbook``: one section per Prometheus alert of ``deploy/prometheus/alerts.yml`` (each
  alert's ``runbook_url`` points at it), from the alert's own summary and description.

Regenerate both with ``python -m streams.docs.settings_reference --write-readme``.

>>> replace_section("a\\n<!-- x:start -->\\nold\\n<!-- x:end -->\\nb\\n", "x", "new\\n")
'a\\n<!-- x:start -->\\nnew\\n<!-- x:end -->\\nb\\n'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

RULES_SOURCE = "notifiers/default_rules.yaml"


def rules_markdown() -> str:
    """The bundled rules explained, as the README holds them: ``vigil rules explain``'s
    text without its title, every other heading one level deeper."""
    from notifiers.rules import default_rules_path, load_rules
    from notifiers.rules_explain import explain

    text = explain(load_rules(default_rules_path()), RULES_SOURCE)
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return "\n".join("#" + line if line.startswith("#") else line for line in lines) + "\n"


def _settings_reference() -> str:
    from streams.docs.settings_table import settings_reference_markdown

    return settings_reference_markdown()


ALERTS_SOURCE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"


def runbook_markdown(path: Path = ALERTS_SOURCE) -> str:
    """A runbook entry per alert: its name (the anchor its ``runbook_url`` names), severity,
    expression, summary and description."""
    import yaml

    lines = []
    for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            notes = rule.get("annotations", {})
            severity = rule.get("labels", {}).get("severity", "")
            lines += [f'<a id="runbook-{rule["alert"].lower()}"></a>',
                      f'### {rule["alert"]} ({severity})', "",
                      f'{notes.get("summary", "")}.'.replace("..", "."), "",
                      " ".join(str(notes.get("description", "")).split()), "",
                      f'Fires when `{" ".join(str(rule["expr"]).split())}`'
                      + (f' for {rule["for"]}.' if rule.get("for") else "."), ""]
    return "\n".join(lines)


SECTIONS: dict[str, Callable[[], str]] = {
    "settings-reference": _settings_reference,
    "rules": rules_markdown,
    "runbook": runbook_markdown,
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {re.escape(name)}:start -->\n)(.*?)(<!-- {re.escape(name)}:end -->)",
                      re.DOTALL)


def section(text: str, name: str) -> str:
    """The text between a section's markers (``ValueError`` when they are missing)."""
    found = _pattern(name).search(text)
    if found is None:
        raise ValueError(f"no <!-- {name}:start --> … <!-- {name}:end --> markers")
    return found.group(2)


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with a section's body replaced."""
    section(text, name)  # the markers must be there
    return _pattern(name).sub(lambda m: m.group(1) + body + m.group(3), text, count=1)


def stale(readme: Path) -> list[str]:
    """The sections whose text differs from what the code generates now."""
    text = readme.read_text(encoding="utf-8")
    return [name for name, make in SECTIONS.items() if section(text, name) != make()]


def write(readme: Path) -> list[str]:
    """Regenerate every section in place; return the names of those that changed."""
    text = readme.read_text(encoding="utf-8")
    changed = []
    for name, make in SECTIONS.items():
        body = make()
        if section(text, name) != body:
            text = replace_section(text, name, body)
            changed.append(name)
    if changed:
        readme.write_text(text, encoding="utf-8")
    return changed
