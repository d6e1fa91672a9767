"""EdgeSync over the engine's doors against a lab with two sites, two Mailbox servers and two Edge
servers: each Edge's program over WinRM (pywinrm, NTLM with message encryption), the Mailbox servers'
Exchange remote PowerShell (pypsrp; their program over NTLM could not reach Active Directory, the
double hop: tests/integration/test_double_hop.py). The subscription file's bytes travel from the Edge
to a Mailbox server in memory, as the engine's edge_subscription kind carries them."""

from __future__ import annotations

import pytest

from exconf.inventory import load
from exconf.remote import Answer, Step
from exconf.runner import default_executor_factory

from integration.conftest import EDGE_PASSWORD, PASSWORD, door, make_lab  # noqa: F401  (door and make_lab are fixtures)

SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Rotterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam"},
    {"name": "EDGE02", "role": "Edge", "site": "Amsterdam"},
]
INVENTORY = f"""
all:
  hosts:
    ex01: {{ansible_host: "{{EX01}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}
    ex02: {{ansible_host: "{{EX02}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}
    edge01: {{ansible_host: "{{EDGE01}}", ansible_user: EDGE01\\Administrator, ansible_password: {EDGE_PASSWORD},
              ansible_winrm_transport: ntlm}}
    edge02: {{ansible_host: "{{EDGE02}}", ansible_user: EDGE02\\Administrator, ansible_password: {EDGE_PASSWORD},
              ansible_winrm_transport: ntlm}}
"""
STATUS = ("Name", "SyncStatus", "FailureDetail", "LastSynchronizedUtc", "SendConnectorStatus",
          "SendConnectorStatus.SyncStatus", "CredentialRecords")


class Hosts:
    """One connection per call, through each host's door, as the engine makes them."""

    def __init__(self, lab):
        self.inventory = load(lab.inventory(INVENTORY))
        self.hosts = {h.name: h for h in self.inventory.hosts}
        self.executor_for = default_executor_factory(self.inventory.path.parent)

    def run(self, host: str, steps: list[Step]) -> Answer:
        executor = self.executor_for(self.hosts[host])
        try:
            return executor.execute(steps, halt_on_error=True)
        finally:
            executor.close()

    def subscribe(self, edge: str, mailbox: str, site: str) -> Answer:
        """Edge file -> Mailbox import -> AD LDS restart -> Start -> Test (cmdlets.md §10)."""
        made = self.run(edge, [Step("file", "New-EdgeSubscription", {"Force": True}, output_file="FileName")])
        data = made.result("file").file
        assert made.result("file").ok and data and data.startswith(b"<?xml")
        imported = self.run(mailbox, [Step("import", "New-EdgeSubscription", {"FileData": data, "Site": site},
                                           select=("Name", "Site"))])
        assert imported.result("import").ok, imported.result("import").error
        assert self.run(edge, [Step("adam", "Restart-Service", {"Name": "ADAM_MSExchange", "Force": True})]).result("adam").ok
        return self.run(mailbox, [
            Step("start", "Start-EdgeSynchronization", {}, select=("Name", "Type", "Result")),
            Step("test", "Test-EdgeSynchronization", {"FullCompareMode": True}, select=STATUS, always_run=True),
        ])


def statuses(answer: Answer) -> dict[str, str]:
    return {row["Name"]: row["SyncStatus"] for row in answer.result("test").objects}


@pytest.fixture
def hosts(make_lab):
    lab = make_lab(SERVERS)
    return lab, Hosts(lab)


def test_first_subscriptions_of_two_edges_in_one_site_and_the_refused_edge_change(hosts):
    lab, remote = hosts
    first = remote.subscribe("edge01", "ex01", "Amsterdam")
    assert [r["Result"] for r in first.result("start").objects] == ["Success", "Success"]
    assert statuses(first) == {"EDGE01": "Normal"}
    row = first.result("test").objects[0]
    # A remote session serialises at depth 1: an EdgeConfigStatus arrives as its ToString (its SyncStatus),
    # CredentialRecords as "Number of credentials N"; their own properties do not cross.
    assert (row["SendConnectorStatus"], row["CredentialRecords"]) == ("Synchronized", "Number of credentials 3")
    assert "SendConnectorStatus.SyncStatus" not in row
    second = remote.subscribe("edge02", "ex01", "Amsterdam")
    assert statuses(second) == {"EDGE01": "Normal", "EDGE02": "Normal"}
    internet = remote.run("ex01", [Step("get", "Get-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet"},
                                        select=("SourceTransportServers",))])
    assert internet.result("get").objects == ({"SourceTransportServers": ["EDGE02", "EDGE01"]},)
    # Rotterdam has no subscription; its Mailbox server says so.
    rotterdam = remote.run("ex02", [Step("test", "Test-EdgeSynchronization", {}, select=("Name", "SyncStatus"))])
    assert rotterdam.result("test").objects == ({"Name": "", "SyncStatus": "NoSyncConfigured"},)
    refused = remote.run("edge01", [Step("set", "Set-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet",
                                                                     "ProtocolLoggingLevel": "Verbose"})])
    assert refused.result("set").error.exception == "CannotRunOnSubscribedEdgeException"
    # Each server took its door: the Mailbox servers /PowerShell only, the Edges /wsman only.
    served = {name: {path for path, e in st["endpoints"].items() if e["requests"]} for name, st in lab.stats().items()}
    assert served == {"EX01": {"/PowerShell"}, "EX02": {"/PowerShell"}, "EDGE01": {"/wsman"}, "EDGE02": {"/wsman"}}


def test_certificate_replaced_then_resubscribed_expiry_and_removal(hosts):
    lab, remote = hosts
    remote.subscribe("edge01", "ex01", "Amsterdam")
    changed = remote.run("edge01", [Step("cert", "New-ExchangeCertificate", {"Services": "SMTP", "Force": True},
                                         select=("Thumbprint",))])
    assert "subscribe it again" in changed.result("cert").warnings[0]
    broken = remote.run("ex01", [Step("test", "Test-EdgeSynchronization", {}, select=STATUS)])
    assert broken.result("test").objects[0]["SyncStatus"] == "Failed"
    assert broken.result("test").objects[0]["FailureDetail"] == "CookieNotUpdated"
    assert statuses(remote.subscribe("edge01", "ex01", "Amsterdam")) == {"EDGE01": "Normal"}

    # A file left lying past the bootstrap window is refused (the lab clock moved 25 hours).
    late = remote.run("edge02", [Step("file", "New-EdgeSubscription", {"Force": True}, output_file="FileName")])
    lab.server.store.advance_clock(25 * 3600)
    refused = remote.run("ex01", [Step("import", "New-EdgeSubscription",
                                       {"FileData": late.result("file").file, "Site": "Amsterdam"})])
    assert "has expired or expires within 5 minutes" in refused.result("import").error.message

    removed = remote.run("ex01", [
        Step("remove", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False}),
        Step("left", "Get-EdgeSubscription", {}, select=("Name",), always_run=True),
    ])
    assert removed.result("remove").ok and removed.result("left").objects == ()
    on_edge = remote.run("edge01", [
        Step("remove", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False, "Force": True}),
        Step("left", "Get-EdgeSubscription", {}, select=("Name",), always_run=True),
    ])
    assert on_edge.result("remove").ok and on_edge.result("left").objects == ()
