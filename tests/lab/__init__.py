"""Test helpers for the lab's network side: a fake backend with the store's shapes.

The WinRM server and the runtime are tested on their own with a fake backend
that answers with the store's data shapes (imported from the store).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

TESTS_DIR = Path(__file__).resolve().parent.parent


# The store's own value types: the fake backend below differs from the store only in what it runs.
from exconf.lab.exchange.spec import Account, Faults, ServerSpec, WinRMSettings  # noqa: E402
from exconf.lab.exchange.store import CommandResult, ConsoleError, OrgFileError  # noqa: E402

DOMAIN_ADMIN = Account("CONTOSO", "exadmin", "Pa55:word!")  # a colon, to exercise the hash form of NTLM_USER_FILE


# --- unique loopback addresses and free ports ----------------------------------------------

_counter = itertools.count(1)


def unique_address() -> str:
    """127.77.X.Y, different per test process and per call (parallel runs do not collide)."""
    n = next(_counter)
    third = (os.getpid() % 200) + 1 + (n // 250)
    return f"127.77.{third % 255}.{(n % 250) + 1}"


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def make_spec(name: str = "EX01", *, accounts: tuple[Account, ...] | None = None, codepage: int = 437,
              role: str = "Mailbox", winrm: dict[str, Any] | None = None, faults: dict[str, Any] | None = None,
              address: str | None = None) -> ServerSpec:
    address = address or unique_address()
    settings = WinRMSettings(http_port=free_port(address), https_port=free_port(address), **(winrm or {}))
    if accounts is None:
        accounts = (DOMAIN_ADMIN, Account(name, "localadmin", "L0cal-pw"))
    return ServerSpec(
        name=name,
        fqdn=f"{name.lower()}.contoso.com",
        role=role,
        version="15.2.1544.4",
        site="Amsterdam",
        address=address,
        codepage=codepage,
        winrm=settings,
        faults=Faults(**(faults or {})),
        accounts=accounts,
    )


# --- the fake backend --------------------------------------------------------------------------


@dataclass
class FakeBackend:
    """Answers each command with what it saw, as JSON on stdout.

    ``echo`` writes its stdin back; ``fail`` exits 3 with a message on stderr;
    ``wait`` blocks until ``release`` is set (a slow command).
    """

    calls: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def run_command(self, server: Any, command: str, arguments: list[str], stdin: bytes, codepage: int,
                    caller: str = "", logon: Any = None) -> CommandResult:
        seen = {"server": server.name, "command": command, "arguments": arguments, "stdin_len": len(stdin), "codepage": codepage}
        self.calls.append(seen)
        if command == "echo":
            return CommandResult(stdin, b"", 0)
        if command == "fail":
            return CommandResult(b"", b"it failed\r\n", 3)
        if command == "wait":
            self.release.wait(30)
        return CommandResult(json.dumps(seen).encode(), b"", 0)

    def run_process(self, server: Any, command: str, arguments: list[str], stdin: Any, stdout: Any, stderr: Any,
                    codepage: int, caller: str = "", logon: Any = None) -> int:
        """A WinRS process: reads its standard input to the end, then answers as run_command does."""
        done = self.run_command(server, command, arguments, stdin.read(), codepage, caller, logon)
        stdout(done.stdout)
        stderr(done.stderr)
        return done.exit_code


# --- a fake store for the runtime (same constructor and methods as LabStore) -----------------------


class FakeStore(FakeBackend):
    """A LabStore look-alike reading a JSON org file: {"servers": [{name, address, http_port, https_port, ...}]}."""

    def __init__(self, org_path: Path, state_path: Path):
        super().__init__()
        try:
            doc = json.loads(Path(org_path).read_text())
        except (OSError, ValueError) as exc:
            raise OrgFileError(f"{org_path}: not a lab organisation file ({exc})") from exc
        self.state_path = Path(state_path)
        self.servers = tuple(
            replace(
                make_spec(s["name"], address=s["address"], faults=s.get("faults")),
                winrm=WinRMSettings(http_port=s["http_port"], https_port=s["https_port"]),
            )
            for s in doc["servers"]
        )
        self.saved = 0
        self.clock = 0.0
        self.console: list[tuple[str, str, dict]] = []

    def exec_console(self, server_name: str, cmdlet: str, params: dict, warnings: list | None = None) -> list[dict]:
        if cmdlet == "Get-Fail":
            raise ConsoleError("The term 'Get-Fail' is not recognized")
        if cmdlet == "Set-Nothing" and warnings is not None:
            warnings.append(f"The command completed successfully but no settings of '{params.get('Identity')}' have been modified.")
        self.console.append((server_name, cmdlet, params))
        return [{"Server": server_name, "Cmdlet": cmdlet, **params}]

    def save(self) -> None:
        self.saved += 1
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps({"saved": self.saved}))

    def close(self) -> None:
        self.save()

    def clock_now(self):
        from datetime import datetime, timedelta, timezone

        return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=self.clock)

    def clock_offset(self) -> float:
        return self.clock

    def advance_clock(self, seconds: float):
        self.clock += seconds
        return self.clock_now()


def write_fake_org(path: Path, names: tuple[str, ...] = ("EX01", "EDGE01"), unreachable: tuple[str, ...] = ()) -> Path:
    servers = []
    for name in names:
        address = unique_address()
        servers.append({
            "name": name, "address": address, "http_port": free_port(address), "https_port": free_port(address),
            "faults": {"unreachable": name in unreachable},
        })
    path.write_text(json.dumps({"servers": servers}))
    return path


def install_fake_store() -> None:
    """Make ``exconf.lab.exchange.store`` the fake (used by detached test labs)."""
    import types

    module = types.ModuleType("exconf.lab.exchange.store")
    module.LabStore = FakeStore  # type: ignore[attr-defined]
    module.OrgFileError = OrgFileError  # type: ignore[attr-defined]
    module.ConsoleError = ConsoleError  # type: ignore[attr-defined]
    sys.modules["exconf.lab.exchange.store"] = module


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
