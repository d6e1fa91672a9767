"""Deadlines for whole requests: one thread that calls a function when a deadline passes.

requests' timeout bounds each socket read, not a request: a server trickling
one byte a second never trips it (issue 6 item 2). The transport arms a
deadline around every WS-Man exchange; when it passes, the watchdog shuts the
host's sockets down, which wakes the blocked read at once. One watchdog can
serve every host of a run (one thread in all), or each transport makes its own.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

IDLE_EXIT = 5.0  # seconds the thread waits with nothing armed before it ends


@dataclass(order=True)
class _Entry:
    deadline: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Deadline:
    """An armed deadline; ``expired`` tells whether its callback ran."""

    def __init__(self, entry: _Entry, watchdog: "Watchdog"):
        self._entry = entry
        self._watchdog = watchdog
        self.expired = False

    def cancel(self) -> None:
        self._watchdog._cancel(self._entry)


class Watchdog:
    """Runs callbacks at their deadlines on one daemon thread, started on first use."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def arm(self, seconds: float, callback: Callable[[], None]) -> Deadline:
        """Call ``callback`` in ``seconds`` unless cancelled first."""
        holder: list[Deadline] = []

        def fire() -> None:
            holder[0].expired = True
            callback()

        entry = _Entry(self._clock() + seconds, next(self._seq), fire)
        deadline = Deadline(entry, self)
        holder.append(deadline)
        with self._cond:
            if self._closed:
                self._closed = False
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="exconf-watchdog", daemon=True)
                self._thread.start()
            elif self._heap[0] is entry:
                self._cond.notify()
        return deadline

    def _cancel(self, entry: _Entry) -> None:
        # Dropped lazily when it reaches the top of the heap. No lock: setting an attribute is atomic, and every
        # worker thread cancels a deadline per request, so taking the one condition here made them queue for it
        # (issue 20). A deadline already popped runs its callback either way, as it did under the lock.
        entry.cancelled = True

    def close(self) -> None:
        """Stop the thread (pending deadlines are dropped); arm() starts it again."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
            self._thread = None
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    while self._heap and self._heap[0].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        # Nothing armed: the thread leaves after a while (arm() starts a new one),
                        # so hosts that wait for approval hold no thread.
                        if not self._cond.wait(IDLE_EXIT) and not self._heap:
                            if self._thread is threading.current_thread():
                                self._thread = None
                            return
                        continue
                    wait = self._heap[0].deadline - self._clock()
                    if wait <= 0:
                        entry = heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
            try:
                entry.callback()
            except Exception:  # noqa: BLE001 - a callback must never kill the watchdog
                pass
