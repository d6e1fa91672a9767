"""A lab per test, served in this process on addresses no other test uses, and inventories for it."""

from __future__ import annotations

import itertools
import os
import textwrap
from dataclasses import dataclass, field
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
    "test_saved_plan", "test_failures", "test_hostile_output", "test_inventory_lab", "test_certificate_requests", "test_auth_certificate",
}


# The Edge scenarios (certificates, logging, the subscription with its cross-host waves) run over SSH too:
# door "ssh" takes Edges over Windows OpenSSH (ansible_connection: ssh, docs/ssh.md) and Mailbox servers over
# remote PowerShell, as "psrp" does. Module logging's 4103 events (test_module_logging) must hold no secret
# whichever door brought the program.
EDGE_DOORS = {
    "test_plan_apply", "test_certificates", "test_certificates_saved_plan", "test_edge_subscription", "test_plan_graph",
    "test_hostile_output", "test_wire", "test_module_logging",
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
    """What each server ran: exconf's program's payloads (a WinRS Send each: the program runs on in its shell; an SSH
    command each) plus PSRP pipelines (remote PowerShell)."""
    return {name: s["endpoints"]["/wsman"]["sends"] + s["endpoints"]["/PowerShell"]["pipelines"]
            + s["endpoints"]["ssh"]["commands"] for name, s in lab.stats().items()}


def door_vars(door: str, role: str = "Mailbox", user: str = "", known_hosts: Path | None = None) -> dict[str, Any]:
    """What a host's host_vars get for a door: where the lab's IIS serves /PowerShell, WinRM explicitly, or
    for an Edge under "ssh", Windows OpenSSH with the lab's host keys as known_hosts.

    exconf's program on a Mailbox server reaches Active Directory from the WinRM shell (the double hop,
    tests/integration/test_double_hop.py): only a delegated Kerberos ticket lets it, so the WinRM door to a
    Mailbox server logs on with Kerberos and delegates (the lab then needs the KDC: make_lab), as the
    inventory's CONTOSO\\user in the form Kerberos takes, user@contoso.lab. Under "ssh" Mailbox servers take
    remote PowerShell, as under "psrp" (SSH to a Mailbox server is refused: the double hop, docs/ssh.md)."""
    if door == "winrm":
        if role == "Mailbox":
            out: dict[str, Any] = {"ansible_connection": "winrm", "ansible_winrm_transport": "kerberos",
                                   "ansible_winrm_kerberos_delegation": True}
            domain, _, name = user.rpartition("\\")
            if domain.upper() == "CONTOSO" and name:
                out["ansible_user"] = f"{name}@contoso.lab"
            return out
        return {"ansible_connection": "winrm"}
    if door == "ssh" and role == "Edge":
        return {"ansible_connection": "ssh", "ansible_shell_type": "powershell", "ansible_port": SSH_PORT,
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}"}
    return {"ansible_psrp_port": IIS_HTTP_PORT}


def _hosts_of(doc: Any) -> dict[str, dict[str, str]]:
    """Host names of a YAML inventory's groups (all, children, …), with the ansible_host and ansible_user
    each gets (a group's vars, then its children's, then the host's own)."""
    out: dict[str, dict[str, str]] = {}

    def group(g: Any, inherited: dict[str, str]) -> None:
        if not isinstance(g, dict):
            return
        gvars = g.get("vars") if isinstance(g.get("vars"), dict) else {}
        here = inherited | {k: str(gvars[k]) for k in ("ansible_host", "ansible_user") if k in gvars}
        for name, hvars in (g.get("hosts") or {}).items():
            own = hvars if isinstance(hvars, dict) else {}
            if str(name) not in out:
                out[str(name)] = here | {k: str(own[k]) for k in ("ansible_host", "ansible_user") if k in own}
        for child in (g.get("children") or {}).values():
            group(child, here)

    if isinstance(doc, dict):
        for g in doc.values():
            group(g, {})
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
    roles: dict[str, str] = field(default_factory=dict)  # server name -> Mailbox | Edge

    def role_of(self, host: str, address: str) -> str:
        """The role of the lab server an inventory host reaches (by its address, else its name)."""
        for name, addr in self.addresses.items():
            if address and address == addr:
                return self.roles.get(name, "Mailbox")
        return self.roles.get(host.split(".", 1)[0].upper(), "Mailbox")

    @property
    def ca(self) -> Path:
        return self.server.ca_path

    @property
    def known_hosts(self) -> Path:
        """The lab's Edges' SSH host keys in known_hosts form (the lab writes it; an inventory names it)."""
        return self.server.known_hosts_path

    def stats(self) -> dict[str, Any]:
        return self.server.stats()["servers"]

    def exec(self, server: str, cmdlet: str, **params: Any) -> list[dict[str, Any]]:
        return self.server.store.exec_console(server, cmdlet, params)

    def inventory(self, text: str, name: str = "inventory.yaml", files: dict[str, str] | None = None) -> Path:
        """Write an inventory; {EX01} style fields are replaced by the servers' addresses, {CA} by the CA file.

        ``files`` and the door's host_vars go beside it: an inventory for another account goes in a folder
        of its own (name="theirs/inventory.yaml"), as its host_vars name that account."""
        body = textwrap.dedent(text).lstrip("\n")
        for server, address in self.addresses.items():
            body = body.replace("{" + server + "}", address)
        body = body.replace("{CA}", str(self.ca))
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        for rel, content in (files or {}).items():
            p = path.parent / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        # The door's connection variables, as host_vars (which win over the inventory's host vars and
        # shift none of its line numbers).
        try:
            hosts = _hosts_of(yaml.safe_load(body))
        except yaml.YAMLError:
            hosts = {}  # a test of a broken inventory: nothing to add
        given = {Path(rel).as_posix() for rel in (files or {})}
        for host, declared in hosts.items():
            rel = f"host_vars/{host}.yml"
            if rel in given or any(c in host for c in "/\\\0") or host.startswith("."):
                continue
            p = path.parent / rel  # host_vars/ beside the inventory, where Ansible reads them
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(yaml.safe_dump(door_vars(self.door, self.role_of(host, declared.get("ansible_host", "")),
                                                  declared.get("ansible_user", ""),
                                                  self.known_hosts if self.door == "ssh" else None)), encoding="utf-8")
        return path


def org_document(servers: list[dict[str, Any]], prefix: str, extra: dict[str, Any] | None = None,
                 kerberos: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
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
            if not kerberos:
                # Without a KDC, /PowerShell must also take NTLM: the documented non-default setting
                # (Set-PowerShellVirtualDirectory -WindowsAuthentication $true). Labs made with a KDC keep
                # Exchange's default, Kerberos only (docs/lab.md, "Kerberos in the lab").
                server.setdefault("powershell_virtual_directory", {"windows_authentication": True})
        out.append(server)
    doc = {
        "organization": {"name": "Contoso", "domain": "contoso.lab", "netbios": "CONTOSO"},
        "accounts": [{"user": "exadmin", "password": PASSWORD}],
        "servers": out,
        **(extra or {}),
    }
    return doc, addresses


@pytest.fixture
def make_lab(tmp_path: Path, door: str, request: pytest.FixtureRequest):
    """make_lab(servers, kdc=None, **extra) -> Lab, stopped at the end of the test; its inventories take ``door``.

    With ``kdc`` (the session's realm, tests/conftest.py), the organisation's accounts and servers
    get their principals and the lab its keytabs: its servers accept Kerberos."""
    started: list[LabServer] = []

    def _make(servers: list[dict[str, Any]], kdc: Any = None, **extra: Any) -> Lab:
        if kdc is None and door == "winrm" and any(s.get("role") == "Mailbox" for s in servers):
            kdc = request.getfixturevalue("krb5_env")  # the program on a Mailbox server needs Kerberos (door_vars)
        doc, addresses = org_document(servers, unique_prefix(), extra, kerberos=kdc is not None)
        if kdc is not None:
            kdc.provision(doc)
            doc["kerberos"] = {"keytabs": str(kdc.kdc.keytab_dir)}
        org = tmp_path / "lab-org.yaml"
        org.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        state = tmp_path / ".lab" / "lab-org.state.json"
        state.parent.mkdir(exist_ok=True)
        server = LabServer(LabStore(org, state), state.parent).start()
        started.append(server)
        return Lab(tmp_path, org, state, server, addresses, door, {x["name"]: x.get("role", "Mailbox") for x in servers})

    yield _make
    for server in started:
        server.stop()


STANDARD = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "subscribed": True},
]
