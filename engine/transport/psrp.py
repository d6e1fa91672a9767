"""Exchange remote PowerShell with stock pypsrp: one runspace pool per host per run.

PSRP over WS-Management to ``/PowerShell`` with configuration ``Microsoft.Exchange``, the endpoint
Exchange's own shell uses (office-docs-powershell, connect-to-exchange-servers-using-remote-
powershell.md). pypsrp (``pypsrp.wsman.WSMan``, ``pypsrp.powershell.RunspacePool``/``PowerShell``)
speaks the protocol, as ansible-core's ``psrp`` connection plugin does; this module gives it the
project's transport rules (docs/faults.md):

* its HTTP session is exconf's (transport/session.py): no proxy, netrc or CA bundle read from the
  environment, no retry, no redirect followed (a redirect is an error naming where it pointed),
  each answer bounded (``MAX_ANSWER`` bytes, counted after decoding), and its sockets tracked;
* every pypsrp call is bounded as a whole by ``read_timeout`` (watchdog.py), and a pipeline's whole
  output by ``MAX_OUTPUT`` bytes and ``COMMAND_DEADLINE`` seconds;
* every error leaves as HostUnreachable, AuthenticationFailed or TransportError, naming the endpoint;
  once a pipeline that changes something reached the server, a failure is "result unknown".

Request budget: NTLM authenticates a connection in 2 requests and Kerberos in 1, the first token riding on
the first request (firsttoken.py; pypsrp's own auth first asks without credentials); the pool costs a Create, one Receive
to open and a Delete; each pipeline a Command and (for an answer that fits one envelope) one
Receive. The pool stays open from the first read to the last verification; ``release()`` gives the
socket back and the next call authenticates a new connection on the same pool.
"""

from __future__ import annotations

import base64
import copy
import datetime
import email.utils
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from pypsrp.complex_objects import Command, ObjectMeta
from pypsrp.exceptions import (AuthenticationError, InvalidPSRPOperation, SerializationError, WinRMError, WinRMTransportError,
                               WSManFaultError)
from pypsrp.messages import CreatePipeline, PublicKey
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import Serializer, TaggedValue
from pypsrp.wsman import WSMan
from spnego.exceptions import SpnegoError

from . import SERVER_IDLE_TIMEOUT, AuthenticationFailed, HostUnreachable, TransportError, kerberos
from .firsttoken import FirstTokenNegotiateAuth
from .psrp_templates import PipelineTemplates, Shape, Untemplatable, xml_bytes
from .session import AnswerTooLarge, Redirected, SocketTracker, hardened_session, ntlm_secret
from .watchdog import Watchdog
from .winrm import idle_margin

T = TypeVar("T")

EXCHANGE_CONFIGURATION = "Microsoft.Exchange"
MAX_ANSWER = 16 * 1024 * 1024  # one WS-Man answer; Exchange's are a MaxEnvelopeSize (150-500 KB) each
MAX_OUTPUT = 64 * 1024 * 1024  # all answers of one pipeline
COMMAND_DEADLINE = 600  # seconds a pipeline may run before exconf gives up on it
OPERATION_TIMEOUT_CODE = 2150858793  # ERROR_WSMAN_OPERATION_TIMEDOUT: a Receive with nothing yet; ask again
SHELL_NOT_FOUND = 2150858843  # ERROR_WSMAN_SHELL_NOT_FOUND (0x8033805B): the pool is gone
PIPELINE_FAILED = 5  # PSInvocationState.Failed
PIPELINE_DONE = (3, 4, 5)  # Stopped, Completed, Failed


@dataclass(frozen=True)
class PSRPSettings:
    """How to reach one host's /PowerShell (Ansible's ``ansible_psrp_*`` names); the password is never printed."""

    host: str  # address or DNS name to connect to
    port: int
    scheme: str  # http | https
    path: str  # PowerShell
    auth: str  # negotiate | ntlm | kerberos | basic
    user: str
    password: str | None  # None: Kerberos with the ticket in the user's credential cache
    cert_validation: bool
    ca_trust_path: str | None
    message_encryption: str  # auto | always | never
    configuration_name: str
    operation_timeout: int
    read_timeout: int
    connection_timeout: int
    server_name: str  # what -Server gets for the local server: the host's inventory name (its FQDN)
    negotiate_service: str | None = None  # SPN service class ("HTTP" for Exchange's IIS)
    negotiate_hostname_override: str | None = None
    negotiate_delegate: bool = False
    # IIS serves /PowerShell through HTTP.sys, which closes a connection idle for 120 s (as WinRM's); IIS's own
    # site limit connectionTimeout defaults to 120 s too (system.applicationHost/sites/site/limits).
    server_idle_timeout: float = SERVER_IDLE_TIMEOUT

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/{self.path.lstrip('/')}"

    @property
    def encrypts_messages(self) -> bool:
        """Whether WS-Man messages are sealed (MS-WSMV 2.2.9.1), as pypsrp decides it."""
        if self.auth == "basic" or self.message_encryption == "never":
            return False
        return self.message_encryption == "always" or self.scheme == "http"

    def __repr__(self) -> str:  # never show the password, even in a traceback
        return f"PSRPSettings(endpoint={self.endpoint!r}, auth={self.auth!r}, user={self.user!r})"


@dataclass
class PipelineOutput:
    """What one pipeline returned, in pypsrp's objects: output (in order), error records (pypsrp
    ErrorRecord: from the error stream, then the pipeline's own failure), warnings, final state."""

    output: list[Any]
    errors: list[Any]
    warnings: list[Any]
    state: int
    failure: Any = None  # the error record that failed the pipeline (PIPELINE_STATE Failed)


class PSRPTransport:
    """One runspace pool on one host, opened on first use and kept for the run."""

    def __init__(self, settings: PSRPSettings, *, watchdog: Watchdog | None = None,
                 clock: Callable[[], float] = time.monotonic, client_key: "ClientKey | None" = None,
                 templates: PipelineTemplates | None = None):
        self._settings = settings
        self._client_key = client_key or ClientKey()
        self._templates = templates or PipelineTemplates()
        self._clock = clock
        self._own_watchdog = watchdog is None
        self._watchdog = watchdog or Watchdog(clock)
        self._secret = ntlm_secret(settings.password or "") if settings.auth == "ntlm" else settings.password
        self._wsman: WSMan | None = None
        self._pool: RunspacePool | None = None
        self._tracker: SocketTracker | None = None
        self._adapter: Any = None
        self._broken = False
        self._keys = False
        self._key_failure: TransportError | None = None  # an early key exchange that failed (keep_alive_with_keys)
        self._released = False
        self._last_used: float | None = None  # when the connection last carried a request
        self.notes: list[str] = []

    # -- the pool -----------------------------------------------------------------------------------

    def run(self, statements: list[tuple[str, list[tuple[str, Any]]]], *, changes: bool) -> PipelineOutput:
        """Run one pipeline of statements (cmdlet, [(parameter, value)]); ``changes``: it may change
        something, so a failure once it was sent is "result unknown". Values may be ``SecureText``."""
        try:
            return self._run(statements, changes)
        except TransportError:
            raise
        except Exception as exc:  # noqa: BLE001 - no library exception may escape to the runner
            raise TransportError(f"{self._where()}: unexpected error in the PSRP client: {type(exc).__name__}: {_short(exc)}",
                                 result_unknown=changes) from None

    def release(self) -> None:
        """Close the socket but keep the runspace pool: the next run authenticates a new connection."""
        if self._wsman is not None and self._wsman.transport.session is not None:
            self._drop_connection()
            self._released = True
        if self._own_watchdog:
            self._watchdog.close()

    def close(self) -> None:
        """Close the runspace pool (a Delete) and the connection; never raises."""
        try:
            if self._pool is not None and not self._broken:
                pool = self._pool
                try:
                    self._reconnect_if_stale()
                    self._ensure_session()
                    self._call(lambda: pool.close(), stage="close")
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
        finally:
            self._pool = None
            self._drop_connection()
            self._wsman = None
            if self._own_watchdog:
                self._watchdog.close()

    def open_sockets(self) -> int:
        return self._tracker.open_count() if self._tracker is not None else 0

    def keep_alive_with_keys(self, lead: float) -> bool:
        """Exchange the pool's session key now, while the kept connection is still trusted, if it would pass
        the idle margin within ``lead`` seconds: the caller knows this host's next pipeline carries a
        SecureString, so these are the Send and Receive that pipeline would cost anyway (MS-PSRP 3.1.5.4.2),
        sent early, and they reset the server's idle timer. A long run's last hosts then apply on the
        connection they were read on (issue 20: at 1,000 servers an apply phase can outlast the margin).
        Returns whether the key was exchanged; a failure is left for the pipeline to meet and report."""
        if self._pool is None or self._keys or self._broken or self._last_used is None:
            return False
        if self._wsman is None or self._wsman.transport.session is None:
            return False  # released or dropped: the next call logs on anyway
        idle = self._clock() - self._last_used
        margin = idle_margin(self._settings.server_idle_timeout)
        if idle < margin - lead or idle >= margin or (self._tracker is not None and not self._tracker.connected()):
            return False
        pool = self._pool
        try:
            self._call(lambda: pool.exchange_keys(), stage="key exchange")
        except TransportError as exc:
            # pypsrp's pool now holds a half-made exchange; the pipeline that needs the key reports this, unsent
            self._key_failure = exc
            return False
        self._keys = True
        return True

    @property
    def user(self) -> str:
        """Who the session runs as (the logon name, for messages)."""
        return self._settings.user

    @property
    def requests_sent(self) -> int:
        return self._adapter.requests_sent if self._adapter is not None else 0

    @property
    def server_time(self) -> str | None:
        """The server's clock when it last answered ("yyyy-MM-ddTHH:mm:ssZ"), from the HTTP Date header
        IIS puts on every answer (RFC 9110 6.6.1); None when it sent none that parses."""
        raw = self._adapter.last_date if self._adapter is not None else ""
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- one pipeline ---------------------------------------------------------------------------------------

    def _run(self, statements: list[tuple[str, list[tuple[str, Any]]]], changes: bool) -> PipelineOutput:
        pool = self._ensure_pool()
        if any(isinstance(v, SecureText) for _, params in statements for _, v in params) and not self._keys:
            if self._key_failure is not None:
                raise self._key_failure  # an early exchange failed (keep_alive_with_keys): nothing of this is sent
            self._call(lambda: pool.exchange_keys(), stage="key exchange")  # PSRP's session key (MS-PSRP 3.1.5.4.2)
            self._keys = True
        ps = self._begin(pool, statements, changes)
        try:
            self._wait(ps, changes)
        finally:
            # pypsrp keeps every pipeline in its pool until PowerShell.close(), which costs a Signal request;
            # a finished one is only let go of here, as pypsrp's own stop() does. A host's pool lives from its
            # read to its apply: at 1,000 hosts the kept pipelines (their commands and output) were most of
            # the controller's heap and of each full garbage collection's work (issue 20).
            pool.pipelines.pop(ps.id, None)
        failure = None
        errors = list(ps.streams.error)
        if ps.state == PIPELINE_FAILED and errors:
            failure = errors.pop()  # pypsrp appends the PIPELINE_STATE's error record last
        return PipelineOutput(list(ps.output), errors, list(ps.streams.warning), ps.state, failure)

    def _begin(self, pool: RunspacePool, statements: list[tuple[str, list[tuple[str, Any]]]], changes: bool) -> PowerShell:
        """Send the CREATE_PIPELINE (its first fragment with the Command): from its shape's template when it
        has one (psrp_templates.py), else as pypsrp writes it."""
        serializer = pool._serializer if isinstance(pool._serializer, RawOutputSerializer) else None
        shape = self._templates.shape(_context(pool), statements) if serializer is not None else None
        if shape is None or serializer is None:
            ps = self._pipeline(pool, statements)
        else:
            ps = self._pipeline(pool, shape.statements)
            serializer.pending = _Pending(shape, ps.commands, self._templates)
        try:
            self._call(lambda: ps.begin_invoke(), stage="command", unknown=changes)
        except Untemplatable:  # raised while writing, before anything was sent: pypsrp writes this one itself
            ps = self._pipeline(pool, statements)
            self._call(lambda: ps.begin_invoke(), stage="command", unknown=changes)
        finally:
            if serializer is not None:
                serializer.pending = None
        return ps

    @staticmethod
    def _pipeline(pool: RunspacePool, statements: list[tuple[str, list[tuple[str, Any]]]]) -> PowerShell:
        ps = PowerShell(pool)
        for index, (cmdlet, params) in enumerate(statements):
            ps.add_cmdlet(cmdlet)
            for name, value in params:
                ps.add_parameter(name, pool.serialize(value.reveal(), ObjectMeta("SS")) if isinstance(value, SecureText) else value)
            if index < len(statements) - 1:
                ps.add_statement()
        for command in ps.commands:
            command.__class__ = _CopiedShallow  # see the class: the same XML, without deep-copying each command twice
        return ps

    def _wait(self, ps: PowerShell, changes: bool) -> None:
        deadline = self._clock() + COMMAND_DEADLINE
        received = self._adapter.bytes_received if self._adapter is not None else 0
        while ps.state not in PIPELINE_DONE:
            if self._clock() > deadline:
                raise HostUnreachable(f"{self._where()}: the pipeline did not finish within {COMMAND_DEADLINE} s"
                                      + ("; its result is unknown" if changes else ""), result_unknown=changes)
            try:
                self._call(lambda: ps.poll_invoke(), stage="receive", unknown=changes)
            except _Again:
                continue
            self._bound_output(received)

    def _bound_output(self, before: int) -> None:
        adapter = self._adapter
        if adapter is not None and adapter.bytes_received - before > MAX_OUTPUT:
            self._broken = True
            raise TransportError(f"{self._where()}: the pipeline's output passed {MAX_OUTPUT:,} bytes; exconf stopped reading it")

    def _ensure_pool(self) -> RunspacePool:
        self._reconnect_if_stale()
        if self._pool is None:
            self._wsman = self._new_wsman()
            self._ensure_session()
            pool = _SharedKeyPool(self._wsman, self._client_key, configuration_name=self._settings.configuration_name)
            _keep_output_raw(pool)
            self._call(lambda: pool.open(), stage="open")
            self._pool = pool
            self._keys = False
            self._key_failure = None
        else:
            self._ensure_session()
        return self._pool

    def _reconnect_if_stale(self) -> None:
        """A connection idle near the server's limit, or one the server closed, is given up before it is used:
        NTLM authenticated the connection, not the requests, so a sealed message sent on whatever socket
        urllib3 opens instead is refused (HTTP 400). The next call authenticates a new connection (2
        requests with NTLM, 1 with Kerberos) on the same runspace pool, which the server keeps (a long run's gap between a host's
        read and its apply)."""
        if self._wsman is None or self._wsman.transport.session is None or self._last_used is None:
            return
        idle = self._clock() - self._last_used
        if idle >= idle_margin(self._settings.server_idle_timeout) or (self._tracker is not None and not self._tracker.connected()):
            self._drop_connection()

    def _new_wsman(self) -> WSMan:
        s = self._settings
        return WSMan(
            s.host, port=s.port, username=s.user, password=self._secret, ssl=s.scheme == "https", path=s.path,
            auth=s.auth, cert_validation=(s.ca_trust_path or True) if s.cert_validation else False,  # type: ignore[arg-type]  # pypsrp's WSMan takes a CA bundle's path here too
            connection_timeout=s.connection_timeout, read_timeout=s.read_timeout, operation_timeout=s.operation_timeout,
            encryption=s.message_encryption, no_proxy=True,
        )

    def _ensure_session(self) -> None:
        """pypsrp builds its own session on first use; exconf gives it one first (transport/session.py)."""
        assert self._wsman is not None
        transport = self._wsman.transport
        if transport.session is not None:
            return
        self._released = False  # exconf let the connection go while the run waited: no note (nothing went wrong)
        s = self._settings
        self._tracker = SocketTracker()
        session, self._adapter = hardened_session(s.cert_validation, s.ca_trust_path, self._tracker, max_body=MAX_ANSWER)
        session.headers["User-Agent"] = "Python PSRP Client"
        session.headers["Accept-Encoding"] = "identity"  # IIS would compress otherwise (pypsrp wsman.py)
        if s.auth == "basic":
            session.auth = requests.auth.HTTPBasicAuth(s.user, self._secret or "")
        else:
            session.auth = FirstTokenNegotiateAuth(
                username=s.user, password=self._secret, auth_provider=s.auth, wrap_required=transport.wrap_required,
                send_cbt=True, service=s.negotiate_service or "HTTP", delegate=s.negotiate_delegate,
                hostname_override=s.negotiate_hostname_override,
            )
        transport.session = session
        transport.encryption = None

    def _drop_connection(self) -> None:
        if self._wsman is not None:
            transport = self._wsman.transport
            try:
                if transport.session is not None:
                    transport.session.close()
            except Exception:  # noqa: BLE001 - closing a socket cannot fail the run
                pass
            transport.session = None
            transport.encryption = None
        if self._tracker is not None:
            self._tracker.close_all()
        self._tracker = None

    # -- one bounded call ---------------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T], *, stage: str, unknown: bool = False) -> T:
        tracker = self._tracker

        def expire() -> None:
            if tracker is not None:
                tracker.abort()

        deadline = self._watchdog.arm(self._settings.read_timeout + 2, expire)
        try:
            return fn()
        except Untemplatable:
            raise
        except WSManFaultError as exc:
            if exc.code == OPERATION_TIMEOUT_CODE and stage == "receive":
                raise _Again() from None
            raise self._classify(exc, stage, unknown, deadline.expired) from None
        except Exception as exc:  # noqa: BLE001 - sorted below
            error = self._classify(exc, stage, unknown, deadline.expired)
            if isinstance(error, HostUnreachable):
                self._broken = True
            raise error from None
        finally:
            deadline.cancel()
            self._last_used = self._clock()

    def _classify(self, exc: Exception, stage: str, unknown: bool, expired: bool) -> TransportError:
        where = self._where()
        s = self._settings
        suffix = "; the pipeline's result is unknown" if unknown else ""

        def unreachable(text: str) -> HostUnreachable:
            return HostUnreachable(f"{where}: {text}{suffix}", result_unknown=unknown)

        if expired:
            return unreachable(f"no answer within {s.read_timeout} s")
        if isinstance(exc, AnswerTooLarge):
            self._broken = True
            return TransportError(f"{where}: {exc}; exconf stopped reading it{suffix}", result_unknown=unknown)
        if s.auth in ("kerberos", "negotiate"):
            offered = kerberos.offers_no_kerberos(exc)
            if offered is not None and s.auth == "kerberos":
                return TransportError(f"{where}: the server does not offer Kerberos on this endpoint (it offers: "
                                      f"{offered}); set ansible_psrp_auth to what it accepts")
            target = kerberos.Target(s.user, f"{s.negotiate_service or 'HTTP'}/{s.negotiate_hostname_override or s.host}",
                                     s.host, s.scheme == "https", "ansible_psrp_negotiate_hostname_override")
            explained = kerberos.explain(exc, target) if not isinstance(exc, AuthenticationError) else None
            if explained is not None:
                kind = AuthenticationFailed if explained.credentials else TransportError
                return kind(f"{where}: {explained.message}{suffix}", result_unknown=unknown)
        if isinstance(exc, AuthenticationError):
            if s.auth == "kerberos":
                return AuthenticationFailed(
                    f"{where}: the server refused the Kerberos logon of {s.user or 'the cached principal'!r} for "
                    f"{s.negotiate_service or 'HTTP'}/{s.negotiate_hostname_override or s.host}: is the account "
                    "allowed to log on there, and is that principal registered to this server's account?")
            if s.auth in ("ntlm", "negotiate"):
                # Exchange's PowerShell virtual directory takes Kerberos only out of the box (lab/winrm/auth.py,
                # AuthPolicy.powershell_vdir): NTLM is refused like a wrong password.
                return AuthenticationFailed(
                    f"{where}: the server refused the credentials of {s.user!r} ({s.auth}): check the password; if "
                    "it is right, Exchange's /PowerShell takes Kerberos only unless Set-PowerShellVirtualDirectory "
                    "-WindowsAuthentication $true allows NTLM: use ansible_psrp_auth: kerberos (docs/kerberos.md)")
            return AuthenticationFailed(f"{where}: the server refused the credentials of {s.user!r} ({s.auth})")
        if isinstance(exc, Redirected):
            return TransportError(f"{where}: the server answered with a redirect to {exc.location or '?'!r}; exconf follows no "
                                  "redirect: set ansible_psrp_protocol, ansible_psrp_port and ansible_psrp_path to "
                                  f"where /PowerShell is served{suffix}", result_unknown=unknown)
        if isinstance(exc, requests.TooManyRedirects):
            location = exc.response.headers.get("Location", "?") if exc.response is not None else "?"
            return TransportError(f"{where}: the server answered with a redirect to {location!r}; exconf follows no "
                                  "redirect: set ansible_psrp_protocol, ansible_psrp_port and ansible_psrp_path to "
                                  f"where /PowerShell is served{suffix}", result_unknown=unknown)
        if isinstance(exc, SpnegoError):
            return TransportError(f"{where}: {s.auth} authentication failed: {_short(exc)}")
        if isinstance(exc, requests.exceptions.SSLError):
            return unreachable(f"TLS failed: {_short(exc)}")
        if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout)):
            return unreachable(f"no answer within {s.read_timeout} s")
        if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
            return unreachable("the answer was cut short (the connection closed before the whole body arrived)")
        if isinstance(exc, requests.exceptions.ConnectionError):
            text = str(exc)
            cannot = stage == "open" or "Connection refused" in text or "Name or service not known" in text
            reason = "Connection refused" if "Connection refused" in text else _short(text)
            return unreachable(f"cannot connect: {reason}" if cannot else f"the connection failed: {reason}")
        if isinstance(exc, requests.RequestException):
            return unreachable(f"HTTP request failed: {_short(exc)}")
        if isinstance(exc, WSManFaultError):
            if exc.code == SHELL_NOT_FOUND:
                self._pool = None  # the server no longer has the pool; the next run opens a new one
            return TransportError(f"{where}: WS-Management fault {exc.code}: {_short(exc.reason or exc)}{suffix}",
                                  result_unknown=unknown)
        if isinstance(exc, WinRMTransportError):
            if exc.code == 404:
                return TransportError(f"{where}: HTTP 404: no remote PowerShell here (Exchange serves it at "
                                      "/PowerShell on its Mailbox servers' IIS; an Edge Transport server has none: "
                                      "give an Edge exconf_role: Edge)")
            body = f": {_short(exc.response_text)}" if (exc.response_text or "").strip() else ""
            return TransportError(f"{where}: HTTP {exc.code}{body}{suffix}", result_unknown=unknown)
        if isinstance(exc, (SerializationError, WinRMError, ValueError, KeyError, AttributeError)):
            return TransportError(f"{where}: the answer to {stage} is not the PSRP message it should be "
                                  f"({type(exc).__name__}: {_short(exc)}){suffix}", result_unknown=unknown)
        return TransportError(f"{where}: unexpected {type(exc).__name__} during {stage}: {_short(exc)}{suffix}",
                              result_unknown=unknown)

    def _where(self) -> str:
        return self._settings.endpoint


def _text(fn: Callable[[Any], str]) -> Callable[[Serializer, Any, Any], str]:
    return lambda _s, _m, d: fn(d)


# pypsrp 0.9's Serializer.serialize picks how to write a value from a table of 30 lambdas it builds on every
# call (once per element: ~470 times for one pipeline of a host's read); this is that table, built once, with
# the same functions. The tags it leaves out ("DT", whose pypsrp entry writes nothing, and any other) go
# through pypsrp's own serialize. tests/unit/test_psrp_serializer.py compares the XML of both.
_PACK: dict[str, Callable[[Serializer, Any, Any], Any]] = {  # (serializer, metadata: pypsrp takes any ObjectMeta, value)
    "S": lambda s, _m, d: s._serialize_string(d),
    "C": _text(lambda d: str(ord(d))),
    "B": _text(lambda d: str(d).lower()),
    **{tag: _text(str) for tag in ("TS", "By", "SB", "U16", "I16", "U32", "I32", "U64", "I64", "Sg", "Db", "D", "G", "Version")},
    "BA": _text(lambda d: base64.b64encode(d).decode("utf-8")),
    "URI": lambda s, _m, d: s._serialize_string(d),
    "XD": lambda s, _m, d: s._serialize_string(d),
    "SBK": lambda s, _m, d: s._serialize_string(d),
    "SS": lambda s, _m, d: s._serialize_secure_string(d),
    "Obj": lambda s, m, d: s._serialize_obj(m, d),
    "ObjDynamic": lambda s, m, d: s._serialize_dynamic_obj(m, d),
    "LST": lambda s, m, d: s._serialize_lst(m, d),
    "IE": lambda s, m, d: s._serialize_ie(m, d),
    "QUE": lambda s, m, d: s._serialize_que(m, d),
    "STK": lambda s, m, d: s._serialize_stk(m, d),
    "DCT": lambda s, m, d: s._serialize_dct(m, d),
}


class RawOutputSerializer(Serializer):
    """pypsrp's serializer, except that an output object (a PIPELINE_OUTPUT message's ``<Obj>``) is kept as
    its CLIXML, which the executor reads with exconf's own reader (engine/remote/clixml.py), instead of
    being built into pypsrp's generic objects first and then read again: a third of a plan's controller
    CPU went there (issue 20). Every other message (states, errors, warnings, keys) is pypsrp's as before.

    Writing a message, it picks each value's writer from ``_PACK`` rather than from the table pypsrp
    builds per element: the same XML, a third less CPU for a pipeline (issue 20). A CREATE_PIPELINE that
    ``PSRPTransport._run`` marked ``pending`` is written from its shape's template (psrp_templates.py)."""

    pending: "_Pending | None" = None

    def _serialize_string(self, value: str | None) -> str | None:
        # pypsrp escapes "_x" (any case) and control, C1 and astral characters with two re.sub calls per
        # string (a fifth of writing a pipeline); printable ASCII without "_x" is written as it is.
        if value is not None and value.isascii() and value.isprintable() and "_x" not in value and "_X" not in value:
            return value
        return super()._serialize_string(value)

    def deserialize(self, element: Any, metadata: ObjectMeta | None = None, clear: bool = True) -> Any:
        if metadata is None and isinstance(element, str) and element.startswith("<Obj"):
            return RawOutput(element)
        return super().deserialize(element, metadata, clear)

    def serialize(self, value: Any, metadata: ObjectMeta | None = None, parent: ET.Element | None = None,
                  clear: bool = True) -> ET.Element | None:
        pending = self.pending
        if pending is not None and clear and isinstance(value, CreatePipeline):
            self.pending = None
            if value.pipeline is None or value.pipeline.commands is not pending.commands:
                # not the pipeline whose placeholders the template fills: it is never written with them
                raise Untemplatable
            # bytes: pypsrp's Message.pack sends them as they are, as it does a message it need not write
            return pending.templates.write(pending.shape, self, lambda: xml_bytes(self.serialize(value)))  # type: ignore[return-value]
        # pypsrp 0.9 serializer.py Serializer.serialize, step for step, with the writer looked up in _PACK
        if isinstance(value, ET.Element):
            return super().serialize(value, metadata, parent, clear)
        if clear:
            self._clear()
        metadata = metadata or ObjectMeta()
        if metadata.tag == "*":
            if isinstance(value, TaggedValue):
                metadata.tag = value.tag
                value = value.value
            else:
                metadata.tag = self._get_tag_from_value(value)
        pack = _PACK.get(metadata.tag)
        if pack is None:
            return super().serialize(value, metadata, parent, clear=False)
        if value is None:
            if metadata.optional:
                return None
            element = ET.Element("Nil")
        else:
            packed = pack(self, metadata, value)
            if isinstance(packed, str):
                element = ET.Element(metadata.tag)
                element.text = packed
            else:
                element = packed
        if metadata.name is not None:
            element.attrib["N"] = metadata.name
        if parent is not None:
            parent.append(element)
        return element


@dataclass(frozen=True)
class _Pending:
    """The next CREATE_PIPELINE of a pool: its shape, the commands pypsrp will write it from, the run's templates."""

    shape: Shape
    commands: list[Command]
    templates: PipelineTemplates


def _context(pool: RunspacePool) -> tuple[Any, ...] | None:
    """What a CREATE_PIPELINE holds besides its commands, as pypsrp 0.9's PowerShell.begin_invoke makes it for
    exconf (no input, no history, not nested): the protocol version (which Merge* a command carries) and the
    apartment state. A pool with a host of its own is not templated."""
    if pool.host is not None:
        return None
    context = (pool.protocol_version, pool.apartment_state)
    try:
        hash(context)
    except TypeError:
        return None
    return context


@dataclass(frozen=True)
class RawOutput:
    """An output object as the server sent it (``_xml``: the name pypsrp gives the CLIXML it keeps)."""

    _xml: str


def _keep_output_raw(pool: RunspacePool) -> None:
    """Give the pool (and its fragmenter, which reads incoming messages) the serializer above, before it is
    opened. pypsrp 0.9 keeps both as ``_serializer`` and ``_fragmenter.serializer``
    (tests/unit/test_psrp_transport_raw.py fails if a version stops doing so)."""
    serializer = RawOutputSerializer()
    pool._serializer = serializer
    pool._fragmenter.serializer = serializer


class _CopiedShallow(Command):
    """pypsrp's Command, copied shallowly. When pypsrp writes a CREATE_PIPELINE of several statements it
    deep-copies every command twice (Pipeline._get_statements, for the Cmds and the ExtraCmds lists: "in lxml
    [appending] removes it from the original parent"); its serializer builds fresh xml.etree elements from
    the objects, so a copy that shares the parameter values writes the same XML (tests/unit/
    test_psrp_transport_raw.py compares them). Deep-copying was half of a plan's controller CPU (issue 20)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> "_CopiedShallow":
        clone = copy.copy(self)
        clone.args = list(self.args)
        return clone


class ClientKey:
    """The RSA key pair that a run's runspace pools send the server for their session keys (MS-PSRP 3.1.5.4.2:
    the client's PUBLIC_KEY, 2.2.2.3; each server answers with its own session key, encrypted to it), made once,
    when the first pool needs it. pypsrp makes one per pool (46 ms of CPU each: half of an apply's controller
    CPU when every host imports a PFX, issue 20); Windows PowerShell's client makes one per process and gives it
    to every remote session (PowerShell's CryptoUtils.cs, PSRSACryptoServiceProvider.
    GetRSACryptoServiceProviderForClient: "This will reuse the key that has been generated", s_hStaticRSAKey
    "needs to be generated once"). The private key never leaves this object; the run holds it, nothing global."""

    def __init__(self, generate: Callable[[], rsa.RSAPrivateKey] | None = None):
        self._generate = generate or (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self._lock = threading.Lock()
        self._pair: tuple[rsa.RSAPrivateKey, str] | None = None

    def pair(self) -> tuple[rsa.RSAPrivateKey, str]:
        """(the private key, its public key as PUBLIC_KEY's base64 PUBLICKEYBLOB), made on first use."""
        with self._lock:
            if self._pair is None:
                key = self._generate()
                self._pair = (key, public_key_blob(key.public_key()))
            return self._pair


def public_key_blob(public: rsa.RSAPublicKey) -> str:
    """A 2048-bit RSA public key as MS-PSRP 2.2.2.3 sends it: a CAPI PUBLICKEYBLOB (PUBLICKEYSTRUC for
    CALG_RSA_KEYX, "RSA1", bit length, exponent, modulus little-endian), base64 (pypsrp writes the same)."""
    numbers = public.public_numbers()
    header = b"\x06\x02\x00\x00\x00\xa4\x00\x00RSA1\x00\x08\x00\x00"
    return base64.b64encode(header + numbers.e.to_bytes(4, "little") + numbers.n.to_bytes(256, "little")).decode("ascii")


class _SharedKeyPool(RunspacePool):
    """pypsrp's runspace pool, whose key exchange sends the run's ``ClientKey`` instead of making a key pair of
    its own; the rest (the server's ENCRYPTED_SESSION_KEY, decrypted with ``_exchange_key`` by pypsrp, and
    every SecureString after it) is pypsrp's as before (pypsrp 0.9 powershell.py RunspacePool.exchange_keys)."""

    def __init__(self, connection: WSMan, client_key: ClientKey, **kwargs: Any):
        super().__init__(connection, **kwargs)
        self._client_key = client_key

    def exchange_keys(self) -> None:
        if self._key_exchanged or self._exchange_key is not None:
            return
        self._exchange_key, public = self._client_key.pair()
        for fragment in self._fragmenter.fragment(PublicKey(public_key=public), self.id):
            self.shell.send("stdin", fragment)
        start = time.monotonic()
        while not self._key_exchanged:
            if (time.monotonic() - start) * 1000 > self.session_key_timeout_ms:
                raise InvalidPSRPOperation("Timeout while waiting for key exchange")
            self._receive()


class SecureText:
    """A parameter value pypsrp sends as a SecureString (encrypted with the pool's session key)."""

    __slots__ = ("_reveal",)

    def __init__(self, reveal: Callable[[], str]):
        self._reveal = reveal

    def reveal(self) -> str:
        return self._reveal()

    def __repr__(self) -> str:
        return "SecureText(********)"


class _Again(Exception):
    """A Receive answered "nothing yet" (OperationTimeout): ask again."""


def _short(value: object, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
