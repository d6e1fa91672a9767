"""SOAP 1.2 / WS-Management envelopes: parse a request, build a response or a fault.

Only xml.etree is used, so every value a client sends is escaped on the way
back out. Prefixes are the ones Windows uses (s, a, w, p, x, rsp, f) so a
captured lab response reads like a captured Windows one.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ACTION_ADDRESSING_FAULT = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
CONTENT_TYPE = "application/soap+xml;charset=UTF-8"


def q(prefix: str, local: str) -> str:
    """Clark-notation name, e.g. q("rsp", "Stream") -> "{http://…/shell}Stream"."""
    return f"{{{NS[prefix]}}}{local}"


class SoapError(Exception):
    """The request body is not a SOAP envelope we can read."""


@dataclass(frozen=True)
class WSManRequest:
    """The parts of a WS-Man request the lab acts on."""

    action: str
    message_id: str
    resource_uri: str
    to: str = ""
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    operation_timeout: float | None = None  # seconds, from w:OperationTimeout
    body: ET.Element | None = None  # the first element inside s:Body, if any
    max_envelope: int | None = None  # octets, from w:MaxEnvelopeSize: the largest answer the client accepts


@dataclass
class WSManFault(Exception):
    """A WS-Management fault, as Windows sends it (HTTP 500 with a SOAP Fault body).

    ``code`` is the SOAP Code value (``Sender`` or ``Receiver``), ``subcode`` a
    (namespace prefix, local name) pair, ``wsman_code`` the decimal Windows
    error code that pywinrm reads from ``f:WSManFault/@Code``.
    """

    code: str
    subcode: tuple[str, str]
    reason: str
    wsman_code: int | None = None
    message: str | None = None
    action: str = ACTION_FAULT
    http_status: int = 500

    def __str__(self) -> str:
        return f"{self.subcode[1]}: {self.reason}"


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float | None:
    """xs:duration (as WS-Man uses it, e.g. ``PT20S``, ``PT60.000S``) in seconds."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groupdict().values()):
        return None
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def parse_request(data: bytes) -> WSManRequest:
    """Read the header fields and the body element of a WS-Man request."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SoapError(f"not XML: {exc}") from exc
    if root.tag != q("s", "Envelope"):
        raise SoapError("not a SOAP 1.2 envelope")
    header = root.find(q("s", "Header"))
    if header is None:
        raise SoapError("no SOAP header")

    def text(path: str) -> str:
        node = header.find(path)
        return (node.text or "").strip() if node is not None else ""

    selectors = {
        sel.get("Name", ""): (sel.text or "").strip()
        for sel in header.findall(f"{q('w', 'SelectorSet')}/{q('w', 'Selector')}")
    }
    options = {
        opt.get("Name", ""): (opt.text or "").strip()
        for opt in header.findall(f"{q('w', 'OptionSet')}/{q('w', 'Option')}")
    }
    timeout_text = text(q("w", "OperationTimeout"))
    envelope_text = text(q("w", "MaxEnvelopeSize")).strip()
    body = root.find(q("s", "Body"))
    return WSManRequest(
        action=text(q("a", "Action")),
        message_id=text(q("a", "MessageID")),
        resource_uri=text(q("w", "ResourceURI")),
        to=text(q("a", "To")),
        selectors=selectors,
        options=options,
        operation_timeout=parse_duration(timeout_text) if timeout_text else None,
        max_envelope=int(envelope_text) if envelope_text.isdigit() and len(envelope_text) < 10 else None,
        body=body[0] if body is not None and len(body) else None,
    )


def new_message_id() -> str:
    # Windows writes upper-case GUIDs: uuid:D7C4A9B1-9A18-4048-B346-248D62A6078D
    return "uuid:" + str(uuid.uuid4()).upper()


def envelope(action: str, relates_to: str, body: list[ET.Element] | None = None) -> bytes:
    """A response envelope. ``a:RelatesTo`` echoes the request's MessageID (pywinrm asserts it)."""
    root = ET.Element(q("s", "Envelope"), {XML_LANG: "en-US"})
    header = ET.SubElement(root, q("s", "Header"))
    ET.SubElement(header, q("a", "Action")).text = action
    ET.SubElement(header, q("a", "MessageID")).text = new_message_id()
    ET.SubElement(header, q("a", "To")).text = ANONYMOUS
    if relates_to:
        ET.SubElement(header, q("a", "RelatesTo")).text = relates_to
    body_el = ET.SubElement(root, q("s", "Body"))
    for child in body or ():
        body_el.append(child)
    return _serialize(root)


_PREFIX_OF = {uri: prefix for prefix, uri in NS.items()}
_PREFIX_OF["http://www.w3.org/XML/1998/namespace"] = "xml"


def _prefixed(name: str) -> str:
    if name.startswith("{"):
        uri, local = name[1:].split("}", 1)
        return f"{_PREFIX_OF[uri]}:{local}"
    return name


def _serialize(root: ET.Element) -> bytes:
    """Write with every namespace declared on the Envelope, as Windows does.

    Declaring them all up front (rather than letting ElementTree declare only
    those used by element names) keeps QName text such as ``w:TimedOut`` in a
    fault's Subcode resolvable. Tags are rewritten to their prefixed form and
    ElementTree still escapes every text and attribute value.
    """
    for el in root.iter():
        el.tag = _prefixed(el.tag)
        for key in [k for k in el.attrib if k.startswith("{")]:
            el.attrib[_prefixed(key)] = el.attrib.pop(key)
    for prefix, uri in NS.items():
        root.set(f"xmlns:{prefix}", uri)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)


def fault_envelope(fault: WSManFault, relates_to: str, machine: str) -> bytes:
    """The fault body Windows sends; shape copied from a Windows Server 2022 capture in
    pywinrm's tests (winrm/tests/test_exceptions.py, test_wsman_fault_known_fault)."""
    body = ET.Element(q("s", "Fault"))
    code = ET.SubElement(body, q("s", "Code"))
    ET.SubElement(code, q("s", "Value")).text = f"s:{fault.code}"
    sub = ET.SubElement(code, q("s", "Subcode"))
    ET.SubElement(sub, q("s", "Value")).text = f"{fault.subcode[0]}:{fault.subcode[1]}"  # prefixes declared by _serialize
    reason = ET.SubElement(body, q("s", "Reason"))
    ET.SubElement(reason, q("s", "Text"), {XML_LANG: "en-US"}).text = fault.reason
    if fault.wsman_code is not None:
        detail = ET.SubElement(body, q("s", "Detail"))
        wsf = ET.SubElement(detail, q("f", "WSManFault"), {"Code": str(fault.wsman_code), "Machine": machine})
        ET.SubElement(wsf, q("f", "Message")).text = fault.message or fault.reason
    return envelope(fault.action, relates_to, [body])


# --- the faults the lab sends, with the text Windows uses ---------------------


def operation_timeout_fault() -> WSManFault:
    """Receive found no output within OperationTimeout; pywinrm retries on code 2150858793."""
    text = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
    return WSManFault("Receiver", ("w", "TimedOut"), text, 2150858793, text)


def shell_not_found_fault(shell_id: str) -> WSManFault:
    """Text from a Windows answer quoted in WinRb/WinRM#253 (code 2150858843, w:InvalidSelectors)."""
    return WSManFault(
        "Sender",
        ("w", "InvalidSelectors"),
        "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
        2150858843,
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found on "
        "the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the "
        "server. Provide the correct ShellId or create a new shell and retry the operation. ",
    )


def command_not_found_fault(shell_id: str, command_id: str) -> WSManFault:
    """An unknown CommandId: answered with the same InvalidSelectors fault as an unknown shell."""
    fault = shell_not_found_fault(shell_id)
    fault.message = (
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the command with "
        f"CommandId {command_id} was not found in the shell. Provide a correct CommandId and retry the operation. "
    )
    return fault


def missing_shell_selector_fault() -> WSManFault:
    """Text quoted from a Windows 7 answer in Openwsman/openwsman#83."""
    return WSManFault(
        "Sender",
        ("w", "InvalidSelectors"),
        "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
        2150858843,
        "The Windows Remote Shell cannot process the request because it requires the following selector: ShellId. "
        "Retry with the correct selector.",
    )


def resource_not_found_fault(resource_uri: str) -> WSManFault:
    """ERROR_WSMAN_RESOURCE_NOT_FOUND (0x80338012), w:DestinationUnreachable."""
    return WSManFault(
        "Sender",
        ("w", "DestinationUnreachable"),
        "The WS-Management service cannot process the request. The resource URI is not valid or was not found in "
        "the WS-Management catalog. ",
        2150858770,
        f"The WS-Management service cannot process the request. The resource URI ({resource_uri}) was not found in "
        "the WS-Management catalog. The catalog contains the metadata that describes resources, or logical endpoints. ",
    )


def action_not_supported_fault(action: str) -> WSManFault:
    """WS-Addressing ActionNotSupported (no Windows code is claimed for it)."""
    return WSManFault(
        "Sender",
        ("a", "ActionNotSupported"),
        f"The action is not supported by the service: {action}",
        action=ACTION_ADDRESSING_FAULT,
    )


def invalid_body_fault(detail: str) -> WSManFault:
    """ERROR_WSMAN_SCHEMA_VALIDATION_ERROR (0x80338041), w:SchemaValidationError."""
    return WSManFault(
        "Sender",
        ("w", "SchemaValidationError"),
        "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and "
        "retry. ",
        2150858817,
        detail,
    )


def max_shells_per_user_fault() -> WSManFault:
    """MaxShellsPerUser reached: wsman:QuotaLimit with the detail text of MS-WSMV 3.1.4.5.2.1 and
    ERROR_WSMAN_QUOTA_MAX_SHELLS (2150859173, 0x803381A5, winerror.h / windows-rs RemoteManagement)."""
    return WSManFault(
        "Sender",
        ("w", "QuotaLimit"),
        "The WS-Management service cannot process the request because a quota limit was exceeded. ",
        2150859173,
        "The Windows Remote Shell cannot process the request. The server is already executing the maximum number "
        "of concurrent shells a user can remotely open on the same system. Retry later.",
    )


# ERROR_WSMAN_COMMAND_TERMINATED (winerror.h; windows-rs RemoteManagement: 2150859212, 0x803381CC).
COMMAND_TERMINATED = 2150859212


def input_closed_fault(shell_id: str, command_id: str) -> WSManFault:
    """A Send to a command whose standard input has ended (an earlier Send had End="true") or whose process
    has exited: there is no pipe left to write to. Windows' exact text for it is not published; the code is
    winerror.h's ERROR_WSMAN_COMMAND_TERMINATED, the message says what happened."""
    return WSManFault(
        "Receiver",
        ("w", "InternalError"),
        "The WS-Management service cannot process the request. The command has terminated or its input stream is closed. ",
        COMMAND_TERMINATED,
        f"The input for the command with CommandId {command_id} in the Windows Remote Shell with ShellId {shell_id} could "
        "not be delivered: the command's input stream was closed or the command has terminated. ",
    )
