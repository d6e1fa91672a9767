"""Inventory merging, ordering and errors, pinned where the mutation run showed nothing noticed a slip.

Each case is what Ansible does (ansible-core's Group ordering, reconcile_inventory, magic variables)
or what exconf documents in docs/inventory.md (mappings merge key by key, errors sorted by place).
"""

from __future__ import annotations


import pytest

from exconf.inventory import InventoryError, display_path, load


def errors_of(path, **kw) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load(path, **kw)
    return [str(i) for i in info.value.issues]


# -- merging --------------------------------------------------------------------------------------


def test_keys_after_a_merged_mapping_are_kept(write):
    inv = load(write({"inv.yaml": """
        all:
          vars:
            exchange: {transport_service: {send_protocol_log_max_age: "30.00:00:00"}}
            ansible_user: group-user
          hosts:
            h:
              exchange: {transport_service: {intra_org_connector_protocol_logging_level: Verbose}}
              ansible_user: host-user
              ansible_port: 5986
        """}))
    v = inv.host("h").vars
    assert v["exchange"]["transport_service"] == {"send_protocol_log_max_age": "30.00:00:00", "intra_org_connector_protocol_logging_level": "Verbose"}
    assert (v["ansible_user"], v["ansible_port"]) == ("host-user", 5986)


def test_an_overridden_value_is_located_where_the_host_wrote_it(write):
    path = write({"inv.yaml": """
        all:
          vars:
            exchange: {transport_service: {send_protocol_log_max_age: "30.00:00:00"}}
          hosts:
            h:
              exchange: {transport_service: {send_protocol_log_max_age: "7.00:00:00"}}
        """})
    inv = load(path)
    h = inv.host("h")
    assert str(h.source(("exchange", "transport_service", "send_protocol_log_max_age"))) == f"{display_path(path)}:6:65"
    assert h.vars["exchange"]["transport_service"]["send_protocol_log_max_age"] == "7.00:00:00"


def test_a_merged_value_is_a_copy_not_shared_between_hosts(write):
    inv = load(write({"inv.yaml": """
        all:
          vars:
            exchange: {transport_service: {send_protocol_log_max_age: "30.00:00:00"}}
          hosts:
            a:
              exchange: {transport_service: {send_protocol_log_max_age: "1.00:00:00"}}
            b:
        """}))
    assert inv.host("b").vars["exchange"]["transport_service"]["send_protocol_log_max_age"] == "30.00:00:00"
    assert inv.host("a").vars["exchange"]["transport_service"]["send_protocol_log_max_age"] == "1.00:00:00"


# -- group order: depth, ansible_group_priority, name ------------------------------------------------


@pytest.mark.parametrize(
    "alpha, beta, winner",
    [
        ("", "", "beta"),  # same depth, same priority: by name, the later name wins
        ("ansible_group_priority: 10,", "", "alpha"),  # a higher priority is merged later and wins
        ('ansible_group_priority: "10",', "", "alpha"),  # a text number counts, as Ansible's int()
        ("", "ansible_group_priority: 0,", "alpha"),  # below the default of 1
        ("ansible_group_priority: high,", "", "beta"),  # not a number: the default
    ],
)
def test_sibling_groups_merge_by_priority_then_name(write, alpha, beta, winner):
    inv = load(write({"inv.yaml": f"""
        all:
          children:
            alpha: {{vars: {{{alpha} ansible_user: alpha}}, hosts: {{h:}}}}
            beta: {{vars: {{{beta} ansible_user: beta}}, hosts: {{h:}}}}
        """}))
    assert inv.host("h").vars["ansible_user"] == winner
    assert "ansible_group_priority" not in inv.host("h").vars  # a setting of the group, not a variable


def test_a_deeper_group_wins_whatever_its_name_and_priority(write):
    inv = load(write({"inv.yaml": """
        all:
          children:
            zeta:
              vars: {ansible_user: parent, ansible_group_priority: 99}
              children:
                alpha: {vars: {ansible_user: child}, hosts: {h:}}
            omega: {children: {mid: {children: {aaa: {vars: {ansible_port: 3}, hosts: {h:}}}}}}
            beta: {vars: {ansible_port: 2}, hosts: {h:}}
        """}))
    assert inv.host("h").vars["ansible_user"] == "child"
    assert inv.host("h").vars["ansible_port"] == 3  # two levels down beats one level down


def test_a_priority_on_any_line_of_an_ini_vars_section_counts(write):
    # Each [g:vars] line is set on the group in turn (ansible-core's Group.set_variable); the last one counts.
    path = write({
        "hosts.ini": """
            [alpha]
            h
            [beta]
            h
            [alpha:vars]
            ansible_user=alpha
            ansible_group_priority=1
            ansible_group_priority=5
            [beta:vars]
            ansible_user=beta
            """,
    })
    assert load(path).host("h").vars["ansible_user"] == "alpha"


def test_errors_sort_by_line_number_not_by_text(write):
    path = write({"inv.yaml": """
        all:
          hosts:
            h1:
              x1: 1
              x2: 2
              x3: 3
              x4: 4
              x5: 5
              ansible_port: "x"
              exconf_foo: 1
        """})
    errors = errors_of(path)
    assert [e.removeprefix(display_path(path)).split(":")[1:3] for e in errors] == [["9", "21"], ["10", "7"]], errors


# -- the group tree ---------------------------------------------------------------------------------


def test_a_group_cycle_is_reported_once_with_its_path(write):
    path = write({"hosts.ini": """
        [a:children]
        b
        [b:children]
        c
        [c:children]
        a
        [a]
        h
        [b]
        [c]
        """})
    errors = errors_of(path)
    cycles = [e for e in errors if "is its own ancestor" in e]
    assert len(cycles) == 1, errors
    assert cycles[0] in ("group 'a' is its own ancestor: a -> b -> c -> a", "group 'b' is its own ancestor: b -> c -> a -> b", "group 'c' is its own ancestor: c -> a -> b -> c")


def test_magic_variables_describe_the_host_as_ansible_does(write):
    path = write({"inv.yaml": """
        all:
          children:
            mailbox: {children: {ams: {hosts: {ex01.contoso.com:}}}}
            zz: {hosts: {ex01.contoso.com:}}
          hosts:
            lone:
          vars:
            short: "{{ inventory_hostname_short }}"
            names: "{{ group_names }}"
            where: "{{ inventory_dir }}"
            members: "{{ groups['mailbox'] }}"
        """})
    inv = load(path)
    ex01 = inv.host("ex01.contoso.com").vars
    assert ex01["short"] == "ex01"
    assert ex01["names"] == ["ams", "mailbox", "zz"]  # sorted, without all
    assert ex01["where"] == str(path.resolve().parent)
    assert ex01["members"] == ["ex01.contoso.com"]
    assert inv.host("lone").vars["names"] == ["ungrouped"]
    assert inv.groups["ungrouped"] == {"lone"}
    assert inv.children["all"] == ("ungrouped", "mailbox", "zz")  # ams has a parent: it is no child of all
    assert inv.host("lone").groups == frozenset({"all", "ungrouped"})


def test_hosts_keep_the_order_they_were_declared_in(write):
    inv = load(write({"inv.yaml": """
        all:
          children:
            b: {hosts: {h3:, h1:}}
            a: {hosts: {h2:, h1:}}
        """}))
    assert [(h.name, h.order) for h in inv.hosts] == [("h3", 0), ("h1", 1), ("h2", 2)]
    assert inv.children["all"][:1] == ("ungrouped",)
    assert inv.direct_hosts["a"] == ("h2", "h1")


# -- errors: where, and in order --------------------------------------------------------------------


def test_errors_come_sorted_by_file_line_and_column(write):
    path = write({"inv.yaml": """
        all:
          hosts:
            h1: {ansible_port: "x"}
            h2: {exconf_foo: 1}
            h3: {exconf_bar: 1, ansible_port: "y"}
        """})
    errors = errors_of(path)
    places = [tuple(int(n) for n in e.split(":")[1:3]) for e in errors]
    assert places == sorted(places) and len(places) == 4, errors
    assert "unknown key 'exconf_foo'; exconf variables are exconf_" in errors[1]


def test_organisation_state_for_a_host_or_in_group_vars_names_the_owner(write):
    path = write({
        "inv.yaml": """
            all:
              hosts:
                h: {exchange_organization: {}}
            """,
        "group_vars/ungrouped.yaml": "exchange_organization: {}\n",
        "host_vars/h.yaml": "exchange_organization: {}\n",
    })
    errors = errors_of(path)
    assert len(errors) == 3, errors
    assert any(e.startswith(f"{display_path(path)}:3:9: exchange_organization: is organisation-wide and cannot be set for host h;") for e in errors), errors
    assert any("group_vars/ungrouped.yaml:1:1" in e and "for group ungrouped" in e for e in errors), errors
    assert any("host_vars/h.yaml:1:1" in e and "for host h" in e for e in errors), errors


def test_organisation_state_in_all_is_allowed_in_group_vars_all(write):
    path = write({
        "inv.yaml": "all:\n  hosts: {h:}\n",
        "group_vars/all.yaml": "exchange_organization: {send_connectors: {X: {protocol_logging_level: Verbose}}}\n",
    })
    assert load(path).organization == {"send_connectors": {"X": {"protocol_logging_level": "Verbose"}}}


def test_an_inventory_without_hosts_is_refused(write):
    path = write({"inv.yaml": "all:\n  children: {mailbox: {}}\n"})
    assert errors_of(path) == [f"{display_path(path)}: the inventory declares no hosts"]


@pytest.mark.parametrize(
    "name, what",
    [
        ("group_vars/mailbx.yml", "group 'mailbx'"),
        ("group_vars/mailbx.json", "group 'mailbx'"),
        ("group_vars/mailbx/main.yaml", "group 'mailbx'"),
        ("group_vars/mailbox.txt", "group 'mailbox.txt'"),
        ("host_vars/ex99.yaml", "host 'ex99'"),
    ],
)
def test_a_vars_file_for_nothing_is_a_warning_naming_it(write, tmp_path, name, what):
    path = write({"inv.yaml": "all:\n  children: {mailbox: {hosts: {ex01:}}}\n", name: "a: 1\n", "group_vars/.hidden.yaml": "a: 1\n"})
    inv = load(path)
    entry = tmp_path / name.split("/")[0] / name.split("/")[1]
    assert list(inv.warnings) == [f"{display_path(entry)}: no {what.split()[0]} named {what.split()[1]} in the inventory; ignored (as Ansible ignores it)"]


def test_vars_files_beside_two_sources_in_one_folder_are_read_once(write, tmp_path):
    first = write({"a.yaml": "all:\n  hosts: {ex01:}\n", "group_vars/all.yaml": "ansible_user: u\n", "group_vars/typo.yaml": "a: 1\n"})
    second = write({"b.yaml": "all:\n  hosts: {ex02:}\n"})
    inv = load([first, second])
    assert len(inv.warnings) == 1, inv.warnings
    assert inv.host("ex02").vars["ansible_user"] == "u"


def test_the_inventory_path_of_a_directory_is_its_first_file(write, tmp_path):
    write({"inv/a.yaml": "all:\n  hosts: {ex01:}\n", "inv/b.yaml": "all:\n  hosts: {ex02:}\n"})
    inv = load(tmp_path / "inv")
    assert inv.path == tmp_path / "inv" / "a.yaml"
    assert inv.base_dir == tmp_path / "inv"
    assert inv.paths == (tmp_path / "inv",)


def test_a_host_listed_first_ungrouped_and_then_in_a_group_leaves_ungrouped(write):
    inv = load(write({"hosts.ini": "h1\nh2\n[g]\nh1\n[g:children]\ng\n"}))
    assert inv.groups["ungrouped"] == {"h2"}
    assert inv.groups["g"] == {"h1"}
    assert inv.children["g"] == ()  # a group is never its own child (nor its own parent)
    assert inv.children["all"] == ("ungrouped", "g")
    assert inv.host("h1").groups == frozenset({"all", "g"})


def test_a_groups_hosts_are_its_own_then_its_childrens_level_by_level(write):
    from exconf.limit import select

    inv = load(write({"inv.yaml": """
        all:
          children:
            site:
              children:
                deep: {children: {deeper: {hosts: {d2:}}}, hosts: {d1:}}
                flat: {hosts: {f1:, d1:}}
              hosts: {s1:}
        """}))
    assert inv.direct_hosts["site"] == ("s1",)
    assert [select(inv, f"site[{i}]") for i in range(4)] == [["s1"], ["d1"], ["f1"], ["d2"]]


# -- where each value was written, and checks that name the path -------------------------------------


def test_sources_of_lists_mappings_and_their_items(write):
    path = write({"inv.yaml": """
        all:
          hosts:
            h1:
              ansible_group_priority: 3
              mylist: [a, [b], {k: v}]
              exchange: {transport_service: {send_protocol_log_max_age: "1.00:00:00"}}
        """})
    h = load(path).host("h1")
    at = display_path(path)
    assert h.vars["ansible_group_priority"] == 3  # a host's variable like any other; only groups take it as their priority
    assert [str(h.source(p)) for p in (("mylist", 0), ("mylist", 1), ("mylist", 2, "k"))] == [f"{at}:5:16", f"{at}:5:19", f"{at}:5:28"]
    assert str(h.source(("exchange",))) == f"{at}:6:7"  # a mapping is named by its key
    assert str(h.key_sources[("exchange",)]) == f"{at}:6:7"


def test_a_merged_mapping_is_keyed_where_the_host_wrote_it(write):
    path = write({"inv.yaml": """
        all:
          vars:
            exchange: {transport_service: {send_protocol_log_max_age: "30.00:00:00"}}
          hosts:
            h:
              exchange: {transport_service: {intra_org_connector_protocol_logging_level: Verbose}}
        """})
    assert str(load(path).host("h").key_sources[("exchange",)]) == f"{display_path(path)}:6:7"


def test_an_error_shared_by_every_host_is_reported_once(write):
    path = write({"inv.yaml": """
        all:
          vars:
            exchange: {transport_service: {send_protocol_log_max_age: "99999.00:00:00"}}
          hosts: {h1:, h2:}
        """})
    assert errors_of(path) == [
        f"{display_path(path)}:3:63: exchange.transport_service.send_protocol_log_max_age: '99999.00:00:00' is out of range: must be between 00:00:00 and 24855.03:14:07"
    ]


def test_exchange_checks_name_the_path_and_the_known_names(write):
    path = write({"inv.yaml": """
        all:
          hosts:
            h1:
              exconf_foo: 1
              exchange:
                receive_connectors:
                  "Default {srv}": {protocol_logging_level: Verbose}
        """})
    at = display_path(path)
    assert errors_of(path) == [
        f"{at}:4:7: unknown key 'exconf_foo'; exconf variables are exconf_forbid_ntlm, exconf_accept_cleartext, exconf_role, exconf_site, exconf_password_env, exconf_ssh_key_passphrase_env, exconf_lab, exconf_organization",
        f"{at}:7:11: exchange.receive_connectors: name 'Default {{srv}}': unknown placeholder {{srv}} (known: {{server}})",
    ]


def test_a_jinja_looking_name_is_refused_in_organisation_state_too(write):
    path = write({"inv.yaml": """
        all:
          vars:
            exchange_organization:
              send_connectors:
                "{{ name }}": {protocol_logging_level: Verbose}
          hosts: {h1:}
        """})
    assert errors_of(path) == [
        f"{display_path(path)}:5:9: exchange_organization.send_connectors: name '{{{{ name }}}}' looks like a Jinja template, and names (mapping keys) are not rendered, in Ansible as in exconf; use {{server}} for the server's name"
    ]


def test_a_bad_value_after_an_unknown_key_or_an_undeclared_resource_is_still_checked(write):
    path = write({"inv.yaml": """
        all:
          hosts:
            h1:
              exchange:
                frontend_transport_service: {bogus: 1, receive_protocol_log_max_age: "99999.00:00:00"}
        """})
    errors = errors_of(path)
    assert len(errors) == 2 and "unknown key 'bogus'" in errors[0], errors
    assert errors[1] == f"{display_path(path)}:5:78: exchange.frontend_transport_service.receive_protocol_log_max_age: '99999.00:00:00' is out of range: must be between 00:00:00 and 24855.03:14:07"


def test_inventory_file_is_the_file_that_declared_the_host(write):
    first = write({"a.yaml": "all:\n  hosts: {ex01:}\n  vars: {f: '{{ inventory_file }}'}\n"})
    second = write({"sub/b.ini": "ex02\n"})
    inv = load([first, second])
    assert inv.host("ex01").vars["f"] == str(first.resolve())
    assert inv.host("ex02").vars["f"] == str(second.resolve())
