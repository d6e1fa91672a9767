import pytest

from exconf.inventory import load
from exconf.limit import LimitError, select

INV = """
all:
  children:
    mailbox:
      children:
        amsterdam: {hosts: {ex01.contoso.com:, ex02.contoso.com:}}
        rotterdam: {hosts: {ex03.contoso.com:}}
    edge:
      hosts: {edge01.contoso.com:, edge02.contoso.com:}
"""


@pytest.fixture
def inv(write):
    return load(write({"inv.yaml": INV}))


@pytest.mark.parametrize(
    "pattern, expected",
    [
        (None, ["ex01.contoso.com", "ex02.contoso.com", "ex03.contoso.com", "edge01.contoso.com", "edge02.contoso.com"]),
        ("edge", ["edge01.contoso.com", "edge02.contoso.com"]),
        ("mailbox,edge01.contoso.com", ["ex01.contoso.com", "ex02.contoso.com", "ex03.contoso.com", "edge01.contoso.com"]),
        ("mailbox:!amsterdam", ["ex03.contoso.com"]),
        ("all,!edge02*", ["ex01.contoso.com", "ex02.contoso.com", "ex03.contoso.com", "edge01.contoso.com"]),
        ("mailbox,&amsterdam", ["ex01.contoso.com", "ex02.contoso.com"]),
        ("ex0*", ["ex01.contoso.com", "ex02.contoso.com", "ex03.contoso.com"]),
        ("~^edge0[2]", ["edge02.contoso.com"]),
        ("!edge", ["ex01.contoso.com", "ex02.contoso.com", "ex03.contoso.com"]),
    ],
)
def test_patterns_select_like_ansible(inv, pattern, expected):
    assert select(inv, pattern) == expected


def test_a_pattern_matching_nothing_is_an_error(inv):
    with pytest.raises(LimitError, match="'edgee' matches no host or group"):
        select(inv, "mailbox,edgee")
