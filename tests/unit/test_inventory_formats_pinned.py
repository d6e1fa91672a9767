"""The YAML and INI inventory formats: every mistake a user can make is reported at its place, in words.

Messages and places are what the user reads first; each case here is one mistake, with the exact
text and the file:line:column exconf must print.
"""

from __future__ import annotations

import pytest

from exconf.inventory import InventoryError, display_path, load
from exconf.inventory_ini import parse_value


def errors_of(path) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load(path)
    return [str(i).removeprefix(display_path(path)) for i in info.value.issues]


@pytest.mark.parametrize(
    "text, errors",
    [
        ("", [":1:1: an inventory is a mapping of groups, starting with 'all:'"]),
        ("- ex01\n", [":1:1: an inventory is a mapping of groups, starting with 'all:'"]),
        ("all:\n  children:\n    g: 5\n", [":3:8: all.children.g: a group is a mapping with hosts, vars, children"]),
        ("all:\n  vars: [1]\n  hosts: {h:}\n", [":2:9: all.vars: variables of group all must be a mapping, found list"]),
        ("all:\n  children: [g]\n  hosts: {h:}\n", [":2:13: all.children: expected a mapping of group names"]),
        ("all:\n  hosts:\n    ex[1:]:\n    h:\n", [":3:5: all.hosts: host range [1:] in 'ex[1:]' must specify its end"]),
        ("all:\n  hosts:\n    h: [1]\n", [":3:8: all.hosts.h: variables of host h must be a mapping, found list"]),
        ("all:\n  hosts: h\n", [":2:10: all.hosts: expected a mapping of host names (write 'host:' with a colon)"]),
        ("all:\n  hots: {h:}\n  hosts: {h:}\n", [":2:3: all: unknown key 'hots'; a group has only hosts, vars, children (did you forget 'hosts:' or 'vars:'?)"]),
    ],
)
def test_yaml_mistakes_are_reported_where_they_are(write, text, errors):
    assert errors_of(write({"inv.yaml": text})) == errors


def test_yaml_host_port_ranges_and_top_level_groups(write):
    path = write({"inv.yaml": """
        all:
          hosts:
            ex[01:02].contoso.com:5986: {ansible_user: u}
        mailbox:
          hosts: {mb01:}
        empty:
        """})
    inv = load(path)
    assert [h.name for h in inv.hosts] == ["ex01.contoso.com", "ex02.contoso.com", "mb01"]
    ex02 = inv.host("ex02.contoso.com")
    assert (ex02.vars["ansible_port"], ex02.vars["ansible_user"]) == (5986, "u")
    assert str(ex02.source(("ansible_port",))) == f"{display_path(path)}:3:5"  # where the key with the port is written
    assert inv.groups["mailbox"] == {"mb01"} and "mb01" in inv.groups["all"]
    assert "empty" in inv.children["all"]  # a group without a parent is a child of all


def test_ini_section_mistakes_are_reported_where_they_are(write):
    path = write({"hosts.ini": """
        [g:foo]
        h
        [bad section]
        [g]
        h2
        [g2:vars]
        noequals
        =1
        [g:children]
        bad name here
        [g3:vars]
        a=1
        [g:children]
        missing
        """})
    assert errors_of(path) == [
        ":1:1: section [g:foo] has unknown type 'foo'; use [g], [g:vars] or [g:children]",
        ":3:1: invalid section '[bad section]': a section is [name], [name:vars] or [name:children], without spaces",
        ":6:1: section [g2:vars] is for a group 'g2' this file does not declare",
        ":7:1: expected key=value in [g2:vars], found 'noequals'",
        ":8:1: expected key=value in [g2:vars], found no key before '='",
        ":10:1: expected a group name in [g:children], found 'bad name here'",
        ":11:1: section [g3:vars] is for a group 'g3' this file does not declare",
        ":14:1: section [g:children] includes a group 'missing' this file does not declare",
    ]


def test_ini_host_line_mistakes_are_reported_where_they_are(write):
    path = write({"hosts.ini": "h1 'unclosed\nh2: \nex[1:] \nh3 a=1 b\n  h4 =1\n"})
    assert errors_of(path) == [
        ":1:1: cannot read the host line: No closing quotation",
        ":2:1: host 'h2:' ends in ':', which is reserved for a port",
        ":3:1: host range [1:] in 'ex[1:]' must specify its end",
        ":4:6: expected key=value after host 'h3', found 'b'",
        ":5:6: expected key=value after host 'h4', found '=1'",
    ]


def test_ini_values_keep_their_columns_and_sections_may_come_in_any_order(write):
    path = write({"hosts.ini": """
        ; a comment
        # another
        lone ansible_port=5986
        [mailbox:children]
        ams
        [mailbox:vars]
        ansible_user =  CONTOSO\\exadmin
        [ams]
        ex[01:02]:5985   ansible_host=192.0.2.1  exconf_password_env="PW"  # trailing comment
        [ams:vars]
        ansible_port=5999
        """})
    inv = load(path)
    where = display_path(path)
    ex01 = inv.host("ex01")
    assert ex01.vars["ansible_port"] == 5985  # the host's own port beats its group's
    assert ex01.vars["exconf_password_env"] == "PW"
    assert ex01.vars["ansible_user"] == "CONTOSO\\exadmin"
    assert str(ex01.source(("ansible_host",))) == f"{where}:9:31"
    assert str(ex01.key_sources[("ansible_host",)]) == f"{where}:9:18"
    assert str(ex01.source(("exconf_password_env",))) == f"{where}:9:62"
    assert str(ex01.source(("ansible_user",))) == f"{where}:7:17"
    assert inv.host("lone").vars["ansible_port"] == 5986 and inv.host("lone").groups == frozenset({"all", "ungrouped"})
    assert inv.groups["mailbox"] == {"ex01", "ex02"}


@pytest.mark.parametrize(
    "text, value",
    [
        ("(1, 2)", [1, 2]),
        ("{1}", [1]),
        ("{'a': (1,)}", {"a": [1]}),
        ("1j", "1j"),
        ("b'x'", "b'x'"),
        ("...", "..."),
        ("None", None),
        ("0x10", 16),
        ("[1, [2, (3,)]]", [1, [2, [3]]]),
    ],
)
def test_ini_values_are_python_literals_made_plain(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_ini_lines_are_read_as_ansible_reads_them(write):
    path = write({"hosts.ini": """
        Xmb01 note=a=b
        [bad section]
        this line belongs to no section and is skipped
        [late:vars]
        ansible_user=u=v
        [late]
        ex01 ansible_host=ex01
        [ghost:vars]
        y=1
        """})
    at = display_path(path)
    assert errors_of(path) == [
        ":2:1: invalid section '[bad section]': a section is [name], [name:vars] or [name:children], without spaces",
        ":8:1: section [ghost:vars] is for a group 'ghost' this file does not declare",
    ]
    path.write_text(path.read_text().replace("[bad section]\nthis line belongs to no section and is skipped\n", "").replace("[ghost:vars]\ny=1\n", ""))
    inv = load(path)
    assert inv.host("Xmb01").vars["note"] == "a=b"  # a host whose name starts with X is no comment; split at the first '='
    ex01 = inv.host("ex01")
    assert ex01.vars["ansible_user"] == "u=v"
    assert str(ex01.key_sources[("ansible_user",)]) == f"{at}:3:1"
    assert str(ex01.source(("ansible_user",))) == f"{at}:3:14"
    assert str(ex01.key_sources[("ansible_host",)]) == f"{at}:5:6"  # the key after the host name, not the name repeated in the value


def test_ini_host_port_is_located_at_the_host(write):
    path = write({"hosts.ini": "[g]\n  ex[01:02]:5985\n"})
    inv = load(path)
    assert inv.host("ex02").vars["ansible_port"] == 5985
    assert str(inv.host("ex02").source(("ansible_port",))) == f"{display_path(path)}:2:3"
