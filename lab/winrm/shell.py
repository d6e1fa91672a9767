"""The WinRS shell resource (``…/windows/shell/cmd``): Create, Command, Send, Receive, Signal, Delete.

The process behind a command is the backend's ``run_process``, started in a worker thread when the
Command arrives, as WinRS starts it (MS-WSMV 3.1.4.11). It reads standard input as Sends deliver it,
a line at a time, waiting for more; ``Send … End="true"`` ends its input (MS-WSMV 3.1.4.13: the
End attribute marks the end of the stream). A Send to a command whose input has ended, or whose
process has exited, is refused. If the client never sent any input (pywinrm's ``run_cmd`` sends
none), the first Receive ends the input.

A Receive answers with whatever the process has written and the client has not received yet, as soon
as there is any (MS-WSMV 3.1.4.14, "collect output from a running command"): CommandState Running
while the process lives, Done with its exit code once it has exited and everything has been received.
If there is nothing new within the request's OperationTimeout, the Receive answers the TimedOut fault,
which clients retry. A finished command's output arrives in one Receive when it fits one envelope.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from . import soap
from .soap import WSManRequest, q
from .stats import ServerStats

if TYPE_CHECKING:
    from exconf.lab.exchange.spec import ServerSpec

log = logging.getLogger(__name__)

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
_RSP = soap.NS["rsp"]
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = f"{_RSP}/Command"
ACTION_SEND = f"{_RSP}/Send"
ACTION_RECEIVE = f"{_RSP}/Receive"
ACTION_SIGNAL = f"{_RSP}/Signal"
STATE_DONE = f"{_RSP}/CommandState/Done"

# Windows defaults (winrm get winrm/config): MaxTimeoutms = 60000, Winrs IdleTimeout = 7200000.
MAX_OPERATION_TIMEOUT = 60.0
DEFAULT_IDLE_TIMEOUT = 7200.0
# winrm/config/winrs MaxShellsPerUser: default 30 (MS-WSMV 2.2.4.42 WinrsType); the 31st
# Create of one user is refused with wsman:QuotaLimit (MS-WSMV 3.1.4.5.2.1).
MAX_SHELLS_PER_USER = 30
# cmd.exe refuses a longer command line with "The command line is too long."
# (Microsoft, "Command prompt (Cmd.exe) command-line string limitation": 8191
# characters; the pywinrm limit reported in pywinrm#184). WINRS_SKIP_CMD_SHELL
# starts the process directly, without cmd.exe and without this limit.
CMD_MAX_COMMAND_LINE = 8191
# Output is cut into stream elements of this many bytes, as Windows does.
STREAM_CHUNK = 32 * 1024
# A ReceiveResponse holds no more than the client's wsman:MaxEnvelopeSize, capped by the
# server's MaxEnvelopeSizekb (default 500, `winrm get winrm/config`; MS-WSMV 3.1.4.1.7: the
# client "expect[s] a response to be no larger than the given number of octets"): the rest of
# the output waits, with the command Running, for the next Receive.
MAX_ENVELOPE_SIZE = 500 * 1024
ENVELOPE_OVERHEAD = 4096  # the SOAP header, the CommandState and the End elements, with room to spare
STREAM_ELEMENT_OVERHEAD = 160  # <rsp:Stream Name="stdout" CommandId="…"></rsp:Stream>
STATE_RUNNING = f"{_RSP}/CommandState/Running"


class Backend(Protocol):
    """The process side of WinRS (exconf.lab.exchange.store.LabStore implements it)."""

    def run_process(self, server: Any, command: str, arguments: list[str], stdin: Any, stdout: Callable[[bytes], None],
                    stderr: Callable[[bytes], None], codepage: int, caller: str = "", logon: Any = None) -> int:
        """Run one process as ``caller`` (DOMAIN\\user, the shell's owner) with the shell's ``logon``
        (exconf.lab.winrm.auth.Logon: whether it can reach another server as the caller), reading
        ``stdin.readline()`` as input arrives and writing as it goes; returns the exit code."""
        ...


@dataclass
class Command:
    id: str
    command: str
    arguments: list[str]
    command_line: str
    skip_cmd_shell: bool
    stdin: bytearray = field(default_factory=bytearray)  # sent, not read by the process yet
    stdin_sent: bool = False
    stdin_ended: bool = False
    started: bool = False
    aborted: bool = False
    exited: bool = False
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    exit_code: int = 0
    sent: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})  # output already received
    changed: threading.Condition = field(default_factory=threading.Condition)  # input, output or exit

    @property
    def done(self) -> bool:
        """Exited (or ended by Signal/Delete)."""
        return self.exited or self.aborted

    def pending(self) -> bool:
        return self.sent["stdout"] < len(self.stdout) or self.sent["stderr"] < len(self.stderr)


class StdinLines:
    """A command's standard input as the process's TextReader.ReadLine reads it: a line when its end has
    arrived (CR LF, LF, or a CR not followed by LF), waiting for more; what is left at end of input is the last
    line; None once the input has ended (End="true") or the command was ended."""

    def __init__(self, cmd: Command):
        self._cmd = cmd

    def read(self) -> bytes:
        """Everything until the end of input (a process that reads its standard input to the end)."""
        cmd = self._cmd
        with cmd.changed:
            cmd.changed.wait_for(lambda: cmd.stdin_ended or cmd.aborted)
            data = bytes(cmd.stdin)
            cmd.stdin.clear()
            return data

    def readline(self) -> bytes | None:
        cmd = self._cmd
        with cmd.changed:
            while True:
                if cmd.aborted:
                    return None
                buffer = cmd.stdin
                ends = [i for i in (buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0]
                at = min(ends) if ends else -1
                if at >= 0 and (buffer[at] == 10 or at + 1 < len(buffer) or cmd.stdin_ended):
                    line = bytes(buffer[:at])
                    skip = 2 if buffer[at] == 13 and at + 1 < len(buffer) and buffer[at + 1] == 10 else 1
                    del buffer[:at + skip]
                    return line
                if cmd.stdin_ended:
                    if buffer:
                        line = bytes(buffer)
                        buffer.clear()
                        return line
                    return None
                cmd.changed.wait()


@dataclass
class Shell:
    id: str
    owner: str
    codepage: int
    idle_timeout: float
    commands: dict[str, Command] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    principal: str = ""  # the authenticated account as Windows names it (DOMAIN\\user): who runs its commands
    # The logon that created the shell: its processes run with that logon's token, so whether they can
    # reach Active Directory as the user (a delegated Kerberos ticket) is decided when the shell is made.
    logon: Any = None


class ShellResource:
    """All shells of one lab server."""

    def __init__(self, spec: "ServerSpec", backend: Backend, stats: ServerStats):
        self.spec = spec
        self.backend = backend
        self.stats = stats
        self._shells: dict[str, Shell] = {}
        self._lock = threading.Lock()

    # -- dispatch ------------------------------------------------------------------

    def handle(self, req: WSManRequest, principal: str, client_ip: str = "", logon: Any = None) -> tuple[str, list[ET.Element]]:
        """Run one WS-Man operation; returns (response action, body elements) or raises WSManFault."""
        if req.action == ACTION_CREATE:
            return self._create(req, principal, client_ip, logon)
        shell = self._shell(req, principal)
        shell.last_used = time.monotonic()
        if req.action == ACTION_DELETE:
            self._delete(shell)
            return ACTION_DELETE + "Response", []
        if req.action == ACTION_COMMAND:
            return self._command(req, shell)
        if req.action == ACTION_SEND:
            return self._send(req, shell)
        if req.action == ACTION_RECEIVE:
            return self._receive(req, shell)
        if req.action == ACTION_SIGNAL:
            return self._signal(req, shell)
        raise soap.action_not_supported_fault(req.action)

    def close(self) -> None:
        """Abort every shell (the listener is stopping); blocked Receives return at once."""
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            self._abort_commands(shell)

    # -- operations -------------------------------------------------------------------

    def _create(self, req: WSManRequest, principal: str, client_ip: str, logon: Any = None) -> tuple[str, list[ET.Element]]:
        codepage = self.spec.codepage
        raw_cp = req.options.get("WINRS_CODEPAGE", "")
        if raw_cp:
            try:
                codepage = int(raw_cp)
            except ValueError:
                raise soap.invalid_body_fault(f"WINRS_CODEPAGE {raw_cp!r} is not a number") from None
        idle = DEFAULT_IDLE_TIMEOUT
        if req.body is not None:
            idle_text = _child_text(req.body, "IdleTimeOut")
            if idle_text:
                idle = soap.parse_duration(idle_text) or DEFAULT_IDLE_TIMEOUT
        shell = Shell(id=str(uuid.uuid4()).upper(), owner=principal.lower(), codepage=codepage, idle_timeout=idle,
                      principal=principal, logon=logon)
        with self._lock:
            expired = self._expire_idle_locked()
            full = sum(1 for s in self._shells.values() if s.owner == shell.owner) >= MAX_SHELLS_PER_USER
            if not full:
                self._shells[shell.id] = shell
        for old in expired:  # WinRS ends an expired shell's processes with it
            self._abort_commands(old)
        if full:
            raise soap.max_shells_per_user_fault()
        self.stats.add(shells=1)

        created = ET.Element(q("x", "ResourceCreated"))
        address = req.to or f"http://{self.spec.address}:{self.spec.winrm.http_port}/wsman"
        ET.SubElement(created, q("a", "Address")).text = address
        ref = ET.SubElement(created, q("a", "ReferenceParameters"))
        ET.SubElement(ref, q("w", "ResourceURI")).text = SHELL_URI
        selectors = ET.SubElement(ref, q("w", "SelectorSet"))
        ET.SubElement(selectors, q("w", "Selector"), {"Name": "ShellId"}).text = shell.id
        # Windows (2012 and later) also describes the new shell in the body.
        info = ET.Element(q("rsp", "Shell"))
        ET.SubElement(info, q("rsp", "ShellId")).text = shell.id
        ET.SubElement(info, q("rsp", "ResourceUri")).text = SHELL_URI
        ET.SubElement(info, q("rsp", "Owner")).text = principal
        ET.SubElement(info, q("rsp", "ClientIP")).text = client_ip
        ET.SubElement(info, q("rsp", "IdleTimeOut")).text = f"PT{idle:.3f}S"
        ET.SubElement(info, q("rsp", "InputStreams")).text = "stdin"
        ET.SubElement(info, q("rsp", "OutputStreams")).text = "stdout stderr"
        return ACTION_CREATE + "Response", [created, info]

    def _command(self, req: WSManRequest, shell: Shell) -> tuple[str, list[ET.Element]]:
        body = req.body
        if body is None or body.tag != q("rsp", "CommandLine"):
            raise soap.invalid_body_fault("the Command request has no rsp:CommandLine")
        command = (_child_text(body, "Command") or "").strip()
        raw_args = [el.text or "" for el in body.findall(q("rsp", "Arguments"))]
        # WinRS appends each Arguments element to the command line with a space;
        # the process then splits its command line with the C runtime's rules.
        arguments = split_arguments(" ".join(raw_args))
        command_line = " ".join([command, *raw_args]) if raw_args else command
        skip_cmd = req.options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        cmd = Command(
            id=str(uuid.uuid4()).upper(),
            command=command,
            arguments=arguments,
            command_line=command_line,
            skip_cmd_shell=skip_cmd,
        )
        with self._lock:
            shell.commands[cmd.id] = cmd
            cmd.started = True
        self._start(shell, cmd)  # WinRS starts the process now; it waits for input it reads
        resp = ET.Element(q("rsp", "CommandResponse"))
        ET.SubElement(resp, q("rsp", "CommandId")).text = cmd.id
        return ACTION_COMMAND + "Response", [resp]

    def _send(self, req: WSManRequest, shell: Shell) -> tuple[str, list[ET.Element]]:
        body = req.body
        if body is None or body.tag != q("rsp", "Send"):
            raise soap.invalid_body_fault("the Send request has no rsp:Send")
        for stream in body.findall(q("rsp", "Stream")):
            cmd = self._find_command(shell, stream.get("CommandId", ""))
            if stream.get("Name", "stdin") != "stdin":
                raise soap.invalid_body_fault(f"unknown input stream {stream.get('Name')!r}")
            try:
                data = base64.b64decode(stream.text or "", validate=True)
            except (binascii.Error, ValueError):
                raise soap.invalid_body_fault("the stdin stream is not base64") from None
            with cmd.changed:
                # The process's standard input is a pipe: once its end was sent, or the process has exited,
                # there is nothing to write to (WriteFile on a pipe whose reader is gone fails), and WinRS refuses.
                if cmd.stdin_ended or cmd.done:
                    raise soap.input_closed_fault(shell.id, cmd.id)
                cmd.stdin.extend(data)
                cmd.stdin_sent = True
                self.stats.add(sends=1)
                if stream.get("End", "false").lower() == "true":
                    cmd.stdin_ended = True
                cmd.changed.notify_all()
        return ACTION_SEND + "Response", [ET.Element(q("rsp", "SendResponse"))]

    def _receive(self, req: WSManRequest, shell: Shell) -> tuple[str, list[ET.Element]]:
        body = req.body
        if body is None or body.tag != q("rsp", "Receive"):
            raise soap.invalid_body_fault("the Receive request has no rsp:Receive")
        desired = body.find(q("rsp", "DesiredStream"))
        cmd = self._find_command(shell, desired.get("CommandId", "") if desired is not None else "")
        timeout = req.operation_timeout if req.operation_timeout is not None else MAX_OPERATION_TIMEOUT
        with cmd.changed:
            if not cmd.stdin_sent and not cmd.stdin_ended:
                # No input was ever sent: the process runs with none (stdin at end of file).
                cmd.stdin_ended = True
                cmd.changed.notify_all()
            # Output as soon as there is any; the state once the process has exited.
            if not cmd.changed.wait_for(lambda: cmd.pending() or cmd.done, max(0.0, min(timeout, MAX_OPERATION_TIMEOUT))):
                self.stats.add(operation_timeouts=1)
                raise soap.operation_timeout_fault()
            if cmd.aborted:
                raise soap.shell_not_found_fault(shell.id)
            resp = ET.Element(q("rsp", "ReceiveResponse"))
            room = min(req.max_envelope or MAX_ENVELOPE_SIZE, MAX_ENVELOPE_SIZE) - ENVELOPE_OVERHEAD
            for name, data in (("stdout", cmd.stdout), ("stderr", cmd.stderr)):
                offset = cmd.sent[name]
                while offset < len(data):
                    take = min(STREAM_CHUNK, len(data) - offset, (room - STREAM_ELEMENT_OVERHEAD) // 4 * 3)
                    if take <= 0:
                        break
                    ET.SubElement(resp, q("rsp", "Stream"), {"Name": name, "CommandId": cmd.id}).text = (
                        base64.b64encode(bytes(data[offset : offset + take])).decode("ascii")
                    )
                    offset += take
                    room -= STREAM_ELEMENT_OVERHEAD + (take + 2) // 3 * 4
                cmd.sent[name] = offset
            finished = cmd.exited and not cmd.pending()
            exit_code = cmd.exit_code
        if not finished:
            ET.SubElement(resp, q("rsp", "CommandState"), {"CommandId": cmd.id, "State": STATE_RUNNING})
            return ACTION_RECEIVE + "Response", [resp]
        for name in ("stdout", "stderr"):
            ET.SubElement(resp, q("rsp", "Stream"), {"Name": name, "CommandId": cmd.id, "End": "true"})
        state = ET.SubElement(resp, q("rsp", "CommandState"), {"CommandId": cmd.id, "State": STATE_DONE})
        ET.SubElement(state, q("rsp", "ExitCode")).text = str(exit_code)
        return ACTION_RECEIVE + "Response", [resp]

    def _signal(self, req: WSManRequest, shell: Shell) -> tuple[str, list[ET.Element]]:
        body = req.body
        if body is None or body.tag != q("rsp", "Signal"):
            raise soap.invalid_body_fault("the Signal request has no rsp:Signal")
        cmd = self._find_command(shell, body.get("CommandId", ""))
        # terminate, ctrl_c and ctrl_break all end the simulated process; a
        # worker already running finishes in the background and is discarded.
        with self._lock:
            shell.commands.pop(cmd.id, None)
        self._abort(cmd)
        return ACTION_SIGNAL + "Response", [ET.Element(q("rsp", "SignalResponse"))]

    def _delete(self, shell: Shell) -> None:
        with self._lock:
            self._shells.pop(shell.id, None)
        self._abort_commands(shell)

    # -- helpers ------------------------------------------------------------------------

    def _shell(self, req: WSManRequest, principal: str) -> Shell:
        shell_id = req.selectors.get("ShellId")
        if not shell_id:
            raise soap.missing_shell_selector_fault()
        with self._lock:
            shell = self._shells.get(shell_id.upper())
        # Shells belong to the user who created them; another user cannot see them.
        if shell is None or shell.owner != principal.lower():
            raise soap.shell_not_found_fault(shell_id)
        return shell

    def _find_command(self, shell: Shell, command_id: str) -> Command:
        with self._lock:
            cmd = shell.commands.get(command_id.upper())
        if cmd is None:
            raise soap.command_not_found_fault(shell.id, command_id)
        return cmd

    def _start(self, shell: Shell, cmd: Command) -> None:
        self.stats.add(commands=1)
        threading.Thread(
            target=self._run, args=(shell.codepage, cmd, shell.principal, shell.logon), name=f"winrs-{self.spec.name}-{cmd.id[:8]}",
            daemon=True
        ).start()

    def _run(self, codepage: int, cmd: Command, caller: str = "", logon: Any = None) -> None:
        def writer(buffer: bytearray) -> Callable[[bytes], None]:
            def write(data: bytes) -> None:
                with cmd.changed:
                    if not cmd.aborted:  # a terminated process's output goes nowhere
                        buffer.extend(data)
                        cmd.changed.notify_all()
            return write

        try:
            if not cmd.skip_cmd_shell and len(cmd.command_line) > CMD_MAX_COMMAND_LINE:
                writer(cmd.stderr)(_encode("The command line is too long.\r\n", codepage))
                code = 1
            else:
                code = int(self.backend.run_process(self.spec, cmd.command, cmd.arguments, StdinLines(cmd), writer(cmd.stdout),
                                                    writer(cmd.stderr), codepage, caller=caller, logon=logon))
        except Exception as exc:  # a bug in the simulation; show it like a crashed process would
            log.exception("lab command failed on %s: %s", self.spec.name, cmd.command)
            writer(cmd.stderr)(_encode(f"exconf lab: the simulated process failed: {exc!r}\r\n", codepage))
            code = 1
        with cmd.changed:
            cmd.exit_code = code
            cmd.exited = True
            cmd.changed.notify_all()

    @staticmethod
    def _abort(cmd: Command) -> None:
        with cmd.changed:
            if not cmd.exited:
                cmd.aborted = True
            cmd.changed.notify_all()

    def _abort_commands(self, shell: Shell) -> None:
        with self._lock:
            commands = list(shell.commands.values())
            shell.commands.clear()
        for cmd in commands:
            self._abort(cmd)

    def _expire_idle_locked(self) -> list[Shell]:
        now = time.monotonic()
        expired = []
        for shell_id, shell in list(self._shells.items()):
            if now - shell.last_used > shell.idle_timeout:
                expired.append(self._shells.pop(shell_id))
        return expired


def _child_text(parent: ET.Element, local: str) -> str | None:
    node = parent.find(q("rsp", local))
    return node.text if node is not None else None


def _encode(text: str, codepage: int) -> bytes:
    try:
        return text.encode(f"cp{codepage}" if codepage != 65001 else "utf-8")
    except (LookupError, UnicodeEncodeError):
        return text.encode("ascii", errors="replace")


def split_arguments(command_line: str) -> list[str]:
    """Split a command line as the Microsoft C runtime does for ``argv``.

    Rules from Microsoft Learn, "Parsing C++ command-line arguments": white
    space separates arguments; double quotes group; ``2n`` backslashes before a
    quote give ``n`` backslashes and a delimiter, ``2n+1`` give ``n`` and a
    literal quote; other backslashes are literal; ``""`` inside quotes is a quote.
    """
    args: list[str] = []
    current: list[str] = []
    in_arg = False
    in_quotes = False
    i = 0
    n = len(command_line)
    while i < n:
        c = command_line[i]
        if c in " \t" and not in_quotes:
            if in_arg:
                args.append("".join(current))
                current = []
                in_arg = False
            i += 1
            continue
        in_arg = True
        if c == "\\":
            j = i
            while j < n and command_line[j] == "\\":
                j += 1
            count = j - i
            if j < n and command_line[j] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    i = j + 1
                else:
                    i = j  # the quote is handled as a delimiter below
            else:
                current.append("\\" * count)
                i = j
            continue
        if c == '"':
            if in_quotes and i + 1 < n and command_line[i + 1] == '"':
                current.append('"')
                i += 2
                continue
            in_quotes = not in_quotes
            i += 1
            continue
        current.append(c)
        i += 1
    if in_arg:
        args.append("".join(current))
    return args
