"""Hostile input over the wire: a lone surrogate sent over WinRM by an account allowed to log on (issue 6, item 9)."""

from __future__ import annotations

import json

from exconf.connection import settings_for
from exconf.inventory import load
from exconf.lab.exchange.store import LabStore
from exconf.remote import CONTRACT_VERSION, decode_answer, frame_stdin, program_text
from exconf.transport.winrm import WinRMTransport

from .conftest import EDGE_PASSWORD, IIS_HTTP_PORT, PASSWORD


def test_a_lone_surrogate_over_winrm_is_refused_and_state_saving_goes_on(make_lab):
    """The program over WinRM, on an Edge server: where exconf runs it (a Mailbox server's program over NTLM
    cannot reach Active Directory, tests/integration/test_double_hop.py)."""
    lab = make_lab([{"name": "EDGE01", "role": "Edge", "site": "Amsterdam"}])
    inv = load(lab.inventory('all:\n  hosts:\n    edge01: {ansible_host: "{EDGE01}", ansible_connection: winrm, '
                             'ansible_user: EDGE01\\Administrator, ansible_password: %s}\n' % EDGE_PASSWORD))
    transport = WinRMTransport(settings_for(inv.hosts[0], inv.path.parent))

    def run(steps: list[dict]) -> dict:
        # json.dumps escapes the surrogate as \ud800: valid ASCII on the wire, as a tampered client would send it.
        payload = json.dumps({"exconf": CONTRACT_VERSION, "halt_on_error": False, "steps": steps})
        out = transport.run(frame_stdin(program_text(), payload).encode("ascii"))
        return decode_answer(out.stdout, out.stderr, out.exit_code).results

    try:
        results = run([
            {"id": "bad", "cmdlet": "Set-ReceiveConnector", "params": {"Identity": "EDGE01\\Default internal receive connector EDGE01", "Name": "x\ud800"}},
            {"id": "good", "cmdlet": "Set-ReceiveConnector",
             "params": {"Identity": "EDGE01\\Default internal receive connector EDGE01", "ProtocolLoggingLevel": "Verbose"}},
        ])
    finally:
        transport.close()
    assert results["bad"].status == "error"
    assert "Unable to translate Unicode character \\uD800 at index 1" in results["bad"].error.message
    assert results["bad"].error.error_id.startswith("ParameterArgumentTransformationError")
    assert '"format"' not in results["bad"].error.message  # nothing of the state file
    assert results["good"].status == "ok"
    # The change after the refused one is on disk: a store started on the same files sees it.
    [rc] = LabStore(lab.org_file, lab.state_file).exec_console("EDGE01", "Get-ReceiveConnector", {"Identity": "EDGE01\\Default internal receive connector EDGE01"})
    assert rc["ProtocolLoggingLevel"] == "Verbose" and rc["Name"] == "Default internal receive connector EDGE01"


def test_a_lone_surrogate_over_remote_powershell_is_refused_and_state_saving_goes_on(make_lab):
    """The same value over /PowerShell: exconf refuses it before sending (pypsrp would write an XML
    character reference no reader accepts), with the text Windows gives on the program path; the
    next step runs and is saved."""
    from exconf.runner import default_executor_factory
    from exconf.remote import Step

    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}])
    inv = load(lab.inventory('all:\n  hosts:\n    ex01: {ansible_host: "{EX01}", ansible_user: CONTOSO\\exadmin, '
                             'ansible_password: %s, ansible_psrp_port: %d}\n' % (PASSWORD, IIS_HTTP_PORT)))
    executor = default_executor_factory(inv.path.parent)(inv.hosts[0])
    try:
        answer = executor.execute([
            Step("bad", "Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "Name": "x\ud800"}),
            Step("good", "Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose"}),
        ], halt_on_error=False)
    finally:
        executor.close()
    assert lab.stats()["EX01"]["endpoints"]["/PowerShell"]["pipelines"] >= 1  # it went through /PowerShell
    bad, good = answer.results["bad"], answer.results["good"]
    assert bad.status == "error", bad
    assert "Unable to translate Unicode character \\uD800 at index 1" in bad.error.message
    assert bad.error.error_id == "ExconfBadParameter"
    assert good.status == "ok", good
    [rc] = LabStore(lab.org_file, lab.state_file).exec_console("EX01", "Get-ReceiveConnector", {"Identity": "EX01\\Default EX01"})
    assert rc["ProtocolLoggingLevel"] == "Verbose" and rc["Name"] == "Default EX01"
