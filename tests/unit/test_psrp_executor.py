"""How the remote PowerShell executor groups steps into pipelines (pure), and reads a pipeline's
answer into the program's Answer, with a transport that answers as a server would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from exconf.psrp_executor import PSRPExecutor, plan_batches
from exconf.remote import LOCAL_SERVER, OutputRef, Secret, Step
from exconf.transport.psrp import PipelineOutput, SecureText


def ids(batches: list[list[Step]]) -> list[list[str]]:
    return [[s.id for s in b] for b in batches]


def test_reads_of_different_cmdlets_share_a_pipeline_and_a_repeated_cmdlet_starts_another():
    steps = [Step("server", "Get-ExchangeServer"), Step("rc", "Get-ReceiveConnector"), Step("ts", "Get-TransportService"),
             Step("cert", "Get-ExchangeCertificate"), Step("cert:rc", "Get-ReceiveConnector"), Step("sc", "Get-SendConnector")]
    assert ids(plan_batches(steps)) == [["server", "rc", "ts", "cert", "sc"], ["cert:rc"]]


def test_reads_of_one_cmdlet_share_a_pipeline_only_when_each_names_another_identity():
    # this server's facts beside the list of every server (the scout's read): a record naming its -Identity goes to
    # that read, any other to both, so neither is reported done when it may have failed
    steps = [Step("server", "Get-ExchangeServer", {"Identity": LOCAL_SERVER}), Step("sites", "Get-ExchangeServer"),
             Step("a", "Get-ReceiveConnector", {"Identity": "EX01\\A"}), Step("b", "Get-ReceiveConnector", {"Identity": "ex01\\a"}),
             Step("c", "Get-ReceiveConnector", {"Identity": "EX01\\C"}), Step("all", "Get-ReceiveConnector", {"Server": "EX01"}),
             Step("all2", "Get-ReceiveConnector", {"Server": "EX02"})]
    assert ids(plan_batches(steps)) == [["server", "sites", "a", "c", "all"], ["b", "all2"]]


def test_under_halt_changes_share_a_pipeline_and_a_removal_or_an_output_ref_starts_another():
    steps = [
        Step("a", "Set-TransportService"), Step("b", "Set-ReceiveConnector", {"Identity": "EX01\\A"}),
        Step("c", "Set-ReceiveConnector", {"Identity": "EX01\\B"}), Step("n1", "New-EdgeSubscription"), Step("n2", "New-EdgeSubscription"),
        Step("rb1", "Get-TransportService", always_run=True), Step("rb2", "Get-ReceiveConnector", always_run=True),
    ]
    # every statement carries -ErrorAction Stop: an error Exchange's task writes ends the batch
    assert ids(plan_batches(steps, halt=True)) == [["a", "b", "c", "n1", "n2", "rb1", "rb2"]]
    cert = [Step("i", "Import-ExchangeCertificate"), Step("e", "Enable-ExchangeCertificate", {"Thumbprint": OutputRef("i", "Thumbprint")}),
            Step("s", "Set-TransportService"), Step("r", "Remove-ExchangeCertificate"), Step("rb", "Get-ExchangeCertificate", always_run=True)]
    # a terminating error lets the next statement run: a removal, or a step using an earlier one's output, waits for its answer
    assert ids(plan_batches(cert, halt=True)) == [["i"], ["e", "s"], ["r", "rb"]]


def test_a_task_error_under_stop_ends_a_shared_batch_later_changes_are_not_run_and_the_read_back_is_sent_again():
    def rule(statements):
        if statements[0][0] == "Set-TransportService":
            # Set-TransportService ran (its separator came back); Set-FrontendTransportService's error, under
            # -ErrorAction Stop, failed the pipeline: Set-ReceiveConnector and the read-back never ran
            return PipelineOutput([measure()], [], [], 5, FakeRecord("invalid", activity="Set-FrontendTransportService"))
        return PipelineOutput([measure()], [], [], 4)

    transport = FakeTransport(rule)
    steps = [Step("t", "Set-TransportService"), Step("f", "Set-FrontendTransportService"),
             Step("r", "Set-ReceiveConnector", {"Identity": "EX01\\A"}), Step("rb", "Get-TransportService", always_run=True)]
    answer = PSRPExecutor(transport, "ex01.contoso.lab").execute(steps, halt_on_error=True)
    assert [answer.result(i).status for i in ("t", "f", "r")] == ["ok", "error", "not_run"]
    assert answer.result("f").error.message == "invalid"
    batch, again = transport.sent
    assert [c for c, _ in batch][::2] == ["Set-TransportService", "Set-FrontendTransportService", "Set-ReceiveConnector", "Get-TransportService"]
    assert all(dict(args).get("ErrorAction") == "Stop" for c, args in batch if c != "Measure-Object")
    assert [c for c, _ in again] == ["Get-TransportService", "Measure-Object"] and answer.result("rb").ok


def test_a_terminating_error_in_a_shared_batch_lets_the_next_statement_run_and_each_is_reported_as_it_ran():
    def rule(statements):
        # Set-TransportService is not in the session (RBAC): CommandNotFoundException is terminating, written to
        # the error stream; the batch goes on, so both separators come back and Set-ReceiveConnector ran
        return PipelineOutput([measure(), measure()], [FakeRecord("not recognized", target_name="Set-TransportService",
                                                                  reason="CommandNotFoundException")], [], 4)

    transport = FakeTransport(rule)
    steps = [Step("t", "Set-TransportService"), Step("r", "Set-ReceiveConnector", {"Identity": "EX01\\A"})]
    answer = PSRPExecutor(transport, "ex01.contoso.lab").execute(steps, halt_on_error=True)
    assert answer.result("t").status == "error" and answer.result("r").status == "ok"


def test_without_halt_independent_set_steps_share_a_pipeline_when_each_names_its_object():
    steps = [Step("a", "Set-TransportService"), Step("b", "Set-ReceiveConnector", {"Identity": "EX01\\A"}),
             Step("c", "Set-ReceiveConnector", {"Identity": "EX01\\B"}), Step("d", "Set-ReceiveConnector"),
             Step("r", "Remove-ExchangeCertificate"), Step("g", "Get-ReceiveConnector")]
    assert ids(plan_batches(steps, halt=False)) == [["a", "b", "c"], ["d"], ["r", "g"]]


def test_a_change_joins_the_reads_before_it_only_without_halt():
    steps = [Step("g", "Get-TransportService"), Step("s", "Set-ReceiveConnector", {"Identity": "EX01\\A"}),
             Step("rb", "Get-ReceiveConnector", always_run=True)]
    # without halt_on_error nothing waits for a failure: the change follows the read in the same pipeline
    assert ids(plan_batches(steps, halt=False)) == [["g", "s", "rb"]]
    # under halt_on_error a read's terminating error would not stop the statements after it: the change waits
    assert ids(plan_batches(steps, halt=True)) == [["g"], ["s", "rb"]]


def test_a_change_never_runs_before_an_earlier_step():
    steps = [Step("r1", "Get-ReceiveConnector"), Step("r2", "Get-ReceiveConnector"), Step("s", "Set-TransportConfig")]
    batches = plan_batches(steps)
    where = {s.id: i for i, b in enumerate(batches) for s in b}
    assert where["s"] >= max(where["r1"], where["r2"])


@dataclass
class FakeRecord:
    message: str
    activity: str = ""
    invocation_name: str = ""
    target_name: str = ""
    reason: str = "InvalidOperationException"
    fq_error: str = "Boom"
    category: int = 7
    exception: Any = None

    def __str__(self) -> str:
        return self.message


@dataclass
class FakeTransport:
    """Answers each pipeline by a rule; records what was sent."""

    rule: Any
    sent: list[list[tuple[str, list]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    user: str = "CONTOSO\\viewer"
    server_time: str | None = "2026-12-06T10:00:00Z"  # the Date header of the server's last answer

    def run(self, statements, *, changes):
        self.sent.append(statements)
        return self.rule(statements)

    def release(self): ...
    def close(self): ...
    def open_sockets(self): return 0


def measure():
    from exconf.remote.clixml import PSObj

    return PSObj(types=("Deserialized.Microsoft.PowerShell.Commands.GenericMeasureInfo",), props={"Count": 0})


def test_separators_attribute_outputs_errors_and_halt_stops_later_steps():
    from exconf.remote.clixml import PSObj

    def rule(statements):
        if statements[0][0] == "Get-ExchangeServer":
            out = [PSObj(types=("X",), props={"Name": "EX01"}), measure(), measure()]
            return PipelineOutput(out, [], [FakeRecord("careful", invocation_name="Get-ExchangeServer")], 4)
        # Set-TransportService fails with a non-terminating error under -ErrorAction Stop: the pipeline ends
        return PipelineOutput([], [], [], 5, FakeRecord("not found", activity="Set-TransportService"))

    transport = FakeTransport(rule)
    executor = PSRPExecutor(transport, "ex01.contoso.lab")
    steps = [Step("s", "Get-ExchangeServer", {"Identity": LOCAL_SERVER}, select=("Name",)),
             Step("g", "Get-TransportService", {"Identity": LOCAL_SERVER}),
             Step("t", "Set-TransportService", {"Identity": LOCAL_SERVER}), Step("u", "Set-FrontendTransportService"),
             Step("rb", "Get-TransportService", {"Identity": LOCAL_SERVER}, always_run=True)]
    answer = executor.execute(steps, halt_on_error=True)
    assert answer.result("s").objects == ({"Name": "EX01"},) and answer.result("s").warnings == ("careful",)
    assert answer.result("t").status == "error" and answer.result("t").error.message == "not found"
    assert answer.result("u").status == "not_run"  # the failure ended the batch before it
    reads, change, readback = transport.sent
    assert [c for c, _ in reads] == ["Get-ExchangeServer", "Measure-Object", "Get-TransportService", "Measure-Object"]
    assert dict(reads[0][1]) == {"Identity": "ex01.contoso.lab", "ErrorAction": "Stop"}  # LOCAL_SERVER: the host's name
    assert [c for c, _ in change][::2] == ["Set-TransportService", "Set-FrontendTransportService", "Get-TransportService"]
    assert [c for c, _ in readback] == ["Get-TransportService", "Measure-Object"]  # always_run: sent again on its own
    assert answer.utc_now == "2026-12-06T10:00:00Z"  # the server's clock, from its last answer's Date header


def test_output_refs_secrets_and_refused_parameters():
    from exconf.remote.clixml import PSObj

    def rule(statements):
        cmdlet = statements[0][0]
        if cmdlet == "Import-ExchangeCertificate":
            return PipelineOutput([PSObj(types=("ExchangeCertificate",), props={"Thumbprint": "AB12"}), measure()], [], [], 4)
        return PipelineOutput([measure()], [], [], 4)

    transport = FakeTransport(rule)
    executor = PSRPExecutor(transport, "ex01.contoso.lab")
    steps = [Step("i", "Import-ExchangeCertificate", {"FileData": b"\x30\x82", "Password": Secret.from_value("pw")}, select=("Thumbprint",)),
             Step("e", "Enable-ExchangeCertificate", {"Thumbprint": OutputRef("i", "Thumbprint"), "Services": "SMTP", "Force": True})]
    answer = executor.execute(steps, halt_on_error=True)
    assert answer.result("e").ok
    imported, enabled = transport.sent
    args = dict(imported[0][1])
    assert args["FileData"] == b"\x30\x82" and isinstance(args["Password"], SecureText) and args["Password"].reveal() == "pw"
    assert dict(enabled[0][1])["Thumbprint"] == "AB12"
    # a name that abbreviates a common parameter never reaches the server
    refused = executor.execute([Step("x", "Get-ExchangeServer", {"ErrorAct": "SilentlyContinue"})], halt_on_error=False)
    assert refused.result("x").error.error_id == "ExconfBadParameter" and len(transport.sent) == 2


def test_output_file_is_refused_over_remote_powershell():
    transport = FakeTransport(lambda s: PipelineOutput([measure()], [], [], 4))
    answer = PSRPExecutor(transport, "ex01").execute([Step("f", "New-EdgeSubscription", {"Force": True}, output_file="FileName")],
                                                     halt_on_error=True)
    assert answer.result("f").status == "error" and "no file the client can read back" in answer.result("f").error.message
    assert transport.sent == []


def test_without_measure_object_it_falls_back_to_one_step_per_pipeline():
    from exconf.remote.clixml import PSObj

    def rule(statements):
        if any(c == "Measure-Object" for c, _ in statements):
            return PipelineOutput([PSObj(types=("A",), props={"Name": "a"})],
                                  [FakeRecord("The term 'Measure-Object' is not recognized", target_name="Measure-Object",
                                              reason="CommandNotFoundException")] * 2, [], 4)
        return PipelineOutput([PSObj(types=("A",), props={"Name": statements[0][0]})], [], [], 4)

    transport = FakeTransport(rule)
    executor = PSRPExecutor(transport, "ex01")
    answer = executor.execute([Step("a", "Get-ExchangeServer", select=("Name",)), Step("b", "Get-TransportService", select=("Name",))],
                              halt_on_error=False)
    assert answer.result("a").objects == ({"Name": "Get-ExchangeServer"},)
    assert answer.result("b").objects == ({"Name": "Get-TransportService"},)
    assert len(transport.sent) == 3 and any("Measure-Object" in n for n in executor.notes())


@pytest.mark.parametrize("value", [2**40, 1.5])
def test_numbers_outside_int32_keep_their_type(value):
    transport = FakeTransport(lambda s: PipelineOutput([measure()], [], [], 4))
    PSRPExecutor(transport, "ex01").execute([Step("s", "Set-TransportConfig", {"MaxSendSize": value})], halt_on_error=True)
    sent = dict(transport.sent[0][0][1])["MaxSendSize"]
    assert sent.tag == ("I64" if isinstance(value, int) else "Db") and sent.value == value


def test_a_cmdlet_outside_the_accounts_roles_is_exchanges_refusal_with_a_note_saying_what_it_means():
    refusal = FakeRecord("The term 'Set-ReceiveConnector' is not recognized as the name of a cmdlet, function, script file, "
                         "or operable program.", fq_error="CommandNotFoundException", category=13,
                         exception="CommandNotFoundException", activity="Set-ReceiveConnector")
    refusal.reason = "CommandNotFoundException"
    transport = FakeTransport(lambda s: PipelineOutput([], [], [], 4, refusal))
    executor = PSRPExecutor(transport, "ex01.contoso.lab")
    answer = executor.execute([Step("set", "Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "Verbose"})],
                              halt_on_error=True)
    error = answer.results["set"].error
    assert error.message.startswith("The term 'Set-ReceiveConnector' is not recognized") and error.exception == "CommandNotFoundException"
    (note,) = executor.notes()
    assert note.startswith("Set-ReceiveConnector is not in the remote PowerShell session of CONTOSO\\viewer")
