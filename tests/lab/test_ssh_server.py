"""The lab's Windows OpenSSH Server, met with stock paramiko as any client would: what sshd takes (passwords,
administrators' keys, MaxAuthTries), what the default shells say of a command that is not exconf's program,
no interactive shell or subsystem, and host keys that persist with the lab's state."""

from __future__ import annotations

import io
import stat
import time
import textwrap
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exconf.lab.exchange.spec import OrgFileError
from exconf.lab.exchange.store import LabStore
from exconf.lab.runtime import LabServer
from exconf.remote import command_line, encode_stdin, Step, decode_answer

from . import unique_address

PASSWORD = "Lab-EdgeAdmin-1"
PORT = 2222


def _key() -> paramiko.Ed25519Key:
    text = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    return paramiko.Ed25519Key(file_obj=io.StringIO(text))


def _org(tmp_path: Path, ssh: dict, address: str, **edge) -> Path:
    org = tmp_path / "org.yaml"
    import yaml

    server = {"name": "EDGE01", "role": "Edge", "address": address, "local_accounts": [{"user": "Administrator", "password": PASSWORD}],
              "ssh": {"port": PORT, **ssh}, **edge}
    org.write_text(yaml.safe_dump({"servers": [server]}))
    return org


@pytest.fixture
def lab(tmp_path):
    started = []

    def start(ssh: dict | None = None, **edge) -> tuple[LabServer, str]:
        address = unique_address()
        org = _org(tmp_path, ssh or {}, address, **edge)
        server = LabServer(LabStore(org, tmp_path / ".lab" / "state.json"), tmp_path / ".lab").start()
        started.append(server)
        return server, address

    yield start
    for server in started:
        server.stop()


def _client(address: str, **auth) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # this test checks the server, not the client
    client.connect(address, PORT, look_for_keys=False, allow_agent=False, timeout=10, **auth)
    return client


def _exec(client: paramiko.SSHClient, command: str, stdin: bytes = b"") -> tuple[bytes, bytes, int]:
    i, o, e = client.exec_command(command, timeout=20)
    if stdin:  # a command that reads no input may have answered, and closed the channel, already
        i.write(stdin)
        i.channel.shutdown_write()
    return o.read(), e.read(), o.channel.recv_exit_status()


def _program() -> str:
    command, arguments = command_line()
    return " ".join([command, *arguments])


@pytest.mark.parametrize("shell", ["cmd", "powershell"])
def test_the_program_runs_through_the_default_shell_and_nothing_else_does(lab, shell):
    server, address = lab({"default_shell": shell})
    client = _client(address, username="EDGE01\\Administrator", password=PASSWORD)
    try:
        out, err, code = _exec(client, _program(), encode_stdin([Step("get", "Get-ExchangeServer", {})]))
        assert code == 0 and decode_answer(out, err, code).computer == "EDGE01"
        out, err, code = _exec(client, "whoami")
        if shell == "cmd":
            assert err == b"'whoami' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
        else:
            assert err.startswith(b"whoami : The term 'whoami' is not recognized as the name of a cmdlet")
        assert (out, code) == (b"", 1)
        out, err, code = _exec(client, "powershell.exe -Command Get-Process")
        assert code == 1 and b"runs only exconf's remote program" in err
        with pytest.raises(paramiko.SSHException):
            client.invoke_shell()  # no interactive shell
        with pytest.raises(paramiko.SSHException):
            client.open_sftp()  # no subsystem
    finally:
        client.close()


def test_cmd_refuses_a_command_line_longer_than_its_limit(lab):
    _, address = lab({"default_shell": "cmd"})
    client = _client(address, username="Administrator", password=PASSWORD)
    try:
        out, err, code = _exec(client, "powershell.exe " + "x" * 9000)
    finally:
        client.close()
    assert (out, err, code) == (b"", b"The command line is too long.\r\n", 1)


def test_an_administrators_key_logs_on_as_any_administrator_and_no_other_key_does(lab):
    key, stranger = _key(), _key()
    server, address = lab({"administrators_authorized_keys": [f"{key.get_name()} {key.get_base64()} admin@controller"]})
    client = _client(address, username="Administrator", pkey=key)
    client.close()
    with pytest.raises(paramiko.AuthenticationException):
        _client(address, username="Administrator", pkey=stranger)
    assert server.stats()["servers"]["EDGE01"]["endpoints"]["ssh"]["auth_failures"] == 1


def test_password_authentication_off_leaves_publickey_only(lab):
    _, address = lab({"password_authentication": False})
    with pytest.raises(paramiko.BadAuthenticationType) as exc:
        _client(address, username="Administrator", password=PASSWORD)
    assert exc.value.allowed_types == ["publickey"]


def test_after_max_auth_tries_the_connection_is_closed(lab):
    server, address = lab()
    sock_transport = paramiko.Transport((address, PORT))
    sock_transport.start_client(timeout=10)
    failures = 0
    try:
        for _ in range(10):
            try:
                sock_transport.auth_password("Administrator", "wrong", fallback=False)
            except paramiko.AuthenticationException:
                failures += 1
            if not sock_transport.is_active():
                break
    finally:
        sock_transport.close()
    assert failures == 6  # sshd_config MaxAuthTries
    assert server.stats()["servers"]["EDGE01"]["endpoints"]["ssh"]["auth_failures"] == 6


def test_the_host_key_persists_with_the_lab_state_and_the_changed_key_fault_presents_another(lab, tmp_path):
    server, address = lab()
    first = server.ssh.host_key("EDGE01")
    assert server.known_hosts_path.read_text() == f"[{address}]:{PORT} ssh-ed25519 {first.get_base64()}\n"
    folder = tmp_path / ".lab" / "ssh"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())
    client = _client(address, username="Administrator", password=PASSWORD)
    assert client.get_transport().get_remote_server_key().asbytes() == first.asbytes()
    client.close()
    server.stop()
    again = LabServer(LabStore(tmp_path / "org.yaml", tmp_path / ".lab" / "state.json"), tmp_path / ".lab").start()
    try:
        assert again.ssh.host_key("EDGE01").asbytes() == first.asbytes()
    finally:
        again.stop()
    changed, _ = lab(faults={"ssh_host_key_changed": True})
    assert changed.ssh.host_key("EDGE01").asbytes() != first.asbytes()
    # The published known_hosts holds the key clients knew, not the one the fault presents.
    assert first.get_base64() in changed.known_hosts_path.read_text()


def test_the_organisation_file_installs_sshd_on_edges_only_and_reads_every_key(tmp_path):
    org = tmp_path / "org.yaml"
    org.write_text(textwrap.dedent("""\
        servers:
          - {name: EX01, role: Mailbox, ssh: {port: 2222}}
    """))
    with pytest.raises(OrgFileError) as exc:
        LabStore(org, tmp_path / "state.json")
    assert "org.yaml:2:33: servers[0].ssh" in str(exc.value) and "double hop" in str(exc.value)
    org.write_text(textwrap.dedent("""\
        servers:
          - name: EDGE01
            role: Edge
            ssh: {port: 2222, administrators_authorized_keys: ["ssh-ed25519 not-base64!"]}
    """))
    with pytest.raises(OrgFileError) as exc:
        LabStore(org, tmp_path / "state.json")
    assert "servers[0].ssh.administrators_authorized_keys[0]" in str(exc.value) and "not a public key sshd can read" in str(exc.value)


def test_at_most_max_sessions_channels_are_open_at_once_and_a_closed_one_makes_room(lab):
    _, address = lab()
    client = _client(address, username="Administrator", password=PASSWORD)
    try:
        transport = client.get_transport()
        channels = [transport.open_session(timeout=10) for _ in range(10)]  # sshd_config MaxSessions 10
        with pytest.raises(paramiko.ChannelException) as exc:
            transport.open_session(timeout=10)
        assert exc.value.code == paramiko.OPEN_FAILED_RESOURCE_SHORTAGE
        channels.pop().close()
        for _ in range(50):  # the server sees the close when its CHANNEL_CLOSE arrives
            try:
                channels.append(transport.open_session(timeout=10))
                break
            except paramiko.ChannelException:
                time.sleep(0.05)
        assert len(channels) == 10
    finally:
        client.close()


def test_no_pseudo_terminal_and_no_forwarding(lab):
    _, address = lab()
    client = _client(address, username="Administrator", password=PASSWORD)
    try:
        transport = client.get_transport()
        with pytest.raises(paramiko.SSHException):
            transport.open_session(timeout=10).get_pty()
        with pytest.raises(paramiko.ChannelException) as exc:
            transport.open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 5555), timeout=10)
        assert exc.value.code == paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        with pytest.raises(paramiko.SSHException, match="TCP forwarding request denied"):
            transport.request_port_forward("127.0.0.1", 0)  # a global request sshd answers with a failure
    finally:
        client.close()


def test_a_connection_that_does_not_log_on_within_the_login_grace_time_is_closed(lab, monkeypatch):
    from exconf.lab.ssh import service

    monkeypatch.setattr(service, "LOGIN_GRACE_TIME", 0.5)  # sshd_config LoginGraceTime 120, shortened for the test
    _, address = lab()
    transport = paramiko.Transport((address, PORT))
    try:
        transport.start_client(timeout=10)  # the key exchange, then nothing
        for _ in range(200):
            if not transport.is_active():
                break
            time.sleep(0.05)
        assert not transport.is_active()
    finally:
        transport.close()
    # A connection that logged on stays, however long it waits.
    client = _client(address, username="Administrator", password=PASSWORD)
    try:
        time.sleep(1.5)
        assert client.get_transport().is_active()
    finally:
        client.close()


class _Exits:
    """A process that exits with a given code: what the shells make of it, apart from the program."""

    def __init__(self, code: int):
        self.code = code

    def run_command(self, server, command, arguments, stdin, codepage, caller=""):
        from exconf.lab.exchange.store import CommandResult

        return CommandResult(b"out", b"", self.code)


@pytest.mark.parametrize(("shell_name", "code", "seen"), [("cmd", 3, 3), ("powershell", 3, 1), ("powershell", 0, 0),
                                                          ("cmd", 0, 0)])
def test_powershell_turns_a_programs_non_zero_exit_code_into_1_and_cmd_keeps_it(shell_name, code, seen):
    from exconf.lab.ssh import shell

    server = type("Server", (), {"codepage": 437})()
    result = shell.run(shell_name, _Exits(code), server, _program(), lambda: b"", "EDGE01\\Administrator")
    assert result == shell.Result(b"out", b"", seen)


def test_lab_serve_says_where_the_ssh_host_keys_are(tmp_path, monkeypatch, capsys):
    from exconf.lab import runtime

    monkeypatch.setenv(runtime.RUNTIME_ENV, str(tmp_path / "run"))
    org = _org(tmp_path, {}, unique_address())
    assert runtime.serve(org, tmp_path / ".lab" / "state.json", idle_timeout=0.3) == 0
    out = capsys.readouterr().out
    known = tmp_path / ".lab" / "ssh_known_hosts"
    assert f"SSH host keys (known_hosts): {known}" in out
    assert known.read_text().startswith("[127.77.")
