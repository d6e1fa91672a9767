"""Where messages go: a webhook (Slack/Teams), syslog (RFC 5424) and a JSON Lines file (for a SIEM).

Each sink delivers one payload or raises SinkError saying where (a webhook only by scheme and host: its URL
carries its secret in the path) and why. The outbox (outbox.py) decides what to send and when to try again.

Syslog messages follow RFC 5424 §6: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG``, with the
event's fields as structured data under exconf's SD-ID (``exconf@32473``: 32473 is the private enterprise
number RFC 5612 reserves for documentation and examples), sent to a local socket (``unix:/dev/log``, as
journald and rsyslog listen), over UDP (RFC 5426, one message per datagram) or over TCP with octet counting
(RFC 6587 §3.4.1).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from ..transport.session import AnswerRefused, SocketTracker, TrackedAdapter
from ..transport.watchdog import Watchdog

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0  # each read of the socket
DEADLINE = 20.0  # the whole request to a webhook
BODY_LIMIT = 64 * 1024  # what may be read of an answer (only its status is looked at)
SD_ID = "exconf@32473"
FACILITY_DAEMON = 3
SYSLOG_MAX_UDP = 8192  # bytes of one datagram we send (RFC 5426 §3.2: receivers SHOULD take 2048; most take more)


class SinkError(Exception):
    """A payload was not delivered; ``str(e)`` says where (never a secret) and why."""


class Sink(Protocol):
    name: str  # webhook | syslog | events

    def deliver(self, payload: dict[str, Any]) -> None: ...

    def describe(self) -> str: ...


def where(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}/…"


def check_url(url: str) -> str | None:
    """None when the URL can be posted to; otherwise what is wrong (without echoing the URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the webhook needs an http:// or https:// URL with a host"
    return None


@dataclass
class Webhook:
    url: str
    name: str = "webhook"

    def describe(self) -> str:
        return f"the webhook {where(self.url)}"

    def deliver(self, payload: dict[str, Any]) -> None:
        """POST the message, bounded like a WinRM host (issue 14): the whole request — connecting, sending, the
        status line and headers — ends within ``DEADLINE`` seconds however slowly the receiver drips (the watchdog
        then shuts the socket down); the answer's body is never read, only its status; a redirect is never followed."""
        tracker = SocketTracker()
        session = requests.Session()  # proxies from the environment still apply: a webhook is often reached through one
        session.max_redirects = 0
        adapter = TrackedAdapter(tracker, limit=BODY_LIMIT)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        watchdog = Watchdog()
        deadline = watchdog.arm(DEADLINE, tracker.abort)
        try:
            with session.post(self.url, json=payload, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False,
                              stream=True) as response:
                status = response.status_code  # the body is never read
            if deadline.expired:  # headers cut short at the deadline can still parse as an answer: it is not one
                raise requests.Timeout()
        except AnswerRefused as exc:
            raise SinkError(f"the notification to {where(self.url)} was not delivered: {str(exc).split(';')[0]}; not followed") from None
        except requests.RequestException as exc:
            if deadline.expired or isinstance(exc, requests.Timeout):
                within = DEADLINE if deadline.expired else READ_TIMEOUT
                raise SinkError(f"the notification to {where(self.url)} timed out (no answer within {within:.0f} s)") from None
            if isinstance(exc, requests.ConnectionError):
                raise SinkError(f"the notification to {where(self.url)} could not connect (refused or unreachable)") from None
            raise SinkError(f"the notification to {where(self.url)} failed ({type(exc).__name__})") from None
        finally:
            deadline.cancel()
            watchdog.close()
            tracker.close_all()
            session.close()
        if not 200 <= status < 300:
            raise SinkError(f"the notification to {where(self.url)} was refused: HTTP {status}")


def parse_syslog_target(text: str) -> tuple[str, str, int]:
    """``unix:/dev/log``, ``udp://host:514``, ``tcp://host:601`` → (transport, host or path, port); ValueError otherwise."""
    if text.startswith("unix:"):
        path = text[5:].removeprefix("//")
        if not path.startswith("/"):
            raise ValueError(f"--syslog {text!r}: a unix socket needs an absolute path (unix:/dev/log)")
        return "unix", path, 0
    parts = urlsplit(text)
    if parts.scheme not in ("udp", "tcp") or not parts.hostname:
        raise ValueError(f"--syslog {text!r}: use unix:/dev/log, udp://HOST[:514] or tcp://HOST[:601]")
    try:
        port = parts.port or (514 if parts.scheme == "udp" else 601)
    except ValueError:
        raise ValueError(f"--syslog {text!r}: the port is not a number") from None
    return parts.scheme, parts.hostname, port


def _sd_value(value: str) -> str:
    """PARAM-VALUE escapes '"', '\\' and ']' (RFC 5424 §6.3.3)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _printable(text: str, limit: int) -> str:
    """HOSTNAME, APP-NAME, MSGID: PRINTUSASCII (33-126), bounded; NILVALUE when empty."""
    out = "".join(c for c in text if 33 <= ord(c) <= 126)[:limit]
    return out or "-"


SEVERITY = {"emergency": 0, "alert": 1, "critical": 2, "error": 3, "warning": 4, "notice": 5, "info": 6}


def syslog_severity(event: dict[str, Any]) -> int:
    kind = event.get("event", "")
    if kind == "drift_appeared":
        return {"critical": 2, "high": 3}.get(str(event.get("severity")), 4)
    if kind == "not_checked":
        return 3
    return 5  # resolved, corrected, checked again, no longer declared


def rfc5424(event: dict[str, Any], *, hostname: str, pid: int, app: str = "exconf") -> bytes:
    """One RFC 5424 message for one event (its time is the run's start, when the transition was seen)."""
    pri = FACILITY_DAEMON * 8 + syslog_severity(event)
    params = {k: str(event[k]) for k in ("host", "resource", "name", "severity", "since", "resolved", "inventory") if event.get(k)}
    who = event.get("changed_by") or {}
    if who.get("caller"):
        params["changed_by"] = str(who["caller"])
    sd = "[" + SD_ID + "".join(f' {k}="{_sd_value(v)}"' for k, v in params.items()) + "]"
    header = f"<{pri}>1 {event.get('at') or '-'} {_printable(hostname, 255)} {_printable(app, 48)} {_printable(str(pid), 128)} " \
             f"{_printable(str(event.get('event', '')), 32)} {sd} "
    return header.encode("ascii", "replace") + b"\xef\xbb\xbf" + str(event.get("text", "")).encode("utf-8")


@dataclass
class Syslog:
    target: str
    name: str = "syslog"

    def describe(self) -> str:
        transport, host, port = parse_syslog_target(self.target)
        return f"syslog {transport}:{host}{':' + str(port) if port else ''}"

    def deliver(self, payload: dict[str, Any]) -> None:
        transport, host, port = parse_syslog_target(self.target)
        message = rfc5424(payload, hostname=socket.getfqdn(), pid=os.getpid())
        try:
            if transport == "unix":
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                    s.settimeout(CONNECT_TIMEOUT)
                    s.connect(host)
                    s.send(message)
            elif transport == "udp":
                with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(message[:SYSLOG_MAX_UDP], (host, port))
            else:
                with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as s:
                    s.sendall(str(len(message)).encode("ascii") + b" " + message)  # octet counting, RFC 6587 §3.4.1
        except OSError as exc:
            raise SinkError(f"{self.describe()} did not take the message: {exc.strerror or exc}") from None


@dataclass
class JsonLines:
    path: Path
    name: str = "events"

    def describe(self) -> str:
        return f"the events file {self.path}"

    def deliver(self, payload: dict[str, Any]) -> None:
        line = json.dumps({k: v for k, v in payload.items() if k != "text"} | {"text": payload.get("text", "")},
                          ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise SinkError(f"cannot append to {self.path}: {exc.strerror or exc}") from None
