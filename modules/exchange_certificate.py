"""The exchange_certificate kind: which certificate serves which service on each server.

Declared under ``exchange.certificates`` as a list. Each entry names one
certificate by ``thumbprint``, by a ``match`` on subject / SANs / issuer that
survives renewal (the newest valid match wins), or by the PFX it is
``import``ed from; it can ``renew`` a self-signed certificate before it
expires, or be ``state: absent``. Exchange cannot take a service away from a
certificate (cmdlets.md §2), so ``services`` means *at least* these, unless
``services_mode: exact``, which is met by a replacement. ``default_smtp``
says whether it is the server's default SMTP (internal transport) certificate:
only a declaration that says so makes a certificate the default.

Beside the certificates the kind reads how the server uses them: the default
SMTP certificate (Get-TransportService), the names IMAP4 and POP3 use
(Get-ImapSettings, Get-PopSettings: Exchange shows IMAP or POP on every
certificate carrying that name), the certificates OAuth uses (Get-AuthConfig),
and the server's clock (expiry is judged on it).

Safety rails (refusals, overridable by name) look at what the server would
hold after the plan: see RAILS and docs/certificates.md. The rail that needs
two hosts (one third-party certificate for SMTP on an Edge and a Mailbox
server) is ``plan_rails``, read from the findings this kind writes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from exconf.controllerfiles import RefSecret
from exconf.regularfile import PFX_LIMIT, NotARegularFile, read_regular
from exconf.model import Change, Desired, DesiredValue, ObservedObject, Operation, Plan, Refusal, SecretRef
from exconf.remote import LOCAL_SERVER, STATUS_NOT_APPLICABLE, Answer, Step
from exconf.yamlsource import Location, PathKey

from .base import SERVER, DriftTraits, KindDefaults, KindPlan, PlanContext, ReadError, resolve_from_operations
from .certificate_plan import CONNECTOR, KIND, RAILS, SERVER_INFO, applied_note, operations_for, plan_certificates, plan_rails, verify_change
from . import certificate_requests
from .certificate_issuers import SCHEMA as CERT_ISSUER_SCHEMA
from .certificate_issuers import issuer_problems, parse_issuer
from .certificate_names import canonical
from .certificate_values import (DEFAULT_WARN_DAYS, READ_PROPERTIES, SERVICES, CertSpec, CopySpec, Match, OpenedPfx, Pfx, PfxError, RequestSpec,
                                 looks_like_pkcs12, read_pfx)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --- the declaration ------------------------------------------------------------------------------------------


PASSWORD_SOURCES = ("password_env", "password_file", "password_prompt")


def _password_sources(spec: dict[str, Any]) -> list[str]:
    return [k for k in PASSWORD_SOURCES if k in spec and spec[k] is not False]


def _pfx_path(spec: dict[str, Any], base: Path) -> Path:
    path = Path(str(spec["pfx"]))
    return (path if path.is_absolute() else base / path).resolve()


def _password_ref(spec: dict[str, Any], base: Path) -> SecretRef:
    if "password_env" in spec:
        return SecretRef("env", str(spec["password_env"]))
    if spec.get("password_prompt") is True:
        return SecretRef("prompt", str(_pfx_path(spec, base)))  # asked once per PFX file (controllerfiles.PROMPTS)
    return SecretRef("file", str((base / str(spec["password_file"])).resolve()) if not Path(str(spec["password_file"])).is_absolute() else str(spec["password_file"]))


def password_at_hand(spec: dict[str, Any], base: Path) -> bool:
    """Whether the PFX password can be had without asking anyone: a variable that is set, a file that is
    there. A prompt is asked only by a command that will import the PFX (plan, apply), when it needs it."""
    if "password_env" in spec:
        return str(spec["password_env"]) in os.environ
    if "password_file" in spec:
        path = Path(str(spec["password_file"]))
        return os.path.lexists(path if path.is_absolute() else base / path)  # there (what it is, reading it says)
    return False


def pfx_shape_problem(spec: dict[str, Any], base: Path) -> str | None:
    """What is wrong with a PFX that can be told without its password: it cannot be read, or is no PKCS#12."""
    path = _pfx_path(spec, base)
    try:
        raw = read_regular(path, limit=PFX_LIMIT, what="the PFX")  # a FIFO, /dev/zero or a huge file is refused, never read
    except NotARegularFile as exc:
        return str(exc)
    return None if looks_like_pkcs12(raw) else f"{path} is not a PKCS#12 (PFX) file"


def pfx_problems_of_review(doc: dict[str, Any]) -> list[str]:
    """Every PFX a reviewed plan imports whose password is typed at a prompt, asked now (once per file) and
    tried: a saved plan asks before any host is contacted, and a typo stops it there."""
    out: list[str] = []
    seen: set[str] = set()
    for change in doc.get("changes", ()):
        for op in change.get("operations", ()):
            for command in op.get("commands", ()):
                params = command.get("parameters", {})
                data, password = params.get("FileData"), params.get("Password")
                if not (isinstance(data, dict) and isinstance(password, dict) and password.get("origin") == "prompt"):
                    continue
                path = str(data.get("file"))
                if path in seen:
                    continue
                seen.add(path)
                ref = SecretRef("prompt", str(password.get("name")))
                try:
                    read_pfx(Path(path), ref, RefSecret(ref))
                except PfxError as exc:
                    out.append(str(exc))
    return out


@dataclass(frozen=True)
class PfxSource:
    """A declared PFX not opened yet: opened (password revealed, once per file and password) only when a
    command needs its certificate, never by one that will not import it (drift, a plan of other hosts)."""

    spec: dict[str, Any] = field(compare=False, repr=False)  # the whole entry (CertificateKind._opened_now opens its import)
    base: Path
    opened: OpenedPfx = field(compare=False, repr=False)


def open_declared_pfx(spec: dict[str, Any], base: Path, opened: OpenedPfx | None = None) -> Pfx:
    """The PFX an ``import:`` names (relative to the file that declares it), opened with its password
    (for ``password_prompt``, typed once per PFX file when the inventory is first loaded)."""
    ref = _password_ref(spec, base)
    return read_pfx(_pfx_path(spec, base), ref, RefSecret(ref), opened)


def pfx_problems(entry: dict[str, Any], pfx: Pfx) -> list[tuple[PathKey, str]]:
    """A PFX that is not the certificate declared, or cannot serve the services declared."""
    out: list[tuple[PathKey, str]] = []
    cert = pfx.cert
    if entry.get("thumbprint") and str(entry["thumbprint"]).upper() != cert.thumbprint:
        out.append((("import", "pfx"), f"the PFX {pfx.ref.path} holds certificate {cert.thumbprint}, not the declared thumbprint {str(entry['thumbprint']).upper()}"))
    match = _match(entry.get("match"))
    if match and not match.selects(cert):
        out.append((("import", "pfx"), f"the PFX {pfx.ref.path} holds {cert.subject!r} (issuer {cert.issuer!r}, names {', '.join(cert.domains) or 'none'}), which the declared match ({match.describe()}) does not select"))
    if entry.get("services") and not cert.has_key:
        out.append((("import", "pfx"), f"the PFX {pfx.ref.path} has no private key: Exchange cannot enable {', '.join(entry['services'])} on a certificate without one"))
    return out


def _match(raw: Any) -> Match | None:
    if not isinstance(raw, dict):
        return None
    return Match(subject=raw.get("subject"), domains=tuple(raw.get("domains") or ()), issuer=raw.get("issuer"))


def semantic_problems(entry: dict[str, Any]) -> list[tuple[PathKey, str]]:
    """What the JSON Schema cannot say about one entry (keys that exclude or need each other)."""
    out: list[tuple[PathKey, str]] = []
    ids = [k for k in ("thumbprint", "match") if k in entry]
    if "request" in entry:
        for key in ("thumbprint", "match", "import", "renew", "services_mode", "state"):
            if key in entry:
                out.append(((key,), f"a requested certificate is named by its request (subject and names); {key} does not apply"))
        if "issuer" not in entry:
            out.append((("request",), "a request needs its issuer: issuer: {acme: {...}}"))
        if entry.get("copy_to") and not (entry.get("request") or {}).get("exportable"):
            out.append((("copy_to",), "copy_to exports the certificate with its private key: the request needs exportable: true"))
        return out
    for key in ("issuer", "renew_within_days", "copy_to"):
        if key in entry:
            out.append(((key,), f"{key} applies to a requested certificate (request:)"))
    if len(ids) > 1:
        out.append(((), "declare the certificate by thumbprint or by match, not both"))
    if not ids and "import" not in entry:
        out.append(((), "name the certificate: thumbprint, match, import (a PFX), or request (signed by an issuer)"))
    absent = entry.get("state") == "absent"
    for key in ("import", "services", "renew", "services_mode"):
        if absent and key in entry:
            out.append(((key,), f"a certificate with state absent is removed; {key} does not apply"))
    if "renew" in entry and "match" not in entry:
        out.append((("renew",), "renew needs a match (a renewed certificate has a new thumbprint)"))
    if "renew" in entry and "import" in entry:
        out.append((("renew",), "renew makes a new self-signed certificate; an imported one is renewed by importing its successor"))
    if entry.get("services_mode") == "exact" and "services" not in entry:
        out.append((("services_mode",), "services_mode exact needs services"))
    if absent and "default_smtp" in entry:
        out.append((("default_smtp",), "a certificate with state absent is removed; default_smtp does not apply"))
    if entry.get("default_smtp") is True and "services" in entry and "SMTP" not in (entry.get("services") or ()):
        out.append((("default_smtp",), "the default SMTP certificate serves SMTP: add SMTP to services"))
    imp = entry.get("import")
    if isinstance(imp, dict) and len(_password_sources(imp)) != 1:
        given = _password_sources(imp)
        out.append((("import",), "give the PFX password as exactly one of password_env, password_file or password_prompt: true (never in clear)"
                    + (f"; declared: {', '.join(given)}" if given else "")))
    return out


# --- the kind ---------------------------------------------------------------------------------------------


def _services_schema() -> dict[str, Any]:
    return {"type": "array", "items": {"enum": list(SERVICES)}, "uniqueItems": True,
            "description": "Exchange services (AllowedServices) the certificate serves: at least these, or exactly (services_mode)."}


ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "thumbprint": {"type": "string", "pattern": "^[0-9A-Fa-f]{40}$", "description": "SHA-1 thumbprint (40 hex digits)."},
        "match": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "description": "Selects the certificate by its names, so that a renewed one still matches; * is a wildcard.",
            "properties": {
                "subject": {"type": "string", "minLength": 1, "description": "Subject, e.g. CN=mail.contoso.com (without a comma: one RDN of it)."},
                "domains": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}, "description": "Names the certificate must all cover (CertificateDomains)."},
                "issuer": {"type": "string", "minLength": 1, "description": "Issuer, e.g. *DigiCert*."},
            },
        },
        "services": _services_schema(),
        "services_mode": {"enum": ["at_least", "exact"], "description": "at_least (default): add what is missing; exact: replace a self-signed certificate that serves more."},
        "import": {
            "type": "object", "additionalProperties": False, "required": ["pfx"],
            "description": "Import this PFX from the controller when the server does not have it.",
            "properties": {
                "pfx": {"type": "string", "minLength": 1, "description": "PFX file, relative to the file declaring it."},
                "password_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "Environment variable holding the PFX password."},
                "password_file": {"type": "string", "minLength": 1, "description": "File holding the PFX password (relative to the declaring file)."},
                "password_prompt": {"type": "boolean", "description": "true: ask for the PFX password on the terminal (once per PFX file, never echoed); a saved plan asks again at apply. false is the same as leaving it out."},
            },
        },
        "state": {"enum": ["present", "absent"], "description": "absent: remove every certificate the entry selects."},
        "renew": {
            "type": "object", "additionalProperties": False, "required": ["within_days"],
            "description": "Renew a self-signed certificate that expires within this many days.",
            "properties": {"within_days": {"type": "integer", "minimum": 1, "maximum": 3650}},
        },
        "warn_within_days": {"type": "integer", "minimum": 0, "maximum": 3650, "description": f"Warn (and refuse to bind) when it expires within this many days (default {DEFAULT_WARN_DAYS})."},
        "default_smtp": {"type": "boolean", "description": "true: the server's default SMTP (internal transport) certificate, made so with Enable-ExchangeCertificate -Force; false: it must not be. Left out, binding SMTP never replaces the default."},
        "request": {
            "type": "object", "additionalProperties": False, "required": ["subject"],
            "description": "A certificate the server requests (New-ExchangeCertificate -GenerateRequest: its key never leaves it) and the issuer signs.",
            "properties": {
                "subject": {"type": "string", "minLength": 3, "description": "Subject, e.g. CN=mail.contoso.com, O=Contoso (its CN is one of the names)."},
                "domains": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}, "uniqueItems": True,
                            "description": "The names (subject alternative names) beside the subject's CN."},
                "key_size": {"enum": [1024, 2048, 4096], "description": "RSA key size (default 2048)."},
                "exportable": {"type": "boolean", "description": "Whether the private key can be exported (default false; copy_to needs true)."},
            },
        },
        "issuer": CERT_ISSUER_SCHEMA,
        "renew_within_days": {"type": "integer", "minimum": 1, "maximum": 3650, "description": "A requested certificate is requested again when it expires within this many days (default 30)."},
        "copy_to": {
            "type": "array", "minItems": 1,
            "description": "Other inventory hosts that get the requested certificate too: exported with its private key and imported there in the same plan.",
            "items": {"type": "object", "additionalProperties": False, "required": ["host"], "properties": {
                "host": {"type": "string", "minLength": 1, "description": "An inventory host name."},
                "services": _services_schema(),
            }},
        },
    },
}

# Bindings a server has one of: the Default Web Site's certificate (IIS), the name IMAP4 and POP3 use
# (X509CertificateName), the UM services' certificate, and the default SMTP certificate. Two entries
# declaring one of them would take it from each other on every apply.
SINGLE = ("IIS", "IMAP", "POP", "UM", "UMCallRouter")


def binding_conflicts(declared: list[Any]) -> list[tuple[PathKey, str]]:
    """Two entries of one server's list that claim the same single-valued binding."""
    out: list[tuple[PathKey, str]] = []
    first: dict[str, int] = {}
    for i, entry in enumerate(declared):
        if not isinstance(entry, dict) or entry.get("state") == "absent":
            continue
        claims = [s for s in SINGLE if s in (entry.get("services") or ())] + (["default_smtp"] if entry.get("default_smtp") is True else [])
        for claim in claims:
            if claim in first:
                what = "the default SMTP certificate" if claim == "default_smtp" else {
                    "IIS": "IIS (the Default Web Site is bound to one certificate)",
                    "IMAP": "IMAP (IMAP4 uses the certificate named by one X509CertificateName)",
                    "POP": "POP (POP3 uses the certificate named by one X509CertificateName)",
                }.get(claim, f"{claim} (its service uses one certificate)")
                key: PathKey = ("default_smtp",) if claim == "default_smtp" else ("services",)
                out.append(((i, *key), f"entries {first[claim]} and {i} both declare {what}: a server has one; "
                                       "each apply would take it from the other. Declare it on one entry"))
            else:
                first[claim] = i
    return out


def _safe_to_correct(change: Change) -> bool:
    """Only an update that binds services again, SMTP excepted (certificates.md, drift --correct)."""
    if change.action != "update" or any(p.prop != "services" for p in change.properties):
        return False
    return all("SMTP" not in (p.after if isinstance(p.after, (list, tuple)) else [p.after]) or
               "SMTP" in (p.before if isinstance(p.before, (list, tuple)) else [p.before]) for p in change.properties)


@dataclass(frozen=True)
class CertificateKind(KindDefaults):
    """Implements ``base.Kind`` for Exchange certificates (one list per server)."""

    kind: str = KIND
    section: str = "certificates"
    scope: str = SERVER
    title: str = "certificate"
    roles: frozenset[str] = frozenset({"Mailbox", "Edge"})
    # Every selected host's certificates are read as soon as one host declares any: a requested certificate's
    # copy_to hosts are judged on what they hold (ctx.peers).
    reads_peers: bool = True
    # drift: a missing or unbound SMTP certificate stops mail; --correct only re-binds services other than
    # SMTP (binding SMTP replaces the default SMTP certificate, which breaks an Edge's subscription).
    drift: DriftTraits = field(default_factory=lambda: DriftTraits(
        "high", ("Import-ExchangeCertificate", "Enable-ExchangeCertificate", "New-ExchangeCertificate", "Remove-ExchangeCertificate"),
        _safe_to_correct), compare=False, repr=False)
    clock: Callable[[], dt.datetime] = field(default=_utcnow, compare=False)
    opened: OpenedPfx = field(default_factory=OpenedPfx, compare=False, repr=False)
    # False for a command that never imports (drift): a PFX whose password is not at hand stays closed, and the
    # declaration is judged by its match or thumbprint.
    opens_pfx: bool = True

    # --- schema and inventory checks -------------------------------------------------------------------

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": ENTRY_SCHEMA,
                "description": "Certificates of each server: which serves which service, PFX imports, renewals, removals."}

    def inventory_issues(self, declared: Any, base: Path) -> list[tuple[PathKey, str]]:
        """Problems JSON Schema cannot see, each with its path under the section; opens declared PFX files."""
        if not isinstance(declared, list):
            return []
        out: list[tuple[PathKey, str]] = binding_conflicts(declared)
        for i, entry in enumerate(declared):
            if not isinstance(entry, dict):
                continue
            out += [((i, *p), m) for p, m in semantic_problems(entry)]
            if isinstance(entry.get("request"), dict) and "issuer" in entry:
                req = entry["request"]
                if canonical(str(req.get("subject", ""))) == str(req.get("subject", "")) and "=" not in str(req.get("subject", "")):
                    out.append(((i, "request", "subject"), f"{req.get('subject')!r} is not an X.500 name (e.g. CN=mail.contoso.com)"))
                names = list(RequestSpec(canonical(str(req.get("subject", ""))), tuple(req.get("domains") or ())).names)
                if not names:
                    out.append(((i, "request"), "the request names no host: give a subject CN or domains"))
                out += [((i, "issuer", *p), m) for p, m in issuer_problems(entry["issuer"], names, base)]
            imp = entry.get("import")
            if isinstance(imp, dict) and isinstance(imp.get("pfx"), str) and len(_password_sources(imp)) == 1:
                shape = pfx_shape_problem(imp, base)
                if shape is not None:
                    out.append(((i, "import", "pfx"), shape))
                    continue
                if not password_at_hand(imp, base):
                    continue  # asked, or found missing, by a command that imports it, for a host that needs it
                try:
                    pfx = open_declared_pfx(imp, base, self.opened)
                except PfxError as exc:
                    out.append(((i, "import", "pfx"), str(exc)))
                    continue
                out += [((i, *p), m) for p, m in pfx_problems(entry, pfx)]
        return out

    # --- desired state ----------------------------------------------------------------------------------

    def desired(self, declared: Any, where: Callable[[PathKey], Location]) -> tuple[Desired, ...]:
        out = []
        for i, entry in enumerate(declared or ()):
            at = {k: where((i, k)) for k in entry}
            pfx, error, lazy = None, "", None
            if "import" in entry:
                base = Path(where((i, "import", "pfx")).file).parent
                if password_at_hand(entry["import"], base):
                    pfx, error = self._open(entry, base)
                else:
                    lazy = PfxSource(entry, base, self.opened)
            request, issuer = None, None
            if isinstance(entry.get("request"), dict):
                raw = entry["request"]
                request = RequestSpec(canonical(str(raw["subject"])), tuple(str(d) for d in raw.get("domains") or ()), int(raw.get("key_size", 2048)),
                                      bool(raw.get("exportable", False)))
                if isinstance(entry.get("issuer"), dict):
                    issuer = parse_issuer(entry["issuer"], Path(where((i, "issuer")).file).parent)
            spec = CertSpec(
                request=request,
                issuer=issuer,
                renew_within=int(entry.get("renew_within_days", 30)),
                copy_to=tuple(CopySpec(str(c["host"]), frozenset(c.get("services") or ())) for c in entry.get("copy_to") or ()),
                thumbprint=str(entry["thumbprint"]).upper() if entry.get("thumbprint") else None,
                match=_match(entry.get("match")),
                services=frozenset(entry["services"]) if "services" in entry else None,
                exact=entry.get("services_mode") == "exact",
                absent=entry.get("state") == "absent",
                renew_days=(entry.get("renew") or {}).get("within_days"),
                warn_days=int(entry.get("warn_within_days", DEFAULT_WARN_DAYS)),
                pfx=pfx,
                pfx_error=error,
                default_smtp=entry.get("default_smtp"),
                source=lazy,
                at=at,
            )
            source = where((i,))
            out.append(Desired(kind=self.kind, pattern=spec.describe(), values=(DesiredValue("certificate", spec, source),), source=source))
        return tuple(out)

    def _open(self, entry: dict[str, Any], base: Path) -> tuple[Pfx | None, str]:
        """The PFX an entry imports, opened, or what is wrong with it (the first problem)."""
        try:
            pfx = open_declared_pfx(entry["import"], base, self.opened)
        except PfxError as exc:
            return None, str(exc)
        problems = pfx_problems(entry, pfx)
        return pfx, problems[0][1] if problems else ""

    def _opened_now(self, want: Desired) -> Desired:
        """A declaration whose PFX was left closed at load, opened now that a plan needs it."""
        spec: CertSpec = want.values[0].value
        if spec.source is None or spec.pfx is not None or spec.pfx_error or not self.opens_pfx:
            return want
        entry = spec.source.spec
        pfx, error = self._open(entry, spec.source.base)
        if error:
            at = spec.at.get("import", want.source)
            error = f"{error} ({at})" if str(at) not in error else error
        value = replace(want.values[0], value=replace(spec, pfx=pfx, pfx_error=error))
        return replace(want, values=(value,))

    # --- reading ----------------------------------------------------------------------------------------

    def read_steps(self, prefix: str) -> list[Step]:
        return [
            Step(id=f"{prefix}{self.kind}", cmdlet="Get-ExchangeCertificate", params={"Server": LOCAL_SERVER}, select=READ_PROPERTIES),
            Step(id=f"{prefix}{self.kind}:receive", cmdlet="Get-ReceiveConnector", params={"Server": LOCAL_SERVER},
                 select=("Identity", "Fqdn", "TlsCertificateName")),
            Step(id=f"{prefix}{self.kind}:send", cmdlet="Get-SendConnector", params={},
                 select=("Identity", "Fqdn", "TlsCertificateName", "SourceTransportServers")),
            # How the server uses its certificates (what Get-ExchangeCertificate's Services is computed from):
            # the default SMTP certificate [CSS-Exchange HealthChecker reads it so], the IMAP4/POP3 names, OAuth's.
            Step(id=f"{prefix}{self.kind}:transport", cmdlet="Get-TransportService", params={"Identity": LOCAL_SERVER},
                 select=("InternalTransportCertificateThumbprint",)),
            Step(id=f"{prefix}{self.kind}:imap", cmdlet="Get-ImapSettings", params={}, select=("X509CertificateName",), skip_on_edge=True),
            Step(id=f"{prefix}{self.kind}:pop", cmdlet="Get-PopSettings", params={}, select=("X509CertificateName",), skip_on_edge=True),
            Step(id=f"{prefix}{self.kind}:auth", cmdlet="Get-AuthConfig", params={},
                 select=("CurrentCertificateThumbprint", "NextCertificateThumbprint"), skip_on_edge=True),
        ]

    def observe(self, answer: Answer, prefix: str) -> tuple[ObservedObject, ...] | None:
        out = []
        certs = answer.result(f"{prefix}{self.kind}")
        if not certs.ok:
            raise ReadError(f"Get-ExchangeCertificate failed: {certs.error.message if certs.error else certs.status}")
        for obj in certs.objects:
            thumb = str(obj.get("Thumbprint") or "").upper()
            out.append(ObservedObject(kind=self.kind, name=thumb, identity=thumb, values=dict(obj)))
        for which in ("receive", "send"):
            result = answer.result(f"{prefix}{self.kind}:{which}")
            if not result.ok:
                raise ReadError(f"Get-{which.capitalize()}Connector failed: {result.error.message if result.error else result.status}")
            for obj in result.objects:
                out.append(ObservedObject(kind=CONNECTOR, name=str(obj.get("Identity") or ""), identity=which, values=dict(obj)))
        info: dict[str, Any] = {"UtcNow": answer.utc_now}
        for which, cmdlet, props in (("transport", "Get-TransportService", ("InternalTransportCertificateThumbprint",)),
                                     ("imap", "Get-ImapSettings", ("X509CertificateName",)),
                                     ("pop", "Get-PopSettings", ("X509CertificateName",)),
                                     ("auth", "Get-AuthConfig", ("CurrentCertificateThumbprint", "NextCertificateThumbprint"))):
            got = answer.results.get(f"{prefix}{self.kind}:{which}")
            if got is None or got.status == STATUS_NOT_APPLICABLE:
                continue  # not asked (a read-back), or not on this role (an Edge has no IMAP, POP or AuthConfig)
            if not got.ok:
                raise ReadError(f"{cmdlet} failed: {got.error.message if got.error else got.status}")
            row = got.objects[0] if len(got.objects) == 1 else {}
            info.update({f"{which}.{p}": row.get(p) for p in props})
        out.append(ObservedObject(kind=SERVER_INFO, name="", identity="", values=info))
        return tuple(out)

    # --- planning ---------------------------------------------------------------------------------------

    def plan(self, desired: tuple[Desired, ...], observed: tuple[ObservedObject, ...], ctx: PlanContext) -> KindPlan:
        return plan_certificates(tuple(self._opened_now(d) for d in desired), observed, ctx, self.clock())

    # --- changing ---------------------------------------------------------------------------------------

    def operations(self, change: Change) -> tuple[Operation, ...]:
        return operations_for(change)

    def verify(self, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        return verify_change(change, readback)

    def verify_operation(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str | None:
        if isinstance(change.payload, certificate_requests.RequestWork):
            return certificate_requests.verify(op, change, readback, self.clock())
        return verify_change(change, readback)

    def applied_note(self, op: Operation, change: Change, readback: tuple[ObservedObject, ...]) -> str:
        if isinstance(change.payload, certificate_requests.RequestWork):
            return certificate_requests.applied_note(op, change, readback)
        return applied_note(change, readback)

    def resolve(self, op: Operation, carried: Mapping[tuple[str, str], Any]) -> Operation:
        if op.role in (certificate_requests.CHALLENGE, certificate_requests.UNCHALLENGE):
            return certificate_requests.resolve(op, carried)
        return resolve_from_operations(op, carried)

    def run_on_controller(self, op: Operation, change: Change, carried: Mapping[tuple[str, str], Any]) -> dict[str, Any]:
        return certificate_requests.run_on_controller(op, change, carried)

    def plan_rails(self, plan: Plan) -> list[Refusal]:
        return plan_rails(plan)


KIND_INSTANCE = CertificateKind()

__all__ = ["CONNECTOR", "KIND", "KIND_INSTANCE", "RAILS", "CertSpec", "CertificateKind"]
