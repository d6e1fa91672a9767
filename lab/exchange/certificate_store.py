"""The certificate stores of the lab's servers: what each holds, how it is made and kept, and
the object Get/New/Import-ExchangeCertificate write (cmdlets.md §2). The cmdlets are in
certificates.py; the X.509 itself in x509.py.

Each server has its own store. A fresh server holds what a fresh install has
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
same way. The private keys are lab state; no password is ever stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import stored
from . import string_values as v
from . import x509 as lab_x509
from .context import Context
from .spec import ServerEntry
from .enums import EnumDef, EnumValue

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


# Stored in the lab state (stored.py): per server its store, empty until a cmdlet first touches it
# (key generation is slow: a thousand-server lab must not make keys at start); per organisation the
# lab CA and the shared Auth certificate, also made on first use.
SERVER_KEY = "exchange_certificates"
ORG_KEY = "exchange_certificate_authority"


def _blob(raw: Any, org: Any = None, entry: Any = None) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("the certificates of the state file are damaged")
    return raw


stored.register(stored.Stored(SERVER_KEY, stored.on_servers, lambda org, entry, now: {}, dict, _blob))
stored.register(stored.Stored(ORG_KEY, lambda entry: entry is None, lambda org, entry, now: {}, dict, _blob))


def new_stored(keyed: lab_x509.KeyedCertificate, *, services: int = 0, friendly_name: str = "", exportable: bool = False,
               root_ca_type: str | None = None, trusted: bool = True) -> dict[str, Any]:
    """A store entry (JSON-ready) for a certificate and its key."""
    return {
        "der": base64.b64encode(keyed.der).decode("ascii"),
        "key": keyed.key_pem.decode("ascii") if keyed.key_pem else None,
        "services": services, "friendly_name": friendly_name, "exportable": exportable,
        "root_ca_type": root_ca_type, "pending": False, "request": None, "trusted": trusted,
    }


def certificate_of(stored: dict[str, Any]) -> lab_x509.KeyedCertificate:
    """The certificate and key of a store entry."""
    cert = x509.load_der_x509_certificate(base64.b64decode(stored["der"]))
    return lab_x509.KeyedCertificate(cert, stored["key"].encode("ascii") if stored["key"] else None)


def _lab_ca(ctx: Context) -> lab_x509.KeyedCertificate:
    """The lab's own certificate authority for Exchange certificates, made once per lab."""
    blob = ctx.state.get(stored.ORG, ORG_KEY)
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
    blob = ctx.state.get(stored.ORG, ORG_KEY)
    if "auth" not in blob:
        start = ctx.state.created
        keyed = lab_x509.issue(lab_x509.parse_name(AUTH_SUBJECT), [], start, start + FIVE_YEARS,
                               key=lab_x509.new_key(2048))
        blob["auth"] = new_stored(keyed, services=SMTP, friendly_name=AUTH_FRIENDLY_NAME, exportable=True,
                               root_ca_type="None")
        ctx.changed = True
    return dict(blob["auth"])


def _fresh_install(ctx: Context, entry: ServerEntry) -> list[dict[str, Any]]:
    start, spec = ctx.state.created, entry.spec
    default = lab_x509.issue(lab_x509.parse_name(f"CN={entry.name}"), [entry.name, spec.fqdn], start, start + FIVE_YEARS,
                             key=lab_x509.new_key(2048))
    services = SMTP if entry.is_edge else IMAP | POP | IIS | SMTP
    certs = [new_stored(default, services=services, friendly_name=DEFAULT_FRIENDLY_NAME, root_ca_type="Registry")]
    if not entry.is_edge:
        certs.append(_auth_certificate(ctx))
        wmsvc = lab_x509.issue(lab_x509.parse_name(f"CN=WMSvc-SHA2-{entry.name}"), [f"WMSvc-SHA2-{entry.name}"], start,
                               start + dt.timedelta(days=3652), key=lab_x509.new_key(2048))
        certs.append(new_stored(wmsvc, friendly_name="WMSVC-SHA2", root_ca_type="Registry"))
    return certs


def server_store(ctx: Context, entry: ServerEntry) -> dict[str, Any]:
    """The certificate store of a server, made (fresh install + org-file certificates) on first use."""
    store = ctx.state.get(entry.name, SERVER_KEY)
    if not store:
        certs = _fresh_install(ctx, entry)
        store.update({"certs": certs, "internal_transport": lab_x509.thumbprint(certificate_of(certs[0]).certificate),
                      "root_require_ssl": False, "seeded": []})
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
    return new_stored(keyed, services=decl.services, friendly_name=decl.friendly_name, exportable=decl.exportable,
                   root_ca_type=None, trusted=True)


# --- the object Get/New/Import write ----------------------------------------------------------------------


def status(stored: dict[str, Any], cert: x509.Certificate, now: dt.datetime) -> str:
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
    keyed = certificate_of(stored)
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
        "Status": EnumValue(CERTIFICATE_STATUS, CERTIFICATE_STATUS.parse(status(stored, cert, ctx.now))),
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
        # X509Certificate2.RawData: the DER, what a remote session sends of the certificate (lab/powershell)
        "RawData": cert.public_bytes(serialization.Encoding.DER),
    }
