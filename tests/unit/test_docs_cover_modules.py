from pathlib import Path

from exconf.modules import RESOURCES

ROOT = Path(__file__).resolve().parents[2]


def test_every_resource_and_property_is_documented():
    text = (ROOT / "docs" / "inventory.md").read_text()
    for resource in RESOURCES:
        assert f"`{'exchange_organization' if resource.scope == 'organization' else 'exchange'}.{resource.section}`" in text, resource.kind
        for prop in resource.props:
            assert f"| `{prop.key}` | `{prop.param}` |" in text, (resource.kind, prop.key)
