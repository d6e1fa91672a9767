"""EdgeSync in the lab (lab/exchange/edge_subscriptions.py), through exconf's remote program as the engine
will drive it: the subscription file on the Edge, its import on a Mailbox server, AD LDS restart,
synchronisation, the bootstrap window and leases on the lab clock, a replaced Edge certificate,
removal, and two Edges in one site."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ElementTree

import pytest

from exconf import remote
from exconf.lab.exchange.store import LabStore

from .certificate_helpers import every_file_text, lab_store, run

ORG = """
organization: {name: Contoso, domain: contoso.lab, netbios: CONTOSO}
accounts: [{user: exadmin, password: "Lab-Passw0rd!"}]
servers:
  - {name: EX01, role: Mailbox, site: Amsterdam, address: 127.68.1.1}
  - {name: EX02, role: Mailbox, site: Rotterdam, address: 127.68.1.2}
  - name: EDGE01
    role: Edge
    site: Amsterdam
    address: 127.68.1.3
    send_connectors: [{name: Own outbound, address_spaces: ["SMTP:*;1"]}]
  - {name: EDGE02, role: Edge, site: Amsterdam, address: 127.68.1.4}
  - {name: EDGE03, role: Edge, site: Rotterdam, subscribed: true, address: 127.68.1.5}
"""
OTHER_ORG = """
organization: {name: Fabrikam, domain: fabrikam.lab}
servers:
  - {name: FEX01, role: Mailbox, address: 127.68.2.1}
  - {name: EDGE09, role: Edge, address: 127.68.2.2}
"""
STATUS = ("Name", "SyncStatus", "FailureDetail", "LeaseType", "LastSynchronizedUtc", "LeaseExpiryUtc", "LeaseHolder",
          "SendConnectorStatus", "TransportConfigStatus", "RecipientStatus", "CredentialRecords", "CookieRecords")
RESULT = ("Result", "Type", "Name", "FailureDetails", "Added", "Updated", "Scanned")


@pytest.fixture
def store(tmp_path) -> LabStore:
    return lab_store(tmp_path, ORG)


def step(store: LabStore, server: str, cmdlet: str, params: dict | None = None, select=(), **extra) -> remote.StepResult:
    return run(store, server, [remote.Step("s", cmdlet, params or {}, select=tuple(select), **extra)]).result("s")


def ok(result: remote.StepResult) -> remote.StepResult:
    assert result.ok, result.error
    return result


def subscription_file(store: LabStore, edge: str, **params) -> bytes:
    result = ok(step(store, edge, "New-EdgeSubscription", {"Force": True, **params}, output_file="FileName"))
    assert result.file
    return result.file


def import_file(store: LabStore, mailbox: str, data: bytes, site: str, **params) -> remote.StepResult:
    return step(store, mailbox, "New-EdgeSubscription", {"FileData": data, "Site": site, **params},
                select=("Name", "Site", "Domain"))


def subscribe(store: LabStore, edge: str, mailbox: str, site: str) -> None:
    """The five steps of cmdlets.md §10 (after the certificate): Edge file, import, AD LDS, Start."""
    ok(import_file(store, mailbox, subscription_file(store, edge), site))
    ok(step(store, edge, "Restart-Service", {"Name": "ADAM_MSExchange", "Force": True}))
    ok(step(store, mailbox, "Start-EdgeSynchronization", {}, select=RESULT))


def status(store: LabStore, mailbox: str, **params) -> dict[str, dict]:
    rows = ok(step(store, mailbox, "Test-EdgeSynchronization", params, select=STATUS)).objects
    return {row["Name"]: row for row in rows}


def connectors(store: LabStore, server: str) -> dict[str, tuple]:
    rows = ok(step(store, server, "Get-SendConnector", {}, select=("Name", "SourceTransportServers"))).objects
    return {row["Name"]: tuple(row["SourceTransportServers"]) for row in rows}


def replace_smtp_certificate(store: LabStore, server: str) -> remote.StepResult:
    return ok(step(store, server, "New-ExchangeCertificate", {"Services": "SMTP", "Force": True}, select=("Thumbprint",)))


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


# --- the first subscription of a new Edge -------------------------------------------------------------------


def test_first_subscription_of_a_new_edge_end_to_end_by_cmdlets(store, tmp_path):
    assert connectors(store, "EDGE01") == {"Own outbound": ()}
    assert ok(step(store, "EX01", "Get-EdgeSubscription", {}, select=("Name",))).objects == ({"Name": "EDGE03"},)

    data = subscription_file(store, "EDGE01")
    root = ElementTree.fromstring(data)
    fields = {child.tag: child.text for child in root}
    assert root.tag == "EdgeSubscriptionData"
    assert (fields["EdgeServerName"], fields["EdgeServerFQDN"]) == ("EDGE01", "edge01.contoso.lab")
    assert fields["ESRAUsername"].startswith("cn=ESRA.EDGE01,")
    assert int(fields["Duration"]) == 1440 * 60 * 10**7  # the default bootstrap window, in ticks
    default_smtp = [c for c in ok(step(store, "EDGE01", "Get-ExchangeCertificate", {},
                                       select=("Thumbprint", "Services"))).objects if "SMTP" in c["Services"]]
    import base64
    import hashlib
    assert hashlib.sha1(base64.b64decode(fields["EdgeCertificateBlob"])).hexdigest().upper() == default_smtp[0]["Thumbprint"]
    # The Edge's own connectors are gone; it is subscribed on its side only.
    assert connectors(store, "EDGE01") == {}
    edge_view = ok(step(store, "EDGE01", "Get-EdgeSubscription", {}, select=("Name", "Site"))).objects
    assert edge_view == ({"Name": "EDGE01", "Site": None},)

    imported = ok(import_file(store, "EX01", data, "Amsterdam"))
    assert imported.objects == ({"Name": "EDGE01", "Site": "contoso.lab/Configuration/Sites/Amsterdam",
                                 "Domain": "contoso.lab"},)
    assert "resolve the IP address for edge01.contoso.lab" in imported.warnings[0] and "50636" in imported.warnings[0]
    org_connectors = connectors(store, "EX01")
    assert org_connectors["EdgeSync - Amsterdam to Internet"] == ("EDGE01",)
    assert org_connectors["EdgeSync - Inbound to Amsterdam"] == ("EDGE01",)
    before = status(store, "EX01")["EDGE01"]  # the initial synchronisation has not run
    assert (before["SyncStatus"], before["LeaseType"], before["SendConnectorStatus"]) == ("Inconclusive", "None", "NotStarted")

    ok(step(store, "EDGE01", "Restart-Service", {"Name": "ADAM_MSExchange", "Force": True}))
    started = ok(step(store, "EX01", "Start-EdgeSynchronization", {}, select=RESULT)).objects
    assert [(r["Name"], r["Type"], r["Result"]) for r in started] == [
        ("EDGE01", "Configuration", "Success"), ("EDGE01", "Recipients", "Success")]
    # Two EdgeSync connectors added; the Edge's transport settings get the organisation's lists.
    assert (started[0]["Added"], started[0]["Updated"], started[0]["Scanned"]) == (2, 1, 3)
    after = status(store, "EX01")["EDGE01"]
    assert (after["SyncStatus"], after["LeaseType"], after["FailureDetail"]) == ("Normal", "Option", None)
    assert after["LeaseHolder"].startswith("CN=EX01,CN=Servers,")
    assert parse_time(after["LeaseExpiryUtc"]) - parse_time(after["LastSynchronizedUtc"]) == dt.timedelta(hours=1)
    assert after["CredentialRecords"] == "Number of credentials 3" and after["CookieRecords"] == "Number of cookies 1"
    # The Edge sees the connectors it is a source of; the file's password is nowhere in the lab's files.
    assert set(connectors(store, "EDGE01")) == {"EdgeSync - Amsterdam to Internet", "EdgeSync - Inbound to Amsterdam"}
    assert fields["ESRAPassword"] not in every_file_text(tmp_path)
    # The organisation now knows the Edge as a server, and the state keeps it across a restart.
    servers = {o["Name"] for o in ok(step(store, "EX01", "Get-ExchangeServer", {}, select=("Name",))).objects}
    assert "EDGE01" in servers and "EDGE02" not in servers
    store.close()
    again = LabStore(tmp_path / "org.yaml", tmp_path / "state.json")
    assert status(again, "EX01")["EDGE01"]["SyncStatus"] == "Normal"


def test_without_force_the_edge_cannot_be_asked_and_nothing_changes(store):
    result = step(store, "EDGE01", "New-EdgeSubscription", {}, output_file="FileName")
    assert result.error.message == "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."
    assert result.file is None
    assert connectors(store, "EDGE01") == {"Own outbound": ()}
    assert ok(step(store, "EDGE01", "Get-EdgeSubscription", {}, select=("Name",))).objects == ()


@pytest.mark.parametrize("params, message", [
    ({"FileName": r"C:\temp\edge.txt", "Force": True}, "must have the .xml file name extension"),
    ({"FileName": r"C:\temp\edge.xml", "Force": True, "AccountExpiryDuration": "00:01:59"}, "at least 00:02:00"),
    ({"Force": True}, "The FileName parameter is required"),
])
def test_the_edge_side_checks_its_parameters(store, params, message):
    result = step(store, "EDGE01", "New-EdgeSubscription", params)
    assert message in result.error.message
    assert connectors(store, "EDGE01") == {"Own outbound": ()}


def test_the_mailbox_side_needs_file_data_and_a_site(store):
    assert "The FileData parameter is required" in step(store, "EX01", "New-EdgeSubscription", {"Site": "Amsterdam"}).error.message
    data = subscription_file(store, "EDGE01")
    assert "The Site parameter is required" in step(store, "EX01", "New-EdgeSubscription", {"FileData": data}).error.message
    refused = import_file(store, "EX01", data, "Utrecht")
    assert refused.error.message == "The Active Directory site 'Utrecht' couldn't be found."
    assert "EdgeSync - Amsterdam to Internet" not in connectors(store, "EX01")


# --- the bootstrap window on the lab clock -----------------------------------------------------------------------


def test_the_bootstrap_window_expires_with_the_lab_clock(store):
    data = subscription_file(store, "EDGE01")
    store.advance_clock(25 * 3600)
    refused = import_file(store, "EX01", data, "Amsterdam")
    assert refused.error.message.startswith("The bootstrap account in the Edge Subscription file has expired")
    assert refused.error.exception == "InvalidOperationException"
    assert "EDGE01" not in status(store, "EX01")
    # A new file (the Edge's subscription is renewed) is good again.
    ok(import_file(store, "EX01", subscription_file(store, "EDGE01"), "Amsterdam"))


def test_a_short_window_closes_five_minutes_before_its_end(store):
    data = subscription_file(store, "EDGE01", AccountExpiryDuration="00:10:00")
    store.advance_clock(4 * 60)
    ok(import_file(store, "EX02", subscription_file(store, "EDGE02", AccountExpiryDuration="00:10:00"), "Amsterdam"))
    store.advance_clock(2 * 60)  # 6 minutes after the first file: less than 5 minutes left
    assert "expires within 5 minutes" in import_file(store, "EX01", data, "Amsterdam").error.message


def test_files_from_another_organisation_or_not_a_file_are_refused(store, tmp_path):
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = lab_store(other_dir, OTHER_ORG)
    foreign = subscription_file(other, "EDGE09")
    refused = import_file(store, "EX01", foreign, "Amsterdam")
    assert "isn't an Edge Transport server of this lab's organization" in refused.error.message
    garbage = import_file(store, "EX01", b"\x00not xml", "Amsterdam")
    assert garbage.error.message.startswith("The Edge Subscription file couldn't be loaded:")
    hostile = import_file(store, "EX01", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><EdgeSubscriptionData/>', "Amsterdam")
    assert "declares a document type" in hostile.error.message


# --- the Edge certificate ---------------------------------------------------------------------------------------------


def test_a_replaced_edge_certificate_breaks_sync_until_resubscribed_and_ad_lds_restarted(store):
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    old_file = subscription_file(store, "EDGE01")  # a file made before the change
    new_cert = step(store, "EDGE01", "New-ExchangeCertificate", {"Services": "SMTP", "Force": True})
    assert "you must subscribe it again by using the New-EdgeSubscription cmdlet" in new_cert.warnings[0]
    broken = status(store, "EX01")["EDGE01"]
    assert (broken["SyncStatus"], broken["FailureDetail"]) == ("Failed", "CookieNotUpdated")
    started = ok(step(store, "EX01", "Start-EdgeSynchronization", {}, select=RESULT)).objects
    assert started[0]["Result"] == "CouldNotConnect" and "internal transport certificate" in started[0]["FailureDetails"]
    # A file made before the change carries the old certificate.
    stale = import_file(store, "EX01", old_file, "Amsterdam")
    assert "is no longer the default SMTP certificate of Edge Transport server EDGE01" in stale.error.message
    # Resubscribing is not enough while AD LDS presents the old certificate.
    ok(import_file(store, "EX01", subscription_file(store, "EDGE01"), "Amsterdam"))
    assert status(store, "EX01")["EDGE01"]["SyncStatus"] == "Failed"
    failed = ok(step(store, "EX01", "Start-EdgeSynchronization", {}, select=RESULT)).objects
    assert "the certificate its AD LDS presents" in failed[0]["FailureDetails"]
    ok(step(store, "EDGE01", "Restart-Service", {"Name": "ADAM_MSExchange", "Force": True}))
    assert ok(step(store, "EX01", "Start-EdgeSynchronization", {}, select=RESULT)).objects[0]["Result"] == "Success"
    assert status(store, "EX01")["EDGE01"]["SyncStatus"] == "Normal"


def test_a_broken_subscription_reports_the_lease_expired_after_the_lease(store):
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    replace_smtp_certificate(store, "EDGE01")
    store.advance_clock(2 * 3600)  # past the 1 hour lease and the 40 minutes of alert padding
    late = status(store, "EX01")["EDGE01"]
    assert (late["SyncStatus"], late["FailureDetail"]) == ("Failed", "LeaseExpired")
    # The last synchronisation is the last one before the certificate changed.
    assert parse_time(late["LastSynchronizedUtc"]) < store.clock_now() - dt.timedelta(hours=1)


def test_on_a_mailbox_server_the_same_change_breaks_nothing(store):
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    replaced = replace_smtp_certificate(store, "EX01")
    assert replaced.warnings == ()
    assert status(store, "EX01")["EDGE01"]["SyncStatus"] == "Normal"


def test_a_subscription_seeded_by_the_org_file_breaks_too(store):
    assert status(store, "EX02")["EDGE03"]["SyncStatus"] == "Normal"
    replace_smtp_certificate(store, "EDGE03")
    assert status(store, "EX02")["EDGE03"]["FailureDetail"] == "CookieNotUpdated"
    subscribe(store, "EDGE03", "EX02", "Rotterdam")
    assert status(store, "EX02")["EDGE03"]["SyncStatus"] == "Normal"


# --- the schedule -------------------------------------------------------------------------------------------------------


def test_scheduled_synchronisation_runs_on_the_lab_clock(store):
    ok(import_file(store, "EX01", subscription_file(store, "EDGE01"), "Amsterdam"))
    assert status(store, "EX01")["EDGE01"]["SyncStatus"] == "Inconclusive"
    assert connectors(store, "EDGE01") == {}  # nothing replicated yet
    store.advance_clock(2 * 60)
    assert status(store, "EX01")["EDGE01"]["SyncStatus"] == "Inconclusive"  # not yet due
    store.advance_clock(2 * 60)
    row = status(store, "EX01")["EDGE01"]
    # Due (4 minutes after the import): the scheduled synchronisation ran when the lab looked.
    assert row["SyncStatus"] == "Normal" and parse_time(row["LastSynchronizedUtc"]) == store.clock_now()
    assert set(connectors(store, "EDGE01")) == {"EdgeSync - Amsterdam to Internet", "EdgeSync - Inbound to Amsterdam"}


def test_full_compare_tells_whether_the_edge_received_an_organisation_change(store):
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    store.advance_clock(1)
    ok(step(store, "EX01", "Set-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet",
                                                  "ProtocolLoggingLevel": "Verbose"}))
    behind = status(store, "EX01", FullCompareMode=True)["EDGE01"]
    assert (behind["SendConnectorStatus"], behind["TransportConfigStatus"]) == ("NotSynchronized", "Synchronized")
    assert status(store, "EX01")["EDGE01"]["SendConnectorStatus"] == "Skipped"  # only with -FullCompareMode
    started = ok(step(store, "EX01", "Start-EdgeSynchronization", {"TargetServer": "EDGE01"}, select=RESULT)).objects
    assert (started[0]["Added"], started[0]["Updated"]) == (0, 1)
    synced = status(store, "EX01", FullCompareMode=True, ExcludeRecipientTest=True)["EDGE01"]
    assert (synced["SendConnectorStatus"], synced["RecipientStatus"]) == ("Synchronized", "Skipped")


# --- the Edge refuses connector changes while subscribed ------------------------------------------------------------


def test_a_subscribed_edge_refuses_send_connector_changes_by_its_own_state(store):
    ok(step(store, "EDGE01", "Set-SendConnector", {"Identity": "Own outbound", "ProtocolLoggingLevel": "Verbose"}))
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    refused = step(store, "EDGE01", "Set-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet",
                                                           "ProtocolLoggingLevel": "Verbose"})
    assert refused.error.exception == "CannotRunOnSubscribedEdgeException"
    # Made on a Mailbox server, the change reaches the Edge with the next synchronisation.
    ok(step(store, "EX01", "Set-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet",
                                                  "ProtocolLoggingLevel": "Verbose"}))

    def on_edge() -> str:
        return ok(step(store, "EDGE01", "Get-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet"},
                       select=("ProtocolLoggingLevel",))).objects[0]["ProtocolLoggingLevel"]

    assert on_edge() == "None"
    ok(step(store, "EX01", "Start-EdgeSynchronization", {}, select=RESULT))
    assert on_edge() == "Verbose"
    ok(step(store, "EX01", "Set-SendConnector", {"Identity": "EdgeSync - Amsterdam to Internet",
                                                  "ProtocolLoggingLevel": "None"}))
    store.advance_clock(3 * 60)  # or by the schedule
    assert on_edge() == "None"


# --- removal ----------------------------------------------------------------------------------------------------------


def test_removal_in_the_organisation_and_on_the_edge(store):
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    asked = step(store, "EX01", "Remove-EdgeSubscription", {"Identity": "EDGE01"})
    assert "NonInteractive mode" in asked.error.message and "EDGE01" in status(store, "EX01")
    wrong = step(store, "EX01", "Remove-EdgeSubscription", {"Identity": "EX02", "Confirm": False})
    assert "isn't an Edge Transport server" in wrong.error.message
    ok(step(store, "EX01", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False}))
    assert not any(name.startswith("EdgeSync - Amsterdam") for name in connectors(store, "EX01"))
    assert ok(step(store, "EX01", "Get-EdgeSubscription", {}, select=("Name",))).objects == ({"Name": "EDGE03"},)
    none = status(store, "EX01")[""]
    assert none["SyncStatus"] == "NoSyncConfigured"
    # The Edge still holds its side until it is removed there too: -Force skips the recipients question.
    assert ok(step(store, "EDGE01", "Get-EdgeSubscription", {}, select=("Name",))).objects == ({"Name": "EDGE01"},)
    half = step(store, "EDGE01", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False})
    assert "NonInteractive mode" in half.error.message  # asked after the subscription was removed
    assert ok(step(store, "EDGE01", "Get-EdgeSubscription", {}, select=("Name",))).objects == ()
    ok(step(store, "EDGE01", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False, "Force": True}))
    # Not subscribed any more: its send connectors are its own again (EdgeSync deleted them all).
    assert connectors(store, "EDGE01") == {}


def test_an_edge_removed_on_its_side_fails_in_the_organisation(store):
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    ok(step(store, "EDGE01", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False, "Force": True}))
    row = status(store, "EX01")["EDGE01"]
    assert row["SyncStatus"] == "Failed"
    started = ok(step(store, "EX01", "Start-EdgeSynchronization", {}, select=RESULT)).objects
    assert "doesn't hold an Edge Subscription any more" in started[0]["FailureDetails"]


# --- two Edges in one site ---------------------------------------------------------------------------------------------


def test_two_edges_in_one_site_share_the_internet_connector(store):
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    subscribe(store, "EDGE02", "EX01", "Amsterdam")
    org = connectors(store, "EX01")
    assert org["EdgeSync - Amsterdam to Internet"] == ("EDGE02", "EDGE01")
    assert [n for n in org if n.startswith("EdgeSync - Amsterdam")] == ["EdgeSync - Amsterdam to Internet"]
    assert {name: row["SyncStatus"] for name, row in status(store, "EX01").items()} == {"EDGE01": "Normal", "EDGE02": "Normal"}
    started = ok(step(store, "EX01", "Start-EdgeSynchronization", {}, select=RESULT)).objects
    assert [r["Name"] for r in started] == ["EDGE01", "EDGE01", "EDGE02", "EDGE02"]
    ok(step(store, "EX01", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False}))
    assert connectors(store, "EX01")["EdgeSync - Amsterdam to Internet"] == ("EDGE02",)
    assert set(status(store, "EX01")) == {"EDGE02"}


def test_the_connectors_are_created_only_when_asked_and_an_edge_stays_in_one_site(store):
    data = subscription_file(store, "EDGE01")
    ok(import_file(store, "EX01", data, "Amsterdam", CreateInternetSendConnector=False))
    org = connectors(store, "EX01")
    assert "EdgeSync - Amsterdam to Internet" not in org and org["EdgeSync - Inbound to Amsterdam"] == ("EDGE01",)
    moved = import_file(store, "EX02", subscription_file(store, "EDGE01"), "Rotterdam")
    assert moved.error.message.startswith("The Edge Transport server EDGE01 is already subscribed to Active Directory site Amsterdam")


def test_start_and_test_run_on_mailbox_servers_only(store):
    for cmdlet in ("Start-EdgeSynchronization", "Test-EdgeSynchronization"):
        assert step(store, "EDGE01", cmdlet).error.exception == "CommandNotFoundException"
    nothing = ok(step(store, "EX01", "Start-EdgeSynchronization", {}, select=RESULT)).objects
    assert [(r["Result"], r["Name"]) for r in nothing] == [("NoSubscriptions", "")]
    assert re.search("no Edge Subscriptions in Active Directory site Amsterdam", status(store, "EX01")[""]["FailureDetail"])


def test_an_edge_the_org_file_subscribes_later_is_seeded_subscribed(store, tmp_path):
    store.close()
    org = tmp_path / "org.yaml"
    org.write_text(ORG + "  - {name: EDGE04, role: Edge, site: Amsterdam, subscribed: true, address: 127.68.1.6}\n")
    later = LabStore(org, tmp_path / "state.json")
    assert status(later, "EX01")["EDGE04"]["SyncStatus"] == "Normal"
    assert connectors(later, "EX01")["EdgeSync - Amsterdam to Internet"] == ("EDGE04",)
    ok(step(later, "EX01", "Remove-EdgeSubscription", {"Identity": "EDGE04", "Confirm": False}))
    later.close()
    again = LabStore(org, tmp_path / "state.json")  # removed stays removed
    assert "EDGE04" not in status(again, "EX01")


def test_a_broken_subscription_leaves_the_edge_with_what_it_last_received(store):
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    replace_smtp_certificate(store, "EDGE01")
    ok(step(store, "EX01", "Set-TransportConfig", {"TLSSendDomainSecureList": "fabrikam.com"}))
    store.advance_clock(10 * 60)
    lists = ok(step(store, "EDGE01", "Get-TransportConfig", {}, select=("TLSSendDomainSecureList",))).objects
    assert lists == ({"TLSSendDomainSecureList": []},)
    behind = status(store, "EX01", FullCompareMode=True)["EDGE01"]
    assert behind["TransportConfigStatus"] == "NotSynchronized"
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    lists = ok(step(store, "EDGE01", "Get-TransportConfig", {}, select=("TLSSendDomainSecureList",))).objects
    assert lists == ({"TLSSendDomainSecureList": ["fabrikam.com"]},)


def test_target_server_narrows_the_test_to_one_edge(store):
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    subscribe(store, "EDGE02", "EX01", "Amsterdam")
    assert set(status(store, "EX01", TargetServer="edge02.contoso.lab")) == {"EDGE02"}
    assert status(store, "EX01", TargetServer="EDGE09") == {}


@pytest.mark.parametrize("scope, key, damaged", [
    ("EDGE01", "EdgeSubscriptionEdge", {"subscribed": "yes"}),
    ("@org", "EdgeSubscriptions", {"EDGE03": {"name": "EDGE03", "fqdn": "x", "site": "Rotterdam", "subscribed_at": "soon"}}),
    ("@org", "EdgeSubscriptions", {"EDGE03": {"name": "EDGE03", "fqdn": "x", "site": "Rotterdam", "subscribed_at": "2026-01-01T00:00:00Z",
                                              "credentials": {"user": "u", "effective": "e", "expires": "soon", "duration": "d",
                                                              "edge": "EDGE03", "mailbox": ["EX02"]}}}),
    ("@org", "EdgeSubscriptions", {"EDGE03": {"name": "EDGE03", "fqdn": "x", "site": "Rotterdam", "subscribed_at": "2026-01-01T00:00:00Z",
                                              "credentials": {"user": "u", "mailbox": "EX02"}}}),
])
def test_a_damaged_subscription_in_the_state_file_stops_the_lab_with_a_clear_error(store, tmp_path, scope, key, damaged):
    import json

    from exconf.lab.exchange.store import StateFileError

    store.close()
    state = tmp_path / "state.json"
    data = json.loads(state.read_text())
    data["objects"][scope][key] = damaged
    state.write_text(json.dumps(data))
    with pytest.raises(StateFileError) as caught:
        LabStore(tmp_path / "org.yaml", state)
    assert "cannot read the lab state" in str(caught.value) and "soon" not in str(caught.value)


def test_the_state_keeps_what_a_subscriptions_credentials_are_made_of_and_they_read_back_as_rows(tmp_path):
    """Three credentials per Mailbox server of the site for each Edge grow as Mailbox servers times Edges, and the
    organisation's subscriptions are journaled whole: the state keeps the file's account and dates and the
    site's Mailbox servers, and the rows are spelled out when read."""
    from exconf.lab.exchange import edge_sync, stored

    org = ORG.replace("  - {name: EX02, role: Mailbox, site: Rotterdam, address: 127.68.1.2}\n",
                      "  - {name: EX02, role: Mailbox, site: Rotterdam, address: 127.68.1.2}\n"
                      "  - {name: EX03, role: Mailbox, site: Amsterdam, address: 127.68.1.6}\n")
    store = lab_store(tmp_path, org)
    subscribe(store, "EDGE01", "EX01", "Amsterdam")
    kept = store._state.objects[(stored.ORG, edge_sync.ORG_KEY)]["EDGE01"]["credentials"]
    assert kept["mailbox"] == ["EX01", "EX03"] and kept["edge"] == "EDGE01"  # the site's, not Rotterdam's EX02
    assert kept["duration"] == "1.00:00:00"  # the bootstrap account's day
    rows = edge_sync.credential_rows({"credentials": kept})
    suffix = kept["user"].split(",", 1)[1]
    expires = dt.datetime.strptime(kept["expires"], "%Y-%m-%dT%H:%M:%SZ")
    assert [(r["user"], r["bootstrap"]) for r in rows] == [
        (kept["user"], True), (f"cn=ESRA.EDGE01.EX01.0,{suffix}", False), (f"cn=ESRA.EDGE01.EX01.1,{suffix}", False),
        (kept["user"], True), (f"cn=ESRA.EDGE01.EX03.0,{suffix}", False), (f"cn=ESRA.EDGE01.EX03.1,{suffix}", False)]
    assert [r["effective"] for r in rows[:3]] == [
        kept["effective"], f"{expires:%Y-%m-%dT%H:%M:%SZ}", f"{expires + dt.timedelta(days=15):%Y-%m-%dT%H:%M:%SZ}"]
    assert {r["duration"] for r in rows if not r["bootstrap"]} == {"15.00:00:00"}
    assert status(store, "EX01")["EDGE01"]["CredentialRecords"] == "Number of credentials 6"
    store.close()
    again = LabStore(tmp_path / "org.yaml", tmp_path / "state.json")  # what the state file kept reads back
    assert status(again, "EX01")["EDGE01"]["CredentialRecords"] == "Number of credentials 6"
    # a state written before: the rows themselves, read as they are
    legacy = [{"user": "cn=ESRA.EDGE01.EX01.0,x", "effective": "2026-01-01T00:00:00Z", "duration": "15.00:00:00", "bootstrap": False}]
    assert edge_sync.credential_rows({"credentials": legacy}) == legacy
    assert edge_sync.credential_rows({}) == []
