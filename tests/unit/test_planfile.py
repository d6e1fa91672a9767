"""Saved plans, pure parts: the review a file holds, its authentication, its bounds, and what moved between
the plan reviewed and a fresh one (review.differences)."""

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from exconf import planfile, plankey
from exconf.model import Change, Finding, FindingStatus, HostPlan, HostStatus, Operation, Plan, PropertyChange, Refusal, ServerFacts
from exconf.remote import LOCAL_SERVER, Step
from exconf.review import differences, review
from exconf.yamlsource import Location

AT = Location("group_vars/all.yaml", 3, 5)
FACTS = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")
KEY = b"k" * 32


def change(name="Default EX01", before="None", after="Verbose", prop="protocol_logging_level"):
    return Change(f"ex01/receive_connector/{name}", "ex01", "receive_connector", name, "g-1", "update",
                  (PropertyChange(prop, "ProtocolLoggingLevel", before, after, after, AT),), "declared in x")


def op_for(c: Change, **params) -> Operation:
    step = Step(f"{c.id}:set", "Set-ReceiveConnector", {"Identity": c.identity, "ProtocolLoggingLevel": c.properties[0].wire, **params})
    return Operation(c.id, c.host, c.id, (step,), role="set")


def finding(name, status=FindingStatus.CHANGE):
    return Finding("ex01", "receive_connector", name, status, AT)


def host_plan(changes=(), findings=(), status=HostStatus.OK, facts=FACTS):
    return HostPlan("ex01", status, facts, tuple(changes), "", tuple(findings), "http://127.0.0.1:5985/wsman")


def planned(*changes: Change, findings=(), **extra) -> Plan:
    ops = tuple(op_for(c) for c in changes)
    return Plan({"ex01": host_plan(changes, findings or [finding(c.name) for c in changes])}, ops, schedule=(tuple(o.id for o in ops),), **extra)


def saved(plan: Plan) -> planfile.SavedPlan:
    return planfile.SavedPlan(review(plan), {}, "0.1.0", "AB" * 32, Path("/srv/inv.yaml"), "d" * 64, "mailbox", "2026-12-01T00:00:00+00:00", "ex01")


def test_a_plan_file_round_trips_is_private_and_authenticated(tmp_path):
    c = change()
    plan = planned(c, warnings=("careful",), refusals=(Refusal("r", "ex01", "no", c.id),), overridden=("r",))
    path = tmp_path / "x.plan"
    planfile.save(path, saved(plan), {"format_version": "1", "warnings": ["careful"]}, KEY)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    back = planfile.load(path, KEY, strict=True)
    assert back.authentic is None and back.review == review(plan) and back.overridden == ("r",)
    assert (back.exconf_version, back.program_hash, back.inventory, back.limit, back.org_host) == ("0.1.0", "AB" * 32, Path("/srv/inv.yaml"), "mailbox", "ex01")
    assert back.public == {"format_version": "1", "warnings": ["careful"]}
    assert not list(tmp_path.glob(".*tmp"))  # written through a temporary file, nothing left behind
    # The file holds no step to run: only the review (what show prints), which apply compares.
    doc = json.loads(path.read_text())
    assert "operations" not in doc["saved"] and doc["saved"]["review"]["changes"][0]["operations"][0]["commands"] == [
        {"step": f"{c.id}:set", "cmdlet": "Set-ReceiveConnector", "parameters": {"Identity": "g-1", "ProtocolLoggingLevel": "Verbose"}}]


@pytest.mark.parametrize("edit", [
    lambda d: d["saved"]["review"]["changes"][0]["operations"][0]["commands"][0]["parameters"].update(PermissionGroups="AnonymousUsers"),
    lambda d: d["saved"]["review"]["refusals"].clear(),
    lambda d: d["saved"].update(inventory_digest="0" * 64),
    lambda d: d["changes"].clear(),  # the public part is covered too
    lambda d: d["mac"].update(key_id=plankey.key_id(b"x" * 32)),
])
def test_any_edit_fails_authentication(tmp_path, edit):
    c = change()
    path = tmp_path / "x.plan"
    plan = planned(c, refusals=(Refusal("r", "ex01", "no", c.id),))
    planfile.save(path, saved(plan), {"format_version": "1", "changes": [c.to_json()]}, KEY)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    back = planfile.load(path, KEY)
    assert back.authentic is not None and ("changed after exconf wrote it" in back.authentic or "another plan key" in back.authentic)


def test_a_file_written_by_others_or_of_another_user_is_refused_for_apply(tmp_path):
    path = tmp_path / "x.plan"
    planfile.save(path, saved(planned(change())), {}, KEY)
    os.chmod(path, 0o622)
    with pytest.raises(planfile.PlanFileError, match=r"can be written by others \(mode 0622\)"):
        planfile.load(path, KEY, strict=True)
    assert planfile.load(path, KEY).authentic is None  # show still reads it


def test_a_sensitive_value_is_never_saved(tmp_path):
    secret = Change("id", "ex01", "k", "n", "i", "update", (PropertyChange("p", "P", "a", "b", "wire-secret", AT, sensitive=True),), "r")
    with pytest.raises(planfile.PlanFileError, match="sensitive"):
        planfile.new(Plan({"ex01": host_plan([secret])}), None, None, None)  # type: ignore[arg-type]
    assert review(Plan({"ex01": host_plan([secret])}, (Operation("o", "ex01", "id", (Step("s", "Set-X", {"P": "wire-secret"}),)),)))[
        "changes"][0]["operations"][0]["commands"][0]["parameters"] == {"P": "(sensitive)"}


def test_damaged_huge_deep_and_foreign_files_are_refused_with_why_never_with_their_content(tmp_path):
    path = tmp_path / "p"
    path.write_text("{root:x:0:0:secret line")
    with pytest.raises(planfile.PlanFileError, match=r"p:1:2: not a JSON plan file") as exc:
        planfile.load(path)
    assert "secret line" not in str(exc.value)
    path.write_text(json.dumps({"saved": {"planfile_version": 99}}))
    with pytest.raises(planfile.PlanFileError, match="format 99; this exconf reads format 2"):
        planfile.load(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(planfile.PlanFileError, match="nests deeper"):
        planfile.load(path)
    path.write_text(json.dumps({"saved": {"planfile_version": 2, "deep": json.loads("[" * 40 + "]" * 40)}}))
    with pytest.raises(planfile.PlanFileError, match="nests deeper"):
        planfile.load(path)
    with pytest.raises(planfile.PlanFileError, match="cannot read"):
        planfile.load(tmp_path / "missing")
    with pytest.raises(planfile.PlanFileError, match="not a regular file"):
        planfile.load(Path("/dev/zero"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(planfile.PlanFileError, match="not a regular file"):
        planfile.load(fifo)


def test_a_file_over_the_size_limit_is_refused_without_reading_it(tmp_path, monkeypatch):
    monkeypatch.setattr(planfile, "MAX_BYTES", 1000)
    path = tmp_path / "big.plan"
    path.write_text('{"saved": ' + " " * 2000 + "{}}")
    with pytest.raises(planfile.PlanFileError, match="a plan file is at most 1,000"):
        planfile.load(path)


def test_nothing_moved_means_no_difference():
    plan = planned(change(), findings=[finding("Default EX01"), finding("Client EX01", FindingStatus.IN_SYNC)])
    assert differences(review(plan), review(plan), ["ex01"]) == []


def test_each_kind_of_movement_is_named():
    old = planned(change(), change("Client EX01"), findings=[finding("Default EX01"), finding("Client EX01"), finding("Gone EX01", FindingStatus.IN_SYNC)])
    new = planned(change(before="Verbose", after="None"), change("New EX01"),
                  findings=[finding("Default EX01"), finding("New EX01"), finding("Client EX01", FindingStatus.IN_SYNC)])
    assert differences(review(old), review(new), ["ex01"]) == [
        "ex01: receive_connector 'New EX01' appeared since the plan was made",
        "ex01: receive_connector 'Gone EX01' disappeared since the plan was made",
        'ex01: receive_connector \'Default EX01\': protocol_logging_level was "None" at plan time, is now "Verbose"',
        "ex01: receive_connector 'Client EX01' no longer needs this change: what the inventory declares and the server holds no longer "
        "calls for it (it was changed since the plan was made)",
        'ex01: receive_connector \'New EX01\' now differs from the declaration (protocol_logging_level "None")',
    ]


def test_what_runs_must_be_what_was_reviewed_command_for_command():
    c = change()
    reviewed = review(planned(c))
    relay = review(replace(planned(c), operations=(op_for(c, PermissionGroups="AnonymousUsers"),)))
    (why,) = differences(reviewed, relay, ["ex01"])
    assert why.startswith("ex01: receive_connector 'Default EX01': its commands differ from what the inventory and the servers give now")
    assert "PermissionGroups" in why
    retargeted = review(planned(replace(c, identity="g-2")))
    assert "its target (Identity) differs" in differences(reviewed, retargeted, ["ex01"])[0]
    local = review(replace(planned(c), operations=(op_for(c, Server=LOCAL_SERVER),)))
    assert local["changes"][0]["operations"][0]["commands"][0]["parameters"]["Server"] == {"server": "this server"}


def test_a_rail_that_refuses_now_and_overrides_that_moved_are_named():
    c = change()
    reviewed = review(planned(c))
    refused = review(planned(c, refusals=(Refusal("smtp-certificate-kept", "ex01", "no", c.id),)))
    assert differences(reviewed, refused, ["ex01"]) == [
        f"ex01: the safety rail smtp-certificate-kept refuses {c.id} now, which the plan reviewed did not show"]
    assert differences(reviewed, review(planned(c, overridden=("x",))), ["ex01"]) == ["the rails overridden are not the ones reviewed (none)"]


def test_a_property_that_joined_or_left_a_change_is_named():
    two = Change("ex01/receive_connector/D", "ex01", "receive_connector", "D", "g", "update",
                 (PropertyChange("a", "A", "1", "2", "2", AT), PropertyChange("b", "B", "x", "y", "y", AT)), "r")
    one = Change("ex01/receive_connector/D", "ex01", "receive_connector", "D", "g", "update", (PropertyChange("b", "B", "x", "y", "y", AT),), "r")
    assert differences(review(planned(two)), review(planned(one)), ["ex01"]) == ["ex01: receive_connector 'D': a is now already \"2\""]
    assert differences(review(planned(one)), review(planned(two)), ["ex01"]) == ["ex01: receive_connector 'D': a now differs too (\"1\", declared \"2\")"]


def test_an_unreadable_or_replaced_server_is_named():
    old = review(Plan({"ex01": host_plan()}))
    down = review(Plan({"ex01": HostPlan("ex01", HostStatus.UNREACHABLE, None, (), "cannot connect")}))
    assert differences(old, down, ["ex01"]) == ["ex01: could not be read again: cannot connect"]
    other = review(Plan({"ex01": host_plan(facts=ServerFacts("EX09", "ex09", "Mailbox", "15.2.1748.10", "Amsterdam"))}))
    assert differences(old, other, ["ex01"]) == ["ex01: the server is not the one planned (EX01 15.2.1544.4 then, EX09 15.2.1748.10 now)"]


def test_a_plan_from_a_host_list_is_not_saved_with_a_made_up_path(tmp_path, monkeypatch):
    from exconf.inventory import load

    monkeypatch.chdir(tmp_path)
    inventory = load(("ex01.contoso.lab,ex02.contoso.lab,",))
    with pytest.raises(planfile.PlanFileError, match=r"a plan made from a host list .* cannot be saved"):
        planfile.new(Plan({}), inventory, None, None)
