"""The lab's WinRM server with the authentication token on a connection's first request (RFC 4559 4.2, MS-NTHT),
as exconf's clients send it (engine/transport/firsttoken.py) over stock pywinrm: taken where Windows takes it,
refused where Windows refuses."""

from __future__ import annotations

import base64
import http.client

import pytest
import requests
import spnego
import xmltodict
from spnego._ntlm_raw.messages import Authenticate, AvId, NTClientChallengeV2
from winrm.exceptions import InvalidCredentialsError
from winrm.protocol import Protocol

from exconf.lab.tlsca import LabCA
from exconf.lab.winrm import WinRMService
from exconf.lab.winrm.shell import SHELL_URI
from exconf.transport.firsttoken import FirstTokenNtlmAuth
from exconf.transport.session import DEFAULT_HEADERS

from . import DOMAIN_ADMIN, FakeBackend, make_spec

USER = f"{DOMAIN_ADMIN.domain}\\{DOMAIN_ADMIN.user}"
PASSWORD = DOMAIN_ADMIN.password


@pytest.fixture
def lab(tmp_path):
    services = []

    def start(*specs):
        ca = LabCA.load_or_create(tmp_path)
        service = WinRMService(FakeBackend(), specs, ca).start()
        services.append(service)
        return service, ca.cert_path

    yield start
    for service in services:
        service.stop()


def protocol(url: str, password: str = PASSWORD, ca: str | None = None, encryption: str = "auto") -> tuple[Protocol, FirstTokenNtlmAuth]:
    """pywinrm with exconf's NTLM auth (as engine/transport/winrm.py sets it up)."""
    p = Protocol(url, transport="ntlm", username=USER, password=password, message_encryption=encryption,
                 server_cert_validation="validate", ca_trust_path=ca or "legacy_requests")
    session = requests.Session()
    session.trust_env = False
    session.headers.update(DEFAULT_HEADERS)
    session.verify = ca or True
    auth = session.auth = FirstTokenNtlmAuth(USER, password)
    p.transport.session = session
    if encryption == "always" or (encryption == "auto" and url.startswith("http://")):
        p.transport.setup_encryption(session)
    return p, auth


def create_body(p: Protocol) -> bytes:
    req = {"env:Envelope": p.build_wsman_header(resource_uri=SHELL_URI, action="http://schemas.xmlsoap.org/ws/2004/09/transfer/Create")}
    req["env:Envelope"]["env:Body"] = {"rsp:Shell": {"rsp:InputStreams": "stdin", "rsp:OutputStreams": "stdout stderr"}}
    return xmltodict.unparse(req).encode()


def test_ntlm_with_the_first_request_logs_on_in_two_requests_and_seals(lab):
    spec = make_spec()
    service, _ = lab(spec)
    p, auth = protocol(f"http://{spec.address}:{spec.winrm.http_port}/wsman")
    shell = p.open_shell()
    command = p.run_command(shell, "ipconfig")
    assert p.get_command_output(shell, command)[2] == 0
    p.cleanup_command(shell, command)
    p.close_shell(shell)
    assert p.transport.encryption is not None and auth.fallbacks == 0
    stats = service.stats()["EX01"]
    # NEGOTIATE (401 with the CHALLENGE), AUTHENTICATE (200), then Create, Command, Receive, Signal, Delete
    assert stats["requests"] == 2 + 5
    assert (stats["shells"], stats["auth_failures"]) == (1, 0)


def test_a_body_sent_with_the_first_token_is_not_served(lab):
    spec = make_spec(winrm={"allow_unencrypted": True})  # even where a plain body would be served after a logon
    service, _ = lab(spec)
    client = spnego.client(USER, PASSWORD, hostname=spec.fqdn, service="http", protocol="ntlm")
    conn = http.client.HTTPConnection(spec.address, spec.winrm.http_port, timeout=10)
    body = create_body(Protocol(f"http://{spec.address}/wsman", username=USER, password=PASSWORD))
    conn.request("POST", "/wsman", body=body, headers={
        "Authorization": "Negotiate " + base64.b64encode(client.step()).decode(),
        "Content-Type": "application/soap+xml;charset=UTF-8"})
    response = conn.getresponse()
    response.read()
    assert response.status == 401 and response.getheader("WWW-Authenticate", "").startswith("Negotiate TlRMTVNTUAAC")
    assert service.stats()["EX01"]["shells"] == 0  # the 401 carries the CHALLENGE; the Create waits for the logon
    conn.close()


def test_a_wrong_password_with_the_first_token_is_refused(lab):
    spec = make_spec()
    service, _ = lab(spec)
    with pytest.raises(InvalidCredentialsError):
        protocol(f"http://{spec.address}:{spec.winrm.http_port}/wsman", password="wrong")
    assert service.stats()["EX01"]["auth_failures"] == 1 and service.stats()["EX01"]["requests"] == 2


def test_after_the_logon_an_unsealed_body_and_a_sealed_one_on_another_connection_are_refused(lab):
    spec = make_spec()
    service, _ = lab(spec)
    url = f"http://{spec.address}:{spec.winrm.http_port}/wsman"
    p, _ = protocol(url)
    session = p.transport.session
    plain = session.post(url, data=create_body(p))
    assert plain.status_code == 500  # AllowUnencrypted=false: the logon does not let a plain SOAP body in
    sealed = p.transport.encryption.prepare_encrypted_request(session, url, create_body(p))
    session.close()  # the next request goes on a new socket, which no NTLM logon authenticated
    assert session.send(sealed).status_code == 400
    assert service.stats()["EX01"]["shells"] == 0


def test_a_server_that_ignores_the_first_token_gets_the_stock_exchange(lab):
    spec = make_spec(faults={"ignores_first_token": True})
    service, _ = lab(spec)
    p, auth = protocol(f"http://{spec.address}:{spec.winrm.http_port}/wsman")
    shell = p.open_shell()
    p.close_shell(shell)
    assert auth.fallbacks == 1
    assert service.stats()["EX01"]["requests"] == 3 + 2 and service.stats()["EX01"]["auth_failures"] == 0


def test_over_https_the_channel_bindings_go_in_authenticate(lab, monkeypatch):
    spec = make_spec()
    service, ca = lab(spec)
    seen: list[bytes] = []
    real_send = requests.adapters.HTTPAdapter.send

    def send(self, request, **kwargs):
        value = request.headers.get("Authorization", "")
        if value.startswith("Negotiate "):
            seen.append(base64.b64decode(value.split(" ", 1)[1]))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    p, _ = protocol(f"https://{spec.address}:{spec.winrm.https_port}/wsman", ca=str(ca))
    p.close_shell(p.open_shell())  # the Create rides on NTLM's two legs (no message is sealed over TLS)
    assert service.stats()["EX01"]["requests"] == 2 + 1
    assert len(seen) == 2 and seen[0][8:9] == b"\x01" and seen[1][8:9] == b"\x03"  # NEGOTIATE, AUTHENTICATE
    response = Authenticate.unpack(seen[1]).nt_challenge_response
    pairs = NTClientChallengeV2.unpack(response[16:]).av_pairs  # after the 16-byte NTProofStr (MS-NLMP 2.2.2.8)
    # MsvAvChannelBindings (MS-NLMP 2.2.2.1): the MD5 of the bindings of the certificate this connection presented
    assert pairs[AvId.channel_bindings] and pairs[AvId.channel_bindings] != b"\x00" * 16
