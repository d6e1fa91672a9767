"""The Exchange remote PowerShell executor: steps sent as cmdlets to ``/PowerShell``, CLIXML read back
into the same ``Answer`` the program gives (docs/remote-powershell.md).

Nothing in a step can become code: each step is one command (its cmdlet name, checked against
``ALLOWED_CMDLETS``) with named parameters whose values are data — strings, numbers, booleans
(``True`` for a switch), ``$null``, arrays, byte arrays and SecureStrings — into a NoLanguage
session, which refuses any script anyway. The program's rules carry over: the parameter names it
refuses (common parameters and their prefixes), ``LOCAL_SERVER`` (resolved here to the host's own
name: cmdlets' ``-Server`` takes an FQDN), an earlier step's output (``OutputRef``: the value the
server returned is sent back as data), ``halt_on_error`` (``-ErrorAction Stop`` on each command,
and nothing after a failure except ``always_run`` steps), ``select``, warnings and error records.
``output_file`` is not available: a remote session has no file the client can read back.

Several steps travel in one pipeline as statements, each followed by a ``Measure-Object``
statement (a restricted-session command, PowerShell's CommandMetadata.GetRestrictedCommands; it
writes one GenericMeasureInfo and nothing else): the separators say which statements ran and which
output belongs to which step; errors and warnings carry the command that wrote them (their
CategoryInfo activity or InvocationInfo, with its bound -Identity). PowerShell's server runs such a
batch statement by statement (PowerShell.cs BatchInvocationWorkItem): an ActionPreferenceStopException
ends it, any other terminating error only its statement, since the server's invocation settings carry
no ErrorActionPreference (ServerPowerShellDriver.PrepInvoke; CREATE_PIPELINE has no such field,
MS-PSRP 2.2.2.10). Exchange writes the errors of a task's work as non-terminating errors (its
Task.ProcessError in the ProcessRecord stage, PiratesRE/exchange_diff), so under ``halt_on_error``,
with ``-ErrorAction Stop`` on every statement, any error Exchange's cmdlet writes ends the batch: changes
share a pipeline and a failure stops everything after it, as the program stops. What PowerShell raises
before a cmdlet runs (a parameter that does not bind, a cmdlet outside the account's roles) is
terminating: the later statements of that pipeline still run, and each is reported as it ran (the
separators say so); a removal (Remove-) and a step that uses an earlier step's output therefore start a
pipeline of their own, sent only after everything before them succeeded (docs/remote-powershell.md,
docs/faults.md). An apply's read-back rides with the last change, and is sent again on its own when a
failure ended that batch before it. Should a server not offer
Measure-Object, the executor falls back to one step per pipeline for the rest of the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pypsrp.serializer import TaggedValue

from exconf.remote import (
    ALLOWED_CMDLETS, LOCAL_SERVER, STATUS_ERROR, STATUS_NOT_RUN, STATUS_OK, Answer, ContractError, OutputRef, Secret,
    Step, StepError, StepResult, validate_steps,
)
from exconf.remote import certificate_data, clixml

from .transport.cleartext import check_payload
from .transport.psrp import PipelineOutput, PSRPTransport, SecureText

SEPARATOR = "Measure-Object"
READ_VERBS = ("Get-", "Test-", "Search-")
# The program's list (engine/remote/exconf.ps1): a name that is, or abbreviates, one of these is refused.
RESERVED_PARAMETERS = (
    "ErrorAction", "WarningAction", "InformationAction", "ErrorVariable", "WarningVariable", "InformationVariable",
    "OutVariable", "OutBuffer", "PipelineVariable", "Verbose", "Debug", "UseTransaction", "ea", "wa", "infa", "ev",
    "wv", "iv", "ov", "ob", "pv", "vb", "db", "usetx",
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# ErrorCategory [MS-PSRP] 2.2.3.9, by number
CATEGORIES = (
    "NotSpecified", "OpenError", "CloseError", "DeviceError", "DeadlockDetected", "InvalidArgument", "InvalidData",
    "InvalidOperation", "InvalidResult", "InvalidType", "MetadataError", "NotImplemented", "NotInstalled",
    "ObjectNotFound", "OperationStopped", "OperationTimeout", "SyntaxError", "ParserError", "PermissionDenied",
    "ResourceBusy", "ResourceExists", "ResourceUnavailable", "ReadError", "WriteError", "FromStdErr", "SecurityError",
    "ProtocolError", "ConnectionError", "AuthenticationError", "LimitsExceeded", "QuotaExceeded", "NotEnabled",
)
INT32 = range(-(2**31), 2**31)


def is_read(step: Step) -> bool:
    return step.cmdlet.startswith(READ_VERBS)


DESTRUCTIVE_VERBS = ("Remove-",)


def travels_alone(step: Step, halt: bool = True) -> bool:
    """A change that starts a pipeline of its own, so that it is sent only once every earlier step is known
    to have succeeded. Under halt_on_error that is a change that destroys (Remove-): a change that shares a
    pipeline runs after an earlier statement's terminating error (see the module's docstring), and a removal
    must never follow a failure. Without halt_on_error, a change whose order matters (not a settings kind's
    Set-)."""
    if is_read(step):
        return False
    return step.cmdlet.startswith(DESTRUCTIVE_VERBS) if halt else not step.cmdlet.startswith("Set-")


def plan_batches(steps: list[Step], halt: bool = True) -> list[list[Step]]:
    """Steps grouped into pipelines, in an order that keeps every step after those it must follow.

    Under halt_on_error every statement carries ``-ErrorAction Stop``: an error Exchange's task writes
    ends the batch (ActionPreferenceStopException), so changes share a pipeline, in their order. A change
    that ``travels_alone`` starts a pipeline of its own, which only reads after it may join; a step that
    reads an earlier step's output (``OutputRef``) goes after that step's batch. A change goes after every
    earlier step; a read after the latest earlier change (the read-back of an apply rides with the last
    change). Within those bounds a step joins the first batch it fits (a read's cmdlet once per batch;
    without halt_on_error, Set- steps of one cmdlet when each names its own -Identity), so reads of
    different objects share pipelines. Within a batch, statements keep their order.
    """
    batches: list[list[Step]] = []
    where: dict[str, int] = {}
    change_floor = 0  # reads go no earlier than the latest change
    for step in steps:
        if travels_alone(step, halt):
            floor = len(batches)
        elif is_read(step):
            floor = change_floor
        else:
            floor = max(where.values(), default=0)
        for value in step.params.values():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, OutputRef) and item.step in where:
                    floor = max(floor, where[item.step] + 1)
        index = floor
        while index < len(batches) and not _fits(batches[index], step, halt):
            index += 1
        if index == len(batches):
            batches.append([])
        batches[index].append(step)
        where[step.id] = index
        if not is_read(step):
            change_floor = index
    return batches


def _same_reads(steps: list[Step]) -> dict[str, str]:
    """Reads asked twice (the same cmdlet and parameters: a settings kind and the certificate kind both
    read the local receive connectors): step id -> the first such step, which alone is sent."""
    first: dict[tuple[str, str, bool], str] = {}
    out: dict[str, str] = {}
    for step in steps:
        if not is_read(step) or step.output_file:
            continue
        key = (step.cmdlet.lower(), repr(sorted(step.params.items())), step.always_run)
        if key in first:
            out[step.id] = first[key]
        else:
            first[key] = step.id
    return out


def _fits(batch: list[Step], step: Step, halt: bool) -> bool:
    """Whether a step may join a batch: a change that travels alone only an empty one; after such a
    change only reads; under halt_on_error a change not after a read (what it follows has answered); a
    read's cmdlet once per batch. Changes of one cmdlet: under halt_on_error in any number (the error that ends the batch
    is the statement after the last separator); otherwise when each names its own object by -Identity
    (their errors and warnings carry it, see _owners)."""
    if not batch:
        return True
    if travels_alone(step, halt):
        return False
    if travels_alone(batch[0], halt) and not is_read(step):
        return False
    if halt and not is_read(step) and any(is_read(s) for s in batch):
        return False
    clash = [s for s in batch if s.cmdlet.lower() == step.cmdlet.lower()]
    if not clash:
        return True
    if is_read(step):
        return False
    return halt or (_identity(step) is not None and all(_identity(s) not in (None, _identity(step)) for s in clash))


def _identity(step: Step) -> str | None:
    value = step.params.get("Identity")
    return value.lower() if isinstance(value, str) else None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class _Refused(Exception):
    message: str


class PSRPExecutor:
    """Steps as cmdlets through one runspace pool (transport/psrp.py), answers as the program's."""

    def __init__(self, transport: PSRPTransport, server_name: str, *, in_clear: bool = False, endpoint: str = ""):
        self._transport = transport
        self._server = server_name
        self._in_clear = in_clear  # reached without TLS or sealing: no command carrying a secret goes there
        self._endpoint = endpoint
        self._separators = True
        self._notes: list[str] = []

    # -- the Executor protocol -------------------------------------------------------------------------

    def execute(self, steps: list[Step], *, halt_on_error: bool) -> Answer:
        validate_steps(steps)  # what the program would refuse, refused before anything is sent
        check_payload(self._endpoint, self._in_clear, steps)
        results: dict[str, StepResult] = {}
        outputs: dict[str, list[Any]] = {}
        failed = False
        same = _same_reads(steps)
        for batch in plan_batches([s for s in steps if s.id not in same], halt_on_error):
            send: list[tuple[Step, list[tuple[str, Any]]]] = []
            for step in batch:
                if halt_on_error and failed and not step.always_run:
                    results[step.id] = StepResult(step.id, STATUS_NOT_RUN)
                    continue
                try:
                    send.append((step, self._arguments(step, outputs, results, halt_on_error)))
                except _Refused as exc:
                    results[step.id] = StepResult(step.id, STATUS_ERROR, error=StepError(
                        exc.message, "ExconfBadParameter", "InvalidArgument", "ArgumentException"))
            if send:
                self._run_batch(send, halt_on_error, results, outputs)
            if halt_on_error and any(results[s.id].status == STATUS_ERROR for s in batch if s.id in results):
                failed = True
        # A read-back that rode with a change whose error ended the batch did not run: it changes nothing and
        # tells what the failure left, so it is sent once more, on its own.
        again = [s for s in steps if s.always_run and s.id not in same and s.id in results and results[s.id].status == STATUS_NOT_RUN]
        if again:
            self._run_batch([(s, self._arguments(s, outputs, results, halt_on_error)) for s in again], halt_on_error, results, outputs)
        for step in steps:  # a read sent once for several steps: each gets its own select of the objects
            if step.id in same:
                first = results[same[step.id]]
                objects = outputs.get(same[step.id], []) if first.ok else []
                results[step.id] = StepResult(
                    step.id, first.status, tuple(_select(o, step.select) for o in objects) if step.select else (),
                    first.warnings, first.error)
                if first.ok:
                    outputs[step.id] = objects
        ordered = {s.id: results[s.id] for s in steps}
        return Answer(computer=self._server.split(".", 1)[0].upper(), edge=False, results=ordered, utc_now=self._transport.server_time)

    def release(self) -> None:
        self._transport.release()

    def close(self) -> None:
        self._transport.close()

    def open_sockets(self) -> int:
        return self._transport.open_sockets()

    def keep_alive(self, *, lead: float) -> bool:
        """Keep the connection this host was read on for its apply with work the apply needs anyway. The runner
        asks only hosts whose next pipeline carries a secret: the pool's session key, exchanged before the
        connection's idle margin (PSRPTransport.keep_alive_with_keys)."""
        return self._transport.keep_alive_with_keys(lead)

    def notes(self) -> tuple[str, ...]:
        return tuple(self._notes + self._transport.notes)

    # -- one step's arguments -------------------------------------------------------------------------------

    def _arguments(self, step: Step, outputs: dict[str, list[Any]], results: dict[str, StepResult],
                   halt: bool) -> list[tuple[str, Any]]:
        if step.cmdlet not in ALLOWED_CMDLETS:  # validate_steps refused it already; never sent
            raise _Refused(f"The cmdlet '{step.cmdlet}' is not in exconf's allowlist.")
        if step.output_file:
            raise _Refused(f"The output_file '{step.output_file}' cannot be used over Exchange remote PowerShell: "
                           "a remote session has no file the client can read back.")
        args: list[tuple[str, Any]] = []
        for name, value in step.params.items():
            if not _NAME.match(name) or any(r.lower().startswith(name.lower()) for r in RESERVED_PARAMETERS):
                raise _Refused(f"The parameter name '{name}' is not allowed in an exconf step.")
            args.append((name, self._value(value, name, outputs, results)))
        if halt:
            args.append(("ErrorAction", "Stop"))
        return args

    def _value(self, value: Any, name: str, outputs: dict[str, list[Any]], results: dict[str, StepResult],
               in_array: bool = False) -> Any:
        if value == LOCAL_SERVER:
            return self._server
        if isinstance(value, OutputRef):
            return self._output_value(value, name, outputs, results)
        if isinstance(value, Secret) and not in_array:
            return SecureText(value.reveal)
        if isinstance(value, (bytes, bytearray)) and not in_array:
            return bytes(value)
        if isinstance(value, str):
            lone = _LONE_SURROGATE.search(value)
            if lone:
                # pypsrp would write it as an XML character reference no XML reader accepts (PowerShell
                # sends _xD800_), and no Exchange value can hold it: refused here, as Windows refuses
                # it on the program path (UTF-16 conversion).
                raise _Refused(f"Cannot send the value of parameter '{name}': Unable to translate Unicode character "
                               f"\\u{ord(lone.group()):04X} at index {lone.start()} to specified code page.")
            return value
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value if value in INT32 else TaggedValue("I64", value)
        if isinstance(value, float):
            return TaggedValue("Db", value)
        if isinstance(value, (list, tuple)):
            if not value:
                return None  # an empty array is $null: it clears a multi-valued property
            items = []
            for item in value:
                if isinstance(item, (list, tuple, dict)):
                    raise _Refused(f"The value of parameter '{name}' nests an array in an array.")
                items.append(self._value(item, name, outputs, results, True))
            return items
        raise _Refused(f"The value of parameter '{name}' is not a string, number, boolean, null, array or one of "
                       "the contract's marker objects.")

    def _output_value(self, ref: OutputRef, name: str, outputs: dict[str, list[Any]],
                      results: dict[str, StepResult]) -> Any:
        got = results.get(ref.step)
        if got is None or not got.ok or ref.step not in outputs:
            raise _Refused(f"Parameter '{name}' refers to the output of step '{ref.step}', which has not run "
                           "successfully before this step.")
        objects = outputs[ref.step]
        if len(objects) != 1:
            raise _Refused(f"Parameter '{name}' refers to the output of step '{ref.step}', which returned "
                           f"{len(objects)} objects instead of one.")
        obj = objects[0]
        if not isinstance(obj, clixml.PSObj) or not obj.has(ref.property):
            raise _Refused(f"Parameter '{name}' refers to property '{ref.property}' of step '{ref.step}', whose "
                           "output has no such property.")
        return clixml.contract_value(obj.get(ref.property))

    # -- one pipeline ----------------------------------------------------------------------------------------

    def _run_batch(self, send: list[tuple[Step, list[tuple[str, Any]]]], halt: bool,
                   results: dict[str, StepResult], outputs: dict[str, list[Any]]) -> None:
        changes = any(not is_read(step) for step, _ in send)
        if self._separators:
            statements: list[tuple[str, list[tuple[str, Any]]]] = []
            for step, args in send:
                statements += [(step.cmdlet, args), (SEPARATOR, [])]
            output = self._transport.run(statements, changes=changes)
            if _separator_missing(output):
                self._separators = False
                self._notes.append(f"the server has no {SEPARATOR} in its remote session: one step per pipeline from now on")
                if changes:
                    self._attribute_without_separators(send, output, halt, results, outputs)
                    return
            else:
                self._attribute(send, output, halt, results, outputs)
                return
        for one in send:  # one step per pipeline
            if halt and any(r.status == STATUS_ERROR for r in results.values()) and not one[0].always_run:
                results[one[0].id] = StepResult(one[0].id, STATUS_NOT_RUN)
                continue
            output = self._transport.run([(one[0].cmdlet, one[1])], changes=not is_read(one[0]))
            self._attribute_without_separators([one], output, halt, results, outputs)

    def _attribute(self, send: list[tuple[Step, list[tuple[str, Any]]]], output: PipelineOutput, halt: bool,
                   results: dict[str, StepResult], outputs: dict[str, list[Any]]) -> None:
        segments: list[list[Any]] = [[]]
        for item in output.output:
            obj = _read(item)
            if _is_separator(obj):
                segments.append([])
            else:
                segments[-1].append(obj)
        completed = len(segments) - 1  # statements that ran to their separator
        steps = [step for step, _ in send]
        errors, warnings = _by_step(steps, output.errors), _by_step(steps, output.warnings)
        failing = None
        if output.failure is not None:
            failing = _owner(steps, output.failure)
            if failing is None and completed < len(steps):
                failing = steps[completed]
            if failing is not None:
                errors.setdefault(failing.id, []).append(output.failure)
        elif completed < len(steps):
            raise ContractError(f"the remote session ran {completed} of {len(steps)} statements and reported no failure")
        seen_error = False
        for index, step in enumerate(steps):
            ran = index < completed or (failing is not None and step.id == failing.id)
            if not ran:
                results[step.id] = StepResult(step.id, STATUS_NOT_RUN)
                continue
            if halt and seen_error and is_read(step) and not step.always_run:
                results[step.id] = StepResult(step.id, STATUS_NOT_RUN)  # a read after a failure: as if not run
                continue
            decoded = [_decoded(o) for o in (segments[index] if index < len(segments) else [])]
            result = self._result(step, decoded, errors.get(step.id, []), warnings.get(step.id, []))
            results[step.id] = result
            if result.ok:
                outputs[step.id] = decoded
            seen_error = seen_error or not result.ok

    def _attribute_without_separators(self, send: list[tuple[Step, list[tuple[str, Any]]]], output: PipelineOutput,
                                      halt: bool, results: dict[str, StepResult], outputs: dict[str, list[Any]]) -> None:
        """Without separators: errors and warnings by the command that wrote them; the objects belong to
        the one step that asked for them (a batch of Set- steps writes none)."""
        steps = [step for step, _ in send]
        errors, warnings = _by_step(steps, output.errors), _by_step(steps, output.warnings)
        if output.failure is not None:
            owner = _owner(steps, output.failure) or steps[0]
            errors.setdefault(owner.id, []).append(output.failure)
        objects = [o for o in (_read(i) for i in output.output) if not _is_separator(o)]
        wanting = [s for s in steps if s.select] or steps[:1]
        decoded = [_decoded(o) for o in objects]
        for step in steps:
            mine = decoded if step is wanting[0] else []
            result = self._result(step, mine, errors.get(step.id, []), warnings.get(step.id, []))
            results[step.id] = result
            if result.ok:
                outputs[step.id] = mine

    def _not_in_session(self, cmdlet: str) -> None:
        """Exchange leaves the cmdlets of roles the account does not hold out of its session, so a
        refusal by RBAC reads "The term … is not recognized": say what that means, once per cmdlet."""
        note = (f"{cmdlet} is not in the remote PowerShell session of {self._transport.user}: Exchange leaves out the "
                "cmdlets of management roles the account does not hold; docs/remote-powershell.md names the role "
                "groups that hold each cmdlet exconf runs")
        if note not in self._notes:
            self._notes.append(note)

    def _result(self, step: Step, objects: list[Any], errors: list[Any], warnings: list[Any]) -> StepResult:
        """A step's result from its objects (decoded once by the caller: a certificate's SerializationData is
        the dearest thing to read) and the error and warning records it wrote."""
        said = tuple(_text(w) for w in warnings)
        if errors:
            error = _step_error(errors[0])
            if error.exception == "CommandNotFoundException" and step.cmdlet in ALLOWED_CMDLETS:
                self._not_in_session(step.cmdlet)
            return StepResult(step.id, STATUS_ERROR, warnings=said, error=error)
        rows = tuple(_select(o, step.select) for o in objects) if step.select else ()
        return StepResult(step.id, STATUS_OK, objects=rows, warnings=said)


# --- reading what came back -----------------------------------------------------------------------------------


def _read(item: Any) -> Any:
    """A pipeline output object as CLIXML values: a pypsrp object by the CLIXML it was read from
    (pypsrp keeps it on every deserialised object), a primitive as itself."""
    xml = getattr(item, "_xml", None)
    if isinstance(xml, str):
        return clixml.parse(xml)
    return item


def _decoded(obj: Any) -> Any:
    return certificate_data.decode(obj) if certificate_data.is_certificate(obj) else obj


def _is_separator(obj: Any) -> bool:
    return isinstance(obj, clixml.PSObj) and obj.is_a("GenericMeasureInfo")


def _select(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(obj, clixml.PSObj):
        return clixml.select(obj, names)
    if isinstance(obj, str):  # a bare string's only property is Length (docs/remote-contract.md)
        return {n: len(obj) for n in names if n.lower() == "length"}
    return {}


def _names(record: Any) -> list[str]:
    """The command an error or warning record names: CategoryInfo's activity, the invocation, the target."""
    out = []
    for attr in ("activity", "invocation_name", "target_name"):
        value = getattr(record, attr, None)
        if isinstance(value, str) and value:
            out.append(value.lower())
    return out


def _owners(steps: list[Step], record: Any) -> list[Step]:
    """The steps a record may come from: the command it names, and among several statements of that
    command, the one whose -Identity its InvocationInfo's bound parameters hold."""
    names = _names(record)
    candidates = [s for s in steps if s.cmdlet.lower() in names]
    if len(candidates) > 1:
        bound = getattr(record, "invocation_bound_parameters", None)
        identity = next((v for k, v in bound.items() if str(k).lower() == "identity"), None) if isinstance(bound, dict) else None
        if identity is not None:
            narrowed = [s for s in candidates if _identity(s) == str(identity).lower()]
            if narrowed:
                return narrowed
    return candidates


def _owner(steps: list[Step], record: Any) -> Step | None:
    owners = _owners(steps, record)
    return owners[0] if len(owners) == 1 else None


def _by_step(steps: list[Step], records: list[Any]) -> dict[str, list[Any]]:
    """Records by step. One that several statements could have written goes to each of them (a step is
    never reported done when it may have failed); one no command claims to the batch's first step."""
    out: dict[str, list[Any]] = {}
    for record in records:
        owners = _owners(steps, record)
        if not owners:
            if SEPARATOR.lower() in _names(record):
                continue
            owners = steps[:1]
        for owner in owners:
            out.setdefault(owner.id, []).append(record)
    return out


def _separator_missing(output: PipelineOutput) -> bool:
    records = list(output.errors) + ([output.failure] if output.failure is not None else [])
    return any(SEPARATOR.lower() in _names(r) and getattr(r, "reason", "") == "CommandNotFoundException" for r in records)


def _text(record: Any) -> str:
    message = getattr(record, "message", None)
    return str(message) if message is not None else str(record)


def _step_error(record: Any) -> StepError:
    message = ""
    exception = getattr(record, "exception", None)
    props = getattr(exception, "adapted_properties", None)
    if isinstance(props, dict) and isinstance(props.get("Message"), str):
        message = props["Message"]
    if not message:
        message = str(record)
    number = getattr(record, "category", None)
    category = CATEGORIES[number] if isinstance(number, int) and 0 <= number < len(CATEGORIES) else str(number or "")
    return StepError(message=message, error_id=str(getattr(record, "fq_error", "") or ""), category=category,
                     exception=str(getattr(record, "reason", "") or ""))
