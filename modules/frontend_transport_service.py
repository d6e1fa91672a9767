"""The Front End Transport service of a Mailbox server (Set-FrontendTransportService).

It does not exist on Edge Transport servers (cmdlets.md §5); declaring it for
an Edge host is an error reported at plan time.
"""

from .base import LOCAL_SERVER, SERVER
from .settings import SettingsKind
from .transport_logging import logging_props

KIND = SettingsKind(
    kind="frontend_transport_service",
    section="frontend_transport_service",
    scope=SERVER,
    title="front end transport service",
    get_cmdlet="Get-FrontendTransportService",
    set_cmdlet="Set-FrontendTransportService",
    named=False,
    roles=frozenset({"Mailbox"}),
    get_params={"Identity": LOCAL_SERVER},
    identity_property="Name",
    props=logging_props(),
    doc="Protocol-log settings of the server's Front End Transport service (Mailbox only).",
)
