"""SSH with paramiko: one connection per host per run, exconf's program on an exec channel's standard input.

The door Ansible's ``ssh`` connection gives Windows hosts (ansible_connection: ssh with
ansible_shell_type powershell or cmd): Windows OpenSSH Server runs an exec request's command through
its default shell, and exconf's command line (exconf.remote.command_line) is written the same way in
both (no quotes, no metacharacter), with the program and the payload on standard input as over WinRM.

* **Host keys first.** After the key exchange and before any credential is sent, the server's host key
  is checked against known_hosts (hostkeys.py): an unknown or changed key ends the connection with its
  fingerprint and what to do (``HostKeyRefused``); ``accept_new`` (StrictHostKeyChecking=accept-new)
  records an unknown one and says so.
* **Bounded.** Connecting, the handshake, each authentication, opening a channel and the exec request
  must each be answered within ``timeout`` (ansible_ssh_timeout, Ansible's ConnectTimeout); while a command
  runs, a silence of ``timeout`` seconds is met with a keep-alive probe (``keepalive@openssh.com`` with a
  reply wanted, as OpenSSH's ServerAliveInterval does; RFC 4254 §4: a server answers a request it does
  not know with a failure) that must be answered within ``timeout`` too; a command may run
  ``COMMAND_DEADLINE`` seconds and write ``OUTPUT_LIMIT`` bytes. A deadline that passes shuts the socket
  down (watchdog.py), which wakes whatever paramiko was waiting for.
* **One connection.** The first command connects and logs on; later ones open a new channel on the same
  connection (paramiko's exec channels): a plan costs one connection and one channel, an apply one
  connection and two. ``release()`` closes the connection while a run waits; the next command logs on
  again (said in the notes). Opening a channel changes nothing on the server, so it is retried once on a
  new connection; from the exec request on, a failure is "result unknown".
* **Errors** leave as HostUnreachable, AuthenticationFailed or TransportError naming the endpoint
  (``ssh://host:port``); no password, passphrase or key is ever in one. paramiko's own log goes nowhere.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from dataclasses import dataclass, field

import paramiko

from exconf.remote import command_line

from . import AuthenticationFailed, HostUnreachable, Output, TransportError
from . import hostkeys
from .watchdog import Watchdog

logging.getLogger("paramiko").addHandler(logging.NullHandler())  # its errors are ours to word, never printed raw

COMMAND_DEADLINE = 600  # seconds one command may run (as over WinRM)
OUTPUT_LIMIT = 8 * 1024 * 1024  # what one command may write, stdout and stderr together (as over WinRM)
_CHUNK = 32 * 1024
_POLL = 0.05  # seconds between looks at a channel while a command runs


@dataclass(frozen=True)
class SSHSettings:
    """How to reach one host over SSH (Ansible's ssh connection variables); secrets are never printed."""

    host: str
    port: int
    user: str
    password: str | None = field(default=None, repr=False)
    key: paramiko.PKey | None = field(default=None, repr=False)  # the private key (read by sshkeys.py)
    key_file: str | None = None
    shell_type: str = "powershell"  # powershell | cmd: the server's DefaultShell
    user_known_hosts: tuple[str, ...] = hostkeys.DEFAULT_USER_FILES  # expanded paths
    global_known_hosts: tuple[str, ...] = hostkeys.DEFAULT_GLOBAL_FILES
    accept_new: bool = False  # StrictHostKeyChecking=accept-new
    timeout: int = 10

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return hostkeys.host_name(self.host, self.port)

    @property
    def known_hosts_files(self) -> tuple[str, ...]:
        return self.user_known_hosts + self.global_known_hosts


class HostKeyRefused(HostUnreachable):
    """The server's host key is unknown, changed or revoked: nothing was sent to it."""


class SSHTransport:
    """One host's SSH connection, reused for every command of a run."""

    def __init__(self, settings: SSHSettings, *, watchdog: Watchdog | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._settings = settings
        self._clock = clock
        self._own_watchdog = watchdog is None
        self._watchdog = watchdog or Watchdog(clock)
        self._sock: socket.socket | None = None
        self._transport: paramiko.Transport | None = None
        self._connections = 0
        self._accepted: list[str] = []

    # -- the Transport API --------------------------------------------------------------------

    def run(self, stdin: bytes) -> Output:
        notes: list[str] = []
        try:
            return self._run(stdin, notes)
        except TransportError:
            raise
        except Exception as exc:  # noqa: BLE001 - no library exception may escape to the runner
            self._drop()
            raise TransportError(f"{self._where()}: unexpected error in the SSH client: {type(exc).__name__}: {_short(exc)}") from None

    def release(self) -> None:
        self._drop()
        if self._own_watchdog:
            self._watchdog.close()

    def close(self) -> None:
        self._drop()
        if self._own_watchdog:
            self._watchdog.close()

    def open_sockets(self) -> int:
        return 1 if self._sock is not None else 0

    def accepted_keys(self) -> tuple[str, ...]:
        """Host keys recorded under accept-new by this transport, as notes say them."""
        return tuple(self._accepted)

    # -- one command -------------------------------------------------------------------------------

    def _run(self, stdin: bytes, notes: list[str]) -> Output:
        channel = self._open_channel(notes)
        # From the exec request on the command may run: nothing is sent twice, a failure is "result unknown".
        try:
            command, arguments = command_line()
            self._bounded(lambda: channel.exec_command(" ".join([command, *arguments])), "the exec request", unknown=True)
            self._send(channel, stdin)
            return self._collect(channel, notes)
        finally:
            try:
                channel.close()
            except Exception:  # noqa: BLE001 - the connection may be gone
                pass

    def _open_channel(self, notes: list[str]) -> paramiko.Channel:
        """A session channel, on the connection this host has or a new one; once more on a new one if the kept
        connection turns out to be gone (opening a channel changes nothing)."""
        for attempt in (1, 2):
            reused = self._transport is not None and self._transport.is_active()
            if not reused:
                if self._transport is not None:
                    notes.append("reconnected: the SSH connection had closed")
                    self._drop()
                elif self._connections and attempt == 1:  # on the retry, the note says why already
                    notes.append("reconnected: the SSH connection was given back while the run waited")
                self._connect(notes)
            transport = self._transport
            assert transport is not None
            try:
                return self._bounded(partial(transport.open_session, timeout=self._settings.timeout), "opening a channel")
            except HostUnreachable as exc:
                if not reused or attempt == 2:
                    raise
                notes.append(f"reconnected: {_after_colon(str(exc))}")
                self._drop()
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, channel: paramiko.Channel, stdin: bytes) -> None:
        def send() -> None:
            channel.sendall(stdin)
            channel.shutdown_write()  # EOF: the bootstrap's $input ends

        self._bounded(send, "sending the program", unknown=True, seconds=COMMAND_DEADLINE)

    def _collect(self, channel: paramiko.Channel, notes: list[str]) -> Output:
        s = self._settings
        out: list[bytes] = []
        err: list[bytes] = []
        size = 0
        deadline = self._clock() + COMMAND_DEADLINE
        heard = self._clock()
        out_done = False
        channel.settimeout(_POLL)
        while True:
            got = False
            if not out_done:
                try:
                    data = channel.recv(_CHUNK)
                except socket.timeout:
                    data = None
                if data == b"":
                    out_done = True  # EOF on the channel: stderr ends with it
                elif data:
                    out.append(data)
                    size += len(data)
                    got = True
            while channel.recv_stderr_ready():
                data = channel.recv_stderr(_CHUNK)
                if not data:
                    break
                err.append(data)
                size += len(data)
                got = True
            if size > OUTPUT_LIMIT:
                self._drop()
                raise TransportError(
                    f"{self._where()}: the command wrote more than {OUTPUT_LIMIT // (1024 * 1024)} MiB, more than an answer "
                    "of exconf's program may have; exconf stopped reading it, and its result is unknown", result_unknown=True)
            if out_done and not channel.recv_stderr_ready():
                break
            now = self._clock()
            if got:
                heard = now
            elif not (self._transport and self._transport.is_active()) and not channel.recv_ready():
                self._drop()
                raise HostUnreachable(f"{self._where()}: the connection closed while the command ran; its result is unknown",
                                      result_unknown=True)
            elif now - heard >= s.timeout:
                self._probe()
                heard = self._clock()
            if now > deadline:
                self._drop()
                raise HostUnreachable(f"{self._where()}: the command did not finish within {COMMAND_DEADLINE} s; its result "
                                      "is unknown", result_unknown=True)
        code = self._bounded(channel.recv_exit_status, "the exit status", unknown=True)
        return Output(b"".join(out), b"".join(err), code, tuple(notes))

    def _probe(self) -> None:
        """Is the server still there? A keep-alive request it must answer (with a failure: it knows none)."""
        transport = self._transport
        assert transport is not None
        self._bounded(lambda: transport.global_request("keepalive@openssh.com", wait=True), "a keep-alive probe", unknown=True)
        if not transport.is_active():
            self._drop()
            raise HostUnreachable(f"{self._where()}: no answer within {self._settings.timeout} s; the command's result is "
                                  "unknown", result_unknown=True)

    # -- the connection ------------------------------------------------------------------------------

    def _connect(self, notes: list[str]) -> None:
        s = self._settings
        self._connections += 1
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.timeout)
        except socket.timeout:
            raise HostUnreachable(f"{self._where()}: cannot connect: timed out after {s.timeout} s") from None
        except OSError as exc:
            raise HostUnreachable(f"{self._where()}: cannot connect: {exc.strerror or exc}") from None
        self._sock = sock
        try:
            # Each exchange is a few small packets a side waits for: without TCP_NODELAY, Nagle's algorithm holds
            # a packet back until the previous one is acknowledged, which delayed ACKs put off by up to 40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = paramiko.Transport(sock)
            self._transport = transport
            # paramiko's own limits are set beyond exconf's, so that a slow server meets the watchdog (and is said
            # to be slow), not paramiko's "Authentication timeout", which reads as a refusal.
            transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = _beyond(s.timeout)
            self._prefer_known_key_types(transport)
            self._bounded(lambda: transport.start_client(timeout=_beyond(s.timeout)), "the SSH handshake")
            self._check_host_key(transport.get_remote_server_key(), notes)
            self._log_on(transport)
        except BaseException:
            self._drop()
            raise

    def _prefer_known_key_types(self, transport: paramiko.Transport) -> None:
        """Ask first for a host key of a type known_hosts holds for this host, as ssh and paramiko's SSHClient do,
        so that a server with several host keys is checked against the one the user trusted."""
        try:
            known = hostkeys.read_known(self._settings.known_hosts_files, self._settings.known_hosts_name)
        except hostkeys.KnownHostsError as exc:
            raise TransportError(f"{self._where()}: {exc}") from None
        types = [k.key_type for k in known if not k.revoked]
        if types:
            options = transport.get_security_options()
            preferred = [t for t in options.key_types if t in types]
            options.key_types = preferred + [t for t in options.key_types if t not in preferred]

    def _check_host_key(self, key: paramiko.PKey, notes: list[str]) -> None:
        s = self._settings
        name = s.known_hosts_name
        try:
            known = hostkeys.read_known(s.known_hosts_files, name)
        except hostkeys.KnownHostsError as exc:
            raise TransportError(f"{self._where()}: {exc}") from None
        found = hostkeys.verdict(known, key)
        offered = hostkeys.describe(key)
        if found.status == "known":
            return
        where = ", ".join(f"{k.file}:{k.line}" for k in found.others)
        if found.status == "revoked":
            raise HostKeyRefused(f"{self._where()}: the server's host key ({offered}) is marked @revoked in {where}; "
                                 "nothing was sent to it")
        if found.status == "changed":
            held = "; ".join(f"{hostkeys.key_kind(k.key_type)} key {k.fingerprint} ({k.file}:{k.line})" for k in found.others)
            raise HostKeyRefused(
                f"{self._where()}: the server's host key has CHANGED: it presents {offered}, and known_hosts holds {held} "
                f"for {name}. Someone may be intercepting the connection, or the server was reinstalled; nothing was "
                f"sent to it. Check the key on the server (ssh-keygen -lf C:\\ProgramData\\ssh\\ssh_host_ed25519_key.pub); "
                f"if the change is expected, replace the old key: exconf ssh-keyscan INVENTORY --limit HOST --replace")
        if not s.accept_new:
            files = ", ".join(s.user_known_hosts + s.global_known_hosts)
            raise HostKeyRefused(
                f"{self._where()}: the server's host key is not known: {offered} ({name} is in none of {files}); "
                "nothing was sent to it. Check the fingerprint on the server (ssh-keygen -lf "
                "C:\\ProgramData\\ssh\\ssh_host_ed25519_key.pub) and accept it with: exconf ssh-keyscan INVENTORY --limit "
                "HOST (or StrictHostKeyChecking=accept-new in ansible_ssh_common_args)")
        target = s.user_known_hosts[0] if s.user_known_hosts else None
        if target is None:
            raise HostKeyRefused(f"{self._where()}: the server's host key is not known: {offered}, and accept-new has no "
                                 "user known_hosts file to record it in (UserKnownHostsFile none)")
        try:
            hostkeys.record(target, name, key)
        except hostkeys.KnownHostsError as exc:
            raise TransportError(f"{self._where()}: {exc}") from None
        note = f"accepted the new host key of {name}: {offered}, recorded in {target} (StrictHostKeyChecking=accept-new)"
        notes.append(note)
        self._accepted.append(note)

    def _log_on(self, transport: paramiko.Transport) -> None:
        """The key first, then the password (as ssh tries publickey before password)."""
        s = self._settings
        attempts: list[tuple[str, Callable[[], object]]] = []
        if s.key is not None:
            key = s.key
            attempts.append(("publickey", lambda: transport.auth_publickey(s.user, key)))
        if s.password is not None:
            password = s.password
            attempts.append(("password", lambda: transport.auth_password(s.user, password, fallback=False)))
        outcomes: list[str] = []
        for method, fn in attempts:
            try:
                self._bounded(fn, f"{method} authentication")
            except _Refused as refused:
                outcomes.append(f"{method}: {refused.reason}")
                continue
            if transport.is_authenticated():
                return
            outcomes.append(f"{method}: refused")
        raise AuthenticationFailed(f"{self._where()}: the server refused the credentials of {s.user!r} "
                                   f"({'; '.join(outcomes) or 'none given'})")

    # -- bounded waits and errors -----------------------------------------------------------------------

    def _bounded(self, fn: Callable[[], object], what: str, *, unknown: bool = False, seconds: float | None = None) -> Any:
        """fn(), within ``seconds`` (default: the timeout); its failure sorted into exconf's kinds."""
        limit = self._settings.timeout if seconds is None else seconds
        sock = self._sock

        def expire() -> None:
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        deadline = self._watchdog.arm(limit, expire)
        try:
            result = fn()
            if deadline.expired:  # paramiko may return quietly from a wait its connection's end cut short
                raise EOFError("cut at the deadline")
            return result
        except Exception as exc:  # noqa: BLE001 - sorted below
            suffix = "; the command's result is unknown" if unknown else ""
            if deadline.expired:  # first: a connection cut at the deadline reads to paramiko as a refused logon
                self._drop()
                raise HostUnreachable(f"{self._where()}: no answer within {limit:g} s ({what}){suffix}",
                                      result_unknown=unknown) from None
            if isinstance(exc, paramiko.BadAuthenticationType):
                raise _Refused(f"not taken by the server (it takes: {', '.join(exc.allowed_types) or 'nothing'})") from None
            if isinstance(exc, paramiko.AuthenticationException):
                if self._transport is None or not self._transport.is_active():
                    self._drop()
                    raise HostUnreachable(f"{self._where()}: the server closed the connection ({what})") from None
                raise _Refused("refused") from None
            if isinstance(exc, TransportError):
                raise
            self._drop()
            if isinstance(exc, (EOFError, OSError, paramiko.SSHException)):
                reason = _reason(exc)
                raise HostUnreachable(f"{self._where()}: {reason} ({what}){suffix}", result_unknown=unknown) from None
            raise TransportError(f"{self._where()}: unexpected {type(exc).__name__} during {what}: {_short(exc)}{suffix}",
                                 result_unknown=unknown) from None
        finally:
            deadline.cancel()

    def _drop(self) -> None:
        transport, sock = self._transport, self._sock
        self._transport = self._sock = None
        if transport is not None:
            try:
                transport.close()
            except Exception:  # noqa: BLE001 - closing cannot fail the run
                pass
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _where(self) -> str:
        return self._settings.endpoint


class _Refused(Exception):
    """Internal: the server said no to one authentication method."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def scan(settings: SSHSettings, watchdog: Watchdog | None = None) -> paramiko.PKey:
    """The host key a server presents (the key exchange only: nothing is sent after it), for ssh-keyscan."""
    transport = SSHTransport(settings, watchdog=watchdog)
    s = settings
    try:
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.timeout)
        except socket.timeout:
            raise HostUnreachable(f"{settings.endpoint}: cannot connect: timed out after {s.timeout} s") from None
        except OSError as exc:
            raise HostUnreachable(f"{settings.endpoint}: cannot connect: {exc.strerror or exc}") from None
        transport._sock = sock  # noqa: SLF001 - the same bounded handshake as a run's
        t = paramiko.Transport(sock)
        transport._transport = t  # noqa: SLF001
        t.banner_timeout = t.handshake_timeout = _beyond(s.timeout)
        transport._prefer_known_key_types(t)  # noqa: SLF001
        transport._bounded(lambda: t.start_client(timeout=_beyond(s.timeout)), "the SSH handshake")  # noqa: SLF001
        return t.get_remote_server_key()
    finally:
        transport.close()


def _beyond(seconds: float) -> float:
    """A paramiko limit that exconf's own deadline (``seconds``, watchdog.py) always meets first."""
    return seconds * 2 + 5


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, EOFError) or not text:
        return "the server closed the connection"
    if "Error reading SSH protocol banner" in text:
        return "the server did not speak SSH (no SSH protocol banner)"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    return _short(text)


def _after_colon(text: str) -> str:
    return text.split(": ", 1)[1] if ": " in text else text


def _short(value: object, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
