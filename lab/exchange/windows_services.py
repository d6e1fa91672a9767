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
    # MSExchangeServiceHost runs on Mailbox servers too: its AuthAdmin servicelet publishes the next Auth
    # certificate (auth_config.py) [EXD services-overview.md; maintain-oauth-certificate.md].
    "Mailbox": ("MSExchangeTransport", "MSExchangeFrontEndTransport", "MSExchangeEdgeSync", "MSExchangeServiceHost"),
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
        if service == "MSExchangeServiceHost" and not ctx.edge:  # "The servicelet is executed immediately if the
            from . import auth_config  # MSExchangeServiceHost service is restarted" [maintain-oauth-certificate.md]

            auth_config.run_servicelet_now(ctx)
        if bound.get("PassThru"):
            out.append({"Status": "Running", "Name": service, "DisplayName": DISPLAY_NAMES[service]})
    return out


# --- Restart-WebAppPool (IIS's WebAdministration module) ---------------------------------------------------
# "A reference to the Auth Certificate is cached by the MSExchangeOWAAppPool and MSExchangeECPAppPool application
# pool. You can recycle those application pools to refresh this reference ... Restart-WebAppPool
# MSExchangeOWAAppPool" [EXD maintain-oauth-certificate.md]. The application pools an Exchange 2016/2019 Mailbox
# server has in IIS (the front end's and the back end's, setup's names); another name is WebAdministration's
# error (lab wording). Nothing is kept: the lab has no running worker process to recycle.

APP_POOL_DOTNET = "Microsoft.IIs.PowerShell.Provider.RestartAppPoolCommand"
APP_POOLS = (
    "DefaultAppPool", "MSExchangeAutodiscoverAppPool", "MSExchangeECPAppPool", "MSExchangeMapiFrontEndAppPool",
    "MSExchangeOABAppPool", "MSExchangeOWAAppPool", "MSExchangePowerShellFrontEndAppPool", "MSExchangeRestFrontEndAppPool",
    "MSExchangeServicesAppPool", "MSExchangeSyncAppPool", "MSExchangeRpcProxyFrontEndAppPool",
)
RESTART_APP_POOL = Signature(
    "Restart-WebAppPool",
    (
        Param("Name", v.STRING, mandatory=True, position=1, sets=("Name",)),
        Param("InputObject", v.RejectType("Microsoft.IIs.PowerShell.Framework.ConfigurationElement"), sets=("InputObject",)),
    ),
    default_set="Name",
    should_process=True,
)


def restart_app_pool(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    name = bound["Name"]
    if name.lower() not in (p.lower() for p in APP_POOLS):
        raise errors.CmdletError(f"Cannot find an application pool named '{name}'.", f"InvalidArgument,{APP_POOL_DOTNET}",
                                 "InvalidArgument", "ArgumentException", ctx.cmdlet)  # lab wording
    return []
