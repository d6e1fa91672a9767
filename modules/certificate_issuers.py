"""Where a requested certificate comes from: the issuer that signs a request an Exchange server made.

A declaration says ``issuer: {acme: {...}}`` (or, later, ``{adcs: {...}}`` for an enterprise CA). This module
holds what every issuer shares: its declaration, parsed once (``IssuerSpec``, a value the plan can print and
compare), and the interface the certificate kind drives at apply time on the controller (``Issuer``):

1. ``begin(request)``: with the server's PKCS#10 request (its key never leaves the server), open what the
   issuer needs (an ACME order); return the HTTP-01 files the server's IIS must serve, if any (``Challenge``);
2. ``finish(session)``: once those are served, have the request signed; return the chain as PKCS#7 (DER),
   which Import-ExchangeCertificate takes to complete the pending request [PS Import-ExchangeCertificate:
   "-FileData ... PKCS #7 (.p7b or .p7c)"];
3. ``abandon(session)``: undo what ``begin`` left (DNS records) when ``finish`` did not run.

An enterprise CA would submit the request in ``finish`` and need no ``Challenge``. Nothing here runs at plan
time: a plan never contacts an issuer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from exconf.model import ControllerError, SecretRef

ISSUER_KINDS = ("acme",)
CHALLENGES = ("http-01", "dns-01")
TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")


class IssuerError(ControllerError):
    """The issuer refused or failed; the message names the issuer and what it said (never a secret)."""


@dataclass(frozen=True)
class DnsUpdate:
    """Where DNS-01 records are written: an RFC 2136 dynamic update to this server, for this zone, signed with
    a TSIG key (RFC 8945) whose secret comes from the environment or a file."""

    server: str
    port: int = 53
    zone: str = ""
    tsig_name: str = ""
    tsig_algorithm: str = "hmac-sha256"
    tsig_secret: SecretRef | None = None

    def describe(self) -> str:
        key = f", TSIG key {self.tsig_name} ({self.tsig_algorithm}, secret {self.tsig_secret.describe()})" if self.tsig_secret else ""
        return f"RFC 2136 updates of zone {self.zone} at {self.server}:{self.port}{key}"


@dataclass(frozen=True)
class IssuerSpec:
    """A declared issuer, as the plan shows and compares it. Paths are resolved against the declaring file."""

    kind: str  # acme
    directory: str
    challenge: str = "http-01"
    email: str = ""
    account_key: str = ""  # a PEM key on the controller; "" = a new account for each apply
    ca_bundle: str = ""  # the CA certificates the issuer's HTTPS is checked against; "" = the system's
    dns: DnsUpdate | None = None
    timeout_seconds: int = 120

    def describe(self) -> str:
        return f"ACME {self.directory} ({self.challenge})"

    @property
    def http_files(self) -> bool:
        """Whether the server's IIS serves a file for each name before the issuer signs (HTTP-01)."""
        return self.challenge == "http-01"


@dataclass(frozen=True)
class Challenge:
    """One HTTP-01 file: ``/.well-known/acme-challenge/<token>`` holding ``content``, for ``name``."""

    name: str
    token: str
    content: str


@dataclass
class Session:
    """What ``begin`` opened, carried to ``finish`` in memory (an ACME client and order); never printed."""

    issuer: "Issuer"
    challenges: tuple[Challenge, ...] = ()
    state: Any = field(default=None, repr=False)


class Issuer(Protocol):
    spec: IssuerSpec

    def begin(self, request_der: bytes) -> Session: ...

    def finish(self, session: Session) -> bytes: ...

    def abandon(self, session: Session) -> None: ...


# --- the declaration ------------------------------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
    "description": "Who signs the request: acme (RFC 8555).",
    "properties": {
        "acme": {
            "type": "object",
            "additionalProperties": False,
            "required": ["directory", "agree_tos"],
            "properties": {
                "directory": {"type": "string", "pattern": "^https://", "description": "The ACME server's directory URL."},
                "agree_tos": {"const": True, "description": "You agree to the ACME server's terms of service (RFC 8555 termsOfServiceAgreed)."},
                "email": {"type": "string", "minLength": 3, "description": "Contact address of the ACME account."},
                "challenge": {"enum": list(CHALLENGES), "description": "http-01 (default): a file served by the server's IIS; dns-01: a TXT record."},
                "account_key": {"type": "string", "minLength": 1, "description": "PEM private key of the ACME account (relative to the declaring file); without it, a new account for each apply."},
                "ca_bundle": {"type": "string", "minLength": 1, "description": "PEM CA certificates the ACME server's HTTPS is checked against (default: the system's)."},
                "timeout_seconds": {"type": "integer", "minimum": 10, "maximum": 3600, "description": "How long validation and signing may take (default 120)."},
                "dns": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["server", "zone"],
                    "description": "dns-01: where TXT records are written, by RFC 2136 dynamic update.",
                    "properties": {
                        "server": {"type": "string", "minLength": 1, "description": "DNS server address, with :port if not 53."},
                        "zone": {"type": "string", "minLength": 1, "description": "The zone the names are in."},
                        "tsig_name": {"type": "string", "minLength": 1},
                        "tsig_algorithm": {"enum": list(TSIG_ALGORITHMS)},
                        "tsig_secret_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                        "tsig_secret_file": {"type": "string", "minLength": 1},
                    },
                },
            },
        },
    },
}


def _path(value: Any, base: Path) -> str:
    p = Path(str(value))
    return str((p if p.is_absolute() else base / p).resolve())


def parse_issuer(raw: dict[str, Any], base: Path) -> IssuerSpec:
    """A declaration the schema accepted, as an IssuerSpec (paths resolved against ``base``)."""
    acme = raw["acme"]
    dns = None
    if isinstance(acme.get("dns"), dict):
        d = acme["dns"]
        host, _, port = str(d["server"]).rpartition(":") if str(d["server"]).count(":") == 1 else (str(d["server"]), "", "")
        secret = (SecretRef("env", str(d["tsig_secret_env"])) if "tsig_secret_env" in d
                  else SecretRef("file", _path(d["tsig_secret_file"], base)) if "tsig_secret_file" in d else None)
        dns = DnsUpdate(server=host or str(d["server"]), port=int(port) if port.isdigit() else 53, zone=str(d["zone"]).rstrip("."),
                        tsig_name=str(d.get("tsig_name") or ""), tsig_algorithm=str(d.get("tsig_algorithm") or "hmac-sha256"),
                        tsig_secret=secret)
    return IssuerSpec(
        kind="acme", directory=str(acme["directory"]), challenge=str(acme.get("challenge") or "http-01"), email=str(acme.get("email") or ""),
        account_key=_path(acme["account_key"], base) if acme.get("account_key") else "",
        ca_bundle=_path(acme["ca_bundle"], base) if acme.get("ca_bundle") else "", dns=dns,
        timeout_seconds=int(acme.get("timeout_seconds") or 120),
    )


def issuer_problems(raw: Any, domains: list[str], base: Path) -> list[tuple[tuple[Any, ...], str]]:
    """What the schema cannot say about an issuer declaration, each with its path under ``issuer``."""
    out: list[tuple[tuple[Any, ...], str]] = []
    if not isinstance(raw, dict) or not isinstance(raw.get("acme"), dict):
        return out
    acme = raw["acme"]
    challenge = acme.get("challenge") or "http-01"
    if challenge == "dns-01" and not isinstance(acme.get("dns"), dict):
        out.append((("acme", "challenge"), "dns-01 needs dns: the server and zone its TXT records are written to (RFC 2136)"))
    if challenge == "http-01" and "dns" in acme:
        out.append((("acme", "dns"), "dns applies to challenge dns-01; this issuer proves the names with http-01"))
    wild = [d for d in domains if d.startswith("*.")]
    if challenge == "http-01" and wild:
        out.append((("acme", "challenge"), f"{wild[0]}: a wildcard name is proved only with dns-01 (RFC 8555 §7.1.3)"))
    dns = acme.get("dns")
    if isinstance(dns, dict):
        secrets = [k for k in ("tsig_secret_env", "tsig_secret_file") if k in dns]
        if len(secrets) > 1:
            out.append((("acme", "dns"), "give the TSIG secret as one of tsig_secret_env or tsig_secret_file"))
        if secrets and "tsig_name" not in dns:
            out.append((("acme", "dns", secrets[0]), "a TSIG secret needs tsig_name, the key's name"))
        server = str(dns.get("server", ""))
        if server.count(":") == 1 and not server.rpartition(":")[2].isdigit():
            out.append((("acme", "dns", "server"), f"{server!r}: the port after ':' is not a number"))
    from exconf.regularfile import NotARegularFile, read_regular

    for key in ("account_key", "ca_bundle"):
        if key in acme:
            try:
                read_regular(Path(_path(acme[key], base)), limit=1 << 20, what=f"the {key.replace('_', ' ')}")
            except NotARegularFile as exc:
                out.append((("acme", key), str(exc)))
    return out
