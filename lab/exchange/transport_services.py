"""Transport service settings: Get/Set-TransportService (Mailbox and Edge) and
Get/Set-FrontendTransportService (Mailbox only) — cmdlets.md §5.

The parameter lists are the Exchange 2019 ones of Set-TransportService.md and
Set-FrontendTransportService.md [PS]; defaults come from the same pages where
they state one (paths are expanded under the default install path). Ranges
are the ServerSchema constraints and the size rules Server.ValidateWrite of the
decompiled Exchange 2013 build [SRC]. Settings the docs give no default for are
marked "lab choice".
"""

from __future__ import annotations

import uuid
from typing import Any

from .binder import Check, Param, Signature
from . import stored
from .certificate_store import server_store
from .context import INSTALL_PATH, Context, lab_guid
from .dotnet_values import ByteSize, TimeSpan, Unlimited
from .enums import PROTOCOL_LOGGING_LEVEL, PROTOCOL_OPTION, SYNC_LOG_LEVEL
from .kinds import Kind, Prop, in_range, seconds_in_range, set_object
from .param_types import (
    BOOL, BYTESIZE, FQDN, GUID, INT, IP_ADDRESS, LOCAL_PATH, STRING, TIMESPAN, UNLIMITED_BYTES, UNLIMITED_INT,
    EnumType, PType, ParsedString, id_param, multi,
)
from .spec import ServerEntry
from .string_values import parse_smtp_address

MAX_AGE = TimeSpan.of(seconds=2**31 - 1)  # 24855.03:14:07
MAX_BYTES = ByteSize(2**63 - 1)
INT_MAX = 2**31 - 1

# Types by shorthand.
TS, UB, BQS, PATH, B, I, G = TIMESPAN, UNLIMITED_BYTES, BYTESIZE, LOCAL_PATH, BOOL, INT, GUID  # noqa: E741 - I is INT, as B is BOOL
IPS = multi(IP_ADDRESS)
ZERO_GUID = uuid.UUID(int=0)

age_check = seconds_in_range(TimeSpan(0), MAX_AGE)
size_check = in_range(ByteSize(1), MAX_BYTES)
# Protocol-log sizes: "A valid value is a number up to 909.5 terabytes (999999999999999 bytes) or the
# value unlimited" [PS Set-TransportService.md, Set-FrontendTransportService.md]. The 2013 ServerSchema
# constraint allows up to 2^63-1 bytes [SRC]; the lab follows the 2019 documentation, as exconf's plan does.
PROTOCOL_LOG_MAX_BYTES = ByteSize(999_999_999_999_999)
protocol_log_size_check = in_range(ByteSize(1), PROTOCOL_LOG_MAX_BYTES)


def MB(n: float) -> ByteSize:  # noqa: N802 - reads like the unit
    return ByteSize(int(n * 1024 * 1024))


def days(n: int) -> TimeSpan:
    return TimeSpan.of(days=n)


def _log(prefix: str, age: TimeSpan, directory: ByteSize, file: ByteSize, tail: str | None,
         size_type: PType = UB, enabled: bool | None = None,
         sizes: Check = size_check) -> list[tuple[str, PType, Any, Any]]:
    """The settings of one log: [Enabled,] MaxAge, MaxDirectorySize, MaxFileSize[, Path]."""
    wrap = Unlimited if size_type is UB else (lambda b: b)
    rows: list[tuple[str, PType, Any, Any]] = []
    if enabled is not None:
        rows.append((f"{prefix}Enabled", B, enabled, None))
    rows.append((f"{prefix}MaxAge", TS, age, age_check))
    rows.append((f"{prefix}MaxDirectorySize", size_type, wrap(directory), sizes))
    rows.append((f"{prefix}MaxFileSize", size_type, wrap(file), sizes))
    if tail is not None:
        rows.append((f"{prefix}Path", PATH, ("log", tail), None))
    return rows


def _dns_rows() -> list[tuple[str, PType, Any, Any]]:
    """The DNS settings both transport services share (cmdlets.md §5: ProtocolOption Any by default)."""
    return [
        ("ExternalDNSAdapterEnabled", B, True, None),
        ("ExternalDNSAdapterGuid", G, ZERO_GUID, None),
        ("ExternalDNSProtocolOption", EnumType(PROTOCOL_OPTION), "Any", None),
        ("ExternalDNSServers", IPS, (), None),
        ("ExternalIPAddress", IP_ADDRESS, None, None),
        ("InternalDNSAdapterEnabled", B, True, None),
        ("InternalDNSAdapterGuid", G, ZERO_GUID, None),
        ("InternalDNSProtocolOption", EnumType(PROTOCOL_OPTION), "Any", None),
        ("InternalDNSServers", IPS, (), None),
    ]


def _transport_rows(edge: bool) -> list[tuple[str, PType, Any, Any]]:
    """Set-TransportService parameters (Exchange 2019), default, check. ("log", tail) = a log path."""
    e = EnumType
    return [
        *_log("ActiveUserStatisticsLog", days(30), MB(250), MB(10), "ActiveUsersStats", size_type=BQS),
        *_log("AgentLog", days(7), MB(250), MB(10), "AgentLog", enabled=True),
        ("AntispamAgentsEnabled", B, edge, None),  # $false on Mailbox, $true on Edge
        *_log("ConnectivityLog", days(30), MB(1000), MB(10), "Connectivity", enabled=True),
        ("ContentConversionTracingEnabled", B, False, None),
        ("DelayNotificationTimeout", TS, TimeSpan.of(hours=4), seconds_in_range(TimeSpan.of(seconds=1), days(30))),
        *_log("DnsLog", days(7), MB(100), MB(10), None, enabled=False),
        ("DnsLogPath", PATH, None, None),
        *_dns_rows(),
        ("IntraOrgConnectorProtocolLoggingLevel", e(PROTOCOL_LOGGING_LEVEL), "None", None),
        # "A valid value is an integer from 0 to 2147483647" [PS Set-TransportService.md]
        ("IntraOrgConnectorSmtpMaxMessagesPerConnection", I, 20, in_range(0, INT_MAX)),
        ("IrmLogEnabled", B, True, None),
        ("IrmLogMaxAge", TS, days(30), age_check),
        ("IrmLogMaxDirectorySize", UB, Unlimited(MB(250)), size_check),
        ("IrmLogMaxFileSize", BQS, MB(10), size_check),
        ("IrmLogPath", PATH, f"{INSTALL_PATH}\\Logging\\IRMLogs", None),
        ("MaxConcurrentMailboxDeliveries", I, 20, in_range(1, 256)),
        ("MaxConcurrentMailboxSubmissions", I, 20, in_range(1, 256)),
        ("MaxConnectionRatePerMinute", I, 1200, in_range(1, INT_MAX)),
        ("MaxOutboundConnections", UNLIMITED_INT, Unlimited(1000), in_range(1, INT_MAX)),
        ("MaxPerDomainOutboundConnections", UNLIMITED_INT, Unlimited(40), in_range(1, INT_MAX)),
        ("MessageExpirationTimeout", TS, days(2), seconds_in_range(TimeSpan.of(seconds=5), days(90))),
        ("MessageRetryInterval", TS, TimeSpan.of(minutes=5), seconds_in_range(TimeSpan.of(seconds=1), days(1))),
        ("MessageTrackingLogEnabled", B, True, None),
        ("MessageTrackingLogMaxAge", TS, days(30), age_check),
        ("MessageTrackingLogMaxDirectorySize", UB, Unlimited(MB(1000)), size_check),
        ("MessageTrackingLogMaxFileSize", BQS, MB(10), in_range(ByteSize(1), ByteSize(4294967296))),
        ("MessageTrackingLogPath", PATH, f"{INSTALL_PATH}\\TransportRoles\\Logs\\MessageTracking", None),
        ("MessageTrackingLogSubjectLoggingEnabled", B, True, None),
        ("OutboundConnectionFailureRetryInterval", TS, TimeSpan.of(minutes=30 if edge else 10),
         seconds_in_range(TimeSpan.of(seconds=1), days(20))),
        ("PickupDirectoryMaxHeaderSize", BQS, ByteSize(65536), in_range(ByteSize(32768), ByteSize(INT_MAX))),
        ("PickupDirectoryMaxMessagesPerMinute", I, 100, in_range(1, 20000)),
        ("PickupDirectoryMaxRecipientsPerMessage", I, 100, in_range(1, 10000)),
        ("PickupDirectoryPath", PATH, f"{INSTALL_PATH}\\TransportRoles\\Pickup", None),
        ("PipelineTracingEnabled", B, False, None),
        ("PipelineTracingPath", PATH, ("log", "PipelineTracing"), None),
        ("PipelineTracingSenderAddress", ParsedString("Microsoft.Exchange.Data.SmtpAddress", parse_smtp_address), None, None),
        ("PoisonMessageDetectionEnabled", B, True, None),
        ("PoisonThreshold", I, 2, in_range(1, 10)),
        *_log("QueueLog", days(7), MB(200), MB(10), "QueueViewer"),
        ("QueueMaxIdleTime", TS, TimeSpan.of(minutes=3), seconds_in_range(TimeSpan.of(seconds=5), TimeSpan.of(hours=1))),
        *_log("ReceiveProtocolLog", days(30), MB(250), MB(10), "ProtocolLog\\SmtpReceive", sizes=protocol_log_size_check),
        ("RecipientValidationCacheEnabled", B, edge, None),  # $true on Edge, $false on Mailbox
        ("ReplayDirectoryPath", PATH, f"{INSTALL_PATH}\\TransportRoles\\Replay", None),
        *_log("RequestBrokerLog", days(30), MB(250), MB(10), "RequestBroker", enabled=True),  # lab choice
        *_log("ResourceLog", days(7), MB(250), MB(10), "ResourceLog", enabled=True),  # lab choice
        ("RootDropDirectoryPath", STRING, None, None),
        ("RoutingTableLogMaxAge", TS, days(7), age_check),
        ("RoutingTableLogMaxDirectorySize", UB, Unlimited(MB(50)), size_check),
        ("RoutingTableLogPath", PATH, ("log", "Routing"), None),
        *_log("SendProtocolLog", days(30), MB(250), MB(10), "ProtocolLog\\SmtpSend", sizes=protocol_log_size_check),
        *_log("ServerStatisticsLog", days(30), MB(250), MB(10), "ServerStats", size_type=BQS),
        ("TransientFailureRetryCount", I, 6, in_range(0, 15)),
        ("TransientFailureRetryInterval", TS, TimeSpan.of(minutes=10 if edge else 5),
         seconds_in_range(TimeSpan.of(seconds=1), TimeSpan.of(hours=12))),
        *_log("TransportHttpLog", days(7), MB(250), MB(10), "TransportHttp", enabled=True),  # lab choice
        *_log("TransportMaintenanceLog", days(30), MB(250), MB(10), "TransportMaintenance", enabled=True),  # lab choice
        ("TransportSyncAccountsPoisonAccountThreshold", I, 2, in_range(1, INT_MAX)),  # lab choice
        ("TransportSyncAccountsPoisonDetectionEnabled", B, True, None),
        ("TransportSyncAccountsPoisonItemThreshold", I, 2, in_range(1, INT_MAX)),
        ("TransportSyncAccountsSuccessivePoisonItemThreshold", I, 3, in_range(1, INT_MAX)),
        ("TransportSyncEnabled", B, False, None),
        ("TransportSyncExchangeEnabled", B, False, None),
        ("TransportSyncHubHealthLogEnabled", B, False, None),
        ("TransportSyncHubHealthLogFilePath", PATH, ("log", "TransportSyncHealthHub"), None),
        *_log("TransportSyncHubHealthLog", days(30), MB(250), MB(10), None, size_type=BQS),
        ("TransportSyncImapEnabled", B, False, None),
        ("TransportSyncLogEnabled", B, False, None),
        ("TransportSyncLogFilePath", PATH, ("log", "TransportSync"), None),
        ("TransportSyncLogLoggingLevel", e(SYNC_LOG_LEVEL), "None", None),
        *_log("TransportSyncLog", days(30), MB(250), MB(10), None, size_type=BQS),
        ("TransportSyncMaxDownloadItemsPerConnection", I, 1000, in_range(1, INT_MAX)),
        ("TransportSyncMaxDownloadSizePerConnection", BQS, MB(50), size_check),
        ("TransportSyncMaxDownloadSizePerItem", BQS, MB(36), size_check),
        ("TransportSyncPopEnabled", B, False, None),
        ("TransportSyncRemoteConnectionTimeout", TS, TimeSpan.of(seconds=100), seconds_in_range(TimeSpan.of(seconds=1), days(1))),
        ("UseDowngradedExchangeServerAuth", B, False, None),
        ("WindowsLiveHotmailTransportSyncEnabled", B, False, None),
        *_log("WlmLog", days(7), MB(250), MB(10), "WLM"),
    ]


def _frontend_rows() -> list[tuple[str, PType, Any, Any]]:
    """Set-FrontendTransportService parameters (Exchange 2019)."""
    e = EnumType
    return [
        *_log("AgentLog", days(7), MB(250), MB(10), "AgentLog", enabled=True),
        ("AntispamAgentsEnabled", B, False, None),
        *_log("ConnectivityLog", days(30), MB(1000), MB(10), "Connectivity", enabled=True),
        *_log("DnsLog", days(7), MB(100), MB(10), None, enabled=False),
        ("DnsLogPath", PATH, None, None),
        *_dns_rows(),
        # Front End: Verbose by default (cmdlets.md §5)
        ("IntraOrgConnectorProtocolLoggingLevel", e(PROTOCOL_LOGGING_LEVEL), "Verbose", None),
        ("MaxConnectionRatePerMinute", I, 1200, in_range(1, INT_MAX)),
        *_log("ReceiveProtocolLog", days(30), MB(250), MB(10), "ProtocolLog\\SmtpReceive", sizes=protocol_log_size_check),
        ("RoutingTableLogMaxAge", TS, days(7), age_check),
        ("RoutingTableLogMaxDirectorySize", UB, Unlimited(MB(250)), size_check),
        ("RoutingTableLogPath", PATH, ("log", "Routing"), None),
        *_log("SendProtocolLog", days(30), MB(250), MB(10), "ProtocolLog\\SmtpSend", sizes=protocol_log_size_check),
        ("TransientFailureRetryCount", I, 6, in_range(0, 15)),
        ("TransientFailureRetryInterval", TS, TimeSpan.of(minutes=5), seconds_in_range(TimeSpan.of(seconds=1), TimeSpan.of(hours=12))),
    ]


def _kind(name: str, rows: list[tuple[str, PType, Any, Any]]) -> Kind:
    return Kind(name, [Prop(n, t, check=c) for n, t, _, c in rows])


TRANSPORT = _kind("TransportServer", _transport_rows(edge=False))
FRONTEND = _kind("FrontendTransportServer", _frontend_rows())


def _defaults(rows: list[tuple[str, PType, Any, Any]], log_dir: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, ptype, default, _ in rows:
        if isinstance(default, tuple) and default[:1] == ("log",):
            default = f"{INSTALL_PATH}\\TransportRoles\\Logs\\{log_dir}\\{default[1]}"
        elif isinstance(default, str) and isinstance(ptype, EnumType):
            default = ptype.convert(default)
        out[name] = default
    return out


def transport_defaults(entry: ServerEntry) -> dict[str, Any]:
    return _defaults(_transport_rows(entry.is_edge), "Edge" if entry.is_edge else "Hub")


def frontend_defaults(entry: ServerEntry) -> dict[str, Any]:
    return _defaults(_frontend_rows(), "FrontEnd")


def new_transport(entry: ServerEntry, domain: str, created: Any) -> dict[str, Any]:
    return TRANSPORT.new(transport_defaults(entry), guid=lab_guid("server", domain, entry.name), created=created)


def new_frontend(entry: ServerEntry, domain: str, created: Any) -> dict[str, Any]:
    return FRONTEND.new(frontend_defaults(entry), guid=lab_guid("frontend", domain, entry.name), created=created)


def _view(ctx: Context, kind: Kind, owner: ServerEntry, obj: dict[str, Any], frontend: bool) -> dict[str, Any]:
    dn = ctx.server_dn(owner)
    if frontend:
        dn = f"CN=FrontEnd,CN=Transport Configuration,{dn}"
    out: dict[str, Any] = {"Name": owner.name}
    out.update({p.name: obj[p.name] for p in kind.props})
    if not frontend and ctx.wants("InternalTransportCertificateThumbprint"):
        # The server's internal transport (default SMTP) certificate, as HealthChecker reads it
        # (CSS-Exchange Invoke-JobExchangeInformationCmdlet.ps1: Get-TransportService -Identity $Server).
        out["InternalTransportCertificateThumbprint"] = server_store(ctx, owner)["internal_transport"]
    common = ctx.common(
        identity=owner.name, dn=dn, guid=obj["Guid"],
        category="ms-Exch-Frontend-Transport-Server" if frontend else "ms-Exch-Exchange-Server",
        classes=("top", "msExchFrontendTransportServer") if frontend else ("top", "server", "msExchExchangeServer"),
        created=obj["WhenCreated"], changed=obj["WhenChanged"],
    )
    out.update(common)
    return out


# --- shared Get/Set ---------------------------------------------------------------------------


def _owners(ctx: Context, frontend: bool) -> tuple[ServerEntry, ...]:
    """Servers with this service that this server can read (an Edge reads only itself)."""
    if ctx.edge:
        return () if frontend else (ctx.local,)
    return ctx.org.mailbox_servers


def _store(ctx: Context, owner: ServerEntry, frontend: bool) -> dict[str, Any]:
    return ctx.state.get(owner.name, (FRONTEND_STORED if frontend else TRANSPORT_STORED).key)


def _find(ctx: Context, ident: str, frontend: bool) -> list[ServerEntry]:
    return ctx.find_server(ident, _owners(ctx, frontend))


def _get(ctx: Context, bound: dict[str, Any], frontend: bool) -> list[dict[str, Any]]:
    kind = FRONTEND if frontend else TRANSPORT
    ident = bound.get("Identity")
    owners = _owners(ctx, frontend) if ident is None else _find(ctx, ident, frontend)
    if ident is not None and not owners:
        raise ctx.not_found(ident)
    return [_view(ctx, kind, o, _store(ctx, o, frontend), frontend) for o in owners]


# Server.ValidateWrite file-size rules [SRC]: (file, directory, DirectoryStrings message).
_SIZE_RULES = (
    ("ReceiveProtocolLogMaxFileSize", "ReceiveProtocolLogMaxDirectorySize",
     "The maximum file size for SMTP receive protocol logs should be less than the maximum directory size."),
    ("SendProtocolLogMaxFileSize", "SendProtocolLogMaxDirectorySize",
     "The maximum file size for SMTP send protocol logs should be less than the maximum directory size."),
    ("MessageTrackingLogMaxFileSize", "MessageTrackingLogMaxDirectorySize",
     "The per-file size quota for Message Tracking logs should be less than the directory size quota."),
    ("ActiveUserStatisticsLogMaxFileSize", "ActiveUserStatisticsLogMaxDirectorySize",
     "The maximum file size limit for active user statistics logs should be less than the maximum directory size limit."),
    ("ServerStatisticsLogMaxFileSize", "ServerStatisticsLogMaxDirectorySize",
     "The maximum file size limit for server statistics logs should be less than the maximum directory size limit."),
    ("TransportSyncLogMaxFileSize", "TransportSyncLogMaxDirectorySize",
     "The maximum file size for transport synchronization logs should be less than the maximum directory size."),
    ("TransportSyncHubHealthLogMaxFileSize", "TransportSyncHubHealthLogMaxDirectorySize",
     "The maximum file size for Transport synchronization health logs should be less than the maximum directory size."),
)


def _as_limit(value: Any) -> Unlimited:
    return value if isinstance(value, Unlimited) else Unlimited(value)


def _validator(owner: ServerEntry, kind: Kind):
    def validate(ctx: Context, old: dict[str, Any], new: dict[str, Any], changed: set[str]) -> None:
        for file, directory, message in _SIZE_RULES:
            if file in kind and _as_limit(new[file]) > _as_limit(new[directory]):
                raise ctx.validation(message, file)
        if kind is TRANSPORT:
            if new["PickupDirectoryPath"] and new["PickupDirectoryPath"] == new["ReplayDirectoryPath"]:
                raise ctx.validation("The Pickup directory path and the Replay directory path must be different.",
                                     "PickupDirectoryPath")
            limit, per_domain = new["MaxOutboundConnections"], new["MaxPerDomainOutboundConnections"]
            if not limit.is_unlimited and per_domain > limit:
                raise ctx.validation(
                    f"The value for MaxPerDomainOutboundConnections ({per_domain}) cannot exceed the value of "
                    f"MaxOutboundConnections ({limit}).", "MaxPerDomainOutboundConnections",
                )
            if "PipelineTracingEnabled" in changed and new["PipelineTracingEnabled"] and not (
                new["PipelineTracingSenderAddress"] and new["PipelineTracingPath"]
            ):
                raise ctx.validation(
                    "Pipeline tracing requires both the PipelineTracingSenderAddress and PipelineTracingPath "
                    "parameters to be specified.", "PipelineTracingEnabled",
                )
            if new["TransportSyncMaxDownloadSizePerItem"] > new["TransportSyncMaxDownloadSizePerConnection"]:
                raise ctx.validation(
                    "The maximum download size per item for transport synchronization should be less than the maximum "
                    "download size per connection.", "TransportSyncMaxDownloadSizePerItem",
                )
        for side in ("External", "Internal"):
            if not new[f"{side}DNSAdapterEnabled"] and not new[f"{side}DNSServers"]:
                raise ctx.validation(
                    f"At least one {side.lower()} DNS server must be specified in the {side}DnsServers parameter when "
                    f"the {side}DnsAdapterEnabled parameter is set to $False.", f"{side}DNSServers",
                )
        if kind is TRANSPORT and "UseDowngradedExchangeServerAuth" in changed:
            # SetTransportServiceBase.InternalValidate [SRC]
            if owner.is_edge and new["UseDowngradedExchangeServerAuth"]:
                raise ctx.error("You can't use the UseDowngradedExchangeServerAuth parameter on an Edge Transport server.")
            if not new["UseDowngradedExchangeServerAuth"]:
                for connector in ctx.state.get(owner.name, "ReceiveConnector"):
                    if connector["SuppressXAnonymousTls"]:
                        raise ctx.error(
                            "You can't set the UseDowngradedExchangeServerAuth parameter to $false if any Receive "
                            "connector on the transport server has SuppressXAnonymousTls set to $true. The connector "
                            f"{connector['Name']} currently has SuppressXanonymousTls set to $true."
                        )

    return validate


def _set(ctx: Context, bound: dict[str, Any], frontend: bool) -> list[dict[str, Any]]:
    kind = FRONTEND if frontend else TRANSPORT
    owners = _find(ctx, bound["Identity"], frontend)
    if not owners:
        raise ctx.not_found(bound["Identity"])
    if len(owners) > 1:
        raise ctx.ambiguous(bound["Identity"])
    owner = owners[0]
    obj = _store(ctx, owner, frontend)
    set_object(ctx, kind, obj, bound, owner.name, _validator(owner, kind))
    return []


# --- signatures -------------------------------------------------------------------------------------

_TRANSPORT_ID = id_param("TransportServerIdParameter")
_FRONTEND_ID = id_param("FrontendTransportServerIdParameter")
_SERVER_ID = id_param("ServerIdParameter")

GET_TRANSPORT = Signature(
    "Get-TransportService", (Param("Identity", _TRANSPORT_ID, position=1), Param("DomainController", FQDN)),
)
SET_TRANSPORT = Signature(
    "Set-TransportService",
    (Param("Identity", _SERVER_ID, mandatory=True, position=1), Param("DomainController", FQDN))
    + TRANSPORT.set_params(),
    should_process=True,
)
GET_FRONTEND = Signature(
    "Get-FrontendTransportService", (Param("Identity", _FRONTEND_ID, position=1), Param("DomainController", FQDN)),
)
SET_FRONTEND = Signature(
    "Set-FrontendTransportService",
    (Param("Identity", _FRONTEND_ID, mandatory=True, position=1), Param("DomainController", FQDN))
    + FRONTEND.set_params(),
    should_process=True,
)


def get_transport(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    return _get(ctx, bound, frontend=False)


def set_transport(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    return _set(ctx, bound, frontend=False)


def get_frontend(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    return _get(ctx, bound, frontend=True)


def set_frontend(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    return _set(ctx, bound, frontend=True)


# Where the lab state keeps them: one per server, the front end only on Mailbox servers (see stored.py).
TRANSPORT_STORED = stored.single(
    "TransportService", TRANSPORT, stored.on_servers,
    new=lambda org, entry, now: new_transport(entry, org.organization.domain, now),
    defaults=lambda org, entry, raw: transport_defaults(entry),
)
FRONTEND_STORED = stored.single(
    "FrontendTransportService", FRONTEND, stored.on_mailbox_servers,
    new=lambda org, entry, now: new_frontend(entry, org.organization.domain, now),
    defaults=lambda org, entry, raw: frontend_defaults(entry),
)
