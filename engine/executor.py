"""The seam between the engine and the ways of reaching a server.

The engine hands an executor a list of steps and gets one ``Answer`` back.
``ProgramExecutor`` runs exconf's PowerShell program over a command channel
(a WinRM shell, or an SSH exec channel); ``PSRPExecutor`` (psrp_executor.py)
sends each step as a cmdlet through Exchange remote PowerShell and maps CLIXML
to the same answer. The engine never knows which one it talks to.
"""

from __future__ import annotations

from typing import Protocol

from exconf.remote import Answer, Step, decode_answer, encode_stdin

from . import second_hop
from .transport import Transport
from .transport.cleartext import check_payload


class Executor(Protocol):
    def execute(self, steps: list[Step], *, halt_on_error: bool) -> Answer:
        """Run the steps in order in one round trip; raise a transport or contract error if no answer came."""
        ...

    def release(self) -> None:
        """Let go of network resources while the run waits (for approval); the next execute reconnects."""
        ...

    def close(self) -> None: ...

    def open_sockets(self) -> int:
        """Sockets held now, for a runner that keeps connections within the open-file limit."""
        ...

    def notes(self) -> tuple[str, ...]:
        """What the executor had to do that the user should know (a reconnect after a long wait)."""
        ...

    # Optional: ``keep_alive(*, lead: float) -> bool``, asked while a host whose apply sends a secret waits for it
    # (psrp_executor.PSRPExecutor: work the apply needs anyway, sent before the kept connection's idle margin).


class ProgramExecutor:
    """exconf's program, sent on standard input through a transport's command channel."""

    def __init__(self, transport: Transport, *, in_clear: bool = False, endpoint: str = ""):
        self._transport = transport
        self._notes: list[str] = []
        self._in_clear = in_clear  # reached without TLS or sealing: no command carrying a secret goes there
        self._endpoint = endpoint

    def execute(self, steps: list[Step], *, halt_on_error: bool) -> Answer:
        check_payload(self._endpoint, self._in_clear, steps)
        out = self._transport.run(encode_stdin(steps, halt_on_error=halt_on_error))
        self._notes.extend(out.notes)
        return second_hop.explain(decode_answer(out.stdout, out.stderr, out.exit_code))

    def release(self) -> None:
        self._transport.release()

    def close(self) -> None:
        self._transport.close()

    def open_sockets(self) -> int:
        return self._transport.open_sockets()

    def notes(self) -> tuple[str, ...]:
        return tuple(self._notes)
