"""Exchange certificates (cmdlets.md §2): Get/Enable/New/Import/Export/Remove-ExchangeCertificate.

Each server has its own certificate store. A fresh server holds what a fresh install has
[EXD architecture/client-access/certificates.md, cmdlets.md §2]:

* the self-signed "Microsoft Exchange" certificate: CN=<server>, SANs the server's name and
  FQDN, 5 years, RootCAType Registry, not exportable; Services IMAP, POP, IIS, SMTP on a Mailbox
  server and SMTP on an Edge; it is the server's internal transport (default SMTP) certificate;
* on Mailbox servers the organisation's "Microsoft Exchange Server Auth Certificate" (one for the
  organisation, the same thumbprint on every Mailbox server; Services SMTP, RootCAType None);
* on Mailbox servers the IIS Web Management certificate "WMSvc-SHA2-<server>" (Services None).

The stores are made the first time a cmdlet touches a server (making RSA keys costs ~60 ms each;
a lab of hundreds of servers must start at once), dated from the lab's creation so that nothing
shows when they were made. Org-file certificates (``certificates:`` of a server) are added the
same way. The private keys are lab state; no password is ever stored: a PFX password exists only
as the SecureString of the one Import/Export call that uses it.

What the cmdlets do follows cmdlets.md §2 and §6; each behaviour chosen beyond it says so.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import errors
from . import values as v
from . import x509 as lab_x509
from .binder import Param, Signature
from .context import Context
from .secure import BYTES, SECURE_STRING
from .spec import ServerEntry
from .values import EnumDef, EnumValue

_TASKS = "Microsoft.Exchange.Management.SystemConfigurationTasks."
ALLOWED_SERVICES = EnumDef(
    _TASKS + "AllowedServices",
    (("None", 0), ("IMAP", 1), ("POP", 2), ("UM", 4), ("IIS", 8), ("SMTP", 16), ("Federation", 32), ("UMCallRouter", 64)),
    flags=True,
)  # [SRC AllowedServices.cs]
CERTIFICATE_STATUS = EnumDef(
    _TASKS + "CertificateStatus",
    tuple((n, i) for i, n in enumerate(("Unknown", "Valid", "Revoked", "DateInvalid", "Untrusted", "Invalid",
                                        "RevocationCheckFailure", "PendingRequest"))),
)  # [SRC CertificateStatus.cs]
ROOT_CA_TYPE = EnumDef(
    _TASKS + "CertificateAuthorityType",
    tuple((n, i) for i, n in enumerate(("None", "ThirdParty", "Enterprise", "Registry", "GroupPolicy", "Unknown"))),
)  # [SRC CertificateAuthorityType.cs]
IMAP, POP, UM, IIS, SMTP, FEDERATION, UM_CALL_ROUTER = 1, 2, 4, 8, 16, 32, 64
_MASK = "IPUWSFC"  # ServicesStringForm: one letter per AllowedServices bit, '.' when unset (cmdlets.md §2)

DEFAULT_FRIENDLY_NAME = "Microsoft Exchange"
AUTH_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"
AUTH_FRIENDLY_NAME = "Microsoft Exchange Server Auth Certificate"
LAB_CA_SUBJECT = "CN=exconf lab Exchange CA, O=exconf lab"  # not the lab's WinRM TLS CA (lab/certs.py)
FIVE_YEARS = dt.timedelta(days=5 * 365 + 1)

# Texts. [cmdlets.md §6] (ManageExchangeCertificate.UpdateActiveDirectory [SRC]):
EDGE_RESUBSCRIBE_WARNING = (
    "The internal transport certificate attribute for the local Edge Transport server has been updated. If this Edge "
    "Transport server is subscribed to an Active Directory site, you must subscribe it again by using the "
    "New-EdgeSubscription cmdlet in the Shell, and then restart AD LDS."
)
# [cmdlets.md §2 Remove] (Strings of Microsoft.Exchange.Management [SRC]); the second sentence is the
# advice cmdlets.md gives ("create its replacement first").
INTERNAL_TRANSPORT_REMOVE = (
    "The internal transport certificate cannot be removed because that would cause the Microsoft Exchange Transport "
    "service to stop. To replace the internal transport certificate, create a new certificate. The new certificate "
    "will automatically become the internal transport certificate. You can then remove the existing certificate."
)
# A prompt in `powershell.exe -NonInteractive`: the console host throws instead of asking
# (PowerShell ConsoleHostUserInterfaceStrings.ReadFailsOnNonInteractiveFlag, Windows PowerShell 5.1
# wording). The SMTP overwrite and IIS Require-SSL questions are ShouldContinue prompts [cmdlets.md
# §1a, §2]; Remove-ExchangeCertificate confirms (ShouldProcess, high impact) unless -Confirm:$false.
NON_INTERACTIVE = "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."


def prompt_fails(ctx: Context, changed: bool = False) -> errors.CmdletError:
    """The error a prompt raises in a non-interactive shell. ``changed``: the cmdlet already
    changed something before it asked (the SMTP bit), which stays."""
    error = errors.CmdletError(NON_INTERACTIVE, f"InvalidOperation,{ctx.dotnet}", "InvalidOperation",
                               "PSInvalidOperationException", ctx.cmdlet)
    error.changed = changed  # type: ignore[attr-defined]  # read by LabStore.invoke: persist what was done
    return error


@dataclass(frozen=True)
class Oid:
    """System.Security.Cryptography.Oid: its ToString() is the type name; FriendlyName and Value
    are what a select of "SignatureAlgorithm.FriendlyName" reads."""

    FriendlyName: str
    Value: str

    def __str__(self) -> str:
        return "System.Security.Cryptography.Oid"


_SIGNATURE_OIDS = {"sha1": "1.2.840.113549.1.1.5", "sha256": "1.2.840.113549.1.1.11",
                   "sha384": "1.2.840.113549.1.1.12", "sha512": "1.2.840.113549.1.1.13"}


# --- the org file -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateDecl:
    """A certificate an org file gives a server."""

    subject: str
    domains: tuple[str, ...] = ()
    issuer: str = "lab_ca"  # "lab_ca" (a third-party CA of the lab) or "self"
    not_before: str | None = None  # ISO date/time, or "+Nd" / "-Nd" from the moment it is made
    not_after: str | None = None
    key_size: int = 2048
    signature_hash: str = "sha256"
    exportable: bool = False
    friendly_name: str = ""
    services: int = 0

    @property
    def key(self) -> str:
        return f"{self.subject}|{self.not_before}|{self.not_after}|{','.join(self.domains)}"


_RELATIVE = re.compile(r"^([+-])(\d{1,5})d$")


def _moment(text: str | None, base: dt.datetime) -> dt.datetime | None:
    if text is None:
        return None
    found = _RELATIVE.match(text)
    if found:
        days = int(found.group(2)) * (1 if found.group(1) == "+" else -1)
        return base + dt.timedelta(days=days)
    moment = dt.datetime.fromisoformat(text)
    return lab_x509.utc(moment)


def declare(raw: list[dict[str, Any]], fail: Callable[[tuple[Any, ...], str], Exception]) -> tuple[CertificateDecl, ...]:
    """The ``certificates`` of a server in the org file; ``fail(key path, message)`` makes the error."""
    out = []
    for i, item in enumerate(raw):
        try:
            lab_x509.parse_name(item["subject"])
        except ValueError as exc:
            raise fail((i, "subject"), f"not an X.500 name: {exc}") from None
        domains = tuple(str(d) for d in item.get("domains", ()))
        for j, domain in enumerate(domains):
            try:
                v.parse_domain_with_subdomains(domain)
            except ValueError:
                raise fail((i, "domains", j), f"expected a DNS name such as mail.contoso.lab, got {domain!r}") from None
        dates = {}
        for key in ("not_before", "not_after"):
            value = item.get(key)
            if value is not None:
                value = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)
                try:
                    _moment(value, dt.datetime.now(dt.timezone.utc))
                except ValueError:
                    raise fail((i, key), f"expected an ISO date (2027-01-31) or a day offset (+30d, -1d), got {value!r}") from None
            dates[key] = value
        try:
            services = ALLOWED_SERVICES.parse(item.get("services", "None"))
        except ValueError:
            names = ", ".join(n for n, _ in ALLOWED_SERVICES.members)
            raise fail((i, "services"), f"expected services among {names}") from None
        out.append(CertificateDecl(
            subject=item["subject"], domains=domains, issuer=item.get("issuer", "lab_ca"),
            not_before=dates["not_before"], not_after=dates["not_after"], key_size=int(item.get("key_size", 2048)),
            signature_hash=item.get("signature_hash", "sha256"), exportable=bool(item.get("exportable", False)),
            friendly_name=item.get("friendly_name", ""), services=services,
        ))
    return tuple(out)


# --- the stores (lab state) -------------------------------------------------------------------------------
# LabState.certificates is a JSON-ready dict this module owns:
#   {"ca": {"cert": PEM, "key": PEM}, "auth": <stored>, "servers": {NAME: {"certs": [<stored>...],
#    "internal_transport": thumbprint, "root_require_ssl": bool, "seeded": [decl keys]}}}
# <stored> = {"der": base64, "key": PEM or None, "services": int, "friendly_name": str, "exportable": bool,
#             "root_ca_type": name or None (derived), "pending": bool, "request": base64 PKCS#10 or None,
#             "trusted": bool}


def new_state() -> dict[str, Any]:
    return {"servers": {}}


def dump(blob: dict[str, Any]) -> dict[str, Any]:
    return blob


def load(raw: Any) -> dict[str, Any]:
    if raw is None:
        return new_state()
    if not isinstance(raw, dict) or not isinstance(raw.get("servers"), dict):
        raise ValueError("the certificates of the state file are damaged")
    return raw


def _stored(keyed: lab_x509.KeyedCertificate, *, services: int = 0, friendly_name: str = "", exportable: bool = False,
            root_ca_type: str | None = None, trusted: bool = True) -> dict[str, Any]:
    return {
        "der": base64.b64encode(keyed.der).decode("ascii"),
        "key": keyed.key_pem.decode("ascii") if keyed.key_pem else None,
        "services": services, "friendly_name": friendly_name, "exportable": exportable,
        "root_ca_type": root_ca_type, "pending": False, "request": None, "trusted": trusted,
    }


def _keyed(stored: dict[str, Any]) -> lab_x509.KeyedCertificate:
    cert = x509.load_der_x509_certificate(base64.b64decode(stored["der"]))
    return lab_x509.KeyedCertificate(cert, stored["key"].encode("ascii") if stored["key"] else None)


def _lab_ca(ctx: Context) -> lab_x509.KeyedCertificate:
    """The lab's own certificate authority for Exchange certificates, made once per lab."""
    blob = ctx.state.certificates
    if "ca" not in blob:
        key = lab_x509.new_key(2048)
        start = ctx.state.created - dt.timedelta(days=365)
        ca = lab_x509.issue(lab_x509.parse_name(LAB_CA_SUBJECT), [], start, start + dt.timedelta(days=20 * 365),
                            key=key, ca=True)
        blob["ca"] = {"cert": ca.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
                      "key": ca.key_pem.decode("ascii")}
        ctx.changed = True
    ca = blob["ca"]
    return lab_x509.KeyedCertificate(x509.load_pem_x509_certificate(ca["cert"].encode("ascii")), ca["key"].encode("ascii"))


def lab_ca_certificate(blob: dict[str, Any]) -> bytes | None:
    """The lab CA's certificate (PEM), once made: what a test or user trusts to check an issued chain."""
    return blob.get("ca", {}).get("cert", "").encode("ascii") or None


def _auth_certificate(ctx: Context) -> dict[str, Any]:
    """The organisation's Auth certificate: one, shared by every Mailbox server [EXD OAuth certificate]."""
    blob = ctx.state.certificates
    if "auth" not in blob:
        start = ctx.state.created
        keyed = lab_x509.issue(lab_x509.parse_name(AUTH_SUBJECT), [], start, start + FIVE_YEARS,
                               key=lab_x509.new_key(2048))
        blob["auth"] = _stored(keyed, services=SMTP, friendly_name=AUTH_FRIENDLY_NAME, exportable=True,
                               root_ca_type="None")
        ctx.changed = True
    return dict(blob["auth"])


def _fresh_install(ctx: Context, entry: ServerEntry) -> list[dict[str, Any]]:
    start, spec = ctx.state.created, entry.spec
    default = lab_x509.issue(lab_x509.parse_name(f"CN={entry.name}"), [entry.name, spec.fqdn], start, start + FIVE_YEARS,
                             key=lab_x509.new_key(2048))
    services = SMTP if entry.is_edge else IMAP | POP | IIS | SMTP
    certs = [_stored(default, services=services, friendly_name=DEFAULT_FRIENDLY_NAME, root_ca_type="Registry")]
    if not entry.is_edge:
        certs.append(_auth_certificate(ctx))
        wmsvc = lab_x509.issue(lab_x509.parse_name(f"CN=WMSvc-SHA2-{entry.name}"), [f"WMSvc-SHA2-{entry.name}"], start,
                               start + dt.timedelta(days=3652), key=lab_x509.new_key(2048))
        certs.append(_stored(wmsvc, friendly_name="WMSVC-SHA2", root_ca_type="Registry"))
    return certs


def server_store(ctx: Context, entry: ServerEntry) -> dict[str, Any]:
    """The certificate store of a server, made (fresh install + org-file certificates) on first use."""
    servers = ctx.state.certificates["servers"]
    store = servers.get(entry.name)
    if store is None:
        certs = _fresh_install(ctx, entry)
        store = {"certs": certs, "internal_transport": lab_x509.thumbprint(_keyed(certs[0]).certificate),
                 "root_require_ssl": False, "seeded": []}
        servers[entry.name] = store
        ctx.changed = True
    for decl in getattr(entry, "certificates", ()):
        if decl.key not in store["seeded"]:
            store["certs"].append(_declared(ctx, decl))
            store["seeded"].append(decl.key)
            ctx.changed = True
    return store


def _declared(ctx: Context, decl: CertificateDecl) -> dict[str, Any]:
    now = ctx.now
    not_before = _moment(decl.not_before, now) or now - dt.timedelta(days=1)
    self_signed = decl.issuer == "self"
    not_after = _moment(decl.not_after, now) or not_before + (FIVE_YEARS if self_signed else dt.timedelta(days=397))
    subject = lab_x509.parse_name(decl.subject)
    cn = lab_x509.common_name(subject)
    domains = list(decl.domains) or ([cn] if cn else [])
    keyed = lab_x509.issue(subject, domains, not_before, not_after, key=lab_x509.new_key(decl.key_size),
                           issuer=None if self_signed else _lab_ca(ctx), signature_hash=decl.signature_hash)
    return _stored(keyed, services=decl.services, friendly_name=decl.friendly_name, exportable=decl.exportable,
                   root_ca_type=None, trusted=True)


# --- the object Get/New/Import write ----------------------------------------------------------------------


def _status(stored: dict[str, Any], cert: x509.Certificate, now: dt.datetime) -> str:
    if stored["pending"]:
        return "PendingRequest"
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return "DateInvalid"
    return "Valid" if stored["trusted"] else "Untrusted"


def _root_ca_type(stored: dict[str, Any], cert: x509.Certificate) -> str:
    if stored["pending"]:
        return "Unknown"
    if stored["root_ca_type"] is not None:
        return stored["root_ca_type"]
    return "None" if lab_x509.is_self_signed(cert) else "ThirdParty"


def services_string(number: int) -> str:
    return "".join(letter if number & (1 << i) else "." for i, letter in enumerate(_MASK))


def _serial(cert: x509.Certificate) -> str:
    """X509Certificate2.SerialNumber: the serial's bytes in hex, upper case (whole bytes)."""
    text = f"{cert.serial_number:X}"
    return text if len(text) % 2 == 0 else "0" + text


def view(ctx: Context, entry: ServerEntry, stored: dict[str, Any]) -> dict[str, Any]:
    keyed = _keyed(stored)
    cert = keyed.certificate
    thumb = lab_x509.thumbprint(cert)
    domains = tuple(lab_x509.domains_of(cert))
    hash_name = lab_x509.signature_hash_name(cert)
    request = None
    if stored["pending"]:
        csr = x509.load_der_x509_csr(base64.b64decode(stored["request"]))
        request = lab_x509.request_text(csr)
    return {
        "CertificateDomains": domains,
        "HasPrivateKey": keyed.key_pem is not None,
        "IsSelfSigned": lab_x509.is_self_signed(cert),
        "Issuer": lab_x509.dotnet_name(cert.issuer),
        "NotAfter": cert.not_valid_after_utc,
        "NotBefore": cert.not_valid_before_utc,
        "PublicKeySize": lab_x509.key_size(cert),
        "RootCAType": EnumValue(ROOT_CA_TYPE, ROOT_CA_TYPE.parse(_root_ca_type(stored, cert))),
        "SerialNumber": _serial(cert),
        "Services": EnumValue(ALLOWED_SERVICES, stored["services"]),
        "Status": EnumValue(CERTIFICATE_STATUS, CERTIFICATE_STATUS.parse(_status(stored, cert, ctx.now))),
        "Subject": lab_x509.dotnet_name(cert.subject),
        "Thumbprint": thumb,
        "FriendlyName": stored["friendly_name"],
        "Identity": f"{entry.spec.fqdn}\\{thumb}",
        "ServicesStringForm": services_string(stored["services"]),
        "IISServices": (),
        "PrivateKeyExportable": bool(stored["exportable"]) and keyed.key_pem is not None,
        "DnsNameList": domains,
        "CertificateRequest": request,
        "SignatureAlgorithm": Oid(lab_x509.SIGNATURE_NAMES.get(hash_name, hash_name), _SIGNATURE_OIDS.get(hash_name, "")),
        "Version": cert.version.value + 1,
    }


# --- cmdlet plumbing ----------------------------------------------------------------------------------------

SERVER_ID = v.id_param("ServerIdParameter")
CERT_ID = v.id_param("ExchangeCertificateIdParameter")
SERVICES = v.EnumType(ALLOWED_SERVICES)
X509_INSTANCE = v.RejectType("System.Security.Cryptography.X509Certificates.X509Certificate2")


def _key_size(value: int) -> str | None:
    # New-ExchangeCertificate allows 1024, 2048 and 4096 [PS New-ExchangeCertificate.md]; lab wording.
    return None if value in (1024, 2048, 4096) else f"The key size {value} isn't supported. Use 1024, 2048 or 4096."


# How Enable, Export and Remove name one certificate: -Thumbprint [-Server], or -Identity Server\Thumbprint.
BY_THUMBPRINT = (
    Param("Thumbprint", v.STRING, mandatory=True, position=1, sets=("Thumbprint",)),
    Param("Identity", CERT_ID, position=1, sets=("Identity",)),
    Param("Server", SERVER_ID, sets=("Thumbprint",)),
)


def _normal_thumbprint(text: str) -> str:
    return re.sub(r"\s", "", text).upper()


def _target(ctx: Context, bound: dict[str, Any]) -> tuple[ServerEntry, str | None]:
    """The server a call addresses and the thumbprint it names (-Identity "Server\\Thumbprint" or -Thumbprint)."""
    identity = bound.get("Identity")
    if identity is not None:
        server, sep, thumb = identity.rpartition("\\")
        entry = ctx.one_server(server) if sep else ctx.local
        return entry, _normal_thumbprint(thumb)
    entry = ctx.one_server(bound["Server"]) if bound.get("Server") is not None else ctx.local
    thumb = bound.get("Thumbprint")
    return entry, None if thumb is None else _normal_thumbprint(thumb)


def _find(ctx: Context, store: dict[str, Any], thumb: str) -> dict[str, Any]:
    for stored in store["certs"]:
        if lab_x509.thumbprint(_keyed(stored).certificate) == thumb:
            return stored
    # Lab wording after Exchange's ManagementObjectNotFoundException for a certificate.
    raise ctx.error(f"The certificate with thumbprint {thumb} was not found.", "ManagementObjectNotFoundException",
                    errors.CATEGORY_CONTEXT)


def _addressed(ctx: Context, bound: dict[str, Any]) -> tuple[ServerEntry, str, dict[str, Any], dict[str, Any]]:
    """The server, thumbprint, store and stored certificate that BY_THUMBPRINT parameters name."""
    entry, thumb = _target(ctx, bound)
    store = server_store(ctx, entry)
    return entry, thumb or "", store, _find(ctx, store, thumb or "")


def _refuse_on_edge(ctx: Context, entry: ServerEntry, services: int) -> None:
    """On an Edge only SMTP (and None): IMAP/POP need the Client Access role [cmdlets.md §2,
    ExchangeCertificateServerHelper.cs l.729-735 SRC]. Lab wording."""
    refused = services & ~SMTP
    if entry.is_edge and refused:
        names = str(EnumValue(ALLOWED_SERVICES, refused))
        raise ctx.error(
            f"The certificate can't be enabled for {names} on {entry.name}: an Edge Transport server runs none of "
            "these services. Only SMTP can be enabled on an Edge Transport server.",
            "InvalidOperationException", "InvalidOperation",
        )


def _grant_smtp(ctx: Context, entry: ServerEntry, store: dict[str, Any], stored: dict[str, Any], force: bool,
                already_changed: bool) -> None:
    """SMTP: the certificate gains SMTP (NETWORK SERVICE may read its key), then replacing the default SMTP
    certificate asks; -Force answers yes, a non-interactive shell fails [cmdlets.md §2 "SMTP and -Force"]."""
    thumb = lab_x509.thumbprint(_keyed(stored).certificate)
    if not stored["services"] & SMTP:
        stored["services"] |= SMTP
        ctx.changed = already_changed = True
    if store["internal_transport"] == thumb:
        return
    if not force:
        raise prompt_fails(ctx, changed=already_changed)
    store["internal_transport"] = thumb
    ctx.changed = True
    if entry.is_edge:  # a Mailbox server re-encrypts the EdgeSync credentials itself [cmdlets.md §6]
        ctx.warn(EDGE_RESUBSCRIBE_WARNING)


# --- Get-ExchangeCertificate ------------------------------------------------------------------------------------

GET = Signature(
    "Get-ExchangeCertificate",
    (
        Param("Thumbprint", v.STRING, position=1, sets=("Thumbprint",)),
        Param("Identity", CERT_ID, position=1, sets=("Identity",)),
        Param("Instance", X509_INSTANCE, sets=("Instance",)),
        Param("Server", SERVER_ID, sets=("Thumbprint", "Instance")),
        Param("DomainName", v.multi(v.STRING)),
        Param("DomainController", v.FQDN),
    ),
    default_set="Thumbprint",
)


def _covers(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and name.count(".") == pattern.count(".")
    return pattern == name


def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry, thumb = _target(ctx, bound)
    store = server_store(ctx, entry)
    found = [_find(ctx, store, thumb)] if thumb else list(store["certs"])
    rows = [view(ctx, entry, s) for s in found]
    wanted = bound.get("DomainName")
    if wanted:
        rows = [r for r in rows if any(_covers(d, w) for d in r["CertificateDomains"] for w in wanted)]
        # The first is the one a connector with that FQDN selects [PS Get-ExchangeCertificate Example 4]:
        # valid before invalid, CA-issued before self-signed, then the newest (lab's ordering of that rule).
        rows.sort(key=lambda r: (str(r["Status"]) != "Valid", r["IsSelfSigned"], -r["NotBefore"].timestamp()))
    return rows


# --- Enable-ExchangeCertificate -----------------------------------------------------------------------------------

ENABLE = Signature(
    "Enable-ExchangeCertificate",
    (
        *BY_THUMBPRINT,
        Param("Services", SERVICES, mandatory=True),
        Param("DoNotRequireSsl", v.SWITCH),
        Param("Force", v.SWITCH),
        Param("NetworkServiceAllowed", v.SWITCH),
        Param("DomainController", v.FQDN),
    ),
    default_set="Thumbprint",
    should_process=True,
)


def enable(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry, thumb, store, stored = _addressed(ctx, bound)
    services = bound["Services"].number
    cert = _keyed(stored).certificate
    if stored["pending"]:
        raise ctx.error(f"The certificate with thumbprint {thumb} is a pending request. Complete the request with "
                        "Import-ExchangeCertificate before you enable it.", "InvalidOperationException",
                        "InvalidOperation")  # lab wording
    _refuse_on_edge(ctx, entry, services)
    if services and stored["key"] is None:
        raise ctx.error(f"The certificate with thumbprint {thumb} has no private key, so it can't be enabled for "
                        f"{EnumValue(ALLOWED_SERVICES, services)}.", "InvalidOperationException", "InvalidOperation")
    if services and _status(stored, cert, ctx.now) == "DateInvalid":
        raise ctx.error(f"The certificate with thumbprint {thumb} has expired or isn't valid yet.",
                        "InvalidOperationException", "InvalidOperation")  # lab wording
    if services & IIS and not bound.get("DoNotRequireSsl") and not store["root_require_ssl"]:
        # "Do you want to enforce SSL communication on the root web site? If not, rerun the cmdlet with the
        # -DoNotRequireSSL parameter." [cmdlets.md §2]: asked before anything changes.
        raise prompt_fails(ctx)
    if ctx.whatif:
        return []
    changed = False
    added = services & ~stored["services"] & ~SMTP
    if services & IIS:  # IIS shows on the certificate bound to the Default Web Site: one at a time
        for other in store["certs"]:
            if other is not stored and other["services"] & IIS:
                other["services"] &= ~IIS
                changed = True
    if added:
        stored["services"] |= added
        changed = True
    ctx.changed = ctx.changed or changed
    if services & SMTP:
        _grant_smtp(ctx, entry, store, stored, bool(bound.get("Force")), changed)
    return []


# --- New-ExchangeCertificate --------------------------------------------------------------------------------------

NEW = Signature(
    "New-ExchangeCertificate",
    (
        Param("GenerateRequest", v.SWITCH, sets=("Request",)),
        Param("BinaryEncoded", v.SWITCH, sets=("Request",)),
        Param("RequestFile", v.STRING, sets=("Request",)),  # Exchange 2013 only
        Param("Services", SERVICES, sets=("Certificate",)),
        Param("SubjectName", v.STRING),
        Param("DomainName", v.multi(v.SMTP_DOMAIN_SUB)),
        Param("FriendlyName", v.STRING),
        Param("KeySize", v.INT, check=_key_size),
        Param("PrivateKeyExportable", v.BOOL),
        Param("IncludeAcceptedDomains", v.SWITCH),
        Param("IncludeAutoDiscover", v.SWITCH),
        Param("IncludeServerFQDN", v.SWITCH),
        Param("IncludeServerNetBIOSName", v.SWITCH),
        Param("SubjectKeyIdentifier", v.STRING),
        Param("Server", SERVER_ID),
        Param("Force", v.SWITCH),
        Param("DomainController", v.FQDN),
    ),
    default_set="Certificate",
    should_process=True,
)


def _names(ctx: Context, entry: ServerEntry, bound: dict[str, Any]) -> tuple[x509.Name, list[str]]:
    given = bound.get("SubjectName")
    try:
        subject = lab_x509.parse_name(given) if given is not None else lab_x509.parse_name(f"CN={entry.name}")
    except ValueError as exc:
        raise ctx.error(f"The SubjectName '{given}' isn't valid: {exc}", "ArgumentException", "InvalidArgument") from None
    includes = [bound.get(k) for k in ("IncludeAcceptedDomains", "IncludeAutoDiscover", "IncludeServerFQDN",
                                       "IncludeServerNetBIOSName")]
    if given is None and not bound.get("DomainName") and not any(includes):
        return subject, [entry.name, entry.spec.fqdn]  # the documented default SANs [cmdlets.md §2]
    domains: list[str] = []
    cn = lab_x509.common_name(subject)
    if cn and re.fullmatch(r"[A-Za-z0-9*][A-Za-z0-9.-]*", cn):  # the CN is added to the SANs [cmdlets.md §2]
        domains.append(cn)
    domains += list(bound.get("DomainName") or ())
    if bound.get("IncludeAcceptedDomains"):
        domains.append(ctx.domain)
    if bound.get("IncludeAutoDiscover"):
        domains.append(f"autodiscover.{ctx.domain}")
    if bound.get("IncludeServerFQDN"):
        domains.append(entry.spec.fqdn)
    if bound.get("IncludeServerNetBIOSName"):
        domains.append(entry.name)
    unique: list[str] = []
    for d in domains:
        if d.lower() not in (u.lower() for u in unique):
            unique.append(d)
    return subject, unique


def new(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry = ctx.one_server(bound["Server"]) if bound.get("Server") is not None else ctx.local
    if bound.get("RequestFile") is not None and not entry.spec.version.startswith("15.0."):
        # -RequestFile exists only in Exchange 2013 [cmdlets.md §2].
        raise errors.CmdletError(f"A parameter cannot be found that matches parameter name 'RequestFile'.",
                                 f"NamedParameterNotFound,{ctx.dotnet}", "InvalidArgument",
                                 "ParameterBindingException", ctx.cmdlet)
    store = server_store(ctx, entry)
    subject, domains = _names(ctx, entry, bound)
    size = bound.get("KeySize") or 2048
    exportable = bool(bound.get("PrivateKeyExportable", False))
    friendly = bound.get("FriendlyName") or DEFAULT_FRIENDLY_NAME
    if ctx.whatif:
        return []
    key = lab_x509.new_key(size)
    if bound.get("GenerateRequest") or bound.get("BinaryEncoded") or bound.get("RequestFile") is not None:
        csr = lab_x509.request(subject, domains, key)
        # Exchange keeps the request with a placeholder certificate of the same key: that is the
        # thumbprint Get-ExchangeCertificate shows for the pending request.
        placeholder = lab_x509.issue(subject, domains, ctx.now, ctx.now + dt.timedelta(days=365), key=key)
        stored = _stored(placeholder, friendly_name=friendly, exportable=exportable)
        stored.update(pending=True, request=base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode("ascii"))
        store["certs"].append(stored)
        ctx.changed = True
        text = lab_x509.request_text(csr)
        if bound.get("RequestFile") is not None:
            ctx.files[bound["RequestFile"]] = text.encode("ascii")
        if bound.get("BinaryEncoded"):
            return [{"FileData": csr.public_bytes(serialization.Encoding.DER)}]
        # The text request is a [string] on the pipeline: what a property select sees of it is Length.
        return [{"Length": len(text)}]
    default_services = SMTP if entry.is_edge else IMAP | POP | SMTP  # [cmdlets.md §2]; an Edge has no IMAP/POP
    services = bound["Services"].number if bound.get("Services") is not None else default_services
    _refuse_on_edge(ctx, entry, services)
    keyed = lab_x509.issue(subject, domains, ctx.now, ctx.now + FIVE_YEARS, key=key)
    # A new self-signed certificate shows RootCAType None [cmdlets.md §2 table].
    stored = _stored(keyed, services=services & ~SMTP, friendly_name=friendly, exportable=exportable, root_ca_type="None")
    store["certs"].append(stored)
    ctx.changed = True
    if services & SMTP:
        _grant_smtp(ctx, entry, store, stored, bool(bound.get("Force")), True)
    return [view(ctx, entry, stored)]


# --- Import-ExchangeCertificate ------------------------------------------------------------------------------------

IMPORT = Signature(
    "Import-ExchangeCertificate",
    (
        Param("FileData", BYTES, mandatory=True),
        Param("Password", SECURE_STRING),
        Param("PrivateKeyExportable", v.BOOL),
        Param("FriendlyName", v.STRING),
        Param("Server", SERVER_ID),
        Param("DomainController", v.FQDN),
    ),
    should_process=True,
)


def import_(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry = ctx.one_server(bound["Server"]) if bound.get("Server") is not None else ctx.local
    store = server_store(ctx, entry)
    password = bound["Password"].reveal() if bound.get("Password") is not None else None
    try:
        keyed, _chain = lab_x509.read_file_data(bound["FileData"], password)
    except lab_x509.CertificateDataError as exc:
        # X509Certificate2Collection.Import's CryptographicException, written by the task.
        raise ctx.error(str(exc), "CryptographicException", "InvalidOperation") from None
    finally:
        password = None  # noqa: F841  the text is not kept past the call
    thumb = lab_x509.thumbprint(keyed.certificate)
    for stored in store["certs"]:
        if not stored["pending"] and lab_x509.thumbprint(_keyed(stored).certificate) == thumb:
            # Lab wording after Exchange's refusal to import a certificate the store already has.
            raise ctx.error(f"The certificate with thumbprint {thumb} already exists in the certificate store.",
                            "InvalidOperationException", "InvalidOperation")
    key_pem = keyed.key_pem
    friendly = bound.get("FriendlyName") or ""
    if key_pem is None:  # an issued certificate completes the pending request that holds its key
        public = keyed.certificate.public_key().public_numbers()
        for stored in list(store["certs"]):
            if stored["pending"] and _keyed(stored).certificate.public_key().public_numbers() == public:
                key_pem = stored["key"].encode("ascii")
                friendly = friendly or stored["friendly_name"]
                store["certs"].remove(stored)
                break
    if ctx.whatif:
        return []
    exportable = bool(bound.get("PrivateKeyExportable", False)) and key_pem is not None
    self_signed = lab_x509.is_self_signed(keyed.certificate)
    stored = _stored(lab_x509.KeyedCertificate(keyed.certificate, key_pem), friendly_name=friendly,
                     exportable=exportable, trusted=not self_signed)  # a foreign self-signed root is not trusted
    store["certs"].append(stored)
    ctx.changed = True
    return [view(ctx, entry, stored)]


# --- Export-ExchangeCertificate ------------------------------------------------------------------------------------

EXPORT = Signature(
    "Export-ExchangeCertificate",
    (
        *BY_THUMBPRINT,
        Param("BinaryEncoded", v.SWITCH),
        Param("Password", SECURE_STRING),
        Param("DomainController", v.FQDN),
    ),
    default_set="Thumbprint",
    should_process=True,
)


def export(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry, thumb, store, stored = _addressed(ctx, bound)
    keyed = _keyed(stored)
    if stored["pending"]:  # a pending request exports as its PKCS#10 [cmdlets.md §2]
        data = base64.b64decode(stored["request"])
        text = lab_x509.request_text(x509.load_der_x509_csr(data))
    elif keyed.key_pem is None:
        data = keyed.der
        text = base64.b64encode(data).decode("ascii")
    else:
        if not stored["exportable"]:
            # Needs PrivateKeyExportable True [cmdlets.md §2 Export]; lab wording.
            raise ctx.error(f"The private key of the certificate with thumbprint {thumb} isn't exportable, so the "
                            "certificate can't be exported with it.", "InvalidOperationException", "InvalidOperation")
        password = bound["Password"].reveal() if bound.get("Password") is not None else None
        data = lab_x509.pfx(stored["friendly_name"], keyed, password)
        password = None
        text = base64.b64encode(data).decode("ascii")
    if bound.get("BinaryEncoded"):
        return [{"FileData": data}]
    return [{"Length": len(text)}]  # a [string] on the pipeline (see New-ExchangeCertificate)


# --- Remove-ExchangeCertificate ------------------------------------------------------------------------------------

REMOVE = Signature(
    "Remove-ExchangeCertificate",
    (
        *BY_THUMBPRINT,
        Param("DomainController", v.FQDN),
    ),
    default_set="Thumbprint",
    should_process=True,
)


def remove(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry, thumb, store, stored = _addressed(ctx, bound)
    if store["internal_transport"] == thumb:
        raise ctx.error(INTERNAL_TRANSPORT_REMOVE, "InvalidOperationException", "InvalidOperation")
    if bound.get("Confirm") is not False and not ctx.whatif:
        raise prompt_fails(ctx)  # "Are you sure you want to perform this action?" cannot be asked
    if ctx.whatif:
        return []
    store["certs"].remove(stored)
    ctx.changed = True
    return []
