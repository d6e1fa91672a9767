"""The SSH transport against hostile servers: every answer bounded in size and time, errors that say what and
where, never a traceback. Each server is a few lines of paramiko's server side (or a plain socket) on a
loopback address of its own, its host key in a known_hosts file the client is given."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import paramiko
import pytest

from exconf.remote import Step, encode_stdin
from exconf.transport import HostUnreachable, TransportError
from exconf.transport.ssh import OUTPUT_LIMIT, SSHSettings, SSHTransport

from .conftest import unique_prefix

STDIN = encode_stdin([Step("get", "Get-ExchangeServer", {})])


class Behaviour(paramiko.ServerInterface):
    """Accepts any password and any exec request; ``on_exec(channel)`` does the rest."""

    def __init__(self, on_exec, exec_delay: float = 0.0, answers_probes: bool = True):
        self.on_exec, self.exec_delay, self.answers_probes = on_exec, exec_delay, answers_probes
        self.transports: list[paramiko.Transport] = []  # the connections served, in order

    def get_allowed_auths(self, username):
        return "password"

    def check_auth_password(self, username, password):
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel, command):
        time.sleep(self.exec_delay)
        threading.Thread(target=self.on_exec, args=(channel,), daemon=True).start()
        return True

    def check_global_request(self, kind, msg):
        if not self.answers_probes:
            time.sleep(30)  # holds paramiko's thread: nothing more is answered on this connection
        return False


def serve(behaviour: Behaviour, tmp_path: Path):
    """A one-connection-at-a-time SSH server; (settings for it, stop)."""
    key = paramiko.Ed25519Key(file_obj=__import__("io").StringIO(_new_key()))
    listener = socket.socket()
    listener.bind((f"{unique_prefix()}.1", 0))
    listener.listen(5)
    host, port = listener.getsockname()
    known = tmp_path / "known_hosts"
    known.write_text(f"[{host}]:{port} {key.get_name()} {key.get_base64()}\n")
    held: list = []

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            t = paramiko.Transport(conn)
            t.add_server_key(key)
            behaviour.transports.append(t)
            t.start_server(server=behaviour)
            held.append((t, t.accept(5)))

    threading.Thread(target=loop, daemon=True).start()
    settings = SSHSettings(host=host, port=port, user="Administrator", password="x", user_known_hosts=(str(known),),
                           global_known_hosts=(), timeout=1)

    def stop() -> None:
        listener.close()
        for t, _ in held:
            t.close()

    return settings, stop


def _new_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


def _fail(settings: SSHSettings) -> TransportError:
    transport = SSHTransport(settings)
    try:
        with pytest.raises(TransportError) as exc:
            transport.run(STDIN)
    finally:
        transport.close()  # never raises either
    return exc.value


def _drain(channel) -> None:
    while channel.recv(65536):
        pass


def test_a_server_that_writes_without_end_is_cut_at_the_output_limit(tmp_path):
    sent = [0]

    def flood(channel) -> None:
        _drain(channel)
        try:
            while sent[0] < 4 * OUTPUT_LIMIT:
                channel.sendall(b"x" * 65536)
                sent[0] += 65536
        except (OSError, EOFError, paramiko.SSHException):
            pass

    settings, stop = serve(Behaviour(flood), tmp_path)
    try:
        error = _fail(settings)
    finally:
        stop()
    assert type(error) is TransportError and error.result_unknown
    assert str(error) == (f"{settings.endpoint}: the command wrote more than 8 MiB, more than an answer of exconf's program "
                          "may have; exconf stopped reading it, and its result is unknown")
    assert sent[0] < 2 * OUTPUT_LIMIT  # the client stopped reading long before the server stopped writing


def test_a_server_gone_silent_is_found_by_a_keep_alive_probe_it_does_not_answer(tmp_path):
    def hang(channel) -> None:
        _drain(channel)
        time.sleep(30)

    settings, stop = serve(Behaviour(hang, answers_probes=False), tmp_path)
    try:
        error = _fail(settings)
    finally:
        stop()
    assert isinstance(error, HostUnreachable) and error.result_unknown
    assert str(error) == f"{settings.endpoint}: no answer within 1 s (a keep-alive probe); the command's result is unknown"


def test_a_slow_command_on_a_live_server_is_waited_for(tmp_path):
    def slow(channel) -> None:
        _drain(channel)
        time.sleep(2.5)  # beyond the 1 s timeout: the probes keep finding the server there
        channel.sendall(b'{"exconf":3,"computer":"EDGE01","edge":true,"results":[]}')
        channel.send_exit_status(0)
        channel.close()

    settings, stop = serve(Behaviour(slow), tmp_path)
    transport = SSHTransport(settings)
    try:
        out = transport.run(STDIN)
    finally:
        transport.close()
        stop()
    assert out.exit_code == 0 and b'"computer":"EDGE01"' in out.stdout


def test_an_exec_request_never_answered_is_given_up_at_the_timeout_and_its_result_is_unknown(tmp_path):
    settings, stop = serve(Behaviour(_drain, exec_delay=10), tmp_path)
    try:
        error = _fail(settings)
    finally:
        stop()
    assert isinstance(error, HostUnreachable) and error.result_unknown
    assert str(error) == f"{settings.endpoint}: no answer within 1 s (the exec request); the command's result is unknown"


def test_a_server_that_does_not_speak_ssh_is_named_as_such(tmp_path):
    listener = socket.socket()
    listener.bind((f"{unique_prefix()}.1", 0))
    listener.listen(1)
    host, port = listener.getsockname()

    def answer() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        time.sleep(1)
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        error = _fail(SSHSettings(host=host, port=port, user="u", password="x", user_known_hosts=(), global_known_hosts=(), timeout=2))
    finally:
        listener.close()
    assert isinstance(error, HostUnreachable) and not error.result_unknown
    assert str(error).startswith(f"ssh://{host}:{port}: ")
    assert "SSH" in str(error) and "Traceback" not in str(error)


def test_a_port_nobody_listens_on_is_connection_refused():
    host = f"{unique_prefix()}.9"
    error = _fail(SSHSettings(host=host, port=2222, user="u", password="x", timeout=2))
    assert isinstance(error, HostUnreachable)
    assert str(error) == f"ssh://{host}:2222: cannot connect: Connection refused"


def _answer(channel) -> None:
    _drain(channel)
    channel.sendall(b'{"exconf":3,"computer":"EDGE01","edge":true,"results":[]}')
    channel.send_exit_status(0)
    channel.close()


class ClosesAfterOneCommand(Behaviour):
    """Answers a command, then closes the connection (a restarted server, a firewall that dropped it)."""

    def __init__(self):
        super().__init__(self.answer_then_close)

    def answer_then_close(self, channel) -> None:
        _answer(channel)
        time.sleep(0.2)
        channel.get_transport().close()


def test_a_connection_the_server_closed_between_commands_is_opened_again_and_the_notes_say_so(tmp_path):
    behaviour = ClosesAfterOneCommand()
    settings, stop = serve(behaviour, tmp_path)
    transport = SSHTransport(settings)
    try:
        first = transport.run(STDIN)
        for _ in range(100):  # the client learns of the close when the server's disconnect arrives
            if transport._transport is None or not transport._transport.is_active():  # noqa: SLF001
                break
            time.sleep(0.05)
        second = transport.run(STDIN)
    finally:
        transport.close()
        stop()
    assert first.notes == () and first.exit_code == 0
    assert second.notes == ("reconnected: the SSH connection had closed",)
    assert second.exit_code == 0 and b'"computer":"EDGE01"' in second.stdout
    assert len(behaviour.transports) == 2


class RefusesTheSecondChannel(Behaviour):
    """The first connection's second channel request meets a server that has gone: the connection ends."""

    def __init__(self):
        super().__init__(_answer)
        self.requests = 0

    def check_channel_request(self, kind, chanid):
        self.requests += 1
        if self.requests == 2:
            transport = self.transports[-1]
            threading.Thread(target=transport.close, daemon=True).start()
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        return paramiko.OPEN_SUCCEEDED


def test_opening_a_channel_is_retried_once_on_a_new_connection(tmp_path):
    behaviour = RefusesTheSecondChannel()
    settings, stop = serve(behaviour, tmp_path)
    transport = SSHTransport(settings)
    try:
        first = transport.run(STDIN)
        second = transport.run(STDIN)  # the kept connection fails to open a channel: once more on a new one
    finally:
        transport.close()
        stop()
    assert first.notes == ()
    assert len(second.notes) == 1 and second.notes[0].startswith("reconnected: ")
    assert "opening a channel" in second.notes[0]
    assert second.exit_code == 0 and b'"computer":"EDGE01"' in second.stdout
    assert behaviour.requests == 3 and len(behaviour.transports) == 2  # one more connection, one more channel
