"""The control socket of a running lab: line-delimited JSON over a Unix domain socket.

Operations: ``ping``, ``stats``, ``exec`` (a console command), ``clock`` (read or
advance the lab clock), ``stop``. The socket is created mode 0600 in the private
runtime directory, so only its owner can talk to the lab.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from .inprocess import LabServer
from .registry import RUNTIME_ENV, LabError

log = logging.getLogger(__name__)

SOCK_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS


class ControlServer:
    """Line-delimited JSON over a Unix domain socket; one thread per client."""

    def __init__(self, path: Path, lab: LabServer, on_stop: threading.Event):
        self.path = path
        self.lab = lab
        self.on_stop = on_stop
        self.last_activity = time.monotonic()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._clients_lock = threading.Lock()
        self._clients: dict[socket.socket, threading.Thread] = {}

    def start(self) -> "ControlServer":
        if len(str(self.path).encode()) > SOCK_PATH_MAX:
            raise LabError(f"the control socket path {self.path} is too long for a Unix socket; set {RUNTIME_ENV} to a shorter directory")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="lab-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._sock is not None:
            # A connection of our own wakes accept() (shutdown() does not, on a Unix socket).
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as poke:
                poke.connect(str(self.path))
        if self._thread is not None:
            self._thread.join(2.0)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        # A client still connected must not go on running commands on a stopped lab.
        with self._clients_lock:
            clients = dict(self._clients)
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        for thread in clients.values():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self._closing.is_set():
                conn.close()
                return
            thread = threading.Thread(target=self._client, args=(conn,), name="lab-control-client", daemon=True)
            with self._clients_lock:
                self._clients[conn] = thread
            thread.start()

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(300.0)
        try:
            self._converse(conn)
        except OSError:  # the client went away or idled out
            pass
        finally:
            with self._clients_lock:
                self._clients.pop(conn, None)
            conn.close()

    def _converse(self, conn: socket.socket) -> None:
        with conn.makefile("rwb") as stream:
            for line in stream:
                if not line.strip():
                    continue
                self.last_activity = time.monotonic()
                try:
                    request = json.loads(line)
                    answer = self.dispatch(request if isinstance(request, dict) else {})
                except json.JSONDecodeError:
                    answer = {"ok": False, "error": "the request is not JSON"}
                stream.write(json.dumps(answer, default=str).encode("utf-8") + b"\n")
                stream.flush()
                if answer.get("stopping"):
                    self.on_stop.set()

    def dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "stats":
            return {"ok": True, "stats": self.lab.stats()}
        if op == "stop":
            return {"ok": True, "stopping": True}
        if op == "exec":
            return self._exec(request)
        if op == "clock":
            return self._clock(request)
        if op == "events":
            return self._events(request)
        return {"ok": False, "error": f"unknown operation {op!r}"}

    def _events(self, request: dict[str, Any]) -> dict[str, Any]:
        """A server's module logging events (4103), oldest first."""
        server = str(request.get("server", ""))
        names = {s.name.lower(): s.name for s in self.lab.store.servers}
        names.update({s.fqdn.lower(): s.name for s in self.lab.store.servers})
        if server.lower() not in names:
            return {"ok": False, "error": f"this lab has no server named {server!r}"}
        events = self.lab.store.event_logs.events(names[server.lower()])
        return {"ok": True, "server": names[server.lower()], "events": [e.to_json() for e in events]}

    def _exec(self, request: dict[str, Any]) -> dict[str, Any]:
        server = str(request.get("server", ""))
        cmdlet = str(request.get("cmdlet", ""))
        params = request.get("params") or {}
        if not server or not cmdlet or not isinstance(params, dict):
            return {"ok": False, "error": "exec needs a server, a cmdlet and params (an object)"}
        names = {s.name.lower(): s.name for s in self.lab.store.servers}
        names.update({s.fqdn.lower(): s.name for s in self.lab.store.servers})
        if server.lower() not in names:
            return {"ok": False, "error": f"this lab has no server named {server!r}"}
        from ..exchange.store import ConsoleError

        warnings: list[str] = []
        try:
            as_account = {"account": str(request["account"])} if request.get("account") else {}
            objects = self.lab.store.exec_console(names[server.lower()], cmdlet, params, warnings, **as_account)
        except ConsoleError as exc:  # a user-ready message, as the console would print it
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug in the lab
            log.exception("lab exec %s on %s failed", cmdlet, server)
            # The exception's type only: its text or repr may carry whatever it was handed (a
            # UnicodeEncodeError holds the whole string it could not encode: issue 6, item 9).
            return {"ok": False, "error": f"internal error in the lab: {type(exc).__name__} (the lab's output has the traceback)"}
        return {"ok": True, "objects": objects, "warnings": warnings}



    def _clock(self, request: dict[str, Any]) -> dict[str, Any]:
        """Read the lab clock, or move it forward by ``advance`` seconds (never backward)."""
        advance = request.get("advance", 0)
        if isinstance(advance, bool) or not isinstance(advance, (int, float)) or not math.isfinite(advance) or advance < 0:
            return {"ok": False, "error": "clock advance needs a number of seconds, zero or more"}
        now = self.lab.store.advance_clock(float(advance)) if advance else self.lab.store.clock_now()
        return {"ok": True, "now": now.isoformat(), "offset_seconds": self.lab.store.clock_offset()}
