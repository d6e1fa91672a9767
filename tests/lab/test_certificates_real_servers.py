"""The lab's certificates as real servers show them: services computed from where a certificate is used
(IMAP/POP by name, SMTP by NETWORK SERVICE, IIS by web site), setup's certificates per build, the
default SMTP certificate, the Auth certificate, and the cmdlets' documented limits."""

from __future__ import annotations

import pytest

from exconf import remote
from exconf.lab.exchange.store import ConsoleError

from .certificate_helpers import PFX_PASSWORD, ca, lab_store, run, thumbprint  # noqa: F401  (ca is a fixture)

ORG = """
organization: {name: Contoso, domain: contoso.lab, netbios: CONTOSO}
send_connectors: [{name: Partner, address_spaces: ["SMTP:fabrikam.com;1"], source_transport_servers: [EX01]}]
accounts: [{user: exadmin, password: "Lab-Passw0rd!"}]
servers:
  - {name: EX01, role: Mailbox, site: Amsterdam, address: 127.67.201.1}
  - {name: EX16, role: Mailbox, site: Amsterdam, address: 127.67.201.2, version: 15.1.2375.7}
  - {name: EX19, role: Mailbox, site: Amsterdam, address: 127.67.201.3, version: 15.2.986.5}
  - name: EDGE01
    role: Edge
    site: Amsterdam
    address: 127.67.201.4
    fqdn: edge01.dmz.contoso.lab
    local_accounts: [{user: Administrator, password: "Edge-Passw0rd!"}]
"""


@pytest.fixture
def store(tmp_path):
    return lab_store(tmp_path, ORG)


PROPS = ("Thumbprint", "Subject", "Issuer", "Services", "CertificateDomains", "NotBefore", "NotAfter", "PrivateKeyExportable",
         "SignatureAlgorithm.FriendlyName")


def certs(store, server, **params):
    """Get-ExchangeCertificate as exconf's program reads it (the contract's serialisation)."""
    return list(run(store, server, [remote.Step("g", "Get-ExchangeCertificate", params, select=PROPS)]).result("g").objects)


def by_subject(store, server):
    return {c["Subject"]: c for c in certs(store, server)}


def days(cert) -> int:
    import datetime as dt

    parse = dt.datetime.fromisoformat
    return (parse(cert["NotAfter"].replace("Z", "+00:00")) - parse(cert["NotBefore"].replace("Z", "+00:00"))).days


def import_pfx(store, server, pfx):
    from exconf.lab.exchange.secure import SecureString

    return store.exec_console(server, "Import-ExchangeCertificate", {"FileData": pfx, "Password": SecureString(PFX_PASSWORD)})[0]


def test_setup_certificates_follow_the_recordings(store):
    """What CSS-Exchange recorded of real servers: WMSvc exportable, no SAN, SHA-256, 10 years; the Auth
    certificate exportable, no SAN, 1800 days; default and Auth SHA-1 on builds of 2018-2021."""
    for server, signature in (("EX01", "sha256RSA"), ("EX16", "sha1RSA"), ("EX19", "sha1RSA")):
        found = by_subject(store, server)
        default, wmsvc = found[f"CN={server}"], found[f"CN=WMSvc-SHA2-{server}"]
        assert (default["PrivateKeyExportable"], default["SignatureAlgorithm.FriendlyName"]) == (False, signature)
        assert (wmsvc["PrivateKeyExportable"], wmsvc["CertificateDomains"], wmsvc["Services"]) == (True, [], "None")
        assert wmsvc["SignatureAlgorithm.FriendlyName"] == "sha256RSA"
        assert days(wmsvc) == 3650
    auth = by_subject(store, "EX01")["CN=Microsoft Exchange Server Auth Certificate"]
    assert (auth["PrivateKeyExportable"], auth["CertificateDomains"], auth["Services"]) == (True, [], "SMTP")
    assert days(auth) == 1800
    config = store.exec_console("EX01", "Get-AuthConfig", {})[0]
    assert config["CurrentCertificateThumbprint"] == auth["Thumbprint"] and config["NextCertificateThumbprint"] == ""


def test_imap_and_pop_follow_the_name_not_the_certificate(store, ca):
    """Microsoft's own recording: New-ExchangeCertificate -Services SMTP -Force with the server's names comes
    back as "IMAP, SMTP" (the IMAP name is the server's); several certificates show IMAP at once."""
    default = by_subject(store, "EX01")["CN=EX01"]
    assert default["Services"] == "IMAP, POP, IIS, SMTP"
    shown = lambda: {c["Thumbprint"]: c["Services"] for c in certs(store, "EX01")}  # noqa: E731
    new = store.exec_console("EX01", "New-ExchangeCertificate", {"DomainName": ["EX01"], "IncludeServerFQDN": True,
                                                                 "Services": "SMTP", "Force": True, "PrivateKeyExportable": True})[0]
    assert new["Services"] == "IMAP, POP, SMTP"
    assert shown()[default["Thumbprint"]] == "IMAP, POP, IIS, SMTP"  # it still carries the name too
    # An administrator points IMAP at another name: the bit moves to the certificates carrying it.
    store.exec_console("EX01", "Set-ImapSettings", {"X509CertificateName": "mail.contoso.lab"})
    third = import_pfx(store, "EX01", ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0])
    assert third["Services"] == "IMAP"
    assert shown()[default["Thumbprint"]] == "POP, IIS, SMTP" and shown()[new["Thumbprint"]] == "POP, SMTP"
    # Enabling POP on it writes its first name into the POP settings (SetPopImapCertificate).
    store.exec_console("EX01", "Enable-ExchangeCertificate", {"Thumbprint": third["Thumbprint"], "Services": "POP"})
    assert store.exec_console("EX01", "Get-PopSettings", {})[0]["X509CertificateName"] == "mail.contoso.lab"
    assert certs(store, "EX01", Thumbprint=third["Thumbprint"])[0]["Services"] == "IMAP, POP, SMTP"


def test_smtp_without_force_keeps_the_default_and_fails_the_prompt(store, ca):
    """Enable-ExchangeCertificate -Services SMTP without -Force asks to overwrite the default SMTP certificate
    [PS -Force]; in a non-interactive shell the question fails, with SMTP granted and the default kept."""
    new = import_pfx(store, "EX01", ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0])
    answer = run(store, "EX01", [remote.Step("e", "Enable-ExchangeCertificate", {"Thumbprint": new["Thumbprint"], "Services": "SMTP"}),
                                 remote.Step("t", "Get-TransportService", {"Identity": {"exconf_ref": "ComputerName"}},
                                             select=("InternalTransportCertificateThumbprint",), always_run=True)])
    assert "NonInteractive" in answer.result("e").error.message
    default = by_subject(store, "EX01")["CN=EX01"]["Thumbprint"]
    assert answer.result("t").objects == ({"InternalTransportCertificateThumbprint": default},)
    assert certs(store, "EX01", Thumbprint=new["Thumbprint"])[0]["Services"] == "SMTP"
    # -NetworkServiceAllowed with no service: what SMTP needs, with no question and no new default [PS].
    other = import_pfx(store, "EX01", ca.pfx("relay.contoso.lab", ["relay.contoso.lab"])[0])
    store.exec_console("EX01", "Enable-ExchangeCertificate", {"Thumbprint": other["Thumbprint"], "Services": "None",
                                                              "NetworkServiceAllowed": True})
    assert certs(store, "EX01", Thumbprint=other["Thumbprint"])[0]["Services"] == "SMTP"
    assert store.exec_console("EX01", "Get-TransportService", {"Identity": "EX01"})[0]["InternalTransportCertificateThumbprint"] == default


def test_documented_limits(store, ca):
    with pytest.raises(ConsoleError, match="less than 64 characters"):
        store.exec_console("EX01", "New-ExchangeCertificate", {"FriendlyName": "x" * 64, "Services": "None"})
    store.exec_console("EX01", "New-ExchangeCertificate", {"FriendlyName": "x" * 63, "Services": "None"})
    new = import_pfx(store, "EX19", ca.pfx("um.contoso.lab", ["um.contoso.lab"])[0])
    with pytest.raises(ConsoleError, match="Exchange 2019 has no Unified Messaging"):
        store.exec_console("EX19", "Enable-ExchangeCertificate", {"Thumbprint": new["Thumbprint"], "Services": "UM"})
    old = import_pfx(store, "EX16", ca.pfx("um.contoso.lab", ["um.contoso.lab"])[0])
    with pytest.raises(ConsoleError, match="UMStartupMode"):
        store.exec_console("EX16", "Enable-ExchangeCertificate", {"Thumbprint": old["Thumbprint"], "Services": "UM"})
    with pytest.raises(ConsoleError, match="federation trust"):
        store.exec_console("EX16", "Enable-ExchangeCertificate", {"Thumbprint": old["Thumbprint"], "Services": "Federation"})
    # -Instance is deprecated: it takes an X509Certificate2, which no value an exconf step sends can be.
    error = run(store, "EX01", [remote.Step("n", "New-ExchangeCertificate", {"Instance": "x"})]).result("n").error
    assert "X509Certificate2" in error.message
    # Import-ExchangeCertificate -Instance <String[]> (a parameter set of its own) binds, and imports nothing.
    with pytest.raises(ConsoleError, match="deprecated and no longer used"):
        store.exec_console("EX01", "Import-ExchangeCertificate", {"Instance": ["x"]})
    # exconf's program never runs the cmdlet (it imports a PFX itself, Import-Pfx): it refuses the step.
    error = run(store, "EX01", [remote.Step("i", "Import-ExchangeCertificate", {"Instance": ["x"]})]).result("i").error
    assert error.error_id == "ExconfBadParameter" and "runs in an exconf step only as -FileData" in error.message


def test_a_certificate_a_send_connector_names_cannot_be_removed(store, ca):
    new = import_pfx(store, "EX01", ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])[0])
    name = f"<I>{new['Issuer']}<S>{new['Subject']}"
    connector = store.exec_console("EX01", "Get-SendConnector", {})
    assert connector, "the lab organisation has send connectors"
    store.exec_console("EX01", "Set-SendConnector", {"Identity": connector[0]["Name"], "TlsCertificateName": name})
    with pytest.raises(ConsoleError, match="send connectors .* use it"):
        store.exec_console("EX01", "Remove-ExchangeCertificate", {"Thumbprint": new["Thumbprint"], "Confirm": False})


def test_the_answer_carries_the_lab_clock(store):
    before = run(store, "EX01", [remote.Step("s", "Get-ExchangeServer", {"Identity": "EX01"}, select=("Name",))]).utc_now
    store.advance_clock(400 * 86400)
    after = run(store, "EX01", [remote.Step("s", "Get-ExchangeServer", {"Identity": "EX01"}, select=("Name",))]).utc_now
    assert before[:4].isdigit() and int(after[:4]) - int(before[:4]) in (1, 2)
