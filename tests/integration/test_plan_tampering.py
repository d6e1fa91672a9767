"""Issue 14: a reviewed plan is exactly what runs. Each edit of a saved plan that the hostile tester made is refused
before any host is contacted (the file's MAC), and `show` displays what the edited file says. An edit made by
someone who holds the plan key is refused too: apply derives what runs from the inventory and a fresh read, and
runs only when that is the plan reviewed; nothing on any server changes."""

from __future__ import annotations

import json

import pytest

from exconf import plankey

from .test_certificates import IMPORT_MAIL, PFX_PASSWORD, SERVERS, TestCA, inventory_text, run, write_pfx

EX01 = IMPORT_MAIL + """\
        receive_connectors:
          "Default {server}": {protocol_logging_level: Verbose}
"""
EDGE = """\
        receive_connectors:
          "Default internal receive connector {server}": {protocol_logging_level: Verbose}
        edge_subscription: {site: Amsterdam}
"""


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


@pytest.fixture
def saved(lab, ca, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SMTP_PFX_PASSWORD", PFX_PASSWORD)
    write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab"])
    inv = lab.inventory(inventory_text({"ex01": EX01, "edge01": EDGE}))
    plan_file = tmp_path / "tonight.plan"
    code, out, err = run(capsys, "plan", str(inv), "--out", str(plan_file))
    assert code == 0, out + err
    return inv, plan_file


def change_of(doc, kind, host_prefix):
    return next(c for c in doc["saved"]["review"]["changes"] if c["kind"] == kind and c["host"].startswith(host_prefix))


def relay(doc):
    cmd = change_of(doc, "receive_connector", "ex01")["operations"][0]["commands"][0]
    cmd["parameters"].update(PermissionGroups="AnonymousUsers", AuthMechanism="None")
    return "AnonymousUsers"


def added_on_another_host(doc):
    doc["saved"]["review"]["changes"].append({
        "address": "edge01.contoso.lab/transport_config/Transport Settings", "host": "edge01.contoso.lab", "kind": "transport_config",
        "name": "Transport Settings", "identity": "", "action": "update", "reason": "", "after": [], "properties": [],
        "operations": [{"id": "x", "host": "edge01.contoso.lab", "wave": 1, "role": "set", "needs": [], "within": None,
                        "commands": [{"step": "x:set", "cmdlet": "Set-TransportConfig", "parameters": {"TLSSendDomainSecureList": "evil.example"}}]}]})
    return "evil.example"


def attackers_pfx(doc):
    cmd = change_of(doc, "exchange_certificate", "ex01")["operations"][0]["commands"][0]
    cmd["parameters"]["FileData"] = {"file": "/tmp/attacker.pfx", "sha256": "0" * 64}
    cmd["parameters"]["Password"] = {"secret": "from env ATTACKER", "origin": "env", "name": "ATTACKER"}
    return "/tmp/attacker.pfx"


def shadow_password(doc):
    cmd = change_of(doc, "exchange_certificate", "ex01")["operations"][0]["commands"][0]
    cmd["parameters"]["Password"] = {"secret": "from file /etc/shadow", "origin": "file", "name": "/etc/shadow"}
    return "/etc/shadow"


def retargeted(doc):
    change = change_of(doc, "receive_connector", "ex01")
    change["identity"] = "11111111-2222-3333-4444-555555555555"
    change["operations"][0]["commands"][0]["parameters"]["Identity"] = change["identity"]
    return "11111111-2222-3333-4444-555555555555"


def moved(doc):
    ops = change_of(doc, "edge_subscription", "edge01")["operations"]
    ops[0], ops[-1] = ops[-1], ops[0]
    return "Start-EdgeSynchronization"


def duplicated(doc):
    ops = change_of(doc, "receive_connector", "ex01")["operations"]
    ops.append(json.loads(json.dumps(ops[0])))
    return "Set-ReceiveConnector"


def window_off(doc):
    op = next(o for o in change_of(doc, "edge_subscription", "edge01")["operations"] if o["within"])
    op["within"][1] = 1e30
    return "within"


EDITS = [relay, added_on_another_host, attackers_pfx, shadow_password, retargeted, moved, duplicated, window_off]


def requests(lab) -> dict[str, int]:
    return {name: s["requests"] for name, s in lab.stats().items()}


def state(lab) -> dict:
    return {server: [lab.exec(server, "Get-ReceiveConnector", Server=server), lab.exec(server, "Get-ExchangeCertificate")]
            for server in ("EX01", "EDGE01")}


@pytest.mark.parametrize("edit", EDITS, ids=[e.__name__ for e in EDITS])
def test_an_edited_plan_is_refused_before_any_host_and_show_displays_the_edit(lab, saved, capsys, edit):
    _, plan_file = saved
    doc = json.loads(plan_file.read_text())
    marker = edit(doc)
    plan_file.write_text(json.dumps(doc, indent=2))
    before, snapshot = requests(lab), state(lab)
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and "is refused: it was changed after exconf wrote it" in err and "nothing was sent to any server" in err, out + err
    assert requests(lab) == before  # no host was contacted
    code, out, err = run(capsys, "show", str(plan_file))
    assert code == 0 and "this plan file is not authenticated" in err
    if edit is not window_off:
        assert marker in out  # show displays what the file now says
    assert state(lab) == snapshot


@pytest.mark.parametrize("edit", EDITS, ids=[e.__name__ for e in EDITS])
def test_an_edit_by_a_holder_of_the_key_is_refused_by_deriving_the_plan_again(lab, saved, capsys, edit):
    _, plan_file = saved
    doc = json.loads(plan_file.read_text())
    edit(doc)
    doc.pop("mac")
    doc["mac"] = plankey.sign(plankey.load(plankey.key_path()), doc)
    plan_file.write_text(json.dumps(doc, indent=2))
    snapshot = state(lab)
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and "the saved plan is stale; nothing was changed on any host" in err, out + err
    assert state(lab) == snapshot


def test_a_refused_plan_with_its_refusals_removed_is_still_refused(lab, capsys, tmp_path):
    # Binding SMTP to a certificate with a 1024-bit key is refused (certificate-weak-key).
    inv = lab.inventory(inventory_text({"ex01": """\
        certificates:
          - match: {subject: "CN=weak.contoso.lab"}
            services: [SMTP]
"""}))
    plan_file = tmp_path / "refused.plan"
    code, out, err = run(capsys, "plan", str(inv), "--out", str(plan_file))
    assert code == 1 and "certificate-weak-key" in out
    doc = json.loads(plan_file.read_text())
    doc["saved"]["review"]["refusals"] = []
    doc.pop("mac")
    doc["mac"] = plankey.sign(plankey.load(plankey.key_path()), doc)
    plan_file.write_text(json.dumps(doc))
    snapshot = state(lab)
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and "the safety rail certificate-weak-key refuses" in err, out + err
    assert state(lab) == snapshot


def test_apply_names_the_inventory_and_hosts_it_targets_before_anything_is_sent(lab, saved, capsys):
    inv, plan_file = saved
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 0, out + err
    first = out.splitlines()[0]
    assert first.startswith(f"Applying the saved plan {plan_file}") and str(inv) in first
    assert "it changes 2 hosts: edge01.contoso.lab, ex01.contoso.lab" in first or "it changes 2 hosts: ex01.contoso.lab, edge01.contoso.lab" in first


def test_a_plan_made_with_another_key_or_without_the_key_is_refused(lab, saved, capsys, monkeypatch, tmp_path):
    _, plan_file = saved
    before = requests(lab)
    other = tmp_path / "other.key"
    plankey.load_or_create(other)
    monkeypatch.setenv("EXCONF_PLAN_KEY", str(other))
    code, _, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and "it was made with another plan key" in err
    monkeypatch.setenv("EXCONF_PLAN_KEY", str(tmp_path / "none.key"))
    code, _, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and "there is no plan key at" in err and not (tmp_path / "none.key").exists()
    assert requests(lab) == before


def test_a_plan_file_others_can_write_is_refused(lab, saved, capsys):
    _, plan_file = saved
    plan_file.chmod(0o666)
    code, _, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and "can be written by others (mode 0666)" in err
