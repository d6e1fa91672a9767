"""The Edge Subscription kind, everything a reviewer reads and every host it picks (modules/edge_subscription.py):
which Mailbox server imports, which unsubscribes the old site, which removes the organisation's side; each change
exactly as the plan shows it and the operations it runs on each host; how it reads both sides and verifies each step."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exconf.model import Change, Desired, DesiredValue, Finding, FindingProperty, FindingStatus, ObservedObject, Operation, PropertyChange, ServerFacts
from exconf.modules.base import LOCAL_SERVER, PeerRead, PlanContext, ReadError
from exconf.modules.edge_subscription import (EDGE_DEFAULT, KIND, KIND_INSTANCE, SITE_READ, STATUS, SubscriptionWork, SubSpec, operations_for, plan_subscription, sides,
                                              smtp_certificate_change, verify_step)
from exconf.remote import STATUS_NOT_APPLICABLE, Answer, FromOperation, Step, StepError, StepResult
from exconf.yamlsource import Location

AT = Location("host_vars/edge01.yaml", 2, 3)
EDGE = ServerFacts("EDGE01", "edge01.contoso.lab", "Edge", "15.2.1544.4", "")


def mailbox(host: str, site: str = "Amsterdam", *objects: ObservedObject, clean: bool = True, read_site: bool = True) -> PeerRead:
    """A Mailbox server as a peer; ``read_site``: it read its site's side (the organisation's side is read once per site)."""
    marker = (ObservedObject(SITE_READ, "", "", {}),) if read_site else ()
    return PeerRead(host, ServerFacts(host.upper(), f"{host}.contoso.lab", "Mailbox", "15.2.1544.4", site), (*marker, *objects), (), clean)


def org(site: str, name: str = "EDGE01") -> ObservedObject:
    return ObservedObject(KIND, name, name, {"Name": name, "Site": f"contoso.lab/Configuration/Sites/{site}"})


def status(sync: str | None, detail: str | None = None, name: str = "EDGE01") -> ObservedObject:
    return ObservedObject(STATUS, name, name, {"Name": name, "SyncStatus": sync, "FailureDetail": detail,
                                               "LeaseExpiryUtc": "2026-12-01T10:00:00Z", "LastSynchronizedUtc": None})


ON_EDGE = (ObservedObject(KIND, "edge01", "edge01", {"Name": "edge01", "Site": None}),)


def want(site="Amsterdam", present=True, internet=None, inbound=None) -> Desired:
    return Desired(KIND, "", (DesiredValue("subscription", SubSpec(site, present, internet, inbound), AT),), AT)


def ctx(*peers: PeerRead, planned=()) -> PlanContext:
    return PlanContext("edge01", EDGE, "EDGE01", peers=tuple(peers), planned=tuple(planned))


def props(status_row=None) -> tuple[FindingProperty, ...]:
    row = status_row.values if status_row else {}
    return (FindingProperty("sync_status", "Normal", "" if row.get("SyncStatus") is None else str(row["SyncStatus"]), AT),
            FindingProperty("failure_detail", "", "" if row.get("FailureDetail") is None else str(row["FailureDetail"]), AT),
            FindingProperty("lease_expiry_utc", "(any)", "" if row.get("LeaseExpiryUtc") is None else str(row["LeaseExpiryUtc"]), AT),
            FindingProperty("last_synchronized_utc", "(any)", "", AT))


CHANGE_ID = f"edge01/{KIND}/EDGE01"


# --- which hosts are picked, and what the plan shows ------------------------------------------------------------------


def test_a_new_subscription_is_imported_by_the_first_clean_mailbox_server_of_the_site():
    peers = (mailbox("ex03"), mailbox("ex02", clean=False), mailbox("ex01", "Rotterdam"), mailbox("ex04"))
    result = plan_subscription(want(internet=False, inbound=True), (), ctx(*peers))
    (change,) = result.changes
    assert change == Change(CHANGE_ID, "edge01", KIND, "EDGE01", "EDGE01", "create", (
        PropertyChange("site", "", "(none)", "Amsterdam", None, AT),
        PropertyChange("create_internet_send_connector", "", "", False, None, AT),
        PropertyChange("create_inbound_send_connector", "", "", True, None, AT),
        PropertyChange("status", "", "EDGE01 is not subscribed", "SyncStatus Normal", None, AT),
    ), "EDGE01 is not subscribed", effects=(
        "the EdgeSync connectors EdgeSync - Inbound to Amsterdam are made again with Exchange's defaults; declared send connector settings "
        "of them are set again after it (they reach the Edge with the next synchronisation)",
        "AD LDS (ADAM_MSExchange) is restarted on EDGE01 with the services that depend on it, Microsoft Exchange Transport among them: "
        "mail through the Edge pauses for the restart",
        "EX04 synchronises EDGE01 at once (Start-EdgeSynchronization)",
    ), makes=(("send_connector", "EdgeSync - Inbound to Amsterdam"),))
    # the second clean Mailbox server of the site synchronises (each then has one round trip: engine/graph.py)
    assert change.payload == SubscriptionWork(site="Amsterdam", imported_on="ex03", synced_on="ex04", internet=False, inbound=True)
    alone = plan_subscription(want(), (), ctx(mailbox("ex03"), mailbox("ex01", "Rotterdam"))).changes[0]
    assert (alone.payload.imported_on, alone.payload.synced_on) == ("ex03", "ex03")  # the only one does both
    assert result.findings == (Finding("edge01", KIND, "EDGE01", FindingStatus.CHANGE, AT, props(), message="EDGE01 is not subscribed"),)
    assert result.problems == ()


def test_the_operations_run_on_the_edge_and_the_importer_in_order_carrying_the_file():
    work = SubscriptionWork(site="Amsterdam", imported_on="ex03", internet=False)
    change = Change(CHANGE_ID, "edge01", KIND, "EDGE01", "EDGE01", "create", (), "r", payload=work)
    file_step = Step(f"{CHANGE_ID}#file", "New-EdgeSubscription", {"Force": True}, output_file="FileName")
    assert operations_for(change) == (
        Operation(f"{CHANGE_ID}#file", "edge01", CHANGE_ID, (file_step,), role="file"),
        Operation(f"{CHANGE_ID}#import", "ex03", CHANGE_ID, (Step(f"{CHANGE_ID}#import", "New-EdgeSubscription", {
            "FileData": FromOperation(f"{CHANGE_ID}#file", file_step.id), "Site": "Amsterdam", "CreateInternetSendConnector": False}, select=("Name", "Site")),),
            needs=(f"{CHANGE_ID}#file",), within=(f"{CHANGE_ID}#file", 1440 * 60 - 5 * 60), role="import"),
        Operation(f"{CHANGE_ID}#restart-adam", "edge01", CHANGE_ID, (Step(f"{CHANGE_ID}#restart-adam", "Restart-Service", {"Name": "ADAM_MSExchange", "Force": True}),),
                  needs=(f"{CHANGE_ID}#import",), role="restart-adam"),
        Operation(f"{CHANGE_ID}#sync", "ex03", CHANGE_ID, (Step(f"{CHANGE_ID}#sync", "Start-EdgeSynchronization", {"TargetServer": "EDGE01"},
                                                                select=("Name", "Type", "Result", "FailureDetails")),),
                  needs=(f"{CHANGE_ID}#restart-adam",), role="sync"),
    )
    # a synchroniser of its own: only the synchronisation moves there
    two = operations_for(replace(change, payload=replace(work, synced_on="ex04")))
    assert [(o.role, o.host) for o in two] == [("file", "edge01"), ("import", "ex03"), ("restart-adam", "edge01"), ("sync", "ex04")]
    moving = Change(CHANGE_ID, "edge01", KIND, "EDGE01", "EDGE01", "replace", (), "r",
                    payload=SubscriptionWork(site="Rotterdam", imported_on="ex05", unsubscribe_on="ex01", inbound=False))
    ops = operations_for(moving)
    assert ops[0] == Operation(f"{CHANGE_ID}#unsubscribe", "ex01", CHANGE_ID,
                               (Step(f"{CHANGE_ID}#unsubscribe", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False}),), role="unsubscribe")
    assert ops[1].needs == (f"{CHANGE_ID}#unsubscribe",)
    assert ops[2].steps[0].params == {"FileData": FromOperation(f"{CHANGE_ID}#file", f"{CHANGE_ID}#file"), "Site": "Rotterdam",
                                      "CreateInboundSendConnector": False}


@pytest.mark.parametrize("edge_side, org_side, row, reason", [
    (ON_EDGE, (), None, "the Edge holds a subscription that the organisation does not have (removed in the organisation, or an import that did not finish)"),
    ((), (org("Amsterdam"),), status("Normal"), "the organisation has the subscription, the Edge no longer does (removed on the Edge)"),
    (ON_EDGE, (org("Amsterdam"),), None, "Test-EdgeSynchronization on EX01 reports nothing for EDGE01"),
    (ON_EDGE, (org("Amsterdam"),), status("Failed", "LeaseExpired"), "SyncStatus Failed, FailureDetail LeaseExpired"),
    (ON_EDGE, (org("Amsterdam"),), status("Inconclusive"), "SyncStatus Inconclusive"),
    (ON_EDGE, (org("Amsterdam"),), status(None), "SyncStatus None"),
])
def test_each_reason_to_subscribe_again_is_shown_as_it_is(edge_side, org_side, row, reason):
    objects = (*org_side, *((row,) if row else ()))
    result = plan_subscription(want(), edge_side, ctx(mailbox("ex01", "Amsterdam", *objects)))
    (change,) = result.changes
    assert (change.action, change.reason) == ("replace", reason)
    # the site is shown only when it changes (an unchanged value is not shown)
    assert [p for p in change.properties if p.prop == "site"] == ([] if org_side else [PropertyChange("site", "", "(none)", "Amsterdam", None, AT)])
    assert change.properties[-1] == PropertyChange("status", "", reason, "SyncStatus Normal", None, AT)
    assert result.findings == (Finding("edge01", KIND, "EDGE01", FindingStatus.CHANGE, AT, props(row), message=reason),)


def test_subscribed_and_synchronising_is_in_sync_with_the_fields_that_show_it():
    row = status("Normal")
    result = plan_subscription(want(), ON_EDGE, ctx(mailbox("ex01", "Amsterdam", org("Amsterdam"), row)))
    assert result.changes == () and result.findings == (Finding("edge01", KIND, "EDGE01", FindingStatus.IN_SYNC, AT, props(row)),)


def test_a_move_to_another_site_unsubscribes_through_a_clean_mailbox_server_of_the_old_site():
    peers = (mailbox("ex01", "Amsterdam", org("Amsterdam"), status("Normal")), mailbox("ex05", "Rotterdam"), mailbox("ex02", "Amsterdam"))
    (change,) = plan_subscription(want("Rotterdam"), ON_EDGE, ctx(*peers)).changes
    assert change.reason == "subscribed to site Amsterdam, declared Rotterdam"
    assert change.payload == SubscriptionWork(site="Rotterdam", imported_on="ex05", synced_on="ex05", unsubscribe_on="ex01")
    unclean_old = (mailbox("ex01", "Amsterdam", org("Amsterdam"), status("Normal"), clean=False), mailbox("ex05", "Rotterdam"))
    assert plan_subscription(want("Rotterdam"), ON_EDGE, ctx(*unclean_old)).changes[0].payload.unsubscribe_on == "ex05"


def test_a_new_default_smtp_certificate_of_the_same_plan_makes_the_subscription_follow_it():
    cert = Change("edge01/exchange_certificate/" + "A" * 40, "edge01", "exchange_certificate", "CN=smtp (AAAAAAAA)", "A" * 40, "create",
                  (PropertyChange("services", "", [], ["SMTP"], None, AT), PropertyChange("default_smtp", "", "CN=EDGE01 (BBBBBBBB)", "CN=smtp (AAAAAAAA)", None, AT)),
                  "import")
    row = status("Normal")
    (change,) = plan_subscription(want(), ON_EDGE, ctx(mailbox("ex01", "Amsterdam", org("Amsterdam"), row), planned=(cert,))).changes
    assert (change.action, change.after) == ("replace", (cert.id,))
    assert change.reason == "this plan changes the Edge's default SMTP certificate (CN=smtp (AAAAAAAA)): subscribed again after it"
    (broken,) = plan_subscription(want(), ON_EDGE, ctx(mailbox("ex01", "Amsterdam", org("Amsterdam"), status("Failed")), planned=(cert,))).changes
    assert (broken.reason, broken.after) == ("SyncStatus Failed", (cert.id,))  # its own reason first, still after the certificate


@pytest.mark.parametrize("change, picked", [
    (("create", ["SMTP"], True), True),
    (("update", ["IIS", "SMTP"], True), True),
    (("update", ["IIS", "SMTP"], False), False),  # SMTP through -NetworkServiceAllowed: the default stays where it is
    (("replace", ["SMTP"], True), True),  # the default renewed: its replacement becomes the default
    (("replace", ["SMTP"], False), False),  # a renewal of another certificate serving SMTP
    (("delete", [], True), False),
    (("create", ["SMTP"], False), False),
    (("update", [], True), True),  # made the default with nothing else to enable
])
def test_which_certificate_change_makes_a_new_default_smtp_certificate(change, picked):
    """The certificate kind shows a new default SMTP certificate as the property default_smtp; serving SMTP is not it."""
    action, after, default = change
    c = Change("edge01/exchange_certificate/X", "edge01", "exchange_certificate", "CN=x", "X", action,
               (PropertyChange("valid_until", "", "", "", None, AT), PropertyChange("services", "", [], after, None, AT),
                *((PropertyChange("default_smtp", "", "CN=old (00000000)", "CN=x", None, AT),) if default else ())), "r")
    other_kind = Change("edge01/receive_connector/X", "edge01", "receive_connector", "X", "X", "create", c.properties, "r")
    no_services = Change("edge01/exchange_certificate/Y", "edge01", "exchange_certificate", "CN=y", "Y", "create", c.properties[:1], "r")
    assert smtp_certificate_change((other_kind, no_services, c)) == (c if picked else None)
    deleted_first = Change("edge01/exchange_certificate/Z", "edge01", "exchange_certificate", "CN=z", "Z", "delete", c.properties, "r")
    assert smtp_certificate_change((deleted_first, c)) == (c if picked else None)


# --- problems ---------------------------------------------------------------------------------------------------------


def problem_of(result) -> str:
    (text,) = result.problems
    assert result.findings == (Finding("edge01" if result.findings[0].host == "edge01" else result.findings[0].host, KIND, result.findings[0].name,
                                       FindingStatus.ERROR, AT, message=text),)
    return text


def test_declared_on_a_mailbox_server_is_a_problem_saying_where():
    on_mailbox = PlanContext("ex01", ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2", "Amsterdam"), "EX01")
    result = plan_subscription(want(), (), on_mailbox)
    assert result.problems == ("host_vars/edge01.yaml:2:3: exchange.edge_subscription: EX01 is a Mailbox server; an Edge Subscription is declared "
                               "on the Edge Transport server it subscribes",)
    assert result.findings == (Finding("ex01", KIND, "EX01", FindingStatus.ERROR, AT, message=result.problems[0]),)


def test_an_edge_declared_by_two_inventory_hosts_is_a_problem_naming_both_sites():
    other_at = Location("group_vars/dmz.yaml", 4, 5)
    twin = PeerRead("edge01-again", EDGE, (), (Desired(KIND, "", (DesiredValue("subscription", SubSpec("Rotterdam", True, None, None), other_at),), other_at),))
    assert problem_of(plan_subscription(want(""), (), ctx(mailbox("ex01"), twin))) == (
        "host_vars/edge01.yaml:2:3: exchange.edge_subscription: EDGE01 is declared twice, by inventory hosts edge01 and edge01-again "
        "(site (absent) here, site Rotterdam at group_vars/dmz.yaml:4:5); an Edge is subscribed to one site: declare it on one host")
    twin_absent = PeerRead("edge01-again", EDGE, (), (Desired(KIND, "", (DesiredValue("subscription", SubSpec("", False, None, None), other_at),), other_at),))
    assert "(site Amsterdam here, site (absent) at group_vars/dmz.yaml:4:5)" in problem_of(plan_subscription(want(), (), ctx(mailbox("ex01"), twin_absent)))
    declaring_mailbox = PeerRead("ex02", ServerFacts("EDGE01", "x", "Mailbox", "15.2", "Amsterdam"), (), twin.declared)
    other_edge = PeerRead("edge02", ServerFacts("EDGE02", "x", "Edge", "15.2", ""), (), twin.declared)
    assert plan_subscription(want(), (), ctx(mailbox("ex01"), declaring_mailbox, other_edge)).problems == ()


def test_no_clean_mailbox_server_of_the_site_is_a_problem_naming_the_sites_there_are():
    text = problem_of(plan_subscription(want("Utrecht"), (), ctx(mailbox("ex01"), mailbox("ex05", "Rotterdam"), mailbox("ex06", "Utrecht", clean=False))))
    assert text == ("host_vars/edge01.yaml:2:3: exchange.edge_subscription: site 'Utrecht': no Mailbox server of that site among the hosts read and "
                    "planned cleanly (sites of those Mailbox servers: Amsterdam, Rotterdam); a Mailbox server of the site imports the subscription "
                    "(select one with --limit, fix the one that failed, or check the site's name)")
    assert "(sites of those Mailbox servers: none)" in problem_of(plan_subscription(want(), (), ctx()))


def test_mailbox_servers_none_of_which_read_the_organisations_side_is_a_problem_pointing_at_their_errors():
    expected = ("host_vars/edge01.yaml:2:3: exchange.edge_subscription: no Mailbox server could read the organisation's side of the subscription "
                "(Get-EdgeSubscription, Test-EdgeSynchronization): see the errors of the Mailbox servers")
    assert problem_of(plan_subscription(want(), ON_EDGE, ctx(mailbox("ex01", read_site=False), mailbox("ex05", "Rotterdam", read_site=False)))) == expected
    assert problem_of(plan_subscription(want(present=False), ON_EDGE, ctx(mailbox("ex01", read_site=False)))) == expected
    assert plan_subscription(want(), ON_EDGE, ctx(mailbox("ex01", read_site=False), mailbox("ex05", "Rotterdam"))).problems == ()  # one site read is enough


# --- removal ------------------------------------------------------------------------------------------------------------


def test_absent_removes_each_side_that_exists_through_a_clean_mailbox_server():
    peers = (mailbox("ex02", "Amsterdam", org("Amsterdam")), mailbox("ex01", clean=False), mailbox("ex03", "Rotterdam"))
    result = plan_subscription(want(present=False), ON_EDGE, ctx(*peers))
    (change,) = result.changes
    assert change == Change(CHANGE_ID, "edge01", KIND, "EDGE01", "EDGE01", "delete", (PropertyChange("site", "", "Amsterdam", "(none)", None, AT),),
                            "declared absent")
    assert change.payload == SubscriptionWork(remove_through="ex02", remove_on_edge=True)
    assert result.findings == (Finding("edge01", KIND, "EDGE01", FindingStatus.CHANGE, AT, props()),)
    assert operations_for(change) == (
        Operation(f"{CHANGE_ID}#remove-org", "ex02", CHANGE_ID, (Step(f"{CHANGE_ID}#remove-org", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False}),),
                  role="remove-org"),
        Operation(f"{CHANGE_ID}#remove-edge", "edge01", CHANGE_ID,
                  (Step(f"{CHANGE_ID}#remove-edge", "Remove-EdgeSubscription", {"Identity": "EDGE01", "Confirm": False, "Force": True}),), role="remove-edge"),
    )


def test_absent_with_one_side_left_removes_only_that_side():
    (edge_only,) = plan_subscription(want(present=False), ON_EDGE, ctx(mailbox("ex01"))).changes
    assert edge_only.properties == (PropertyChange("site", "", "(Edge side only)", "(none)", None, AT),)
    assert edge_only.payload == SubscriptionWork(remove_on_edge=True) and [op.role for op in operations_for(edge_only)] == ["remove-edge"]
    (org_only,) = plan_subscription(want(present=False), (), ctx(mailbox("ex01", "Amsterdam", org("Amsterdam")))).changes
    assert org_only.payload == SubscriptionWork(remove_through="ex01") and [op.host for op in operations_for(org_only)] == ["ex01"]


def test_absent_and_nowhere_is_in_sync_and_an_organisation_side_without_a_clean_mailbox_server_is_a_problem():
    assert plan_subscription(want(present=False), (), ctx(mailbox("ex01"))).findings == (Finding("edge01", KIND, "EDGE01", FindingStatus.IN_SYNC, AT),)
    text = problem_of(plan_subscription(want(present=False), ON_EDGE, ctx(mailbox("ex01", "Amsterdam", org("Amsterdam"), clean=False))))
    assert text == ("host_vars/edge01.yaml:2:3: exchange.edge_subscription: EDGE01 is subscribed to site Amsterdam, and no Mailbox server that was "
                    "read and planned cleanly can remove the organisation's side")


# --- both sides, as read ------------------------------------------------------------------------------------------------


def test_both_sides_are_gathered_from_the_edge_and_the_mailbox_servers_of_the_site():
    others = ObservedObject(KIND, "EDGE02", "EDGE02", {"Name": "EDGE02", "Site": "contoso.lab/Configuration/Sites/Utrecht"})
    stray = ObservedObject(STATUS, "edge01", "edge01", {"Name": "edge01"})  # a status row is not a subscription
    peers = (
        PeerRead("edge02", ServerFacts("EDGE02", "x", "Edge", "15.2", "Amsterdam"), (org("Bogus"), status("Failed"))),
        mailbox("ex05", "Rotterdam", status("Failed")),
        mailbox("ex01", "Amsterdam", others, org("Amsterdam/")),
        mailbox("ex09", "Utrecht", org("Utrecht")),
        mailbox("ex02", "Amsterdam", status("Inconclusive", name="EDGE02"), status("Normal", name="edge01")),
        mailbox("ex03", "Amsterdam", status("Failed")),
    )
    got = sides("EDGE01", (stray, ObservedObject("receive_connector", "EDGE01", "x", {})), peers)
    assert (got.on_edge, got.org_site, got.status) == (False, "Amsterdam", status("Normal", name="edge01").values)
    assert sides("EDGE01", ON_EDGE, ()).on_edge and sides("EDGE01", ON_EDGE, ()).org_site == "" and sides("EDGE01", ON_EDGE, ()).status is None
    no_site = ObservedObject(KIND, "EDGE01", "EDGE01", {"Name": "EDGE01", "Site": None})
    assert sides("EDGE01", (), (mailbox("ex01", "Amsterdam", no_site, status("Normal")),)).org_site == ""
    assert (got.read, got.default, got.site_mates) == (True, "", ())
    default = ObservedObject(EDGE_DEFAULT, "", "", {"InternalTransportCertificateThumbprint": "AB" * 20})
    unread = sides("EDGE01", (default,), (mailbox("ex01", read_site=False), PeerRead("edge02", EDGE, (ObservedObject(SITE_READ, "", "", {}),))))
    assert (unread.read, unread.default) == (False, "AB" * 20)  # only a Mailbox server reads the organisation's side
    mates = (org("Amsterdam", "EDGE02"), org("Rotterdam", "EDGE03"), org("amsterdam", "edge01"))
    assert sides("EDGE01", (), (mailbox("ex01", "Amsterdam", *mates),), "AMSTERDAM").site_mates == ("edge02",)
    assert sides("EDGE01", (), (mailbox("ex01", "Amsterdam", *mates),)).site_mates == ()


def test_the_kind_declares_reads_and_observes_both_sides():
    kind = KIND_INSTANCE
    where = lambda path: Location("inv.yaml", 3, len(path))  # noqa: E731
    assert kind.desired(None, where) == () and kind.desired({}, where) == ()
    assert kind.desired({"site": "Amsterdam", "create_internet_send_connector": False}, where) == (
        Desired(KIND, "", (DesiredValue("subscription", SubSpec("Amsterdam", True, False, None), Location("inv.yaml", 3, 0)),), Location("inv.yaml", 3, 0)),)
    assert kind.desired({"state": "absent", "create_inbound_send_connector": True}, where)[0].values[0].value == SubSpec("", False, None, True)
    assert kind.read_steps("read:") == [
        Step("read:edge_subscription", "Get-EdgeSubscription", {}, select=("Name", "Site")),
        Step("read:edge_subscription.status", "Test-EdgeSynchronization", {"ExcludeRecipientTest": True},
             select=("Name", "SyncStatus", "FailureDetail", "LeaseExpiryUtc", "LastSynchronizedUtc"), skip_on_edge=True),
        Step("read:edge_subscription.default", "Get-TransportService", {"Identity": LOCAL_SERVER}, select=("InternalTransportCertificateThumbprint",)),
    ]
    default = {"InternalTransportCertificateThumbprint": "AB" * 20}
    answer = Answer("EDGE01", True, {
        "p:edge_subscription": StepResult("p:edge_subscription", "ok", ({"Name": "EDGE01", "Site": "x/Amsterdam"}, {"Name": "", "Site": None})),
        "p:edge_subscription.status": StepResult("p:edge_subscription.status", STATUS_NOT_APPLICABLE),
        "p:edge_subscription.default": StepResult("p:edge_subscription.default", "ok", (default,)),
    })
    assert kind.observe(answer, "p:") == (ObservedObject(KIND, "EDGE01", "EDGE01", {"Name": "EDGE01", "Site": "x/Amsterdam"}),
                                          ObservedObject(EDGE_DEFAULT, "", "", default))
    for odd in (StepResult("p:edge_subscription.default", "ok", (default, default)), StepResult("p:edge_subscription.default", "failed")):
        assert kind.observe(Answer("EDGE01", True, {**answer.results, "p:edge_subscription.default": odd}), "p:") == kind.observe(answer, "p:")[:1]
    both = Answer("EX01", False, {
        "p:edge_subscription": StepResult("p:edge_subscription", STATUS_NOT_APPLICABLE),
        "p:edge_subscription.status": StepResult("p:edge_subscription.status", "ok", ({"Name": "EDGE01", "SyncStatus": "Normal"},)),
        "p:edge_subscription.default": StepResult("p:edge_subscription.default", "ok", (default,)),  # a Mailbox server's: not the Edge's
    })
    assert kind.observe(both, "p:") == (ObservedObject(SITE_READ, "", "", {}),
                                        ObservedObject(STATUS, "EDGE01", "EDGE01", {"Name": "EDGE01", "SyncStatus": "Normal"}))


@pytest.mark.parametrize("failing, cmdlet", [("p:edge_subscription", "Get-EdgeSubscription"), ("p:edge_subscription.status", "Test-EdgeSynchronization")])
def test_a_read_that_failed_names_its_cmdlet_and_why(failing, cmdlet):
    ok = {s: StepResult(s, "ok") for s in ("p:edge_subscription", "p:edge_subscription.status")}
    with pytest.raises(ReadError) as exc:
        KIND_INSTANCE.observe(Answer("EX01", False, {**ok, failing: StepResult(failing, "failed", error=StepError("Active Directory is down"))}), "p:")
    assert str(exc.value) == f"{cmdlet} failed: Active Directory is down"
    with pytest.raises(ReadError) as exc:
        KIND_INSTANCE.observe(Answer("EX01", False, {**ok, failing: StepResult(failing, "not_run")}), "p:")
    assert str(exc.value) == f"{cmdlet} failed: not_run"


# --- verifying each operation ---------------------------------------------------------------------------------------------


def op(role: str, host: str = "ex01") -> Operation:
    return Operation(f"{CHANGE_ID}#{role}", host, CHANGE_ID, (), role=role)


CHANGE = Change(CHANGE_ID, "edge01", KIND, "EDGE01", "EDGE01", "create", (), "r")


@pytest.mark.parametrize("role", ["unsubscribe", "remove-org", "remove-edge"])
def test_a_removal_is_verified_by_the_subscription_being_gone_from_that_host(role):
    assert verify_step(op(role), CHANGE, (org("Amsterdam", "EDGE02"), status("Normal"))) is None
    assert verify_step(op(role), CHANGE, (org("Amsterdam", "edge01"),)) == "removed, but Get-EdgeSubscription on ex01 still lists EDGE01"


def test_an_import_and_a_synchronisation_are_verified_on_the_importer():
    assert verify_step(op("import"), CHANGE, (org("Amsterdam", "edge01"),)) is None
    assert verify_step(op("import"), CHANGE, (status("Normal"),)) == "imported, but Get-EdgeSubscription on ex01 does not list EDGE01"
    assert verify_step(op("sync"), CHANGE, (org("Amsterdam"), status("Normal", name="edge01"))) is None
    assert verify_step(op("sync"), CHANGE, (org("Amsterdam"), status("Normal", name="EDGE02"))) == (
        "synchronised, but Test-EdgeSynchronization on ex01 reports nothing for EDGE01")
    assert verify_step(op("sync"), CHANGE, (status("Failed", "LeaseExpired"),)) == "Test-EdgeSynchronization on ex01: SyncStatus Failed, FailureDetail LeaseExpired"
    assert verify_step(op("sync"), CHANGE, (status("Inconclusive"),)) == "Test-EdgeSynchronization on ex01: SyncStatus Inconclusive"
    assert verify_step(op("file", "edge01"), CHANGE, ()) is None and verify_step(op("restart-adam", "edge01"), CHANGE, ()) is None


def test_only_the_synchronisation_is_read_back_again_and_a_bounded_number_of_times():
    assert KIND_INSTANCE.polls(op("sync")) == (6, 10.0)
    assert [KIND_INSTANCE.polls(op(r)) for r in ("import", "file", "remove-org")] == [(0, 0.0)] * 3
    assert KIND_INSTANCE.verify_operation(op("import"), CHANGE, ()) == "imported, but Get-EdgeSubscription on ex01 does not list EDGE01"
    assert KIND_INSTANCE.verify(CHANGE, ()) is None
