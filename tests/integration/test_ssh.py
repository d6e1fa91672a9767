"""Edges over SSH against the lab (stock paramiko at both ends): host keys verified before anything is sent,
accepted only explicitly (exconf ssh-keyscan, or StrictHostKeyChecking=accept-new), logons by password and by
key (an encrypted key's passphrase from the environment or a prompt, once per file), both default shells,
one connection per host per run, faults as over WinRM, and the refusals made when the inventory loads."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exconf import sshvars
from exconf.cli import main
from exconf.connection import ssh_settings_for
from exconf.inventory import load
from exconf.remote import Step, encode_stdin
from exconf.sshkeys import PrivateKeys
from exconf.transport.ssh import SSHTransport

from .conftest import EDGE_PASSWORD, PASSWORD, SSH_PORT
from .test_lab_cli import exconf, shipped_lab  # noqa: F401 - the shipped inventories on addresses of their own

EDGE = {"name": "EDGE01", "role": "Edge", "site": "Amsterdam"}
MAILBOX = {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}
RECEIVE = "Default internal receive connector EDGE01"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A home of its own (no ~/.ssh/known_hosts of the machine) and keys read afresh."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(sshvars, "KEYS", PrivateKeys(ask=_no_prompt))
    return home


def _no_prompt(prompt: str) -> str:
    raise AssertionError(f"unexpected prompt: {prompt}")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def edge_host(name: str = "edge01.contoso.lab", server: str = "EDGE01", *, known_hosts: str | None = "{KH}",
              credentials: str = f"ansible_password: {EDGE_PASSWORD}", shell: str = "powershell", extra: str = "") -> str:
    lines = [f'{name}:', f'  ansible_host: "{{{server}}}"', "  ansible_connection: ssh", f"  ansible_shell_type: {shell}",
             f"  ansible_port: {SSH_PORT}", f"  ansible_user: {server}\\Administrator"]
    lines += [f"  {line.strip()}" for line in credentials.splitlines()]
    if known_hosts:
        lines.append(f"  ansible_ssh_common_args: -o UserKnownHostsFile={known_hosts}")
    lines += [f"  {line}" for line in extra.splitlines() if line]
    lines += ["  exchange:", "    receive_connectors:",
              '      "Default internal receive connector {server}": {protocol_logging_level: Verbose}']
    return "\n".join("    " + line for line in lines)


def inventory(lab, *hosts: str, known_hosts: Path | None = None) -> Path:
    text = "all:\n  hosts:\n" + "\n".join(hosts) + "\n"
    return lab.inventory(text.replace("{KH}", str(known_hosts or lab.known_hosts)))


def level(lab, server: str = "EDGE01") -> str:
    (rc,) = lab.exec(server, "Get-ReceiveConnector", Identity=f"{server}\\Default internal receive connector {server}")
    return rc["ProtocolLoggingLevel"]


def ssh_stats(lab, server: str = "EDGE01") -> dict[str, int]:
    return lab.stats()[server]["endpoints"]["ssh"]


def fingerprint(lab, server: str = "EDGE01") -> str:
    return lab.server.ssh.host_key(server).fingerprint


# --- host keys -----------------------------------------------------------------------------------------


def test_an_unknown_host_key_is_refused_with_its_fingerprint_and_nothing_is_sent(make_lab, capsys, isolated):
    lab = make_lab([EDGE])
    inv = inventory(lab, edge_host(known_hosts=None))  # the user's ~/.ssh/known_hosts only: empty
    code, out, err = run(capsys, "plan", str(inv), "--json")
    assert code == 1, err
    host = json.loads(out)["hosts"]["edge01.contoso.lab"]
    assert host["status"] == "unreachable"
    address = lab.addresses["EDGE01"]
    assert host["error"].startswith(f"ssh://{address}:{SSH_PORT}: the server's host key is not known: "
                                    f"ED25519 key {fingerprint(lab)} ([{address}]:{SSH_PORT} is in none of "
                                    f"{isolated}/.ssh/known_hosts, {isolated}/.ssh/known_hosts2")
    assert "nothing was sent to it" in host["error"] and "exconf ssh-keyscan INVENTORY --limit HOST" in host["error"]
    # The key exchange only: no service request, no logon attempt, no channel.
    assert ssh_stats(lab) | {"bytes_in": 0, "bytes_out": 0} == {
        "requests": 3, "connections": 1, "channels": 0, "commands": 0, "bytes_in": 0, "bytes_out": 0, "auth_failures": 0}
    assert EDGE_PASSWORD not in out + err
    assert level(lab) == "None"


def test_ssh_keyscan_records_the_key_then_the_host_is_reached_and_a_second_scan_finds_it_known(make_lab, capsys, isolated):
    lab = make_lab([EDGE])
    inv = inventory(lab, edge_host(known_hosts=None))
    code, out, err = run(capsys, "ssh-keyscan", str(inv))
    assert code == 0, err
    address = lab.addresses["EDGE01"]
    known = isolated / ".ssh" / "known_hosts"
    assert f"edge01.contoso.lab ([{address}]:{SSH_PORT}): ED25519 key {fingerprint(lab)}: added to {known}" in out
    assert stat.S_IMODE(known.stat().st_mode) == 0o600 and stat.S_IMODE(known.parent.stat().st_mode) == 0o700
    key = lab.server.ssh.host_key("EDGE01")
    assert known.read_text() == f"[{address}]:{SSH_PORT} ssh-ed25519 {key.get_base64()}\n"
    assert ssh_stats(lab)["auth_failures"] == 0 and ssh_stats(lab)["commands"] == 0  # a scan logs on to nothing
    assert run(capsys, "apply", str(inv), "--auto-approve")[0] == 0
    assert level(lab) == "Verbose"
    code, out, _ = run(capsys, "ssh-keyscan", str(inv))
    assert code == 0 and f"ED25519 key {fingerprint(lab)}: already known" in out
    assert len(known.read_text().splitlines()) == 1


def test_a_changed_host_key_is_refused_naming_both_keys_and_only_replace_accepts_it(make_lab, capsys, tmp_path):
    lab = make_lab([{**EDGE, "faults": {"ssh_host_key_changed": True}}])
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts.read_text())  # what the client knew: the server's key before it changed
    old = known.read_text().split()[2]
    inv = inventory(lab, edge_host(), known_hosts=known)
    code, out, err = run(capsys, "plan", str(inv), "--json")
    assert code == 1
    error = json.loads(out)["hosts"]["edge01.contoso.lab"]["error"]
    old_fp = paramiko.Ed25519Key(data=__import__("base64").b64decode(old)).fingerprint
    assert old_fp != fingerprint(lab)
    assert (f"the server's host key has CHANGED: it presents ED25519 key {fingerprint(lab)}, and known_hosts holds "
            f"ED25519 key {old_fp} ({known}:1)") in error
    assert "exconf ssh-keyscan INVENTORY --limit HOST --replace" in error
    assert ssh_stats(lab)["requests"] == 3 and ssh_stats(lab)["auth_failures"] == 0  # no password went to it
    code, out, err = run(capsys, "ssh-keyscan", str(inv))
    assert code == 1 and "the host key has CHANGED" in err and "run again with --replace" in err
    assert known.read_text().split()[2] == old  # not written
    code, out, err = run(capsys, "ssh-keyscan", str(inv), "--replace")
    assert code == 0, err
    assert "replaced 1 old line in" in out
    assert run(capsys, "plan", str(inv))[0] == 0


def test_accept_new_records_an_unknown_key_and_says_so_but_never_accepts_a_changed_one(make_lab, capsys, tmp_path):
    lab = make_lab([EDGE])
    known = tmp_path / "ssh" / "known_hosts"
    inv = inventory(lab, edge_host(known_hosts=f"{known} -o StrictHostKeyChecking=accept-new"))
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0, out + err
    address = lab.addresses["EDGE01"]
    # Said with the plan, as a warning naming the host: recording a key is never silent.
    assert (f"edge01.contoso.lab: accepted the new host key of [{address}]:{SSH_PORT}: ED25519 key {fingerprint(lab)}, "
            f"recorded in {known} (StrictHostKeyChecking=accept-new)") in out
    assert known.read_text().split()[:2] == [f"[{address}]:{SSH_PORT}", "ssh-ed25519"]
    # Another key for the host: accept-new accepts new hosts only.
    other = paramiko.Ed25519Key(file_obj=__import__("io").StringIO(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()))
    known.write_text(f"[{address}]:{SSH_PORT} ssh-ed25519 {other.get_base64()}\n")
    code, out, _ = run(capsys, "plan", str(inv), "--json")
    assert code == 1 and "host key has CHANGED" in json.loads(out)["hosts"]["edge01.contoso.lab"]["error"]


def test_a_revoked_key_and_a_hashed_entry_are_read_as_ssh_reads_them(make_lab, capsys, tmp_path):
    lab = make_lab([EDGE])
    key = lab.server.ssh.host_key("EDGE01")
    address = lab.addresses["EDGE01"]
    known = tmp_path / "known_hosts"
    hashed = paramiko.HostKeys.hash_host(f"[{address}]:{SSH_PORT}")
    known.write_text(f"{hashed} ssh-ed25519 {key.get_base64()}\n")
    inv = inventory(lab, edge_host(), known_hosts=known)
    assert run(capsys, "plan", str(inv))[0] == 0
    known.write_text(f"@revoked {hashed} ssh-ed25519 {key.get_base64()}\n" + known.read_text())
    code, out, _ = run(capsys, "plan", str(inv), "--json")
    assert code == 1 and f"is marked @revoked in {known}:1" in json.loads(out)["hosts"]["edge01.contoso.lab"]["error"]


# --- what the inventory may say ----------------------------------------------------------------------------


@pytest.mark.parametrize("extra, variable, words", [
    ("ansible_host_key_checking: false", "ansible_host_key_checking", "exconf always checks it"),
    ("ansible_ssh_extra_args: -o StrictHostKeyChecking=no", "ansible_ssh_extra_args", "StrictHostKeyChecking=no would connect"),
    ("ansible_ssh_extra_args: -o ProxyJump=bastion", "ansible_ssh_extra_args", "-o ProxyJump is an option of the ssh program"),
    ("ansible_ssh_extra_args: -J bastion", "ansible_ssh_extra_args", "'-J' is an argument of the ssh program"),
])
def test_what_exconf_would_not_do_is_refused_when_the_inventory_loads(make_lab, capsys, extra, variable, words):
    lab = make_lab([EDGE])
    inv = inventory(lab, edge_host(extra=extra))
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 1
    assert "inventory.yaml:" in err and f"{variable}: " in err and words in err, err
    assert ssh_stats(lab)["connections"] == 0  # nothing was contacted


def test_the_shell_type_must_name_the_default_shell(make_lab, capsys):
    lab = make_lab([EDGE])
    inv = inventory(lab, edge_host(shell="sh"))
    code, _, err = run(capsys, "plan", str(inv))
    assert code == 1 and "ansible_shell_type: 'sh'; an Edge's Windows OpenSSH runs commands through its DefaultShell" in err


def test_ssh_to_a_mailbox_server_is_refused_for_the_double_hop(make_lab, capsys):
    lab = make_lab([MAILBOX, EDGE])
    text = ('all:\n  hosts:\n    ex01.contoso.lab: {ansible_host: "{EX01}", ansible_connection: ssh, ansible_shell_type: powershell, '
            f'ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}\n')
    code, _, err = run(capsys, "plan", str(lab.inventory(text)))
    assert code == 1
    assert "ansible_connection: ssh to a Mailbox server" in err and "double hop" in err and "CredSSP" in err
    assert "remove ansible_connection" in err


# --- logons -------------------------------------------------------------------------------------------------


def test_a_wrong_password_is_unreachable_for_that_host_named_and_never_printed(make_lab, capsys):
    lab = make_lab([MAILBOX, EDGE])
    mailbox = f'    ex01.contoso.lab: {{ansible_host: "{{EX01}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}'
    inv = inventory(lab, mailbox, edge_host(credentials="ansible_password: Wrong-Passw0rd"))
    code, out, err = run(capsys, "plan", str(inv), "--json")
    assert code == 1
    hosts = json.loads(out)["hosts"]
    assert hosts["ex01.contoso.lab"]["status"] == "ok"
    assert hosts["edge01.contoso.lab"]["status"] == "unreachable"
    assert hosts["edge01.contoso.lab"]["error"] == (f"ssh://{lab.addresses['EDGE01']}:{SSH_PORT}: the server refused the "
                                                     "credentials of 'EDGE01\\\\Administrator' (password: refused)")
    assert "Wrong-Passw0rd" not in out + err
    assert ssh_stats(lab)["auth_failures"] == 1


def _key_pair(tmp_path: Path, passphrase: str | None) -> tuple[Path, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    encryption = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    path = tmp_path / "id_ed25519"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption))
    os.chmod(path, 0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return path, public + " admin@controller"


def test_an_encrypted_key_in_administrators_authorized_keys_logs_on_with_its_passphrase_from_the_environment(make_lab, capsys, tmp_path, monkeypatch):
    path, public = _key_pair(tmp_path, "Key-Passphrase-1")
    lab = make_lab([{**EDGE, "ssh": {"port": SSH_PORT, "default_shell": "powershell", "administrators_authorized_keys": [public]}}])
    credentials = f"ansible_ssh_private_key_file: {path}\n  exconf_ssh_key_passphrase_env: EDGE_KEY_PASSPHRASE"
    inv = inventory(lab, edge_host(credentials=credentials))
    monkeypatch.setenv("EDGE_KEY_PASSPHRASE", "Key-Passphrase-1")
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    assert level(lab) == "Verbose" and ssh_stats(lab)["auth_failures"] == 0
    monkeypatch.setattr(sshvars, "KEYS", PrivateKeys(ask=_no_prompt))
    monkeypatch.setenv("EDGE_KEY_PASSPHRASE", "not-the-passphrase")
    code, out, err = run(capsys, "plan", str(inv), "--json")
    assert code == 1
    assert json.loads(out)["hosts"]["edge01.contoso.lab"]["error"] == (
        f"edge01.contoso.lab: ansible_ssh_private_key_file: the passphrase of the SSH key {path} is wrong")
    assert "not-the-passphrase" not in out + err and "Key-Passphrase-1" not in out + err


def test_a_passphrase_typed_at_the_prompt_is_asked_once_per_key_file(make_lab, capsys, tmp_path, monkeypatch):
    path, public = _key_pair(tmp_path, "Typed-Passphrase-1")
    ssh = {"port": SSH_PORT, "default_shell": "cmd", "administrators_authorized_keys": [public]}
    lab = make_lab([{**EDGE, "ssh": ssh}, {"name": "EDGE02", "role": "Edge", "site": "Amsterdam", "ssh": ssh}])
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "Typed-Passphrase-1"

    monkeypatch.setattr(sshvars, "KEYS", PrivateKeys(ask=ask))
    credentials = f"ansible_ssh_private_key_file: {path}"
    inv = inventory(lab, edge_host(credentials=credentials, shell="cmd"),
                    edge_host("edge02.contoso.lab", "EDGE02", credentials=credentials, shell="cmd"))
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    assert asked == [f"Passphrase for the SSH key {path}: "]
    assert level(lab, "EDGE01") == level(lab, "EDGE02") == "Verbose"


def test_without_a_terminal_an_encrypted_key_says_what_to_set(make_lab, capsys, tmp_path, monkeypatch):
    from exconf.controllerfiles import ask_on_terminal

    path, public = _key_pair(tmp_path, "Typed-Passphrase-1")
    lab = make_lab([{**EDGE, "ssh": {"port": SSH_PORT, "administrators_authorized_keys": [public]}}])
    monkeypatch.setattr(sshvars, "KEYS", PrivateKeys(ask=ask_on_terminal))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    inv = inventory(lab, edge_host(credentials=f"ansible_ssh_private_key_file: {path}", shell="cmd"))
    code, out, _ = run(capsys, "plan", str(inv), "--json")
    assert code == 1
    error = json.loads(out)["hosts"]["edge01.contoso.lab"]["error"]
    assert "is encrypted and its passphrase is typed at a prompt, but there is no terminal" in error
    assert "exconf_ssh_key_passphrase_env" in error


def test_a_key_the_server_does_not_hold_is_refused_then_the_password_is_tried(make_lab, capsys, tmp_path):
    path, _ = _key_pair(tmp_path, None)
    lab = make_lab([EDGE])  # no administrators_authorized_keys
    inv = inventory(lab, edge_host(credentials=f"ansible_ssh_private_key_file: {path}"))
    code, out, _ = run(capsys, "plan", str(inv), "--json")
    assert code == 1
    assert json.loads(out)["hosts"]["edge01.contoso.lab"]["error"].endswith("(publickey: refused)")
    both = f"ansible_ssh_private_key_file: {path}\n  ansible_password: {EDGE_PASSWORD}"
    inv = inventory(lab, edge_host(credentials=both))
    assert run(capsys, "plan", str(inv))[0] == 0


# --- shells, connections, faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["cmd", "powershell"])
def test_the_program_runs_through_either_default_shell(make_lab, capsys, shell):
    lab = make_lab([{**EDGE, "ssh": {"port": SSH_PORT, "default_shell": shell}}])
    inv = inventory(lab, edge_host(shell=shell))
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    assert level(lab) == "Verbose"


def test_one_connection_serves_every_command_and_a_released_one_logs_on_again(make_lab):
    lab = make_lab([EDGE])
    inv = load(inventory(lab, edge_host()))
    transport = SSHTransport(ssh_settings_for(inv.hosts[0], inv.path.parent))
    stdin = encode_stdin([Step("get", "Get-ExchangeServer", {})])
    try:
        first, second = transport.run(stdin), transport.run(stdin)
        assert (ssh_stats(lab)["connections"], ssh_stats(lab)["channels"]) == (1, 2)
        assert first.notes == second.notes == ()
        transport.release()
        assert transport.open_sockets() == 0
        third = transport.run(stdin)
    finally:
        transport.close()
    assert third.notes == ("reconnected: the SSH connection was given back while the run waited",)
    assert b'"computer":"EDGE01"' in third.stdout and third.exit_code == 0
    assert (ssh_stats(lab)["connections"], ssh_stats(lab)["channels"]) == (2, 3)


def test_faults_behave_as_over_winrm_and_the_others_go_on(make_lab, capsys):
    lab = make_lab([
        MAILBOX,
        {**EDGE, "faults": {"unreachable": True}},
        {"name": "EDGE02", "role": "Edge", "site": "Amsterdam", "faults": {"refuse_credentials": True}},
        {"name": "EDGE03", "role": "Edge", "site": "Amsterdam", "faults": {"delay_seconds": 3}},
    ])
    mailbox = f'    ex01.contoso.lab: {{ansible_host: "{{EX01}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}'
    inv = inventory(lab, mailbox, edge_host(), edge_host("edge02.contoso.lab", "EDGE02"),
                    edge_host("edge03.contoso.lab", "EDGE03", extra="ansible_ssh_timeout: 1"))
    code, out, _ = run(capsys, "plan", str(inv), "--json")
    assert code == 1
    hosts = json.loads(out)["hosts"]
    assert hosts["ex01.contoso.lab"]["status"] == "ok"
    assert {h: hosts[h]["status"] for h in hosts if h.startswith("edge")} == {
        "edge01.contoso.lab": "unreachable", "edge02.contoso.lab": "unreachable", "edge03.contoso.lab": "unreachable"}
    assert hosts["edge01.contoso.lab"]["error"].endswith("cannot connect: Connection refused")
    assert "refused the credentials of 'EDGE02\\\\Administrator'" in hosts["edge02.contoso.lab"]["error"]
    assert "no answer within 1 s (password authentication)" in hosts["edge03.contoso.lab"]["error"]


def test_the_shipped_lab_reaches_its_edge_over_ssh_as_its_inventory_comments_say(shipped_lab):  # noqa: F811
    inventories, env = shipped_lab
    inv = inventories / "lab.yaml"
    text = inv.read_text()
    assert "          ansible_port: 5986" in text and "#   ansible_connection: ssh" in text
    inv.write_text(text.replace("          ansible_port: 5986", "").replace("          #   ", "          "))
    done = exconf(env, "apply", str(inv), "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Apply complete: 13 of 13 changes made and verified." in done.stdout
    stats = json.loads(exconf(env, "lab", "stats", "--json").stdout)["labs"][0]["servers"]["EDGE01"]["endpoints"]
    assert stats["ssh"]["commands"] >= 3 and stats["/wsman"]["requests"] == 0  # the Edge went over SSH only
