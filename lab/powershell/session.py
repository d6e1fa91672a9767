"""What an Exchange remote PowerShell session (configuration ``Microsoft.Exchange``) does with a pipeline.

The session is **NoLanguage** (since the April 2021 security update, cmdlets.md §1a): commands and
parameters only.

* A script is refused as PowerShell refuses it in a no-language runspace: ParseException
  "The syntax is not supported by this runspace. This can occur if the runspace is in
  no-language mode." with FullyQualifiedErrorId ScriptsNotAllowed and category ParserError
  (PowerShell's Command.cs throws it for ``IsScript`` in NoLanguage; the Windows PowerShell 5.1
  text is the one Exchange answered in jborean93/pypsrp#103; about_Language_Modes shows the id).
* A command the session does not hold is CommandNotFoundException ("The term 'X' is not
  recognized as the name of a cmdlet, …"): the session holds the Exchange cmdlets of the caller's
  roles (rbac.py), and PowerShell's restricted core commands for implicit remoting, of which the
  lab serves ``Measure-Object`` (CommandMetadata.GetRestrictedCommands(RemoteServer); Lee Holmes's
  restricted-endpoint transcript lists Exit-PSSession, Get-Command, Get-FormatData, Get-Help,
  Measure-Object, Out-Default, Select-Object).
* Parameters bind as PowerShell binds them (exchange/binder.py): an unknown name is
  "A parameter cannot be found that matches parameter name 'X'."; the id ends with the cmdlet's
  .NET type, since the server binds the cmdlet itself.

A pipeline of one statement fails (PIPELINE_STATE Failed with the error record) on any terminating
error: a script, a command not found, a parameter that does not bind, a cmdlet's terminating error,
or its non-terminating error under ``-ErrorAction Stop``. Several statements in one pipeline run as
PowerShell's server runs a batch (PowerShell.cs, BatchInvocationWorkItem): each in turn; an
ActionPreferenceStopException (a non-terminating error under ``-ErrorAction Stop``) ends the batch
and fails the pipeline with that error; any other (terminating) error is written to the error stream
and the next statement runs: the server's PSInvocationSettings never set ErrorActionPreference
(ServerPowerShellDriver.PrepInvoke), and CREATE_PIPELINE has no field for it (MS-PSRP 2.2.2.10).

Which errors are terminating follows Exchange's Task (Microsoft.Exchange.Configuration.Tasks.Task in
PiratesRE/exchange_diff): an error a task raises while it processes its record (InternalValidate,
InternalProcessRecord: not found, validation, save) goes through ProcessError with
``terminating = Stage != ProcessRecord``, which writes it with Cmdlet.WriteError, a **non-terminating**
error (Task.ProcessTaskStage, ProcessError); so ``-ErrorAction Stop`` turns it into an
ActionPreferenceStopException. Errors before the task runs are terminating: a parameter that does not
bind (ParameterBindingException), a command the session does not hold (CommandNotFoundException), a
script. The lab's task errors all arise while the record is processed, as Exchange's do for the cmdlets
it serves.
Known simplification: a statement of several piped commands (``Get-X | Set-X``) is refused with a
lab message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import psrpcore.types as ps

from exconf.lab.exchange import errors, rbac
from exconf.lab.exchange.cmdlets import CMDLETS
from exconf.lab.exchange.secure import SecureString

from . import objects, records

if TYPE_CHECKING:
    from exconf.lab.exchange.store import LabStore
    from exconf.lab.exchange.spec import ServerSpec

SCRIPTS_NOT_ALLOWED = "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."
CORE_COMMANDS = ("Measure-Object",)
_STOP = "stop"


@dataclass
class Event:
    """What a pipeline writes, in order: ("output", psobject), ("error", record), ("warning", record)."""

    kind: str
    value: Any


@dataclass
class Outcome:
    events: list[Event] = field(default_factory=list)
    failure: Any = None  # the error record that failed the pipeline (ActionPreferenceStopException)


class Session:
    """One runspace pool's session: who it runs as, and what it may run."""

    def __init__(self, store: "LabStore", spec: "ServerSpec", principal: str, groups: tuple[str, ...],
                 runspace_id: uuid.UUID, computer: str, certificate_serialization: str = "signed"):
        self.store = store
        self.spec = spec
        self.principal = principal
        self.groups = groups
        self.runspace_id = runspace_id
        self.computer = computer
        self.certificate_serialization = certificate_serialization

    def holds(self, name: str) -> str | None:
        """The command's canonical name if the session holds it, else None."""
        for core in CORE_COMMANDS:
            if core.lower() == name.lower():
                return core
        cmdlet = CMDLETS.get(name.lower())
        if cmdlet is None or self.spec.role not in cmdlet.roles or not rbac.may_run(self.groups, cmdlet.name):
            return None
        return cmdlet.name

    def run(self, pipeline: Any) -> Outcome:
        """Run a CreatePipeline's statements (psrpcore's PowerShell object): one, or a batch."""
        outcome = Outcome()
        statements: list[list[Any]] = [[]]
        for command in pipeline.commands:
            statements[-1].append(command)
            if command.end_of_statement:
                statements.append([])
        statements = [s for s in statements if s]
        with self.store.one_save():
            for statement in statements:
                stop, terminating = self._statement(statement, outcome)
                if terminating is not None:
                    if len(statements) == 1:
                        outcome.failure = terminating
                        break
                    outcome.events.append(Event("error", terminating))
                if stop:
                    break
        return outcome

    # -- one statement ------------------------------------------------------------------------------

    def _statement(self, commands: list[Any], outcome: Outcome) -> tuple[bool, Any]:
        """Run one statement: (whether it ended the batch, the terminating error it raised, if any).
        Non-terminating errors, warnings and output go to ``outcome.events``."""
        first = commands[0]
        if len(commands) > 1:
            return False, records.error_record(
                message="exconf lab: a statement of several piped commands is not supported; send each command "
                        "as its own statement.",
                error_id="LabPipelineNotSupported", category="NotImplemented", exception="NotSupportedException")
        if first.is_script:
            return False, records.error_record(
                message=SCRIPTS_NOT_ALLOWED, error_id="ScriptsNotAllowed", category="ParserError",
                exception="ParseException", target_name=str(first.command_text)[:100], target_object=str(first.command_text))
        name = str(first.command_text)
        canonical = self.holds(name)
        if canonical is None:
            error = errors.command_not_found(name)
            return False, records.error_record(
                message=error.message, error_id=error.error_id, category=error.category, exception=error.exception,
                target_name=name, target_object=name)
        named, positional, stop = _arguments(first.parameters)
        if canonical == "Measure-Object":
            return False, self._measure(named, positional, outcome)
        try:
            with self.store.run_as(self.principal):
                result = self.store.invoke(self.spec, canonical, named, positional, remote=True)
        except errors.CmdletError as exc:
            record = records.error_record(message=exc.message, error_id=exc.error_id, category=exc.category,
                                          exception=exc.exception, activity=canonical, invocation_name=name,
                                          bound=dict(named))
            if not _non_terminating(canonical, exc):
                return False, record
            if stop:
                outcome.failure = record  # ActionPreferenceStopException: the pipeline ends here
                return True, None
            outcome.events.append(Event("error", record))
            return False, None
        for warning in result.warnings:
            outcome.events.append(Event("warning", records.warning_record(warning, name, dict(named))))
        for obj in result.objects:
            outcome.events.append(Event("output", objects.to_psobject(
                canonical, obj, computer=self.computer, runspace_id=self.runspace_id,
                certificate_serialization=self.certificate_serialization)))
        return False, None

    def _measure(self, named: list[tuple[str, Any]], positional: list[Any], outcome: Outcome) -> Any:
        """The restricted Measure-Object proxy of a remote session: -InputObject only. Returns a
        terminating (binding) error, or None after writing its GenericMeasureInfo."""
        count = 0
        dotnet = "Microsoft.PowerShell.Commands.MeasureObjectCommand"
        for key, value in named:
            if key and "inputobject".startswith(key.lower()):
                count = 0 if value is None else 1
            elif key.lower() not in ("erroraction", "ea", "warningaction", "wa"):
                error = errors.named_parameter_not_found(dotnet, key)
                return records.error_record(message=error.message, error_id=error.error_id, category=error.category,
                                            exception=error.exception, activity="Measure-Object",
                                            invocation_name="Measure-Object")
        if positional:
            error = errors.positional_parameter_not_found(dotnet, str(positional[0]))
            return records.error_record(message=error.message, error_id=error.error_id, category=error.category,
                                        exception=error.exception, activity="Measure-Object",
                                        invocation_name="Measure-Object")
        outcome.events.append(Event("output", objects.measure_info(count)))
        return None


TERMINATING = ("CommandNotFoundException", "ParseException")  # and every ParameterBinding…Exception


def _non_terminating(cmdlet: str, exc: errors.CmdletError) -> bool:
    """Whether Exchange writes this error without ending the command (so -ErrorAction Stop turns it into
    ActionPreferenceStopException): every error of the task's own work. Exchange's Task.ProcessError,
    called with ``terminating = Stage != TaskStage.ProcessRecord``, writes an error raised while the
    record is processed with WriteError [PiratesRE/exchange_diff Task.cs]; a parameter that does not
    bind fails before the task runs, as PowerShell's terminating ParameterBindingException."""
    return not exc.exception.startswith("ParameterBinding") and exc.exception not in TERMINATING


def _arguments(parameters: list[tuple[str | None, Any]]) -> tuple[list[tuple[str, Any]], list[Any], bool]:
    """psrpcore's (name, value) pairs as the binder takes them, and whether -ErrorAction is Stop."""
    named: list[tuple[str, Any]] = []
    positional: list[Any] = []
    stop = False
    for name, raw in parameters:
        value = plain(raw)
        if name is None:
            positional.append(value)
            continue
        key = str(name).lstrip("-").rstrip(":")
        if key.lower() in ("erroraction", "ea") and str(value).lower() == _STOP:
            stop = True
        named.append((key, value))
    return named, positional, stop


def plain(value: Any) -> Any:
    """A deserialised argument as the lab's binder takes it (str, int, float, bool, bytes, list,
    SecureString, None)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, ps.PSSecureString):
        return SecureString(value.decrypt())
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, ps.PSObject) and isinstance(getattr(value, "PSObject", None), ps.PSObjectMeta):
        shown = value.PSObject.to_string
        return shown if shown is not None else str(value)
    return str(value)


Runner = Callable[[Any], Outcome]
