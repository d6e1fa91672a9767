"""Side by side with ansible-core: the same inventories, read by Ansible's own CLIs and by exconf.

For each inventory of the corpus (tests/data/inventories), ``ansible-inventory
--list`` gives the groups and each host's raw variables, ``ansible all -m
debug`` each variable as Ansible renders it (templates, vault), and ``ansible
all --list-hosts --limit P`` the hosts a pattern selects; exconf's resolved
inventory must agree host by host and variable by variable.

Deliberate differences (docs/inventory.md, "Coming from Ansible"), and how
this test accounts for them:
- mappings merge key by key: Ansible runs with ANSIBLE_HASH_BEHAVIOUR=merge;
- exconf renders templates when it loads (``ansible-inventory --list`` shows
  them raw): templated and vaulted values are compared with Ansible's rendering;
- a limit term that matches nothing is an error in exconf (Ansible warns):
  no such pattern is in the list below; host order is compared as sets.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from exconf.inventory import load
from exconf.limit import select
from exconf.vault import VaultOptions, load_secrets

CORPUS = Path(__file__).resolve().parents[1] / "data" / "inventories"
from .conftest import BIN  # noqa: E402 - the corpus path above is what the conftest is next to
VAULT = ["--vault-password-file", str(CORPUS / "vault-pass.txt"), "--vault-id", f"prod@{CORPUS / 'vault-pass-prod.txt'}"]

CASES = {
    "estate-yaml": ["estate/hosts.yml"],
    "estate-ini": ["estate/hosts.ini"],
    "script": ["script/cmdb.py"],
    "two-sources": ["multi/a.yml", "multi/b.ini"],
    "directory": ["multi"],
}
PATTERNS = [
    "mailbox",
    "site_ams[0]",
    "site_ams[1:2]",
    "site_ams[-1]",
    "~ams-ex0[12]",
    "~rtm-ex",
    "~.*-ex02",
    "mailbox:!pilot",
    "mailbox,&pilot",
    "*.dmz.contoso.com",
    "ams-*",
    "!edge",
    "all",
]

pytestmark = pytest.mark.skipif(shutil.which("ansible-inventory", path=str(BIN)) is None, reason="ansible-core is not installed (pip install -e '.[test]')")


def run(tool: str, args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([str(BIN / tool), *args], capture_output=True, text=True, env=env, cwd=CORPUS, timeout=300, check=False)
    assert done.returncode == 0, f"{tool} {' '.join(args)} failed:\n{done.stderr}\n{done.stdout}"
    return done.stdout


def sources(case: str) -> list[str]:
    return [a for s in CASES[case] for a in ("-i", s)]


def exconf_inventory(case: str):
    secrets = load_secrets(VaultOptions(password_files=(str(CORPUS / "vault-pass.txt"),), vault_ids=(f"prod@{CORPUS / 'vault-pass-prod.txt'}",)))
    return load([CORPUS / s for s in CASES[case]], vault=secrets)


def rendered_by_ansible(case: str, keys: list[str], env: dict[str, str]) -> dict[str, dict]:
    """Each host's variables as Ansible renders them (debug runs on the controller; no host is contacted)."""
    body = ", ".join(f"{k!r}: ({k} | default('__MISSING__'))" for k in keys)
    out = run("ansible", ["all", *sources(case), *VAULT, "-m", "debug", "-a", "msg={{ {" + body + "} }}"], env)
    found: dict[str, dict] = {}
    decoder = json.JSONDecoder()
    for m in re.finditer(r"^(\S+) \| SUCCESS => ", out, re.M):
        found[m.group(1)] = decoder.raw_decode(out, m.end())[0]["msg"]
    return found


def is_raw(value) -> bool:
    if isinstance(value, dict):
        return "__ansible_vault" not in value and all(is_raw(v) for v in value.values())
    if isinstance(value, list):
        return all(is_raw(v) for v in value)
    return not (isinstance(value, str) and ("{{" in value or "{%" in value))


@pytest.mark.parametrize("case", list(CASES))
def test_groups_hosts_and_every_variable_match_ansible(case: str, ansible_env: dict[str, str]) -> None:
    listed = json.loads(run("ansible-inventory", [*sources(case), *VAULT, "--list"], ansible_env))
    inventory = exconf_inventory(case)

    # Groups: the same hosts declared in each, the same children.
    for group, entry in listed.items():
        if group == "_meta":
            continue
        assert list(inventory.direct_hosts.get(group, ())) == entry.get("hosts", []) or group == "all", group
        assert set(inventory.children.get(group, ())) == set(entry.get("children", [])), group
    hostvars = listed["_meta"]["hostvars"]
    assert set(hostvars) == {h.name for h in inventory.hosts}

    # Variables: the same names per host; raw values equal; templated and vaulted values equal once Ansible renders them.
    keys = sorted({k for v in hostvars.values() for k in v})
    rendered = rendered_by_ansible(case, keys, ansible_env)
    compared = 0
    for host in inventory.hosts:
        theirs = hostvars.get(host.name, {})
        assert set(host.vars) == set(theirs), host.name
        for key, value in host.vars.items():
            if is_raw(theirs[key]):
                assert value == theirs[key], f"{host.name}: {key}"
            assert value == rendered[host.name][key], f"{host.name}: {key} (rendered)"
            compared += 1
    assert compared >= len(inventory.hosts)


@pytest.mark.parametrize("case", ["estate-yaml", "estate-ini"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_limit_patterns_select_what_ansible_selects(case: str, pattern: str, ansible_env: dict[str, str]) -> None:
    out = run("ansible", ["all", *sources(case), *VAULT, "--list-hosts", "--limit", pattern], ansible_env)
    theirs = [line.strip() for line in out.splitlines()[1:] if line.strip()]
    ours = select(exconf_inventory(case), pattern)
    assert set(ours) == set(theirs)
    if "[" in pattern:  # a subscript picks by Ansible's order of the group's hosts
        assert ours == theirs


def test_a_limit_file_selects_what_ansible_selects(ansible_env: dict[str, str], tmp_path: Path) -> None:
    limit = tmp_path / "retry"
    limit.write_text("rtm-ex01.contoso.com\nams-edgeb.dmz.contoso.com\n", encoding="utf-8")
    out = run("ansible", ["all", *sources("estate-yaml"), *VAULT, "--list-hosts", "--limit", f"@{limit}"], ansible_env)
    theirs = {line.strip() for line in out.splitlines()[1:] if line.strip()}
    assert set(select(exconf_inventory("estate-yaml"), f"@{limit}")) == theirs == {"rtm-ex01.contoso.com", "ams-edgeb.dmz.contoso.com"}


@pytest.mark.parametrize("case", list(CASES))
def test_exconf_inventory_prints_what_ansible_inventory_prints(case: str, ansible_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from exconf.cli import main

    args = [a if not a.startswith(("estate", "multi", "script")) else str(CORPUS / a) for a in sources(case)]
    theirs = run("ansible-inventory", [*sources(case), *VAULT, "--graph"], ansible_env)
    assert main(["inventory", *args, *VAULT, "--graph"]) == 0
    assert capsys.readouterr().out == theirs
    listed = json.loads(run("ansible-inventory", [*sources(case), *VAULT, "--list"], ansible_env))
    assert main(["inventory", *args, *VAULT, "--list"]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in ours.items() if k != "_meta"} == {k: v for k, v in listed.items() if k != "_meta"}
    assert {h: set(v) for h, v in ours["_meta"]["hostvars"].items()} == {h: set(v) for h, v in listed["_meta"]["hostvars"].items()}


def test_the_json_ansible_inventory_prints_is_a_source_that_loads_to_the_same_estate(ansible_env: dict[str, str], tmp_path: Path) -> None:
    """A dynamic estate exported with ``ansible-inventory --list > estate.json`` (vaulted and unsafe values included)."""
    exported = tmp_path / "estate.json"
    exported.write_text(run("ansible-inventory", [*sources("estate-yaml"), *VAULT, "--list"], ansible_env), encoding="utf-8")
    assert "__ansible_vault" in exported.read_text(encoding="utf-8")
    secrets = load_secrets(VaultOptions(password_files=(str(CORPUS / "vault-pass.txt"),), vault_ids=(f"prod@{CORPUS / 'vault-pass-prod.txt'}",)))
    again = load(exported, vault=secrets)
    original = exconf_inventory("estate-yaml")
    assert {h.name for h in again.hosts} == {h.name for h in original.hosts}  # the JSON lists hosts sorted
    for before in original.hosts:
        after = again.host(before.name)
        assert before.groups == after.groups
        differs = {k for k in before.vars if before.vars[k] != after.vars.get(k)}
        assert differs == {"inventory_folder"}, before.name  # inventory_dir is where the inventory is read from


def test_extra_vars_win_as_ansibles_do(ansible_env: dict[str, str], tmp_path: Path) -> None:
    extra_file = tmp_path / "window.yml"
    extra_file.write_text("zone: troubleshooting\nexchange:\n  transport_service:\n    send_protocol_log_max_age: '1.00:00:00'\n", encoding="utf-8")
    extras = ["ntp_server=ntp.cli.example", f"@{extra_file}"]
    body = "{'zone': zone, 'ntp_server': ntp_server, 'exchange': exchange}"
    out = run("ansible", ["all", *sources("estate-yaml"), *VAULT, *[a for e in extras for a in ("-e", e)], "-m", "debug", "-a", "msg={{ " + body + " }}"], ansible_env)
    decoder = json.JSONDecoder()
    theirs = {m.group(1): decoder.raw_decode(out, m.end())[0]["msg"] for m in re.finditer(r"^(\S+) \| SUCCESS => ", out, re.M)}
    secrets = load_secrets(VaultOptions(password_files=(str(CORPUS / "vault-pass.txt"),), vault_ids=(f"prod@{CORPUS / 'vault-pass-prod.txt'}",)))
    ours = load([CORPUS / "estate/hosts.yml"], vault=secrets, extra=extras)
    assert {h.name: {k: h.vars[k] for k in ("zone", "ntp_server", "exchange")} for h in ours.hosts} == theirs
