"""exconf drift's reports, each checked by a real consumer: Chromium renders the HTML, junitparser
reads the JUnit XML, prometheus_client's parser reads the text format; plus notifications to a
local HTTP receiver, the --every loop, schedules and bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from junitparser import Error, Failure, JUnitXml
from prometheus_client.parser import text_string_to_metric_families


from .conftest import unique_prefix
from .test_drift import HELPDESK_PASSWORD, PASSWORD, STANDARD, converge, inventory_text, run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def lab(make_lab):
    return make_lab(STANDARD, accounts=[{"user": "exadmin", "password": PASSWORD}, {"user": "helpdesk", "password": HELPDESK_PASSWORD}])


@pytest.fixture
def drifted(lab, capsys):
    """A converged lab, then one out-of-band change at EX02's console: one drifted object."""
    inv = lab.inventory(inventory_text())
    converge(lab, capsys, inv)
    assert run(capsys, "drift", str(inv))[0] == 0  # seen in sync: a change after it can be named
    time.sleep(1.1)  # RunDate has one-second precision
    lab.exec("EX02", "Set-ReceiveConnector", Identity="EX02\\Default Frontend EX02", ProtocolLoggingLevel="None")
    return inv


def test_junit_has_one_case_per_declared_object_failure_for_drift(drifted, capsys, tmp_path):
    report = tmp_path / "drift.xml"
    code, out, err = run(capsys, "drift", str(drifted), "--junit", str(report), "--json")
    assert code == 2, err
    findings = json.loads(out)["findings"]
    xml = JUnitXml.fromfile(str(report))
    cases = {(suite.name, case.name): case for suite in xml for case in suite}
    assert len(cases) == len(findings)
    failed = cases[("ex02.contoso.lab", "Default Frontend EX02")]
    [failure] = [r for r in failed.result if isinstance(r, Failure)]
    assert "protocol_logging_level: expected \"Verbose\", actual \"None\"" in failure.message
    assert "changed by contoso.lab/Users/exadmin" in failure.text
    passed = [c for c in cases.values() if c.is_passed]
    assert len(passed) == len(findings) - 1


def test_junit_marks_an_unreachable_host_as_errors(lab, capsys, tmp_path):
    nobody = f"{unique_prefix()}.250"
    inv = lab.inventory(inventory_text().replace('"{EX02}"', f'"{nobody}"'))
    report = tmp_path / "drift.xml"
    code, _, _ = run(capsys, "drift", str(inv), "--junit", str(report), "--no-history")
    assert code == 1
    suite = {s.name: s for s in JUnitXml.fromfile(str(report))}["ex02.contoso.lab"]
    assert suite.errors == suite.tests >= 2
    assert all(isinstance(c.result[0], Error) for c in suite)


def test_prometheus_text_parses_and_counts_findings(drifted, capsys, tmp_path):
    prom = tmp_path / "exconf.prom"
    code, out, err = run(capsys, "drift", str(drifted), "--prometheus", str(prom), "--json")
    assert code == 2, err
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text(encoding="utf-8"))}
    samples = {tuple(sorted(s.labels.items())): s.value for s in families["exconf_drift_findings"].samples}
    assert samples[(("host", "ex02.contoso.lab"), ("kind", "receive_connector"), ("state", "drift"))] == 1
    assert samples[(("host", "ex01.contoso.lab"), ("kind", "receive_connector"), ("state", "drift"))] == 0
    total = sum(v for k, v in samples.items() if ("state", "in_sync") in k) + 1
    assert total == len(json.loads(out)["findings"])
    assert families["exconf_drift_hosts_up"].samples[0].value == 3
    assert families["exconf_drift_last_run_exit_code"].samples[0].value == 2
    assert families["exconf_drift_last_run_timestamp_seconds"].samples[0].value > 1.7e9
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".exconf.prom")] == []  # no temporary left


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_html_report_renders_in_headless_chromium(drifted, capsys, tmp_path):
    page = tmp_path / "drift.html"
    code, _, err = run(capsys, "drift", str(drifted), "--html", str(page))
    assert code == 2, err
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']https?:""", html)  # self-contained: nothing fetched
    profile = tmp_path / "chromium-profile"
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={profile}"]
    dom = subprocess.run(common + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'id="verdict"' in dom and "Drift detected" in dom
    drift = dom[dom.index('id="drift-1"'):]
    drift = drift[:drift.index("</div>\n</div>") if "</div>\n</div>" in drift else len(drift)]
    assert "ex02.contoso.lab" in drift and "Default Frontend EX02" in drift
    assert re.search(r'class="expected">"Verbose"<', drift) and re.search(r'class="actual">"None"<', drift)
    assert 'class="who">contoso.lab/Users/exadmin<' in drift
    assert re.search(r'href="file://[^"]*inventory\.yaml#L\d+"', drift)  # the finding links to its declaration
    shot = tmp_path / "drift-report.png"  # kept in the test's tmp dir as an artefact
    subprocess.run(common + [f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_html_escapes_what_servers_and_inventories_hold(drifted, capsys, tmp_path):
    page = tmp_path / "drift.html"
    lab_inv = drifted.read_text(encoding="utf-8")
    drifted.write_text(lab_inv.replace("transport_config:", "transport_config:\n        # <script>alert(1)</script>"), encoding="utf-8")
    run(capsys, "drift", str(drifted), "--html", str(page), "--no-history")
    assert "<script>" not in page.read_text(encoding="utf-8")


class Receiver:
    """A local webhook: records each POSTed JSON body; answers with ``status``."""

    def __init__(self, status: int = 200):
        self.bodies: list[dict] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((f"{unique_prefix()}.200", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/services/T000/B000/SECRETTOKEN"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_notifications_on_appear_and_resolve_only_in_a_bounded_loop(lab, capsys, receiver):
    inv = lab.inventory(inventory_text())
    converge(lab, capsys, inv)
    code, _, err = run(capsys, "drift", str(inv), "--notify", receiver.url)
    assert code == 0 and receiver.bodies == []  # nothing drifts: no message
    time.sleep(1.1)
    lab.exec("EX02", "Set-ReceiveConnector", Identity="EX02\\Default Frontend EX02", ProtocolLoggingLevel="None")
    # Two runs one second apart: the drift appears in the first; the second says nothing new.
    code, out, err = run(capsys, "drift", str(inv), "--notify", receiver.url, "--every", "1s", "--count", "2")
    assert code == 2, err
    assert "next drift run in" in err
    [appeared] = receiver.bodies
    assert "1 drift in inventory.yaml" in appeared["text"] and "Default Frontend EX02" in appeared["text"]
    # the values, who and since when
    assert 'protocol_logging_level: "Verbose" → "None"' in appeared["text"]
    assert "changed by contoso.lab/Users/exadmin with Set-ReceiveConnector" in appeared["text"] and "since 20" in appeared["text"]
    [event] = appeared["exconf"]["events"]
    assert event["event"] == "drift_appeared" and event["changed_by"]["caller"] == "contoso.lab/Users/exadmin"
    assert PASSWORD not in json.dumps(appeared)
    converge(lab, capsys, inv)
    code, _, _ = run(capsys, "drift", str(inv), "--notify", receiver.url)
    assert code == 0
    assert len(receiver.bodies) == 2 and "1 resolved" in receiver.bodies[1]["text"]
    assert "RESOLVED [low] ex02.contoso.lab: receive_connector \"Default Frontend EX02\"" in receiver.bodies[1]["text"]
    db = inv.with_name(".inventory.drift.sqlite")
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4  # the loop ran twice


def test_a_refused_notification_is_reported_never_fatal_and_names_no_secret(drifted, capsys):
    refusing = Receiver(status=500)
    try:
        code, out, err = run(capsys, "drift", str(drifted), "--notify", refusing.url, "--no-history")
    finally:
        refusing.close()
    assert code == 2  # the drift check's own result
    assert "was refused: HTTP 500" in err and "stays in the outbox" in err
    assert "SECRETTOKEN" not in err + out
    with socket.socket() as s:  # a port nobody listens on
        s.bind((f"{unique_prefix()}.201", 0))
        host, port = s.getsockname()
    code, out, err = run(capsys, "drift", str(drifted), "--notify", f"http://{host}:{port}/hook/SECRETTOKEN", "--no-history")
    assert code == 2 and "could not connect" in err and "SECRETTOKEN" not in err


def test_a_hanging_notification_url_times_out(monkeypatch):
    from exconf.drift import sinks

    listener = socket.socket()
    listener.bind((f"{unique_prefix()}.202", 0))
    listener.listen()  # accepts connections (the kernel does), never answers
    monkeypatch.setattr(sinks, "READ_TIMEOUT", 1.0)
    host, port = listener.getsockname()
    try:
        with pytest.raises(sinks.SinkError, match="timed out"):
            sinks.Webhook(f"http://{host}:{port}/hook").deliver({"text": "x"})
    finally:
        listener.close()


def test_bad_input_is_a_clear_error_and_the_check_still_completes(drifted, capsys, tmp_path):
    missing = tmp_path / "no-such-dir" / "drift.html"
    ok = tmp_path / "drift.xml"
    code, out, err = run(capsys, "drift", str(drifted), "--html", str(missing), "--junit", str(ok), "--json", "--every", "15x")
    assert code == 1
    assert f"cannot write {missing}" in err and "No such file or directory" in err
    assert "--every '15x' is not a duration" in err
    assert json.loads(out)["drift"]["counts"]["drift"] == 1 and ok.is_file()  # the check and the other report completed
    code, _, err = run(capsys, "drift", str(drifted), "--notify", "ftp://example/x")
    assert code == 1 and "--notify: the webhook needs an http:// or https:// URL" in err
    code, _, err = run(capsys, "drift", "history", str(drifted), "--since", "yesterday")
    assert code == 1 and "neither a span" in err
    assert "Traceback" not in err


def test_sigterm_ends_the_loop_cleanly(tmp_path):
    """A real process: exconf drift --every on a missing inventory (each run an error), then SIGTERM."""
    import signal
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "exconf", "drift", str(tmp_path / "missing.yaml"), "--every", "1h"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 30
        line = ""
        while "next drift run" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "next drift run in" in line
    assert proc.returncode == 1 and "Stopped" in rest and "Traceback" not in rest
