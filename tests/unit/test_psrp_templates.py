"""A CREATE_PIPELINE written from its shape's template is, byte for byte, the one pypsrp writes itself
(engine/transport/psrp_templates.py), whatever the strings, and nothing of the template reaches the wire."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from exconf.transport.psrp import PSRPSettings, PSRPTransport, RawOutputSerializer, _keep_output_raw
from exconf.transport.psrp_templates import PipelineTemplates

FRAGMENT_HEADER = 21  # MS-PSRP 2.2.4: ObjectId 8, FragmentId 8, flags 1, BlobLength 4
MESSAGE_HEADER = 40  # MS-PSRP 2.2.1: Destination 4, MessageType 4, RPID 16, PID 16


class Shell:
    """Stands in for pypsrp's WinRS: records the fragments a pipeline sends (Command, then Send)."""

    def __init__(self) -> None:
        self.fragments: list[bytes] = []

    def command(self, _executable: str, arguments: list[str], command_id: Any = None) -> ET.Element:
        import base64

        self.fragments.append(base64.b64decode(arguments[0]))
        return ET.Element("CommandResponse")

    def send(self, _stream: str, data: bytes, command_id: Any = None) -> None:
        self.fragments.append(data)

    def message(self) -> bytes:
        blob = b""
        for fragment in self.fragments:
            (length,) = struct.unpack(">I", fragment[17:21])
            blob += fragment[FRAGMENT_HEADER:FRAGMENT_HEADER + length]
        return blob[MESSAGE_HEADER:]


def pool(raw: bool = True) -> RunspacePool:
    p = RunspacePool(WSMan("127.0.0.1", port=1, auth="basic", username="u", password="p", ssl=False, encryption="never"))
    if raw:
        _keep_output_raw(p)
    p.protocol_version = "2.3"  # what the lab and Exchange 2016/2019 negotiate
    p.shell = Shell()
    return p


SETTINGS = PSRPSettings(host="127.0.0.1", port=80, scheme="http", path="PowerShell", auth="kerberos", user="u@CONTOSO.LAB",
                        password="p", cert_validation=True, ca_trust_path=None, message_encryption="auto",
                        configuration_name="Microsoft.Exchange", operation_timeout=20, read_timeout=30, connection_timeout=30,
                        server_name="ex01.contoso.lab")


def transport(templates: PipelineTemplates) -> PSRPTransport:
    return PSRPTransport(SETTINGS, templates=templates)


def sent_by_exconf(t: PSRPTransport, statements: list) -> bytes:
    p = pool()
    t._begin(p, statements, False)
    return p.shell.message()


def sent_by_pypsrp(statements: list) -> bytes:
    """pypsrp's own PowerShell and Serializer, untouched."""
    p = pool(raw=False)
    ps = PowerShell(p)
    for index, (cmdlet, params) in enumerate(statements):
        ps.add_cmdlet(cmdlet)
        for name, value in params:
            ps.add_parameter(name, value)
        if index < len(statements) - 1:
            ps.add_statement()
    ps.begin_invoke()
    return p.shell.message()


def read(server: str) -> list:
    out: list = []
    for cmdlet, params in [("Get-ExchangeServer", [("Identity", server)]), ("Get-TransportService", [("Identity", server)]),
                           ("Get-ReceiveConnector", [("Server", server)]), ("Get-ExchangeCertificate", [("Server", server)])]:
        out += [(cmdlet, params), ("Measure-Object", [])]
    return out


ODD = ["", " ", "a&b<c>d\"e'f", "]]>", "_x0041_", "_X0041_ and _x", "\x1b[31mred", "tab\tnew\nline\r", "é", "😀 emoji",
       "日本語のサーバー", "\x7f\x85\u2028", "\ud800", "a\udfffb", "C:\\Program Files\\Exchange", "ex01.contoso.lab", "a" * 5000]


def test_the_first_and_every_later_pipeline_of_a_shape_are_what_pypsrp_sends():
    templates = PipelineTemplates()
    t = transport(templates)
    for server in ["ex01.contoso.lab", "ex02.contoso.lab", *ODD]:
        mine = sent_by_exconf(t, read(server))
        assert mine == sent_by_pypsrp(read(server)), server
        assert templates._nonce.encode() not in mine  # no placeholder on the wire
    assert len(templates._templates) == 1 and None not in templates._templates.values()  # one shape, a template


@pytest.mark.parametrize("value", [True, False, 1, 0, -7, 2**40, None, ["a", "b"], [1, True], []])
def test_values_other_than_strings_are_part_of_the_shape(value):
    templates = PipelineTemplates()
    t = transport(templates)
    statements = [("Set-ReceiveConnector", [("Identity", "EX01\\Default"), ("Value", value)])]
    assert sent_by_exconf(t, statements) == sent_by_pypsrp(statements)
    # True and 1 are equal in Python, not on the wire: a shape made with one is not used for the other
    other = 1 if value is True else True
    statements = [("Set-ReceiveConnector", [("Identity", "EX02\\Default"), ("Value", other)])]
    assert sent_by_exconf(t, statements) == sent_by_pypsrp(statements)


def test_a_value_of_another_kind_is_written_by_pypsrp():
    templates = PipelineTemplates()
    statements = [("Import-ExchangeCertificate", [("FileData", b"\x30\x82\x01"), ("Server", "ex01")]),
                  ("Set-TransportConfig", [("Settings", {"a": 1})])]
    assert templates.shape(("2.3", 2), statements) is None
    assert sent_by_exconf(transport(templates), statements) == sent_by_pypsrp(statements)
    assert templates._templates == {}


def test_a_shape_whose_xml_cannot_be_cut_is_written_by_pypsrp_each_time(monkeypatch):
    templates = PipelineTemplates()
    monkeypatch.setattr(templates, "_cut", lambda xml, slots: None)  # as if a placeholder were found twice
    t = transport(templates)
    for server in ("ex01", "ex02"):
        assert sent_by_exconf(t, read(server)) == sent_by_pypsrp(read(server))
    assert list(templates._templates.values()) == [None]
    context = next(iter(templates._templates))[0]
    assert templates.shape(context, read("ex03")) is None  # known not to make a template: not tried again


def test_a_placeholder_found_outside_a_value_is_no_template():
    templates = PipelineTemplates()
    placeholder = templates._placeholder(0).encode()
    good = b'<A><S N="V">' + placeholder + b"</S></A>"
    assert templates._cut(good, 1) is not None
    assert templates._cut(good.replace(b"</A>", b'<S N="V">' + placeholder + b"</S></A>"), 1).order == (0, 0)  # ExtraCmds, Cmds
    assert templates._cut(good, 2) is None  # a slot not found
    assert templates._cut(b"<A>" + placeholder + b"</A>", 1) is None  # not a value's whole element
    assert templates._cut(good.replace(b"</A>", b"<S>" + templates._nonce.encode() + b"</S></A>"), 1) is None


def test_the_templates_a_run_keeps_are_bounded():
    templates = PipelineTemplates(max_shapes=2)
    t = transport(templates)
    for n in range(5):
        statements = [(f"Get-Thing{n}", [("Identity", f"ex{n}")])]
        assert sent_by_exconf(t, statements) == sent_by_pypsrp(statements)
    assert len(templates._templates) == 2 and PipelineTemplates()._max == 256  # docs/remote-powershell.md


def test_a_pool_that_is_not_exconfs_or_has_a_host_is_not_templated():
    templates = PipelineTemplates()
    t = transport(templates)
    p = pool(raw=False)
    t._begin(p, read("ex01"), False)
    assert p.shell.message() == sent_by_pypsrp(read("ex01")) and templates._templates == {}
    p = pool()
    p.host = object()
    from exconf.transport.psrp import _context
    assert _context(p) is None


def test_a_pending_template_is_used_only_for_the_pipeline_it_was_made_for(monkeypatch):
    import exconf.transport.psrp as psrp
    from exconf.transport.psrp_templates import Untemplatable

    templates = PipelineTemplates()
    t = transport(templates)
    p = pool()
    assert isinstance(p._serializer, RawOutputSerializer)
    p._serializer.pending = psrp._Pending(templates.shape(psrp._context(p), read("zz")), [], templates)  # another's
    ps = t._pipeline(p, read("ex01"))
    with pytest.raises(Untemplatable):
        ps.begin_invoke()
    assert p.shell.fragments == [] and p._serializer.pending is None  # nothing written, nothing left pending

    # Should pypsrp ever write a pipeline from other commands than the ones exconf gave it, the placeholder
    # statements are never sent: _begin sends the real ones, as pypsrp writes them.
    real = psrp._Pending
    monkeypatch.setattr(psrp, "_Pending", lambda shape, commands, owner: real(shape, [], owner))
    q = pool()
    t._begin(q, read("ex01"), False)
    sent = q.shell.message()
    assert sent == sent_by_pypsrp(read("ex01")) and templates._nonce.encode() not in sent
    assert q._serializer.pending is None  # consumed, never left for the next message


def test_the_hosts_of_a_run_share_its_templates_and_two_runs_do_not(tmp_path):
    from exconf.inventory import load
    from exconf.runner import default_executor_factory

    (tmp_path / "hosts.yaml").write_text("all:\n  hosts:\n    ex01: {ansible_host: 127.0.0.1, ansible_user: u, ansible_password: p}\n"
                                         "    ex02: {ansible_host: 127.0.0.2, ansible_user: u, ansible_password: p}\n")
    inv = load(tmp_path / "hosts.yaml")
    run = default_executor_factory(tmp_path)
    first, second = (run(host)._transport._templates for host in inv.hosts)
    assert isinstance(first, PipelineTemplates) and first is second
    assert default_executor_factory(tmp_path)(inv.hosts[0])._transport._templates is not first
