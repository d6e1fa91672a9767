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
# Where a lab Mailbox server's IIS serves /PowerShell in the tests: above 1024, so that the suite runs
# without root (Exchange's own default is 80/443; docs/lab.md).
IIS_HTTP_PORT = 8080
IIS_HTTPS_PORT = 8443
# Where a lab Edge's sshd listens in the tests (Windows OpenSSH: 22, which needs root here; docs/lab.md).
SSH_PORT = 2222
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


# The doors a lab's inventories take (docs/remote-powershell.md): "psrp" is exconf's default (remote
# PowerShell to Mailbox servers, the program over WinRM to Edges); "winrm" sets ansible_connection: winrm,
# the program everywhere. Every test that makes a lab runs over psrp; the plan/apply/drift scenarios
# (BOTH_DOORS) run over both.
BOTH_DOORS = {
    "test_plan_apply", "test_drift", "test_drift_expiry", "test_drift_outputs", "test_certificates",
    "test_certificates_saved_plan", "test_certificates_prompt", "test_edge_subscription", "test_plan_graph",
    "test_saved_plan", "test_failures", "test_hostile_output", "test_inventory_lab",
}


# The Edge scenarios (certificates, logging, the subscription with its cross-host waves) run over SSH too:
# door "ssh" takes Edges over Windows OpenSSH (ansible_connection: ssh, docs/ssh.md) and Mailbox servers over
# remote PowerShell, as "psrp" does.
EDGE_DOORS = {
    "test_plan_apply", "test_certificates", "test_certificates_saved_plan", "test_edge_subscription", "test_plan_graph",
    "test_hostile_output", "test_wire",
}


@pytest.fixture
def door() -> str:
    """The door of a lab's inventories when a test is not parametrised over both (pytest_generate_tests)."""
    return "psrp"


# Tests of the WinRM transport itself (idle connections, results unknown, faults): their hosts take the
# WinRM door; tests/integration/test_psrp_transport.py holds remote PowerShell's.
WINRM_TRANSPORT = {"test_transport_idle", "test_transport_unknown", "test_transport_faults", "test_transport_watchdog",
                   "test_transport_limits", "test_wire", "test_hostile_memory", "test_cleartext", "test_interrupt_exits"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "door" in metafunc.fixturenames:
        module = metafunc.module.__name__.rsplit(".", 1)[-1]
        doors = ("psrp", "winrm") if module in BOTH_DOORS else ("winrm",) if module in WINRM_TRANSPORT else ("psrp",)
        if module in EDGE_DOORS:
            doors += ("ssh",)
        metafunc.parametrize("door", doors)


def round_trips(lab: "Lab") -> dict[str, int]:
    """What each server ran: WinRS and SSH commands (exconf's program) plus PSRP pipelines (remote PowerShell)."""
    return {name: s["endpoints"]["/wsman"]["commands"] + s["endpoints"]["/PowerShell"]["pipelines"]
            + s["endpoints"]["ssh"]["commands"] for name, s in lab.stats().items()}


def door_vars(door: str, edge: bool = False, known_hosts: Path | None = None) -> dict[str, Any]:
    """What a host's host_vars get for a door: where the lab's IIS serves /PowerShell, WinRM explicitly, or
    for an Edge under "ssh", Windows OpenSSH with the lab's host keys as known_hosts."""
    if door == "winrm":
        return {"ansible_connection": "winrm"}
    if door == "ssh" and edge:
        return {"ansible_connection": "ssh", "ansible_shell_type": "powershell", "ansible_port": SSH_PORT,
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}"}
    return {"ansible_psrp_port": IIS_HTTP_PORT}


def _hosts_of(doc: Any) -> dict[str, str]:
    """Host names of a YAML inventory's groups (all, children, …), each with its ansible_host ("" if none)."""
    out: dict[str, str] = {}

    def group(g: Any) -> None:
        if not isinstance(g, dict):
            return
        for name, hv in (g.get("hosts") or {}).items():
            address = hv.get("ansible_host") if isinstance(hv, dict) else None
            if str(name) not in out or (address and not out[str(name)]):
                out[str(name)] = str(address or "")
        for child in (g.get("children") or {}).values():
            group(child)

    if isinstance(doc, dict):
        for g in doc.values():
            group(g)
    return out


@dataclass
class Lab:
    """A running in-process lab and the files that describe it."""

    dir: Path
    org_file: Path
    state_file: Path
    server: LabServer
    addresses: dict[str, str]  # server name -> address
    door: str = "psrp"
    edges: frozenset[str] = frozenset()  # names of the lab's Edge servers

    @property
    def ca(self) -> Path:
        return self.server.ca_path

    @property
    def known_hosts(self) -> Path:
        """The lab's Edges' SSH host keys in known_hosts form (the lab writes it; an inventory names it)."""
        return self.server.known_hosts_path

    def is_edge_host(self, host: str, address: str) -> bool:
        """Whether an inventory host is one of the lab's Edges: by its address, else by its short name."""
        by_address = {a: n for n, a in self.addresses.items()}
        server = by_address.get(address) or host.split(".", 1)[0].upper()
        return server in self.edges
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
        # The door's connection variables, as host_vars (which win over the inventory's host vars and
        # shift none of its line numbers).
        try:
            hosts = _hosts_of(yaml.safe_load(body))
        except yaml.YAMLError:
            hosts = {}  # a test of a broken inventory: nothing to add
        given = {Path(rel).as_posix() for rel in (files or {})}
        for host, address in (hosts.items() if isinstance(hosts, dict) else []):
            rel = f"host_vars/{host}.yml"
            if rel in given or any(c in host for c in "/\\\0") or host.startswith("."):
                continue
            p = self.dir / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            vars_ = door_vars(self.door, self.is_edge_host(host, address), self.known_hosts if self.door == "ssh" else None)
            p.write_text(yaml.safe_dump(vars_), encoding="utf-8")
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
            server.setdefault("ssh", {"port": SSH_PORT, "default_shell": "powershell"})
        else:
            server.setdefault("iis", {"http_port": IIS_HTTP_PORT, "https_port": IIS_HTTPS_PORT})
        out.append(server)
    doc = {
        "organization": {"name": "Contoso", "domain": "contoso.lab", "netbios": "CONTOSO"},
        "accounts": [{"user": "exadmin", "password": PASSWORD}],
        "servers": out,
        **(extra or {}),
    }
    return doc, addresses


@pytest.fixture
def make_lab(tmp_path: Path, door: str):
    """make_lab(servers, **extra) -> Lab, stopped at the end of the test; its inventories take ``door``."""
    started: list[LabServer] = []

    def _make(servers: list[dict[str, Any]], **extra: Any) -> Lab:
        doc, addresses = org_document(servers, unique_prefix(), extra)
        org = tmp_path / "lab-org.yaml"
        org.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        state = tmp_path / ".lab" / "lab-org.state.json"
        state.parent.mkdir(exist_ok=True)
        server = LabServer(LabStore(org, state), state.parent).start()
        started.append(server)
        edges = frozenset(s["name"] for s in doc["servers"] if s.get("role") == "Edge")
        return Lab(tmp_path, org, state, server, addresses, door, edges)

    yield _make
    for server in started:
        server.stop()


STANDARD = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "subscribed": True},
]
