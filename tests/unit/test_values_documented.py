"""The plan's value types against Microsoft's documented ranges (tests/data/exchange_parameters.yaml).

Every property exconf can declare is a parameter of its resource's Set cmdlet; the plan must accept
the documented range at both ends and refuse one step beyond, so that it refuses exactly what
Exchange refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exconf.lab.exchange.cmdlets import CMDLETS
from exconf.lab.exchange.param_types import EnumType as LabEnumType
from exconf.modules import RESOURCES
from exconf.values import ByteSizeType, EnumType, TimeSpanType, ValueError_

DATA = yaml.safe_load((Path(__file__).parents[1] / "data" / "exchange_parameters.yaml").read_text())["cmdlets"]
PROPS = [(r, p) for r in RESOURCES for p in r.props]


def _documented(resource, prop) -> dict[str, Any]:
    entry = DATA[resource.set_cmdlet][prop.param]
    return {**entry, **{k: v for k, v in entry.get("lab", {}).items() if k != "source"}}


def _seconds(text: str) -> int:
    return TimeSpanType(minimum=-(2**62), maximum=2**62).parse(text)


def _accepts(vtype, value) -> bool:
    try:
        vtype.parse(value)
    except ValueError_:
        return False
    return True


@pytest.mark.parametrize("resource, prop", PROPS, ids=lambda x: getattr(x, "key", getattr(x, "kind", "")))
def test_every_declarable_property_is_a_documented_parameter(resource, prop):
    assert prop.param in DATA[resource.set_cmdlet], f"{resource.set_cmdlet} has no -{prop.param} on Microsoft's page"


@pytest.mark.parametrize("resource, prop", [(r, p) for r, p in PROPS if isinstance(p.type, ByteSizeType)],
                         ids=lambda x: getattr(x, "key", getattr(x, "kind", "")))
def test_sizes_refuse_exactly_beyond_the_documented_range(resource, prop):
    entry = _documented(resource, prop)
    low, high = entry["range"]
    assert _accepts(prop.type, high) and not _accepts(prop.type, high + 1)
    if low is not None:
        assert _accepts(prop.type, low) and not _accepts(prop.type, low - 1)
    assert _accepts(prop.type, "Unlimited") == entry.get("unlimited", False)


@pytest.mark.parametrize("resource, prop", [(r, p) for r, p in PROPS if isinstance(p.type, TimeSpanType)],
                         ids=lambda x: getattr(x, "key", getattr(x, "kind", "")))
def test_time_spans_refuse_exactly_beyond_the_documented_range(resource, prop):
    low, high = _documented(resource, prop)["range"]
    assert (prop.type.minimum, prop.type.maximum) == (_seconds(low), _seconds(high))
    assert _accepts(prop.type, low) and _accepts(prop.type, high)


@pytest.mark.parametrize("resource, prop", [(r, p) for r, p in PROPS if isinstance(p.type, EnumType)],
                         ids=lambda x: getattr(x, "key", getattr(x, "kind", "")))
def test_enum_names_are_the_ones_exchange_binds(resource, prop):
    lab = next(p for p in CMDLETS[resource.set_cmdlet.lower()].signature.params if p.name == prop.param)
    assert isinstance(lab.type, LabEnumType)
    assert prop.type.choices == tuple(name for name, _ in lab.type.enum.names_by_value)
    assert prop.type.exchange_type == lab.type.enum.dotnet
