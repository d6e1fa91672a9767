"""What a reviewer sees of a plan (engine/review.py), exactly as show prints it and a plan file holds it, and
what `apply PLANFILE` says when the plan it would run now is not the one reviewed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from exconf.controllerfiles import PfxBytes, RefSecret
from exconf.model import (Change, FileRef, Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, Operation, Plan, PropertyChange,
                          Refusal, SecretRef, ServerFacts)
from exconf.remote import LOCAL_SERVER, FromOperation, OutputRef, Secret, Step
from exconf.review import changed_hosts, command, differences, files, parameter, review
from exconf.yamlsource import Location

AT = Location("group_vars/all.yaml", 3, 5)
EX01 = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")
EDGE = ServerFacts("EDGE01", "edge01.contoso.lab", "Edge", "15.2.1544.4", "")
PFX = b"0\x82pfx-bytes"
PFX_REF = FileRef("/srv/inv/mail.pfx", hashlib.sha256(PFX).hexdigest())


def setting() -> Change:
    return Change("ex01/receive_connector/Default EX01", "ex01", "receive_connector", "Default EX01", "g-1", "update", (
        PropertyChange("protocol_logging_level", "ProtocolLoggingLevel", "None", "Verbose", "Verbose", AT),
        PropertyChange("auth_password", "AuthPassword", "old-secret", "new-secret", "new-secret", AT, sensitive=True),
        PropertyChange("banner", "", "a", "b", None, AT, sensitive=True),  # shown only: no parameter to hide
    ), "declared in group_vars/all.yaml:3")


def certificate() -> Change:
    return Change("edge01/exchange_certificate/" + "A" * 40, "edge01", "exchange_certificate", "CN=mail (AAAAAAAA)", "A" * 40, "create",
                  (PropertyChange("services", "", [], ["SMTP"], None, AT),), "import /srv/inv/mail.pfx", after=("ex01/receive_connector/Default EX01",),
                  effects=("the default SMTP certificate changes",))


def operations() -> tuple[Operation, ...]:
    s, c = setting(), certificate()
    set_step = Step(f"{s.id}:set", "Set-ReceiveConnector", {"Identity": "g-1", "ProtocolLoggingLevel": "Verbose", "AuthPassword": "new-secret"})
    imp = Step(f"{c.id}:import", "Import-ExchangeCertificate",
               {"FileData": PfxBytes(PFX, PFX_REF), "Password": RefSecret(SecretRef("env", "PFX_PW")), "Server": LOCAL_SERVER}, select=("Thumbprint",))
    enable = Step(f"{c.id}:enable", "Enable-ExchangeCertificate",
                  {"Thumbprint": OutputRef(imp.id, "Thumbprint"), "Services": "SMTP", "Force": True, "Count": 2, "Ratio": 0.5, "Note": None,
                   "Domains": ("a.example", "b.example"), "Raw": b"\x01\x02", "Typed": Secret("typed at a prompt", lambda: "x"),
                   "Odd": frozenset({"x"})})
    made = Step("edge01/edge_subscription/EDGE01#file", "New-EdgeSubscription", {"Force": True}, output_file="FileName")
    carried = Step("ex01/edge_subscription/EDGE01#import", "New-EdgeSubscription", {"FileData": FromOperation("edge01/edge_subscription/EDGE01#file", made.id)})
    return (
        Operation(s.id, "ex01", s.id, (set_step,), role="set"),
        Operation(c.id, "edge01", c.id, (imp, enable), needs=(s.id,), role="create"),
        Operation("x#file", "edge01", c.id, (made,), needs=(c.id,), role="file"),
        Operation("x#import", "ex01", c.id, (carried,), needs=("x#file",), within=("x#file", 86100), role="import"),
    )


def the_plan(**extra) -> Plan:
    s, c = setting(), certificate()
    finding = Finding("ex01", "receive_connector", "Default EX01", FindingStatus.CHANGE, AT,
                      (FindingProperty("protocol_logging_level", "Verbose", "None", AT),), "why")
    hosts = {
        "ex01": HostPlan("ex01", HostStatus.OK, EX01, (s,), "", (finding,), "http://ex01:5985/wsman"),
        "edge01": HostPlan("edge01", HostStatus.OK, EDGE, (c,), "", (), "https://edge01:5986/wsman"),
        "ex02": HostPlan("ex02", HostStatus.UNREACHABLE, None, (), "http://ex02:5985/wsman: cannot connect\nsecond line", (), "http://ex02:5985/wsman"),
    }
    plan = Plan(hosts, operations(), ("careful",), (Refusal("certificate-sha1", "edge01", "SHA-1", c.id), Refusal("smtp-certificate-kept", "ex01", "no SMTP")),
                ("certificate-sha1",), ((s.id,), (c.id, "x#file"), ("x#import",)))
    return replace(plan, **extra)


def test_the_review_is_every_change_with_every_command_by_value_or_by_reference():
    doc = review(the_plan())
    assert json.loads(json.dumps(doc)) == doc  # JSON as it is: what the file holds is what show prints
    assert doc["hosts"] == {
        "ex01": {"status": "ok", "error": "", "endpoint": "http://ex01:5985/wsman", "facts": EX01.to_json()},
        "edge01": {"status": "ok", "error": "", "endpoint": "https://edge01:5986/wsman", "facts": EDGE.to_json()},
        "ex02": {"status": "unreachable", "error": "http://ex02:5985/wsman: cannot connect\nsecond line", "endpoint": "http://ex02:5985/wsman", "facts": None},
    }
    setting_doc, cert_doc = doc["changes"]
    assert setting_doc == {
        "address": "ex01/receive_connector/Default EX01", "host": "ex01", "kind": "receive_connector", "name": "Default EX01", "identity": "g-1",
        "action": "update", "reason": "declared in group_vars/all.yaml:3", "after": [], "effects": [],
        "properties": [
            {"prop": "protocol_logging_level", "before": "None", "after": "Verbose", "sensitive": False, "declared_at": ["group_vars/all.yaml", 3, 5]},
            {"prop": "auth_password", "before": "(sensitive)", "after": "(sensitive)", "sensitive": True, "declared_at": ["group_vars/all.yaml", 3, 5]},
            {"prop": "banner", "before": "(sensitive)", "after": "(sensitive)", "sensitive": True, "declared_at": ["group_vars/all.yaml", 3, 5]},
        ],
        "operations": [{"id": "ex01/receive_connector/Default EX01", "host": "ex01", "wave": 1, "role": "set", "needs": [], "within": None, "commands": [
            {"step": "ex01/receive_connector/Default EX01:set", "cmdlet": "Set-ReceiveConnector",
             "parameters": {"Identity": "g-1", "ProtocolLoggingLevel": "Verbose", "AuthPassword": "(sensitive)"}}]}],
    }
    cid = "edge01/exchange_certificate/" + "A" * 40
    assert {k: v for k, v in cert_doc.items() if k != "operations"} == {
        "address": cid, "host": "edge01", "kind": "exchange_certificate", "name": "CN=mail (AAAAAAAA)", "identity": "A" * 40, "action": "create",
        "reason": "import /srv/inv/mail.pfx", "after": ["ex01/receive_connector/Default EX01"],
        "effects": ["the default SMTP certificate changes"],
        "properties": [{"prop": "services", "before": [], "after": ["SMTP"], "sensitive": False, "declared_at": ["group_vars/all.yaml", 3, 5]}],
    }
    assert cert_doc["operations"] == [
        {"id": cid, "host": "edge01", "wave": 2, "role": "create", "needs": ["ex01/receive_connector/Default EX01"], "within": None, "commands": [
            {"step": f"{cid}:import", "cmdlet": "Import-ExchangeCertificate", "parameters": {
                "FileData": {"file": "/srv/inv/mail.pfx", "sha256": PFX_REF.digest},
                "Password": {"secret": "from env PFX_PW", "origin": "env", "name": "PFX_PW"},
                "Server": {"server": "this server"}}},
            {"step": f"{cid}:enable", "cmdlet": "Enable-ExchangeCertificate", "parameters": {
                "Thumbprint": {"output_of": f"{cid}:import", "property": "Thumbprint"}, "Services": "SMTP", "Force": True, "Count": 2,
                "Ratio": 0.5, "Note": None, "Domains": ["a.example", "b.example"],
                "Raw": {"bytes": 2, "sha256": hashlib.sha256(b"\x01\x02").hexdigest()}, "Typed": {"secret": "typed at a prompt"},
                "Odd": {"value": "frozenset({'x'})"}}}]},
        {"id": "x#file", "host": "edge01", "wave": 2, "role": "file", "needs": [cid], "within": None, "commands": [
            {"step": "edge01/edge_subscription/EDGE01#file", "cmdlet": "New-EdgeSubscription",
             "parameters": {"Force": True, "FileName": {"temporary_file": True}}}]},
        {"id": "x#import", "host": "ex01", "wave": 3, "role": "import", "needs": ["x#file"], "within": ["x#file", 86100], "commands": [
            {"step": "ex01/edge_subscription/EDGE01#import", "cmdlet": "New-EdgeSubscription",
             "parameters": {"FileData": {"file_written_by": "edge01/edge_subscription/EDGE01#file"}}}]},
    ]
    assert doc["refusals"] == [
        {"rail": "certificate-sha1", "host": "edge01", "change": cid, "message": "SHA-1", "overridden": True},
        {"rail": "smtp-certificate-kept", "host": "ex01", "change": "", "message": "no SMTP", "overridden": False},
    ]
    assert (doc["overridden"], doc["warnings"]) == (["certificate-sha1"], ["careful"])
    assert doc["findings"] == [f.to_json() for f in the_plan().findings]


def test_a_parameter_is_shown_as_what_it_is_never_as_a_secret_or_bytes():
    assert parameter("Verbose") == "Verbose" and parameter(None) is None and parameter(7) == 7 and parameter(False) is False
    assert parameter("Verbose", sensitive=True) == "(sensitive)" and parameter(["a"], True) == "(sensitive)"
    assert parameter(["a.example", ("b.example", b"\x00")]) == ["a.example", ["b.example", {"bytes": 1, "sha256": hashlib.sha256(b"\x00").hexdigest()}]]
    assert parameter({"exconf_ref": "ComputerName"}) == {"server": "this server"}
    assert parameter(frozenset()) == {"value": "frozenset()"}  # a type exconf does not send is shown, never passed unseen
    shown = json.dumps(command(operations()[1].steps[0]))
    assert "pfx-bytes" not in shown and "PFX_PW" in shown


def test_the_files_and_hosts_a_reviewed_plan_touches():
    doc = review(the_plan())
    assert files(doc) == [("edge01", "/srv/inv/mail.pfx", PFX_REF.digest)]
    assert changed_hosts(doc) == ["ex01", "edge01"]
    twice = review(replace(the_plan(), operations=(*operations(), replace(operations()[1], id="again"))))
    assert files(twice) == [("edge01", "/srv/inv/mail.pfx", PFX_REF.digest)]  # one check per file and host
    lookalike = {"changes": [{"operations": [{"host": "ex01", "commands": [{"parameters": {
        "A": {"file": "/x", "sha256": "0", "extra": 1}, "B": "file", "C": ["file", "sha256"]}}]}]}]}
    assert files(lookalike) == [] and changed_hosts(lookalike) == ["ex01"]


def test_an_operation_the_schedule_does_not_hold_is_shown_in_wave_0():
    assert {op["wave"] for c in review(the_plan(schedule=()))["changes"] for op in c["operations"]} == {0}


# --- what differs --------------------------------------------------------------------------------------------------


def test_a_list_parameter_that_changed_is_a_difference_never_hidden_as_nulls():
    """The issue's mutant: a saved plan storing list parameters as nulls, unnoticed by the staleness check."""
    reviewed = review(the_plan())
    moved_ops = list(operations())
    enable = moved_ops[1].steps[1]
    moved_ops[1] = replace(moved_ops[1], steps=(moved_ops[1].steps[0], replace(enable, params={**enable.params, "Domains": ("a.example", "evil.example")})))
    (why,) = differences(reviewed, review(the_plan(operations=tuple(moved_ops))), ["ex01", "edge01"])
    assert why == ("edge01: exchange_certificate 'CN=mail (AAAAAAAA)': its commands differ from what the inventory and the servers give now: "
                   "at [0].commands[1].parameters.Domains[1], \"b.example\" in the plan reviewed, \"evil.example\" now")


@pytest.mark.parametrize("field, value, name", [
    ("host", "ex09", "host differs"),
    ("kind", "send_connector", "kind differs"),
    ("name", "Other", "name differs"),
    ("identity", "g-2", "target (Identity) differs"),
    ("action", "replace", "action differs"),
    ("after", ("x",), "order (what it follows) differs"),
    ("effects", ("the Edge subscription is made again",), "side effects differ"),
])
def test_each_field_of_a_change_that_moved_is_named(field, value, name):
    s = setting()
    reviewed = review(the_plan())
    moved = review(the_plan(hosts={**the_plan().hosts, "ex01": replace(the_plan().hosts["ex01"], changes=(replace(s, **{field: value}),))}))
    (why,) = [d for d in differences(reviewed, moved, ["ex01", "edge01"]) if "receive_connector" in d or "send_connector" in d]
    assert why.startswith(f"ex01: receive_connector 'Default EX01': its {name} from what the inventory and the servers give now: at ")


def test_properties_that_differ_only_in_where_they_were_declared_are_named():
    s = setting()
    elsewhere = replace(s, properties=(replace(s.properties[0], source=Location("host_vars/ex01.yaml", 1, 1)), *s.properties[1:]))
    moved = review(the_plan(hosts={**the_plan().hosts, "ex01": replace(the_plan().hosts["ex01"], changes=(elsewhere,))}))
    (why,) = differences(review(the_plan()), moved, ["ex01", "edge01"])
    assert why == ("ex01: receive_connector 'Default EX01': its properties differ from what the inventory and the servers give now: "
                   "at [0].declared_at[0], \"group_vars/all.yaml\" in the plan reviewed, \"host_vars/ex01.yaml\" now")


def test_a_long_value_is_cut_in_the_message_and_a_list_of_another_length_says_so():
    s = setting()
    long_ops = list(operations())
    step = long_ops[0].steps[0]
    long_ops[0] = replace(long_ops[0], steps=(replace(step, params={**step.params, "Banner": "x" * 200}),))
    (why,) = differences(review(the_plan()), review(the_plan(operations=tuple(long_ops))), ["ex01", "edge01"])
    assert why.endswith(': at [0].commands[0].parameters.Banner, null in the plan reviewed, "' + "x" * 116 + "… now")
    exactly = "y" * 118  # 120 characters with its quotes: shown whole
    long_ops[0] = replace(long_ops[0], steps=(replace(step, params={**step.params, "Banner": exactly}),))
    (why,) = differences(review(the_plan()), review(the_plan(operations=tuple(long_ops))), ["ex01", "edge01"])
    assert why.endswith(f'"{exactly}" now')
    one_more = "z" * 119  # 121 characters: cut
    long_ops[0] = replace(long_ops[0], steps=(replace(step, params={**step.params, "Banner": one_more}),))
    (why,) = differences(review(the_plan()), review(the_plan(operations=tuple(long_ops))), ["ex01", "edge01"])
    assert why.endswith(f'"{"z" * 116}… now')
    extra_op = replace(the_plan().operations[0], id="more")
    (why,) = differences(review(the_plan()), review(the_plan(operations=(*operations(), extra_op))), ["ex01", "edge01"])
    assert why == f"ex01: receive_connector {s.name!r}: its commands differ from what the inventory and the servers give now: at the top, 1 in the plan reviewed, 2 now"


def test_a_difference_at_the_top_of_a_field_is_named_so():
    (why,) = differences(review(the_plan()), review(the_plan(hosts={**the_plan().hosts, "ex01": replace(
        the_plan().hosts["ex01"], changes=(replace(setting(), action="delete"),))})), ["ex01", "edge01"])
    assert why.endswith(': at the top, "update" in the plan reviewed, "delete" now')


def test_hosts_that_cannot_be_read_again_are_named_each_and_the_others_still_compared():
    reviewed = review(the_plan())
    fresh = review(the_plan(hosts={k: v for k, v in the_plan().hosts.items() if k != "ex01"}))
    assert differences(reviewed, fresh, ["ex01", "ex02", "edge01"]) == [
        "ex01: could not be read again: not in this run",
        "ex02: could not be read again: http://ex02:5985/wsman: cannot connect",
        "ex01: receive_connector 'Default EX01' no longer needs this change: what the inventory declares and the server holds no longer calls for it "
        "(it was changed since the plan was made)",
    ]
    silent = review(the_plan(hosts={**the_plan().hosts, "ex01": HostPlan("ex01", HostStatus.FAILED, None, ())}))
    assert differences(reviewed, silent, ["ex01"])[0] == "ex01: could not be read again: not in this run"


def test_objects_that_appeared_or_disappeared_are_named_only_for_the_hosts_read_and_not_for_errors():
    def with_findings(*findings):
        return review(the_plan(hosts={**the_plan().hosts, "ex01": replace(the_plan().hosts["ex01"], findings=findings)}))

    mine = Finding("ex01", "receive_connector", "Default EX01", FindingStatus.CHANGE, AT)
    other_host = Finding("edge01", "receive_connector", "Edge one", FindingStatus.IN_SYNC, AT)
    broken = Finding("ex01", "receive_connector", "Nothing*", FindingStatus.ERROR, AT)
    assert differences(with_findings(mine), with_findings(mine, other_host, broken), ["ex01"]) == []
    assert differences(with_findings(mine, other_host, broken), with_findings(mine), ["ex01"]) == []
    renamed = Finding("ex01", "receive_connector", "DEFAULT ex01", FindingStatus.CHANGE, AT)
    assert differences(with_findings(mine), with_findings(renamed), ["ex01"]) == []  # Exchange names are case-insensitive


def test_every_change_that_moved_is_named_not_only_the_first():
    s, c = setting(), certificate()
    gone = review(the_plan(hosts={**the_plan().hosts, "ex01": replace(the_plan().hosts["ex01"], changes=()),
                                  "edge01": replace(the_plan().hosts["edge01"], changes=())}))
    assert differences(review(the_plan()), gone, ["ex01", "edge01"]) == [
        f"ex01: receive_connector {s.name!r} no longer needs this change: what the inventory declares and the server holds no longer calls for it "
        "(it was changed since the plan was made)",
        f"edge01: exchange_certificate {c.name!r} no longer needs this change: what the inventory declares and the server holds no longer calls for it "
        "(it was changed since the plan was made)",
    ]
    two_props = review(the_plan(hosts={**the_plan().hosts, "ex01": replace(the_plan().hosts["ex01"], changes=(replace(s, properties=(
        replace(s.properties[0], before="Verbose"), replace(s.properties[1], before="other"))),))}))
    assert differences(review(the_plan()), two_props, ["ex01", "edge01"]) == [
        'ex01: receive_connector \'Default EX01\': protocol_logging_level was "None" at plan time, is now "Verbose"',
        'ex01: receive_connector \'Default EX01\': banner is now already "(sensitive)"',
    ]
    new = replace(s, id="ex01/receive_connector/Client EX01", name="Client EX01", properties=s.properties[:1] + (
        PropertyChange("banner_text", "Banner", "Hello ✓", "Hi", "Hi", AT),))
    more = review(the_plan(hosts={**the_plan().hosts, "ex01": replace(the_plan().hosts["ex01"], changes=(s, new))}))
    assert differences(review(the_plan()), more, ["ex01", "edge01"]) == [
        "ex01: receive_connector 'Client EX01' now differs from the declaration (protocol_logging_level \"None\", banner_text \"Hello ✓\")"]


def test_changes_in_another_order_are_named_only_when_nothing_else_moved():
    s, _ = setting(), certificate()
    swapped = Plan({"edge01": the_plan().hosts["edge01"], "ex01": the_plan().hosts["ex01"], "ex02": the_plan().hosts["ex02"]},
                   operations(), ("careful",), the_plan().refusals, ("certificate-sha1",), the_plan().schedule)
    assert differences(review(the_plan()), review(swapped), ["ex01", "edge01"]) == ["the changes are not in the order reviewed"]
    moved_too = replace(swapped, hosts={**swapped.hosts, "ex01": replace(swapped.hosts["ex01"], changes=(replace(s, identity="g-9"),))})
    assert "the changes are not in the order reviewed" not in differences(review(the_plan()), review(moved_too), ["ex01", "edge01"])


def test_a_rail_now_refusing_or_overridden_is_named_and_rails_of_hosts_not_read_are_not():
    c = certificate()
    reviewed = review(the_plan())
    for refusals, said in [
        ((*the_plan().refusals, Refusal("certificate-expired", "edge01", "expired", c.id)),
         [f"edge01: the safety rail certificate-expired refuses {c.id} now, which the plan reviewed did not show"]),
        ((*the_plan().refusals, Refusal("edge-mailbox-same-certificate", "ex01", "same")),
         ["ex01: the safety rail edge-mailbox-same-certificate refuses the plan now, which the plan reviewed did not show"]),
        ((*the_plan().refusals, Refusal("certificate-sha1", "ex01", "SHA-1 too")),
         ["ex01: the safety rail certificate-sha1 is overridden the plan now, which the plan reviewed did not show"]),
        ((the_plan().refusals[0], replace(the_plan().refusals[1], change="other")),
         ["ex01: the safety rail smtp-certificate-kept refuses other now, which the plan reviewed did not show"]),
        ((replace(the_plan().refusals[0], host="ex01"), the_plan().refusals[1]),
         [f"ex01: the safety rail certificate-sha1 is overridden {c.id} now, which the plan reviewed did not show"]),
        ((*the_plan().refusals, Refusal("certificate-expired", "ex09", "not read")), []),
    ]:
        assert differences(reviewed, review(the_plan(refusals=refusals)), ["ex01", "edge01"]) == said
    assert differences(reviewed, review(the_plan(overridden=())), ["ex01", "edge01"])[-1] == (
        "the rails overridden are not the ones reviewed (certificate-sha1)")
    two = review(the_plan(overridden=("certificate-sha1", "iis-self-signed")))
    assert differences(two, reviewed, ["ex01", "edge01"])[-1] == "the rails overridden are not the ones reviewed (certificate-sha1, iis-self-signed)"


def test_a_rail_overridden_now_but_refusing_when_reviewed_is_named():
    c = certificate()
    reviewed = review(the_plan(overridden=()))
    assert differences(reviewed, review(the_plan()), ["ex01", "edge01"])[0] == (
        f"edge01: the safety rail certificate-sha1 is overridden {c.id} now, which the plan reviewed did not show")


@pytest.mark.parametrize("was, now, shown", [
    ({"exconf_ref": "ComputerName"}, "EX01", '{"server": "this server"} in the plan reviewed, "EX01" now'),
    ("EX01", {"exconf_ref": "ComputerName"}, '"EX01" in the plan reviewed, {"server": "this server"} now'),
    (["a.example"], None, '["a.example"] in the plan reviewed, null now'),
    (None, ["a.example"], 'null in the plan reviewed, ["a.example"] now'),
])
def test_a_parameter_that_changed_its_type_is_named_with_both_values(was, now, shown):
    def with_server(value):
        ops = list(operations())
        step = ops[0].steps[0]
        ops[0] = replace(ops[0], steps=(replace(step, params={**step.params, "Server": value}),))
        return review(the_plan(operations=tuple(ops)))

    (why,) = differences(with_server(was), with_server(now), ["ex01", "edge01"])
    assert why == f"ex01: receive_connector 'Default EX01': its commands differ from what the inventory and the servers give now: at [0].commands[0].parameters.Server, {shown}"
