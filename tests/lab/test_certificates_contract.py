"""Contract v2 as the lab runs it (lab/program.py): the $input bootstrap, Constrained Language Mode,
byte arrays, secrets, references to an earlier step's output, output files and Restart-Service."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509

from exconf import remote
from exconf.lab.exchange.store import LabStore

from .certificate_helpers import (  # noqa: F401  (ca is a fixture)
    PFX_PASSWORD, ca, lab_store, every_file_text, run, run_raw, thumbprint
)

ORG = """
organization: {name: Contoso, domain: contoso.lab, netbios: CONTOSO}
accounts: [{user: exadmin, password: "Lab-Passw0rd!"}]
servers:
  - {name: EX01, role: Mailbox, site: Amsterdam, address: 127.67.201.1}
  - {name: EX13, role: Mailbox, site: Amsterdam, address: 127.67.201.2, version: 15.0.1497.2}
  - {name: EDGE01, role: Edge, address: 127.67.201.3, local_accounts: [{user: Administrator, password: "Edge-Pw1!"}]}
  - {name: LOCKED, role: Mailbox, address: 127.67.201.4, faults: {constrained_language: true}}
"""
COMMAND, ARGUMENTS = remote.command_line()


@pytest.fixture
def store(tmp_path) -> LabStore:
    return lab_store(tmp_path, ORG)


def import_and_enable(pfx: bytes, password: remote.Secret) -> list[remote.Step]:
    return [
        remote.Step("import", "Import-ExchangeCertificate", {"FileData": pfx, "Password": password},
                    select=("Thumbprint", "Services")),
        remote.Step("enable", "Enable-ExchangeCertificate",
                    {"Thumbprint": remote.OutputRef("import", "Thumbprint"), "Services": "SMTP", "Force": True}),
        remote.Step("check", "Get-ExchangeCertificate", {"Thumbprint": remote.OutputRef("import", "Thumbprint")},
                    select=("Thumbprint", "Services"), always_run=True),
    ]


# --- bytes, secrets and references ----------------------------------------------------------------------------


@pytest.mark.parametrize("codepage", [437, 1252, 65001])
def test_import_then_enable_by_the_imported_thumbprint_in_one_payload(store, ca, codepage, tmp_path):
    pfx, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    answer = run(store, "EDGE01", import_and_enable(pfx, remote.Secret.from_value(PFX_PASSWORD)), codepage=codepage)
    assert answer.result("import").objects == ({"Thumbprint": thumbprint(cert), "Services": "None"},)
    enable = answer.result("enable")
    assert enable.ok and "subscribe it again by using the New-EdgeSubscription cmdlet" in enable.warnings[0]
    assert answer.result("check").objects == ({"Thumbprint": thumbprint(cert), "Services": "SMTP"},)
    assert PFX_PASSWORD not in every_file_text(tmp_path)


def test_a_wrong_password_stops_the_payload_and_names_no_password(store, ca):
    pfx, _ = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    answer = run(store, "EX01", import_and_enable(pfx, remote.Secret.from_value("Not-The-Password")))
    error = answer.result("import").error
    assert error.message == "The specified network password is not correct."
    assert answer.result("enable").status == "not_run"
    check = answer.result("check")  # the read-back still runs; its reference points at a failed step
    assert check.error.error_id == "ExconfBadParameter"
    assert "refers to the output of step 'import', which has not run successfully" in check.error.message
    assert "Not-The-Password" not in json.dumps([r.__dict__ for r in answer.results.values()], default=str)


def test_a_reference_to_a_step_with_many_objects_or_no_such_property(store):
    steps = [
        {"id": "all", "cmdlet": "Get-ExchangeCertificate", "params": {}},
        {"id": "x", "cmdlet": "Get-ExchangeCertificate",
         "params": {"Thumbprint": {"exconf_ref": "Output", "step": "all", "property": "Thumbprint"}}},
    ]
    answer = run_raw(store, "EX01", steps)
    assert "which returned 3 objects instead of one" in answer.result("x").error.message
    one = [{"id": "one", "cmdlet": "Get-ExchangeServer", "params": {"Identity": "EX01"}},
           {"id": "x", "cmdlet": "Get-ExchangeCertificate",
            "params": {"Thumbprint": {"exconf_ref": "Output", "step": "one", "property": "NoSuch"}}}]
    assert "whose output has no such property" in run_raw(store, "EX01", one).result("x").error.message


@pytest.mark.parametrize("value, message", [
    ({"exconf_bytes": "%%%"}, "is not valid base64"),
    ([{"exconf_bytes": "AA=="}], "is not a string, number, boolean, null, array or one of the contract's marker"),
    ([{"exconf_secret": "p"}], "is not a string, number, boolean, null, array or one of the contract's marker"),
    ({"exconf_secret": 5}, "is not a string, number, boolean, null, array or one of the contract's marker"),
    ({"exconf_ref": "Output", "property": "Thumbprint", "step": "a"}, "one of the contract's marker"),  # order matters
])
def test_marker_objects_outside_the_contract_are_refused(store, value, message):
    answer = run_raw(store, "EX01", [{"id": "i", "cmdlet": "Import-ExchangeCertificate", "params": {"FileData": value}}])
    error = answer.result("i").error
    assert (error.error_id, error.exception) == ("ExconfBadParameter", "ArgumentException")
    assert message in error.message


def test_a_plain_string_cannot_become_the_password(store, ca):
    # The program imports a PFX itself (Import-Pfx) and takes only -FileData <byte[]> -Password <SecureString>.
    pfx, _ = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    steps = [remote.Step("i", "Import-ExchangeCertificate", {"FileData": pfx, "Password": PFX_PASSWORD})]
    error = run(store, "EX01", steps).result("i").error
    assert (error.error_id, error.exception) == ("ExconfBadParameter", "ArgumentException")
    assert "-Password <SecureString>" in error.message and PFX_PASSWORD not in error.message
    assert not [e for e in store.event_logs.events("EX01") if e.command == "Import-ExchangeCertificate"]


@pytest.mark.parametrize("params, why", [
    ({"Server": "EX13"}, "another server: the program imports into its own store only"),
    ({"Instance": ["x"]}, "a parameter Import-Pfx does not take"),
    ({"PrivateKeyExportable": "yes"}, "not a boolean"),
    ({"Pass": None}, "a prefix PowerShell would bind is not a name Import-Pfx knows"),
])
def test_an_import_the_program_cannot_do_itself_is_refused_before_anything_is_imported(store, ca, params, why):
    pfx, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    step = remote.Step("i", "Import-ExchangeCertificate",
                       {"FileData": pfx, "Password": remote.Secret.from_value(PFX_PASSWORD), **params})
    error = run(store, "EX01", [step]).result("i").error
    assert error.error_id == "ExconfBadParameter" and "Import-ExchangeCertificate runs in an exconf step only as" in error.message, why
    assert thumbprint(cert) not in {c["Thumbprint"] for c in store.exec_console("EX01", "Get-ExchangeCertificate", {})}


def test_a_pfx_the_store_already_has_is_refused_as_exchange_refuses_it(store, ca):
    pfx, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    first = run(store, "EDGE01", import_and_enable(pfx, remote.Secret.from_value(PFX_PASSWORD)))
    assert first.result("import").ok
    again = run(store, "EDGE01", import_and_enable(pfx, remote.Secret.from_value(PFX_PASSWORD))).result("import").error
    assert again.message == f"The certificate with thumbprint {thumbprint(cert)} already exists in the certificate store."
    assert (again.error_id, again.exception) == ("InvalidOperationException", "InvalidOperationException")


def test_the_program_imports_with_the_exportability_and_friendly_name_asked_for(store, ca):
    pfx, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    secret = remote.Secret.from_value(PFX_PASSWORD)
    steps = [remote.Step("i", "Import-ExchangeCertificate",
                         {"FileData": pfx, "Password": secret, "PrivateKeyExportable": True, "FriendlyName": "Relay 2027",
                          "Server": remote.LOCAL_SERVER},
                         select=("Thumbprint", "PrivateKeyExportable", "FriendlyName"))]
    assert run(store, "EDGE01", steps).result("i").objects == (
        {"Thumbprint": thumbprint(cert), "PrivateKeyExportable": True, "FriendlyName": "Relay 2027"},)
    pfx2, cert2 = ca.pfx("relay.contoso.lab", ["relay.contoso.lab"])
    plain = [remote.Step("i", "Import-ExchangeCertificate", {"FileData": pfx2, "Password": secret},
                         select=("Thumbprint", "PrivateKeyExportable"))]
    assert run(store, "EDGE01", plain).result("i").objects == ({"Thumbprint": thumbprint(cert2), "PrivateKeyExportable": False},)


def test_byte_arrays_come_back_whole(store):
    steps = [remote.Step("req", "New-ExchangeCertificate",
                         {"GenerateRequest": True, "BinaryEncoded": True, "SubjectName": "CN=mail.contoso.lab"},
                         select=("FileData",))]
    data = run(store, "EX01", steps).result("req").objects[0]["FileData"]
    assert isinstance(data, bytes)
    assert x509.load_der_x509_csr(data).subject.rfc4514_string() == "CN=mail.contoso.lab"


# --- output files ------------------------------------------------------------------------------------------------------


def test_an_output_file_brings_back_what_the_cmdlet_wrote(store):
    steps = [remote.Step("req", "New-ExchangeCertificate", {"GenerateRequest": True, "SubjectName": "CN=mail.contoso.lab"},
                         output_file="RequestFile")]
    result = run(store, "EX13", steps).result("req")  # -RequestFile: Exchange 2013
    assert result.ok
    assert result.file.startswith(b"-----BEGIN NEW CERTIFICATE REQUEST-----\r\n")
    csr = x509.load_pem_x509_csr(result.file)
    assert csr.is_signature_valid and csr.subject.rfc4514_string() == "CN=mail.contoso.lab"


def test_an_output_file_parameter_the_cmdlet_lacks_or_the_step_sets(store):
    missing = run(store, "EX01", [remote.Step("r", "New-ExchangeCertificate", {"GenerateRequest": True},
                                              output_file="RequestFile")]).result("r")
    assert missing.error.message == "A parameter cannot be found that matches parameter name 'RequestFile'."
    steps = [{"id": "r", "cmdlet": "New-ExchangeCertificate", "params": {"RequestFile": "C:\\x"}, "output_file": "requestfile"}]
    error = run_raw(store, "EX13", steps).result("r").error
    assert error.error_id == "ExconfBadParameter" and "is not a parameter name the step leaves free" in error.message


def test_a_step_without_output_file_answers_no_file(store):
    result = run(store, "EX01", [remote.Step("g", "Get-ExchangeServer", {"Identity": "EX01"}, select=("Name",))]).result("g")
    assert result.file is None and result.objects == ({"Name": "EX01"},)


# --- Restart-Service ------------------------------------------------------------------------------------------------------


def test_restart_service_only_restarts_ad_lds_on_an_edge(store):
    # AD LDS has dependent services on an Edge (Transport, Credential Service, ... [EXD services-overview.md]):
    # Restart-Service stops it only with -Force, as Windows PowerShell does.
    error = run(store, "EDGE01", [remote.Step("r", "Restart-Service", {"Name": "ADAM_MSExchange"})]).result("r").error
    assert error.message == ("Cannot stop service 'Microsoft Exchange ADAM (ADAM_MSExchange)' because it has dependent services. "
                             "It can only be stopped if the Force flag is set.")
    assert error.error_id == "ServiceHasDependentServices,Microsoft.PowerShell.Commands.RestartServiceCommand"
    assert run(store, "EDGE01", [remote.Step("r", "Restart-Service", {"Name": "ADAM_MSExchange", "Force": True})]).result("r").ok
    error = run(store, "EX01", [remote.Step("r", "Restart-Service", {"Name": "ADAM_MSExchange", "Force": True})]).result("r").error
    assert error.message == "Cannot find any service with service name 'ADAM_MSExchange'."
    assert error.error_id == "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.RestartServiceCommand"
    for params in ({"Name": "MSExchangeTransport"}, {"Name": ["ADAM_MSExchange", "W3SVC"]}, {"DisplayName": "x"},
                   {"Name": "ADAM_MSExchange", "Force": False}, {"Name": "ADAM_MSExchange", "PassThru": True}):
        answer = run_raw(store, "EDGE01", [{"id": "r", "cmdlet": "Restart-Service", "params": params}])
        assert answer.result("r").error.message == "Restart-Service runs only as -Name ADAM_MSExchange or MSExchangeServiceHost [-Force] in an exconf step."


# --- the bootstrap ------------------------------------------------------------------------------------------------------------


def _stdin(text: str) -> bytes:
    return text.encode("ascii")


def _run_stdin(store: LabStore, server: str, data: bytes):
    return store.run_command(store.server(server), COMMAND, list(ARGUMENTS), data, 437)


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_input_lines_split_as_the_host_reads_them(store, newline):
    encoded = base64.b64encode(remote.program_text().encode("ascii")).decode()
    payload = remote.encode_payload([remote.Step("g", "Get-ExchangeServer", {"Identity": "EX01"}, select=("Name",))])
    result = _run_stdin(store, "EX01", _stdin(newline.join([encoded[:100], encoded[100:], remote.SEPARATOR, payload])))
    assert remote.decode_answer(result.stdout).result("g").objects == ({"Name": "EX01"},)


@pytest.mark.parametrize("separator", ["\0\0\0\0x", "\0\0\0", " \0\0\0\0", ""])
def test_only_a_whole_line_of_four_nuls_separates(store, separator):
    encoded = base64.b64encode(remote.program_text().encode("ascii")).decode()
    result = _run_stdin(store, "EX01", _stdin(f"{encoded}\r\n{separator}\r\n{remote.encode_payload([])}\r\n"))
    assert result.exit_code == 1
    assert result.stdout == b'{"exconf":3,"fatal":{"message":"no program on standard input"}}'


def test_a_program_that_is_not_base64_fails_the_hash_check(store):
    result = _run_stdin(store, "EX01", _stdin(f"not base64!\r\n{remote.SEPARATOR}\r\n{remote.encode_payload([])}\r\n"))
    assert (result.exit_code, result.stdout) == (1, b'{"exconf":3,"fatal":{"message":"program hash mismatch"}}')


def test_a_constrained_language_server_answers_a_clear_fatal_error(store):
    result = _run_stdin(store, "LOCKED", remote.encode_stdin([remote.Step("g", "Get-ExchangeServer")]))
    assert result.exit_code == 1 and result.stdout.endswith(b"\r\n")
    with pytest.raises(remote.RemoteFatal) as caught:
        remote.decode_answer(result.stdout, result.stderr, result.exit_code)
    assert str(caught.value) == ("PowerShell on LOCKED runs in ConstrainedLanguage mode (AppLocker or WDAC policy); "
                                 "exconf needs FullLanguage.")


def test_a_program_import_on_a_mailbox_server_leaves_no_audit_entry_and_no_bytes_in_the_module_log(store, ca):
    # No Exchange cmdlet imports the PFX (docs/remote-contract.md): the admin audit log records the binding only.
    pfx, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"])
    answer = run(store, "EX01", import_and_enable(pfx, remote.Secret.from_value(PFX_PASSWORD)))
    assert answer.result("check").objects == ({"Thumbprint": thumbprint(cert), "Services": "SMTP"},)
    audited = [e["CmdletName"] for e in store.exec_console("EX01", "Search-AdminAuditLog", {})]
    assert "Enable-ExchangeCertificate" in audited and "Import-ExchangeCertificate" not in audited
    logged = "\n".join(line for e in store.event_logs.events("EX01") for line in e.payload)
    assert ", ".join(str(b) for b in pfx[:32]) not in logged and 'name="FileData"' not in logged
    assert f'ParameterBinding(Get-ExchangeCertificate): name="Thumbprint"; value="{thumbprint(cert)}"' in logged
