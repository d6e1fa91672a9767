"""The edge_subscription kind, pure: both sides → the verdict, the cross-host operations, and the runner's
in-memory file carrying and bootstrap-window check."""

from __future__ import annotations

import pytest

from exconf.desired import DesiredState
from exconf.graph import waves
from exconf.model import Desired, DesiredValue, FindingStatus, ObservedObject, ServerFacts
from exconf.modules import KINDS
from exconf.modules.edge_subscription import KIND, SITE_READ, STATUS, SubSpec, operations_for, verify_step
from exconf.planner import HostRead, plan
from exconf.remote import FromOperation, Step, encode_payload
from exconf.runner import MissingOutput, late_for_window, resolve_files
from exconf.yamlsource import Location

AT = Location("inv.yaml", 7, 28)
EX01 = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")
EX02 = ServerFacts("EX02", "ex02.contoso.lab", "Mailbox", "15.2.1544.4", "Rotterdam")
EDGE = ServerFacts("EDGE01", "edge01.contoso.lab", "Edge", "15.2.1544.4", "")


def declared(site="Amsterdam", present=True, internet=None):
    return DesiredState(hosts={"edge01": (Desired(KIND, "", (DesiredValue("subscription", SubSpec(site, present, internet, None), AT),), AT),)},
                        organization=())


def sub(name, site=None):
    return ObservedObject(KIND, name, name, {"Name": name, "Site": f"contoso.lab/Configuration/Sites/{site}" if site else None})


def status(name, sync, detail=None):
    return ObservedObject(STATUS, name, name, {"Name": name, "SyncStatus": sync, "FailureDetail": detail,
                                               "LeaseExpiryUtc": "2026-12-01T10:00:00Z", "LastSynchronizedUtc": "2026-12-01T09:00:00Z"})


SITE = ObservedObject(SITE_READ, "", "", {})  # the Mailbox server read its site's side (the runner's site read)


def reads(edge=(), ex01=(), ex02=()):
    return {
        "edge01": HostRead("edge01", facts=EDGE, objects={KIND: tuple(edge)}),
        "ex01": HostRead("ex01", facts=EX01, objects={KIND: (*ex01, SITE)}),
        "ex02": HostRead("ex02", facts=EX02, objects={KIND: (*ex02, SITE)}),
    }


def planned(desired, r):
    return plan(desired, r, KINDS, org_host=None)


def test_subscribed_and_normal_is_in_sync_with_the_fields_that_show_it():
    result = planned(declared(), reads([sub("EDGE01")], [sub("EDGE01", "Amsterdam"), status("EDGE01", "Normal")], [sub("EDGE01", "Amsterdam")]))
    assert result.changes == [] and result.operations == ()
    (finding,) = result.hosts["edge01"].findings
    assert finding.status is FindingStatus.IN_SYNC
    assert {p.prop: p.actual for p in finding.properties}["last_synchronized_utc"] == "2026-12-01T09:00:00Z"


def test_failed_sync_is_a_replace_with_its_reason_and_the_fields_drift_reports():
    result = planned(declared(), reads([sub("EDGE01")], [sub("EDGE01", "Amsterdam"), status("EDGE01", "Failed", "LeaseExpired")]))
    (change,) = result.changes
    assert change.action == "replace" and change.reason == "SyncStatus Failed, FailureDetail LeaseExpired"
    (finding,) = result.hosts["edge01"].findings
    got = {p.prop: p.actual for p in finding.properties}
    assert finding.status is FindingStatus.CHANGE and got["sync_status"] == "Failed" and got["failure_detail"] == "LeaseExpired"
    assert got["lease_expiry_utc"] == "2026-12-01T10:00:00Z"


@pytest.mark.parametrize(("edge", "org", "action", "why"), [
    ([], [], "create", "is not subscribed"),
    ([sub("EDGE01")], [], "replace", "the organisation does not have"),
    ([], [sub("EDGE01", "Amsterdam"), status("EDGE01", "Failed")], "replace", "removed on the Edge"),
    ([sub("EDGE01")], [sub("EDGE01", "Amsterdam"), status("EDGE01", "Inconclusive")], "replace", "SyncStatus Inconclusive"),
])
def test_each_half_state_has_its_change(edge, org, action, why):
    (change,) = planned(declared(), reads(edge, org)).changes
    assert change.action == action and why in change.reason


def test_the_operations_run_edge_mailbox_edge_mailbox_in_four_waves_with_the_file_by_reference():
    result = planned(declared(internet=False), reads())
    assert [[(op.host, op.steps[0].cmdlet) for op in w] for w in waves(result.operations)] == [
        [("edge01", "New-EdgeSubscription")], [("ex01", "New-EdgeSubscription")],
        [("edge01", "Restart-Service")], [("ex01", "Start-EdgeSynchronization")],
    ]
    made, imported = result.operations[0], result.operations[1]
    assert made.steps[0].output_file == "FileName" and made.steps[0].params == {"Force": True}
    params = imported.steps[0].params
    assert params["FileData"] == FromOperation(made.id, made.steps[0].id)
    assert params["Site"] == "Amsterdam" and params["CreateInternetSendConnector"] is False
    assert imported.within == (made.id, 1440 * 60 - 300)
    with pytest.raises(ValueError, match="did not resolve"):
        encode_payload(list(imported.steps))


def test_a_move_to_another_site_removes_the_old_record_first():
    result = planned(declared("Rotterdam"), reads([sub("EDGE01")], [sub("EDGE01", "Amsterdam"), status("EDGE01", "Normal")]))
    (change,) = result.changes
    assert change.reason == "subscribed to site Amsterdam, declared Rotterdam"
    first = waves(result.operations)[0]
    assert [(op.host, op.steps[0].cmdlet) for op in first] == [("ex01", "Remove-EdgeSubscription")]
    assert next(op for op in result.operations if op.id.endswith("#import")).host == "ex02"


def test_absent_removes_both_sides_and_nothing_when_neither_has_it():
    result = planned(declared(present=False), reads([sub("EDGE01")], [sub("EDGE01", "Amsterdam")]))
    assert sorted((op.host, op.steps[0].params.get("Force", False)) for op in result.operations) == [("edge01", True), ("ex01", False)]
    assert planned(declared(present=False), reads()).changes == []


def test_problems_name_where_declared():
    result = planned(declared("Utrecht"), reads())
    assert "inv.yaml:7:28: exchange.edge_subscription: site 'Utrecht': no Mailbox server of that site" in result.hosts["edge01"].error
    assert "Amsterdam, Rotterdam" in result.hosts["edge01"].error
    on_mailbox = DesiredState(hosts={"ex01": declared().hosts["edge01"]}, organization=())
    assert "EX01 is a Mailbox server" in planned(on_mailbox, reads()).hosts["ex01"].error


def test_files_are_carried_from_earlier_answers_and_a_missing_one_stops_the_operation():
    op = operations_for(planned(declared(), reads()).changes[0])[1]
    ref = op.steps[0].params["FileData"]
    resolved = resolve_files(op, {(ref.operation, ref.step): b"<?xml?>"})
    assert resolved.steps[0].params["FileData"] == b"<?xml?>" and op.steps[0].params["FileData"] == ref
    with pytest.raises(MissingOutput, match="returned nothing"):
        resolve_files(op, {})
    plain = operations_for(planned(declared(), reads()).changes[0])[2]
    assert resolve_files(plain, {}) is plain


def test_the_bootstrap_window_is_checked_against_when_the_file_was_made():
    op = operations_for(planned(declared(), reads()).changes[0])[1]
    made = op.within[0]
    assert late_for_window(op, {made: 1000.0}, 1000.0 + op.within[1]) == ""
    late = late_for_window(op, {made: 1000.0}, 1000.0 + op.within[1] + 1)
    assert "bootstrap window" in late and "1435 minutes" in late and "exconf apply" in late
    assert late_for_window(op, {}, 10**9) == ""  # the file's operation did not run in this apply: nothing to check


def test_verify_reads_each_operation_on_its_own_host():
    change = planned(declared(), reads()).changes[0]
    ops = {op.id.rsplit("#", 1)[1]: op for op in operations_for(change)}
    assert verify_step(ops["import"], change, (sub("EDGE01", "Amsterdam"),)) is None
    assert "does not list EDGE01" in verify_step(ops["import"], change, ())
    assert verify_step(ops["sync"], change, (status("EDGE01", "Normal"),)) is None
    assert "SyncStatus Inconclusive" in verify_step(ops["sync"], change, (status("EDGE01", "Inconclusive"),))


def test_step_json_of_a_reference_names_the_operation_not_bytes():
    step = Step("s", "New-EdgeSubscription", {"FileData": FromOperation("op", "st")})
    assert step.to_json()["params"]["FileData"] == {"exconf_ref": "Operation", "operation": "op", "step": "st"}


class Scripted:
    """An executor whose Test-EdgeSynchronization answers come from a list, one per round trip."""

    def __init__(self, syncs):
        self.syncs, self.calls = list(syncs), 0

    def execute(self, steps, *, halt_on_error):
        from exconf.remote import Answer, StepResult

        self.calls += 1
        sync = self.syncs.pop(0)
        results = {}
        for s in steps:
            objects = ({"Name": "EDGE01", "SyncStatus": sync},) if s.cmdlet == "Test-EdgeSynchronization" else ()
            results[s.id] = StepResult(s.id, "ok", objects)
        return Answer("EX01", False, results)

    def release(self): ...
    def close(self): ...
    def open_sockets(self): return 0
    def notes(self): return ()


@pytest.mark.parametrize(("syncs", "outcome", "round_trips"), [
    (["Inconclusive", "Inconclusive", "Normal"], "applied", 3),
    (["Inconclusive"] * 7, "unverified", 7),  # the batch, then at most sync_polls (6) read-backs
])
def test_synchronisation_is_read_back_a_bounded_number_of_times(tmp_path, syncs, outcome, round_trips):
    from exconf.inventory import load
    from exconf.model import HostPlan, HostStatus, Plan
    from exconf.runner import Run

    inv_file = tmp_path / "inv.yaml"
    inv_file.write_text("all:\n  hosts:\n    ex01: {ansible_host: 127.73.0.1}\n    edge01: {ansible_host: 127.73.0.2}\n")
    inv = load(inv_file)
    first = planned(declared(), reads())
    change = first.changes[0]
    sync = next(op for op in first.operations if op.id.endswith("#sync"))
    from dataclasses import replace as dc_replace

    scripted = Scripted(syncs)
    pauses: list[float] = []
    run = Run(inv, list(inv.hosts), declared(), executor_factory=lambda host: scripted, sleep=pauses.append)
    the_plan = Plan(hosts={"edge01": HostPlan("edge01", HostStatus.OK, EDGE, (change,)), "ex01": HostPlan("ex01", HostStatus.OK, EX01, ())},
                    operations=(dc_replace(sync, needs=()),), schedule=((sync.id,),))
    (result,) = run.apply(the_plan)["edge01"].results
    assert result.outcome.value == outcome and scripted.calls == round_trips
    assert pauses == [10.0] * (round_trips - 1)
    if outcome == "unverified":
        assert "SyncStatus Inconclusive" in result.message


def test_an_edge_declared_by_two_inventory_hosts_in_two_sites_is_a_problem_on_both():
    other = Location("group_vars/rotterdam.yaml", 3, 5)
    desired = DesiredState(hosts={
        "edge01": declared().hosts["edge01"],
        "edge01-again": (Desired(KIND, "", (DesiredValue("subscription", SubSpec("Rotterdam", True, None, None), other),), other),),
    }, organization=())
    r = reads()
    r["edge01-again"] = HostRead("edge01-again", facts=EDGE, objects={KIND: ()})
    result = planned(desired, r)
    assert result.operations == ()
    assert "EDGE01 is declared twice" in result.hosts["edge01"].error
    assert "site Amsterdam here, site Rotterdam at group_vars/rotterdam.yaml:3:5" in result.hosts["edge01"].error
    assert "site Rotterdam here, site Amsterdam at inv.yaml:7:28" in result.hosts["edge01-again"].error


def test_a_mailbox_server_that_failed_at_plan_time_is_never_the_importer():
    """Issue 15: a typo on ex01 must not block the Edge: the import goes through ex03, of the same site, which planned cleanly."""
    ex03 = ServerFacts("EX03", "ex03.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")
    typo = Desired("receive_connector", "Default Frontnd {server}", (DesiredValue("protocol_logging_level", "Verbose", AT),), AT)
    desired = DesiredState(hosts={**declared().hosts, "ex01": (typo,)}, organization=())
    r = reads()
    r["ex01"].objects["receive_connector"] = (ObservedObject("receive_connector", "Default Frontend EX01", "g", {"Name": "Default Frontend EX01"}),)
    r["ex03"] = HostRead("ex03", facts=ex03, objects={KIND: ()})
    result = planned(desired, r)
    assert result.hosts["ex01"].status.value == "failed" and "matches no receive connector" in result.hosts["ex01"].error
    assert result.hosts["edge01"].status.value == "ok"
    assert {op.host for op in result.operations} == {"edge01", "ex03"}
    assert all(op.host != "ex01" for op in result.operations)


def test_without_a_clean_mailbox_server_of_the_site_the_edge_says_why_and_nothing_needs_a_missing_operation():
    typo = Desired("receive_connector", "Nope*", (DesiredValue("protocol_logging_level", "Verbose", AT),), AT)
    desired = DesiredState(hosts={**declared().hosts, "ex01": (typo,)}, organization=())
    r = reads()
    r["ex01"].objects["receive_connector"] = ()
    result = planned(desired, r)
    assert result.hosts["edge01"].status.value == "failed"
    assert "no Mailbox server of that site among the hosts read and planned cleanly" in result.hosts["edge01"].error
    assert result.operations == () and result.schedule == ()
