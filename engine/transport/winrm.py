"""WinRM with pywinrm: one WinRS shell per host per run, the program sent on standard input.

Request budget per run (what ``lab stats`` counts): NTLM costs 3 HTTP
requests (requests_ntlm first sends the request without credentials), the
shell one Create and one Delete, and each command a Command, one Send and one
Receive. A finished command is signalled only when another command follows
in the same shell; Delete ends the last one. So a plan is 8 requests per host
and an apply 12, whatever the number of resources.
"""

from __future__ import annotations

import time

import requests
from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError
from winrm.protocol import Protocol

from exconf.remote import command_line

from . import AuthenticationFailed, ConnectionSettings, HostUnreachable, Output, TransportError

COMMAND_DEADLINE = 600  # seconds a single command may run before exconf gives up on it


class WinRMTransport:
    """A reusable WinRS shell on one host."""

    def __init__(self, settings: ConnectionSettings, codepage: int = 437):
        self._settings = settings
        self._codepage = codepage
        self._protocol: Protocol | None = None
        self._shell: str | None = None
        self._finished_command: str | None = None

    def _connect(self) -> tuple[Protocol, str]:
        if self._protocol is None or self._shell is None:
            s = self._settings
            self._protocol = Protocol(
                endpoint=s.endpoint,
                transport=s.auth,
                username=s.user,
                password=s.password,
                server_cert_validation="validate" if s.cert_validation else "ignore",
                ca_trust_path=s.ca_trust_path if s.ca_trust_path else "legacy_requests",
                message_encryption=s.message_encryption,
                operation_timeout_sec=s.operation_timeout,
                read_timeout_sec=s.read_timeout,
                proxy=None,
            )
            self._shell = self._call(lambda: self._protocol.open_shell(codepage=self._codepage))
        return self._protocol, self._shell

    def run(self, stdin: bytes) -> Output:
        """Run the remote program once with this standard input; wait for it to finish."""
        protocol, shell = self._connect()
        if self._finished_command:
            previous, self._finished_command = self._finished_command, None
            self._call(lambda: protocol.cleanup_command(shell, previous))
        command, arguments = command_line()
        command_id = self._call(lambda: protocol.run_command(shell, command, arguments, skip_cmd_shell=True))
        self._call(lambda: protocol.send_command_input(shell, command_id, stdin, end=True))
        stdout, stderr, code = self._receive(protocol, shell, command_id)
        self._finished_command = command_id
        return Output(stdout, stderr, code)

    def _receive(self, protocol: Protocol, shell: str, command_id: str) -> tuple[bytes, bytes, int]:
        out: list[bytes] = []
        err: list[bytes] = []
        deadline = time.monotonic() + COMMAND_DEADLINE
        while True:
            try:
                stdout, stderr, code, done = self._call(lambda: protocol.get_command_output_raw(shell, command_id))
            except WinRMOperationTimeoutError:
                if time.monotonic() > deadline:
                    raise HostUnreachable(f"{self._where()}: the command did not finish within {COMMAND_DEADLINE} s") from None
                continue  # expected while a long command runs (MS-WSMV OperationTimeout); ask again
            out.append(stdout)
            err.append(stderr)
            if done:
                return b"".join(out), b"".join(err), code

    def close(self) -> None:
        """Delete the shell (which also ends its last command) and drop the HTTP session."""
        protocol, shell = self._protocol, self._shell
        self._protocol = self._shell = self._finished_command = None
        if protocol is not None and shell is not None:
            try:
                protocol.close_shell(shell)
            except Exception:  # noqa: BLE001 - closing is best effort; the run's outcome is already known
                pass

    def _where(self) -> str:
        return self._settings.endpoint

    def _call(self, fn):
        """Run one WS-Management call, turning library errors into the three kinds exconf reports."""
        try:
            return fn()
        except WinRMOperationTimeoutError:
            raise
        except InvalidCredentialsError:
            raise AuthenticationFailed(f"{self._where()}: the server refused the credentials of {self._settings.user!r}") from None
        except requests.exceptions.SSLError as exc:
            raise HostUnreachable(f"{self._where()}: TLS failed: {_reason(exc)}") from None
        except requests.exceptions.ConnectTimeout:
            raise HostUnreachable(f"{self._where()}: connection timed out after {self._settings.read_timeout} s") from None
        except requests.exceptions.ReadTimeout:
            raise HostUnreachable(f"{self._where()}: no answer within {self._settings.read_timeout} s") from None
        except requests.exceptions.ConnectionError as exc:
            raise HostUnreachable(f"{self._where()}: cannot connect: {_reason(exc)}") from None
        except WSManFaultError as exc:
            raise TransportError(f"{self._where()}: WS-Management fault {exc.wsman_fault_code or exc.code}: {exc.reason}") from None
        except WinRMTransportError as exc:
            raise TransportError(f"{self._where()}: HTTP {exc.code}: {exc.response_text[:300]}") from None
        except WinRMError as exc:
            raise TransportError(f"{self._where()}: {exc}") from None


def _reason(exc: Exception) -> str:
    """The innermost useful message of a requests/urllib3 error chain."""
    text = str(exc)
    for marker in ("Connection refused", "certificate verify failed", "No route to host", "Name or service not known", "timed out"):
        if marker in text:
            tail = text[text.index(marker):]
            return tail.split("'))")[0].split(")")[0].rstrip("'\"")
    return text[:300]
