"""Parsers of the string-like Exchange types (domains, IP bindings and ranges, address spaces,
smart hosts, certificate identifiers, local paths): normalised text or ValueError(Exchange's message).

Sources (cited again where used):
[SRC] PiratesRE/exchange_diff @ 1d7d834 (decompiled Exchange 2013), Microsoft.Exchange.Data/*.cs and DataStrings.resources.
"""

from __future__ import annotations

import ipaddress
import re

# --- parsers of the string-like Exchange types ----------------------------------------------

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def _invalid_domain(text: str) -> ValueError:
    return ValueError(f'"{text}" isn\'t a valid SMTP domain.')  # DataStrings.InvalidSmtpDomainName [SRC]


def parse_domain(text: str) -> str:
    """SmtpDomain / Fqdn: a DNS name, no wildcard."""
    if len(text) > 255 or not _DOMAIN_RE.match(text):
        raise _invalid_domain(text)
    return text


def parse_domain_with_subdomains(text: str) -> str:
    """SmtpDomainWithSubdomains: "contoso.com", "*.contoso.com" or "*"."""
    if text == "*":
        return text
    if text.startswith("*") and not text.startswith("*."):
        raise ValueError("The wildcard '*' should be followed by a '.' for the domain")
    parse_domain(text[2:] if text.startswith("*.") else text)
    return text


def parse_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise ValueError("An invalid IP address was specified.") from None  # System.Net.IPAddress.Parse


def parse_ip_binding(text: str) -> str:
    """IPBinding "<address>:<port>" or "[v6]:port" [SRC DataStrings ExceptionEndPoint*]."""
    s = text.strip()
    if s.startswith("["):
        host, sep, port = s[1:].partition("]:")
    else:
        host, sep, port = s.rpartition(":")
    if not sep or not host:
        raise ValueError(
            f"The separator between the IP address and the port number is missing in '{text}'. "
            "The format for an IPBinding is <IP address>:<port number>."
        )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"The IP address in '{text}' has an invalid format.") from None
    if not port.isdigit():
        raise ValueError(f"The specified port number in '{text}' isn't a number.")
    if not 0 <= int(port) <= 65535:
        raise ValueError(
            f"The port number '{port}' is outside the acceptable range. You must specify a port number from 0 to 65535."
        )
    return f"[{address}]:{int(port)}" if address.version == 6 else f"{address}:{int(port)}"


def parse_ip_range(text: str) -> str:
    """IPRange: a single address, "a-b" or CIDR "a/n" [SRC DataStrings InvalidIPRange*]."""
    s = text.strip()
    bad_format = ValueError(
        f'The input string "{text}" isn\'t formatted correctly. An example of an IP range is '
        '"192.168.1.1-192.168.255.255" where "192.168.1.1" is the starting address of the range and '
        '"192.168.255.255" is the ending address of the range.'
    )
    try:
        if "/" in s:
            host, _, length = s.partition("/")
            address = ipaddress.ip_address(host)
            if not length.isdigit():
                raise bad_format
            limit = 32 if address.version == 4 else 128
            if int(length) > limit:
                raise ValueError(
                    f'The CIDR length "{length}" is invalid. An acceptable CIDR length is in the range [0, 32] for an '
                    "IPv4 address and [0, 128] for an IPv6 address."
                )
            return f"{address}/{int(length)}"
        if "-" in s:
            first, _, last = s.partition("-")
            start, end = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
            if start.version != end.version:
                raise bad_format
            if int(start) > int(end):
                raise ValueError(f"The start address {start} must be less than or equal to the end address {end}.")
            return f"{start}-{end}"
        return str(ipaddress.ip_address(s))
    except ValueError as exc:
        if exc is bad_format or str(exc).startswith(("The CIDR", "The start")):
            raise
        raise bad_format from None


def parse_address_space(text: str) -> str:
    """AddressSpace "[Type:]Space[;Cost]", printed "{Type}:{Space};{Cost}" [PS Set-SendConnector, SRC AddressSpace.cs].

    The type keeps the case it was given ("smtp:*;1" stays lower case) and is "smtp" when
    omitted; non-SMTP spaces are lower-cased (AddressSpace.Initialize / ToString [SRC]).
    """
    s = text.strip()
    kind, sep, rest = s.partition(":")
    if not sep:
        kind, rest = "smtp", s
    elif not kind:
        kind = "smtp"
    cost = 1
    if kind.upper() == "SMTP" and ";" in rest:
        rest, _, cost_text = rest.rpartition(";")
        if not cost_text.strip().lstrip("-").isdigit():
            raise ValueError(f'Cost value "{cost_text}" is not a valid number.')
        cost = int(cost_text)
    elif kind.upper() != "SMTP" and ";" in rest and rest.rsplit(";", 1)[1].strip().isdigit():
        rest, _, cost_text = rest.rpartition(";")
        cost = int(cost_text)
    if not 1 <= cost <= 100:  # AddressSpace.MinCostValue / MaxCostValue [SRC]
        raise ValueError("The cost must be a value between 1 and 100.")
    if kind.upper() == "SMTP":
        if rest != "--":
            if not rest:
                raise ValueError("Invalid address space")
            parse_domain_with_subdomains(rest)
    elif not rest:
        raise ValueError("Invalid address space")
    else:
        rest = rest.lower()
    return f"{kind}:{rest};{cost}"


def is_smtp_space(space: str) -> bool:
    """Whether a parsed address space is of the SMTP type (compared without case, as AddressSpace.IsSmtpType)."""
    return space.partition(":")[0].upper() == "SMTP"


def is_dashdash_space(space: str) -> bool:
    """EdgeSync's "--" space (all authoritative and internal-relay domains)."""
    return is_smtp_space(space) and space.partition(":")[2].rsplit(";", 1)[0] == "--"


def parse_smart_host(text: str) -> str:
    """SmartHost: a host name, an IP address or "[IP]"; "--" is EdgeSync's "all Mailbox servers"."""
    s = text.strip()
    if s == "--":
        return s
    try:
        address = ipaddress.ip_address(s.strip("[]"))
    except ValueError:
        if len(s) > 255 or not _DOMAIN_RE.match(s):
            raise ValueError(f'"{text}" is not a valid IP address or host name.') from None
        return s
    if address == ipaddress.ip_address("0.0.0.0"):
        raise ValueError("You can't use [0.0.0.0] as the smart host IP address.")
    return f"[{address}]"


_X509_RE = re.compile(r"^(?:X509:)?(<I>([^<]+))?(<S>(.+))$", re.IGNORECASE)


def parse_x509_identifier(text: str) -> str:
    """SmtpX509Identifier "<I>issuer<S>subject" [SRC SmtpX509Identifier.cs]."""
    m = _X509_RE.match(text.strip())
    if not m:
        raise ValueError(f'"{text}" isn\'t a valid Certificate Identifier.')
    return (f"<I>{m.group(2)}" if m.group(2) else "") + f"<S>{m.group(4)}"


_INVALID_PATH_CHARS = set('"<>|') | {chr(c) for c in range(32)} | {"*", "?"}


def parse_local_path(text: str) -> str:
    """LocalLongFullPath: absolute, local, no '~' [SRC DataStrings ErrorLocalLongFullPathCannotConvert]."""
    s = text.strip()
    ok = re.match(r"^[A-Za-z]:\\", s) and "~" not in s and not (set(s[2:]) & (_INVALID_PATH_CHARS | {":"}))
    if not ok:
        raise ValueError(
            f'"{text}" is not an acceptable path. You must use an absolute, local, long file path, that does not contain \'~\'.'
        )
    if len(s) >= 248:
        raise ValueError(
            "The specified path, file name, or both are too long. The fully qualified file name must be less than "
            f"260 characters. Directory names must be less than 248 characters. The path specified: {s}"
        )
    return s


def parse_smtp_address(text: str) -> str:
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or not _DOMAIN_RE.match(domain):
        raise ValueError(f'"{text}" isn\'t a valid SMTP address.')
    return text.strip()


def parse_culture(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", text.strip()):
        raise ValueError(f"Culture is not supported.\r\nParameter name: name\r\n{text} is an invalid culture identifier.")
    return text.strip()
