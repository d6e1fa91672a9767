"""Send connectors: Get-SendConnector and Set-SendConnector (cmdlets.md §3).

Organisation-wide objects, identified by Name or GUID. EdgeSync creates
"EdgeSync - <Site> to Internet" and "EdgeSync - Inbound to <Site>" for every site
with a subscribed Edge [EXD edge-subscriptions.md]. A subscribed Edge holds
read-only replicas of the connectors that have it as a source server
[EXD edgesync-replication-data]; an Edge that is not subscribed has its own.
Properties follow the recorded Exchange 2019 output (fixture GetSendConnector.xml);
rules and strings follow SetSendConnector / NewSendConnector /
SmtpSendConnectorConfig.ValidateWrite of the decompiled Exchange 2013 build [SRC].
"""

from __future__ import annotations

from typing import Any

from . import edge_sync, stored
from .binder import Param, Signature
from .context import ADMIN_GROUP, ROUTING_GROUP, Context, lab_guid, name_matches
from .dotnet_values import ByteSize, TimeSpan, Unlimited
from .enums import ERROR_POLICIES, PROTOCOL_LOGGING_LEVEL, SEND_CONNECTOR_TYPE, SMART_HOST_AUTH, TLS_AUTH_LEVEL
from .kinds import Kind, Prop, in_range, max_length, seconds_in_range, set_object
from .param_types import (
    ADDRESS_SPACE, BOOL, FQDN, GUID, INT, PS_CREDENTIAL, SMART_HOST, SMTP_DOMAIN_SUB, STRING, SWITCH, TIMESPAN,
    UNLIMITED_BYTES, X509_IDENTIFIER, ParsedString, enum, id_param, multi,
)
from .ps_conversion import ConversionError
from .string_values import is_dashdash_space, is_smtp_space, parse_ip

INT_MAX = 2**31 - 1
SERVER_ID = id_param("ServerIdParameter")
SEND_ID = id_param("SendConnectorIdParameter")

KIND = Kind("SendConnector", (
    Prop("DNSRoutingEnabled", BOOL),
    Prop("TlsDomain", SMTP_DOMAIN_SUB),
    Prop("TlsAuthLevel", enum(TLS_AUTH_LEVEL, nullable=True)),
    Prop("ErrorPolicies", enum(ERROR_POLICIES)),
    Prop("SmartHosts", multi(SMART_HOST)),
    Prop("Port", INT, check=in_range(0, 65535)),
    Prop("ConnectionInactivityTimeOut", TIMESPAN, check=seconds_in_range(TimeSpan.of(seconds=1), TimeSpan.of(days=1))),
    Prop("ForceHELO", BOOL),
    Prop("FrontendProxyEnabled", BOOL),
    Prop("IgnoreSTARTTLS", BOOL),
    Prop("CloudServicesMailEnabled", BOOL),
    Prop("Fqdn", FQDN),
    Prop("TlsCertificateName", X509_IDENTIFIER),
    Prop("RequireTLS", BOOL),
    Prop("RequireOorg", BOOL),
    Prop("Enabled", BOOL),
    Prop("ProtocolLoggingLevel", enum(PROTOCOL_LOGGING_LEVEL)),
    Prop("SmartHostAuthMechanism", enum(SMART_HOST_AUTH)),
    Prop("UseExternalDNSServersEnabled", BOOL),
    Prop("DomainSecureEnabled", BOOL),
    Prop("SourceIPAddress", ParsedString("System.Net.IPAddress", parse_ip, nullable=False)),
    Prop("SmtpMaxMessagesPerConnection", INT, check=in_range(1, INT_MAX)),
    Prop("ConnectorType", enum(SEND_CONNECTOR_TYPE)),
    Prop("AddressSpaces", multi(ADDRESS_SPACE)),
    Prop("IsScopedConnector", BOOL),
    Prop("Comment", STRING, check=max_length(1024)),
    # Stored as the names of the resolved servers (Set binds ServerIdParameter values).
    Prop("SourceTransportServers", multi(SERVER_ID, "Microsoft.Exchange.Data.MultiValuedProperty`1[Microsoft.Exchange.Configuration.Tasks.ServerIdParameter]")),
    Prop("MaxMessageSize", UNLIMITED_BYTES, check=in_range(ByteSize(0), ByteSize(INT_MAX))),
    Prop("Name", STRING, check=max_length(64)),
))

ORDER = (
    "DNSRoutingEnabled", "TlsDomain", "TlsAuthLevel", "ErrorPolicies", "SmartHosts", "Port",
    "ConnectionInactivityTimeOut", "ForceHELO", "FrontendProxyEnabled", "IgnoreSTARTTLS", "CloudServicesMailEnabled",
    "Fqdn", "TlsCertificateName", "RequireTLS", "RequireOorg", "Enabled", "ProtocolLoggingLevel",
    "SmartHostAuthMechanism", "AuthenticationCredential", "UseExternalDNSServersEnabled", "DomainSecureEnabled",
    "SourceIPAddress", "SmtpMaxMessagesPerConnection", "ConnectorType", "SmartHostsString", "CertificateSubject",
    "Region", "AddressSpaces", "ConnectedDomains", "IsScopedConnector", "IsSmtpConnector", "Comment",
    "SourceRoutingGroup", "SourceTransportServers", "HomeMTA", "HomeMtaServerId", "MaxMessageSize",
    "AdminDisplayName", "ExchangeVersion", "Name", "DistinguishedName", "Identity", "Guid", "ObjectCategory",
    "ObjectClass", "WhenChanged", "WhenCreated", "WhenChangedUTC", "WhenCreatedUTC", "OrganizationId", "Id",
    "OriginatingServer", "IsValid", "ObjectState",
)

# The property names an org file may use for a send connector (snake_case -> Exchange).
DECLARABLE = {
    "name": "Name", "address_spaces": "AddressSpaces", "source_transport_servers": "SourceTransportServers",
    "smart_hosts": "SmartHosts", "dns_routing_enabled": "DNSRoutingEnabled", "enabled": "Enabled", "fqdn": "Fqdn",
    "max_message_size": "MaxMessageSize", "port": "Port", "protocol_logging_level": "ProtocolLoggingLevel",
    "require_tls": "RequireTLS", "ignore_starttls": "IgnoreSTARTTLS", "tls_auth_level": "TlsAuthLevel",
    "tls_domain": "TlsDomain", "tls_certificate_name": "TlsCertificateName",
    "domain_secure_enabled": "DomainSecureEnabled", "is_scoped_connector": "IsScopedConnector", "comment": "Comment",
    "smart_host_auth_mechanism": "SmartHostAuthMechanism",
}


def base_values(name: str) -> dict[str, Any]:
    """A new connector as New-SendConnector leaves it [PS New-SendConnector.md; fixture for 2019 values]."""
    return {
        "DNSRoutingEnabled": True, "TlsDomain": None, "TlsAuthLevel": None, "ErrorPolicies": ERROR_POLICIES.value("Default"),
        "SmartHosts": (), "Port": 25, "ConnectionInactivityTimeOut": TimeSpan.of(minutes=10), "ForceHELO": False,
        "FrontendProxyEnabled": False, "IgnoreSTARTTLS": False, "CloudServicesMailEnabled": False, "Fqdn": None,
        "TlsCertificateName": None, "RequireTLS": False, "RequireOorg": False, "Enabled": True,
        "ProtocolLoggingLevel": PROTOCOL_LOGGING_LEVEL.value("None"), "SmartHostAuthMechanism": SMART_HOST_AUTH.value("None"),
        "UseExternalDNSServersEnabled": False, "DomainSecureEnabled": False, "SourceIPAddress": "0.0.0.0",
        "SmtpMaxMessagesPerConnection": 20, "ConnectorType": SEND_CONNECTOR_TYPE.value("Default"), "AddressSpaces": (),
        "IsScopedConnector": False, "Comment": "", "SourceTransportServers": (),
        "MaxMessageSize": Unlimited(ByteSize(36700160)), "Name": name,
    }


def declared_values(declared: dict[str, Any]) -> dict[str, Any]:
    """A connector the org file declares: New-SendConnector's defaults under the declared values.
    Smart hosts without an explicit DNSRoutingEnabled mean no DNS routing, as Set would require."""
    values = {**base_values(declared["Name"]), **declared}
    if declared.get("SmartHosts") and "DNSRoutingEnabled" not in declared:
        values["DNSRoutingEnabled"] = False
    return values


def edgesync_values(site: str, edges: tuple[str, ...]) -> list[dict[str, Any]]:
    """The connectors New-EdgeSubscription creates for a site [EXD edge-subscriptions.md, cmdlets.md §3]."""
    internet = base_values(f"EdgeSync - {site} to Internet")
    internet.update(AddressSpaces=("SMTP:*;100",), SourceTransportServers=edges, DNSRoutingEnabled=True,
                    DomainSecureEnabled=True)
    inbound = base_values(f"EdgeSync - Inbound to {site}")
    # "--": all authoritative and internal-relay domains / all Mailbox servers of the site.
    inbound.update(AddressSpaces=("SMTP:--;1",), SourceTransportServers=edges, DNSRoutingEnabled=False,
                   SmartHosts=("--",), SmartHostAuthMechanism=SMART_HOST_AUTH.value("ExchangeServer"))
    return [internet, inbound]


def new(values: dict[str, Any], domain: str, created: Any, scope: str = "org") -> dict[str, Any]:
    return KIND.new(values, guid=lab_guid("sendconnector", domain, scope, values["Name"]), created=created)


def _dn(ctx: Context, name: str) -> str:
    return f"CN={name},CN=Connections,CN={ROUTING_GROUP},CN=Routing Groups,{ADMIN_GROUP},{ctx.org_dn()}"


def view(ctx: Context, obj: dict[str, Any]) -> dict[str, Any]:
    sources = obj["SourceTransportServers"]
    computed = ctx.common(
        identity=obj["Name"], dn=_dn(ctx, obj["Name"]), guid=obj["Guid"], category="ms-Exch-Routing-SMTP-Connector",
        classes=("top", "msExchConnector", "mailGateway", "msExchRoutingSMTPConnector"),
        created=obj["WhenCreated"], changed=obj["WhenChanged"],
    )
    computed.update(
        AuthenticationCredential=None, SmartHostsString=",".join(obj["SmartHosts"]), CertificateSubject=None,
        Region="NotSpecified", ConnectedDomains=(), IsSmtpConnector=True, SourceRoutingGroup=ROUTING_GROUP,
        HomeMTA="Microsoft MTA", HomeMtaServerId=sources[0] if sources else None,
    )
    return {name: obj[name] if name in obj else computed[name] for name in ORDER}


# --- where connectors live ------------------------------------------------------------------------


def readable(ctx: Context) -> list[dict[str, Any]]:
    """The connectors Get-SendConnector sees on this server."""
    if not ctx.edge:
        return ctx.state.get(stored.ORG, STORED.key)
    if edge_sync.subscribed_on_edge(ctx, ctx.local):  # the lab state, not the org file
        # What EdgeSync last wrote. Read-only copies: the Edge refuses to change them.
        return [KIND.load(r, base_values(r["Name"])) for r in edge_sync.replica(ctx)["connectors"]]
    return ctx.state.get(ctx.local.name, STORED.key)


def find(ctx: Context, ident: str) -> list[dict[str, Any]]:
    pool = readable(ctx)
    try:
        guid = GUID.convert(ident)
    except ConversionError:
        guid = None
    if guid is not None:
        return [c for c in pool if c["Guid"] == guid]
    if ident.upper().startswith("CN="):
        return [c for c in pool if _dn(ctx, c["Name"]).lower() == ident.lower()]
    found = [c for c in pool if name_matches(ident, c["Name"])]
    server_part, sep, name = ident.rpartition("\\")
    if not found and sep and server_part and name:
        # "You can also include the server name by using the format ServerName\ConnectorName"
        # [PS Get-SendConnector.md]: the server must exist; the connector is found by its name.
        if ctx.find_server(server_part):
            found = [c for c in pool if name_matches(name, c["Name"])]
    return found


# --- Get-SendConnector ----------------------------------------------------------------------------

GET = Signature(
    "Get-SendConnector", (Param("Identity", SEND_ID, position=1), Param("DomainController", FQDN)),
)


def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    ident = bound.get("Identity")
    if ident is None:
        return [view(ctx, c) for c in readable(ctx)]
    found = find(ctx, ident)
    if not found:
        # Also for a wildcard that matches nothing: GetObjectWithIdentityTaskBase writes
        # ManagementObjectNotFoundException whenever it wrote no object [SRC].
        raise ctx.not_found(ident)
    return [view(ctx, c) for c in found]


# --- Set-SendConnector ----------------------------------------------------------------------------

SET = Signature(
    "Set-SendConnector",
    (
        Param("Identity", SEND_ID, mandatory=True, position=1),
        Param("AuthenticationCredential", PS_CREDENTIAL),
        Param("DomainController", FQDN),
        Param("Force", SWITCH),
    ) + KIND.set_params(),
    should_process=True,
)

_MSG = {  # DirectoryStrings / Management Strings [SRC]
    "NoAddressSpaces": "Did you forget the address space? Please identify the domains to which this Send connector routes mail. Click Add, and then type the domain name. You can identify a specific domain, such as contoso.com, or you can include all domains in the specified address space.",
    "SmartHostNotSet": "You must specify a smart host if you are not using DNS to route mails.",
    "InvalidSourceAddressSetting": " The SourceIPAddress cannot be configured to a multicast or a broadcast address.",
    "AuthenticationCredentialNotSet": "Credentials must be provided if the authentication mechanism is set to Basic Authentication or Basic Authentication over TLS.",
    "DomainSecureWithoutDNSRoutingEnabled": "The DomainSecureEnabled parameter can't be set to $True unless the DNSRoutingEnabled parameter is also set to $True.",
    "DomainSecureWithIgnoreStartTLSEnabled": "The DomainSecureEnabled parameter can't be set to $True if the IgnoreSTARTTLS parameter is set to $True.",
    "TlsAuthLevelWithRequireTlsDisabled": "The TLSAuthLevel parameter can't be set if the RequireTLS parameter is set to $false.",
    "TlsAuthLevelWithDomainSecureEnabled": "The TLSAuthLevel parameter can't be set if the DomainSecureEnabled parameter is set to $true.",
    "TlsDomainWithIncorrectTlsAuthLevel": "The TLSDomain parameter can only be set if the TLSAuthLevel parameter is set to DomainValidation.",
    "TlsAuthLevelWithNoDomainOnSmartHost": "The TLSAuthLevel parameter can't be set to DomainValidation on a smarthost Send connector without specifying a valid TLS domain in the TLSDomain parameter.",
    "CannotRunOnSubscribedEdge": "You can't run this task on an Edge Transport server that is subscribed to an Active Directory site. You must either perform this operation using the management console on a Hub Transport server, or remove the Edge Subscription by using the Remove-EdgeSubscription command.",
    "SendConnectorSourceServersSetForEdge": "You can't specify a value for the SourceTransportServers parameter for Send connectors configured on Edge Transport servers.",
    "SendConnectorSourceServersNotSet": "You must specify at least one source server.",
    "SendConnectorMixedSourceServerRoles": "The source servers contain both Hub Transport servers and Edge Transport servers. Source servers either should be all Hub Transport servers or all Edge Transport servers.",
    "SendConnectorDashdashAddressSpaceNotOffEdge": "Connectors that aren't assigned to an Edge Transport server can't have the -- address space. Set the SourceTransportServers parameter to contain only Edge Transport servers.",
    "SendConnectorDashdashAddressSpaceNotUnique": 'You can\'t add a specific domain name for the address space if the Send connector has a "--" value specified as the address space. This Send connector is managed by the Microsoft Exchange EdgeSync service to deliver inbound e-mail, and the value "--" refers to all accepted domains for the Exchange organization. Please refer to the EdgeSync documentation before you modify the address space values.',
    "SendConnectorDashdashSmarthostNotOffEdge": "Connectors that aren't assigned to an Edge Transport server can't have the -- smart host. Set the SourceTransportServers parameter to contain only Edge Transport servers.",
    "SendConnectorDashdashSmarthostNotUnique": 'You can\'t add a specific host name or IP address as a smart host if the Send connector has a "--" value specified as a smarthost. This Send connector is managed by the Microsoft Exchange EdgeSync service to deliver inbound e-mail, and the value "--" refers to all Mailbox servers in the Active Directory site to which this Edge server is subscribed. Please refer to the EdgeSync documentation before you change the smart host values.',
    "DNSRoutingEnabledMustNotBeSpecified": "You must not set the DNSRoutingEnabled parameter to $true if smart hosts are used.",
    "DNSRoutingEnabledMustBeSpecifiedForAuthMechanism": "You must set the DNSRoutingEnabled parameter to $false to be able to specify SmartHostAuthMechanism. ",
    "IgnoreRequireTLSConflict": "RequireTLS and IgnoreTLS can't both be set.",
    "WarningMultiSiteSourceServers": "The source Transport servers specified for the connector aren't in the same Active Directory site.",
    "NonInteractive": "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
}


def resolve_sources(ctx: Context, idents: tuple[str, ...]) -> tuple[str, ...]:
    """SourceTransportServers: each identity must name one transport server of the organisation."""
    return tuple(dict.fromkeys(ctx.one_server(ident).name for ident in idents))  # in order, once each


def _validate(ctx: Context, old: dict[str, Any], new: dict[str, Any], changed: set[str], bound: dict[str, Any]) -> None:
    # SmtpSendConnectorConfig.ValidateWrite -> DataValidationException [SRC]
    tls_level = new["TlsAuthLevel"]
    rules = [
        (not new["AddressSpaces"], "NoAddressSpaces", "AddressSpaces"),
        (not new["DNSRoutingEnabled"] and not new["SmartHosts"], "SmartHostNotSet", "SmartHosts"),
        (_multicast_or_broadcast(new["SourceIPAddress"]), "InvalidSourceAddressSetting", "SourceIPAddress"),
        (str(new["SmartHostAuthMechanism"]) in ("BasicAuth", "BasicAuthRequireTLS"), "AuthenticationCredentialNotSet",
         "AuthenticationCredential"),
        (new["DomainSecureEnabled"] and not new["DNSRoutingEnabled"], "DomainSecureWithoutDNSRoutingEnabled", "DNSRoutingEnabled"),
        (new["DomainSecureEnabled"] and new["IgnoreSTARTTLS"], "DomainSecureWithIgnoreStartTLSEnabled", "IgnoreSTARTTLS"),
        (tls_level is not None and not new["RequireTLS"], "TlsAuthLevelWithRequireTlsDisabled", "TlsAuthLevel"),
        (tls_level is not None and new["DomainSecureEnabled"], "TlsAuthLevelWithDomainSecureEnabled", "TlsAuthLevel"),
        (new["TlsDomain"] is not None and str(tls_level) != "DomainValidation", "TlsDomainWithIncorrectTlsAuthLevel", "TlsDomain"),
        (new["TlsDomain"] is None and not new["DNSRoutingEnabled"] and str(tls_level) == "DomainValidation",
         "TlsAuthLevelWithNoDomainOnSmartHost", "TlsDomain"),
    ]
    for broken, key, prop in rules:
        if broken:
            raise ctx.validation(_MSG[key], prop)
    # NewSendConnector.CrossObjectValidate [SRC]
    on_edge = ctx.edge
    sources = [e for e in ctx.org.servers if e.name in new["SourceTransportServers"]]
    if on_edge:
        if "SourceTransportServers" in bound and new["SourceTransportServers"]:
            raise ctx.error(_MSG["SendConnectorSourceServersSetForEdge"], "SendConnectorSourceServersSetForEdgeException")
        edge_connector = True
    else:
        if not sources:
            raise ctx.error(_MSG["SendConnectorSourceServersNotSet"], "SendConnectorSourceServersNotSetException")
        kinds = {s.is_edge for s in sources}
        if len(kinds) > 1:
            raise ctx.error(_MSG["SendConnectorMixedSourceServerRoles"], "SendConnectorMixedSourceServerRolesException")
        edge_connector = kinds == {True}
    for space in new["AddressSpaces"]:
        if not is_smtp_space(space):
            if edge_connector:
                raise ctx.error(
                    f"The specified address space '{space}' isn't an SMTP address space. Non-SMTP address spaces aren't "
                    "allowed on Edge Transport servers.", "SendConnectorNonSmtpAddressSpaceOnEdgeException",
                )
        if is_dashdash_space(space):
            if not edge_connector:
                raise ctx.error(_MSG["SendConnectorDashdashAddressSpaceNotOffEdge"], "SendConnectorDashdashAddressSpaceNotOffEdgeException")
            if len(new["AddressSpaces"]) > 1:
                raise ctx.error(_MSG["SendConnectorDashdashAddressSpaceNotUnique"], "SendConnectorDashdashAddressSpaceNotUniqueException")
    if "--" in new["SmartHosts"]:
        if not edge_connector:
            raise ctx.error(_MSG["SendConnectorDashdashSmarthostNotOffEdge"], "SendConnectorDashdashSmarthostNotOffEdgeException")
        if len(new["SmartHosts"]) > 1:
            raise ctx.error(_MSG["SendConnectorDashdashSmarthostNotUnique"], "SendConnectorDashdashSmarthostNotUniqueException")
    if len({s.spec.site for s in sources if not s.is_edge}) > 1:
        ctx.warn(_MSG["WarningMultiSiteSourceServers"])
    # SetSendConnector.InternalProcessRecord [SRC]
    initial = any(is_dashdash_space(s) for s in old["AddressSpaces"]) or "--" in old["SmartHosts"]
    if initial and changed & {"AddressSpaces", "SmartHosts"} and not bound.get("Force"):
        # ShouldContinue(ConfirmationMessageSetEdgeSyncSendConnectorAddressSpaceOrSmartHosts) cannot
        # prompt in a non-interactive shell.
        raise ctx.error(_MSG["NonInteractive"], "PSInvalidOperationException")
    if new["DNSRoutingEnabled"]:
        if "SmartHosts" in changed and new["SmartHosts"]:
            raise ctx.error(_MSG["DNSRoutingEnabledMustNotBeSpecified"])
        if str(new["SmartHostAuthMechanism"]) != "None" and "SmartHostAuthMechanism" in changed and "DNSRoutingEnabled" not in bound:
            raise ctx.error(_MSG["DNSRoutingEnabledMustBeSpecifiedForAuthMechanism"])
    if new["RequireTLS"] and new["IgnoreSTARTTLS"]:
        raise ctx.error(_MSG["IgnoreRequireTLSConflict"])
    if new["DNSRoutingEnabled"]:  # ClearSmartHostsListIfNecessary / SetSmartHostAuthMechanismIfNecessary
        new["SmartHosts"] = ()
        new["SmartHostAuthMechanism"] = SMART_HOST_AUTH.value("None")
    if "Name" in changed and any(c is not old and c["Name"].lower() == new["Name"].lower() for c in readable(ctx)):
        raise ctx.error(
            f"Active Directory operation failed on {ctx.source}. The object "
            f"'{_dn(ctx, new['Name'])}' already exists.", "ADObjectAlreadyExistsException",
        )


def _multicast_or_broadcast(address: str) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address)
    return ip.is_multicast or address == "255.255.255.255"


def set_(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    found = find(ctx, bound["Identity"])
    if not found:
        raise ctx.not_found(bound["Identity"])
    if len(found) > 1:
        raise ctx.ambiguous(bound["Identity"])
    obj = found[0]
    if ctx.edge and edge_sync.subscribed_on_edge(ctx, ctx.local):
        # SetSendConnector.InternalValidate: Server.IsSubscribedGateway -> CannotRunOnSubscribedEdgeException [SRC]
        raise ctx.error(_MSG["CannotRunOnSubscribedEdge"], "CannotRunOnSubscribedEdgeException")
    if bound.get("SourceTransportServers") and not ctx.edge:
        bound = {**bound, "SourceTransportServers": resolve_sources(ctx, bound["SourceTransportServers"])}
    set_object(ctx, KIND, obj, bound, obj["Name"], lambda c, o, n, ch: _validate(c, o, n, ch, bound))
    return []


# Where the lab state keeps them: the organisation's, and an unsubscribed Edge's own (see stored.py).
# The organisation's start empty: the state seeds the org file's and EdgeSync's (state.reconcile).
STORED = stored.objects(
    stored.SEND_CONNECTORS, KIND, stored.on_org_and_edges,
    new=lambda org, entry, now: [] if entry is None else [
        new(declared_values(c), org.organization.domain, now, scope=entry.name) for c in entry.send_connectors
    ],
    defaults=lambda org, entry, raw: base_values(raw["Name"]),
)
