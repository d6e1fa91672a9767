"""docs/architecture.md's source layout names every module of the engine, its transports and remote contract,
every kind file and the lab's top-level modules: a module added without a line there fails here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("engine", "engine/transport", "engine/remote", "modules", "lab")


def _layout() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return text[text.index("## Source layout"):text.index("\n## ", text.index("## Source layout") + 1)]


def test_every_module_is_named_in_the_source_layout():
    table = _layout()
    missing = [f"{folder}/{p.name}" for folder in FOLDERS for p in sorted((ROOT / folder).glob("*.py"))
               if p.name not in ("__init__.py", "__main__.py") and f"`{p.name}`" not in table]
    assert missing == []


def test_the_layout_names_no_module_that_does_not_exist():
    import re

    table = _layout()
    named = set(re.findall(r"`([a-z_0-9]+\.py)`", table))
    existing = {p.name for folder in ("engine", "engine/transport", "engine/remote", "engine/drift", "modules", "lab", "lab/exchange",
                                      "lab/powershell", "lab/winrm", "lab/runtime", "lab/ssh") for p in (ROOT / folder).glob("*.py")}
    assert named - existing == set()
