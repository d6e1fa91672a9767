"""What an Exchange certificate is, from what a remote session sends of it.

Get-ExchangeCertificate over remote PowerShell "does not fully support remote PowerShell"
(office-docs-powershell, connect-to-exchange-servers-using-remote-powershell.md): the recordings
of real Exchange 2019 servers (../shared/fixtures/css-exchange/E19/GetExchangeCertificate.xml)
carry only ``RawData`` (the DER certificate) and, in its extended properties, ``SerializationData``
(the ExchangeCertificate written by BinaryFormatter, plain or signed, see nrbf.py). So:

* Thumbprint (SHA-1 of the DER), Subject, Issuer, SerialNumber, NotBefore, NotAfter,
  CertificateDomains (the DNS names of the SAN), IsSelfSigned, PublicKeySize and
  SignatureAlgorithm come from ``RawData``, read with ``cryptography``;
* Services (the AllowedServices number: IMAP=1, POP=2, UM=4, IIS=8, SMTP=16, Federation=32,
  UMCallRouter=64), Status, RootCAType, PrivateKeyExportable, IISServices and Identity come from
  ``SerializationData``, and FriendlyName and HasPrivateKey from its ``CertData`` (a serialised
  certificate store element: property 11 the friendly name, property 2 the key's provider);
* a certificate sent with ``RawData`` only keeps what the DER says. Its services are **unknown**:
  the property is left out, never written as ``None`` (which would say "serves nothing").

A property the server did send by name wins over one derived here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import struct
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from . import nrbf
from .clixml import DateTimeValue, PSObj

# AllowedServices, CertificateStatus and CertificateAuthorityType [cmdlets.md §2, SRC AllowedServices.cs,
# CertificateStatus.cs, CertificateAuthorityType.cs].
SERVICE_FLAGS = (("IMAP", 1), ("POP", 2), ("UM", 4), ("IIS", 8), ("SMTP", 16), ("Federation", 32), ("UMCallRouter", 64))
STATUS_NAMES = ("Unknown", "Valid", "Revoked", "DateInvalid", "Untrusted", "Invalid", "RevocationCheckFailure", "PendingRequest")
ROOT_CA_NAMES = ("None", "ThirdParty", "Enterprise", "Registry", "GroupPolicy", "Unknown")
_MASK = "IPUWSFC"  # ServicesStringForm: one letter per AllowedServices bit (cmdlets.md §2)
OID_TYPE = "System.Security.Cryptography.Oid"

# X500DistinguishedName.Name keys (.NET X500NameFlags.None; CertNameToStr CERT_X500_NAME_STR | REVERSE)
_SHORT = {
    NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.ORGANIZATION_NAME: "O",
    NameOID.LOCALITY_NAME: "L", NameOID.STATE_OR_PROVINCE_NAME: "S", NameOID.COUNTRY_NAME: "C",
    NameOID.EMAIL_ADDRESS: "E", NameOID.DOMAIN_COMPONENT: "DC",
}
_SPECIAL = set(',=+<>#;"\n\r')
# Oid.FriendlyName of RSA and ECDSA signatures, as .NET names them
_SIGNATURES = {
    "sha1": ("sha1RSA", "1.2.840.113549.1.1.5"), "sha256": ("sha256RSA", "1.2.840.113549.1.1.11"),
    "sha384": ("sha384RSA", "1.2.840.113549.1.1.12"), "sha512": ("sha512RSA", "1.2.840.113549.1.1.13"),
}
CERT_PROP_FRIENDLY_NAME = 11
CERT_PROP_KEY_PROV_INFO = 2
CERT_PROP_CERT = 32


def flags_text(number: int) -> str:
    """AllowedServices.ToString(): set flags in ascending order, "None" for 0, the number when a bit has no name."""
    if number == 0:
        return "None"
    names = [name for name, bit in SERVICE_FLAGS if number & bit]
    if number & ~sum(bit for _, bit in SERVICE_FLAGS):
        return str(number)
    return ", ".join(names)


def services_string_form(number: int) -> str:
    return "".join(letter if number & (1 << i) else "." for i, letter in enumerate(_MASK))


def dotnet_name(name: x509.Name) -> str:
    """X509Certificate2.Subject / Issuer: the relative names from the last encoded to the first, ", "
    between them, a value holding a special character in double quotes."""
    parts = []
    for rdn in reversed(name.rdns):
        attrs = []
        for attr in rdn:
            value = str(attr.value)
            if value and (any(c in _SPECIAL for c in value) or value != value.strip()):
                value = '"' + value.replace('"', '""') + '"'
            attrs.append(f"{_SHORT.get(attr.oid, 'OID.' + attr.oid.dotted_string)}={value}")
        parts.append(" + ".join(attrs))
    return ", ".join(parts)


def is_certificate(obj: Any) -> bool:
    return isinstance(obj, PSObj) and isinstance(obj.get("RawData"), bytes) and (
        obj.is_a("ExchangeCertificate") or obj.is_a("X509Certificate2"))


def decode(obj: PSObj) -> PSObj:
    """The certificate with every property exconf reads, derived from RawData and SerializationData."""
    derived: dict[str, Any] = {}
    raw = obj.get("RawData")
    if isinstance(raw, bytes):
        # the cached values are shared: each answer gets its own PSObj containers
        derived.update({k: dataclasses.replace(v, props=dict(v.props), items=None if v.items is None else list(v.items))
                        if isinstance(v, PSObj) else v for k, v in _der_fields(raw).items()})
    blob = obj.get("SerializationData")
    if isinstance(blob, bytes) and blob:
        try:
            derived.update(_from_serialization(nrbf.parse(blob)))
        except nrbf.NrbfError:
            pass  # unreadable: the services stay unknown, as with RawData only
    props = dict(derived)
    props.update(obj.props)  # what the server sent by name wins
    return PSObj(types=obj.types, to_string=obj.to_string, props=props)


@functools.lru_cache(maxsize=1024)
def _der_fields(raw: bytes) -> dict[str, Any]:
    """What the DER says (nothing when it is not a certificate: only what the server sent by name), read once
    per process for a certificate many servers hold (the organisation's Auth and SMTP certificates)."""
    try:
        cert = x509.load_der_x509_certificate(raw)
    except ValueError:
        return {}
    return _from_der(cert, raw)


def _from_der(cert: x509.Certificate, raw: bytes) -> dict[str, Any]:
    try:
        domains = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))
    except (x509.ExtensionNotFound, ValueError):
        domains = []
    key = cert.public_key()
    size = key.key_size if isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)) else 0
    algorithm = cert.signature_hash_algorithm
    friendly, oid = _SIGNATURES.get(algorithm.name if algorithm else "", ("", cert.signature_algorithm_oid.dotted_string))
    serial = f"{cert.serial_number:X}"
    return {
        "Thumbprint": hashlib.sha1(raw).hexdigest().upper(),
        "Subject": dotnet_name(cert.subject),
        "Issuer": dotnet_name(cert.issuer),
        "SerialNumber": serial if len(serial) % 2 == 0 else "0" + serial,
        "NotBefore": DateTimeValue(cert.not_valid_before_utc),
        "NotAfter": DateTimeValue(cert.not_valid_after_utc),
        "CertificateDomains": PSObj(types=("System.Object[]",), items=list(domains)),
        "DnsNameList": PSObj(types=("System.Object[]",), items=list(domains)),
        "IsSelfSigned": cert.subject == cert.issuer and _self_verifies(cert),
        "PublicKeySize": size,
        "SignatureAlgorithm": PSObj(types=(OID_TYPE,), to_string=OID_TYPE, props={"FriendlyName": friendly, "Value": oid}),
        "Version": cert.version.value + 1,
        "RawData": raw,
    }


def _self_verifies(cert: x509.Certificate) -> bool:
    """Its own key verifies its signature (RSA with any hash, SHA-1 included, which
    ``verify_directly_issued_by`` refuses; other keys through it)."""
    key, algorithm = cert.public_key(), cert.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        else:
            cert.verify_directly_issued_by(cert)
        return True
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False


def _from_serialization(root: Any) -> dict[str, Any]:
    if not isinstance(root, nrbf.NrbfObject) or not root.class_name.endswith(".ExchangeCertificate"):
        return {}
    out: dict[str, Any] = {}
    services = nrbf.enum_value(root.get("Services"))
    if services is not None:
        out["Services"] = PSObj(types=("Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices",),
                                to_string=flags_text(services), value=services, has_value=True)
        out["ServicesStringForm"] = services_string_form(services)
    status = nrbf.enum_value(root.get("Status"))
    if status is not None:
        out["Status"] = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else str(status)
    root_ca = nrbf.enum_value(root.get("RootCAType"))
    if root_ca is not None:
        out["RootCAType"] = ROOT_CA_NAMES[root_ca] if 0 <= root_ca < len(ROOT_CA_NAMES) else str(root_ca)
    if isinstance(root.get("PrivateKeyExportable"), bool):
        out["PrivateKeyExportable"] = root.get("PrivateKeyExportable")
    if isinstance(root.get("Identity"), str):
        out["Identity"] = root.get("Identity")
    iis = root.get("IISServices")
    items = iis.get("_items") if isinstance(iis, nrbf.NrbfObject) else iis if isinstance(iis, list) else None
    if isinstance(items, list):
        names = [i.get("serviceName") for i in items if isinstance(i, nrbf.NrbfObject) and isinstance(i.get("serviceName"), str)]
        out["IISServices"] = PSObj(types=("System.Object[]",), items=names)
    data = root.get("CertData")
    if isinstance(data, bytes):
        props = store_element_properties(data)
        if CERT_PROP_FRIENDLY_NAME in props:
            out["FriendlyName"] = props[CERT_PROP_FRIENDLY_NAME].decode("utf-16-le", "replace").rstrip("\x00")
        out["HasPrivateKey"] = CERT_PROP_KEY_PROV_INFO in props
    return out


def store_element_properties(data: bytes) -> dict[int, bytes]:
    """A serialised certificate store element (CertSerializeCertificateStoreElement): a sequence of
    (property id, encoding, length, value), each header three little-endian UInt32."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 12 <= len(data):
        prop, _encoding, length = struct.unpack_from("<III", data, pos)
        pos += 12
        if length > len(data) - pos:
            break
        out.setdefault(prop, data[pos:pos + length])
        pos += length
    return out
