"""The JSON Schemas published in docs/schemas are the ones exconf.output_schemas describes, and they are valid."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from exconf.output_schemas import SCHEMAS

ROOT = Path(__file__).resolve().parents[2]


def test_the_published_schemas_are_the_ones_the_code_describes() -> None:
    folder = ROOT / "docs" / "schemas"
    assert sorted(p.name for p in folder.glob("*.schema.json")) == sorted(f"{n}.schema.json" for n in SCHEMAS)
    for name, build in SCHEMAS.items():
        published = json.loads((folder / f"{name}.schema.json").read_text(encoding="utf-8"))
        assert published == build(), f"regenerate: python -m exconf.output_schemas docs/schemas ({name})"
        jsonschema.Draft202012Validator.check_schema(published)


def test_exconf_inventory_list_validates(tmp_path: Path, capsys) -> None:
    from exconf.cli import main

    (tmp_path / "inv.yml").write_text("all:\n  children:\n    mailbox:\n      hosts:\n        ex01:\n          ansible_port: 5986\n", encoding="utf-8")
    assert main(["inventory", "-i", str(tmp_path / "inv.yml"), "--list", "--limit", "mailbox"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, json.loads((ROOT / "docs" / "schemas" / "inventory-list.schema.json").read_text(encoding="utf-8")))
    assert doc["_meta"]["exconf"]["inventory"] == [str(tmp_path / "inv.yml")] and doc["_meta"]["exconf"]["limit"] == "mailbox"
