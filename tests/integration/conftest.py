"""A lab per test, served in this process on addresses no other test uses, and inventories for it."""

from __future__ import annotations

import itertools
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from exconf.lab.exchange.store import LabStore
from exconf.lab.runtime import LabServer

PASSWORD = "Lab-Exadmin-1"
EDGE_PASSWORD = "Lab-EdgeAdmin-1"
_counter = itertools.count(1)


def _worker() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name[2:].isdigit() else 0


def unique_prefix() -> str:
    """127.<base+worker>.<n>: a /24 of loopback addresses for one test.

    EXCONF_TEST_NET (default 150) moves the base, so that two checkouts can run
    their suites at once on one machine without sharing addresses.
    """
    base = int(os.environ.get("EXCONF_TEST_NET", "150"))
    return f"127.{base + _worker()}.{next(_counter) % 250 + 1}"


@dataclass
class Lab:
    """A running in-process lab and the files that describe it."""

    dir: Path
    org_file: Path
    state_file: Path
    server: LabServer
    addresses: dict[str, str]  # server name -> address

    @property
    def ca(self) -> Path:
        return self.server.ca_path

    def stats(self) -> dict[str, Any]:
        return self.server.stats()["servers"]

    def exec(self, server: str, cmdlet: str, **params: Any) -> list[dict[str, Any]]:
        return self.server.store.exec_console(server, cmdlet, params)

    def inventory(self, text: str, name: str = "inventory.yaml", files: dict[str, str] | None = None) -> Path:
        """Write an inventory; {EX01} style fields are replaced by the servers' addresses, {CA} by the CA file."""
        body = textwrap.dedent(text).lstrip("\n")
        for server, address in self.addresses.items():
            body = body.replace("{" + server + "}", address)
        body = body.replace("{CA}", str(self.ca))
        path = self.dir / name
        path.write_text(body, encoding="utf-8")
        for rel, content in (files or {}).items():
            p = self.dir / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return path


def org_document(servers: list[dict[str, Any]], prefix: str, extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    addresses = {}
    out = []
    for i, server in enumerate(servers, start=1):
        server = dict(server)
        server.setdefault("address", f"{prefix}.{i}")
        addresses[server["name"]] = server["address"]
        if server.get("role") == "Edge":
            server.setdefault("local_accounts", [{"user": "Administrator", "password": EDGE_PASSWORD}])
            server.setdefault("winrm", {"basic": True})
        out.append(server)
    doc = {
        "organization": {"name": "Contoso", "domain": "contoso.lab", "netbios": "CONTOSO"},
        "accounts": [{"user": "exadmin", "password": PASSWORD}],
        "servers": out,
        **(extra or {}),
    }
    return doc, addresses


@pytest.fixture
def make_lab(tmp_path: Path):
    """make_lab(servers, kdc=None, **extra) -> Lab, stopped at the end of the test.

    With ``kdc`` (the session's realm, tests/conftest.py), the organisation's accounts and servers
    get their principals and the lab its keytabs: its servers accept Kerberos."""
    started: list[LabServer] = []

    def _make(servers: list[dict[str, Any]], kdc: Any = None, **extra: Any) -> Lab:
        doc, addresses = org_document(servers, unique_prefix(), extra)
        if kdc is not None:
            kdc.provision(doc)
            doc["kerberos"] = {"keytabs": str(kdc.kdc.keytab_dir)}
        org = tmp_path / "lab-org.yaml"
        org.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        state = tmp_path / ".lab" / "lab-org.state.json"
        state.parent.mkdir(exist_ok=True)
        server = LabServer(LabStore(org, state), state.parent).start()
        started.append(server)
        return Lab(tmp_path, org, state, server, addresses)

    yield _make
    for server in started:
        server.stop()


STANDARD = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "subscribed": True},
]
