"""The certificate docs name every key of the schema and every rail the code can refuse with."""

from pathlib import Path

from exconf.modules.certificate_plan import RAILS
from exconf.modules.exchange_certificate import ENTRY_SCHEMA

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_is_in_the_inventory_reference():
    text = (ROOT / "docs" / "inventory.md").read_text()
    assert "### `exchange.certificates`" in text
    for key in ENTRY_SCHEMA["properties"]:
        assert f"| `{key}` |" in text, key


def test_every_rail_is_in_the_guide():
    text = (ROOT / "docs" / "certificates.md").read_text()
    for rail in RAILS:
        assert f"| `{rail}` |" in text, rail


def test_the_plan_wide_rail_is_the_kinds_own():
    """engine/safety.py knows no kind: the rail that needs the whole plan is declared by the certificate kind."""
    from exconf.modules import EXCHANGE_CERTIFICATE
    from exconf.modules.certificate_plan import RAIL_EDGE_MAILBOX

    assert RAIL_EDGE_MAILBOX in RAILS
    source = (ROOT / "engine" / "safety.py").read_text()
    assert "exchange_certificate" not in source and "certificate" not in source.split('"""', 2)[2]
    from exconf.modules.base import KindDefaults

    assert type(EXCHANGE_CERTIFICATE).plan_rails is not KindDefaults.plan_rails
