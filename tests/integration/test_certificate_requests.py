"""Requested certificates against the lab and Pebble: a request made on the server, signed by an ACME CA that
validates for real (HTTP-01 through the server's IIS, DNS-01 through RFC 2136), completed, bound, copied to
the Edge, completed after an interruption, and renewed when the lab clock passes renew_within_days."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from exconf.cli import main

from acme_servers import TSIG_NAME, TSIG_SECRET, DnsServer, pebble_available, start_pebble
from .conftest import EDGE_PASSWORD, IIS_HTTP_PORT, PASSWORD

# .ci/run installs Pebble: under CI a missing one fails the tests instead of skipping them.
pytestmark = pytest.mark.skipif(not pebble_available() and not os.environ.get("CI"), reason="Pebble (Debian package pebble) is not installed")

SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam"},
]


@pytest.fixture
def acme(make_lab, tmp_path):
    lab = make_lab(SERVERS)
    prefix = lab.addresses["EX01"].rsplit(".", 1)[0]
    names = {"mail.contoso.lab": lab.addresses["EX01"], "autodiscover.contoso.lab": lab.addresses["EX01"],
             "ex01.contoso.lab": lab.addresses["EX01"], "webmail.contoso.lab": lab.addresses["EX01"]}
    dns_server = DnsServer(f"{prefix}.201", 5353, "contoso.lab", names)
    pebble = start_pebble(tmp_path / "pebble", f"{prefix}.200", IIS_HTTP_PORT, dns_server.address, dns_server.port)
    yield lab, pebble, dns_server
    pebble.stop()
    dns_server.stop()


def issuer_yaml(pebble, challenge: str = "http-01", dns=None) -> str:
    lines = ["          issuer:", "            acme:", f"              directory: {pebble.directory}", "              agree_tos: true",
             f"              ca_bundle: {pebble.ca_bundle}", "              email: hostmaster@contoso.lab", f"              challenge: {challenge}"]
    if dns is not None:
        lines += ["              dns:", f"                server: \"{dns.address}:{dns.port}\"", "                zone: contoso.lab",
                  f"                tsig_name: {TSIG_NAME}", "                tsig_secret_env: ACME_TSIG_SECRET"]
    return "\n".join(lines) + "\n"


def inventory(lab, pebble, entry_extra: str = "", challenge: str = "http-01", dns=None, services: str = "[IIS]") -> str:
    return f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
  hosts:
    ex01.contoso.lab:
      ansible_host: "{{EX01}}"
      exchange:
        certificates:
        - request:
            subject: CN=mail.contoso.lab
            domains: [autodiscover.contoso.lab]
            exportable: true
{issuer_yaml(pebble, challenge, dns)}          services: {services}
{entry_extra}    edge01.contoso.lab:
      ansible_host: "{{EDGE01}}"
      ansible_user: EDGE01\\Administrator
      ansible_password: {EDGE_PASSWORD}
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def requested(lab, server: str = "EX01") -> list[dict]:
    return [c for c in lab.exec(server, "Get-ExchangeCertificate") if str(c["Subject"]) == "CN=mail.contoso.lab"]


def counts(before: dict, after: dict, server: str = "EX01") -> tuple[int, int, int]:
    """(/PowerShell requests, pipelines, /wsman round trips of the program: its Sends) a server served between two
    lab.stats()."""
    def at(stats, endpoint, key):
        return stats.get(server, {}).get("endpoints", {}).get(endpoint, {}).get(key, 0)
    return tuple(at(after, e, k) - at(before, e, k) for e, k in (("/PowerShell", "requests"), ("/PowerShell", "pipelines"), ("/wsman", "sends")))


def test_a_declared_certificate_is_requested_signed_completed_and_bound_in_one_apply(acme, capsys, door):
    lab, pebble, _ = acme
    path = lab.inventory(inventory(lab, pebble))
    s0 = lab.stats()
    code, out, err = run(capsys, "plan", str(path))
    s1 = lab.stats()
    assert code == 0, out + err
    assert "New-ExchangeCertificate -GenerateRequest -BinaryEncoded -SubjectName 'CN=mail.contoso.lab'" in out
    assert "on the controller, for ex01.contoso.lab" in out and "New-AcmeOrder" in out and "Complete-AcmeOrder" in out
    assert "on ex01.contoso.lab through WinRM (exconf's program)" in out
    assert "Set-Content -Value (the key authorization of mail.contoso.lab's HTTP-01 challenge, from New-AcmeOrder" in out
    assert "Import-ExchangeCertificate -FileData (the Chain that Complete-AcmeOrder returns on ex01.contoso.lab, carried in memory)" in out
    assert requested(lab) == []  # a plan changes nothing, and never contacts the issuer

    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    if door == "psrp":  # the cost certificates.md states (bench/bench_issuance.py): the read, request, import and enable
        # pipelines over remote PowerShell, and one WinRM shell beside it for the challenge files, written then removed
        assert counts(s0, s1) == (7, 1, 0) and counts(s1, lab.stats()) == (13, 4, 2)
    certs = requested(lab)
    assert len(certs) == 1, certs
    cert = certs[0]
    assert str(cert["Status"]) == "Valid" and "IIS" in str(cert["Services"]) and cert["HasPrivateKey"]
    assert "Pebble" in str(cert["Issuer"])
    assert set(cert["CertificateDomains"]) == {"mail.contoso.lab", "autodiscover.contoso.lab"}
    assert f"new thumbprint {cert['Thumbprint']}" in out
    # The challenge files were written through the program and removed after; nothing is pending any more.
    assert lab.server.store.web_request(lab.server.store.server("EX01"), "/.well-known/acme-challenge/x", False)[0] == 404
    assert not [c for c in lab.exec("EX01", "Get-ExchangeCertificate") if str(c["Status"]) == "PendingRequest"]
    state = lab.server.store._state.objects[("EX01", "web_files")]
    assert [k for k in state if "acme-challenge" in k and not k.endswith("web.config")] == []

    code, out, err = run(capsys, "plan", str(path), "--detailed-exitcode")
    assert code == 0, out + err  # in sync


def test_a_saved_plan_of_a_request_is_applied_as_reviewed(acme, capsys, tmp_path):
    lab, pebble, _ = acme
    path = lab.inventory(inventory(lab, pebble, "          copy_to:\n          - {host: edge01.contoso.lab, services: [SMTP]}\n"))
    saved = tmp_path / "request.plan"
    code, out, err = run(capsys, "plan", str(path), "--out", str(saved))
    assert code == 0, out + err
    text = saved.read_text()
    assert '"file_written_by"' in text and "BEGIN" not in text and "made at random" in text  # references, never a request, key or PFX
    default = lab.exec("EDGE01", "Get-TransportService", Identity="EDGE01")[0]["InternalTransportCertificateThumbprint"]
    code, out, err = run(capsys, "apply", str(saved))
    assert code == 0, out + err
    (copy,) = [c for c in requested(lab, "EDGE01") if "SMTP" in str(c["Services"])]
    # SMTP bound on the copy without making it the Edge's default SMTP certificate (its Edge Subscription keeps working).
    assert lab.exec("EDGE01", "Get-TransportService", Identity="EDGE01")[0]["InternalTransportCertificateThumbprint"] == default != copy["Thumbprint"]

    # A later run copies it again where it went missing, and nothing else.
    lab.exec("EDGE01", "Remove-ExchangeCertificate", Thumbprint=copy["Thumbprint"], Confirm=False)
    code, out, err = run(capsys, "plan", str(path))
    assert code == 0 and 'copied_to = [] -> ["edge01.contoso.lab"]' in out, out + err
    assert "GenerateRequest" not in out and "New-AcmeOrder" not in out
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    assert [c["Thumbprint"] for c in requested(lab, "EDGE01")] == [copy["Thumbprint"]]
    assert [c["Thumbprint"] for c in requested(lab)] == [copy["Thumbprint"]]


@pytest.mark.parametrize("source", ["env", "file"])
def test_dns_01_through_rfc_2136(acme, capsys, monkeypatch, source):
    lab, pebble, dns_server = acme
    body = inventory(lab, pebble, challenge="dns-01", dns=dns_server)
    if source == "env":
        monkeypatch.setenv("ACME_TSIG_SECRET", TSIG_SECRET)
        described = "env ACME_TSIG_SECRET"
    else:  # a file beside the inventory, named relative to it
        (lab.dir / "tsig.key").write_text(TSIG_SECRET + "\n")
        body = body.replace("tsig_secret_env: ACME_TSIG_SECRET", "tsig_secret_file: tsig.key")
        described = f"file {(lab.dir / 'tsig.key').resolve()}"
    path = lab.inventory(body)
    code, out, err = run(capsys, "plan", str(path))
    assert (f"-DnsUpdate 'RFC 2136 updates of zone contoso.lab at {dns_server.address}:{dns_server.port}, TSIG key {TSIG_NAME} "
            f"(hmac-sha256, secret from {described})'") in out, out + err
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    assert "through WinRM" not in out  # nothing to write on the server
    assert [c for c in requested(lab) if str(c["Status"]) == "Valid"]
    added = [u for u in dns_server.updates if u.startswith("add _acme-challenge.")]
    assert {u.split()[1] for u in added} == {"_acme-challenge.mail.contoso.lab.", "_acme-challenge.autodiscover.contoso.lab."}
    assert len([u for u in dns_server.updates if u.startswith("delete ")]) == len(added)  # removed after
    assert TSIG_SECRET not in out + err


def test_an_interrupted_request_is_completed_on_the_next_run(acme, capsys):
    lab, pebble, _ = acme
    # The run that was interrupted made the request and nothing else (the lab's console, as New-ExchangeCertificate would).
    lab.exec("EX01", "New-ExchangeCertificate", GenerateRequest=True, BinaryEncoded=True, SubjectName="CN=mail.contoso.lab",
             DomainName=["autodiscover.contoso.lab"], PrivateKeyExportable=True)
    pending = [c for c in lab.exec("EX01", "Get-ExchangeCertificate") if str(c["Status"]) == "PendingRequest"]
    assert len(pending) == 1
    path = lab.inventory(inventory(lab, pebble))
    code, out, err = run(capsys, "plan", str(path))
    assert f"completes the pending request {pending[0]['Thumbprint'][:8]}" in out
    assert f"Export-ExchangeCertificate -Thumbprint '{pending[0]['Thumbprint']}' -BinaryEncoded" in out
    assert "GenerateRequest" not in out
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    certs = lab.exec("EX01", "Get-ExchangeCertificate")
    assert not [c for c in certs if str(c["Status"]) == "PendingRequest"]  # completed, never duplicated
    assert len([c for c in certs if str(c["Subject"]) == "CN=mail.contoso.lab"]) == 1


def test_copied_to_the_edge_in_one_plan_and_renewed_when_the_clock_passes_renew_within_days(acme, capsys):
    lab, pebble, _ = acme
    extra = "          copy_to:\n          - {host: edge01.contoso.lab, services: [SMTP]}\n          renew_within_days: 30\n"
    path = lab.inventory(inventory(lab, pebble, extra))
    code, out, err = run(capsys, "plan", str(path))
    assert "-Password (a SecureString: the password made at random for this copy, kept in memory)" in out
    assert "on edge01.contoso.lab (wave 2):" in out
    assert "Import-ExchangeCertificate -FileData (the FileData that Export-ExchangeCertificate returns on ex01.contoso.lab, carried in memory)" in out
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    (mine,) = requested(lab)
    (theirs,) = requested(lab, "EDGE01")
    assert theirs["Thumbprint"] == mine["Thumbprint"] and "SMTP" in str(theirs["Services"]) and theirs["HasPrivateKey"]
    assert not list((lab.dir).rglob("*.pfx"))  # nothing written on the controller

    days = (dt.datetime.fromisoformat(str(mine["NotAfter"]).replace("Z", "+00:00")) - lab.server.store.clock_now()).days
    code, out, err = run(capsys, "plan", str(path), "--detailed-exitcode")
    assert code == 0, out + err  # 90 days left: in sync, copy included
    lab.server.store.advance_clock((days - 29) * 86400)
    code, out, err = run(capsys, "plan", str(path))
    assert "will be replaced" in out and f'thumbprint  = "{mine["Thumbprint"]}" -> "(new, known after apply)"' in out
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    (renewed,) = requested(lab)  # the old one removed
    assert renewed["Thumbprint"] != mine["Thumbprint"] and renewed["NotAfter"] > mine["NotAfter"]
    assert renewed["Thumbprint"] in {c["Thumbprint"] for c in requested(lab, "EDGE01")}
    # The same declaration now means the renewed certificate (Pebble dates it from the real time, which the lab
    # clock is ahead of: so it is within renew_within_days of the lab clock again).
    code, out, err = run(capsys, "plan", str(path))
    assert f'thumbprint  = "{renewed["Thumbprint"]}" -> "(new, known after apply)"' in out


def test_a_missing_name_is_refused_with_the_url_that_needs_it(acme, capsys):
    lab, pebble, _ = acme
    lab.exec("EX01", "Set-OwaVirtualDirectory", Identity="EX01\\owa (Default Web Site)", ExternalUrl="https://webmail.contoso.lab/owa")
    body = inventory(lab, pebble).replace("        certificates:\n", "        certificate_urls: {autodiscover: true}\n        certificates:\n", 1)
    path = lab.inventory(body)
    code, out, err = run(capsys, "plan", str(path))
    assert code == 1 and "Refused [certificate-url-names]" in out + err, out + err
    assert ("would serve IIS, but Outlook on the web (OwaVirtualDirectory) ExternalUrl https://webmail.contoso.lab/owa needs "
            "webmail.contoso.lab, which its names (mail.contoso.lab, autodiscover.contoso.lab) do not cover") in out + err
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 1 and requested(lab) == []  # nothing requested, nothing changed

    # The names declared to cover it: requested, and the finding names what is now covered.
    # The default InternalUrls name the server (https://ex01.contoso.lab/owa …): its name too.
    fixed = lab.inventory(body.replace("domains: [autodiscover.contoso.lab]", "domains: [autodiscover.contoso.lab, webmail.contoso.lab, ex01.contoso.lab]"),
                          name="fixed.yaml")
    code, out, err = run(capsys, "apply", str(fixed), "--auto-approve")
    assert code == 0, out + err
    code, out, err = run(capsys, "drift", str(fixed), "--json")
    import json

    (finding,) = [f for f in json.loads(out)["findings"] if f["resource"] == "certificate_urls"]
    assert finding["status"] == "in_sync", finding
    props = {p["property"]: p["actual"] for p in finding["properties"]}
    assert props["Outlook on the web (OwaVirtualDirectory) ExternalUrl https://webmail.contoso.lab/owa"].startswith("CN=mail.contoso.lab (")
    assert props["https://autodiscover.contoso.lab/Autodiscover/Autodiscover.xml (Autodiscover of the accepted domain contoso.lab)"].startswith(
        "CN=mail.contoso.lab (")


def test_a_failed_validation_removes_the_challenge_files_and_the_next_run_completes_the_same_request(acme, capsys):
    lab, pebble, dns_server = acme
    body = inventory(lab, pebble).replace("domains: [autodiscover.contoso.lab]", "domains: [autodiscover.contoso.lab, unknown.contoso.lab]")
    path = lab.inventory(body)
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 2, out + err
    assert "could not validate unknown.contoso.lab" in out and "could not resolve" in out
    state = lab.server.store._state.objects[("EX01", "web_files")]
    assert [k for k in state if not k.endswith("web.config")] == []  # the cleanup ran after the failure
    (pending,) = [c for c in lab.exec("EX01", "Get-ExchangeCertificate") if str(c["Status"]) == "PendingRequest"]
    dns_server.a["unknown.contoso.lab"] = lab.addresses["EX01"]
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    assert f"completes the pending request {pending['Thumbprint'][:8]}" in out
    certs = lab.exec("EX01", "Get-ExchangeCertificate")
    assert not [c for c in certs if str(c["Status"]) == "PendingRequest"]
    assert [c for c in certs if "unknown.contoso.lab" in c["CertificateDomains"] and str(c["Status"]) == "Valid"]


def test_http_01_is_refused_on_an_edge_which_has_no_iis(acme, capsys):
    lab, pebble, _ = acme
    body = inventory(lab, pebble, services="[SMTP]")
    entry = body[body.index("      exchange:\n"):body.index("    edge01.contoso.lab:\n")]
    body = body.replace(entry, "").replace(f"      ansible_password: {EDGE_PASSWORD}\n", f"      ansible_password: {EDGE_PASSWORD}\n{entry}")
    path = lab.inventory(body)
    code, out, err = run(capsys, "plan", str(path))
    assert code == 1, out + err
    assert "edge01.contoso.lab" in out + err and "which has no IIS to serve an HTTP-01 challenge: prove the names with dns-01" in out + err
    assert requested(lab, "EDGE01") == []


def test_a_copy_host_outside_the_run_is_an_error_of_the_declaring_host(acme, capsys):
    lab, pebble, _ = acme
    path = lab.inventory(inventory(lab, pebble, "          copy_to:\n          - {host: edge01.contoso.lab, services: [SMTP]}\n"))
    code, out, err = run(capsys, "plan", str(path), "--limit", "ex01.contoso.lab")
    assert code == 1, out + err
    assert ("copy_to edge01.contoso.lab: that host was not read in this run (outside --limit, or it failed): "
            "the certificate cannot be copied there") in out + err
    assert "ex01.contoso.lab" in out + err and requested(lab) == []
