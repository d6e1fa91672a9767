"""WinRM with pywinrm: one WinRS shell per host per run, one long-lived program in it.

The program is started once per shell and kept running: the first round trip is a
Command (the contract's constant command line), a Send carrying the program and the
first payload, and Receives until the answer's end (exconf.remote.ANSWER_END) has
arrived; every later round trip on that shell is one Send carrying only its payload
(a line on the same process's standard input, which the bootstrap reads as it arrives)
and Receives, while the command stays Running. At the end, Delete ends the shell and
the program in it: no Signal, and no Send to close standard input (the transport cannot
know which round trip is the last, and a shell needs its Delete anyway).

Request budget per run (what ``lab stats`` counts): NTLM costs 2 HTTP requests and
Kerberos 1 (the first token rides on the first request: firsttoken.py; stock
requests_ntlm first sends the request without credentials), the shell one Create and
one Delete, the first round trip Command + Send + Receive and each later one Send +
Receive. So a plan (one round trip) is 7 requests per host over NTLM, an apply with one
wave 9 and with two waves 11, whatever the number of resources; the program's bytes
cross the wire once per shell.

A connection lives as long as the server keeps it: HTTP.sys closes one idle
for 120 s, and an NTLM-sealed message sent on a new socket is refused (HTTP
400), since NTLM authenticates a connection, not a request. So before each
round trip the transport checks the connection; if it is gone or idle near the
server's limit, it authenticates a new one and carries on in the same shell and
command (WinRS keeps a shell and its processes for hours, Winrs IdleTimeout, whatever
the connection), or starts a new command, and a new shell, when the server says it no
longer has them (then the program is sent again). Requests before a payload is sent
change nothing and may be repeated once on a new connection; a Send carrying a payload
is repeated only when the server's answer says it reached no process (a WS-Management
fault naming the shell or command gone, or a sealed message it could not read); any
other failure from that Send on is "result unknown" (``TransportError.result_unknown``).
An answer is bounded in bytes (OUTPUT_LIMIT) and time (COMMAND_DEADLINE); a host that
never ends it, or writes past it, gets a clear error, never a traceback.
"""

from __future__ import annotations

import hashlib
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TypeVar

import requests
from spnego.exceptions import SpnegoError
from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError
from winrm.protocol import Protocol

from exconf.remote import command_line, split_answer, split_stdin

from . import AuthenticationFailed, ConnectionSettings, HostUnreachable, Output, TransportError, kerberos
from .session import AnswerRefused, SocketTracker, build_session, ntlm_secret
from .watchdog import Watchdog

T = TypeVar("T")

COMMAND_DEADLINE = 600  # seconds one round trip (one payload's answer) may take before exconf gives up on it
# What one round trip may write (stdout and stderr, over all its Receive answers). A host's read answer is
# tens of KB; the admin audit log's 1,000 entries drift reads are about 1 MB. Each answer is bounded
# too (session.ANSWER_LIMIT): together they keep a host that never stops talking to a few MB of memory.
OUTPUT_LIMIT = 8 * 1024 * 1024
# WS-Management fault codes (MS-WSMV 2.2.4.x / winerror.h) that mean "this shell is gone".
SHELL_NOT_FOUND = {2150858843}  # ERROR_WSMAN_SHELL_NOT_FOUND (0x8033805B); also an unknown CommandId
# ... and "this command takes no more input": ERROR_WSMAN_COMMAND_TERMINATED (0x803381CC), a Send to a command
# whose process has exited. Either answer to a Send means the payload reached no process.
COMMAND_GONE = {2150859212}


def idle_margin(server_idle_timeout: float) -> float:
    """Idle seconds after which a kept connection is not trusted any more.

    A quarter of the server's limit (30 s of HTTP.sys's 120 s) leaves room for
    clock granularity and a request already in flight when the server's timer
    fires; the server closing earlier is caught by the socket check.
    """
    return server_idle_timeout * 0.75


class _Retry(Exception):
    """Internal: the request changed nothing and may be repeated on a new connection or shell.

    ``refused``: the server answered that it did not take the request (a fault, or a sealed message it could
    not read), so even a payload's Send may be repeated; otherwise only requests that change nothing are."""

    def __init__(self, reason: str, *, new_shell: bool = False, refused: bool = False, fault: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.new_shell = new_shell
        self.refused = refused
        self.fault = fault  # a WS-Management fault: the connection itself is fine


class WinRMTransport:
    """A reusable WinRS shell on one host."""

    def __init__(
        self,
        settings: ConnectionSettings,
        codepage: int = 437,
        *,
        watchdog: Watchdog | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._settings = settings
        self._codepage = codepage
        self._clock = clock
        self._own_watchdog = watchdog is None
        self._watchdog = watchdog or Watchdog(clock)
        self._secret = ntlm_secret(settings.password or "") if settings.auth == "ntlm" else settings.password
        self._protocol: Protocol | None = None
        self._tracker: SocketTracker | None = None
        self._shell: str | None = None
        self._command: str | None = None  # the running program, waiting for its next payload
        self._command_program = b""  # the SHA-256 of the program part it was started with
        self._finished_command: str | None = None
        self._last_used: float | None = None
        self._broken = False  # the host stopped answering: close() does not wait for it again
        self._in_flight: object | None = None

    # -- the Transport API --------------------------------------------------------------

    def run(self, stdin: bytes) -> Output:
        """One round trip: the payload of this standard input (exconf.remote.encode_stdin) to the program
        running in this host's shell (started, with the program part, if it is not), and its answer."""
        notes: list[str] = []
        try:
            return self._run(stdin, notes)
        except TransportError:
            raise
        except Exception as exc:  # noqa: BLE001 - no library exception may escape to the runner
            raise TransportError(f"{self._where()}: unexpected error in the WinRM client: {type(exc).__name__}: {_short(exc)}") from None

    def release(self) -> None:
        """Close the socket(s) but keep the shell: a later run() authenticates a new connection."""
        if self._protocol is not None and self._protocol.transport.session is not None:
            self._drop_connection()
        if self._own_watchdog:
            self._watchdog.close()

    def close(self) -> None:
        """Delete the shell (which also ends its last command) and close the connection."""
        shell = self._shell
        try:
            if shell is not None and self._protocol is not None and not self._broken:
                try:
                    self._ensure_connection([])
                    self._exchange(lambda p: p.close_shell(shell, close_session=False), stage="delete")
                except Exception:  # noqa: BLE001 - closing is best effort; the run's outcome is already known
                    pass
        finally:
            self._shell = self._command = self._finished_command = None
            self._drop_connection()
            self._protocol = None
            if self._own_watchdog:
                self._watchdog.close()

    def open_sockets(self) -> int:
        """Sockets this host holds now (for a runner bounding open files)."""
        return self._tracker.open_count() if self._tracker is not None else 0

    # -- one command ----------------------------------------------------------------------

    def _run(self, stdin: bytes, notes: list[str]) -> Output:
        program, payload = split_stdin(stdin)
        key = hashlib.sha256(program).digest()
        if self._command is not None and self._command_program == key:
            # The program is running and waiting on standard input: only this round trip's payload.
            command_id: str = self._command
            self._ensure_connection(notes)
            assert self._shell is not None
            shell: str = self._shell
            # Until this payload's answer has ended, the program is not reusable: a failure leaves it to Delete.
            self._command, self._finished_command = None, command_id
            try:
                self._exchange(lambda p: p.send_command_input(shell, command_id, payload, end=False), stage="send", unknown=True,
                               refused_is_safe=True)
                return self._answer(shell, command_id, notes)
            except _Retry as retry:  # the server says the payload reached no process: start the program again
                notes.append("the server no longer had the shell; opened a new one" if retry.new_shell
                             else f"started the program again: {retry.reason}")
                if retry.fault:
                    self._finished_command = None  # no process to signal: the server said so
                else:  # a sealed message the server could not read: log on again; the program it kept is signalled
                    self._drop_connection()
                if retry.new_shell:
                    self._shell = self._finished_command = None
        elif self._command is not None:  # another program (never exconf's own runs): end the one running
            self._finished_command, self._command = self._command, None
        command_id = self._start_command(notes)
        # From here on the command may run: nothing is ever sent twice.
        assert self._shell is not None
        shell = self._shell
        self._command_program, self._finished_command = key, command_id  # reusable once its answer has ended
        self._exchange(lambda p: p.send_command_input(shell, command_id, stdin, end=False), stage="send", unknown=True)
        return self._answer(shell, command_id, notes)

    def _start_command(self, notes: list[str]) -> str:
        """Connection, shell and Command: each step changes nothing, so one retry is safe."""
        for attempt in (1, 2):
            try:
                self._ensure_connection(notes)
                self._ensure_shell(notes)
                shell = self._shell
                assert shell is not None
                command, arguments = command_line()
                # WINRS_CONSOLEMODE_STDIN FALSE: standard input is a pipe, which powershell.exe sees as redirected
                # and reads into $input; Ansible's winrm connection sends it so whenever it feeds standard input
                # (ansible-core plugins/connection/winrm.py: console_mode_stdin=(stdin_iterator is None)).
                return self._exchange(
                    lambda p: p.run_command(shell, command, arguments, console_mode_stdin=False, skip_cmd_shell=True),  # noqa: B023
                    stage="command", retry_safe=True
                )
            except _Retry as retry:
                if attempt == 2:
                    raise TransportError(f"{self._where()}: {retry.reason}, again after reconnecting") from None
                notes.append(f"reconnected: {retry.reason}")
                self._drop_connection()
                if retry.new_shell:
                    self._shell = self._command = self._finished_command = None
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_connection(self, notes: list[str]) -> None:
        if self._protocol is None:
            self._protocol = self._new_protocol()
        if self._protocol.transport.session is not None and self._last_used is not None:
            idle = self._clock() - self._last_used
            reason = ""
            if idle >= idle_margin(self._settings.server_idle_timeout):
                reason = f"the connection had been idle {idle:.0f} s (servers close idle connections after {self._settings.server_idle_timeout:.0f} s)"
            elif self._tracker is not None and not self._tracker.connected():
                reason = f"the server had closed the connection (idle {idle:.0f} s)"
            if reason:
                notes.append(f"reconnected: {reason}")
                self._drop_connection()
        if self._protocol.transport.session is None:
            self._open_connection()

    def _ensure_shell(self, notes: list[str]) -> None:
        if self._shell is not None and self._finished_command:
            previous, self._finished_command = self._finished_command, None
            shell = self._shell
            try:
                self._exchange(lambda p: p.cleanup_command(shell, previous), stage="signal", retry_safe=True)
            except _ShellGone:
                notes.append("the server no longer had the shell; opened a new one")
                self._shell = None
        if self._shell is None:
            self._shell = self._exchange(lambda p: p.open_shell(codepage=self._codepage), stage="create", retry_safe=True)

    def _answer(self, shell: str, command_id: str, notes: list[str]) -> Output:
        """Receive until this round trip's answer has ended (ANSWER_END), or the program has exited."""
        out = bytearray()
        err = bytearray()
        deadline = self._clock() + COMMAND_DEADLINE
        while True:
            if self._clock() > deadline:  # also a server that answers at once, forever, that it is still running
                self._broken = True
                raise HostUnreachable(
                    f"{self._where()}: the program did not finish its answer within {COMMAND_DEADLINE} s; its result is unknown",
                    result_unknown=True,
                )
            try:
                stdout, stderr, code, done = self._exchange(
                    lambda p: p.get_command_output_raw(shell, command_id), stage="receive", unknown=True
                )
            except WinRMOperationTimeoutError:
                continue  # expected while a long command runs (MS-WSMV OperationTimeout); ask again
            if len(out) + len(err) + len(stdout) + len(stderr) > OUTPUT_LIMIT:
                self._broken = True
                raise TransportError(
                    f"{self._where()}: the command wrote more than {OUTPUT_LIMIT // (1024 * 1024)} MiB, more than an answer "
                    "of exconf's program may have; exconf stopped reading it, and its result is unknown",
                    result_unknown=True,
                )
            out += stdout
            err += stderr
            found = split_answer(bytes(out))
            if found is not None:
                answer, rest = found
                if rest and not done:
                    # The program writes nothing until its next payload: one that does is not used again.
                    notes.append("the program wrote past the end of its answer; the next round trip starts it again")
                elif not done:  # running, waiting for its next payload: kept
                    self._command, self._finished_command = command_id, None
                return Output(answer, bytes(err), code if done else 0, tuple(notes))
            if done:  # the program ended without ending an answer (a fatal error, a bootstrap refusal)
                return Output(bytes(out), bytes(err), code, tuple(notes))

    # -- connections ------------------------------------------------------------------------

    def _new_protocol(self) -> Protocol:
        s = self._settings
        return Protocol(
            endpoint=s.endpoint,
            transport=s.auth,  # type: ignore[arg-type]  # one of connection.SUPPORTED_AUTH, checked when the inventory is read
            username=s.user,
            password=self._secret,
            server_cert_validation="validate" if s.cert_validation else "ignore",
            ca_trust_path=s.ca_trust_path if s.ca_trust_path else "legacy_requests",
            message_encryption=s.message_encryption,  # type: ignore[arg-type]  # auto, always or never: the inventory schema
            operation_timeout_sec=s.operation_timeout,
            read_timeout_sec=s.read_timeout,
            proxy=None,
        )

    def _open_connection(self) -> None:
        """A new session (and, for sealed messages, a new NTLM or Kerberos context: 2 requests, or 1)."""
        protocol = self._require_protocol()
        self._tracker = SocketTracker()
        session = build_session(self._settings, self._tracker, self._secret or "")
        protocol.transport.session = session
        protocol.transport.encryption = None
        if self._settings.encrypts_messages:
            self._exchange(lambda p: p.transport.setup_encryption(session), stage="authenticate", retry_safe=False)
            sealing = (session.auth.complete() if self._settings.auth == "kerberos"  # type: ignore[union-attr]  # build_session made a Kerberos auth
                       else getattr(session.auth, "session_security", None) is not None)
            if not sealing:
                self._drop_connection()
                raise TransportError(
                    f"{self._where()}: the server answered without asking to authenticate (no {self._settings.auth.upper()} "
                    "exchange); it is not a WinRM service exconf can seal messages for"
                )

    def _drop_connection(self) -> None:
        protocol = self._protocol
        if protocol is not None:
            try:
                protocol.transport.close_session()
            except Exception:  # noqa: BLE001 - closing a socket cannot fail the run
                pass
            protocol.transport.encryption = None
        if self._tracker is not None:
            self._tracker.close_all()
        self._tracker = None

    def _require_protocol(self) -> Protocol:
        if self._protocol is None:
            raise TransportError(f"{self._where()}: the transport was closed")
        return self._protocol

    # -- one WS-Management exchange ------------------------------------------------------------

    def _exchange(self, fn: Callable[[Protocol], T], *, stage: str, unknown: bool = False, retry_safe: bool = False,
                  refused_is_safe: bool = False) -> T:
        """One WS-Man call, bounded in time as a whole, its errors sorted into exconf's kinds.

        ``refused_is_safe``: a payload's Send, which may be repeated on a new command only when the server's
        answer shows the payload reached no process (raised as _Retry); any other failure is "result unknown"."""
        protocol = self._require_protocol()
        tracker = self._tracker
        opened_before = tracker.opened if tracker is not None else 0
        token = object()
        self._in_flight = token

        def expire() -> None:
            if self._in_flight is token and tracker is not None:
                tracker.abort()

        deadline = self._watchdog.arm(self._settings.read_timeout, expire)
        try:
            result = fn(protocol)
            self._last_used = self._clock()
            return result
        except WinRMOperationTimeoutError:
            self._last_used = self._clock()
            raise
        except Exception as exc:  # noqa: BLE001 - sorted below
            if deadline.expired:
                raise HostUnreachable(
                    f"{self._where()}: no answer within {self._settings.read_timeout} s"
                    + ("; the command's result is unknown" if unknown else ""),
                    result_unknown=unknown,
                ) from None
            new_socket = tracker is not None and tracker.opened > opened_before and opened_before > 0
            error = self._classify(exc, stage, unknown, new_socket)
            if isinstance(error, _Retry):
                if retry_safe or (refused_is_safe and error.refused):
                    raise error from None
                error = HostUnreachable(f"{self._where()}: {error.reason}", result_unknown=unknown)
            if isinstance(error, HostUnreachable) or isinstance(exc, AnswerRefused):
                self._broken = True  # close() does not go back to a host that stopped answering, or answered so
            raise error from None
        finally:
            self._in_flight = None
            deadline.cancel()

    def _classify(self, exc: Exception, stage: str, unknown: bool, new_socket: bool) -> Exception:
        where = self._where()
        s = self._settings
        suffix = "; the command's result is unknown" if unknown else ""

        def unreachable(text: str) -> HostUnreachable:
            return HostUnreachable(f"{where}: {text}{suffix}", result_unknown=unknown)

        if isinstance(exc, AnswerRefused):
            return TransportError(f"{where}: {exc}{suffix}", result_unknown=unknown)
        if s.auth == "kerberos":
            offered = kerberos.offers_no_kerberos(exc)
            if offered is not None:
                return TransportError(f"{where}: the server does not offer Kerberos on this endpoint (it offers: "
                                      f"{offered}); set ansible_winrm_transport to what it accepts")
            explained = kerberos.explain(exc, s)
            if explained is not None:
                kind = AuthenticationFailed if explained.credentials else TransportError
                return kind(f"{where}: {explained.message}{suffix}", result_unknown=unknown)
        if isinstance(exc, InvalidCredentialsError):
            if s.auth == "kerberos":
                return AuthenticationFailed(
                    f"{where}: the server refused the Kerberos logon of {s.user or 'the cached principal'!r} for "
                    f"{s.service}/{s.spn_host}: is the account allowed to log on there, and is that principal "
                    "registered to this server's account?")
            return AuthenticationFailed(f"{where}: the server refused the credentials of {s.user!r}")
        if isinstance(exc, PermissionError) and "challenge" in str(exc):
            return TransportError(
                f"{where}: the server asked to authenticate but sent no NTLM challenge "
                "(401 Negotiate without a token): it does not offer NTLM on this endpoint"
            )
        if isinstance(exc, SpnegoError):
            return TransportError(f"{where}: NTLM authentication failed: {_short(exc)}")
        if isinstance(exc, OSError) and not isinstance(exc, requests.RequestException) and "CA" in str(exc):
            return TransportError(f"{where}: cannot read the CA file {s.ca_trust_path!r} (ansible_winrm_ca_trust_path)")
        if isinstance(exc, requests.exceptions.SSLError):
            return unreachable(tls_problem(str(exc), s))
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return unreachable(f"connection timed out after {s.read_timeout} s")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return unreachable(f"no answer within {s.read_timeout} s")
        if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
            return unreachable("the answer was cut short (the connection closed before the whole body arrived)")
        if isinstance(exc, requests.exceptions.ConnectionError):
            reason = _reason(exc)
            if not unknown and stage not in ("authenticate", "delete") and _dropped(reason):
                return _Retry(f"the server closed the connection ({reason})")
            cannot = stage == "authenticate" or any(m in reason for m in _NO_CONNECTION)
            return unreachable(f"cannot connect: {reason}" if cannot else f"the connection failed: {reason}")
        if isinstance(exc, requests.RequestException):
            return unreachable(f"HTTP request failed: {_short(exc)}")
        if isinstance(exc, WSManFaultError):
            if exc.wsman_fault_code in SHELL_NOT_FOUND and (not unknown or stage == "send"):
                return _ShellGone(f"the server no longer had the shell (WS-Management fault {exc.wsman_fault_code})")
            if exc.wsman_fault_code in COMMAND_GONE and stage == "send":
                return _Retry(f"the program had ended (WS-Management fault {exc.wsman_fault_code})", refused=True, fault=True)
            return TransportError(
                f"{where}: WS-Management fault {exc.wsman_fault_code or exc.code}: {_short(exc.reason)}{suffix}", result_unknown=unknown
            )
        if isinstance(exc, WinRMTransportError):
            if exc.code in (400, 401) and new_socket and s.encrypts_messages:
                # A sealed message went out on a socket the client had to open anew: the server could
                # not unseal it (MS-WSMV: the NTLM context belongs to the connection), so it did nothing.
                return _Retry("the connection was replaced under the request (HTTP %d)" % exc.code, refused=True)
            if exc.code == 500 and not exc.response_text.strip() and s.scheme == "http" and not s.encrypts_messages:
                return TransportError(
                    f"{where}: the server refuses unencrypted messages (HTTP 500 with no fault, WinRM AllowUnencrypted=false); "
                    "use https, or ansible_winrm_message_encryption: auto"
                )
            body = f": {_short(exc.response_text)}" if exc.response_text.strip() else ""
            return TransportError(f"{where}: HTTP {exc.code}{body}{suffix}", result_unknown=unknown)
        if isinstance(exc, (ET.ParseError, StopIteration, AssertionError, KeyError, IndexError, UnicodeDecodeError)):
            return TransportError(
                f"{where}: the answer to {stage} is not the WS-Management message it should be ({type(exc).__name__}: {_short(exc)}){suffix}",
                result_unknown=unknown,
            )
        if isinstance(exc, WinRMError):
            return TransportError(f"{where}: {_short(exc)}{suffix}", result_unknown=unknown)
        return TransportError(f"{where}: unexpected {type(exc).__name__} during {stage}: {_short(exc)}{suffix}", result_unknown=unknown)

    def _where(self) -> str:
        return self._settings.endpoint


class _ShellGone(_Retry):
    def __init__(self, reason: str):
        super().__init__(reason, new_shell=True, refused=True, fault=True)


_NO_CONNECTION = ("Connection refused", "No route to host", "Name or service not known", "timed out")


_VERIFY = (re.compile(r"certificate verify failed: (.+?) \(_ssl\.c:\d+\)"), re.compile(r"certificate verify failed: ([^'\")]+)"))


def tls_problem(text: str, s: ConnectionSettings) -> str:
    """A TLS failure as the user can act on it: what is wrong with the server's certificate, and the variable
    that fixes it (the CA to trust: ansible_winrm_ca_trust_path; the name to use: ansible_host)."""
    m = _VERIFY[0].search(text) or _VERIFY[1].search(text)
    if not m:
        return f"TLS failed: {_reason(Exception(text))}"
    problem = m.group(1).strip()
    if "mismatch" in problem:
        return (f"TLS failed: the server's certificate is not for {s.host} ({problem}); connect with a name the "
                "certificate holds (ansible_host), the CA is not the problem")
    if "expired" in problem or "not yet valid" in problem:
        return f"TLS failed: the server's certificate is out of its validity period ({problem}); the WinRM listener needs a current certificate"
    # The CA file may be the inventory's or REQUESTS_CA_BUNDLE's; either way ansible_winrm_ca_trust_path is the fix.
    trust = (f"the CA file {s.ca_trust_path} does not hold the CA that issued it; name the file that does with "
             "ansible_winrm_ca_trust_path (a PEM file of CA certificates)"
             if s.ca_trust_path else "name the CA that issued it with ansible_winrm_ca_trust_path (a PEM file of CA certificates)")
    return f"TLS failed: the server's certificate is not trusted ({problem}); {trust}"


def _dropped(reason: str) -> bool:
    return any(m in reason for m in ("Connection aborted", "RemoteDisconnected", "Connection reset", "Broken pipe", "closed connection"))


def _short(value: object, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _reason(exc: Exception) -> str:
    """The innermost useful message of a requests/urllib3 error chain."""
    text = str(exc)
    for marker in ("Connection refused", "certificate verify failed", "No route to host", "Name or service not known", "timed out"):
        if marker in text:
            tail = text[text.index(marker):]
            return tail.split("'))")[0].split(")")[0].rstrip("'\"")
    return _short(text)
