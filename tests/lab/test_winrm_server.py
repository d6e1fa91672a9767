"""The lab's WinRM server against stock pywinrm (and a raw SPNEGO client), with a fake backend."""

from __future__ import annotations

import base64
import errno
import http.client
import ipaddress
import json
import threading
import types
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
import spnego
import xmltodict
from cryptography import x509
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError
from winrm.protocol import Protocol

from exconf.lab.tlsca import LabCA
from exconf.lab.winrm import WinRMService, encryption, split_arguments
from exconf.lab.winrm.shell import SHELL_URI

from . import DOMAIN_ADMIN, Account, FakeBackend, make_spec, wait_for

USER = f"{DOMAIN_ADMIN.domain}\\{DOMAIN_ADMIN.user}"
PASSWORD = DOMAIN_ADMIN.password


@pytest.fixture
def lab(tmp_path):
    """Start a WinRMService for the given specs; returns (service, backend, ca_path)."""
    services = []

    def start(*specs, backend=None):
        backend = backend or FakeBackend()
        ca = LabCA.load_or_create(tmp_path)
        service = WinRMService(backend, specs, ca).start()
        services.append(service)
        return service, backend, ca.cert_path

    yield start
    for service in services:
        service.stop()


def http_url(spec):
    return f"http://{spec.address}:{spec.winrm.http_port}/wsman"


def https_url(spec, host=None):
    return f"https://{host or spec.address}:{spec.winrm.https_port}/wsman"


def run(p: Protocol, command="cmd", args=(), stdin_chunks=(), **kw):
    """open_shell, run_command, send each chunk, receive, cleanup, close: pywinrm's full cycle."""
    shell = p.open_shell(**kw)
    cmd = p.run_command(shell, command, list(args))
    for i, chunk in enumerate(stdin_chunks):
        p.send_command_input(shell, cmd, chunk, end=i == len(stdin_chunks) - 1)
    out = p.get_command_output(shell, cmd)
    p.cleanup_command(shell, cmd)
    p.close_shell(shell)
    return out


# --- NTLM over HTTP with message encryption (the Windows default) ----------------------------


def test_ntlm_over_http_encrypts_and_counts_requests(lab):
    spec = make_spec()
    service, backend, _ = lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)

    stdout, stderr, code = run(p, "powershell.exe", ["-NoProfile", "-EncodedCommand", "QQBCAA=="],
                               [b"a" * 1000, b"b" * 2000, b"c" * 3], codepage=65001)

    assert p.transport.encryption is not None  # pywinrm chose MS-WSMV encryption and the server took it
    assert code == 0 and stderr == b""
    seen = json.loads(stdout)
    assert seen == {"server": "EX01", "command": "powershell.exe",
                    "arguments": ["-NoProfile", "-EncodedCommand", "QQBCAA=="], "stdin_len": 3003, "codepage": 65001}
    stats = service.stats()["EX01"]
    # 3 for NTLM (anonymous 401, NEGOTIATE -> 401 challenge, AUTHENTICATE -> 200 empty),
    # then one per operation: Create, Command, Send x3, Receive, Signal, Delete.
    assert stats["requests"] == 3 + 8
    assert (stats["shells"], stats["commands"], stats["auth_failures"]) == (1, 1, 0)
    assert stats["bytes_in"] > 3003 and stats["bytes_out"] > 0


def test_request_count_per_operation_is_one_after_auth(lab):
    spec = make_spec()
    service, _, _ = lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    counts = []
    shell = p.open_shell()
    counts.append(service.stats()["EX01"]["requests"])
    for _ in range(3):
        cmd = p.run_command(shell, "ipconfig")
        p.get_command_output(shell, cmd)
        p.cleanup_command(shell, cmd)
        counts.append(service.stats()["EX01"]["requests"])
    p.close_shell(shell)
    assert counts == [4, 7, 10, 13]  # 3 auth + Create; then Command + Receive + Signal per command
    assert service.stats()["EX01"]["requests"] == 14


def test_unencrypted_ntlm_over_http_is_refused(lab):
    spec = make_spec()
    service, _, _ = lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD, message_encryption="never")
    with pytest.raises(WinRMTransportError) as exc:
        p.open_shell()
    assert exc.value.code == 500  # as Windows answers with AllowUnencrypted=false
    assert service.stats()["EX01"]["shells"] == 0


def test_unencrypted_ntlm_over_http_allowed_when_configured(lab):
    spec = make_spec(winrm={"allow_unencrypted": True})
    lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD, message_encryption="never")
    assert run(p, "ipconfig")[2] == 0


@pytest.mark.parametrize("username", [USER, "exadmin@contoso.com", "EX01\\localadmin", ".\\localadmin", "localadmin"])
def test_ntlm_logon_name_forms(lab, username):
    spec = make_spec()
    lab(spec)
    password = PASSWORD if "exadmin" in username else "L0cal-pw"
    p = Protocol(http_url(spec), transport="ntlm", username=username, password=password)
    assert run(p, "ipconfig")[2] == 0


# --- authentication failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    "username,password",
    [(USER, "wrong"), ("CONTOSO\\nobody", PASSWORD), ("FABRIKAM\\exadmin", PASSWORD)],
    ids=["wrong-password", "unknown-user", "wrong-domain"],
)
def test_bad_credentials_are_rejected(lab, username, password):
    spec = make_spec()
    service, _, _ = lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=username, password=password)
    with pytest.raises(InvalidCredentialsError):
        p.open_shell()
    assert service.stats()["EX01"]["auth_failures"] == 1


def test_account_of_another_server_is_rejected(lab):
    edge = make_spec("EDGE01", role="Edge", accounts=(Account("EDGE01", "edgeadmin", "Edge-pw1"),))
    ex = make_spec("EX01")
    service, _, _ = lab(edge, ex)
    p = Protocol(http_url(ex), transport="ntlm", username="EDGE01\\edgeadmin", password="Edge-pw1")
    with pytest.raises(InvalidCredentialsError):
        p.open_shell()
    ok = Protocol(http_url(edge), transport="ntlm", username="EDGE01\\edgeadmin", password="Edge-pw1")
    assert run(ok, "ipconfig")[2] == 0
    assert service.stats()["EX01"]["auth_failures"] == 1
    assert service.stats()["EDGE01"]["auth_failures"] == 0


def test_refuse_credentials_fault(lab):
    spec = make_spec(faults={"refuse_credentials": True}, winrm={"basic": True})
    service, _, ca = lab(spec)
    with pytest.raises(InvalidCredentialsError):
        Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD).open_shell()
    with pytest.raises(InvalidCredentialsError):
        Protocol(https_url(spec), transport="basic", username="localadmin", password="L0cal-pw",
                 ca_trust_path=str(ca)).open_shell()
    assert service.stats()["EX01"]["auth_failures"] == 2


def test_unreachable_server_refuses_connections(lab):
    spec = make_spec(faults={"unreachable": True})
    service, _, _ = lab(spec)
    with pytest.raises(requests.exceptions.ConnectionError) as exc:
        Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD).open_shell()
    assert "refused" in str(exc.value).lower() or str(errno.ECONNREFUSED) in str(exc.value)
    assert service.stats()["EX01"]["requests"] == 0  # still listed in stats, never reached


# --- HTTPS: NTLM and Basic, validated against the lab CA ----------------------------------------


def test_https_ntlm_and_basic_validate_against_lab_ca(lab):
    spec = make_spec(winrm={"basic": True})
    service, _, ca = lab(spec)
    assert ca.name == "lab-ca.pem"
    ntlm = Protocol(https_url(spec), transport="ntlm", username=USER, password=PASSWORD, ca_trust_path=str(ca))
    assert run(ntlm, "ipconfig")[2] == 0
    assert ntlm.transport.encryption is None  # TLS protects the channel; plain SOAP inside
    after_ntlm = service.stats()["EX01"]["requests"]
    # NTLM's two 401 legs, then the five operations (Create rides on the third leg).
    assert after_ntlm == 2 + 5
    basic = Protocol(https_url(spec), transport="basic", username="localadmin", password="L0cal-pw", ca_trust_path=str(ca))
    assert run(basic, "ipconfig")[2] == 0
    assert service.stats()["EX01"]["requests"] == after_ntlm + 5  # Basic is sent up front: one request per operation


def test_https_ntlm_with_message_encryption_always(lab):
    spec = make_spec()
    service, _, ca = lab(spec)
    p = Protocol(https_url(spec), transport="ntlm", username=USER, password=PASSWORD, ca_trust_path=str(ca),
                 message_encryption="always")
    assert run(p, "ipconfig")[2] == 0
    assert p.transport.encryption is not None
    assert service.stats()["EX01"]["requests"] == 3 + 5


def test_https_certificate_names_the_server(lab, tmp_path):
    spec = make_spec()
    _, _, ca_path = lab(spec)
    ca = LabCA.load_or_create(tmp_path)
    leaf = x509.load_pem_x509_certificate(ca.issue(spec.fqdn, spec.name, spec.address).cert_pem)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [spec.fqdn, spec.name]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(spec.address)]
    # An unrelated CA is not trusted: validation really happens.
    other = LabCA.load_or_create(tmp_path / "other")
    p = Protocol(https_url(spec), transport="ntlm", username=USER, password=PASSWORD, ca_trust_path=str(other.cert_path))
    with pytest.raises(requests.exceptions.SSLError):
        p.open_shell()


def test_lab_ca_is_reused_and_key_is_private(tmp_path):
    first = LabCA.load_or_create(tmp_path)
    second = LabCA.load_or_create(tmp_path)
    assert first.cert.fingerprint(first.cert.signature_hash_algorithm) == second.cert.fingerprint(
        second.cert.signature_hash_algorithm
    )
    assert (tmp_path / "lab-ca.key").stat().st_mode & 0o777 == 0o600


def test_no_password_or_private_key_in_clear_outside_the_org_file(lab, tmp_path):
    spec = make_spec(accounts=(DOMAIN_ADMIN, Account("EX01", "localadmin", "Plain-Passw0rd")))
    service, _, _ = lab(spec)
    credentials = (service._workdir / "EX01.ntlm").read_text()
    assert PASSWORD not in credentials and "Plain-Passw0rd" not in credentials
    assert run(Protocol(http_url(spec), transport="ntlm", username="EX01\\localadmin", password="Plain-Passw0rd"),
               "ipconfig")[2] == 0  # the NT hash is all NTLM needs
    issued = LabCA.load_or_create(tmp_path).issue(spec.fqdn, spec.name, spec.address)
    assert "PRIVATE KEY" in issued.key_pem.decode() and "PRIVATE" not in repr(issued)


def test_basic_over_http_is_refused(lab):
    spec = make_spec(winrm={"basic": True})
    service, _, _ = lab(spec)
    with pytest.raises(InvalidCredentialsError):
        Protocol(http_url(spec), transport="plaintext", username="localadmin", password="L0cal-pw").open_shell()
    assert service.stats()["EX01"]["auth_failures"] == 1


def test_basic_over_http_allowed_with_allow_unencrypted(lab):
    spec = make_spec(winrm={"basic": True, "allow_unencrypted": True})
    lab(spec)
    p = Protocol(http_url(spec), transport="plaintext", username="localadmin", password="L0cal-pw")
    assert run(p, "ipconfig")[2] == 0


def test_basic_disabled_by_default_and_not_advertised(lab):
    spec = make_spec()
    _, _, ca = lab(spec)
    with pytest.raises(InvalidCredentialsError):
        Protocol(https_url(spec), transport="basic", username="localadmin", password="L0cal-pw",
                 ca_trust_path=str(ca)).open_shell()
    r = requests.post(http_url(spec), data=b"", headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
    assert r.status_code == 401
    # What Windows' WinRM service offers by default (MS-WSMV 2.2.4.34): Negotiate and Kerberos, no Basic.
    assert r.headers["WWW-Authenticate"] == "Negotiate, Kerberos"


def test_basic_only_for_local_accounts(lab):
    spec = make_spec(winrm={"basic": True})
    _, _, ca = lab(spec)
    with pytest.raises(InvalidCredentialsError):
        Protocol(https_url(spec), transport="basic", username=USER, password=PASSWORD, ca_trust_path=str(ca)).open_shell()


# --- WinRS semantics ------------------------------------------------------------------------------


def test_large_output_comes_in_receives_within_the_clients_max_envelope_size(lab):
    """MS-WSMV 3.1.4.1.7: the client expects no answer larger than its wsman:MaxEnvelopeSize (pywinrm:
    153,600 octets); the rest of the output waits, the command Running, for the next Receive."""
    spec = make_spec()
    service, _, _ = lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    answers: list[tuple[int, bool]] = []
    send = p.send_message

    def recording(message):
        answer = send(message)
        if "/shell/Receive<" in (message if isinstance(message, str) else message.decode()):
            answers.append((len(answer), b"CommandState/Done" in answer))
        return answer

    p.send_message = recording
    data = bytes(range(256)) * 1200  # 300 KB, two envelopes' worth and more
    chunks = [data[i : i + 100_000] for i in range(0, len(data), 100_000)]
    stdout, _, code = run(p, "echo", stdin_chunks=chunks)
    assert code == 0 and stdout == data
    assert len(answers) == 3 and all(size <= 153_600 for size, _ in answers), answers
    assert [done for _, done in answers] == [False, False, True]
    # 3 auth + Create + Command + 4 Send + 3 Receive + Signal + Delete
    assert service.stats()["EX01"]["requests"] == 3 + 2 + len(chunks) + len(answers) + 2


def test_stderr_and_exit_code(lab):
    spec = make_spec()
    lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    assert run(p, "fail") == (b"", b"it failed\r\n", 3)


def test_default_codepage_is_the_servers(lab):
    spec = make_spec(codepage=850)
    _, backend, _ = lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    req = {"env:Envelope": p.build_wsman_header(resource_uri=SHELL_URI, action="http://schemas.xmlsoap.org/ws/2004/09/transfer/Create")}
    req["env:Envelope"]["env:Body"] = {"rsp:Shell": {"rsp:InputStreams": "stdin", "rsp:OutputStreams": "stdout stderr"}}
    root = ET.fromstring(p.send_message(xmltodict.unparse(req)))  # no WINRS_CODEPAGE option
    shell = next(n.text for n in root.iter() if n.get("Name") == "ShellId")
    cmd = p.run_command(shell, "ipconfig")
    p.get_command_output(shell, cmd)
    assert backend.calls[-1]["codepage"] == 850
    run(p, "ipconfig", codepage=65001)
    assert backend.calls[-1]["codepage"] == 65001


def test_relates_to_echoes_message_id_on_replies_and_faults(lab):
    spec = make_spec()
    lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    shell = p.open_shell()
    mid = uuid.uuid4()
    req = {"env:Envelope": p.build_wsman_header(resource_uri=SHELL_URI,
                                                action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
                                                shell_id=shell, message_id=mid)}
    req["env:Envelope"]["env:Body"] = {"rsp:CommandLine": {"rsp:Command": "ipconfig"}}
    root = ET.fromstring(p.send_message(xmltodict.unparse(req)))
    assert next(n.text for n in root.iter() if n.tag.endswith("RelatesTo")) == f"uuid:{mid}"

    bad = uuid.uuid4()
    req = {"env:Envelope": p.build_wsman_header(resource_uri=SHELL_URI,
                                                action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
                                                shell_id="00000000-0000-0000-0000-000000000000", message_id=bad)}
    req["env:Envelope"]["env:Body"] = {"rsp:CommandLine": {"rsp:Command": "ipconfig"}}
    with pytest.raises(WSManFaultError) as exc:
        p.send_message(xmltodict.unparse(req))
    fault = ET.fromstring(exc.value.response)
    assert next(n.text for n in fault.iter() if n.tag.endswith("RelatesTo")) == f"uuid:{bad}"


def test_unknown_shell_id_fault(lab):
    spec = make_spec()
    lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    with pytest.raises(WSManFaultError) as exc:
        p.run_command("11111111-2222-3333-4444-555555555555", "ipconfig")
    assert exc.value.code == 500
    assert exc.value.wsman_fault_code == 2150858843
    assert exc.value.fault_code == "s:Sender"
    assert exc.value.fault_subcode == "w:InvalidSelectors"
    assert "11111111-2222-3333-4444-555555555555" in exc.value.response
    assert "the shell was not found on the server" in exc.value.response


def test_closed_shell_and_other_users_shell_are_not_found(lab):
    spec = make_spec()
    lab(spec)
    admin = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    local = Protocol(http_url(spec), transport="ntlm", username="localadmin", password="L0cal-pw")
    shell = admin.open_shell()
    with pytest.raises(WSManFaultError) as exc:
        local.run_command(shell, "ipconfig")
    assert exc.value.wsman_fault_code == 2150858843
    same_user = Protocol(http_url(spec), transport="ntlm", username="exadmin@contoso.com", password=PASSWORD)
    assert same_user.run_command(shell, "ipconfig")  # one owner, whichever logon name was used
    admin.close_shell(shell, close_session=False)
    with pytest.raises(WSManFaultError):
        admin.run_command(shell, "ipconfig")


def test_operation_timeout_is_retried_by_pywinrm(lab):
    spec = make_spec()
    service, backend, _ = lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD,
                 operation_timeout_sec=1, read_timeout_sec=10)
    endpoint = service.endpoint("EX01")
    # The command finishes only after the server has answered one Receive with the TimedOut fault.
    releaser = threading.Thread(target=lambda: wait_for(lambda: endpoint.stats.operation_timeouts >= 1) and backend.release.set())
    releaser.start()
    stdout, _, code = run(p, "wait")
    releaser.join()
    assert code == 0 and json.loads(stdout)["command"] == "wait"
    timeouts = endpoint.stats.operation_timeouts
    assert timeouts >= 1
    # 3 auth + Create + Command + (1 + timeouts) Receive + Signal + Delete
    assert service.stats()["EX01"]["requests"] == 3 + 2 + 1 + timeouts + 2


def test_cmd_shell_command_line_limit(lab):
    spec = make_spec()
    _, backend, _ = lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    long_arg = "A" * 8200
    shell = p.open_shell()
    cmd = p.run_command(shell, "powershell.exe", ["-EncodedCommand", long_arg])
    assert p.get_command_output(shell, cmd) == (b"", b"The command line is too long.\r\n", 1)
    assert backend.calls == []  # cmd.exe refused it; the process never started
    cmd = p.run_command(shell, "powershell.exe", ["-EncodedCommand", long_arg], skip_cmd_shell=True)
    assert p.get_command_output(shell, cmd)[2] == 0
    assert backend.calls[-1]["arguments"] == ["-EncodedCommand", long_arg]


def test_delay_fault_sleeps_before_every_response(lab, monkeypatch):
    import exconf.lab.winrm.endpoint as endpoint_module

    sleeps = []
    monkeypatch.setattr(endpoint_module, "time", types.SimpleNamespace(sleep=sleeps.append))
    spec = make_spec(faults={"delay_seconds": 0.25})
    service, _, _ = lab(spec)
    run(Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD), "ipconfig")
    assert sleeps == [0.25] * service.stats()["EX01"]["requests"]


def test_many_servers_share_one_accept_thread(lab):
    before = threading.active_count()
    specs = [make_spec(f"EX{i:02d}") for i in range(40)]  # 80 listening sockets
    service, _, _ = lab(*specs)
    assert len(service.listeners) == 80
    assert threading.active_count() - before == 1
    p = Protocol(http_url(specs[-1]), transport="ntlm", username=USER, password=PASSWORD)
    assert run(p, "ipconfig")[2] == 0


def test_stop_does_not_wait_for_a_client_stalled_in_the_tls_handshake(lab):
    import socket
    import time

    spec = make_spec()
    service, _, _ = lab(spec)
    with socket.create_connection((spec.address, spec.winrm.https_port)) as stalled:  # never sends a ClientHello
        assert wait_for(lambda: len(service._threads) == 1)
        started = time.monotonic()
        service.stop()
        assert time.monotonic() - started < 2.0  # not the handshake timeout
        assert not service._threads
        assert stalled.recv(1) == b""  # the lab closed it


def test_non_loopback_address_is_refused(tmp_path):
    from exconf.lab.winrm import ListenError

    spec = make_spec(address="127.77.250.250")
    spec = type(spec)(**{**spec.__dict__, "address": "0.0.0.0"})
    with pytest.raises(ListenError, match="not a loopback address"):
        WinRMService(FakeBackend(), [spec]).start()


# --- a raw SPNEGO (Negotiate-wrapped NTLM) client, as pypsrp's negotiate auth sends ---------------


def test_spnego_wrapped_ntlm_and_encryption(lab):
    spec = make_spec()
    service, backend, _ = lab(spec)
    client = spnego.client(USER, PASSWORD, hostname=spec.fqdn, service="http", protocol="negotiate")
    conn = http.client.HTTPConnection(spec.address, spec.winrm.http_port, timeout=10)
    token = client.step()
    assert token[:1] == b"\x60"  # a SPNEGO NegTokenInit, not raw NTLM
    while True:
        conn.request("POST", "/wsman", body=b"", headers={
            "Authorization": "Negotiate " + base64.b64encode(token).decode(),
            "Content-Type": "application/soap+xml;charset=UTF-8"})
        resp = conn.getresponse()
        resp.read()
        header = resp.getheader("WWW-Authenticate", "")
        if resp.status == 200:
            if header.startswith("Negotiate "):
                client.step(base64.b64decode(header.split(" ", 1)[1]))
            break
        assert resp.status == 401 and header.startswith("Negotiate ")
        token = client.step(base64.b64decode(header.split(" ", 1)[1]))
    assert client.complete

    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    req = {"env:Envelope": p.build_wsman_header(resource_uri=SHELL_URI, action="http://schemas.xmlsoap.org/ws/2004/09/transfer/Create")}
    req["env:Envelope"]["env:Body"] = {"rsp:Shell": {"rsp:InputStreams": "stdin", "rsp:OutputStreams": "stdout stderr"}}
    conn.request("POST", "/wsman", body=encryption.encrypt(xmltodict.unparse(req).encode(), client),
                 headers={"Content-Type": encryption.CONTENT_TYPE})
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200 and encryption.is_encrypted(resp.getheader("Content-Type"))
    reply = ET.fromstring(encryption.decrypt(body, client))
    assert any(n.get("Name") == "ShellId" for n in reply.iter())
    assert service.stats()["EX01"]["shells"] == 1
    conn.close()


def test_tampered_encrypted_message_is_rejected(lab):
    spec = make_spec()
    lab(spec)
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD)
    p.open_shell()  # authenticates and sets up encryption
    session = p.transport.session
    sealed = p.transport.encryption.prepare_encrypted_request(session, http_url(spec), b"<x/>" * 10)
    body = bytearray(sealed.body)
    body[-40] ^= 0xFF  # flip a bit of the sealed message
    sealed.body = bytes(body)
    assert session.send(sealed).status_code == 400


# --- pure functions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line,expected",
    [
        ("-NoProfile -EncodedCommand QQA=", ["-NoProfile", "-EncodedCommand", "QQA="]),
        ('"a b" c', ["a b", "c"]),
        (r'a\\\"b', ['a\\"b']),
        (r'"a\\" b', ["a\\", "b"]),
        (r"C:\dir\ x", ["C:\\dir\\", "x"]),
        ('"say ""hi"""', ['say "hi"']),
        (r'a "b c" d\"e "f\\" g', ["a", "b c", 'd"e', "f\\", "g"]),
        ("  spaced\targs  ", ["spaced", "args"]),
        ("", []),
    ],
)
def test_split_arguments_follows_the_c_runtime(line, expected):
    assert split_arguments(line) == expected


def test_unknown_path_is_404_and_not_counted(lab):
    spec = make_spec()
    service, _, _ = lab(spec)
    r = requests.post(f"http://{spec.address}:{spec.winrm.http_port}/other", data=b"x")
    assert r.status_code == 404
    assert service.stats()["EX01"]["requests"] == 0


# --- a process that lives across Sends (exconf's long-lived program) ----------------------------------


class LineEcho(FakeBackend):
    """A process that answers each line of standard input as it arrives ("got: LINE"), until its input ends."""

    def run_process(self, server, command, arguments, stdin, stdout, stderr, codepage, caller="", logon=None) -> int:
        if command != "lines":
            return super().run_process(server, command, arguments, stdin, stdout, stderr, codepage, caller, logon)
        while (line := stdin.readline()) is not None:
            stdout(b"got: " + line + b"\r\n")
        return 0


def _running(lab):
    spec = make_spec()
    lab(spec, backend=LineEcho())
    p = Protocol(http_url(spec), transport="ntlm", username=USER, password=PASSWORD, operation_timeout_sec=1, read_timeout_sec=3)
    shell = p.open_shell()
    return p, shell, p.run_command(shell, "lines", [], console_mode_stdin=False)


def test_a_running_command_answers_each_line_as_it_arrives_and_stays_running(lab):
    p, shell, cmd = _running(lab)
    p.send_command_input(shell, cmd, b"one\r\n")
    assert p.get_command_output_raw(shell, cmd) == (b"got: one\r\n", b"", -1, False)  # Running (pywinrm: no exit code yet)
    p.send_command_input(shell, cmd, b"tw")  # half a line: the process is still waiting for its end
    with pytest.raises(WinRMOperationTimeoutError):
        p.get_command_output_raw(shell, cmd)  # nothing new within the OperationTimeout: TimedOut, still Running
    p.send_command_input(shell, cmd, b"o\r\n")
    assert p.get_command_output_raw(shell, cmd) == (b"got: two\r\n", b"", -1, False)
    p.send_command_input(shell, cmd, b"", end=True)  # the end of its input: the process ends
    assert wait_for(lambda: p.get_command_output_raw(shell, cmd)[3] or None) is True
    p.close_shell(shell)


def test_a_send_after_the_input_ended_or_the_process_exited_is_refused(lab):
    p, shell, cmd = _running(lab)
    p.send_command_input(shell, cmd, b"last\r\n", end=True)
    with pytest.raises(WSManFaultError) as ended:
        p.send_command_input(shell, cmd, b"more\r\n")
    assert ended.value.wsman_fault_code == 2150859212  # ERROR_WSMAN_COMMAND_TERMINATED
    out = b""
    while True:
        stdout, _, code, done = p.get_command_output_raw(shell, cmd)
        out += stdout
        if done:
            break
    assert (out, code) == (b"got: last\r\n", 0)  # the refused input reached nothing
    exited = p.run_command(shell, "fail", [])
    p.send_command_input(shell, exited, b"", end=True)
    while not p.get_command_output_raw(shell, exited)[3]:
        pass
    with pytest.raises(WSManFaultError) as gone:
        p.send_command_input(shell, exited, b"late\r\n")
    assert gone.value.wsman_fault_code == 2150859212
    p.close_shell(shell)
