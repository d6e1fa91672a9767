import json
from pathlib import Path

import jsonschema

from exconf.schema import inventory_schema
from exconf.yamlsource import load_file

ROOT = Path(__file__).resolve().parents[2]


def test_published_schema_is_the_one_the_code_uses():
    published = json.loads((ROOT / "docs" / "inventory.schema.json").read_text())
    assert published == inventory_schema(), "regenerate: python -m exconf.schema > docs/inventory.schema.json"


def test_shipped_inventories_validate_against_the_published_schema():
    schema = json.loads((ROOT / "docs" / "inventory.schema.json").read_text())
    files = sorted((ROOT / "inventories").rglob("*.yaml"))
    inventories = [f for f in files if "group_vars" not in f.parts and "host_vars" not in f.parts and not f.name.endswith("-org.yaml")]
    assert inventories
    for f in inventories:
        jsonschema.validate(load_file(f).data, schema)
