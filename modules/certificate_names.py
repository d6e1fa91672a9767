"""X.500 names in the one form exconf shows and compares: as .NET's X500DistinguishedName prints them.

Get-ExchangeCertificate prints Subject and Issuer as ``X509Certificate2.Subject`` does, which is
``X500DistinguishedName.Name`` with no flags: CryptoAPI's ``CertNameToStr`` with
``CERT_X500_NAME_STR | CERT_NAME_STR_REVERSE_FLAG`` [.NET X500DistinguishedNameFlags.None;
Win32 CertNameToStrW "CERT_X500_NAME_STR"]. So: the relative names from the last encoded to the
first, ", " between them and " + " inside a multi-valued one; the CryptoAPI short keys (``S`` for
the state, ``E`` for the e-mail address, ``OID.1.2.3`` for a key it has no name for); a value with a
special character, or with a space at either end, in double quotes with inner quotes doubled.

A name read from a PFX (``cryptography``), one a server prints, and a ``match.subject`` an
administrator copied from either (``ST=``, ``emailAddress=``, ``;`` between parts) all become
that form, so that the same certificate is named alike wherever it comes from.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

# CryptoAPI's names of RDN attributes (CRYPT_RDN_ATTR_OID_GROUP_ID), first the one it prints.
_NAMES: tuple[tuple[ObjectIdentifier, tuple[str, ...]], ...] = (
    (NameOID.COMMON_NAME, ("CN",)),
    (NameOID.LOCALITY_NAME, ("L",)),
    (NameOID.ORGANIZATION_NAME, ("O",)),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, ("OU",)),
    (NameOID.EMAIL_ADDRESS, ("E", "Email", "emailAddress")),
    (NameOID.COUNTRY_NAME, ("C",)),
    (NameOID.STATE_OR_PROVINCE_NAME, ("S", "ST")),
    (NameOID.STREET_ADDRESS, ("STREET",)),
    (NameOID.TITLE, ("T", "Title")),
    (NameOID.GIVEN_NAME, ("G", "GivenName")),
    (NameOID.INITIALS, ("I", "Initials")),
    (NameOID.SURNAME, ("SN",)),
    (NameOID.DOMAIN_COMPONENT, ("DC",)),
    (NameOID.SERIAL_NUMBER, ("SERIALNUMBER",)),
    (NameOID.POSTAL_CODE, ("PostalCode",)),
    (NameOID.USER_ID, ("UID",)),
)
SHORT: dict[ObjectIdentifier, str] = {oid: names[0] for oid, names in _NAMES}
_BY_KEY: dict[str, str] = {alias.lower(): names[0] for _, names in _NAMES for alias in names}
_SPECIAL = frozenset(',+="\r\n<>#;')


def quote(value: str) -> str:
    """A value as CertNameToStr writes it: quoted when it holds a special character or edge spaces."""
    if value == "" or any(c in _SPECIAL for c in value) or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def key_of(oid: ObjectIdentifier) -> str:
    return SHORT.get(oid, f"OID.{oid.dotted_string}")


def dotnet_name(name: x509.Name) -> str:
    """``X500DistinguishedName.Name`` of a name: "CN=mail.contoso.com, O=Contoso, S=Noord-Holland, C=NL"."""
    return ", ".join(" + ".join(f"{key_of(a.oid)}={quote(str(a.value))}" for a in rdn) for rdn in reversed(list(name.rdns)))


def split(text: str) -> list[list[tuple[str, str]]] | None:
    """A written name as relative names of (key, value), in the written order; None when it is not one.

    ``,`` or ``;`` between relative names, ``+`` inside one, double quotes around a value (``""`` for a
    quote), a backslash escaping the next character (RFC 4514's form, as OpenSSL and ``cryptography`` write)."""
    rdns: list[list[tuple[str, str]]] = []
    parts: list[tuple[str, str]] = []
    key, value, in_value, quoted, was_quoted, i = "", "", False, False, False, 0

    def close() -> bool:
        nonlocal key, value, in_value, was_quoted
        if not in_value or not key.strip():
            return False
        parts.append((key.strip(), value if was_quoted else value.strip()))
        key, value, in_value, was_quoted = "", "", False, False
        return True

    while i < len(text):
        c = text[i]
        if quoted:
            if c == '"' and text[i + 1:i + 2] == '"':
                value += '"'
                i += 1
            elif c == '"':
                quoted = False
            else:
                value += c
        elif c == "\\" and in_value and i + 1 < len(text):
            value += text[i + 1]
            i += 1
        elif c == '"' and in_value and not value.strip() and not was_quoted:
            quoted, was_quoted, value = True, True, ""
        elif c == "=" and not in_value:
            in_value = True
        elif c in ",;+":
            if not close():
                return None
            if c != "+":
                rdns.append(parts)
                parts = []
        elif in_value:
            if was_quoted and not c.isspace():
                return None  # text after a closing quote
            if not was_quoted:
                value += c
        else:
            key += c
        i += 1
    if quoted or not close():
        return None
    rdns.append(parts)
    return rdns


def _canonical_key(key: str) -> str | None:
    lowered = key.lower()
    if lowered in _BY_KEY:
        return _BY_KEY[lowered]
    dotted = key[4:] if lowered.startswith("oid.") else key
    if dotted and all(p.isdigit() for p in dotted.split(".")) and "." in dotted:
        known = next((short for oid, short in SHORT.items() if oid.dotted_string == dotted), None)
        return known or f"OID.{dotted}"
    return None


def canonical(text: str) -> str:
    """A written name (or a ``match.subject`` pattern, ``*`` allowed in values) in .NET's form, in the
    order written; the text as it is when it is not a name (an issuer pattern such as ``*DigiCert*``)."""
    rdns = split(text)
    if rdns is None:
        return text
    out = []
    for rdn in rdns:
        parts = []
        for key, value in rdn:
            short = _canonical_key(key)
            if short is None:
                return text
            parts.append(f"{short}={quote(value)}")
        out.append(" + ".join(parts))
    return ", ".join(out)


def same(a: str, b: str) -> bool:
    """Two written names are the same name (keys, values and order; case-insensitive, as Exchange compares)."""
    return canonical(a).casefold() == canonical(b).casefold()


def relative_names(text: str) -> list[str]:
    """Each relative name of a name in .NET's form ("CN=mail.contoso.com", "O=Contoso")."""
    rdns = split(text)
    if rdns is None:
        return [p.strip() for p in text.split(",") if p.strip()]
    return [canonical(" + ".join(f"{k}={quote(v)}" for k, v in rdn)) for rdn in rdns]
