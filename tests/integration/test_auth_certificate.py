"""The Exchange Server Auth Certificate rotated as Microsoft's procedure does it, across two runs with its effective
date: staged on one Mailbox server, imported on every other, made effective later, then published and the previous
one cleared with the restarts Microsoft names; drift reports it; the rails keep the current and next ones."""

from __future__ import annotations

import datetime as dt
import json

from exconf.cli import main

from .conftest import PASSWORD

SERVERS = [{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}, {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"}]


def inventory(extra: str = "") -> str:
    return f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
    exchange_organization:
      auth_certificate: {{renew_within_days: 60, effective_in_days: 30}}
  hosts:
    ex01.contoso.lab:
      ansible_host: "{{EX01}}"
{extra}    ex02.contoso.lab:
      ansible_host: "{{EX02}}"
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def auth(lab) -> dict:
    return lab.exec("EX01", "Get-AuthConfig")[0]


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def test_the_auth_certificate_rotates_across_two_runs_with_its_effective_date(make_lab, capsys):
    lab = make_lab(SERVERS)
    path = lab.inventory(inventory())
    first = auth(lab)["CurrentCertificateThumbprint"]
    code, out, err = run(capsys, "plan", str(path), "--detailed-exitcode")
    assert code == 0, out + err  # 1800 days left

    expiry = when(next(c for c in lab.exec("EX01", "Get-ExchangeCertificate") if c["Thumbprint"] == first)["NotAfter"])
    lab.server.store.advance_clock((expiry - lab.server.store.clock_now() - dt.timedelta(days=59)).total_seconds())
    code, out, err = run(capsys, "plan", str(path))
    assert "auth_certificate \"Microsoft Exchange Server Auth Certificate\" will be replaced" in out, out
    effective = (expiry - dt.timedelta(days=30)).strftime("%Y-%m-%d")
    assert f'next_effective_date = "(none)" -> "{effective}"' in out
    assert ("New-ExchangeCertificate -KeySize 2048 -PrivateKeyExportable -SubjectName 'cn=Microsoft Exchange Server Auth Certificate' "
            "-FriendlyName 'Microsoft Exchange Server Auth Certificate' -DomainName @() -Force -Server (this server)") in out
    assert "on ex02.contoso.lab (wave 2):" in out and "Import-ExchangeCertificate -FileData (the FileData that Export-ExchangeCertificate returns" in out
    assert "Set-AuthConfig -NewCertificateThumbprint (the Thumbprint that New-ExchangeCertificate returns on ex01.contoso.lab" in out

    # Every Mailbox server of the organisation must be in the run: without EX02 the host carrying it fails, naming it.
    code, out, err = run(capsys, "plan", str(path), "--limit", "ex01.contoso.lab,organization")
    assert code != 0 and "the Auth certificate must be on every Mailbox server, and EX02 is not in this run" in out + err, out + err
    # Removing the current certificate is refused (the certificate kind's rail).
    refused = lab.inventory(inventory(f"      exchange:\n        certificates:\n        - {{thumbprint: {first}, state: absent}}\n"), name="current.yaml")
    code, out, err = run(capsys, "plan", str(refused))
    assert "Refused [auth-certificate]" in out + err and "is the current certificate of the organisation's AuthConfig" in out + err, out + err

    default = lab.exec("EX01", "Get-TransportService", Identity="EX01")[0]["InternalTransportCertificateThumbprint"]
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    config = auth(lab)
    nxt = config["NextCertificateThumbprint"]
    assert nxt and config["CurrentCertificateThumbprint"] == first
    assert when(config["NextCertificateEffectiveDate"]).strftime("%Y-%m-%d") == effective
    for server in ("EX01", "EX02"):  # on every Mailbox server, with its private key
        held = {c["Thumbprint"]: c for c in lab.exec(server, "Get-ExchangeCertificate")}
        assert nxt in held and held[nxt]["HasPrivateKey"]
    assert lab.exec("EX01", "Get-TransportService", Identity="EX01")[0]["InternalTransportCertificateThumbprint"] == default

    code, out, err = run(capsys, "plan", str(path), "--detailed-exitcode")
    assert code == 0, out + err  # waiting for the effective date
    code, out, err = run(capsys, "drift", str(path), "--json")
    doc = json.loads(out)
    (finding,) = [f for f in doc["findings"] if f["resource"] == "auth_certificate"]
    props = {p["property"]: p["actual"] for p in finding["properties"]}
    assert props["current_thumbprint"] == first and props["next_thumbprint"] == nxt and props["next_effective_date"] == effective
    assert props["days_left"] == 58 or props["days_left"] == 59

    # Removing the next certificate is refused (the certificate kind's rail).
    refused = lab.inventory(inventory(f"      exchange:\n        certificates:\n        - {{thumbprint: {nxt}, state: absent}}\n"), name="refused.yaml")
    code, out, err = run(capsys, "plan", str(refused))
    assert "Refused [auth-certificate]" in out + err and "is the next certificate of the organisation's AuthConfig" in out + err

    # The later run, once the effective date is reached (before the AuthAdmin servicelet's next run): published.
    lab.server.store.advance_clock((when(config["NextCertificateEffectiveDate"]) - lab.server.store.clock_now()).total_seconds() + 3600)
    code, out, err = run(capsys, "plan", str(path))
    assert "Set-AuthConfig -PublishCertificate -Force" in out and "Set-AuthConfig -ClearPreviousCertificate -Force" in out
    assert "on ex02.contoso.lab through WinRM (exconf's program)" in out and "Restart-WebAppPool -Name 'MSExchangeECPAppPool'" in out
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    config = auth(lab)
    assert config["CurrentCertificateThumbprint"] == nxt and not config["NextCertificateThumbprint"] and not config["PreviousCertificateThumbprint"]
    code, out, err = run(capsys, "plan", str(path), "--detailed-exitcode")
    assert code == 0, out + err


def test_a_mailbox_server_without_the_auth_certificate_gets_it(make_lab, capsys):
    lab = make_lab(SERVERS)
    current = auth(lab)["CurrentCertificateThumbprint"]
    ex02 = lab.server.store.server("EX02")
    assert lab.server.store.web_request(ex02, "/owa/", True)[0] == 200
    lab.exec("EX02", "Remove-ExchangeCertificate", Thumbprint=current, Confirm=False)
    assert lab.server.store.web_request(ex02, "/owa/", True)[0] == 500  # OAuth cannot sign there: sign-in fails
    path = lab.inventory(inventory())
    code, out, err = run(capsys, "plan", str(path))
    assert 'current_on = ["EX01"] -> ["EX01", "EX02"]' in out and f"Export-ExchangeCertificate -Thumbprint '{current}'" in out
    code, out, err = run(capsys, "apply", str(path), "--auto-approve")
    assert code == 0, out + err
    assert current in {c["Thumbprint"] for c in lab.exec("EX02", "Get-ExchangeCertificate")}
    assert lab.server.store.web_request(ex02, "/ecp/", True)[0] == 200
