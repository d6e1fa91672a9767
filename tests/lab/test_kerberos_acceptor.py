"""The lab's acceptor against a real KDC's tickets: what each endpoint's policy lets in, and the Logon it
records (mechanism, delegation), without HTTP: tokens from pyspnego's client straight into the Authenticator."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import spnego
from spnego.channel_bindings import GssChannelBindings

from exconf.lab.kerberos import ServiceKey, token_kind
from exconf.lab.winrm.auth import AuthPolicy, Authenticator, ConnectionAuth

from . import DOMAIN_ADMIN, make_spec

REALM = "CONTOSO.LAB"


@pytest.fixture
def realm(krb5_env):
    krb5_env.user(DOMAIN_ADMIN.user, DOMAIN_ADMIN.password)
    return krb5_env


def authenticator(realm, tmp_path: Path, policy: AuthPolicy | None = None, keytab: bool = True) -> Authenticator:
    spec = make_spec()
    key = ServiceKey(realm.service(spec.fqdn), tmp_path / "rcache") if keytab else None
    return Authenticator(spec, tmp_path / "ntlm", service_key=key, realm=REALM, policy=policy)


def exchange(auth: Authenticator, client, conn: ConnectionAuth | None = None, scheme: str = "Negotiate"):
    conn = conn or ConnectionAuth(secure=False)
    token = client.step()
    while True:
        outcome = auth.negotiate_step(conn, scheme, base64.b64encode(token).decode())
        if outcome.status != "challenge":
            if outcome.status == "ok" and outcome.token:
                client.step(outcome.token)  # the AP-REP / mechListMIC: the client authenticates the server
            return outcome, conn
        token = client.step(outcome.token)


def kerberos_client(auth: Authenticator, **kw):
    return spnego.client(f"{DOMAIN_ADMIN.user}@{REALM}", DOMAIN_ADMIN.password, hostname=auth.spec.fqdn, service="HTTP",
                         **kw)


def test_a_raw_kerberos_token_logs_on_without_delegation(realm, tmp_path):
    auth = authenticator(realm, tmp_path)
    client = kerberos_client(auth, protocol="kerberos")
    outcome, conn = exchange(auth, client)
    assert outcome.status == "ok" and client.complete
    assert (conn.logon.principal, conn.logon.mechanism, conn.logon.delegated) == ("CONTOSO\\exadmin", "kerberos", False)
    sealed = client.wrap_winrm(b"<s:Envelope/>")  # MS-WSMV sealing works both ways with the lab's context
    assert conn.ctx.unwrap_winrm(sealed.header, sealed.data) == b"<s:Envelope/>"
    back = conn.ctx.wrap_winrm(b"answer")
    assert client.unwrap_winrm(back.header, back.data) == b"answer"


def test_spnego_with_a_delegated_ticket_is_a_logon_that_can_make_the_second_hop(realm, tmp_path):
    auth = authenticator(realm, tmp_path)
    client = kerberos_client(auth, protocol="negotiate", context_req=spnego.ContextReq.default | spnego.ContextReq.delegate)
    first = client.step()
    assert token_kind(first) == "spnego"
    conn = ConnectionAuth(secure=False)
    outcome = auth.negotiate_step(conn, "Negotiate", base64.b64encode(first).decode())
    while outcome.status == "challenge":
        outcome = auth.negotiate_step(conn, "Negotiate", base64.b64encode(client.step(outcome.token)).decode())
    assert outcome.status == "ok"
    assert (conn.logon.mechanism, conn.logon.delegated) == ("kerberos", True)


def test_a_client_without_a_ticket_negotiates_ntlm_on_wsman(realm, tmp_path):
    auth = authenticator(realm, tmp_path)
    # DOMAIN\user names no realm principal the KDC knows: pyspnego drops Kerberos and offers NTLM in SPNEGO.
    client = spnego.client("CONTOSO\\exadmin", DOMAIN_ADMIN.password, hostname=auth.spec.fqdn, service="HTTP",
                           protocol="negotiate", options=spnego.NegotiateOptions.use_negotiate)
    outcome, conn = exchange(auth, client)
    assert outcome.status == "ok", outcome.reason
    assert (conn.logon.mechanism, conn.logon.delegated) == ("ntlm", False)


@pytest.mark.parametrize("windows_authentication", [False, True])
def test_the_powershell_directory_takes_kerberos_and_ntlm_only_with_windows_authentication(realm, tmp_path,
                                                                                       windows_authentication):
    policy = AuthPolicy.powershell_vdir(basic_authentication=False, windows_authentication=windows_authentication,
                                        fqdn="ex01.contoso.com")
    auth = authenticator(realm, tmp_path, policy=policy)
    outcome, conn = exchange(auth, kerberos_client(auth, protocol="kerberos"))
    assert outcome.status == "ok" and conn.logon.mechanism == "kerberos"
    ntlm = spnego.client("CONTOSO\\exadmin", DOMAIN_ADMIN.password, hostname=auth.spec.fqdn, service="HTTP",
                         protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
    outcome, _ = exchange(auth, ntlm, scheme="NTLM")
    assert outcome.status == ("ok" if windows_authentication else "failed")
    assert auth.challenges() == (["Negotiate", "NTLM"] if windows_authentication else ["Negotiate"])


def test_channel_bindings_that_do_not_match_the_certificate_are_refused_with_kerberos_error_token(realm, tmp_path):
    auth = authenticator(realm, tmp_path)
    conn = ConnectionAuth(secure=True, channel_bindings=b"tls-server-end-point:" + b"\x01" * 32)
    client = kerberos_client(auth, protocol="kerberos",
                             channel_bindings=GssChannelBindings(application_data=b"tls-server-end-point:" + b"\x02" * 32))
    outcome, _ = exchange(auth, client, conn)
    assert outcome.status == "failed" and outcome.token  # a KRB-ERROR for the client to read
    assert "channel bindings" in outcome.reason.lower()
    # A client that sends no bindings is let in (CbtHardeningLevel Relaxed, Windows' default).
    outcome, conn = exchange(auth, kerberos_client(auth, protocol="kerberos"),
                             ConnectionAuth(secure=True, channel_bindings=b"tls-server-end-point:" + b"\x01" * 32))
    assert outcome.status == "ok"


def test_a_server_without_a_keytab_refuses_a_kerberos_token_saying_why(realm, tmp_path):
    auth = authenticator(realm, tmp_path, keytab=False)
    realm.service(auth.spec.fqdn)
    outcome, _ = exchange(auth, kerberos_client(auth, protocol="kerberos"))
    assert outcome.status == "failed" and "has no Kerberos key" in outcome.reason
