"""--limit: the hosts a run touches, pinned where a slip would silently widen or shrink the run."""

from __future__ import annotations

import pytest

from exconf.inventory import load
from exconf.limit import LimitError, select, select_organization

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
EX = ["ex01.contoso.com", "ex02.contoso.com", "ex03.contoso.com"]
EDGE = ["edge01.contoso.com", "edge02.contoso.com"]


@pytest.fixture
def inv(write):
    return load(write({"inv.yaml": INV}))


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("*dam", EX),  # a glob matching two groups takes the hosts of both
        ("m*", EX),  # a glob matching a group (and no host name) takes the group's hosts
        ("e*", EX + EDGE),  # a glob matching a group and host names takes both
        ("~e", EX + EDGE),  # so does a regex, even without a glob character
        ("all,!amsterdam,!edge", ["ex03.contoso.com"]),  # every exclusion applies, not only the first
        ("edge01*,&mailbox", None),  # an intersection keeps only hosts already chosen (none here)
        ("amsterdam,&ex0[23]*", ["ex02.contoso.com"]),  # ex03 matches the & term but lies outside the union
        ("&amsterdam,&~ex02", ["ex02.contoso.com"]),  # only & terms: they start from all hosts
        ("mailbox[0:1]", EX[:2]),  # [i:j] is inclusive at both ends
        ("mailbox[2:]", EX[2:]),
        ("organization,ex01.contoso.com", ["ex01.contoso.com"]),  # the pseudo-host does not end the list
    ],
)
def test_union_intersection_exclusion_and_slices(inv, pattern, expected):
    assert select(inv, pattern) == (expected or [])


def test_all_subscript_counts_hosts_in_ansible_cores_order(write):
    # Declared order: deep01 (two levels down) before top01; ansible-core's all[0] is top01 (Group.get_hosts
    # lists the hosts of all's children before their children's; tests/parity proves it side by side).
    inv = load(write({"inv.yaml": """
        all:
          children:
            outer: {children: {inner: {hosts: {deep01:}}}}
            flat: {hosts: {top01:}}
        """}))
    assert select(inv, "all[0]") == ["top01"]
    assert select(inv, "all[1]") == ["deep01"]
    assert select(inv, "outer[0]") == ["deep01"]


@pytest.mark.parametrize(
    "pattern, message",
    [
        (",", "--limit ',' names no host or group"),
        ("mailbox,!", "--limit: '!' names no host or group"),
        ("amsterdam[5]", "--limit: 'amsterdam[5]': amsterdam has 2 hosts, no index 5"),
        ("rotterdam[1]", "--limit: 'rotterdam[1]': rotterdam has 1 host, no index 1"),
    ],
)
def test_limit_errors_say_what_is_wrong(inv, pattern, message):
    with pytest.raises(LimitError) as err:
        select(inv, pattern)
    assert str(err.value) == message


@pytest.mark.parametrize("pattern, bad", [("~ex0(", "~ex0("), ("ex01.contoso.com,~(", "~("), ("mailbox[0],~edge(", "~edge(")])
def test_a_bad_regex_names_the_term_as_written(inv, pattern, bad):
    with pytest.raises(LimitError) as err:
        select(inv, pattern)
    assert str(err.value).startswith(f"--limit: bad pattern {bad!r}: ")


def test_no_match_names_every_inventory_source(write, tmp_path):
    first = write({"a.yaml": "all: {hosts: {ex01:}}\n"})
    second = write({"b.yaml": "all: {hosts: {ex02:}}\n"})
    inv = load([first, second])
    with pytest.raises(LimitError) as err:
        select(inv, "ex03")
    assert f"'ex03' matches no host or group in {first}, {second} (" in str(err.value)


def test_limit_files_errors_name_the_file(inv, tmp_path):
    missing = tmp_path / "nope.retry"
    with pytest.raises(LimitError) as err:
        select(inv, f"@{missing}")
    assert str(err.value) == f"--limit: no limit file {missing}"
    with pytest.raises(LimitError) as err:
        select(inv, f"@{tmp_path}")
    assert str(err.value) == f"--limit: {tmp_path} must be a file, not a directory"
    bad = tmp_path / "latin1.retry"
    bad.write_bytes(b"ex01\xe9\n")
    with pytest.raises(LimitError) as err:
        select(inv, f"@{bad}")
    assert str(err.value).startswith(f"--limit: cannot read limit file {bad}: ")


def test_a_limit_file_holds_one_term_a_line_spaces_included(inv, tmp_path):
    retry = tmp_path / "hosts.retry"
    retry.write_text("~(ex01|edge 01)\n\n  edge02.contoso.com  \n", encoding="utf-8")
    assert select(inv, f"@{retry}") == ["ex01.contoso.com", "edge02.contoso.com"]


@pytest.mark.parametrize(
    "pattern, chosen",
    [
        ("all,&edge", False),  # the pseudo-host is in no group but all
        ("all,&organization", True),
        ("&org*", True),
        ("all,!organization", False),
        ("!edge", True),
        ("ex01,~(", False),  # a bad regex never selects the organisation
        ("~(", False),
        ("ex01", False),
        ("org*", True),
    ],
)
def test_which_patterns_select_the_organisation(pattern, chosen):
    assert select_organization(pattern) is chosen
