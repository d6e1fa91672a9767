"""Receive connectors: per server, named ``<Name>``; ``{server}`` expands to the server name.

Exchange's default connectors carry the server name (``Default Frontend EX01``),
so one declaration such as ``"Default Frontend {server}"`` serves every
Mailbox server (cmdlets.md §4). Receive connectors are never replicated by
EdgeSync, so on an Edge they stay editable after subscription.
"""

from exconf.values import PROTOCOL_LOGGING_LEVEL

from .base import LOCAL_SERVER, SERVER
from .settings import Prop, SettingsKind

KIND = SettingsKind(
    kind="receive_connector",
    section="receive_connectors",
    scope=SERVER,
    title="receive connector",
    get_cmdlet="Get-ReceiveConnector",
    set_cmdlet="Set-ReceiveConnector",
    named=True,
    get_params={"Server": LOCAL_SERVER},
    props=(
        Prop(
            "protocol_logging_level",
            "ProtocolLoggingLevel",
            PROTOCOL_LOGGING_LEVEL,
            "Protocol logging for this connector (None or Verbose); logs go to the service's ReceiveProtocolLogPath.",
        ),
    ),
    doc="Receive connectors of the server, by name or `*` pattern; `{server}` is the Exchange server name.",
)
