"""What Windows OpenSSH does with an ``exec`` request: it hands the command to the default shell.

sshd runs an exec request's command as ``<DefaultShell> <DefaultShellCommandOption> <command>``:
cmd.exe with ``/c`` when no DefaultShell is set (Windows' initial default), powershell.exe with ``-c``
when the registry value HKLM\\SOFTWARE\\OpenSSH\\DefaultShell names it (Win32-OpenSSH wiki,
"DefaultShell": "DefaultShellCommandOption (optional) - switch that the configured default shell requires
to execute a command, immediately exit and return to the calling process"; learn.microsoft.com/
windows-server/administration/openssh/openssh_server_configuration, "Configuring the default shell").
Ansible's ssh connection relies on it: over either shell it sends one PowerShell command line, with the
module on standard input (ansible-core's plugins/shell/powershell.py ``_encode_script``, always pipelined
for Windows in plugins/connection/ssh.py).

The lab's shells know as much as exconf's command line needs, which is written the same way in both
(no quotes, no shell metacharacter): the first word names the program, the rest are its arguments, split
as the C runtime splits a command line. The process is the backend's (lab/program.py through
``LabStore.run_command``, as a WinRS command is), so the server still runs nothing but exconf's program.
What differs between the shells is what they add: cmd.exe refuses a command line longer than 8191
characters and reports a program it cannot find in its own words, and keeps the program's exit code;
PowerShell's ``-Command`` reports an unknown command in its words and turns an external program's
non-zero exit code into 1 (about_PowerShell_exe, "-Command"; PowerShell/PowerShell#13501).
"""

from __future__ import annotations

import ntpath
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any, Protocol

from exconf.lab.winrm.shell import CMD_MAX_COMMAND_LINE, split_arguments

CMD = "cmd"
POWERSHELL = "powershell"


class Process(Protocol):
    """The process side (LabStore): one command, with all of its standard input."""

    def run_command(self, server: Any, command: str, arguments: list[str], stdin: bytes, codepage: int,
                    caller: str = "") -> Any: ...


@dataclass(frozen=True)
class Result:
    stdout: bytes
    stderr: bytes
    exit_code: int


def run(shell: str, backend: Process, server: Any, command: str, read_stdin: Callable[[], bytes | None],
        caller: str) -> Result | None:
    """Run an exec request's command through the server's default shell, as ``caller`` (DOMAIN\\user).

    Standard input is read (``read_stdin``, to its end) only by exconf's program, whose bootstrap reads it
    through ``$input``: a command the shell cannot run, or any other, answers at once, as it would on
    Windows without waiting for input it never reads. None when standard input never ended (the client left).
    """
    codepage = server.codepage  # an SSH session's console has the system's OEM code page
    if shell == CMD and len(command) > CMD_MAX_COMMAND_LINE:
        return Result(b"", _encode("The command line is too long.\r\n", codepage), 1)
    words = split_arguments(command)
    if not words:
        return Result(b"", b"", 0)
    program = ntpath.basename(words[0]).lower()
    if program not in ("powershell.exe", "powershell"):
        return Result(b"", _encode(_not_found(shell, words[0]), codepage), 1)
    # Imported here, as _encode's codec: the lab's network side loads without the Exchange store (lab.program
    # needs it), as the WinRM side does; a run imports it once.
    from exconf.lab.program import is_exconf_invocation

    stdin = b""
    if is_exconf_invocation(words[1:]):
        got = read_stdin()
        if got is None:
            return None
        stdin = got
    done = backend.run_command(server, words[0], words[1:], stdin, codepage, caller=caller)
    code = int(done.exit_code)
    if shell == POWERSHELL and code not in (0, 1):
        code = 1  # -Command: the status of the last command, an external program's non-zero code as 1
    return Result(done.stdout, done.stderr, code)


def _not_found(shell: str, name: str) -> str:
    if shell == CMD:
        return f"'{name}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
    return (f"{name} : The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
            "program. Check the spelling of the name, or if a path was included, verify that the path is correct "
            "and try again.\r\n")


def _encode(text: str, codepage: int) -> bytes:
    from exconf.lab.exchange.orgfile import python_codec

    return text.encode(python_codec(codepage), errors="replace")
