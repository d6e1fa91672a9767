"""Delivering the outbox: every message a run made waits in the history until its sink takes it.

Each run, after the history is written, tries what is due, oldest first, per sink (a sink that fails keeps
its order: the rest of its messages wait for the next run). A failed message is tried again on the next run,
then with backoff (1 min, 2, 4 … at most 6 h between attempts) until it is delivered or older than the history's
retention; the report says what is still undelivered. Delivery is at least once: a message whose delivery
was not recorded (the process died in between) is sent again, with the same ``id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .history import History, OutboxItem, now_text, parse_time
from .sinks import Sink, SinkError

BACKOFF_FIRST = 60
BACKOFF_MAX = 6 * 3600


def next_attempt(now: str, attempts: int) -> str:
    """After a first failure, the next run tries again; then 1 min, 2, 4 … at most 6 h between attempts."""
    delay = 0 if attempts <= 1 else min(BACKOFF_FIRST * 2 ** (attempts - 2), BACKOFF_MAX)
    return now_text(parse_time(now) + timedelta(seconds=delay))


@dataclass(frozen=True)
class Delivery:
    delivered: int
    failures: tuple[str, ...]  # one line per sink that failed this run
    undelivered: tuple[dict[str, Any], ...]  # what is still waiting: sink, created, attempts, error, next attempt


def deliver(db: History, sinks: dict[str, Sink], now: str) -> Delivery:
    pending = db.pending()
    done: list[int] = []
    failed: list[tuple[int, int, str, str]] = []
    failures: list[str] = []
    blocked: set[str] = set()
    left: list[OutboxItem] = []
    for item in pending:
        sink = sinks.get(item.sink)
        if sink is None or item.sink in blocked or item.next_attempt > now:
            left.append(item)
            continue
        try:
            sink.deliver(item.payload | {"id": f"{item.created}/{item.id}"} if item.sink != "webhook" else item.payload)
        except SinkError as exc:
            attempts = item.attempts + 1
            failed.append((item.id, attempts, next_attempt(now, attempts), str(exc)))
            failures.append(str(exc))
            blocked.add(item.sink)
            left.append(OutboxItem(item.id, item.sink, item.created, item.payload, attempts, next_attempt(now, attempts), str(exc)))
            continue
        done.append(item.id)
    db.settle(done, failed)
    undelivered = tuple({"sink": i.sink, "created": i.created, "attempts": i.attempts, "error": i.last_error,
                         "next_attempt": i.next_attempt if i.sink in sinks else None,
                         "note": "" if i.sink in sinks else f"no {i.sink} is configured in this run"} for i in left)
    return Delivery(len(done), tuple(failures), undelivered)
