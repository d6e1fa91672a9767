"""What a command selects and what it must render, side by side with ansible-core.

- Laziness: ansible-core renders a variable only when a task uses it, so a lookup exconf does not offer
  (``pipe``), a lookup that fails, or a vault id nobody typed, in a group ``--limit`` leaves out, stops
  nothing; exconf renders only what the selected hosts need, and the same inventory fails at the
  variable's file:line:col when a selected host needs it, before any host is contacted.
- ``--limit`` sets: a name that is both a host and a group, ``all[N]`` in ansible-core's order, host lists.
- Vault prompts: ansible-core asks every ``@prompt`` vault id when it starts (``cli/__init__.py``,
  ``PromptVaultSecret.load()`` in ``setup_vault_secrets``); exconf asks, in the same words, only the ids
  of the values the selected hosts use, and decrypts them to the same values.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from exconf.inventory import InventoryError, load, open_inventory
from exconf.inventorycli import InventoryUnusable, load_from_args
from exconf.limit import select as select_hosts
from exconf.vault import VaultOptions, VaultSecrets, load_secrets

from .conftest import BIN
from .test_ansible_parity import pytestmark  # noqa: F401 - skipped without ansible-core

PASSWORDS = {"win": "win-Pa55", "linux": "linux-Pa55"}


def _vault(text: str, vault_id: str) -> str:
    from ansible.parsing.vault import VaultLib
    from ansible.parsing.vault import VaultSecret as AnsibleSecret

    encrypted = VaultLib([(vault_id, AnsibleSecret(PASSWORDS[vault_id].encode()))]).encrypt(text, vault_id=vault_id).decode()
    return "!vault |\n" + "".join(f"          {line}\n" for line in encrypted.splitlines())


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """Windows servers beside Linux hosts whose variables exconf cannot (or must not) render."""
    (tmp_path / "inv.yml").write_text(
        "all:\n"
        "  vars:\n"
        "    ansible_user: CONTOSO\\svc\n"
        "  children:\n"
        "    windows:\n"
        "      vars:\n"
        "        log_root: \"{{ lookup('env', 'EXCONF_LOG_ROOT') }}\\\\Transport\"\n"
        "        ansible_password: " + _vault("win-secret", "win") +
        "      hosts:\n"
        "        ex01.contoso.com:\n"
        "        ex02.contoso.com:\n"
        "    linux:\n"
        "      vars:\n"
        "        kernel: \"{{ lookup('pipe', 'uname -r') }}\"\n"
        "        ansible_user: \"{{ lookup('pipe', 'whoami') }}\"\n"
        "        ansible_password: " + _vault("linux-secret", "linux") +
        "      hosts:\n"
        "        lx01.contoso.com:\n"
        "    ex01.contoso.com:\n"  # a group named like a host
        "      hosts:\n"
        "        lx01.contoso.com:\n",
        encoding="utf-8",
    )
    for vault_id, password in PASSWORDS.items():
        (tmp_path / f"{vault_id}.pass").write_text(password + "\n", encoding="utf-8")
    return tmp_path


def _ansible(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ansible"), *args], capture_output=True, text=True, env=env | {"EXCONF_LOG_ROOT": "D:\\Logs"},
                          cwd=cwd, timeout=300, check=False)


def _listed(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return [line.strip() for line in done.stdout.splitlines()[1:] if line.strip()]


def _args(estate: Path, limit: str | None, *vault_ids: str) -> argparse.Namespace:
    return argparse.Namespace(inventory=estate / "inv.yml", inventories=[], limit=limit, extra_vars=[], vault_password_files=[],
                              ask_vault_pass=False, vault_ids=[f"{v}@{estate / (v + '.pass')}" for v in vault_ids])


def test_a_limit_leaves_what_exconf_cannot_render_unrendered_as_ansible_core_does(estate: Path, ansible_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCONF_LOG_ROOT", "D:\\Logs")
    # ansible-core: the Windows servers' variables, with only the windows vault id; the pipe lookups never run.
    done = _ansible(estate, ansible_env, "windows", "-i", "inv.yml", "--vault-id", f"win@{estate / 'win.pass'}", "-m", "debug",
                    "-a", "msg={{ [log_root, ansible_password, ansible_user] }}")
    assert done.returncode == 0, done.stdout + done.stderr
    theirs = {m.group(1): json.JSONDecoder().raw_decode(done.stdout, m.end())[0]["msg"] for m in re.finditer(r"^(\S+) \| SUCCESS => ", done.stdout, re.M)}
    inventory = load_from_args(_args(estate, "windows", "win"))
    ours = {name: [inventory.host(name).vars[k] for k in ("log_root", "ansible_password", "ansible_user")] for name in select_hosts(inventory, "windows")}
    assert ours == theirs == {h: ["D:\\Logs\\Transport", "win-secret", "CONTOSO\\svc"] for h in ("ex01.contoso.com", "ex02.contoso.com")}


def test_what_a_selected_host_needs_and_exconf_cannot_render_is_an_error_at_its_place(estate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCONF_LOG_ROOT", "D:\\Logs")
    with pytest.raises(InventoryUnusable) as info:
        load_from_args(_args(estate, "linux", "win", "linux"))
    text = "\n".join(info.value.lines)
    assert re.search(r"inv\.yml:\d+:\d+: ansible_user: not allowed: lookup 'pipe' runs a command on the controller", text), text
    assert "kernel" not in text  # not a variable exconf uses: never rendered for a plan
    # Without --limit the Linux host is selected too: the same error.
    with pytest.raises(InventoryUnusable):
        load_from_args(_args(estate, None, "win", "linux"))


def test_a_vault_id_no_selected_host_needs_is_not_needed(estate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCONF_LOG_ROOT", "D:\\Logs")
    inventory = load_from_args(_args(estate, "windows", "win"))  # no password for the linux vault id at all
    assert inventory.host("ex02.contoso.com").vars["ansible_password"] == "win-secret"
    with pytest.raises(InventoryUnusable) as info:
        load_from_args(_args(estate, "lx01.contoso.com", "win"))
    assert "vault id 'linux'" in "\n".join(info.value.lines)


@pytest.mark.parametrize("pattern", ["ex01.contoso.com", "ex01.contoso.com:lx01.contoso.com", "all:&ex01.contoso.com", "!ex01.contoso.com",
                                     "all[0]", "all[1]", "all[-1]", "all[0:1]", "windows[1]", "ex01.contoso.com[0]"])
def test_limit_sets_match_ansible_core(estate: Path, ansible_env: dict[str, str], pattern: str) -> None:
    theirs = _listed(_ansible(estate, ansible_env, "all", "-i", "inv.yml", "--list-hosts", "--limit", pattern))
    inventory = open_inventory(estate / "inv.yml")
    assert set(select_hosts(inventory, pattern)) == set(theirs)
    if "[" in pattern:
        assert select_hosts(inventory, pattern) == theirs or len(theirs) <= 1


def test_a_name_that_is_both_a_host_and_a_group_selects_the_host_and_warns_as_ansible_core_does(estate: Path, ansible_env: dict[str, str]) -> None:
    done = _ansible(estate, ansible_env, "all", "-i", "inv.yml", "--list-hosts", "--limit", "ex01.contoso.com")
    assert _listed(done) == ["ex01.contoso.com"]
    assert "Found both group and host with same name: ex01.contoso.com" in done.stderr
    inventory = open_inventory(estate / "inv.yml")
    warnings: list[str] = []
    assert select_hosts(inventory, "ex01.contoso.com", warnings) == ["ex01.contoso.com"]
    assert any("Found both group and host with same name: ex01.contoso.com" in w for w in inventory.warnings)
    assert warnings and "the host is selected" in warnings[0] and "all:&ex01.contoso.com" in warnings[0]


def test_all_subscripts_follow_ansible_cores_order_on_the_corpus(ansible_env: dict[str, str]) -> None:
    """all[i] picks the host ansible-core picks, for every i (exconf then runs the selection in inventory order)."""
    corpus = Path(__file__).resolve().parents[1] / "data" / "inventories"
    vault = ["--vault-password-file", "vault-pass.txt", "--vault-id", "prod@vault-pass-prod.txt"]
    secrets = load_secrets(VaultOptions(password_files=(str(corpus / "vault-pass.txt"),), vault_ids=(f"prod@{corpus / 'vault-pass-prod.txt'}",)))
    for source in ("estate/hosts.yml", "estate/hosts.ini", "multi"):
        theirs = _listed(_ansible(corpus, ansible_env, "all", "-i", source, *vault, "--list-hosts", "--limit", "all[0:50]"))
        inventory = load(corpus / source, vault=secrets)
        assert [select_hosts(inventory, f"all[{i}]")[0] for i in range(len(theirs))] == theirs, source
        assert [select_hosts(inventory, f"all[{-1 - i}]")[0] for i in range(len(theirs))] == theirs[::-1], source


@pytest.mark.parametrize("host_list", ["ex01,ex02,", "ex01.contoso.com, ex02.contoso.com:5986,[::1]:22,", "single,"])
def test_a_host_list_is_read_as_ansible_core_reads_it(tmp_path: Path, ansible_env: dict[str, str], host_list: str) -> None:
    listed = subprocess.run([str(BIN / "ansible-inventory"), "-i", host_list, "--list"], capture_output=True, text=True, env=ansible_env, cwd=tmp_path, timeout=300, check=True)
    theirs = json.loads(listed.stdout)
    inventory = load([host_list])
    assert [h.name for h in inventory.hosts] == theirs["ungrouped"]["hosts"]
    ports = {name: v["ansible_port"] for name, v in theirs["_meta"]["hostvars"].items() if "ansible_port" in v}
    assert {h.name: h.vars["ansible_port"] for h in inventory.hosts if "ansible_port" in h.vars} == ports
    from exconf.cli import main

    assert main(["inventory", "-i", host_list, "--graph"]) == 0


def _pty(argv: list[str], env: dict[str, str], cwd: Path, answers: dict[str, str]) -> str:
    """Run a command on a terminal, answering each password prompt by its text; return what it printed."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execve(argv[0], argv, env)
    out, answered = b"", 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        prompts = re.findall(rb"Vault password[^:]*: ", out)
        while answered < len(prompts):
            text = prompts[answered].decode()
            os.write(fd, (next((v for k, v in answers.items() if f"({k})" in text), "") + "\n").encode())
            answered += 1
    os.waitpid(pid, 0)
    return out.decode(errors="replace")


def test_vault_prompts_exconf_asks_only_what_the_selected_hosts_need_in_ansible_cores_words(estate: Path, ansible_env: dict[str, str]) -> None:
    ids = ["--vault-id", "win@prompt", "--vault-id", "linux@prompt"]
    env = ansible_env | {"EXCONF_LOG_ROOT": "D:\\Logs", "PYTHONWARNINGS": "ignore"}
    theirs = _pty([str(BIN / "ansible"), "windows", "-i", "inv.yml", *ids, "-m", "debug", "-a", "var=ansible_password"], env, estate, PASSWORDS)
    assert re.findall(r"Vault password \(\w+\): ", theirs) == ["Vault password (win): ", "Vault password (linux): "]  # every id, at start
    assert '"ansible_password": "win-secret"' in theirs
    ours = _pty([str(BIN / "exconf"), "inventory", "-i", "inv.yml", *ids, "--limit", "windows", "--list"], env, estate, PASSWORDS)
    assert re.findall(r"Vault password \(\w+\): ", ours) == ["Vault password (win): "]  # only the id a selected host uses
    # the value was decrypted (and is masked as every secret in exconf inventory)
    assert '"ansible_password": "********"' in ours and "win-secret" not in ours
    # With the Linux host selected, its id is asked too, in the same words.
    ours = _pty([str(BIN / "exconf"), "inventory", "-i", "inv.yml", *ids, "--host", "lx01.contoso.com"], env, estate, PASSWORDS)
    assert re.findall(r"Vault password \(\w+\): ", ours) == ["Vault password (linux): "]


def test_prompted_passwords_are_asked_lazily_and_once(estate: Path) -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return PASSWORDS["win" if "win" in text else "linux"]

    secrets = load_secrets(VaultOptions(vault_ids=("win@prompt", "linux@prompt")), prompt=prompt)
    assert asked == []
    inventory = open_inventory(estate / "inv.yml", vault=secrets)
    inventory.check(["ex01.contoso.com", "ex02.contoso.com"])
    assert asked == ["Vault password (win): "]
    assert isinstance(secrets, VaultSecrets) and [s.asked for s in secrets.secrets] == [True, False]
    with pytest.raises(InventoryError):  # lx01's user is a pipe lookup; its password is asked on the way
        inventory.check(["lx01.contoso.com"])
    assert asked == ["Vault password (win): ", "Vault password (linux): "]



def test_a_whole_file_vault_of_a_group_outside_the_limit_is_neither_decrypted_nor_asked_for(estate: Path) -> None:
    """group_vars/linux.yml encrypted whole (the common vault.yml per environment): a command limited to the
    Windows servers, a plan file's digest included, never asks for its password."""
    from ansible.parsing.vault import VaultLib
    from ansible.parsing.vault import VaultSecret as AnsibleSecret

    from exconf.planfile import inventory_digest

    (estate / "group_vars").mkdir()
    secret_file = VaultLib([("linux", AnsibleSecret(PASSWORDS["linux"].encode()))]).encrypt("db_password: hunter2\n", vault_id="linux")
    (estate / "group_vars" / "linux.yml").write_bytes(secret_file)
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return PASSWORDS["win" if "win" in text else "linux"]

    secrets = load_secrets(VaultOptions(vault_ids=("win@prompt", "linux@prompt")), prompt=prompt)
    inventory = open_inventory(estate / "inv.yml", vault=secrets)
    inventory.check(select_hosts(inventory, "windows"), organization=True)
    digest = inventory_digest(inventory)
    assert asked == ["Vault password (win): "]
    assert estate / "group_vars" / "linux.yml" in inventory.files()  # in the digest all the same: a change to it makes a plan stale
    (estate / "group_vars" / "linux.yml").write_bytes(secret_file + b"\n")
    assert inventory_digest(inventory) != digest
