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


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("amsterdam[0]", ["ex01.contoso.com"]),
        ("amsterdam[-1]", ["ex02.contoso.com"]),
        ("mailbox[1:2]", ["ex02.contoso.com", "ex03.contoso.com"]),  # inclusive, as Ansible's
        ("mailbox[1:]", ["ex02.contoso.com", "ex03.contoso.com"]),
        ("~ex0[13]", ["ex01.contoso.com", "ex03.contoso.com"]),
        ("~contoso", None),  # re.match: anchored at the start, so nothing matches
        ("EX01.contoso.com", None),  # host names match case-sensitively
        ("edge:&~edge0[1]", ["edge01.contoso.com"]),
    ],
)
def test_ansible_subscripts_regexes_and_case(inv, pattern, expected):
    if expected is None:
        with pytest.raises(LimitError, match="matches no host or group"):
            select(inv, pattern)
    else:
        assert select(inv, pattern) == expected


def test_a_subscript_past_the_end_says_how_many_hosts_there_are(inv):
    with pytest.raises(LimitError, match="amsterdam has 2 hosts, no index 5"):
        select(inv, "amsterdam[5]")


def test_a_limit_file_lists_hosts_one_a_line(inv, tmp_path):
    retry = tmp_path / "site.retry"
    retry.write_text("edge02.contoso.com\n\nex03.contoso.com\n")
    assert select(inv, f"@{retry}") == ["ex03.contoso.com", "edge02.contoso.com"]
    with pytest.raises(LimitError, match="no limit file"):
        select(inv, f"@{tmp_path / 'missing'}")


def test_the_organization_pseudo_host_selects_organisation_wide_objects():
    from exconf.limit import select_organization

    selected = {p: select_organization(p) for p in [None, "ex01", "mailbox", "all", "*", "organization", "ex01,organization", "all:!organization", "!ex02", "edge:&organization", "~org", "!all", "ex*"]}
    assert selected == {
        None: True, "ex01": False, "mailbox": False, "all": True, "*": True, "organization": True, "ex01,organization": True,
        "all:!organization": False, "!ex02": True, "edge:&organization": False, "~org": True, "!all": False, "ex*": False,
    }


def test_the_pseudo_host_is_no_host_and_no_error(write):
    inv = load(write({"inv.yaml": "all:\n  hosts:\n    ex01:\n    ex02:\n"}))
    assert select(inv, "organization") == []
    assert select(inv, "ex01,organization") == ["ex01"]
    assert select(inv, "all:!organization") == ["ex01", "ex02"]
