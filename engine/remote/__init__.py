"""The remote contract: how exconf runs its one PowerShell program on a server.

Everything that crosses the wire is defined here, so that the engine, the
transports and the lab agree on it byte for byte:

* The **command line** is short and constant for a given program:
  ``powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass
  -EncodedCommand <bootstrap>``. The bootstrap reads standard input, checks the
  SHA-256 of the program part against the hash it carries, and only then runs
  it; so the only text that ever becomes PowerShell code is the program
  shipped in this package (``exconf.ps1``).
* **Standard input** is ``<program> NUL <payload JSON>``. Both parts are pure
  ASCII (the JSON escapes every other character as ``\\uXXXX``), so they
  arrive intact whatever console code page the shell runs (437, 1252, 65001).
* **Standard output** is one ASCII JSON document, the *answer*.

The payload is data only: cmdlet names (checked against an allowlist inside
the program) and parameter values. See docs/architecture.md, "Remote contract".
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

CONTRACT_VERSION = 1

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
)

# A parameter value of this exact shape is replaced on the server by the local
# computer name ($env:COMPUTERNAME). It is the only reference the program knows.
LOCAL_SERVER = {"exconf_ref": "ComputerName"}

POWERSHELL = "powershell.exe"
POWERSHELL_ARGS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand")

# The bootstrap is deliberately one line: it is what runs before our program
# exists in the session. {hash} is the upper-case hex SHA-256 of the program.
_BOOTSTRAP = (
    "$ErrorActionPreference='Stop';"
    "$t=[Console]::In.ReadToEnd();"
    "$i=$t.IndexOf([char]0);"
    "if($i -lt 0){{[Console]::Out.Write('{{\"exconf\":1,\"fatal\":{{\"message\":\"no payload on standard input\"}}}}');exit 1}};"
    "$p=$t.Substring(0,$i);"
    "$h=[BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash([Text.Encoding]::ASCII.GetBytes($p))).Replace('-','');"
    "if($h -ne '{hash}'){{[Console]::Out.Write('{{\"exconf\":1,\"fatal\":{{\"message\":\"program hash mismatch\"}}}}');exit 1}};"
    "& ([ScriptBlock]::Create($p)) $t.Substring($i+1)"
)


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
    return _BOOTSTRAP.format(hash=program_hash(text))


@lru_cache(maxsize=1)
def command_line() -> tuple[str, list[str]]:
    """(command, arguments) to start the program; short and constant."""
    encoded = base64.b64encode(bootstrap_script().encode("utf-16-le")).decode("ascii")
    return POWERSHELL, [*POWERSHELL_ARGS, encoded]


@dataclass(frozen=True)
class Step:
    """One cmdlet invocation. ``select`` names the properties to return.

    ``skip_on_edge`` makes the program answer ``not_applicable`` on an Edge
    Transport server instead of calling a cmdlet that does not exist there.
    ``always_run`` runs the step even after an earlier step failed under
    ``halt_on_error``: for the read-back of an apply, which changes nothing and
    tells what the failure left behind.
    """

    id: str
    cmdlet: str
    params: dict[str, Any] = field(default_factory=dict)
    select: tuple[str, ...] = ()
    skip_on_edge: bool = False
    always_run: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "cmdlet": self.cmdlet, "params": self.params}
        if self.select:
            data["select"] = list(self.select)
        if self.skip_on_edge:
            data["skip_on_edge"] = True
        if self.always_run:
            data["always_run"] = True
        return data


def encode_payload(steps: list[Step], *, halt_on_error: bool = True) -> str:
    """The payload JSON (ASCII only) for a list of steps."""
    unknown = sorted({s.cmdlet for s in steps} - set(ALLOWED_CMDLETS))
    if unknown:
        raise ValueError(f"cmdlets not in the remote program's allowlist: {', '.join(unknown)}")
    doc = {"exconf": CONTRACT_VERSION, "halt_on_error": halt_on_error, "steps": [s.to_json() for s in steps]}
    return json.dumps(doc, ensure_ascii=True, separators=(",", ":"))


def encode_stdin(steps: list[Step], *, halt_on_error: bool = True) -> bytes:
    """What goes on standard input: program, NUL, payload (all ASCII)."""
    return (program_text() + "\0" + encode_payload(steps, halt_on_error=halt_on_error)).encode("ascii")


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

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


@dataclass(frozen=True)
class Answer:
    computer: str
    edge: bool
    results: dict[str, StepResult]

    def result(self, step_id: str) -> StepResult:
        try:
            return self.results[step_id]
        except KeyError:
            raise ContractError(f"the answer has no result for step {step_id!r}") from None


class RemoteFatal(Exception):
    """The program could not run at all (snap-in missing, hash mismatch, …)."""


def decode_answer(stdout: bytes, stderr: bytes = b"", exit_code: int = 0) -> Answer:
    """Parse the program's standard output; raise RemoteFatal or ContractError."""
    text = stdout.decode("ascii", errors="replace").strip()
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
        results[raw["id"]] = StepResult(
            id=raw["id"],
            status=raw["status"],
            objects=tuple(raw.get("objects") or ()),
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
    return Answer(computer=str(doc.get("computer", "")), edge=bool(doc.get("edge", False)), results=results)


def encode_answer(computer: str, edge: bool, results: list[dict[str, Any]]) -> str:
    """The answer document as the program writes it (used by the lab)."""
    doc = {"exconf": CONTRACT_VERSION, "computer": computer, "edge": edge, "results": results}
    return json.dumps(doc, ensure_ascii=True, separators=(",", ":"))


def encode_fatal(message: str) -> str:
    return json.dumps({"exconf": CONTRACT_VERSION, "fatal": {"message": message}}, ensure_ascii=True, separators=(",", ":"))
