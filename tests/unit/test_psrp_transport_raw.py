"""Output objects reach the executor as the CLIXML the server sent, read once by exconf's own reader
(engine/transport/psrp.py RawOutputSerializer); every other PSRP message is pypsrp's as before."""

from __future__ import annotations

import struct
import uuid

from pypsrp.messages import Destination, Message, MessageType
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from exconf.remote import clixml
from exconf.transport.psrp import RawOutput, RawOutputSerializer, _keep_output_raw

OUTPUT = ('<Obj RefId="0"><TN RefId="0"><T>Deserialized.Microsoft.Exchange.Data.Directory.Management.ExchangeServer</T>'
          '<T>Deserialized.System.Object</T></TN><ToString>EX01</ToString><Props><S N="Name">EX01</S>'
          '<B N="IsEdgeServer">false</B></Props></Obj>')


def unpack(message_type: MessageType, data: str):
    """A message from the server as MS-PSRP 2.2.1 lays it out, read by pypsrp with exconf's serializer."""
    packed = struct.pack("<II", Destination.CLIENT, message_type) + uuid.uuid4().bytes_le + uuid.uuid4().bytes_le
    return Message.unpack(packed + b"\xef\xbb\xbf" + data.encode("utf-8"), RawOutputSerializer()).data


ERROR = ('<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.ErrorRecord</T><T>System.Object</T></TN>'
         '<ToString>boom</ToString><MS><S N="FullyQualifiedErrorId">Boom</S><I32 N="ErrorCategory_Category">7</I32>'
         '<S N="ErrorCategory_Reason">InvalidOperationException</S><Obj N="Exception" RefId="1"><TN RefId="1">'
         '<T>System.Exception</T></TN><ToString>boom</ToString><Props><S N="Message">boom</S></Props></Obj>'
         '<B N="SerializeExtendedInfo">false</B></MS></Obj>')


def test_pipeline_output_is_kept_as_clixml_and_reads_as_before():
    out = unpack(MessageType.PIPELINE_OUTPUT, OUTPUT)
    assert isinstance(out.data, RawOutput) and out.data._xml == OUTPUT
    server = clixml.parse(out.data._xml)
    assert server.to_string == "EX01" and clixml.select(server, ("Name", "IsEdgeServer")) == {"Name": "EX01", "IsEdgeServer": False}
    # a primitive output (a bare string) is pypsrp's own value
    assert unpack(MessageType.PIPELINE_OUTPUT, "<S>text</S>").data == "text"
    # an error record is pypsrp's ErrorRecord, as before
    error = unpack(MessageType.ERROR_RECORD, ERROR)
    assert not isinstance(error, RawOutput) and error.fq_error == "Boom" and error.reason == "InvalidOperationException"


def test_the_pool_and_its_fragmenter_share_the_serializer_pypsrp_keeps_where_exconf_puts_it():
    pool = RunspacePool(WSMan("127.0.0.1", port=1, auth="basic", username="u", password="p", ssl=False, encryption="never"))
    _keep_output_raw(pool)
    assert isinstance(pool._serializer, RawOutputSerializer) and pool._fragmenter.serializer is pool._serializer


def test_a_pipeline_of_statements_writes_the_same_xml_with_commands_copied_shallowly():
    from pypsrp.complex_objects import Command, CommandParameter, Pipeline
    from pypsrp.serializer import Serializer

    from exconf.transport.psrp import _CopiedShallow

    def commands(shallow: bool) -> list[Command]:
        out = []
        for _i, (cmdlet, params) in enumerate([("Set-ReceiveConnector", {"Identity": "EX01\\Default", "ProtocolLoggingLevel": "Verbose"}),
                                             ("Measure-Object", {}),
                                             ("Import-ExchangeCertificate", {"FileData": b"\x30\x82\x01", "Server": "ex01"}),
                                             ("Set-TransportConfig", {"TLSSendDomainSecureList": ["a.com", "b.com"], "ErrorAction": "Stop"})]):
            command = Command(cmd=cmdlet, protocol_version="2.3", is_script=False, use_local_scope=None)
            command.args = [CommandParameter(name=k, value=v) for k, v in params.items()]
            command.end_of_statement = True
            if shallow:
                command.__class__ = _CopiedShallow
            out.append(command)
        return out

    def xml(shallow: bool) -> bytes:
        import xml.etree.ElementTree as ET

        pipeline = Pipeline(is_nested=False, cmds=commands(shallow), history=None, redirect_err_to_out=False)
        return ET.tostring(Serializer().serialize(pipeline))

    assert xml(True) == xml(False) and b"Set-TransportConfig" in xml(True) and b"ExtraCmds" in xml(True)
