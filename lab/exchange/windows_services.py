"""Restart-Service, as far as exconf's program may call it: -Name ADAM_MSExchange on an Edge.

After the default SMTP certificate of an Edge changes, AD LDS is restarted (cmdlets.md §6, §9).
The program refuses any other use before the lab sees it; here the cmdlet behaves as Windows
PowerShell 5.1's does for the Exchange services each role runs [EXD windows-antivirus-software.md
via cmdlets.md §9; EXD plan-and-deploy/deployment-ref/services-overview.md]: a service the server
lacks is PowerShell's ServiceCommandException (ServiceResources.NoServiceFoundForGivenName); a
service other running services depend on is stopped only with -Force, which stops and starts them
too [PowerShell RestartServiceCommand.Force: "force a service to stop even if it has dependent
services"] (ServiceResources.ServiceHasDependentServices otherwise). On an Edge, AD LDS
(ADAM_MSExchange) has six dependants per services-overview.md: Anti-spam Update, Credential Service,
Service Host, Transport and Transport Log Search. The lab has no running service to restart; it
only answers as a successful restart does (no output without -PassThru).
"""

from __future__ import annotations

from typing import Any

from . import errors
from . import param_types as v
from .binder import Param, Signature
from .context import Context

DOTNET = "Microsoft.PowerShell.Commands.RestartServiceCommand"
SERVICES = {
    "Mailbox": ("MSExchangeTransport", "MSExchangeFrontEndTransport", "MSExchangeEdgeSync"),
    "Edge": ("MSExchangeTransport", "ADAM_MSExchange", "MSExchangeEdgeCredential", "MSExchangeAntispamUpdate",
             "MSExchangeServiceHost", "MSExchangeTransportLogSearch"),
}
DISPLAY_NAMES = {
    "MSExchangeTransport": "Microsoft Exchange Transport",
    "MSExchangeFrontEndTransport": "Microsoft Exchange Frontend Transport",
    "MSExchangeEdgeSync": "Microsoft Exchange EdgeSync",
    "ADAM_MSExchange": "Microsoft Exchange ADAM",
    "MSExchangeEdgeCredential": "Microsoft Exchange Credential Service",
    "MSExchangeAntispamUpdate": "Microsoft Exchange Anti-spam Update",
    "MSExchangeServiceHost": "Microsoft Exchange Service Host",
    "MSExchangeTransportLogSearch": "Microsoft Exchange Transport Log Search",
}
# The services that depend on another [EXD services-overview.md, "Dependencies" of each Edge service].
DEPENDENTS = {
    "ADAM_MSExchange": ("MSExchangeAntispamUpdate", "MSExchangeEdgeCredential", "MSExchangeServiceHost",
                        "MSExchangeTransport", "MSExchangeTransportLogSearch"),
}

RESTART = Signature(
    "Restart-Service",
    (
        Param("Name", v.multi(v.STRING, "System.String[]"), mandatory=True, position=1, sets=("Default",),
              aliases=("ServiceName",)),
        Param("DisplayName", v.multi(v.STRING, "System.String[]"), mandatory=True, sets=("DisplayName",)),
        Param("InputObject", v.RejectType("System.ServiceProcess.ServiceController[]"), sets=("InputObject",)),
        Param("Force", v.SWITCH),
        Param("PassThru", v.SWITCH),
        Param("Include", v.multi(v.STRING, "System.String[]")),
        Param("Exclude", v.multi(v.STRING, "System.String[]")),
    ),
    default_set="Default",
    should_process=True,
)


def restart(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    known = {s.lower(): s for s in SERVICES[ctx.local.spec.role]}
    out = []
    for name in bound.get("Name") or ():
        service = known.get(name.lower())
        if service is None:
            raise errors.CmdletError(
                f"Cannot find any service with service name '{name}'.", f"NoServiceFoundForGivenName,{DOTNET}",
                "ObjectNotFound", "ServiceCommandException", ctx.cmdlet,
            )
        dependents = [d for d in DEPENDENTS.get(service, ()) if d in known.values()]
        if dependents and not bound.get("Force"):
            raise errors.CmdletError(
                f"Cannot stop service '{DISPLAY_NAMES[service]} ({service})' because it has dependent services. It "
                "can only be stopped if the Force flag is set.", f"ServiceHasDependentServices,{DOTNET}",
                "InvalidOperation", "ServiceCommandException", ctx.cmdlet,
            )
        if service == "ADAM_MSExchange":  # AD LDS presents its service store's certificate
            from . import edge_sync

            edge_sync.adam_restarted(ctx)
        if bound.get("PassThru"):
            out.append({"Status": "Running", "Name": service, "DisplayName": DISPLAY_NAMES[service]})
    return out
