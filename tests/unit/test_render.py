"""What the plan prints: values as written, lists as lists, sensitive values hidden, counts in words."""

import json

from rich.console import Console

from exconf.model import Change, Finding, FindingStatus, HostPlan, HostStatus, Plan, PropertyChange, ServerFacts
from exconf.render import plan_json, print_plan, summary_line, value_text
from exconf.yamlsource import Location

HERE = Location("group_vars/mailbox.yaml", 14, 7)
EDGE = ServerFacts("EDGE01", "edge01.dmz.contoso.lab", "Edge", "15.2.1544.4", "")
MBX = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")


def change(prop="protocol_log_path", before="C:\\Logs", after="D:\\Logs\\SmtpSend", sensitive=False, action="update", name="Default EX01"):
    p = PropertyChange(prop, "X", before, after, after, HERE, sensitive)
    return Change(f"ex01/k/{name}", "ex01.contoso.lab", "receive_connector", name, "g", action, (p,), "declared in x")


def text(plan: Plan) -> str:
    console = Console(record=True, width=200, force_terminal=False)
    print_plan(console, plan)
    return console.export_text()


def test_windows_paths_print_with_single_backslashes_and_lists_as_lists():
    assert value_text("D:\\Logs\\SmtpSend") == '"D:\\Logs\\SmtpSend"'
    assert value_text([]) == "[]" and value_text(["fabrikam.com", "contoso.com"]) == '["fabrikam.com", "contoso.com"]'
    plan = Plan({"ex01.contoso.lab": HostPlan("ex01.contoso.lab", HostStatus.OK, MBX, (change(before=[], after=["fabrikam.com"]),))})
    assert 'protocol_log_path = [] -> ["fabrikam.com"]' in text(plan)


def test_terminal_control_characters_are_escaped_but_json_stays_exact():
    name = "Evil\x1b[2J\u202eX\u2028Y"
    plan = Plan({"ex01.contoso.lab": HostPlan("ex01.contoso.lab", HostStatus.OK, MBX, (change(name=name),))})
    shown = text(plan)
    assert "\x1b" not in shown and "\u202e" not in shown and "\u2028" not in shown
    assert "Evil\\x1b[2J\\u202eX\\u2028Y" in shown
    assert json.loads(json.dumps(plan_json(plan)))["changes"][0]["name"] == name


def test_sensitive_values_never_show():
    plan = Plan({"ex01.contoso.lab": HostPlan("ex01.contoso.lab", HostStatus.OK, MBX, (change(before="old-secret", after="new-secret", sensitive=True),))})
    shown = text(plan) + json.dumps(plan_json(plan))
    assert "secret" not in shown and "(sensitive)" in shown


def test_an_edge_has_a_null_site_in_json():
    plan = Plan({"edge01": HostPlan("edge01", HostStatus.OK, EDGE, ()), "ex01": HostPlan("ex01", HostStatus.OK, MBX, ())})
    doc = plan_json(plan)
    assert doc["hosts"]["edge01"]["site"] is None and doc["hosts"]["ex01"]["site"] == "Amsterdam"


def test_the_summary_counts_every_action_and_host_trouble_in_words():
    hosts = {
        "a": HostPlan("a", HostStatus.OK, MBX, (change(), change(action="replace", name="b"), change(action="create", name="c"))),
        "b": HostPlan("b", HostStatus.UNREACHABLE, None, (), error="down"),
        "c": HostPlan("c", HostStatus.FAILED, None, (), error="bad"),
        "d": HostPlan("d", HostStatus.FAILED, None, (), error="bad"),
    }
    assert summary_line(Plan(hosts)) == "Plan: 1 to add, 1 to change, 0 to destroy, 1 to replace. 1 host unreachable, 2 hosts failed."
    assert Plan(hosts).summary() == {"add": 1, "change": 1, "destroy": 0, "replace": 1, "unreachable": 1, "failed": 2}


def test_findings_are_part_of_the_json_plan():
    finding = Finding("ex01.contoso.lab", "receive_connector", "Default EX01", FindingStatus.IN_SYNC, HERE)
    plan = Plan({"ex01.contoso.lab": HostPlan("ex01.contoso.lab", HostStatus.OK, MBX, (), findings=(finding,))})
    (doc,) = plan_json(plan)["findings"]
    assert doc == {"host": "ex01.contoso.lab", "resource": "receive_connector", "name": "Default EX01", "status": "in_sync", "declared_at": "group_vars/mailbox.yaml:14:7", "properties": []}


def test_a_replace_lists_create_and_delete_in_the_order_its_own_steps_run():
    from exconf.model import Operation
    from exconf.remote import Step

    renew, swap, other = change(action="replace", name="renew"), change(action="replace", name="swap"), change(name="other")
    plan = Plan({"ex01.contoso.lab": HostPlan("ex01.contoso.lab", HostStatus.OK, MBX, (renew, swap, other))}, operations=(
        Operation("o0", "ex01.contoso.lab", other.id, (Step("x", "Remove-Thing"),)),  # another change's: not renew's
        Operation("o1", "ex01.contoso.lab", renew.id, (Step("a", "Get-Thing"), Step("b", "Import-ExchangeCertificate"))),
        Operation("o2", "ex01.contoso.lab", renew.id, (Step("c", "Remove-ExchangeCertificate"),)),
        Operation("o3", "ex01.contoso.lab", swap.id, (Step("d", "Disable-Thing"), Step("e", "Enable-Thing"))),
    ))
    actions = {c["address"]: c["actions"] for c in plan_json(plan)["changes"]}
    assert actions == {renew.id: ["create", "delete"], swap.id: ["delete", "create"], other.id: ["update"]}
