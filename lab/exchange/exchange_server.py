"""Get-ExchangeServer (cmdlets.md §7): the server objects, read-only in this slice.

Property names, order and formats follow the recorded Exchange 2019 object
(fixture GetExchangeServer.xml); AdminDisplayVersion prints as ServerVersion does,
"Version {0}.{1} (Build {2}.{3})" [SRC Microsoft.Exchange.Data/ServerVersion.cs].
A Mailbox server sees the organisation (its Mailbox servers and the Edge servers
whose subscription put them in AD); an Edge reads only itself from AD LDS.
"""

from __future__ import annotations

from typing import Any

from .binder import Param, Signature
from .context import INSTALL_PATH, Context, lab_guid
from .dotnet_values import TimeSpan
from .enums import SERVER_EDITION, SERVER_ROLE, EnumValue
from .param_types import FQDN, SWITCH, id_param
from .spec import ServerEntry

SERVER_ID = id_param("ServerIdParameter")

GET = Signature(
    "Get-ExchangeServer",
    (
        Param("Identity", SERVER_ID, position=1, sets=("Identity",)),
        Param("Domain", FQDN, mandatory=True, sets=("Domain",)),
        Param("DomainController", FQDN),
        Param("Status", SWITCH),
    ),
    default_set="Identity",
)


def admin_display_version(version: str) -> str:
    major, minor, build, revision = version.split(".")
    return f"Version {major}.{minor} (Build {build}.{revision})"


def _role(entry: ServerEntry) -> EnumValue:
    return SERVER_ROLE.value("Edge" if entry.is_edge else "Mailbox")


def view(ctx: Context, entry: ServerEntry) -> dict[str, Any]:
    spec, name, edge = entry.spec, entry.name, entry.is_edge
    dns_domain = spec.fqdn.split(".", 1)[1] if "." in spec.fqdn else ""
    dcs = () if ctx.edge else (ctx.org.organization.dc,)
    return {
        "Name": name,
        "DataPath": INSTALL_PATH + ("\\TransportRoles\\data" if edge else "\\Mailbox"),
        "Domain": dns_domain,
        "Edition": SERVER_EDITION.value(entry.edition),
        "ExchangeLegacyDN": ctx.legacy_dn(entry),
        "ExchangeLegacyServerRole": 0,
        "Fqdn": spec.fqdn,
        "CustomerFeedbackEnabled": False,
        "InternetWebProxy": None,
        "InternetWebProxyBypassList": None,
        # A 2016/2019 Mailbox server runs the hub, client access and front-end transport roles
        # too (fixture: ServerRole Mailbox with these flags True); an Edge only Edge.
        "IsHubTransportServer": not edge,
        "IsClientAccessServer": not edge,
        "IsExchange2007OrLater": True,
        "IsEdgeServer": edge,
        "IsMailboxServer": not edge,
        "IsE14OrLater": True,
        "IsE15OrLater": True,
        "IsProvisionedServer": False,
        "IsUnifiedMessagingServer": False,
        "IsFrontendTransportServer": not edge,
        "NetworkAddress": (
            f"ncacn_vns_spp:{name}", f"netbios:{name}", f"ncacn_np:{name}", f"ncacn_spx:{name}",
            f"ncacn_ip_tcp:{spec.fqdn}", f"ncalrpc:{name}",
        ),
        "OrganizationalUnit": f"{dns_domain}/{name}",
        "AdminDisplayVersion": admin_display_version(spec.version),
        "Site": ctx.site_id(entry),
        "ServerRole": _role(entry),
        "ErrorReportingEnabled": False,
        "MitigationsEnabled": not edge,  # the Emergency Mitigation service runs on Mailbox servers (2019 CU11+)
        "StaticDomainControllers": (),
        "StaticGlobalCatalogs": (),
        "StaticConfigDomainController": "",
        "StaticExcludedDomainControllers": (),
        "MonitoringGroup": "",
        "CurrentDomainControllers": dcs,
        "CurrentGlobalCatalogs": dcs,
        "CurrentConfigDomainController": dcs[0] if dcs else "",
        "ProductID": "",
        "IsExchangeTrialEdition": False,
        "IsExpiredExchangeTrialEdition": False,
        "MailboxProvisioningAttributes": None,
        "RemainingTrialPeriod": TimeSpan(0),
        "MitigationsApplied": None,
        "MitigationsBlocked": None,
        "DataCollectionEnabled": False,
        **_tail(ctx, entry),
    }


def _tail(ctx: Context, entry: ServerEntry) -> dict[str, Any]:
    """The ADObject properties, in the order the server object lists them (fixture)."""
    common = ctx.common(
        identity=entry.name, dn=ctx.server_dn(entry), guid=lab_guid("server", ctx.domain, entry.name),
        category="ms-Exch-Exchange-Server", classes=("top", "server", "msExchExchangeServer"),
        created=ctx.state.created, changed=ctx.state.created,
    )
    order = ("Identity", "IsValid", "ExchangeVersion", "DistinguishedName", "Guid", "ObjectCategory", "ObjectClass",
             "WhenChanged", "WhenCreated", "WhenChangedUTC", "WhenCreatedUTC", "OrganizationId", "Id",
             "OriginatingServer", "ObjectState")
    return {name: common[name] for name in order}


def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    if bound.get("Domain") is not None:
        suffix = bound["Domain"].lower().rstrip(".")
        return [view(ctx, e) for e in ctx.visible_servers() if e.spec.fqdn.lower().endswith("." + suffix)]
    ident = bound.get("Identity")
    if ident is None:
        return [view(ctx, e) for e in ctx.visible_servers()]
    found = ctx.find_server(ident)
    if not found:
        raise ctx.not_found(ident)
    return [view(ctx, e) for e in found]
