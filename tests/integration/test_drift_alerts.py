"""Alerts an on-call team can trust, over real WinRM against the lab: a message that fails waits in the outbox
and is delivered when the webhook recovers; hosts that cannot be read and a run that cannot start are announced
once when they begin and once when they end; every run writes its reports and last_run; messages carry the
values, who and since when, and the report's link; a daily digest; syslog (RFC 5424) and JSON Lines, one event
per transition."""

from __future__ import annotations

import json
import socket
import time

import pytest
from junitparser import Error, JUnitXml
from prometheus_client.parser import text_string_to_metric_families
from syslog_rfc5424_parser import SyslogMessage

from .conftest import unique_prefix
from .test_drift import HELPDESK_PASSWORD, PASSWORD, STANDARD, converge, inventory_text, run
from .test_drift_outputs import Receiver


@pytest.fixture
def lab(make_lab):
    return make_lab(STANDARD, accounts=[{"user": "exadmin", "password": PASSWORD}, {"user": "helpdesk", "password": HELPDESK_PASSWORD}])


@pytest.fixture
def converged(lab, capsys):
    inv = lab.inventory(inventory_text())
    converge(lab, capsys, inv)
    assert run(capsys, "drift", str(inv))[0] == 0  # seen in sync
    time.sleep(1.1)  # RunDate has one-second precision
    return inv


def drift_ex02(lab) -> None:
    lab.exec("EX02", "Set-ReceiveConnector", Identity="EX02\\Default Frontend EX02", ProtocolLoggingLevel="None")


def test_a_webhook_that_fails_then_recovers_receives_the_message(lab, converged, capsys):
    hook = Receiver(status=500)
    try:
        drift_ex02(lab)
        page = converged.with_name("drift.html")
        code, out, err = run(capsys, "drift", str(converged), "--notify", hook.url, "--json", "--html", str(page))
        assert code == 2 and "refused: HTTP 500" in err and "stays in the outbox" in err
        assert 'id="undelivered"' in page.read_text(encoding="utf-8")
        doc = json.loads(out)
        [waiting] = doc["drift"]["undelivered"]
        assert waiting["sink"] == "webhook" and waiting["attempts"] == 1 and "HTTP 500" in waiting["error"]
        hook.status = 200
        code, out, err = run(capsys, "drift", str(converged), "--notify", hook.url, "--json")
        assert code == 2 and json.loads(out)["drift"]["undelivered"] == []
        assert len(hook.bodies) == 2 and hook.bodies[1] == hook.bodies[0]  # the same message, delivered late
        assert "Default Frontend EX02" in hook.bodies[1]["text"] and "SECRETTOKEN" not in err + out
        run(capsys, "drift", str(converged), "--notify", hook.url)
        assert len(hook.bodies) == 2  # delivered once: nothing is sent again
    finally:
        hook.close()


def test_a_webhook_that_keeps_failing_is_tried_with_backoff_and_the_report_says_so(lab, converged, capsys):
    hook = Receiver(status=503)
    try:
        drift_ex02(lab)
        for _ in range(3):
            code, out, _ = run(capsys, "drift", str(converged), "--notify", hook.url)
        assert code == 2 and "undelivered: 1 message still in the outbox" in out
        assert len(hook.bodies) == 2  # tried on the first run and the next; then it waits (1 min, 2, 4 … 6 h)
    finally:
        hook.close()


def test_a_host_that_cannot_be_read_is_announced_once_when_it_goes_and_once_when_it_comes_back(lab, converged, capsys, tmp_path):
    hook = Receiver()
    good = converged.read_text(encoding="utf-8")
    nobody = f"{unique_prefix()}.250"
    try:
        converged.write_text(good.replace(lab.addresses["EX02"], nobody), encoding="utf-8")
        junit = tmp_path / "d.xml"
        code, out, _ = run(capsys, "drift", str(converged), "--notify", hook.url, "--junit", str(junit))
        assert code == 1
        [msg] = hook.bodies
        assert "NOT CHECKED [high] ex02.contoso.lab: host" in msg["text"] and "unreachable" in msg["text"]
        assert len(msg["exconf"]["events"]) == 1  # the host's event stands for its objects
        # JUnit keeps the names the objects had when last read, not the declarations' patterns
        suite = {s.name: s for s in JUnitXml.fromfile(str(junit))}["ex02.contoso.lab"]
        names = {c.name for c in suite}
        assert "Default Frontend EX02" in names and not any("{server}" in n for n in names)
        assert all(isinstance(c.result[0], Error) for c in suite)
        code, _, _ = run(capsys, "drift", str(converged), "--notify", hook.url)
        assert code == 1 and len(hook.bodies) == 1  # still down: nothing new
        converged.write_text(good, encoding="utf-8")
        code, _, _ = run(capsys, "drift", str(converged), "--notify", hook.url)
        assert code == 0 and len(hook.bodies) == 2
        assert "CHECKED AGAIN [high] ex02.contoso.lab: host" in hook.bodies[1]["text"]
        code, out, _ = run(capsys, "drift", "history", str(converged), "--json")
        [outage] = json.loads(out)["outages"]
        assert outage["host"] == "ex02.contoso.lab" and outage["resolved"]
    finally:
        hook.close()


def test_a_run_that_cannot_start_still_writes_its_reports_and_last_run_and_is_announced(lab, converged, capsys, tmp_path):
    hook = Receiver()
    prom, junit, page = tmp_path / "d.prom", tmp_path / "d.xml", tmp_path / "d.html"
    outputs = ["--prometheus", str(prom), "--junit", str(junit), "--html", str(page), "--notify", hook.url]
    good = converged.read_text(encoding="utf-8")
    try:
        assert run(capsys, "drift", str(converged), *outputs)[0] == 0
        before = {f.name: f for f in text_string_to_metric_families(prom.read_text())}["exconf_drift_last_run_timestamp_seconds"].samples[0].value
        converged.write_text(good + "\n  bad: [unclosed\n", encoding="utf-8")
        time.sleep(1.1)
        code, out, err = run(capsys, "drift", str(converged), *outputs)
        assert code == 1 and "Traceback" not in err
        families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
        assert families["exconf_drift_last_run_exit_code"].samples[0].value == 1
        assert families["exconf_drift_last_run_timestamp_seconds"].samples[0].value > before
        [suite] = [s for s in JUnitXml.fromfile(str(junit))]
        assert suite.name == "inventory" and suite.errors == 1
        assert "Not everything could be checked" in page.read_text(encoding="utf-8")
        [msg] = hook.bodies
        assert "NOT CHECKED [critical] inventory: inventory \"inventory.yaml\": the inventory cannot be used" in msg["text"]
        code, out, _ = run(capsys, "drift", "history", str(converged), "--json")
        assert json.loads(out)["runs"]["exit_codes"]["1"] == 1
        converged.write_text(good, encoding="utf-8")
        assert run(capsys, "drift", str(converged), *outputs)[0] == 0
        assert len(hook.bodies) == 2 and "CHECKED AGAIN [critical] inventory" in hook.bodies[1]["text"]
    finally:
        hook.close()


def test_messages_carry_values_who_since_and_the_report_link_and_a_daily_digest_goes_once(lab, converged, capsys, tmp_path):
    hook = Receiver()
    try:
        drift_ex02(lab)
        args = ["--notify", hook.url, "--report-url", "https://reports.contoso.lab/drift.html", "--digest-at", "00:00"]
        assert run(capsys, "drift", str(converged), *args)[0] == 2
        change, digest = hook.bodies
        assert 'protocol_logging_level: "Verbose" → "None"' in change["text"]
        assert "changed by contoso.lab/Users/exadmin with Set-ReceiveConnector at" in change["text"] and "; since 20" in change["text"]
        assert "Report: https://reports.contoso.lab/drift.html" in change["text"]
        assert "daily digest" in digest["text"] and "1 drifting" in digest["text"] and "Default Frontend EX02" in digest["text"]
        assert run(capsys, "drift", str(converged), *args)[0] == 2
        assert len(hook.bodies) == 2  # no duplicate, and one digest a day
    finally:
        hook.close()


class SyslogReceiver:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((f"{unique_prefix()}.210", 0))
        self.sock.settimeout(5)

    @property
    def target(self) -> str:
        host, port = self.sock.getsockname()
        return f"udp://{host}:{port}"

    def messages(self, n: int) -> list[bytes]:
        return [self.sock.recv(65535) for _ in range(n)]


def test_syslog_and_json_lines_get_one_event_per_transition(lab, converged, capsys, tmp_path):
    receiver = SyslogReceiver()
    events = tmp_path / "events.jsonl"
    try:
        drift_ex02(lab)
        args = ["--syslog", receiver.target, "--events", str(events)]
        assert run(capsys, "drift", str(converged), *args)[0] == 2
        [raw] = receiver.messages(1)
        message = SyslogMessage.parse(raw.decode("utf-8"))  # an RFC 5424 parser
        assert message.appname == "exconf" and message.msgid == "drift_appeared" and message.version == 1
        assert int(message.severity) == 4 and int(message.facility) == 3  # warning (a low-severity drift), daemon
        sd = message.sd["exconf@32473"]
        assert sd["host"] == "ex02.contoso.lab" and sd["name"] == "Default Frontend EX02" and sd["changed_by"] == "contoso.lab/Users/exadmin"
        assert "Verbose" in message.msg and "None" in message.msg
        assert run(capsys, "drift", str(converged), *args)[0] == 2  # nothing new: nothing sent
        converge(lab, capsys, converged)
        assert run(capsys, "drift", str(converged), *args)[0] == 0
        [raw] = receiver.messages(1)
        assert SyslogMessage.parse(raw.decode("utf-8")).msgid == "drift_resolved"
        lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
        assert [(e["event"], e["name"]) for e in lines] == [("drift_appeared", "Default Frontend EX02"),
                                                            ("drift_resolved", "Default Frontend EX02")]
        assert lines[0]["properties"][0]["actual"] == "None" and lines[1]["resolved"] and all(e["id"] for e in lines)
    finally:
        receiver.sock.close()


def test_a_loop_without_a_history_file_still_announces_each_transition_once(lab, converged, capsys):
    hook = Receiver()
    try:
        drift_ex02(lab)

        code, _, err = run(capsys, "drift", str(converged), "--no-history", "--notify", hook.url, "--every", "1s", "--count", "3")
        assert code == 2, err
        assert len(hook.bodies) == 1  # the first run of the loop announces it; the next two say nothing new
    finally:
        hook.close()


def test_organisation_wide_objects_no_server_could_read_are_not_checked_never_in_sync(lab, converged, capsys):
    text = converged.read_text(encoding="utf-8")
    nobody = f"{unique_prefix()}.250"
    converged.write_text(text.replace(lab.addresses["EX01"], nobody).replace(lab.addresses["EX02"], nobody), encoding="utf-8")
    code, out, _ = run(capsys, "drift", str(converged), "--json")
    assert code == 1
    [org] = [f for f in json.loads(out)["findings"] if f["host"] == "organization"]
    assert (org["resource"], org["name"], org["drift"]) == ("transport_config", "Transport Settings", "error")
    assert "organisation-wide objects" in org["message"]
