"""Saved plans, pure parts: the file round trip and what moved between a saved plan and a fresh one."""

import json
import os
import stat
from pathlib import Path

import pytest

from exconf import planfile
from exconf.model import Change, Finding, FindingStatus, HostPlan, HostStatus, Operation, Plan, PropertyChange, Refusal, ServerFacts
from exconf.remote import Step
from exconf.yamlsource import Location

AT = Location("group_vars/all.yaml", 3, 5)
FACTS = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")


def change(name="Default EX01", before="None", after="Verbose", prop="protocol_logging_level"):
    return Change(f"ex01/receive_connector/{name}", "ex01", "receive_connector", name, "g-1", "update",
                  (PropertyChange(prop, "ProtocolLoggingLevel", before, after, after, AT),), "declared in x")


def finding(name, status=FindingStatus.CHANGE):
    return Finding("ex01", "receive_connector", name, status, AT)


def host_plan(changes=(), findings=(), status=HostStatus.OK, facts=FACTS):
    return HostPlan("ex01", status, facts, tuple(changes), "", tuple(findings), "http://127.0.0.1:5985/wsman")


def saved(plan: Plan) -> planfile.SavedPlan:
    return planfile.SavedPlan(plan, "0.1.0", "AB" * 32, Path("/srv/inv.yaml"), "d" * 64, "mailbox", "2026-12-01T00:00:00+00:00", "ex01")


def test_a_plan_file_round_trips_and_is_private(tmp_path):
    c = change()
    op = Operation(c.id, "ex01", c.id, (Step(f"{c.id}:set", "Set-ReceiveConnector", {"Identity": "g-1", "ProtocolLoggingLevel": "Verbose"}),), needs=("other",))
    plan = Plan({"ex01": host_plan([c], [finding("Default EX01")])}, (op,), ("careful",), (Refusal("r", "ex01", "no", c.id),), ("r",))
    path = tmp_path / "x.plan"
    planfile.save(path, saved(plan), {"format_version": "1", "warnings": ["careful"]})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    back = planfile.load(path)
    assert back.plan == plan
    assert (back.exconf_version, back.program_hash, back.inventory, back.limit, back.org_host) == ("0.1.0", "AB" * 32, Path("/srv/inv.yaml"), "mailbox", "ex01")
    assert not list(tmp_path.glob(".*tmp"))  # written through a temporary file, nothing left behind


def test_a_sensitive_value_is_never_saved(tmp_path):
    secret = Change("id", "ex01", "k", "n", "i", "update", (PropertyChange("p", "P", "a", "b", "wire-secret", AT, sensitive=True),), "r")
    with pytest.raises(planfile.PlanFileError, match="sensitive"):
        planfile.save(tmp_path / "x.plan", saved(Plan({"ex01": host_plan([secret])})), {})
    assert not (tmp_path / "x.plan").exists()


def test_damaged_and_foreign_files_are_refused_with_why(tmp_path):
    path = tmp_path / "p"
    path.write_text("{not json")
    with pytest.raises(planfile.PlanFileError, match=r"p:1:2: not a JSON plan file"):
        planfile.load(path)
    path.write_text(json.dumps({"saved": {"planfile_version": 99}}))
    with pytest.raises(planfile.PlanFileError, match="format 99; this exconf reads format 1"):
        planfile.load(path)
    with pytest.raises(planfile.PlanFileError, match="cannot read"):
        planfile.load(tmp_path / "missing")


def test_nothing_moved_means_no_drift():
    plan = Plan({"ex01": host_plan([change()], [finding("Default EX01"), finding("Client EX01", FindingStatus.IN_SYNC)])})
    assert planfile.drift_between(plan, plan, ["ex01"]) == []


def test_each_kind_of_movement_is_named():
    old = Plan({"ex01": host_plan([change(), change("Client EX01")], [finding("Default EX01"), finding("Client EX01"), finding("Gone EX01", FindingStatus.IN_SYNC)])})
    new = Plan(
        {
            "ex01": host_plan(
                [change(before="Verbose", after="None"), change("New EX01")],
                [finding("Default EX01"), finding("New EX01"), finding("Client EX01", FindingStatus.IN_SYNC)],
            )
        }
    )
    moved = planfile.drift_between(old, new, ["ex01"])
    assert moved == [
        'ex01: receive_connector \'Default EX01\': protocol_logging_level was "None" at plan time, is now "Verbose"',
        "ex01: receive_connector 'Client EX01' no longer needs this change: it was changed since the plan was made",
        'ex01: receive_connector \'New EX01\' now differs from the declaration (protocol_logging_level "None")',
        "ex01: receive_connector 'New EX01' appeared since the plan was made",
        "ex01: receive_connector 'Gone EX01' disappeared since the plan was made",
    ]


def test_a_property_that_joined_or_left_a_change_is_named():
    two = Change("ex01/receive_connector/D", "ex01", "receive_connector", "D", "g", "update",
                 (PropertyChange("a", "A", "1", "2", "2", AT), PropertyChange("b", "B", "x", "y", "y", AT)), "r")
    one = Change("ex01/receive_connector/D", "ex01", "receive_connector", "D", "g", "update", (PropertyChange("b", "B", "x", "y", "y", AT),), "r")
    assert planfile.drift_between(Plan({"ex01": host_plan([two])}), Plan({"ex01": host_plan([one])}), ["ex01"]) == ["ex01: receive_connector 'D': a is now already \"2\""]
    assert planfile.drift_between(Plan({"ex01": host_plan([one])}), Plan({"ex01": host_plan([two])}), ["ex01"]) == ["ex01: receive_connector 'D': a now differs too (\"1\", declared \"2\")"]


def test_an_unreadable_or_replaced_server_is_named():
    old = Plan({"ex01": host_plan()})
    down = Plan({"ex01": HostPlan("ex01", HostStatus.UNREACHABLE, None, (), "cannot connect")})
    assert planfile.drift_between(old, down, ["ex01"]) == ["ex01: could not be read again: cannot connect"]
    other = Plan({"ex01": host_plan(facts=ServerFacts("EX09", "ex09", "Mailbox", "15.2.1748.10", "Amsterdam"))})
    assert planfile.drift_between(old, other, ["ex01"]) == ["ex01: the server is not the one planned (EX01 15.2.1544.4 then, EX09 15.2.1748.10 now)"]
