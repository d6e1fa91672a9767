"""Certificate expiry in drift (issue 10), over real WinRM against the lab: a certificate bound to SMTP that
expires within the declared threshold is drift (exit 2) in the text, the JSON, JUnit (junitparser),
Prometheus (prometheus_client's parser) and the HTML report (rendered by headless Chromium); one
outside its threshold is in sync and still has its expiry timestamp."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess

import pytest
from junitparser import Failure, JUnitXml
from prometheus_client.parser import text_string_to_metric_families

from .test_certificates import certs, inventory_text, run
from .test_drift_outputs import CHROMIUM

SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "certificates": [
        {"subject": "CN=legacy.contoso.lab", "domains": ["legacy.contoso.lab", "ex01.contoso.lab"], "issuer": "self",
         "not_before": "-1800d", "not_after": "+10d", "services": "SMTP"},
        {"subject": "CN=fresh.contoso.lab", "domains": ["fresh.contoso.lab", "ex01.contoso.lab"], "not_after": "+200d", "services": "SMTP"},
    ]},
]

DECLARED = """\
        certificates:
          - match: {subject: "CN=legacy.contoso.lab"}
            services: [SMTP]
          - match: {subject: "CN=fresh.contoso.lab"}
            services: [SMTP]
            warn_within_days: @FRESH_DAYS@
"""


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


def inventory(lab, fresh_days: int = 30):
    return lab.inventory(inventory_text({"ex01": DECLARED.replace("@FRESH_DAYS@", str(fresh_days))}))


def line_of(inv, text: str) -> int:
    return next(n for n, line in enumerate(inv.read_text(encoding="utf-8").splitlines(), start=1) if text in line)


def thumb(lab, subject: str) -> str:
    return next(t for t, c in certs(lab, "EX01").items() if c["Subject"] == subject)


def test_a_certificate_in_use_that_expires_within_its_threshold_is_drift(lab, capsys):
    inv = inventory(lab)
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0, err  # nothing to change: plan only warns
    assert "CN=legacy.contoso.lab" in err + out and "expires in" in err + out
    code, out, err = run(capsys, "drift", str(inv), "--json", "--no-history")
    assert code == 2, err
    doc = json.loads(out)
    findings = {f["name"].split(" (")[0]: f for f in doc["findings"]}
    legacy, fresh = findings["CN=legacy.contoso.lab"], findings["CN=fresh.contoso.lab"]
    assert (legacy["status"], legacy["drift"]) == ("expiring", "drift")
    assert (fresh["status"], fresh["drift"]) == ("in_sync", "in_sync")
    props = {p["property"]: p for p in legacy["properties"]}
    assert props["days_left"]["expected"] == "at least 30" and props["days_left"]["actual"] in (9, 10)
    assert props["days_left"]["declared_at"].endswith(f"inventory.yaml:{line_of(inv, 'CN=legacy')}:13")  # the entry: no warn_within_days there
    not_after = dt.datetime.fromisoformat(props["not_after"]["actual"].replace("Z", "+00:00"))
    lab_not_after = dt.datetime.fromisoformat(str(certs(lab, "EX01")[thumb(lab, "CN=legacy.contoso.lab")]["NotAfter"]).replace("Z", "+00:00"))
    assert abs((not_after - lab_not_after.astimezone(dt.timezone.utc)).total_seconds()) < 1
    assert "serves IMAP, POP, SMTP and expires in" in legacy["message"]  # IMAP, POP: it carries the server's FQDN
    assert doc["drift"]["counts"] == {"in_sync": 1, "drift": 1, "error": 0, "acknowledged": 0, "corrected": 0}
    assert doc["changes"] == []  # drift, but nothing a plan would change
    code, out, err = run(capsys, "drift", str(inv), "--no-history")
    assert code == 2
    assert re.search(r"drift: ex01\.contoso\.lab: exchange_certificate \"CN=legacy\.contoso\.lab \([0-9A-F]{8}\)\"", out)
    assert not re.search(r'days_left: expected "at least 30", actual 1\b', out) and re.search(r'days_left: expected "at least 30", actual (9|10)\b', out)


def test_the_declared_threshold_decides(lab, capsys):
    inv = inventory(lab, fresh_days=365)  # 200 days left is within 365
    code, out, err = run(capsys, "drift", str(inv), "--json", "--no-history")
    assert code == 2, err
    states = {f["name"].split(" (")[0]: f["status"] for f in json.loads(out)["findings"]}
    assert states == {"CN=legacy.contoso.lab": "expiring", "CN=fresh.contoso.lab": "expiring"}
    fresh = next(f for f in json.loads(out)["findings"] if f["name"].startswith("CN=fresh"))
    days = next(p for p in fresh["properties"] if p["property"] == "days_left")
    assert days["expected"] == "at least 365" and re.search(rf"inventory\.yaml:{line_of(inv, 'warn_within_days')}:\d+$", days["declared_at"])


def test_junit_and_prometheus_show_the_expiry(lab, capsys, tmp_path):
    inv = inventory(lab)
    junit, prom = tmp_path / "drift.xml", tmp_path / "exconf.prom"
    code, _, err = run(capsys, "drift", str(inv), "--junit", str(junit), "--prometheus", str(prom), "--no-history")
    assert code == 2, err
    cases = {case.name.split(" (")[0]: case for suite in JUnitXml.fromfile(str(junit)) for case in suite}
    [failure] = [r for r in cases["CN=legacy.contoso.lab"].result if isinstance(r, Failure)]
    assert failure.message.startswith('days_left: expected "at least 30", actual')
    assert cases["CN=fresh.contoso.lab"].is_passed
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text(encoding="utf-8"))}
    expiry = {s.labels["subject"]: s for s in families["exconf_certificate_expiry_timestamp_seconds"].samples}
    assert set(expiry) == {"CN=legacy.contoso.lab", "CN=fresh.contoso.lab"}
    lab_certs = certs(lab, "EX01")
    for subject, sample in expiry.items():
        assert sample.labels["host"] == "ex01.contoso.lab"
        lab_cert = lab_certs[sample.labels["thumbprint"]]
        assert lab_cert["Subject"] == subject
        want = dt.datetime.fromisoformat(str(lab_cert["NotAfter"]).replace("Z", "+00:00")).timestamp()
        assert abs(sample.value - want) < 1
    assert expiry["CN=fresh.contoso.lab"].value - expiry["CN=legacy.contoso.lab"].value == pytest.approx(190 * 86400, abs=2 * 86400)
    findings = {tuple(sorted(s.labels.items())): s.value for s in families["exconf_drift_findings"].samples}
    assert findings[(("host", "ex01.contoso.lab"), ("kind", "exchange_certificate"), ("state", "drift"))] == 1


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_html_shows_certificate_expiry_as_a_timeline_in_chromium(lab, capsys, tmp_path):
    inv = inventory(lab)
    page = tmp_path / "drift.html"
    code, _, err = run(capsys, "drift", str(inv), "--html", str(page), "--no-history")
    assert code == 2, err
    profile = tmp_path / "chromium-profile"
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={profile}"]
    dom = subprocess.run(common + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "Drift detected" in dom
    timeline = dom[dom.index('id="expiry"'):]
    timeline = timeline[:timeline.index("</table>")]
    rows = re.findall(r'<tr class="(\w+)" id="expiry-\d+">(.*?)</tr>', timeline, flags=re.S)
    assert [state for state, _ in rows] == ["drift", "in_sync"]  # soonest first; the one within its threshold is drift
    assert "CN=legacy.contoso.lab" in rows[0][1] and "CN=fresh.contoso.lab" in rows[1][1]
    assert re.search(r'class="left">(9 d \d+ h|10 d 0 h)<', rows[0][1]) and re.search(r'class="left">(199|200) d', rows[1][1])
    widths = [int(w) for w in re.findall(r'class="bar[^"]*" style="width: (\d+)px"', timeline)]
    assert widths[1] == 400 and 15 <= widths[0] <= 25  # the bar is the time left, to scale
    drift = dom[dom.index('id="drift-1"'):]
    assert "CN=legacy.contoso.lab" in drift[:drift.index("</div>\n</div>")] and "days_left" in drift
    shot = tmp_path / "drift-expiry.png"  # kept in the test's tmp dir as an artefact
    subprocess.run(common + [f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
