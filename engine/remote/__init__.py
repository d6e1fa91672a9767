"""The remote contract: how exconf runs its one PowerShell program on a server.

Everything that crosses the wire is defined here, so that the engine, the
transports and the lab agree on it byte for byte:

* The **command line** is short and constant for a given program:
  ``powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass
  -EncodedCommand <bootstrap>``. The bootstrap reads standard input, checks the
  SHA-256 of the program part against the hash it carries, and only then runs
  it; so the only text that ever becomes PowerShell code is the program
  shipped in this package (``exconf.ps1``).
* **Standard input** is the program in base64 on one line, a line of four NUL
  characters, then one payload JSON per line, for as long as the process lives:
  the bootstrap reads the lines through the pipeline variable ``$input`` as they
  arrive (as Ansible's bootstrap_wrapper.ps1 reads its input), checks the
  program once, and runs it for each payload line. So a transport that keeps the
  process (WinRM) sends the program once and then only payloads; one that does
  not (SSH) sends the program and one payload and closes standard input. All of
  it is pure ASCII (the JSON escapes every other character as ``\\uXXXX``), so it
  arrives intact whatever console code page the shell runs (437, 1252, 65001).
* **Standard output** is, for each payload, one ASCII JSON line, the *answer*,
  followed by a line of four NUL characters (``ANSWER_END``): the end of that
  answer, whatever number of reads it arrives in.

The payload is data only: cmdlet names (checked against an allowlist inside
the program) and parameter values: JSON scalars and arrays, byte arrays,
secrets (SecureStrings on the server), the local computer name and a property
of an earlier step's output. See docs/remote-contract.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

CONTRACT_VERSION = 3

# The only cmdlets the program will run. The program carries the same list
# (tests check that both agree); anything else is refused on the server.
ALLOWED_CMDLETS: tuple[str, ...] = (
    "Get-ExchangeServer",
    "Get-SendConnector",
    "Set-SendConnector",
    "Get-ReceiveConnector",
    "Set-ReceiveConnector",
    "Get-TransportService",
    "Set-TransportService",
    "Get-FrontendTransportService",
    "Set-FrontendTransportService",
    "Get-TransportConfig",
    "Set-TransportConfig",
    "Get-ExchangeCertificate",
    "Enable-ExchangeCertificate",
    "New-ExchangeCertificate",
    "Import-ExchangeCertificate",
    "Export-ExchangeCertificate",
    "Remove-ExchangeCertificate",
    "New-EdgeSubscription",
    "Get-EdgeSubscription",
    "Remove-EdgeSubscription",
    "Start-EdgeSynchronization",
    "Test-EdgeSynchronization",
    "Restart-Service",
    "Search-AdminAuditLog",  # drift: who changed a drifted object (exconf.drift.audit)
    "Get-ImapSettings",  # which certificate IMAP4 and POP3 use (X509CertificateName): what Exchange shows as IMAP, POP
    "Get-PopSettings",
    "Get-AuthConfig",  # the certificate OAuth uses (CurrentCertificateThumbprint)
    "Set-AuthConfig",  # the Auth certificate's rotation (modules/auth_certificate.py)
    # the names clients use, which the certificates bound to IIS must cover (modules/certificate_names.py)
    "Get-OwaVirtualDirectory",
    "Get-EcpVirtualDirectory",
    "Get-WebServicesVirtualDirectory",
    "Get-OabVirtualDirectory",
    "Get-ActiveSyncVirtualDirectory",
    "Get-MapiVirtualDirectory",
    "Get-AutodiscoverVirtualDirectory",
    "Get-OutlookAnywhere",
    "Get-ClientAccessService",
    "Get-AcceptedDomain",
    # beside Exchange, through the program only (never in an Exchange session): the Auth certificate's app pools,
    # and an ACME HTTP-01 challenge file in the Default Web Site (web_file)
    "Restart-WebAppPool",
    "Set-Content",
    "Remove-Item",
)
# Restart-Service runs only as ``-Name <one of RESTARTABLE_SERVICES> [-Force]``: AD LDS on an Edge after its
# default SMTP certificate changed (cmdlets.md §6, §9; -Force restarts the services that depend on it), and
# MSExchangeServiceHost on a Mailbox server, whose AuthAdmin servicelet publishes a new Auth certificate
# (EXD maintain-oauth-certificate.md). The program refuses any other use.
RESTART_SERVICE = "Restart-Service"
RESTARTABLE_SERVICES = ("ADAM_MSExchange", "MSExchangeServiceHost")
RESTARTABLE_SERVICE = RESTARTABLE_SERVICES[0]
# Restart-WebAppPool runs only as ``-Name <one of these>``: "A reference to the Auth Certificate is cached by the
# MSExchangeOWAAppPool and MSExchangeECPAppPool application pool" (EXD maintain-oauth-certificate.md).
RESTART_APP_POOL = "Restart-WebAppPool"
RESTARTABLE_APP_POOLS = ("MSExchangeOWAAppPool", "MSExchangeECPAppPool")
# Set-Content and Remove-Item run only on one file of the Default Web Site's /.well-known/acme-challenge/ folder,
# named by the step's ``web_file`` (an ACME token: RFC 8555 §8.1 base64url), whose path the program chooses;
# Set-Content takes only -Value, the key authorization (base64url and "."). RFC 8555 §8.3.
WEB_FILE_CMDLETS = ("Set-Content", "Remove-Item")
WEB_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
WEB_FILE_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,1024}")

# A parameter value of this exact shape is replaced on the server by the local
# computer name ($env:COMPUTERNAME).
LOCAL_SERVER = {"exconf_ref": "ComputerName"}

POWERSHELL = "powershell.exe"
POWERSHELL_ARGS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand")

# The line of four NUL characters between the program and the payloads, as in Ansible's
# lib/ansible/executor/powershell/bootstrap_wrapper.ps1 (ansible/ansible @ 26cba868).
SEPARATOR = "\0\0\0\0"
# What ends each answer on standard output: a line end, the same four NULs, a line end. The answer JSON
# escapes every control character, so this cannot occur inside it; a client reads until it has seen it,
# however many reads (WinRS Receives) the answer takes.
ANSWER_END = "\r\n" + SEPARATOR + "\r\n"
ANSWER_END_BYTES = ANSWER_END.encode("ascii")
CLM_MESSAGE = "PowerShell on {computer} runs in {mode} mode (AppLocker or WDAC policy); exconf needs FullLanguage."
NO_PROGRAM_MESSAGE = "no program on standard input"
HASH_MISMATCH_MESSAGE = "program hash mismatch"

# The bootstrap is deliberately one line: it is what runs before our program exists in the
# session. {hash} is the upper-case hex SHA-256 of the program. It follows Ansible's
# bootstrap_wrapper.ps1 (ansible/ansible @ 26cba8682f69f9a0acc8f8b1ac9aaa9f21f6fa0d): refuse a
# session that is not FullLanguage (an AppLocker/WDAC Constrained Language Mode host, where
# [Console] and [ScriptBlock]::Create are unavailable: the answer is plain pipeline output, which
# CLM allows), then read standard input from the pipeline variable $input line by line, never
# [Console]::In (the host itself reads redirected standard input to feed $input).
#
# $input streams: powershell.exe runs a -Command/-EncodedCommand that uses $input with
# ExecutionOptions.ReadInputObjects: it starts the pipeline (InvokeAsync), then reads standard input
# one line at a time (WrappedDeserializer, TextReader.ReadLine) and writes each line to the pipeline's
# input as it is read, until end of file (PowerShell/PowerShell src/Microsoft.PowerShell.ConsoleHost/
# host/msh/ConsoleHost.cs "Detect if they're using input", Executor.cs ExecuteCommandAsyncHelper; the
# same in Windows PowerShell 5.1's ConsoleHost). The command's end block then gets "an asynchronously
# updated $input enumerator" (ScriptCommandProcessor.cs, InputPipe.ExternalReader.GetReadEnumerator()):
# foreach takes each line as soon as it has arrived, and waits for the next. So the program is checked
# and compiled once, at the separator line, and run for every later line (a payload), each answer
# written with [Console]::Out, whose writer flushes on every Write (StreamWriter.AutoFlush docs:
# "Console.Out is one of these cases"), so it leaves the process while the process waits for its next
# payload. End of standard input ends the loop, and the process exits 0.
# The program travels as one base64 line, so no line-ending or blank-line handling of the host can
# change the bytes whose hash is checked.
_BOOTSTRAP = (
    "$ErrorActionPreference='Stop';"
    "$m=$ExecutionContext.SessionState.LanguageMode;"
    "if($m -ne 'FullLanguage'){{'{{\"exconf\":{version},\"fatal\":{{\"message\":\"'+"
    + "{clm}"
    + "+'\"}}}}';exit 1}};"
    "$q=@();$s=$null;"
    "foreach($x in $input){{if($s){{& $s $x}}elseif([string]::Equals($x,\"`0`0`0`0\")){{"
    "try{{$b=[Convert]::FromBase64String(-join $q)}}catch{{$b=[byte[]]@()}};"
    "$h=[BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($b)).Replace('-','');"
    "if($h -ne '{hash}'){{[Console]::Out.Write('{{\"exconf\":{version},\"fatal\":{{\"message\":\"{mismatch}\"}}}}');exit 1}};"
    "$p=[Text.Encoding]::ASCII.GetString($b);$s=[ScriptBlock]::Create($p)}}else{{$q+=$x}}}};"
    "if(-not $s){{[Console]::Out.Write('{{\"exconf\":{version},\"fatal\":{{\"message\":\"{no_program}\"}}}}');exit 1}}"
)
# The CLM message as PowerShell builds it in the bootstrap (a CLM session can concatenate strings).
_CLM_EXPRESSION = "'" + CLM_MESSAGE.replace("'", "''").replace("{computer}", "'+$env:COMPUTERNAME+'").replace("{mode}", "'+$m+'") + "'"


class ContractError(Exception):
    """The server's answer does not follow the contract (not JSON, wrong shape)."""


@lru_cache(maxsize=1)
def program_text() -> str:
    """The PowerShell program shipped in this package, exactly as sent."""
    text = resources.files(__package__).joinpath("exconf.ps1").read_bytes().decode("ascii")
    return text.replace("\r\n", "\n")


def program_hash(text: str | None = None) -> str:
    """Upper-case hex SHA-256 of the program's ASCII bytes (what the bootstrap checks)."""
    data = (program_text() if text is None else text).encode("ascii")
    return hashlib.sha256(data).hexdigest().upper()


def bootstrap_script(text: str | None = None) -> str:
    """The one-line bootstrap for a given program text."""
    return _BOOTSTRAP.format(hash=program_hash(text), clm=_CLM_EXPRESSION, version=CONTRACT_VERSION,
                             mismatch=HASH_MISMATCH_MESSAGE, no_program=NO_PROGRAM_MESSAGE)


@lru_cache(maxsize=1)
def command_line() -> tuple[str, list[str]]:
    """(command, arguments) to start the program; short and constant."""
    encoded = base64.b64encode(bootstrap_script().encode("utf-16-le")).decode("ascii")
    return POWERSHELL, [*POWERSHELL_ARGS, encoded]


class Secret:
    """A value that becomes a SecureString on the server (a PFX password).

    It holds where the value comes from, not the value: ``reveal()`` reads it only while the
    payload is encoded, so the text lives in the controller's memory no longer than that (and
    in the encoded standard input, which the transport sends over its encrypted channel). Its
    repr, str and JSON form for display never show it.
    """

    __slots__ = ("label", "_source")

    def __init__(self, label: str, source: Callable[[], str]):
        self.label = label  # where it comes from, e.g. "environment variable PFX_PASSWORD": safe to show
        self._source = source

    @classmethod
    def from_env(cls, name: str) -> "Secret":
        def read() -> str:
            import os

            value = os.environ.get(name)
            if value is None:
                raise SecretError(f"the environment variable {name} is not set")
            return value

        return cls(f"environment variable {name}", read)

    @classmethod
    def from_file(cls, path: str) -> "Secret":
        def read() -> str:
            from exconf.regularfile import SECRET_FILE_LIMIT, NotARegularFile, read_regular

            try:
                raw = read_regular(path, limit=SECRET_FILE_LIMIT, what="the secret file")
            except NotARegularFile as exc:
                raise SecretError(str(exc)) from None
            try:
                return raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise SecretError(f"the secret file {path} is not UTF-8 text") from None

        return cls(f"file {path}", read)

    @classmethod
    def from_value(cls, value: str, label: str = "a value given in memory") -> "Secret":
        """A value already in memory (typed at a prompt): kept until the Secret is dropped."""
        return cls(label, lambda: value)

    def reveal(self) -> str:
        value = self._source()
        if not isinstance(value, str):
            raise SecretError(f"the secret from {self.label} is not text")
        return value

    def __repr__(self) -> str:
        return f"Secret({self.label!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:  # by identity: comparing would reveal both
        return self is other

    __hash__ = object.__hash__


class SecretError(Exception):
    """A secret's source cannot be read (a variable not set, a file missing). Names the source only."""


@dataclass(frozen=True)
class OutputRef:
    """A property of the one object an earlier step of the same payload returned
    (Enable-ExchangeCertificate needs the Thumbprint that Import-ExchangeCertificate returned)."""

    step: str
    property: str

    def to_json(self) -> dict[str, str]:
        return {"exconf_ref": "Output", "step": self.step, "property": self.property}


@dataclass(frozen=True)
class FromOperation:
    """What a step of an earlier operation handed on: the file it wrote (``output_file``), the property it
    carries (``carry``), or what an operation run on the controller returned.

    The runner replaces it with that value, in memory, when it builds a later payload (an Edge Subscription
    file carried from the Edge to a Mailbox server, a request carried to an issuer); a plan file holds only
    this reference, and it never reaches the wire unresolved. ``part``: a part of that value, in words, that
    the operation's kind picks out when it resolves the operation (an ACME challenge's token).
    """

    operation: str
    step: str
    part: str = ""

    def to_json(self) -> dict[str, str]:
        doc = {"exconf_ref": "Operation", "operation": self.operation, "step": self.step}
        if self.part:
            doc["part"] = self.part
        return doc


REDACTED = "********"


def _wire_value(value: Any, reveal: bool) -> Any:
    """A parameter value in its JSON form: bytes, Secret and OutputRef become marker objects."""
    if isinstance(value, Secret):
        return {"exconf_secret": value.reveal() if reveal else REDACTED}
    if isinstance(value, (bytes, bytearray)):
        return {"exconf_bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (OutputRef, FromOperation)):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_wire_value(v, reveal) for v in value]
    return value


@dataclass(frozen=True)
class Step:
    """One cmdlet invocation. ``select`` names the properties to return.

    ``skip_on_edge`` makes the program answer ``not_applicable`` on an Edge
    Transport server instead of calling a cmdlet that does not exist there.
    ``always_run`` runs the step even after an earlier step failed under
    ``halt_on_error``: for the read-back of an apply, which changes nothing and
    tells what the failure left behind.
    ``output_file`` names a parameter (e.g. ``FileName`` of New-EdgeSubscription) that the
    program sets to a fresh temporary path; the bytes the cmdlet writes there come back in
    ``StepResult.file`` and the file is deleted. Params values may be ``bytes`` (a
    ``[byte[]]``), a :class:`Secret` (a SecureString) or an :class:`OutputRef`.
    ``web_file``: for Set-Content and Remove-Item only, the name of the file under the Default Web Site's
    ``/.well-known/acme-challenge/`` the step writes or removes (the program chooses the path).
    ``carry``: a property of the step's one output object that a later operation of the plan takes as a
    parameter (``FromOperation``): the runner keeps its value in memory (a request's FileData, a thumbprint).
    """

    id: str
    cmdlet: str
    params: dict[str, Any] = field(default_factory=dict)
    select: tuple[str, ...] = ()
    skip_on_edge: bool = False
    always_run: bool = False
    output_file: str | None = None
    web_file: Any = None  # a str on the wire; a FromOperation in a plan, resolved by the runner
    carry: str | None = None

    def to_json(self, *, reveal: bool = False) -> dict[str, Any]:
        """The step as JSON; secrets show as ``********`` unless ``reveal`` (only the encoder)."""
        params = {k: _wire_value(v, reveal) for k, v in self.params.items()}
        data: dict[str, Any] = {"id": self.id, "cmdlet": self.cmdlet, "params": params}
        if self.select:
            data["select"] = list(self.select)
        if self.skip_on_edge:
            data["skip_on_edge"] = True
        if self.always_run:
            data["always_run"] = True
        if self.output_file:
            data["output_file"] = self.output_file
        if self.web_file is not None:
            data["web_file"] = _wire_value(self.web_file, reveal)
        return data


def _check_steps(steps: list[Step]) -> None:
    """What the program would refuse, refused before anything is sent."""
    unknown = sorted({s.cmdlet for s in steps} - set(ALLOWED_CMDLETS))
    if unknown:
        raise ValueError(f"cmdlets not in the remote program's allowlist: {', '.join(unknown)}")
    seen: set[str] = set()
    for step in steps:
        if step.cmdlet == RESTART_SERVICE and (
            set(step.params) - {"Force"} != {"Name"} or step.params["Name"] not in RESTARTABLE_SERVICES or step.output_file
            or step.params.get("Force", True) is not True or step.web_file is not None
        ):
            raise ValueError(f"step {step.id!r}: {RESTART_SERVICE} runs only as -Name {' or '.join(RESTARTABLE_SERVICES)} [-Force]")
        if step.cmdlet == RESTART_APP_POOL and (set(step.params) != {"Name"} or step.params["Name"] not in RESTARTABLE_APP_POOLS
                                                or step.output_file or step.web_file is not None):
            raise ValueError(f"step {step.id!r}: {RESTART_APP_POOL} runs only as -Name {' or '.join(RESTARTABLE_APP_POOLS)}")
        if step.cmdlet in WEB_FILE_CMDLETS or step.web_file is not None:
            wanted = {"Value"} if step.cmdlet == "Set-Content" else set()
            if (step.cmdlet not in WEB_FILE_CMDLETS or not isinstance(step.web_file, str) or not WEB_FILE_NAME.fullmatch(step.web_file)
                    or set(step.params) != wanted or step.output_file
                    or (wanted and not (isinstance(step.params["Value"], str) and WEB_FILE_VALUE.fullmatch(step.params["Value"])))):
                raise ValueError(f"step {step.id!r}: {step.cmdlet} runs only on a file of /.well-known/acme-challenge/ named by "
                                 "web_file (an ACME token), Set-Content with -Value (a key authorization) alone")
        for name, value in step.params.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, FromOperation):
                    raise ValueError(f"step {step.id!r}: parameter {name!r} refers to the output of operation "
                                     f"{item.operation!r}, which the runner did not resolve")
                if isinstance(item, OutputRef) and item.step not in seen:
                    raise ValueError(f"step {step.id!r}: parameter {name!r} refers to step {item.step!r}, "
                                     "which is not an earlier step of the same payload")
        if step.output_file and step.output_file in step.params:
            raise ValueError(f"step {step.id!r}: output_file {step.output_file!r} is also among its params")
        seen.add(step.id)


validate_steps = _check_steps  # the same checks, for an executor that sends steps another way (psrp_executor.py)


def encode_payload(steps: list[Step], *, halt_on_error: bool = True) -> str:
    """The payload JSON (ASCII only) for a list of steps; the only place secrets are revealed."""
    _check_steps(steps)
    doc = {"exconf": CONTRACT_VERSION, "halt_on_error": halt_on_error,
           "steps": [s.to_json(reveal=True) for s in steps]}
    return json.dumps(doc, ensure_ascii=True, separators=(",", ":"))


def frame_program(program: str) -> str:
    """The start of standard input: the program's base64 line, then the separator line."""
    encoded = base64.b64encode(program.encode("ascii")).decode("ascii")
    return f"{encoded}\r\n{SEPARATOR}\r\n"


def frame_payload(payload: str) -> str:
    """One payload on standard input: its own line (encode_payload's JSON holds no line break)."""
    return f"{payload}\r\n"


def frame_stdin(program: str, payload: str) -> str:
    """Standard input from a program text and one payload: base64 line, NUL line, payload line."""
    return frame_program(program) + frame_payload(payload)


def encode_stdin(steps: list[Step], *, halt_on_error: bool = True) -> bytes:
    """What goes on standard input of a new process (all ASCII): the program, the separator line, the payload."""
    return frame_stdin(program_text(), encode_payload(steps, halt_on_error=halt_on_error)).encode("ascii")


def split_stdin(stdin: bytes) -> tuple[bytes, bytes]:
    """(program part up to and including the separator line, the payload lines after it).

    A transport that keeps the process running sends the program part once, when it starts the
    process, and only the payload part afterwards. Without a separator line it is all program part.
    """
    marker = b"\n" + SEPARATOR.encode("ascii")
    at = stdin.find(marker)
    if at < 0:
        return stdin, b""
    end = stdin.find(b"\n", at + len(marker))
    end = len(stdin) if end < 0 else end + 1
    return stdin[:end], stdin[end:]


def split_answer(output: bytes) -> tuple[bytes, bytes] | None:
    """(one answer with its ANSWER_END, what follows it) once ``output`` holds a whole answer, else None."""
    at = output.find(ANSWER_END_BYTES)
    if at < 0:
        return None
    end = at + len(ANSWER_END_BYTES)
    return output[:end], output[end:]


# --- the answer --------------------------------------------------------------

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_NOT_RUN = "not_run"  # an earlier step failed and halt_on_error was set
STATUS_NOT_APPLICABLE = "not_applicable"  # skip_on_edge on an Edge server


@dataclass(frozen=True)
class StepError:
    message: str
    error_id: str = ""  # PowerShell FullyQualifiedErrorId
    category: str = ""  # ErrorCategory name
    exception: str = ""  # exception type name


@dataclass(frozen=True)
class StepResult:
    id: str
    status: str
    objects: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    error: StepError | None = None
    file: bytes | None = None  # what the cmdlet wrote to the step's output_file

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


@dataclass(frozen=True)
class Answer:
    computer: str
    edge: bool
    results: dict[str, StepResult]
    utc_now: str | None = None  # the server's clock ("yyyy-MM-ddTHH:mm:ssZ") when it answered; None if not said

    def result(self, step_id: str) -> StepResult:
        try:
            return self.results[step_id]
        except KeyError:
            raise ContractError(f"the answer has no result for step {step_id!r}") from None


class RemoteFatal(Exception):
    """The program could not run at all (snap-in missing, hash mismatch, …)."""


# Objects and lists an answer may hold. The transport bounds an answer's bytes (8 MiB), but 8 MiB of
# "{}," parse into 2.8 million dicts (over 400 MB); a host's read answer holds hundreds, drift's 1,000
# audit-log entries about ten thousand.
MAX_ANSWER_CONTAINERS = 200_000


def decode_answer(stdout: bytes, stderr: bytes = b"", exit_code: int = 0) -> Answer:
    """Parse the program's standard output; raise RemoteFatal or ContractError."""
    containers = stdout.count(b"{") + stdout.count(b"[")
    if containers > MAX_ANSWER_CONTAINERS:
        raise ContractError(f"the remote program's answer holds {containers:,} objects and lists, more than the "
                            f"{MAX_ANSWER_CONTAINERS:,} an answer may have; it was not read")
    text = stdout.decode("ascii", errors="replace").replace(ANSWER_END, "\n").strip()
    if not text:
        detail = stderr.decode("utf-8", errors="replace").strip()
        raise ContractError(f"the remote program printed nothing (exit code {exit_code})" + (f": {detail[:500]}" if detail else ""))
    try:
        doc = json.loads(text.splitlines()[-1])
    except json.JSONDecodeError as exc:
        raise ContractError(f"the remote program's answer is not JSON: {text[:200]!r}") from exc
    if not isinstance(doc, dict) or doc.get("exconf") != CONTRACT_VERSION:
        raise ContractError(f"the remote program's answer is not an exconf v{CONTRACT_VERSION} answer")
    if "fatal" in doc:
        raise RemoteFatal(str(doc["fatal"].get("message", "unknown fatal error")))
    results: dict[str, StepResult] = {}
    for raw in doc.get("results", []):
        err = raw.get("error")
        try:
            objects = tuple({k: _answer_value(v) for k, v in o.items()} for o in raw.get("objects") or ())
            file = base64.b64decode(raw["file"], validate=True) if raw.get("file") is not None else None
        except (AttributeError, TypeError, ValueError) as exc:
            raise ContractError(f"the remote program's answer for step {raw.get('id')!r} is malformed ({exc})") from None
        results[raw["id"]] = StepResult(
            id=raw["id"],
            status=raw["status"],
            objects=objects,
            file=file,
            warnings=tuple(raw.get("warnings") or ()),
            error=StepError(
                message=err.get("message", ""),
                error_id=err.get("error_id", ""),
                category=err.get("category", ""),
                exception=err.get("exception", ""),
            )
            if err
            else None,
        )
    now = doc.get("utc_now")
    return Answer(computer=str(doc.get("computer", "")), edge=bool(doc.get("edge", False)), results=results,
                  utc_now=now if isinstance(now, str) else None)


def _answer_value(value: Any) -> Any:
    """A property value of the answer; a byte array ({"exconf_bytes": base64}) becomes bytes."""
    if isinstance(value, dict) and set(value) == {"exconf_bytes"}:
        return base64.b64decode(value["exconf_bytes"], validate=True)
    return value


def encode_answer(computer: str, edge: bool, results: list[dict[str, Any]], utc_now: str | None = None) -> str:
    """The answer document as the program writes it (used by the lab)."""
    doc: dict[str, Any] = {"exconf": CONTRACT_VERSION, "computer": computer, "edge": edge}
    if utc_now is not None:
        doc["utc_now"] = utc_now
    doc["results"] = results
    return json.dumps(doc, ensure_ascii=True, separators=(",", ":"))


def frame_answer(answer: str) -> str:
    """An answer as the program writes it: the JSON line, then ANSWER_END (used by the lab)."""
    return answer + ANSWER_END


def encode_fatal(message: str) -> str:
    return json.dumps({"exconf": CONTRACT_VERSION, "fatal": {"message": message}}, ensure_ascii=True, separators=(",", ":"))
