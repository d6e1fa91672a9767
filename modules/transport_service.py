"""The Transport service of a Mailbox or Edge server: protocol-log settings (Set-TransportService).

Set-TransportService is the 2013+ name (Set-TransportServer is the 2010 one);
on Edge the local server name is passed as Identity (cmdlets.md §5).
"""

from .base import LOCAL_SERVER, SERVER
from .settings import SettingsKind
from .transport_logging import logging_props

KIND = SettingsKind(
    kind="transport_service",
    section="transport_service",
    scope=SERVER,
    title="transport service",
    get_cmdlet="Get-TransportService",
    set_cmdlet="Set-TransportService",
    named=False,
    get_params={"Identity": LOCAL_SERVER},
    identity_property="Name",
    props=logging_props(),
    doc="Protocol-log settings of the server's Transport service (Mailbox and Edge).",
)
