"""Inventory sources: which format a file is read as, what a directory contributes, -e and vars files.

The format follows ansible-core's plugin order (script, yaml, ini); a file without an extension is
YAML when it reads as a YAML mapping and INI otherwise. Every problem names the source it is in.
"""

from __future__ import annotations

import pytest

from exconf.inventory import InventoryError, load


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Run in the inventory's folder so that messages show short relative paths, as a user types them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def errors_of(path, **kw) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load(path, **kw)
    return [str(i) for i in info.value.issues]


def test_a_missing_source_is_named(here):
    assert errors_of(here / "missing.yaml") == ["missing.yaml: no such inventory file or directory"]


def test_extra_vars_mistakes_name_the_option_by_number_never_by_text(here):
    (here / "inv.yaml").write_text("all:\n  hosts: {h:}\n")
    errors = errors_of(here / "inv.yaml", extra=("a=1 secret", "@nofile.yml", "[1]", "x='unclosed", "=3", '{"k": 1}', "k2=v=2"))
    assert errors == [
        "-e #1: expected key=value, @file or a YAML/JSON mapping",
        "-e #2: no extra-vars file nofile.yml",
        "-e #3:1:1: extra variables must be a mapping",
        "-e #4: cannot split it as a shell would: No closing quotation",
        "-e #5: expected key=value, @file or a YAML/JSON mapping",
    ]


def test_extra_vars_are_texts_split_as_a_shell_would_and_files_are_yaml(here):
    (here / "inv.yaml").write_text("all:\n  hosts: {h:}\n")
    (here / "extra.yml").write_text("from_file: 1\n")
    inv = load(here / "inv.yaml", extra=("k2=v=2 'k3=a b'", "@extra.yml", ' {"k4": 5}'))
    v = inv.host("h").vars
    assert (v["k2"], v["k3"], v["from_file"], v["k4"]) == ("v=2", "a b", 1, 5)


@pytest.mark.parametrize(
    "name, text, hosts",
    [
        ("noext", "[g]\nh1\n", ["h1"]),  # not YAML: INI
        ("noext", "all:\n  hosts: {h9:}\n", ["h9"]),  # a YAML mapping: YAML
        ("hosts.JSON", '{"all": {"hosts": {"j1": null}}}', ["j1"]),  # the extension in any case
        ("hosts.cfg.ini", "j2 ansible_port=1\n", ["j2"]),
    ],
)
def test_the_format_of_a_file_follows_ansibles_plugin_order(here, name, text, hosts):
    (here / name).write_text(text)
    assert [h.name for h in load(here / name).hosts] == hosts


@pytest.mark.parametrize(
    "name, text, error",
    [
        ("list.yml", "- 1\n", "list.yml:1:1: an inventory is a mapping of groups, starting with 'all:'"),
        ("bad.yml", "all: [\n", "bad.yml:2:1: invalid YAML: expected the node content, but found '<stream end>'"),
        ("bad", "all: [\nh5\n", "bad:1:1: host 'all:' ends in ':', which is reserved for a port"),  # not YAML: read as INI
    ],
)
def test_a_file_that_is_not_an_inventory_is_named(here, name, text, error):
    (here / name).write_text(text)
    assert errors_of(here / name) == [error]


@pytest.mark.parametrize(
    "text, error",
    [
        ("- 1\n", "group_vars/all.yml:1:1: variables of group all must be a mapping, found list"),
        ("a: [\n", "group_vars/all.yml:2:1: invalid YAML: expected the node content, but found '<stream end>'"),
    ],
)
def test_a_bad_vars_file_is_named(here, text, error):
    (here / "inv.yaml").write_text("all:\n  hosts: {h:}\n")
    (here / "group_vars").mkdir()
    (here / "group_vars" / "all.yml").write_text(text)
    assert errors_of(here / "inv.yaml") == [error]


def test_an_empty_vars_file_adds_nothing(here):
    (here / "inv.yaml").write_text("all:\n  hosts: {h:}\n")
    (here / "group_vars").mkdir()
    (here / "group_vars" / "all.yml").write_text("# nothing yet\n")
    (here / "host_vars").mkdir()
    (here / "host_vars" / "h.yml").write_text("ansible_port: 5986\n")
    assert load(here / "inv.yaml").host("h").vars == {"ansible_port": 5986}


def test_a_directory_skips_hidden_files_vars_folders_and_ignored_extensions(here):
    inv = here / "inv"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "group_vars" / "all.yml").write_text("ansible_user: u\n")
    (inv / "vars_plugins").mkdir()
    (inv / "vars_plugins" / "x.yml").write_text("all:\n  hosts: {plugin:}\n")
    for name in (".hidden.yml", "notes.txt", "old.yml.bak", "hosts.retry", "hosts.orig", "ansible.cfg", "x.yml~"):
        (inv / name).write_text("all:\n  hosts: {skipped:}\n")
    (inv / "b.yml").write_text("all:\n  hosts: {b1:}\n")
    (inv / "a.ini").write_text("a1\n")
    loaded = load(inv)
    assert [h.name for h in loaded.hosts] == ["a1", "b1"]  # files in name order
    assert loaded.host("b1").vars["ansible_user"] == "u"


def test_unsafe_items_of_a_list_stay_unrendered(here):
    (here / "inv.yaml").write_text('all:\n  hosts:\n    h:\n      names: [!unsafe "{{ not_a_var }}", "{{ inventory_hostname }}"]\n')
    assert load(here / "inv.yaml").host("h").vars["names"] == ["{{ not_a_var }}", "h"]


def test_every_file_of_a_vars_folder_is_read_past_an_empty_or_bad_one(here):
    (here / "inv.yaml").write_text("all:\n  hosts: {h:}\n")
    folder = here / "group_vars" / "all"
    folder.mkdir(parents=True)
    (folder / "a.yml").write_text("# empty\n")
    (folder / "b.yml").write_text("ansible_user: u\n")
    assert load(here / "inv.yaml").host("h").vars["ansible_user"] == "u"
    (folder / "a.yml").write_text("- 1\n")
    (folder / "b.yml").write_text("b: [\n")
    (folder / "c.yml").write_text("- 3\n")
    errors = errors_of(here / "inv.yaml")
    assert [e.split(":")[0] for e in errors] == ["group_vars/all/a.yml", "group_vars/all/b.yml", "group_vars/all/c.yml"], errors


def _vault(text: str) -> str:
    """Encrypt as ansible-vault does (ansible-core's own VaultLib), so the test does not trust exconf's reader."""
    from ansible.parsing.vault import VaultLib
    from ansible.parsing.vault import VaultSecret as AnsibleSecret

    return VaultLib([("default", AnsibleSecret(b"pw"))]).encrypt(text).decode()


def test_whole_file_vaults_in_a_directory_are_read_and_everything_in_them_is_sensitive(here):
    from exconf.sensitive import is_sensitive
    from exconf.vault import VaultSecret, VaultSecrets

    secrets = VaultSecrets((VaultSecret("default", b"pw"),))
    inv = here / "inv"
    inv.mkdir()
    (inv / "a.yml").write_text(_vault("all:\n  hosts:\n    y1: {note: from-yaml}\n"))
    (inv / "b.ini").write_text(_vault("i1 note=from-ini\n[g:vars]\ngnote=g\n[g]\ni1\n"))
    (inv / "c.yml").write_text("all:\n  hosts:\n    plain: {note: clear}\n")
    listing = '{"_meta": {"hostvars": {"j1": {"note": "from-json"}}}, "all": {"children": ["ungrouped"]}, "ungrouped": {"hosts": ["j1"]}}'
    (inv / "d.json").write_text(_vault(listing))
    loaded = load(inv, vault=secrets)
    assert [h.name for h in loaded.hosts] == ["y1", "i1", "plain", "j1"]
    notes = {h.name: h.vars["note"] for h in loaded.hosts}
    assert notes == {"y1": "from-yaml", "i1": "from-ini", "plain": "clear", "j1": "from-json"}
    assert all(is_sensitive(notes[h]) for h in ("y1", "i1", "j1")) and is_sensitive(loaded.host("i1").vars["gnote"])
    assert not is_sensitive(notes["plain"])
