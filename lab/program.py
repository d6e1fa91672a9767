"""Running exconf's remote program inside a simulated WinRS command.

A lab server can run exactly one thing: the command line of the remote contract
(``exconf.remote.command_line()``), whose bootstrap refuses a Constrained Language
Mode session, reads standard input line by line through ``$input`` as the lines
arrive, up to a line of four NULs (as Ansible's bootstrap_wrapper.ps1 does), checks
the program's SHA-256 once and then runs it for each later line, a payload, in the
same process, writing each answer and its end as soon as it is made, until standard
input ends (``run_process``; ``run_command`` is the same with all of standard input
given at once, an SSH exec channel's way). The lab does what that program
(engine/remote/exconf.ps1) does, step by step, against the simulated
organisation: allowlist, the marker objects (computer name, an earlier step's
output, byte arrays, secrets), ``output_file``, an Import-ExchangeCertificate step done as the
program's Import-Pfx does it (.NET into the server's store, then Get-ExchangeCertificate -Thumbprint:
no PFX byte in the module log), ``skip_on_edge``,
``halt_on_error``, ``always_run``, ``select``, warnings, error records and the
value rules of docs/remote-contract.md. Anything else fails as Windows would:
cmd.exe does not know a program, and this PowerShell refuses scripts it cannot run.

The console code page matters at both ends, as on Windows: powershell.exe decodes
redirected standard input with it before it feeds the lines to ``$input``, and the
answer is encoded with it ([Console]::Out).
"""

from __future__ import annotations

import datetime as dt

import base64
import binascii
import hashlib
import json
import ntpath
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from exconf import remote

from .exchange.certificates import StoreImportError
from .exchange.cmdlets import Outcome
from .exchange.errors import CmdletError
from .exchange.orgfile import python_codec
from .exchange.secure import SecureString
from .exchange.serialize import select
from .exchange.spec import ServerSpec
from .winrm.shell import split_arguments

POWERSHELL_NAMES = ("powershell.exe", "powershell")
# What the bootstrap itself prints (exconf.remote._BOOTSTRAP): no answer end, the process exits at once.
NO_PROGRAM = remote.encode_fatal(remote.NO_PROGRAM_MESSAGE)
HASH_MISMATCH = remote.encode_fatal(remote.HASH_MISMATCH_MESSAGE)
NOT_EXCONF = (
    "exconf lab: this simulated server runs only exconf's remote program ({command}); it cannot run other "
    "PowerShell commands or scripts.\r\n"
)
# The program's own texts (engine/remote/exconf.ps1).
RESERVED_PARAMETERS = (
    "ErrorAction", "WarningAction", "InformationAction", "ErrorVariable", "WarningVariable", "InformationVariable",
    "OutVariable", "OutBuffer", "PipelineVariable", "Verbose", "Debug", "UseTransaction", "ea", "wa", "infa", "ev",
    "wv", "iv", "ov", "ob", "pv", "vb", "db", "usetx",
)
_GET_COMMAND = "Microsoft.PowerShell.Commands.GetCommandCommand"
# Where the program puts an output_file: [IO.Path]::GetTempPath() of the WinRM user's profile.
TEMP_DIRECTORY = "C:\\Users\\exadmin\\AppData\\Local\\Temp\\"
# The program's Read-Json refuses deeper nesting (engine/remote/exconf.ps1).
MAX_JSON_DEPTH = 64
# What the program loads: Exchange's snap-in on a Mailbox server; on an Edge, the snap-ins its
# exshell.psc1 lists, which the lab takes to be E2010's, what Microsoft's own collector adds for a
# local runspace (cmdlets.md 1b). %ExchangeInstallPath% of a default installation.
EXCHANGE_INSTALL_PATH = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"
MAILBOX_SNAPIN = "Microsoft.Exchange.Management.PowerShell.SnapIn"
EDGE_SNAPINS = ("Microsoft.Exchange.Management.PowerShell.E2010",)
EDGE_ROLE_KEY = "HKLM:\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\EdgeTransportRole"
# An Import-ExchangeCertificate step is done by the program's Import-Pfx, never bound (engine/remote/exconf.ps1).
IMPORT_CERTIFICATE = "Import-ExchangeCertificate"
PFX_PARAMETERS = {"filedata", "password", "privatekeyexportable", "friendlyname", "server"}
PFX_REFUSED = ("Import-ExchangeCertificate runs in an exconf step only as -FileData <PFX> -Password <SecureString> "
               "[-PrivateKeyExportable <bool>] [-FriendlyName <string>] [-Server <this server>].")


@dataclass(frozen=True)
class CommandResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


class LabStore(Protocol):
    """What a process on a lab server asks of the organisation (exconf.lab.exchange.store.LabStore, which
    starts the process: declared here so that the program does not import the store back)."""

    def one_save(self) -> AbstractContextManager[None]: ...

    def clock_now(self) -> dt.datetime: ...

    def module_log(self, server: ServerSpec, command: str, parameters: list[tuple[str, Any]]) -> None: ...

    def invoke(self, spec: ServerSpec, cmdlet: str, named: list[tuple[str, Any]], positional: Sequence[Any] = (),
               *, remote: bool, selected: frozenset[str] | None = None) -> Outcome: ...

    def import_pfx(self, spec: ServerSpec, data: bytes, password: str, exportable: bool, friendly_name: str | None) -> str: ...


class LineSource(Protocol):
    """A process's redirected standard input as powershell.exe's host reads it (TextReader.ReadLine)."""

    def readline(self) -> bytes | None:
        """The next line without its end (CR LF, LF or CR), waiting for it to arrive; None at end of input."""
        ...


class BytesLines:
    """All of standard input given at once (an SSH exec channel closed after its input, a test)."""

    def __init__(self, data: bytes):
        self._lines = iter(input_lines_bytes(data))

    def readline(self) -> bytes | None:
        return next(self._lines, None)


def input_lines_bytes(data: bytes) -> list[bytes]:
    """Bytes split as TextReader.ReadLine splits (CR LF, CR or LF; no empty last line)."""
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def run_command(store: "LabStore", server: ServerSpec, command: str, arguments: list[str], stdin: bytes,
                codepage: int) -> CommandResult:
    """A process given all of its standard input at once: everything it wrote, once it has exited."""
    out: list[bytes] = []
    err: list[bytes] = []
    code = run_process(store, server, command, arguments, BytesLines(stdin), out.append, err.append, codepage)
    return CommandResult(b"".join(out), b"".join(err), code)


def run_process(store: "LabStore", server: ServerSpec, command: str, arguments: list[str], stdin: LineSource,
                stdout: Callable[[bytes], None], stderr: Callable[[bytes], None], codepage: int) -> int:
    """One process on a lab server: reads standard input as it arrives, writes as it goes; the exit code."""
    try:
        codec = python_codec(codepage)
        "".encode(codec)
    except LookupError:
        stderr(f"exconf lab: code page {codepage} is not supported\r\n".encode("ascii"))
        return 1
    # A client may send the whole line as the command: split it as the process would.
    tokens = split_arguments(" ".join([command, *arguments]))
    if not tokens:
        return 0
    if ntpath.basename(tokens[0]).lower() not in POWERSHELL_NAMES:
        # cmd.exe's answer for a program it cannot find
        text = f"'{tokens[0]}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
        stderr(_encode(text, codec))
        return 1
    if not is_exconf_invocation(tokens[1:]):
        shown = " ".join([remote.POWERSHELL, *remote.POWERSHELL_ARGS, "<bootstrap>"])
        stderr(_encode(NOT_EXCONF.format(command=shown), codec))
        return 1

    def lines() -> Iterator[str]:  # powershell.exe decodes each line with the console's code page
        while (line := stdin.readline()) is not None:
            yield decode_console(line, codepage)

    return run_bootstrap_lines(store, server, lines(), lambda text: stdout(_encode(text, codec)))


def is_exconf_invocation(args: list[str]) -> bool:
    """The contract's arguments exactly (names case-insensitive, as PowerShell reads them)."""
    expected = remote.POWERSHELL_ARGS
    if len(args) != len(expected) + 1:
        return False
    if any(a.lower() != e.lower() for a, e in zip(args, expected)):
        return False
    try:
        bootstrap = base64.b64decode(args[-1], validate=True).decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return bootstrap == remote.bootstrap_script()


def decode_console(data: bytes, codepage: int) -> str:
    """Bytes read through a Windows console of this code page."""
    codec = python_codec(codepage)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        if codec.startswith("cp"):  # single-byte pages map undefined bytes to the same code point
            return "".join(data[i:i + 1].decode(codec, errors="ignore") or chr(data[i]) for i in range(len(data)))
        return data.decode(codec, errors="replace")


def _encode(text: str, codec: str) -> bytes:
    return text.encode(codec, errors="replace")


# --- the bootstrap and the program ------------------------------------------------------------------


def input_lines(text: str) -> list[str]:
    """The strings powershell.exe feeds to ``$input`` from redirected standard input: one per
    line, split as TextReader.ReadLine splits (CR LF, CR or LF; no empty last line)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def clm_answer(server: ServerSpec, mode: str = "ConstrainedLanguage") -> str:
    """The bootstrap's plain pipeline output in a CLM session; the console host ends it with CR LF."""
    message = remote.CLM_MESSAGE.format(computer=server.computer_name, mode=mode)
    return '{"exconf":%d,"fatal":{"message":"%s"}}\r\n' % (remote.CONTRACT_VERSION, message)


def run_bootstrap(store: "LabStore", server: ServerSpec, text: str) -> tuple[str, int]:
    """The bootstrap given all of standard input at once: everything it wrote, and the exit code."""
    out: list[str] = []
    code = run_bootstrap_lines(store, server, iter(input_lines(text)), out.append)
    return "".join(out), code


def run_bootstrap_lines(store: "LabStore", server: ServerSpec, lines: Iterator[str], write: Callable[[str], None]) -> int:
    """What the one-line bootstrap does with standard input as its lines arrive, then what the program does
    with each payload line: ``foreach($x in $input)`` takes each line when it has arrived (exconf.remote._BOOTSTRAP)."""
    if getattr(server.faults, "constrained_language", False):  # an AppLocker/WDAC-locked host
        write(clm_answer(server))
        return 1
    program_lines: list[str] = []
    loaded = False  # the Exchange snap-in, once the program has loaded it in this process
    checked = False
    for line in lines:
        if checked:  # if($s){& $s $x}: one run of the program per payload line
            answer, code = run_program(store, server, line, loaded=loaded)
            write(answer)
            if code:
                return code  # Exit-Fatal: exit 1
            loaded = True
        elif line == remote.SEPARATOR:
            try:  # [Convert]::FromBase64String ignores white space; anything else fails (then no bytes)
                program = base64.b64decode(re.sub(r"[ \t]", "", "".join(program_lines)), validate=True)
            except (binascii.Error, ValueError):
                program = b""
            if hashlib.sha256(program).hexdigest().upper() != remote.program_hash():
                write(HASH_MISMATCH)
                return 1
            checked = True
        else:
            program_lines.append(line)
    if not checked:
        write(NO_PROGRAM)
        return 1
    return 0  # end of standard input: the foreach ends, and so does the process


def run_program(store: "LabStore", server: ServerSpec, payload_json: str, *, loaded: bool = False) -> tuple[str, int]:
    """engine/remote/exconf.ps1 on a simulated server, for one payload: the answer (the JSON line and its
    end, as Write-Answer writes them) and the exit code (1: Exit-Fatal ended the process).

    The commands the program runs are written to the server's module logging (event 4103), as
    Windows would write them: the program reads its payload with its own Read-Json, so the payload
    itself is never bound to a parameter; only the steps' cmdlets get the steps' values. ``loaded``:
    an earlier payload of the same process loaded the Exchange snap-in, so it is not loaded again.
    """
    if _json_depth(payload_json) > MAX_JSON_DEPTH + 1:
        return _fatal(f"The payload is not valid JSON: The JSON nests deeper than {MAX_JSON_DEPTH} levels."), 1
    try:
        payload = json.loads(payload_json)
    except (json.JSONDecodeError, RecursionError) as exc:
        return _fatal(f"The payload is not valid JSON: {exc}"), 1
    version = payload.get("exconf") if isinstance(payload, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or version != remote.CONTRACT_VERSION:
        return _fatal(
            f"Unsupported payload version '{_ps_string(version)}': this program speaks exconf version "
            f"{remote.CONTRACT_VERSION}."
        ), 1
    _log_prologue(store, server, loaded)
    halt = _ps_ne_false(payload.get("halt_on_error"))  # absent means true
    steps = payload.get("steps")
    steps = [] if steps is None else steps if isinstance(steps, list) else [steps]
    with store.one_save():
        results = _run_steps(store, server, steps, halt)
        # [DateTime]::UtcNow on the simulated server: the lab clock.
        now = store.clock_now().astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return remote.frame_answer(remote.encode_answer(server.computer_name, server.is_edge, results, now)), 0


def _fatal(message: str) -> str:
    """The program's Exit-Fatal: an answer written with Write-Answer (so with its end), then exit 1."""
    return remote.frame_answer(remote.encode_fatal(message))


def _run_steps(store: "LabStore", server: ServerSpec, steps: list[Any], halt: bool) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    outputs: dict[str, list[dict[str, Any]]] = {}  # the objects of each successful step, by id
    failed = False
    for step in steps:
        step = step if isinstance(step, dict) else {}
        sid = _ps_string(step.get("id"))
        if halt and failed and not _ps_eq_true(step.get("always_run")):  # a read-back runs even then
            result: dict[str, Any] = {"id": sid, "status": "not_run"}
        elif server.is_edge and _ps_eq_true(step.get("skip_on_edge")):
            result = {"id": sid, "status": "not_applicable"}
        else:
            result = run_step(store, server, step, outputs)
        failed = failed or result["status"] == "error"
        results.append(result)
    return results


class _BadParameter(Exception):
    pass


def _log_prologue(store: "LabStore", server: ServerSpec, loaded: bool = False) -> None:
    """The commands the program runs before its steps: the Edge role test and the snap-in loading, which a
    later payload of the same process skips (Get-Command finds Get-ExchangeServer: snap-ins are the runspace's)."""
    store.module_log(server, "Test-Path", [("LiteralPath", EDGE_ROLE_KEY)])
    probe = [("Name", "Get-ExchangeServer"), ("CommandType", "Cmdlet"), ("ErrorAction", "SilentlyContinue")]
    store.module_log(server, "Get-Command", probe)
    if loaded:
        return
    if server.is_edge:
        store.module_log(server, "Join-Path", [("Path", EXCHANGE_INSTALL_PATH), ("ChildPath", "Bin\\exshell.psc1")])
        for snapin in EDGE_SNAPINS:
            store.module_log(server, "Get-PSSnapin", [("Name", snapin), ("ErrorAction", "SilentlyContinue")])
            store.module_log(server, "Add-PSSnapin", [("Name", snapin)])
    else:
        store.module_log(server, "Add-PSSnapin", [("Name", MAILBOX_SNAPIN)])
    store.module_log(server, "Get-Command", probe)


def _json_depth(text: str) -> int:
    """How deep arrays and objects nest in a JSON text (outside strings), as Read-Json counts."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def run_step(store: "LabStore", server: ServerSpec, step: dict[str, Any],
             outputs: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"id": _ps_string(step.get("id")), "status": "error"}
    name = step.get("cmdlet")
    if not (isinstance(name, str) and name in remote.ALLOWED_CMDLETS):  # -ccontains: case-sensitive
        result["error"] = _error(
            f"The cmdlet '{_ps_string(name)}' is not in exconf's allowlist.", "ExconfCmdletNotAllowed",
            "PermissionDenied", "UnauthorizedAccessException",
        )
        return result
    outputs = {} if outputs is None else outputs
    output_path = None
    pfx = False
    try:
        named = step_arguments(step.get("params"), server, outputs)
        given = {key.lower(): value for key, value in named}
        if name == remote.RESTART_SERVICE and not (
            (len(named) == 1 or (len(named) == 2 and given.get("force") is True))
            and isinstance(given.get("name"), str) and given["name"].lower() in {n.lower() for n in remote.RESTARTABLE_SERVICES}
            and step.get("output_file") is None and step.get("web_file") is None
        ):
            raise _BadParameter("Restart-Service runs only as -Name ADAM_MSExchange or MSExchangeServiceHost [-Force] in an exconf step.")
        if name == remote.RESTART_APP_POOL and not (
            len(named) == 1 and isinstance(given.get("name"), str)
            and given["name"].lower() in {n.lower() for n in remote.RESTARTABLE_APP_POOLS}
            and step.get("output_file") is None and step.get("web_file") is None
        ):
            raise _BadParameter("Restart-WebAppPool runs only as -Name MSExchangeOWAAppPool or MSExchangeECPAppPool in an exconf step.")
        if name in remote.WEB_FILE_CMDLETS or step.get("web_file") is not None:
            named = _web_file(store, server, name, step, named, given)
        if step.get("output_file") is not None:
            parameter = _ps_string(step["output_file"])
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", parameter) or parameter.lower() in given:
                raise _BadParameter(f"The output_file '{parameter}' is not a parameter name the step leaves free.")
            # .xml, as the program names it: New-EdgeSubscription refuses other extensions
            leaf = f"exconf-{uuid.uuid4().hex}.xml"
            store.module_log(server, "Join-Path", [("Path", TEMP_DIRECTORY), ("ChildPath", leaf)])
            output_path = f"{TEMP_DIRECTORY}{leaf}"
            named.append((parameter, output_path))
        # the program's Test-CertificateChain: a completion (a CA's chain) runs as the cmdlet; a PFX is imported
        pfx = name == IMPORT_CERTIFICATE and not _is_chain(named, server)
        if pfx:
            _check_pfx_arguments(named, server)
    except _BadParameter as exc:
        result["error"] = _error(str(exc), "ExconfBadParameter", "InvalidArgument", "ArgumentException")
        return result
    if pfx:  # Import-Pfx: .NET method calls, which module logging does not record
        given = {key.lower(): value for key, value in named}
        try:
            thumb = store.import_pfx(server, given["filedata"], given["password"].reveal(),
                                     bool(given.get("privatekeyexportable")), given.get("friendlyname"))
        except StoreImportError as exc:
            result["error"] = _error(exc.message, exc.exception, "InvalidOperation", exc.exception)
            return result
        name, named = "Get-ExchangeCertificate", [("Thumbprint", thumb), ("Server", server.computer_name)]
    store.module_log(server, "Get-Command", [("Name", name), ("CommandType", "Cmdlet"), ("ErrorAction", "Stop")])
    store.module_log(server, "Select-Object", [("First", 1), ("InputObject", name)])
    store.module_log(server, name, [*named, ("ErrorAction", "Stop"), ("WarningAction", "SilentlyContinue"),
                                    ("WarningVariable", "stepWarnings")])
    wanted = step.get("select")
    names = [] if wanted is None else [_ps_string(n) for n in (wanted if isinstance(wanted, list) else [wanted])]
    try:
        # What the step selects is all that is read of each object (names "A.B" read property A).
        outcome = store.invoke(server, name, named, remote=True, selected=frozenset(n.split(".", 1)[0].lower() for n in names))
    except CmdletError as exc:
        if name == "Remove-Item" and exc.exception == "ItemNotFoundException":  # the program's Test-Path: already gone
            outputs[_ps_string(step.get("id"))] = []
            result.update(status="ok", objects=[], warnings=[])
            return result
        error = exc.as_contract()
        if exc.exception == "CommandNotFoundException":  # the program resolves the cmdlet with Get-Command
            error["error_id"] = f"CommandNotFoundException,{_GET_COMMAND}"
        result["error"] = error
        return result
    result.update(
        status="ok",
        objects=[_select(obj, names) for obj in outcome.objects] if names else [],
        warnings=list(outcome.warnings),
    )
    if output_path is not None:  # the program reads the file back, then deletes it
        written = getattr(outcome, "files", {}).get(output_path)
        result["file"] = None if written is None else base64.b64encode(written).decode("ascii")
    outputs[_ps_string(step.get("id"))] = list(outcome.objects)
    return result


# What the program writes beside a challenge file (exconf.ps1 $challengeWebConfig), and where: the web root IIS
# setup records (HKLM:\SOFTWARE\Microsoft\InetStp PathWWWRoot, %SystemDrive%\inetpub\wwwroot).
CHALLENGE_WEB_CONFIG = ('<?xml version="1.0" encoding="UTF-8"?><configuration><system.webServer><staticContent><clear />'
                        '<mimeMap fileExtension="." mimeType="text/plain" /></staticContent><handlers><clear /><add name="StaticFile" '
                        'path="*" verb="*" modules="StaticFileModule" resourceType="Either" requireAccess="Read" /></handlers>'
                        '</system.webServer></configuration>')
CHALLENGE_FOLDER = "C:\\inetpub\\wwwroot\\.well-known\\acme-challenge\\"


def _web_file(store: "LabStore", server: ServerSpec, name: str, step: dict[str, Any], named: list[tuple[str, Any]],
              given: dict[str, Any]) -> list[tuple[str, Any]]:
    """The program's checks of a web_file step, and the arguments it then passes (its path chosen by the program)."""
    token = step.get("web_file")
    value_ok = not named
    if name == "Set-Content":
        value_ok = len(named) == 1 and isinstance(given.get("value"), str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,1024}", given["value"]) is not None
    if not (name in remote.WEB_FILE_CMDLETS and isinstance(token, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,255}", token)
            and value_ok and step.get("output_file") is None):
        raise _BadParameter("Set-Content and Remove-Item run only on an ACME challenge file named by web_file, Set-Content with -Value alone.")
    path = CHALLENGE_FOLDER + token
    if name == "Set-Content":
        # New-Item -ItemType Directory -Force, then the web.config when it is missing (the lab's files have no folders)
        store.invoke(server, "Set-Content", [("LiteralPath", CHALLENGE_FOLDER + "web.config"), ("Value", CHALLENGE_WEB_CONFIG),
                                             ("Encoding", "UTF8")], remote=True)
        return [*named, ("NoNewline", True), ("Encoding", "ASCII"), ("LiteralPath", path)]
    return [("LiteralPath", path)]


# DER PKCS#7 signedData after the outer SEQUENCE: a CA's chain completing a pending request (exconf.ps1's
# Test-CertificateChain); such a step runs Import-ExchangeCertificate itself, bound as any step.
SIGNED_DATA_OID = bytes((0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02))


def _is_chain(named: list[tuple[str, Any]], server: ServerSpec) -> bool:
    given = {key.lower(): value for key, value in named}
    data = given.get("filedata")
    if not isinstance(data, bytes) or len(data) < 16 or data[0] != 0x30:
        return False
    at = 2 + (data[1] & 0x7F if data[1] >= 0x80 else 0)
    server_name = given.get("server")
    return (data[at:at + len(SIGNED_DATA_OID)] == SIGNED_DATA_OID and set(given) <= {"filedata", "server"}
            and (server_name is None or (isinstance(server_name, str) and server_name.lower() == server.computer_name.lower())))


def _check_pfx_arguments(named: list[tuple[str, Any]], server: ServerSpec) -> None:
    """Assert-PfxArguments of the program: a PFX step is -FileData <byte[]> -Password <SecureString>
    [-PrivateKeyExportable <bool>] [-FriendlyName <string>] [-Server <this server>], names whole (-contains)."""
    given = {key.lower(): value for key, value in named}
    server_name = given.get("server")
    ok = (set(given) <= PFX_PARAMETERS and isinstance(given.get("filedata"), bytes)
          and isinstance(given.get("password"), SecureString)
          and (given.get("privatekeyexportable") is None or isinstance(given["privatekeyexportable"], bool))
          and (given.get("friendlyname") is None or isinstance(given["friendlyname"], str))
          and (server_name is None or (isinstance(server_name, str) and server_name.lower() == server.computer_name.lower())))
    if not ok:
        raise _BadParameter(PFX_REFUSED)


def _select(obj: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The program's select: a name "A.B" reads property B of property A (case-insensitive)."""
    row = select(obj, [n for n in names if "." not in n])
    for name in names:
        if "." not in name:
            continue
        current: Any = obj
        for part in name.split("."):
            if isinstance(current, dict):
                lower = {k.lower(): k for k in current}
                current = current[lower[part.lower()]] if part.lower() in lower else _MISSING
            else:
                current = getattr(current, part, _MISSING) if current is not None and part else _MISSING
            if current is _MISSING:
                break
        if current is not _MISSING:
            row[name] = select({name: current}, [name])[name]
    return {n: row[n] for n in names if n in row}


_MISSING = object()


def step_arguments(params: Any, server: ServerSpec,
                   outputs: dict[str, list[dict[str, Any]]] | None = None) -> list[tuple[str, Any]]:
    """ConvertTo-Argument over the step's params; the splatted hashtable has case-insensitive keys."""
    if params is None:
        return []
    if not isinstance(params, dict):
        raise _BadParameter("The params of the step are not a JSON object.")
    args: dict[str, tuple[str, Any]] = {}
    for key, value in params.items():
        refused = not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key) or any(
            r.lower().startswith(key.lower()) for r in RESERVED_PARAMETERS
        )
        if refused:
            raise _BadParameter(f"The parameter name '{key}' is not allowed in an exconf step.")
        first = args.get(key.lower(), (key, None))[0]
        args[key.lower()] = (first, _argument(value, key, server, {} if outputs is None else outputs))
    return list(args.values())


def _argument(value: Any, name: str, server: ServerSpec, outputs: dict[str, list[dict[str, Any]]],
              in_array: bool = False) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        keys = list(value)  # ConvertFrom-Json keeps the members in document order
        first = value[keys[0]] if keys else None
        if value == remote.LOCAL_SERVER:  # {"exconf_ref": "ComputerName"}, compared case-sensitively
            return server.computer_name
        if (keys == ["exconf_ref", "step", "property"] and first == "Output"
                and isinstance(value["step"], str) and isinstance(value["property"], str)):
            return _output_reference(name, value["step"], value["property"], outputs)
        if keys == ["exconf_bytes"] and isinstance(first, str) and not in_array:
            try:  # [Convert]::FromBase64String
                return base64.b64decode(re.sub(r"\s", "", first), validate=True)
            except (binascii.Error, ValueError):
                raise _BadParameter(f"The value of parameter '{name}' is not valid base64.") from None
        if keys == ["exconf_secret"] and isinstance(first, str) and not in_array:
            return SecureString(first)
    elif isinstance(value, list):
        if not value:
            return None  # an empty array clears a multi-valued property
        items = []
        for item in value:
            if isinstance(item, list):
                raise _BadParameter(f"The value of parameter '{name}' nests an array in an array.")
            items.append(_argument(item, name, server, outputs, True))
        return items
    raise _BadParameter(
        f"The value of parameter '{name}' is not a string, number, boolean, null, array or one of the contract's "
        "marker objects."
    )


def _output_reference(name: str, source: str, prop: str, outputs: dict[str, list[dict[str, Any]]]) -> Any:
    if source not in outputs:
        raise _BadParameter(
            f"Parameter '{name}' refers to the output of step '{source}', which has not run successfully before this step."
        )
    objects = outputs[source]
    if len(objects) != 1:
        raise _BadParameter(
            f"Parameter '{name}' refers to the output of step '{source}', which returned {len(objects)} objects "
            "instead of one."
        )
    lower = {k.lower(): k for k in objects[0]}  # PSObject.Properties[...] is case-insensitive
    if prop.lower() not in lower:
        raise _BadParameter(
            f"Parameter '{name}' refers to property '{prop}' of step '{source}', whose output has no such property."
        )
    return objects[0][lower[prop.lower()]]


def _error(message: str, error_id: str, category: str, exception: str) -> dict[str, str]:
    return {"message": message, "error_id": error_id, "category": category, "exception": exception}


# --- PowerShell's loose comparisons, as the program uses them -------------------------------------------


def _ps_string(value: Any) -> str:
    """[string]$value / "$value"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return " ".join(_ps_string(v) for v in value)
    return str(value)


def _ps_ne_false(value: Any) -> bool:
    """``$value -ne $false`` (the right side converts to the left side's type)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.lower() != "false"
    return True


def _ps_eq_true(value: Any) -> bool:
    """``$value -eq $true``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    if isinstance(value, str):
        return value.lower() == "true"
    return False
