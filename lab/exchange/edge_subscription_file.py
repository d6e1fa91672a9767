"""The Edge Subscription file: what New-EdgeSubscription writes on an Edge and reads on a Mailbox server.

EdgeSubscriptionData as Exchange's XmlSerializer writes it [SRC NewEdgeSubscription.GenerateSubscriptionFile,
LoadSubscriptionFile]: the Edge's name and FQDN, its internal transport certificate (the lab writes the
DER in base64), the bootstrap account (ESBRA) with its password in clear, as Exchange's file has it,
its start and lifetime in .NET ticks, the AD LDS SSL port and the version. Pure functions: bytes in,
bytes out.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography import x509

from .spec import ServerEntry

ADAM_SSL_PORT = 50636  # [EXD edge-subscriptions.md] port 50636/TCP Mailbox -> Edge
MAX_FILE_BYTES = 1 << 20  # a subscription file is a few kilobytes; the lab reads no more than this
TICKS_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)  # DateTime.MinValue, tick 0
INVALID = "The file isn't a valid Edge Subscription file."  # lab wording of Strings.InvalidSubscriptionFile


def ticks(moment: datetime) -> int:
    delta = moment - TICKS_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def from_ticks(count: int) -> datetime:
    return TICKS_EPOCH + timedelta(microseconds=count // 10)


def span_ticks(span: timedelta) -> int:
    return int(span.total_seconds()) * 10_000_000


def write(entry: ServerEntry, certificate_der_b64: str, user: str, password: str, now: datetime,
          expiry: timedelta) -> bytes:
    """EdgeSubscriptionData as Exchange's XmlSerializer writes it [SRC NewEdgeSubscription.GenerateSubscriptionFile]:
    the Edge's name and FQDN, its certificate (the lab writes the DER, base64), the bootstrap account and its
    lifetime in ticks, the AD LDS SSL port and the version."""
    root = ElementTree.Element("EdgeSubscriptionData", {
        "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance", "xmlns:xsd": "http://www.w3.org/2001/XMLSchema"})
    major, minor, build, revision = entry.spec.version.split(".")
    values = (
        ("EdgeServerName", entry.name), ("EdgeServerFQDN", entry.spec.fqdn),
        ("EdgeCertificateBlob", certificate_der_b64), ("ESRAUsername", user), ("ESRAPassword", password),
        ("EffectiveDate", str(ticks(now))), ("Duration", str(span_ticks(expiry))),
        ("AdamSslPort", str(ADAM_SSL_PORT)), ("ServerType", "Edge"), ("ProductID", ""),
        ("VersionNumber", str((int(major) << 22) | (int(minor) << 16) | (int(build) & 0x7FFF) | (1 << 15))),
        ("SerialNumber", f"Version {major}.{minor} (Build {build}.{revision})"),
    )
    for name, value in values:
        ElementTree.SubElement(root, name).text = value
    return b'<?xml version="1.0" encoding="utf-8"?>\r\n' + ElementTree.tostring(root, encoding="utf-8", xml_declaration=False)


@dataclass(frozen=True)
class SubscriptionFile:
    edge_name: str
    edge_fqdn: str
    certificate_der: bytes
    user: str
    effective: datetime
    expires: datetime


def read(data: bytes) -> SubscriptionFile:
    """LoadSubscriptionFile [SRC]; ValueError with what is wrong (never the file's content)."""
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"the file is {len(data)} bytes; a subscription file is a few kilobytes")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise ValueError("the file declares a document type, which a subscription file never does")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ValueError(f"it isn't well-formed XML ({exc})") from None
    if root.tag != "EdgeSubscriptionData":
        raise ValueError("its root element isn't EdgeSubscriptionData")
    text = {child.tag: (child.text or "").strip() for child in root}
    required = ("EdgeServerName", "EdgeServerFQDN", "ESRAUsername", "ESRAPassword")
    if any(not text.get(k) for k in required):
        raise ValueError(INVALID)
    try:
        der = base64.b64decode(text.get("EdgeCertificateBlob", ""), validate=True)
        x509.load_der_x509_certificate(der)
        effective = from_ticks(int(text.get("EffectiveDate", "")))
        duration = timedelta(microseconds=int(text.get("Duration", "")) // 10)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(INVALID) from None
    return SubscriptionFile(text["EdgeServerName"], text["EdgeServerFQDN"], der, text["ESRAUsername"], effective,
                            effective + duration)
