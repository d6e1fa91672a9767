"""What an operations team uses around a finding, over real WinRM against the lab: acknowledgements with owner,
reason and expiry; severity and worst first; --correct through apply's plan, rails and lock, recorded as
corrected; the undeclared objects; OpenMetrics with a series per object; drift history with spans, host
patterns, outages and who resolved; the HTML history page."""

from __future__ import annotations

import json
import re
import time

import pytest
from junitparser import JUnitXml, Skipped
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from exconf.lock import acquire

from .test_drift import HELPDESK_PASSWORD, PASSWORD, STANDARD, converge, inventory_text, run
from .test_drift_outputs import Receiver

EX02_RC = ("ex02.contoso.lab", "receive_connector", "Default Frontend EX02")


@pytest.fixture
def lab(make_lab):
    return make_lab(STANDARD, accounts=[{"user": "exadmin", "password": PASSWORD}, {"user": "helpdesk", "password": HELPDESK_PASSWORD}])


@pytest.fixture
def converged(lab, capsys):
    inv = lab.inventory(inventory_text())
    converge(lab, capsys, inv)
    assert run(capsys, "drift", str(inv))[0] == 0
    time.sleep(1.1)
    return inv


def by_key(out: str) -> dict[tuple[str, str, str], dict]:
    return {(f["host"], f["resource"], f["name"]): f for f in json.loads(out)["findings"]}


def drift_ex02(lab) -> None:
    lab.exec("EX02", "Set-ReceiveConnector", Identity="EX02\\Default Frontend EX02", ProtocolLoggingLevel="None")


def drift_org(lab) -> None:
    lab.exec("EX01", "Set-TransportConfig", TLSSendDomainSecureList=["contoso.com"])


def test_an_acknowledged_drift_is_shown_everywhere_and_left_out_of_the_exit_status_until_it_expires(lab, converged, capsys, tmp_path):
    drift_ex02(lab)
    assert run(capsys, "drift", str(converged))[0] == 2
    code, out, err = run(capsys, "drift", "ack", str(converged), "--host", "ex02.contoso.lab", "--kind", "receive_connector",
                         "--name", "Default Frontend *", "--owner", "alice@contoso.lab", "--reason", "CHG-42 logging off for a vendor",
                         "--expires", "2d")
    assert code == 0 and "Acknowledged #1" in out, err
    junit, page, prom = tmp_path / "d.xml", tmp_path / "d.html", tmp_path / "d.prom"
    code, out, err = run(capsys, "drift", str(converged), "--json", "--junit", str(junit), "--html", str(page), "--prometheus", str(prom))
    assert code == 0, err  # acknowledged: not counted
    assert re.search(r'exconf_drift_object\{host="ex02.contoso.lab",kind="receive_connector",name="Default Frontend EX02",'
                     r'severity="low",state="acknowledged"\} 1', prom.read_text(encoding="utf-8"))
    ack = by_key(out)[EX02_RC]["acknowledged"]
    assert (ack["owner"], ack["reason"]) == ("alice@contoso.lab", "CHG-42 logging off for a vendor") and ack["expires"]
    assert json.loads(out)["drift"]["counts"]["acknowledged"] == 1
    case = {c.name: c for s in JUnitXml.fromfile(str(junit)) for c in s}["Default Frontend EX02"]
    assert isinstance(case.result[0], Skipped) and "acknowledged by alice@contoso.lab" in case.result[0].message
    assert "Acknowledged by <strong>alice@contoso.lab</strong>" in page.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "drift", str(converged))
    assert code == 0 and "acknowledged by alice@contoso.lab until" in out and "(not counted in the exit status)" in out
    code, out, _ = run(capsys, "drift", "ack", str(converged), "--list")
    assert code == 0 and "#1 ex02.contoso.lab: receive_connector" in out and "alice@contoso.lab" in out
    assert run(capsys, "drift", "ack", str(converged), "--remove", "1")[0] == 0
    assert run(capsys, "drift", str(converged))[0] == 2


def test_an_acknowledgement_needs_an_owner_a_reason_and_a_near_expiry(converged, capsys):
    code, _, err = run(capsys, "drift", "ack", str(converged), "--host", "ex02.contoso.lab", "--expires", "2d")
    assert code == 1 and "needs --owner, --reason" in err
    code, _, err = run(capsys, "drift", "ack", str(converged), "--host", "x", "--owner", "a", "--reason", "r", "--expires", "200d")
    assert code == 1 and "more than 90 days" in err
    code, _, err = run(capsys, "drift", "ack", str(converged), "--host", "x", "--owner", "a", "--reason", "r", "--expires", "2020-01-01")
    assert code == 1 and "not in the future" in err


def test_reports_list_the_worst_first(lab, converged, capsys, tmp_path):
    drift_ex02(lab)
    drift_org(lab)
    junit, page = tmp_path / "d.xml", tmp_path / "d.html"
    code, out, err = run(capsys, "drift", str(converged), "--json", "--junit", str(junit), "--html", str(page))
    assert code == 2, err
    drifted = [(f["resource"], f["severity"]) for f in json.loads(out)["findings"] if f["drift"] == "drift"]
    assert drifted == [("transport_config", "medium"), ("receive_connector", "low")]
    org = by_key(out)[("organization", "transport_config", "Transport Settings")]
    assert org["read_on"] == "ex01.contoso.lab"  # keyed under the organisation, whichever server read it
    suites = [s.name for s in JUnitXml.fromfile(str(junit))]
    assert suites[0] == "organization"
    html = page.read_text(encoding="utf-8")
    assert html.index('class="finding sev-medium') < html.index('class="finding sev-low')
    code, out, _ = run(capsys, "drift", str(converged))
    assert out.index("transport_config") < out.index("Default Frontend EX02") and "[medium]" in out


def test_correct_puts_back_the_kinds_asked_for_through_apply_and_records_it(lab, converged, capsys):
    hook = Receiver()
    try:
        drift_ex02(lab)
        drift_org(lab)
        code, out, err = run(capsys, "drift", str(converged), "--correct", "receive_connector", "--notify", hook.url, "--json")
        assert code == 2, err  # the transport config was not asked for: still drift
        found = by_key(out)
        assert found[EX02_RC].get("corrected") is True, json.dumps(found[EX02_RC])
        assert found[("organization", "transport_config", "Transport Settings")]["drift"] == "drift"
        [rc] = [c for c in lab.exec("EX02", "Get-ReceiveConnector") if c["Name"] == "Default Frontend EX02"]
        assert str(rc["ProtocolLoggingLevel"]) == "Verbose"  # made, and read back by apply
        assert ('CORRECTED [low] ex02.contoso.lab: receive_connector "Default Frontend EX02": put back by exconf drift --correct: '
                'protocol_logging_level: "None" → "Verbose"') in hook.bodies[0]["text"]
        code, out, _ = run(capsys, "drift", "history", str(converged))
        assert re.search(r"Default Frontend EX02\" \[low\]: since \S+, last seen \S+, resolved \S+ \(corrected by exconf\)", out)
        assert run(capsys, "drift", str(converged), "--correct", "transport_config")[0] == 0
    finally:
        hook.close()


def test_correct_waits_for_no_apply_and_refuses_a_kind_it_does_not_know(lab, converged, capsys):
    drift_ex02(lab)
    lock = acquire(converged, "inventory", "exconf apply (a colleague)")
    try:
        code, out, _ = run(capsys, "drift", str(converged), "--correct", "receive_connector")
    finally:
        lock.release()
    assert code == 2 and "not corrected: the apply lock is held" in out
    code, _, err = run(capsys, "drift", str(converged), "--correct", "logging")
    assert code == 1 and "--correct 'logging' is not a kind" in err


def test_undeclared_objects_are_reported_only_when_asked(lab, converged, capsys):
    code, out, _ = run(capsys, "drift", str(converged), "--json")
    assert "undeclared" not in json.loads(out)["drift"]
    code, out, _ = run(capsys, "drift", str(converged), "--json", "--undeclared")
    undeclared = {(u["host"], u["resource"], u["name"]) for u in json.loads(out)["drift"]["undeclared"]}
    assert ("ex01.contoso.lab", "receive_connector", "Default EX01") in undeclared  # exists, nothing declares it
    assert ("ex01.contoso.lab", "receive_connector", "Default Frontend EX01") not in undeclared  # declared
    code, out, _ = run(capsys, "drift", str(converged), "--undeclared")
    assert 'undeclared: ex02.contoso.lab: receive_connector "Default EX02"' in out


def test_openmetrics_parses_and_names_each_object(lab, converged, capsys, tmp_path):
    drift_ex02(lab)
    om = tmp_path / "drift.om"
    assert run(capsys, "drift", str(converged), "--openmetrics", str(om))[0] == 2
    text = om.read_text(encoding="utf-8")
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(text)}
    states = {(s.labels["host"], s.labels["name"]): s.labels["state"] for s in families["exconf_drift_object"].samples}
    assert states[("ex02.contoso.lab", "Default Frontend EX02")] == "drift"
    assert states[("ex01.contoso.lab", "Default Frontend EX01")] == "in_sync"
    assert families["exconf_drift_last_run_exit_code"].samples[0].value == 2


def test_history_lists_spans_host_patterns_outages_and_who_resolved(lab, converged, capsys, tmp_path):
    drift_ex02(lab)
    assert run(capsys, "drift", str(converged))[0] == 2
    time.sleep(1.1)
    theirs = lab.inventory(inventory_text(user="helpdesk", password=HELPDESK_PASSWORD), name="theirs.yaml")
    converge(lab, capsys, theirs)  # the helpdesk puts it back
    assert run(capsys, "drift", str(converged), "--html", str(tmp_path / "drift.html"))[0] == 0
    code, out, _ = run(capsys, "drift", "history", str(converged), "--since", "7d", "--host", "ex0*,!ex01*", "--json")
    assert code == 0
    [episode] = json.loads(out)["episodes"]
    assert episode["name"] == "Default Frontend EX02" and episode["resolved"]
    assert episode["changed_by"]["caller"] == "contoso.lab/Users/exadmin"
    assert episode["resolved_by"]["caller"] == "contoso.lab/Users/helpdesk"
    code, out, _ = run(capsys, "drift", "history", str(converged), "--host", "ex01*", "--json")
    assert json.loads(out)["episodes"] == []
    code, out, _ = run(capsys, "drift", "history", str(converged))
    assert "resolved by contoso.lab/Users/helpdesk with Set-ReceiveConnector" in out
    page = (tmp_path / "drift-history.html").read_text(encoding="utf-8")
    assert "Default Frontend EX02" in page and "contoso.lab/Users/helpdesk" in page and 'id="days"' in page
    assert 'href="drift-history.html"' in (tmp_path / "drift.html").read_text(encoding="utf-8")
    code, _, _ = run(capsys, "drift", "history", str(converged), "--html", str(tmp_path / "week.html"))
    assert code == 0 and "Default Frontend EX02" in (tmp_path / "week.html").read_text(encoding="utf-8")
