"""An inventory is input from anyone who can write to its repository: each hostile shape ends in a
clear file:line:col error, in bounded time and memory, reading nothing outside the inventory's folder."""

import os
import tracemalloc
from pathlib import Path

import pytest

from exconf.cli import main
from exconf.inventory import InventoryError, load
from exconf.lab.exchange.orgfile import load as load_org
from exconf.lab.exchange.spec import OrgFileError
from exconf.yamlsource import MAX_ALIAS_EXPANSION, MAX_DEPTH

HOSTS = "all:\n  vars: {ansible_user: u}\n  hosts: {h:}\n"


def billion_laughs(levels: int = 9) -> str:
    """Each level is nine aliases of the one before: 9**levels values from a few hundred bytes."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # errors show paths relative to the working directory


def errors_of(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        load(path)
    return [str(i) for i in exc.value.issues]


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_an_alias_bomb_in_group_vars_is_refused_in_bounded_memory(write):
    path = write({"inv.yaml": HOSTS, "group_vars/all.yaml": billion_laughs()})
    errors: list[str] = []
    peak = peak_bytes(lambda: errors.extend(errors_of(path)))
    (error,) = errors
    assert error.startswith("group_vars/all.yaml:1:")
    assert f"aliases repeat more than {MAX_ALIAS_EXPANSION} values" in error
    # 9**9 values would take hundreds of GB; the budget keeps it to what 100,000 values cost.
    assert peak < 200 * 1024 * 1024


def test_an_alias_bomb_in_a_lab_organisation_file_is_refused(tmp_path):
    org = tmp_path / "org.yaml"
    org.write_text("servers: [{name: EX01, role: Mailbox}]\n" + billion_laughs(), encoding="utf-8")
    with pytest.raises(OrgFileError, match=rf"org.yaml:2:\d+: aliases repeat more than {MAX_ALIAS_EXPANSION} values"):
        load_org(org)


def test_an_alias_bomb_as_a_lab_mapping_key_is_refused_before_it_is_printed(tmp_path):
    org = tmp_path / "org.yaml"
    org.write_text(billion_laughs(3) + "? *l2\n: 1\n", encoding="utf-8")
    with pytest.raises(OrgFileError, match=r"org.yaml:3:5: keys must be strings, got a sequence"):
        load_org(org)


@pytest.mark.parametrize("text", ["[" * 20000 + "]" * 20000, "{a: " * 20000 + "}" * 20000])
def test_20000_deep_nesting_is_a_clear_error_not_a_recursion_error(write, text):
    path = write({"inv.yaml": HOSTS, "host_vars/h.yaml": f"x: {text}\n"})
    (error,) = errors_of(path)
    assert error.startswith("host_vars/h.yaml:1:") and f"nested deeper than {MAX_DEPTH} levels" in error


def test_deep_nesting_in_a_lab_organisation_file_is_a_clear_error(tmp_path):
    org = tmp_path / "org.yaml"
    org.write_text("servers: " + "[" * 20000 + "]" * 20000 + "\n", encoding="utf-8")
    with pytest.raises(OrgFileError, match=rf"org.yaml:1:\d+: nested deeper than {MAX_DEPTH} levels"):
        load_org(org)


def test_a_control_character_in_a_vars_file_names_file_line_and_column(write):
    path = write({"inv.yaml": HOSTS, "group_vars/all/main.yml": "ansible_port: 5986\nnote: ab\x07c\n"})
    assert errors_of(path) == ["group_vars/all/main.yml:2:9: not a YAML text file: control character #x0007"]


def test_a_binary_file_without_extension_names_the_first_bad_byte(write):
    path = write({"inv.yaml": HOSTS})
    (path.parent / "group_vars" / "all").mkdir(parents=True)
    (path.parent / "group_vars" / "all" / "blob").write_bytes(b"a: 1\nb: \x00\x01\xff\n")
    assert errors_of(path) == ["group_vars/all/blob:2:6: not UTF-8 text (byte 0xff)"]


def test_files_ansible_would_skip_are_skipped(write):
    """ansible-core DataLoader._get_dir_vars_files: hidden files, ~ backups, other extensions, dotted folders."""
    path = write(
        {
            "inv.yaml": HOSTS,
            "group_vars/all/10-real.yml": "ansible_port: 5986\n",
            "group_vars/all/main.yml~": "ansible_port: [broken\n",
            "group_vars/all/notes.txt": "ansible_port: [broken\n",
            "group_vars/all/old.d/x.yml": "ansible_port: [broken\n",
            "group_vars/all/.hidden/x.yml": "ansible_port: [broken\n",
            "group_vars/all/sub/20-more.yaml": "ansible_host: 192.0.2.1\n",
        }
    )
    (path.parent / "group_vars" / "all" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\x00\x00\x10\x00\xff")
    host = load(path).host("h")
    assert (host.vars["ansible_port"], host.vars["ansible_host"]) == (5986, "192.0.2.1")


@pytest.mark.parametrize("name", ["../secret", "../../secret", "./../secret"])
def test_a_host_named_like_a_relative_path_reads_no_file_outside_host_vars(write, name):
    path = write(
        {
            "inv/inv.yaml": f'all:\n  vars: {{ansible_user: u}}\n  hosts:\n    "{name}":\n    real:\n',
            "inv/host_vars/real.yml": "ansible_port: 5986\n",
            "inv/secret.yaml": "ansible_port: [this file must not be read\n",
            "secret.yaml": "ansible_port: [nor this one\n",
        }
    )
    inv = load(path)
    assert inv.hosts[0].name == name and "ansible_port" not in inv.hosts[0].vars
    assert inv.host("real").vars["ansible_port"] == 5986


def test_a_group_named_with_an_absolute_path_reads_no_file_outside_group_vars(write, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "creds.yml").write_text("ansible_password: [hunter2\n", encoding="utf-8")
    path = write({"inv/inv.yaml": f'all:\n  vars: {{ansible_user: u}}\n  children:\n    "{outside / "creds"}":\n      hosts: {{h:}}\n'})
    inv = load(path)
    assert "ansible_password" not in inv.host("h").vars


def test_a_symlink_out_of_the_inventory_folder_is_refused_and_not_read(write, tmp_path):
    outside = tmp_path / "outside.yml"
    outside.write_text("ansible_password: hunter2-outside\n", encoding="utf-8")
    path = write({"inv/inv.yaml": HOSTS, "inv/group_vars/all/ok.yml": "ansible_port: 5986\n"})
    os.symlink(outside, path.parent / "group_vars" / "all" / "link.yml")
    (error,) = errors_of(path)
    assert error.startswith("inv/group_vars/all/link.yml: leads outside the inventory's folder; exconf reads only files inside it")
    assert "hunter2" not in error


def test_a_symlink_loop_is_reported_not_ignored(write):
    path = write({"inv.yaml": HOSTS, "group_vars/all/ok.yml": "ansible_port: 5986\n"})
    folder = path.parent / "group_vars" / "all"
    os.symlink("self.yml", folder / "self.yml")
    os.symlink(".", folder / "again")
    assert errors_of(path) == [
        "group_vars/all/again: symbolic link loop: leads back to a folder that contains it",
        "group_vars/all/self.yml: symbolic link loop; exconf cannot read it",
    ]


def test_a_dangling_symlink_is_reported(write):
    path = write({"inv.yaml": HOSTS})
    (path.parent / "host_vars").mkdir()
    os.symlink("nowhere.yml", path.parent / "host_vars" / "h.yml")
    assert errors_of(path) == ["host_vars/h.yml: symbolic link to a file that does not exist"]


def test_a_symlink_inside_the_inventory_folder_is_followed(write):
    path = write({"inv.yaml": HOSTS, "shared/edge.yml": "ansible_port: 5986\n"})
    (path.parent / "host_vars").mkdir()
    os.symlink("../shared/edge.yml", path.parent / "host_vars" / "h.yml")
    assert load(path).host("h").vars["ansible_port"] == 5986


def test_an_oversized_vars_file_is_refused_without_reading_it_whole(write, monkeypatch):
    import exconf.yamlsource as ys

    monkeypatch.setattr(ys, "MAX_FILE_BYTES", 1024 * 1024)
    path = write({"inv.yaml": HOSTS, "host_vars/h.yml": "a: 1\n" + "#" * (1024 * 1024) + "\n"})
    assert errors_of(path) == ["host_vars/h.yml: larger than 1 MiB; exconf reads no bigger YAML file"]


def test_an_unquoted_numeric_password_is_never_printed_by_plan(write, capsys):
    path = write({"inv.yaml": "all:\n  vars: {ansible_user: u, ansible_password: 80914623}\n  hosts: {h:}\n"})
    code = main(["plan", str(path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "inv.yaml:2:45: " in err and "ansible_password" in err and "put it in quotes" in err
    assert "80914623" not in out + err


def test_a_password_typed_into_exconf_password_env_is_never_printed(write, capsys):
    path = write({"inv.yaml": HOSTS, "group_vars/all.yml": "exconf_password_env: 'Tr0ub4dor&3'\n"})
    code = main(["plan", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "group_vars/all.yml:1:22: exconf_password_env: expected the name of an environment variable" in err
    assert "Tr0ub4dor" not in out + err


def test_a_lattice_of_groups_with_many_parents_loads_and_a_cycle_in_it_is_still_found(write):
    """22 levels of two groups, each a child of both groups above: 2^22 paths, each group visited once."""
    from exconf.inventory import InventoryError, load

    levels = 22
    lines = ["all:", "  children:"]
    for level in range(levels):
        for side in "ab":
            lines.append(f"    g{level}{side}:")
            children = [f"g{level + 1}a", f"g{level + 1}b"] if level + 1 < levels else []
            if children:
                lines.append("      children:")
                lines += [f"        {c}:" for c in children]
            else:
                lines.append(f"      hosts: {{h{side}:}}")
    inv = load(write({"inv.yaml": "\n".join(lines) + "\n"}))
    assert {h.name for h in inv.hosts} == {"ha", "hb"}
    assert "g0a" in inv.hosts[0].groups and f"g{levels - 1}a" in inv.hosts[0].groups
    looped = "\n".join(lines).replace("      hosts: {ha:}", "      children:\n        g0a:")
    try:
        load(write({"loop.yaml": looped + "\n"}))
    except InventoryError as exc:
        assert any("is its own ancestor" in str(i) and "g0a" in str(i) for i in exc.issues)
    else:
        raise AssertionError("a cycle through the lattice was not reported")
