"""The certificate stores of the lab's servers: what each holds, how it is made and kept, and
the object Get/New/Import-ExchangeCertificate write (cmdlets.md §2). The cmdlets are in
certificates.py; the X.509 itself in x509.py.

Each server has its own store. A fresh server holds what a fresh install has
[EXD architecture/client-access/certificates.md, cmdlets.md §2, and the CSS-Exchange recordings of
real servers, ../shared/fixtures/css-exchange]:

* the self-signed "Microsoft Exchange" certificate: CN=<server>, SANs the server's name and
  FQDN, 5 years, RootCAType Registry, not exportable; it serves IMAP, POP, IIS and SMTP on a Mailbox
  server and SMTP on an Edge; it is the server's internal transport (default SMTP) certificate;
* on Mailbox servers the organisation's "Microsoft Exchange Server Auth Certificate" (one for the
  organisation, the same thumbprint on every Mailbox server; SMTP, RootCAType None, exportable,
  no SAN, valid 1800 days as every recorded one is);
* on Mailbox servers the IIS Web Management certificate "WMSvc-SHA2-<server>": exportable, no SAN,
  10 years, SHA-256, serving nothing (as recorded on every build).

Setup of a 2018-2021 build signs the first two with SHA-1 (sha1RSA in every recording of a server
installed then: Exchange 2016 CU11 2018, 2019 2019, 2016 2021), later builds with SHA-256; which
build is from when follows Microsoft's "Exchange Server build numbers and release dates" [EXD
new-features/build-numbers-and-release-dates.md].

What Get-ExchangeCertificate shows as Services is not stored on a certificate: Exchange computes it
each time from where the certificate is used [SRC ExchangeCertificateServerHelper.UpdateServices,
GetInstalledRoles]:

* SMTP: NETWORK SERVICE may read its private key (granted when it is enabled for SMTP, IMAP or POP,
  or with -NetworkServiceAllowed), on a server with the transport roles: every lab server;
* IIS: an IIS web site's SSL binding names its thumbprint ("Default Web Site", which
  Enable-ExchangeCertificate -Services IIS sets, and "Exchange Back End", which keeps the self-signed
  certificate setup bound): so two certificates can show IIS at once, as the recordings show;
* IMAP, POP: one of its names (subject CN or a SAN) is the X509CertificateName of the server's IMAP4
  or POP3 settings (Get-ImapSettings, Get-PopSettings) [PS Set-ImapSettings -X509CertificateName;
  EXD clients/pop3-and-imap4/configure-imap4.md: "This value identifies the certificate that matches
  or contains the IMAP4 server FQDN"], which enabling a certificate for IMAP or POP sets to that
  certificate's first name: so every certificate with that name shows IMAP, whatever was enabled,
  and a certificate made with -Services SMTP shows "IMAP, SMTP" when it carries the server's name
  (Microsoft's recording of New-ExchangeCertificate -Services SMTP -Force on E2k16-1 in CSS-Exchange);
* UM, UMCallRouter, Federation: a thumbprint the UM service, the UM call router or a federation
  trust holds (the lab keeps the bits it was given).

The X509CertificateName of a fresh server is its FQDN, the name of its InternalConnectionSettings
[PS Set-ImapSettings: "A valid value for this parameter is the FQDN from the ExternalConnectionSettings
or InternalConnectionSettings parameters"], which the default certificate carries.

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
from cryptography.hazmat.primitives.asymmetric import rsa

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
AUTH_VALIDITY = dt.timedelta(days=1800)  # every recorded Auth certificate: 2019-12-03 -> 2024-11-06 and alike
WMSVC_VALIDITY = dt.timedelta(days=3650)  # recorded: 2019-12-03 -> 2029-11-30
DEFAULT_WEB_SITE, BACK_END = "Default Web Site", "Exchange Back End"
SHOWN_BY_BINDING = IIS | IMAP | POP | SMTP  # computed from where a certificate is used (see the module's docstring)

# The first and last builds released in 2018-2021, per version [EXD build-numbers-and-release-dates.md]:
# 2013 CU20 (15.0.1367, March 2018) and later (CU23 of June 2019 is the last); 2016 CU9 (15.1.1466,
# March 2018) to CU22 (15.1.2375, September 2021); 2019 RTM (15.2.221, October 2018) to CU11
# (15.2.986, September 2021).
SHA1_SETUP_BUILDS = {(15, 0): (1367, 10**6), (15, 1): (1466, 2375), (15, 2): (221, 986)}


def setup_signature(version: str) -> str:
    """The hash setup of this build signs the default and Auth certificates with."""
    try:
        major, minor, build = (int(p) for p in version.split(".")[:3])
    except ValueError:
        return "sha256"
    low, high = SHA1_SETUP_BUILDS.get((major, minor), (1, 0))
    return "sha1" if low <= build <= high else "sha256"


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
#    "internal_transport": thumbprint, "root_require_ssl": bool, "seeded": [decl keys],
#    Mailbox servers: "iis": {web site: thumbprint}, "imap": X509CertificateName, "pop": X509CertificateName}}}
# <stored> = {"der": base64, "key": PEM or None, "services": int (UM, UMCallRouter, Federation only),
#             "network_service": bool (NETWORK SERVICE may read the key), "friendly_name": str, "exportable": bool,
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


SERVER_STORED = stored.Stored(SERVER_KEY, stored.on_servers, lambda org, entry, now: {}, dict, _blob)
ORG_STORED = stored.Stored(ORG_KEY, lambda entry: entry is None, lambda org, entry, now: {}, dict, _blob)


def new_stored(keyed: lab_x509.KeyedCertificate, *, network_service: bool = False, friendly_name: str = "",
               exportable: bool = False, root_ca_type: str | None = None, trusted: bool = True) -> dict[str, Any]:
    """A store entry (JSON-ready) for a certificate and its key. ``services`` keeps only the bits the lab
    is given for UM, UMCallRouter and Federation; the others are computed (``shown_services``)."""
    return {
        "der": base64.b64encode(keyed.der).decode("ascii"),
        "key": keyed.key_pem.decode("ascii") if keyed.key_pem else None,
        "services": 0, "network_service": network_service, "friendly_name": friendly_name, "exportable": exportable,
        "root_ca_type": root_ca_type, "pending": False, "request": None, "trusted": trusted,
    }


def thumbprint_of(stored_cert: dict[str, Any]) -> str:
    return lab_x509.thumbprint(certificate_of(stored_cert).certificate)


def fqdns(cert: x509.Certificate) -> list[str]:
    """TlsCertificateInfo.GetFQDNs: the subject's CN, then the SAN DNS names, each once (the order
    Enable-ExchangeCertificate takes "the first" from for IMAP and POP) [SRC SetPopImapCertificate]."""
    out: list[str] = []
    cn = lab_x509.common_name(cert.subject)
    for name in ([cn] if cn else []) + lab_x509.domains_of(cert):
        if name.lower() not in (n.lower() for n in out):
            out.append(name)
    return out


def shown_services(store: dict[str, Any], entry: ServerEntry, stored_cert: dict[str, Any]) -> int:
    """What Get-ExchangeCertificate shows as Services: UpdateServices [SRC], from where the certificate is used."""
    if stored_cert["pending"]:
        return 0
    bits = int(stored_cert.get("services", 0)) & ~SHOWN_BY_BINDING
    if stored_cert.get("network_service"):
        bits |= SMTP  # every lab server has a transport role (Hub or Edge)
    if entry.is_edge:
        return bits
    thumb = thumbprint_of(stored_cert)
    if thumb in store["iis"].values():
        bits |= IIS
    names = {n.lower() for n in fqdns(certificate_of(stored_cert).certificate)}
    for bit, key in ((IMAP, "imap"), (POP, "pop")):
        if store.get(key) and store[key].lower() in names:
            bits |= bit
    return bits


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


def _shared_key(ctx: Context, size: int = 2048) -> rsa.RSAPrivateKey:
    """The key pair of the certificates a lab starts with (each server's self-signed default and WMSvc
    certificates, the Auth certificate, those the organisation file declares): one per key size, made once
    per lab and kept in its state. A simulation needs distinct certificates (subject, serial, dates,
    thumbprint), not distinct keys; sharing them makes a fresh lab of 1,000 servers ready as fast as one
    without certificates (docs/lab.md). Keys New-ExchangeCertificate makes are the server's own."""
    blob = ctx.state.get(stored.ORG, ORG_KEY)
    keys = blob.setdefault("shared_keys", {})
    if str(size) not in keys:
        keys[str(size)] = lab_x509.key_pem(lab_x509.new_key(size)).decode("ascii")
        ctx.changed = True
    return lab_x509.load_key(keys[str(size)].encode("ascii"))


def _auth_certificate(ctx: Context, version: str) -> dict[str, Any]:
    """The organisation's Auth certificate: one, shared by every Mailbox server [EXD OAuth certificate],
    made by the first server's setup (its build decides the signature)."""
    blob = ctx.state.get(stored.ORG, ORG_KEY)
    if "auth" not in blob:
        start = ctx.state.created
        keyed = lab_x509.issue(lab_x509.parse_name(AUTH_SUBJECT), [], start, start + AUTH_VALIDITY,
                               key=_shared_key(ctx), signature_hash=setup_signature(version))
        blob["auth"] = new_stored(keyed, network_service=True, friendly_name=AUTH_FRIENDLY_NAME, exportable=True,
                                  root_ca_type="None")
        ctx.changed = True
    return dict(blob["auth"])


def _fresh_install(ctx: Context, entry: ServerEntry) -> list[dict[str, Any]]:
    start, spec = ctx.state.created, entry.spec
    default = lab_x509.issue(lab_x509.parse_name(f"CN={entry.name}"), [entry.name, spec.fqdn], start, start + FIVE_YEARS,
                             key=_shared_key(ctx), signature_hash=setup_signature(spec.version))
    certs = [new_stored(default, network_service=True, friendly_name=DEFAULT_FRIENDLY_NAME, root_ca_type="Registry")]
    if not entry.is_edge:
        certs.append(_auth_certificate(ctx, spec.version))
        wmsvc = lab_x509.issue(lab_x509.parse_name(f"CN=WMSvc-SHA2-{entry.name}"), [], start, start + WMSVC_VALIDITY,
                               key=_shared_key(ctx))
        certs.append(new_stored(wmsvc, friendly_name="WMSVC-SHA2", exportable=True, root_ca_type="Registry"))
    return certs


def server_store(ctx: Context, entry: ServerEntry) -> dict[str, Any]:
    """The certificate store of a server, made (fresh install + org-file certificates) on first use."""
    store = ctx.state.get(entry.name, SERVER_KEY)
    if not store:
        certs = _fresh_install(ctx, entry)
        default = thumbprint_of(certs[0])
        store.update({"certs": certs, "internal_transport": default, "root_require_ssl": False, "seeded": []})
        if not entry.is_edge:
            store.update(iis={DEFAULT_WEB_SITE: default, BACK_END: default}, imap=entry.spec.fqdn, pop=entry.spec.fqdn)
        ctx.changed = True
    elif "iis" not in store and not entry.is_edge:
        _from_service_bits(store, entry)
        ctx.changed = True
    for decl in getattr(entry, "certificates", ()):
        if decl.key not in store["seeded"]:
            added = _declared(ctx, decl)
            store["certs"].append(added)
            store["seeded"].append(decl.key)
            _use(store, entry, added, decl.services)
            ctx.changed = True
    return store


def _from_service_bits(store: dict[str, Any], entry: ServerEntry) -> None:
    """A store saved by an earlier lab, whose certificates kept Services as bits: where each is used."""
    default = store["internal_transport"]
    store.update(iis={DEFAULT_WEB_SITE: default, BACK_END: default}, imap=entry.spec.fqdn, pop=entry.spec.fqdn)
    for stored_cert in store["certs"]:
        bits = int(stored_cert.get("services", 0))
        stored_cert.setdefault("network_service", bool(bits & (SMTP | IMAP | POP)))
        if bits & IIS and thumbprint_of(stored_cert) != default:
            store["iis"][DEFAULT_WEB_SITE] = thumbprint_of(stored_cert)
        stored_cert["services"] = bits & ~SHOWN_BY_BINDING


def _use(store: dict[str, Any], entry: ServerEntry, stored_cert: dict[str, Any], services: int) -> None:
    """An org-file certificate's ``services``: where Exchange would then use it (as enabling it would)."""
    thumb = thumbprint_of(stored_cert)
    if services & (SMTP | IMAP | POP):
        stored_cert["network_service"] = True
    stored_cert["services"] = services & ~SHOWN_BY_BINDING
    if entry.is_edge:
        return
    if services & IIS:
        store["iis"][DEFAULT_WEB_SITE] = thumb
    names = fqdns(certificate_of(stored_cert).certificate)
    for bit, key in ((IMAP, "imap"), (POP, "pop")):
        if services & bit and names:
            store[key] = names[0]


def _declared(ctx: Context, decl: CertificateDecl) -> dict[str, Any]:
    now = ctx.now
    not_before = _moment(decl.not_before, now) or now - dt.timedelta(days=1)
    self_signed = decl.issuer == "self"
    not_after = _moment(decl.not_after, now) or not_before + (FIVE_YEARS if self_signed else dt.timedelta(days=397))
    subject = lab_x509.parse_name(decl.subject)
    cn = lab_x509.common_name(subject)
    domains = list(decl.domains) or ([cn] if cn else [])
    keyed = lab_x509.issue(subject, domains, not_before, not_after, key=_shared_key(ctx, decl.key_size),
                           issuer=None if self_signed else _lab_ca(ctx), signature_hash=decl.signature_hash)
    return new_stored(keyed, friendly_name=decl.friendly_name, exportable=decl.exportable, root_ca_type=None, trusted=True)


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
    services = shown_services(server_store(ctx, entry), entry, stored)
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
        "Services": EnumValue(ALLOWED_SERVICES, services),
        "Status": EnumValue(CERTIFICATE_STATUS, CERTIFICATE_STATUS.parse(status(stored, cert, ctx.now))),
        "Subject": lab_x509.dotnet_name(cert.subject),
        "Thumbprint": thumb,
        "FriendlyName": stored["friendly_name"],
        "Identity": f"{entry.spec.fqdn}\\{thumb}",
        "ServicesStringForm": services_string(services),
        "IISServices": tuple(f"IIS://{entry.name}/W3SVC/{1 if site == DEFAULT_WEB_SITE else 2}"
                             for site, t in sorted(server_store(ctx, entry).get("iis", {}).items()) if t == thumb),
        "PrivateKeyExportable": bool(stored["exportable"]) and keyed.key_pem is not None,
        "DnsNameList": domains,
        "CertificateRequest": request,
        "SignatureAlgorithm": Oid(lab_x509.SIGNATURE_NAMES.get(hash_name, hash_name), _SIGNATURE_OIDS.get(hash_name, "")),
        "Version": cert.version.value + 1,
        # X509Certificate2.RawData: the DER, what a remote session sends of the certificate (lab/powershell)
        "RawData": cert.public_bytes(serialization.Encoding.DER),
    }
