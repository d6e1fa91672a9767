"""The HTTP side of one host's WinRM connection: a requests session built once, and its sockets.

Why not pywinrm's own ``build_session``: it asks requests to merge proxy
settings from the environment, and requests does that by setting and deleting
``os.environ["no_proxy"]`` around the lookup (psf/requests#4997), which races
with every other thread reading the environment (issue 6 item 7). exconf never
uses a proxy to reach WinRM, so the session is built with ``trust_env = False``:
no environment lookups, per session or per request. pywinrm takes a prepared
session through its public ``Transport.session`` attribute.

The sockets are tracked so that the transport can tell whether the server has
closed its connection while idle, and can cut a request short at its deadline.

Every answer is bounded and never followed elsewhere (issue 14): the adapter,
which every request of the session goes through (requests_ntlm's handshake
included), reads each body itself, at most ``ANSWER_LIMIT`` bytes on the wire
and as many once decoded (a gzip bomb is cut as it inflates), and refuses any
3xx: a redirect would re-post the body, secrets included, to another address.
The watchdog (watchdog.py) bounds how long an answer may take; the transport
bounds the total output of one command (winrm.py).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import ConnectionSettings
from .firsttoken import FirstTokenNtlmAuth

# pywinrm's default headers (winrm/transport.py), which the session must carry; WinRM does not
# compress HTTP bodies, so none is asked for (an answer compressed anyway is still bounded once inflated).
DEFAULT_HEADERS = {"Content-Type": "application/soap+xml;charset=UTF-8", "User-Agent": "Python WinRM client", "Accept-Encoding": "identity"}

# WS-Management's MaxEnvelopeSize is the largest answer a client accepts (MS-WSMV 3.1.4.1.7, DMTF DSP0226
# 6.2): pywinrm asks for 153,600 bytes (winrm/protocol.py DEFAULT_MAX_ENV_SIZE), and WinRM's own default
# MaxEnvelopeSizekb is 500 KB (MS-WSMV 2.2.4.41). Anything bigger than 512 KiB is not a WinRM answer.
ANSWER_LIMIT = 512 * 1024
_READ_CHUNK = 64 * 1024

# pyspnego and requests_ntlm accept "LMHASH:NTHASH" in place of a password ("pass-the-hash",
# requests_ntlm's HttpNtlmAuth docstring; spnego/_ntlm_raw/crypto.py _NTLM_HASH_PATTERN).
_HASH_FORM = re.compile(r"^[a-fA-F0-9]{32}:[a-fA-F0-9]{32}$")


class SocketTracker:
    """The sockets one session has opened; urllib3 opens them, this only watches and can cut them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: weakref.WeakSet[HTTPConnection] = weakref.WeakSet()
        self.opened = 0  # sockets opened so far (a new one under an NTLM session is unauthenticated)

    def pool_classes(self) -> dict[str, type[HTTPConnectionPool]]:
        """urllib3 pool classes whose connections report to this tracker (PoolManager.pool_classes_by_scheme)."""
        tracker = self

        class _Connection(HTTPConnection):
            def connect(self) -> None:
                super().connect()
                tracker._opened(self)

        class _SecureConnection(HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                tracker._opened(self)

        class _Pool(HTTPConnectionPool):
            ConnectionCls = _Connection

        class _SecurePool(HTTPSConnectionPool):
            ConnectionCls = _SecureConnection

        return {"http": _Pool, "https": _SecurePool}

    def _opened(self, conn: HTTPConnection) -> None:
        with self._lock:
            self._conns.add(conn)
            self.opened += 1

    def connected(self) -> bool:
        """True if a socket is open and the server has not closed it (nothing to read on an idle socket)."""
        with self._lock:
            conns = list(self._conns)
        return any(_alive(c) for c in conns)

    def open_count(self) -> int:
        with self._lock:
            conns = list(self._conns)
        return sum(1 for c in conns if c.sock is not None)

    def close_all(self) -> None:
        """Close every socket this session opened, in a pool or not: requests' Session.close() closes
        only idle pooled connections, and one NTLM's handshake left checked out would keep its
        descriptor until garbage collection (measured: 95 sockets held for 32 hosts in flight)."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass

    def abort(self) -> None:
        """Shut every socket down, waking a thread blocked reading it (called from the watchdog thread)."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _alive(conn: HTTPConnection) -> bool:
    try:
        return conn.is_connected
    except (OSError, ValueError):
        return False


class AnswerRefused(Exception):
    """An HTTP answer exconf will not take: too large, or a redirect. ``str()`` says what."""


class AnswerTooLarge(AnswerRefused):
    pass


class Redirected(AnswerRefused):
    def __init__(self, message: str, location: str = ""):
        super().__init__(message)
        self.location = location  # where the server pointed (cut short), for a transport's own message


class BoundedResponse(requests.Response):
    """A response whose body, whoever reads it (requests, requests_ntlm, pywinrm), is read within ``limit``.

    The body is read when first asked for, not as it arrives: requests_ntlm looks at the 401's
    socket (for channel binding) before it reads its body.
    """

    limit: int = ANSWER_LIMIT
    counted: Callable[[int], None] | None = None  # told each body's size once read (a transport's per-command bound)

    @property
    def content(self) -> bytes:
        if self._content is False and not self._content_consumed and self.raw is not None:
            body = read_bounded(self, self.limit)
            if self.counted is not None:
                self.counted(len(body))
        return super().content


class BoundedAdapter(HTTPAdapter):
    """requests' adapter that refuses redirects and bounds every body to ``limit`` bytes (BoundedResponse).

    A PSRP transport (pypsrp builds its own requests session) can mount it as well.
    """

    def __init__(self, *, limit: int = ANSWER_LIMIT, **kwargs: Any):
        self._limit = limit
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().send(request, stream=stream, **kwargs)
        if 300 <= response.status_code < 400:
            response.close()
            where = response.headers.get("Location", "")
            raise Redirected(
                f"the server answered with a redirect (HTTP {response.status_code}{' to ' + where[:200] if where else ''}); "
                "exconf never follows one: a WinRM endpoint does not move, and the request would be sent again elsewhere",
                where[:200],
            )
        response.__class__ = BoundedResponse
        response.limit = self._limit  # type: ignore[attr-defined]
        return response


def read_bounded(response: requests.Response, limit: int) -> bytes:
    """The whole body, or AnswerTooLarge as soon as more than ``limit`` bytes arrive or inflate."""
    announced = response.headers.get("Content-Length", "")
    if announced.strip().isdigit() and int(announced) > limit:
        response.close()
        raise AnswerTooLarge(f"the answer announces {int(announced):,} bytes, more than the {limit:,} an answer may have")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_content(_READ_CHUNK):
        total += len(chunk)
        if total > limit:
            inflated = response.raw.tell() <= limit
            response.close()
            raise AnswerTooLarge(f"the answer passed {limit:,} bytes{' once decompressed' if inflated else ''}, more than an answer may have")
        chunks.append(chunk)
    body = b"".join(chunks)
    response._content = body  # noqa: SLF001 - what requests' own Response.content caches
    return body


class TrackedAdapter(BoundedAdapter):
    """The bounded adapter with one connection per host, no retries, and tracked sockets (through a proxy too),
    so that a watchdog can cut a request short at its deadline (``tracker.abort``); it counts the requests it
    sent and the bytes of the bodies read (after decoding)."""

    def __init__(self, tracker: SocketTracker, *, limit: int = ANSWER_LIMIT):
        self._tracker = tracker
        self.requests_sent = 0
        self.bytes_received = 0  # answer bodies, after decoding (counted where they are bounded)
        self.last_date = ""  # the Date header of the latest answer: the server's clock when it answered
        # max_retries=0: a request is never silently sent twice by urllib3.
        super().__init__(limit=limit, pool_connections=1, pool_maxsize=1, max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._tracker.pool_classes()

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self._tracker.pool_classes()
        return manager

    def send(self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests_sent += 1
        response = super().send(request, stream=stream, **kwargs)
        response.counted = self._received  # type: ignore[attr-defined]
        self.last_date = response.headers.get("Date", "")[:64]
        return response

    def _received(self, size: int) -> None:
        self.bytes_received += size


def hardened_session(cert_validation: bool, ca_trust_path: str | None, tracker: SocketTracker,
                     max_body: int = ANSWER_LIMIT) -> tuple[requests.Session, TrackedAdapter]:
    """A requests session without auth (the caller sets it): no environment lookups, no redirect followed,
    one tracked connection, no retry, each answer bounded to ``max_body``; and its adapter (counters)."""
    session = requests.Session()
    session.trust_env = False  # no proxies, netrc or CA bundle from the environment (psf/requests#4997)
    session.proxies = {}
    session.max_redirects = 0  # the adapter refuses a 3xx first; this is the second lock on that door
    adapter = TrackedAdapter(tracker, limit=max_body)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = (ca_trust_path or True) if cert_validation else False
    return session, adapter


def ntlm_secret(password: str) -> str:
    """The password in the "LMHASH:NTHASH" form, with an empty LM hash.

    pyspnego computes the LM hash (pure-Python DES, ~0.7 ms) for every NTLM
    context it builds, although NTLMv2 (LM_COMPAT_LEVEL 3, its default and
    Windows' since Vista) never uses it. Given the hash form, it skips that
    work; the NT hash (MD4) is the only key NTLMv2 derives from. With an older
    compatibility level requested, the password is passed as it is.
    """
    if _HASH_FORM.match(password) or _lm_compat_level(os.environ.get("LM_COMPAT_LEVEL")) < 3:
        return password
    try:
        from spnego._ntlm_raw.crypto import ntowfv1  # MD4: hashlib has none with OpenSSL 3

        return "0" * 32 + ":" + ntowfv1(password).hex()
    except Exception:  # noqa: BLE001 - pragma: no cover - another pyspnego: no shortcut, same result
        return password


def _lm_compat_level(raw: str | None) -> int:
    try:
        return int(raw) if raw is not None else 3
    except ValueError:
        return 3


def build_session(settings: ConnectionSettings, tracker: SocketTracker, secret: str) -> requests.Session:
    """A requests session for one host: no I/O, no environment lookups, one tracked connection.

    ``secret`` is what authenticates (``ntlm_secret(password)`` for NTLM; Kerberos takes the
    password, or the credential cache, from the settings).
    """
    session = requests.Session()
    session.max_redirects = 0  # the adapter refuses a 3xx first; this is the second lock on that door
    session.trust_env = False  # no proxies, netrc or CA bundle from the environment (psf/requests#4997)
    session.proxies = {}
    adapter = TrackedAdapter(tracker)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if not settings.cert_validation:
        session.verify = False
    else:
        session.verify = settings.ca_trust_path or True
    if settings.auth == "ntlm":
        session.auth = FirstTokenNtlmAuth(settings.user, secret, send_cbt=True)  # NEGOTIATE on the first request
    elif settings.auth == "kerberos":
        from .kerberos import http_auth

        session.auth = http_auth(settings)
    else:
        session.auth = requests.auth.HTTPBasicAuth(settings.user, secret)
    session.headers.update(DEFAULT_HEADERS)
    return session
