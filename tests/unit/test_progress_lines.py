"""Per-host lines while hosts are read: every host up to 50, only problems beyond (the user guide's promise)."""

from __future__ import annotations

import io

from rich.console import Console

from exconf.commands import progress
from exconf.inventory import Host
from exconf.model import HostStatus
from exconf.runner import Session


class _Run:
    def __init__(self, sessions: dict[str, Session]):
        self.sessions = sessions


def _session(name: str, status: HostStatus = HostStatus.OK, error: str = "") -> Session:
    s = Session(Host(name, 0, frozenset(), {}, {}))
    if status is not HostStatus.OK:
        s.fail(status, error)
    return s


def test_every_host_gets_a_line_up_to_fifty_and_only_problems_beyond() -> None:
    for quiet in (False, True):
        buffer = io.StringIO()
        err = Console(file=buffer, color_system=None, width=200)
        status, event = progress(err, quiet=quiet)
        assert status is None  # not a terminal: no live count
        run = _Run({"ex01": _session("ex01"), "ex02": _session("ex02", HostStatus.UNREACHABLE, "no answer within 30 s\nmore")})
        event("read", "ex01", 1, 2, run)
        event("read", "ex02", 2, 2, run)
        text = buffer.getvalue()
        assert "unreachable: ex02: no answer within 30 s\n" in text and "more" not in text
        assert ("read ok: ex01" in text) is (not quiet)
