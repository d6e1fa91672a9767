"""Notifications when drift appears or is resolved (not on every run).

One POST of JSON to an incoming-webhook URL. The body has ``text`` (what Slack incoming
webhooks and Teams' Office 365 connector webhooks display; both accept a plain ``{"text": …}``)
plus exconf's own ``exconf`` object with the details. Webhook URLs carry their secret in the
path, so a message about a failure names only the scheme and host. A failure is reported,
never fatal; the message carries findings (names and values already shown in the report, with
sensitive values hidden), never a secret.

The receiver is bounded like a WinRM host (issue 14): the whole request — connecting,
sending, the status line and headers — must end within ``DEADLINE`` seconds, however slowly
the receiver drips (the watchdog then shuts the socket down); its body is never read, only
its status; and a redirect is never followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from ..transport.session import AnswerRefused, SocketTracker, TrackedAdapter
from ..transport.watchdog import Watchdog
from .report import DriftReport, differing

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0  # each read of the socket
DEADLINE = 20.0  # the whole request
BODY_LIMIT = 64 * 1024  # what may be read of an answer (only its status is looked at)


class NotifyError(Exception):
    """The notification was not delivered; ``str(e)`` says where (scheme and host only) and why."""


def where(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}/…"


def check_url(url: str) -> str | None:
    """None when the URL can be posted to; otherwise what is wrong (without echoing the URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "--notify needs an http:// or https:// URL with a host"
    return None


@dataclass(frozen=True)
class Message:
    text: str
    body: dict[str, Any]


def message(report: DriftReport, inventory: str) -> Message | None:
    """The message for this run, or None when nothing appeared or was resolved."""
    if not report.appeared and not report.resolved:
        return None
    items = {i.key: i for i in report.items}
    lines = []
    if report.appeared:
        lines.append(f"exconf: drift appeared on {len(report.appeared)} object(s) in {inventory}")
        for key in report.appeared[:20]:
            item = items[key]
            props = ", ".join(p.prop for p in differing(item.finding))
            who = f" (changed by {item.who.caller} at {item.who.when})" if item.who else ""
            lines.append(f"• {key[0]}: {key[1]} {key[2]}{': ' + props if props else ''}{who}")
    if report.resolved:
        lines.append(f"exconf: drift resolved on {len(report.resolved)} object(s) in {inventory}")
        for r in report.resolved[:20]:
            lines.append(f"• {r.host}: {r.kind} {r.name} (drifting since {r.since})")
    body = {
        "text": "\n".join(lines),
        "exconf": {
            "inventory": inventory,
            "started": report.started,
            "exit_code": report.exit_code,
            "appeared": [items[k].to_json() for k in report.appeared],
            "resolved": [r.to_json() for r in report.resolved],
        },
    }
    return Message(body["text"], body)


def send(url: str, msg: Message) -> None:
    """POST the message; NotifyError on any failure (refused, timed out, redirected, an HTTP error status)."""
    tracker = SocketTracker()
    session = requests.Session()  # proxies from the environment still apply: a webhook is often reached through one
    session.max_redirects = 0
    adapter = TrackedAdapter(tracker, limit=BODY_LIMIT)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    watchdog = Watchdog()
    deadline = watchdog.arm(DEADLINE, tracker.abort)
    try:
        with session.post(url, json=msg.body, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False, stream=True) as response:
            status = response.status_code  # the body is never read
        if deadline.expired:  # headers cut short at the deadline can still parse as an answer: it is not one
            raise requests.Timeout()
    except AnswerRefused as exc:
        raise NotifyError(f"the notification to {where(url)} was not delivered: {str(exc).split(';')[0]}; not followed") from None
    except requests.RequestException as exc:
        if deadline.expired or isinstance(exc, requests.Timeout):
            raise NotifyError(f"the notification to {where(url)} timed out (no answer within {DEADLINE if deadline.expired else READ_TIMEOUT:.0f} s)") from None
        if isinstance(exc, requests.ConnectionError):
            raise NotifyError(f"the notification to {where(url)} could not connect (refused or unreachable)") from None
        raise NotifyError(f"the notification to {where(url)} failed ({type(exc).__name__})") from None
    finally:
        deadline.cancel()
        watchdog.close()
        tracker.close_all()
        session.close()
    if not 200 <= status < 300:
        raise NotifyError(f"the notification to {where(url)} was refused: HTTP {status}")
