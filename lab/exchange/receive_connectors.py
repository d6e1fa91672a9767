"""Receive connectors: Get-ReceiveConnector and Set-ReceiveConnector.

Per server objects (cmdlets.md §4). Property names, order and formats follow the
recorded Exchange 2019 output (fixture GetReceiveConnector.xml); defaults of the
default connectors follow cmdlets.md §4, and the fixture where cmdlets.md is
silent. Validation rules are ReceiveConnector.ValidateWrite and
SetReceiveConnector.InternalValidate/InternalProcessRecord of the decompiled
Exchange 2013 build [SRC PiratesRE/exchange_diff], with their English strings.
"""

from __future__ import annotations

from typing import Any

from . import stored
from .binder import Param, Signature
from .context import Context, lab_guid, name_matches
from .dotnet_values import UNLIMITED, ByteSize, TimeSpan, Unlimited
from .enums import (
    AUTH_MECHANISMS, EXTENDED_PROTECTION, MESSAGE_RATE_SOURCE, PERMISSION_GROUPS, PROTOCOL_LOGGING_LEVEL,
    SERVER_ROLE, SIZE_MODE, flags_of,
)
from .kinds import Kind, Prop, in_range, max_length, seconds_in_range, set_object
from .param_types import (
    BOOL, BYTESIZE, FQDN, GUID, INT, IP_BINDING, IP_RANGE, STRING, TIMESPAN, UNLIMITED_INT, X509_IDENTIFIER,
    ParsedString, enum, id_param, multi,
)
from .ps_conversion import ConversionError
from .spec import ServerEntry

SERVER_ID = id_param("ServerIdParameter")
INT_MAX = 2**31 - 1


def _parse_receive_identity(text: str) -> str:
    # ReceiveConnectorIdParameter(string): at most one '\', no empty part [SRC ReceiveConnectorIdParameter.cs]
    parts = text.split("\\")
    if len(parts) > 2 or any(not p for p in parts):
        raise ValueError(f"'{text}' is not a valid value for the identity.")
    return text


RECEIVE_ID = id_param("ReceiveConnectorIdParameter", _parse_receive_identity)

KIND = Kind("ReceiveConnector", (
    Prop("AuthMechanism", enum(AUTH_MECHANISMS)),
    Prop("Banner", STRING),
    Prop("BinaryMimeEnabled", BOOL),
    Prop("Bindings", multi(IP_BINDING)),
    Prop("ChunkingEnabled", BOOL),
    Prop("DefaultDomain", id_param("AcceptedDomainIdParameter")),
    Prop("DeliveryStatusNotificationEnabled", BOOL),
    Prop("EightBitMimeEnabled", BOOL),
    Prop("SmtpUtf8Enabled", BOOL),
    Prop("BareLinefeedRejectionEnabled", BOOL),
    Prop("DomainSecureEnabled", BOOL),
    Prop("EnhancedStatusCodesEnabled", BOOL),
    Prop("LongAddressesEnabled", BOOL),
    Prop("OrarEnabled", BOOL),
    Prop("SuppressXAnonymousTls", BOOL),
    Prop("ProxyEnabled", BOOL, settable=False),
    Prop("AdvertiseClientSettings", BOOL),
    Prop("Fqdn", FQDN),
    Prop("ServiceDiscoveryFqdn", FQDN),
    Prop("TlsCertificateName", X509_IDENTIFIER),
    Prop("Comment", STRING, check=max_length(1024)),
    Prop("Enabled", BOOL),
    # Ranges: ReceiveConnectorSchema [SRC]
    Prop("ConnectionTimeout", TIMESPAN, check=seconds_in_range(TimeSpan.of(seconds=1), TimeSpan.of(days=1))),
    Prop("ConnectionInactivityTimeout", TIMESPAN, check=seconds_in_range(TimeSpan.of(seconds=1), TimeSpan.of(days=1))),
    Prop("MessageRateLimit", UNLIMITED_INT, check=in_range(1, INT_MAX)),
    Prop("MessageRateSource", enum(MESSAGE_RATE_SOURCE)),
    Prop("MaxInboundConnection", UNLIMITED_INT, check=in_range(1, INT_MAX)),
    Prop("MaxInboundConnectionPerSource", UNLIMITED_INT, check=in_range(1, 10000)),
    Prop("MaxInboundConnectionPercentagePerSource", INT, check=in_range(1, 100)),
    Prop("MaxHeaderSize", BYTESIZE, check=in_range(ByteSize(32768), ByteSize(INT_MAX))),
    Prop("MaxHopCount", INT, check=in_range(1, 500)),
    Prop("MaxLocalHopCount", INT, check=in_range(0, 50)),
    Prop("MaxLogonFailures", INT, check=in_range(0, 10)),
    Prop("MaxMessageSize", BYTESIZE, check=in_range(ByteSize(65536), ByteSize(INT_MAX))),
    Prop("MaxProtocolErrors", UNLIMITED_INT, check=in_range(0, INT_MAX)),
    Prop("MaxRecipientsPerMessage", INT, check=in_range(1, 512000)),
    Prop("PermissionGroups", enum(PERMISSION_GROUPS)),
    Prop("PipeliningEnabled", BOOL),
    Prop("ProtocolLoggingLevel", enum(PROTOCOL_LOGGING_LEVEL)),
    Prop("RemoteIPRanges", multi(IP_RANGE)),
    Prop("RequireEHLODomain", BOOL),
    Prop("RequireTLS", BOOL),
    Prop("EnableAuthGSSAPI", BOOL),
    Prop("ExtendedProtectionPolicy", enum(EXTENDED_PROTECTION)),
    Prop("LiveCredentialEnabled", BOOL, settable=False),
    Prop("TlsDomainCapabilities", multi(ParsedString("Microsoft.Exchange.Data.SmtpReceiveDomainCapabilities", str))),
    Prop("TransportRole", enum(SERVER_ROLE)),
    Prop("RejectReservedTopLevelRecipientDomains", BOOL),
    Prop("RejectReservedSecondLevelRecipientDomains", BOOL),
    Prop("RejectSingleLabelRecipientDomains", BOOL),
    Prop("AcceptConsumerMail", BOOL, settable=False),
    Prop("SizeEnabled", enum(SIZE_MODE)),
    Prop("TarpitInterval", TIMESPAN, check=seconds_in_range(TimeSpan(0), TimeSpan.of(minutes=10))),
    Prop("AuthTarpitInterval", TIMESPAN, check=seconds_in_range(TimeSpan(0), TimeSpan.of(minutes=10))),
    Prop("MaxAcknowledgementDelay", TIMESPAN, check=seconds_in_range(TimeSpan(0), TimeSpan.of(minutes=10))),
    Prop("Name", STRING, check=max_length(64)),
))

# The order of Get-ReceiveConnector's properties (fixture GetReceiveConnector.xml).
ORDER = (
    "AuthMechanism", "Banner", "BinaryMimeEnabled", "Bindings", "ChunkingEnabled", "DefaultDomain",
    "DeliveryStatusNotificationEnabled", "EightBitMimeEnabled", "SmtpUtf8Enabled", "BareLinefeedRejectionEnabled",
    "DomainSecureEnabled", "EnhancedStatusCodesEnabled", "LongAddressesEnabled", "OrarEnabled", "SuppressXAnonymousTls",
    "ProxyEnabled", "AdvertiseClientSettings", "Fqdn", "ServiceDiscoveryFqdn", "TlsCertificateName", "Comment",
    "Enabled", "ConnectionTimeout", "ConnectionInactivityTimeout", "MessageRateLimit", "MessageRateSource",
    "MaxInboundConnection", "MaxInboundConnectionPerSource", "MaxInboundConnectionPercentagePerSource",
    "MaxHeaderSize", "MaxHopCount", "MaxLocalHopCount", "MaxLogonFailures", "MaxMessageSize", "MaxProtocolErrors",
    "MaxRecipientsPerMessage", "PermissionGroups", "PipeliningEnabled", "ProtocolLoggingLevel", "RemoteIPRanges",
    "RequireEHLODomain", "RequireTLS", "EnableAuthGSSAPI", "ExtendedProtectionPolicy", "LiveCredentialEnabled",
    "TlsDomainCapabilities", "Server", "TransportRole", "RejectReservedTopLevelRecipientDomains",
    "RejectReservedSecondLevelRecipientDomains", "RejectSingleLabelRecipientDomains", "AcceptConsumerMail",
    "SizeEnabled", "TarpitInterval", "AuthTarpitInterval", "MaxAcknowledgementDelay", "AdminDisplayName",
    "ExchangeVersion", "Name", "DistinguishedName", "Identity", "Guid", "ObjectCategory", "ObjectClass",
    "WhenChanged", "WhenCreated", "WhenChangedUTC", "WhenCreatedUTC", "OrganizationId", "Id",
    "OriginatingServer", "IsValid", "ObjectState",
)

_ALL_REMOTE = ("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "0.0.0.0-255.255.255.255")


def _bindings(port: int, v6_first: bool = True) -> tuple[str, ...]:
    pair = (f"[::]:{port}", f"0.0.0.0:{port}")
    return pair if v6_first else pair[::-1]


def base_defaults(entry: ServerEntry) -> dict[str, Any]:
    """Settings every connector starts with (fixture GetReceiveConnector.xml)."""
    return {
        "Name": "", "AuthMechanism": AUTH_MECHANISMS.value("Tls"), "PermissionGroups": PERMISSION_GROUPS.value("None"),
        "Bindings": (), "Banner": "", "BinaryMimeEnabled": True, "ChunkingEnabled": True, "DefaultDomain": None,
        "DeliveryStatusNotificationEnabled": True, "EightBitMimeEnabled": True, "SmtpUtf8Enabled": True,
        "BareLinefeedRejectionEnabled": False, "DomainSecureEnabled": False, "EnhancedStatusCodesEnabled": True,
        "LongAddressesEnabled": False, "OrarEnabled": False, "SuppressXAnonymousTls": False, "ProxyEnabled": False,
        "AdvertiseClientSettings": False, "Fqdn": entry.spec.fqdn, "ServiceDiscoveryFqdn": None,
        "TlsCertificateName": None, "Comment": "", "Enabled": True,
        "ConnectionTimeout": TimeSpan.of(minutes=10), "ConnectionInactivityTimeout": TimeSpan.of(minutes=5),
        "MessageRateLimit": UNLIMITED, "MessageRateSource": MESSAGE_RATE_SOURCE.value("IPAddress"),
        "MaxInboundConnection": Unlimited(5000), "MaxInboundConnectionPerSource": Unlimited(20),
        "MaxInboundConnectionPercentagePerSource": 2, "MaxHeaderSize": ByteSize(262144), "MaxHopCount": 60,
        "MaxLocalHopCount": 5, "MaxLogonFailures": 3, "MaxMessageSize": ByteSize(37748736),
        "MaxProtocolErrors": Unlimited(5), "MaxRecipientsPerMessage": 200, "PipeliningEnabled": True,
        "ProtocolLoggingLevel": PROTOCOL_LOGGING_LEVEL.value("None"), "RemoteIPRanges": _ALL_REMOTE,
        "RequireEHLODomain": False, "RequireTLS": False, "EnableAuthGSSAPI": False,
        "ExtendedProtectionPolicy": EXTENDED_PROTECTION.value("None"), "LiveCredentialEnabled": False,
        "TlsDomainCapabilities": (), "TransportRole": SERVER_ROLE.value("HubTransport"),
        "RejectReservedTopLevelRecipientDomains": False, "RejectReservedSecondLevelRecipientDomains": False,
        "RejectSingleLabelRecipientDomains": False, "AcceptConsumerMail": False,
        "SizeEnabled": SIZE_MODE.value("Enabled"), "TarpitInterval": TimeSpan.of(seconds=5),
        "AuthTarpitInterval": TimeSpan.of(seconds=5), "MaxAcknowledgementDelay": TimeSpan.of(seconds=30),
    }


def defaults(entry: ServerEntry) -> list[dict[str, Any]]:
    """The stored values of a server's default receive connectors (cmdlets.md §4, fixture for the rest)."""
    s = entry.name
    base = base_defaults(entry)
    if entry.is_edge:
        specs = [{
            "Name": f"Default internal receive connector {s}", "Bindings": ("0.0.0.0:25",),
            "AuthMechanism": "Tls, ExchangeServer", "PermissionGroups": "AnonymousUsers, ExchangeServers, Partners",
            # On Edge: MessageRateLimit 600, ConnectionTimeout 00:05:00 and ConnectionInactivityTimeout
            # 00:01:00 ("The default value for Receive connectors on Edge Transport servers is …")
            # [PS Set-ReceiveConnector.md]
            "MessageRateLimit": Unlimited(600),
            "ConnectionTimeout": TimeSpan.of(minutes=5), "ConnectionInactivityTimeout": TimeSpan.of(minutes=1),
        }]
    else:
        specs = [
            {"Name": f"Default {s}", "Bindings": _bindings(2525, v6_first=False),
             "AuthMechanism": "Tls, Integrated, BasicAuth, ExchangeServer",
             "PermissionGroups": "ExchangeUsers, ExchangeServers, ExchangeLegacyServers",
             "MaxInboundConnectionPerSource": UNLIMITED, "MaxInboundConnectionPercentagePerSource": 100,
             "MaxRecipientsPerMessage": 5000, "SizeEnabled": SIZE_MODE.value("EnabledWithoutValue")},
            {"Name": f"Client Proxy {s}", "Bindings": _bindings(465),
             "AuthMechanism": "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer",
             "PermissionGroups": "ExchangeUsers, ExchangeServers", "MessageRateLimit": Unlimited(5),
             "MessageRateSource": MESSAGE_RATE_SOURCE.value("User"), "EnableAuthGSSAPI": True},
            {"Name": f"Default Frontend {s}", "Bindings": _bindings(25), "TransportRole": "FrontendTransport",
             "AuthMechanism": "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer",
             "PermissionGroups": "AnonymousUsers, ExchangeServers, ExchangeLegacyServers",
             "ProtocolLoggingLevel": PROTOCOL_LOGGING_LEVEL.value("Verbose"), "DomainSecureEnabled": True},
            {"Name": f"Outbound Proxy Frontend {s}", "Bindings": _bindings(717), "TransportRole": "FrontendTransport",
             "AuthMechanism": "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer",
             "PermissionGroups": "ExchangeServers", "DomainSecureEnabled": True, "TarpitInterval": TimeSpan(0)},
            {"Name": f"Client Frontend {s}", "Bindings": _bindings(587), "TransportRole": "FrontendTransport",
             "AuthMechanism": "Tls, Integrated, BasicAuth, BasicAuthRequireTLS", "PermissionGroups": "ExchangeUsers",
             "MessageRateLimit": Unlimited(5), "MessageRateSource": MESSAGE_RATE_SOURCE.value("User"),
             "EnableAuthGSSAPI": True},
        ]
    out = []
    for spec in specs:
        values = {**base, **spec}
        values["AuthMechanism"] = AUTH_MECHANISMS.value(spec["AuthMechanism"])
        values["PermissionGroups"] = PERMISSION_GROUPS.value(spec["PermissionGroups"])
        if isinstance(values["TransportRole"], str):
            values["TransportRole"] = SERVER_ROLE.value(values["TransportRole"])
        out.append(values)
    return out


def new_defaults(entry: ServerEntry, domain: str, created: Any) -> list[dict[str, Any]]:
    return [
        KIND.new(values, guid=lab_guid("receiveconnector", domain, entry.name, values["Name"]), created=created)
        for values in defaults(entry)
    ]


def identity(owner: ServerEntry, obj: dict[str, Any]) -> str:
    return f"{owner.name}\\{obj['Name']}"


def _dn(ctx: Context, owner: ServerEntry, name: str) -> str:
    return f"CN={name},CN=SMTP Receive Connectors,CN=Protocols,{ctx.server_dn(owner)}"


def view(ctx: Context, owner: ServerEntry, obj: dict[str, Any]) -> dict[str, Any]:
    ident = identity(owner, obj)
    computed = ctx.common(
        identity=ident,
        dn=_dn(ctx, owner, obj["Name"]),
        guid=obj["Guid"], category="ms-Exch-Smtp-Receive-Connector", classes=("top", "msExchSmtpReceiveConnector"),
        created=obj["WhenCreated"], changed=obj["WhenChanged"],
    )
    computed["Server"] = owner.name
    return {name: obj[name] if name in obj else computed[name] for name in ORDER}


# --- finding connectors ------------------------------------------------------------------------


def _owners(ctx: Context) -> tuple[ServerEntry, ...]:
    """Servers whose receive connectors this server can read: the Mailbox servers of the
    organisation, or on an Edge its own (EdgeSync never replicates receive connectors)."""
    return (ctx.local,) if ctx.edge else ctx.org.mailbox_servers


def _connectors(ctx: Context, owner: ServerEntry) -> list[dict[str, Any]]:
    return ctx.state.get(owner.name, STORED.key)


def find(ctx: Context, ident: str) -> tuple[list[tuple[ServerEntry, dict[str, Any]]], str]:
    """Connectors an identity refers to, and the identity as Exchange prints it in errors.

    "Name" alone means a connector of the local server: ServerBasedIdParameter fills in
    the local server's FQDN [SRC ServerBasedIdParameter.Initialize].
    """
    found: list[tuple[ServerEntry, dict[str, Any]]] = []
    try:
        guid = GUID.convert(ident)
    except ConversionError:
        guid = None
    if guid is not None:
        # The one server holding that GUID (an index in the state), if this server reads its connectors.
        scope = ctx.state.holder(STORED.key, guid)
        holders = ctx.org.by_name.get(scope.lower(), ()) if scope else ()
        for owner in (o for o in holders if (o is ctx.local if ctx.edge else not o.is_edge)):
            found += [(owner, c) for c in _connectors(ctx, owner) if c["Guid"] == guid]
        return found, ident
    if ident.upper().startswith("CN="):
        for owner in _owners(ctx):
            found += [(owner, c) for c in _connectors(ctx, owner) if _dn(ctx, owner, c["Name"]).lower() == ident.lower()]
        return found, ident
    server_part, _, name = ident.rpartition("\\")
    if not server_part:
        server_part = ctx.local.spec.fqdn
    for owner in ctx.find_server(server_part, _owners(ctx)):
        for c in _connectors(ctx, owner):
            if name_matches(name, c["Name"]):
                found.append((owner, c))
    return found, f"{server_part}\\{name}"


# --- Get-ReceiveConnector ------------------------------------------------------------------------

GET = Signature(
    "Get-ReceiveConnector",
    (
        Param("Identity", RECEIVE_ID, position=1, sets=("Identity",)),
        Param("Server", SERVER_ID, sets=("Server",)),
        Param("DomainController", FQDN),
    ),
    default_set="Identity",
)


def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    if "Identity" in bound and bound["Identity"] is not None:
        found, shown = find(ctx, bound["Identity"])
        if not found:  # GetObjectWithIdentityTaskBase: nothing written -> not found [SRC]
            raise ctx.not_found(shown)
        return [view(ctx, owner, c) for owner, c in found]
    owners = _owners(ctx)
    if bound.get("Server") is not None:
        server = ctx.one_server(bound["Server"])
        # The one server asked for, if this server reads its connectors: no scan of the organisation.
        owners = (server,) if (server is ctx.local if ctx.edge else not server.is_edge) else ()
    return [view(ctx, owner, c) for owner in owners for c in _connectors(ctx, owner)]


# --- Set-ReceiveConnector ------------------------------------------------------------------------

SET = Signature(
    "Set-ReceiveConnector",
    (Param("Identity", RECEIVE_ID, mandatory=True, position=1), Param("DomainController", FQDN))
    + KIND.set_params(),
    should_process=True,
)

# DirectoryStrings / Management Strings [SRC]
_MSG = {
    "BasicAfterTLSWithoutTLS": "If BasicAuthRequireTLS is set, TLS must also be set as an authentication mechanism.",
    "BasicAfterTLSWithoutBasic": "If BasicAuthRequireTLS is set, BasicAuth must also be set as an authentication mechanism.",
    "RequireTLSWithoutTLS": "If RequireTLS is set, TLS must also be set as an authentication mechanism.",
    "ExternalAndAuthSet": "ExternalAuthoritative cannot be set with BasicAuth, BasicAuthRequireTLS, ExchangeServer, or Integrated authentication mechanisms.",
    "ConnectionTimeoutLessThanInactivityTimeout": "ConnectionTimeout must be greater than or equal to ConnectionInactivityTimeout.",
    "DomainSecureEnabledWithoutTls": "The DomainSecureEnabled parameter can't be set to $True unless Transport Layer Security (TLS) is set on the AuthMechanism parameter.",
    "DomainSecureEnabledWithExternalAuthoritative": "The DomainSecureEnabled parameter can't be set to $True if the AuthMechanism parameter is set to ExternalAuthoritative.",
    "ExternalAuthoritativeWithoutExchangeServerPermission": "You must set the value for the PermissionGroups parameter to ExchangeServers when you set the AuthMechanism parameter to a value of ExternalAuthoritative.",
    "InvalidBannerSetting": "The banner must start with a status code of 220 and contain only seven bit ASCII characters.",
    "ExtendedProtectionNonTlsTerminatingProxyScenarioRequireTls": "You must set the value to $true for the RequireTLS parameter when you enable Extended Protection Authentication and you expect clients to connect directly to this Receive connector using TLS. If your server is behind a firewall and TLS terminates at the firewall, set the value of the ExtendedProtectionTlsTerminatedAtProxy parameter to $true instead.",
    "UnSupportedPermissionGroupsForEdge": "The Exchange Legacy Servers and Exchange Users permission groups aren't supported for the Edge Transport server role.",
    "CustomCannotBeUsedForPermissionGroups": "You can't use Custom to specify PermissionGroups.",
    "ChunkingEnabledSettingConflict": "You can't set the ChunkingEnabled parameter to $false if the BinaryMimeEnabled parameter is set to $true.",
    "LongAddressesEnabledOnEdge": "The LongAddressesEnabled parameter can't be set to $true on receive connectors configured on Edge Transport servers.",
    "SuppressXAnonymousTlsEnabledOnEdge": "You can't set the SuppressXAnonymousTls parameter to $true for Receive connectors configured on Edge Transport servers.",
    "SuppressXAnonymousTlsEnabledWithoutDowngradedExchangeAuth": "The SuppressXAnonymousTls parameter can't be set to $true on a Receive connector unless UseDowngradedExchangeServerAuth is also set to $true for the Hub Transport server on which the Receive connector is configured.",
    "InvalidTransportRoleOnReceiveConnector": "TransportRole should be set only to HubTransport or FrontEndTransport or Edge.",
    "AdvertiseClientSettingsWithoutExchangeUsersPermissionGroups": "The AdvertiseClientSettings parameter can't be set to $true on a Receive connector unless ExchangeUsers is added to the list specified in the PermissionGroups parameter.",
    "HubParameterNotValidOnEdgeRole": "A parameter was specified that isn't valid on an Edge Transport server.",
}


def _validator(owner: ServerEntry, bound: dict[str, Any]):
    def validate(ctx: Context, old: dict[str, Any], new: dict[str, Any], changed: set[str]) -> None:
        edge = owner.is_edge
        # TransportRole "can't be used on Edge Transport servers" [PS Set-ReceiveConnector.md, cmdlets.md §4];
        # the lab refuses it with Exchange's message for hub-only parameters on Edge [SRC Strings].
        if edge and "TransportRole" in bound:
            raise ctx.error(_MSG["HubParameterNotValidOnEdgeRole"], "ArgumentException")
        if "\\" in new["Name"]:  # NewReceiveConnector.ValidataName [SRC]
            raise ctx.error(
                f'"{new["Name"]}" isn\'t a valid value for the "Name" parameter. The value must not contain any of the '
                "following: { '\\' }.", "ArgumentException",
            )
        if "Name" in changed and any(
            c is not old and c["Name"].lower() == new["Name"].lower() for c in _connectors(ctx, owner)
        ):
            raise ctx.error(
                f"Active Directory operation failed on {ctx.source}. The object "
                f"'{_dn(ctx, owner, new['Name'])}' already exists.",
                "ADObjectAlreadyExistsException",
            )
        auth = flags_of(new["AuthMechanism"])
        perms = flags_of(new["PermissionGroups"])
        # ReceiveConnector.ValidateWrite [SRC]
        rules = [
            ("BasicAuthRequireTLS" in auth and "Tls" not in auth, "BasicAfterTLSWithoutTLS", "SecurityFlags"),
            ("BasicAuthRequireTLS" in auth and "BasicAuth" not in auth, "BasicAfterTLSWithoutBasic", "SecurityFlags"),
            (new["RequireTLS"] and "Tls" not in auth, "RequireTLSWithoutTLS", "SecurityFlags"),
            ("ExternalAuthoritative" in auth and auth & {"BasicAuth", "BasicAuthRequireTLS", "ExchangeServer", "Integrated"},
             "ExternalAndAuthSet", "SecurityFlags"),
            (new["ConnectionInactivityTimeout"] > new["ConnectionTimeout"], "ConnectionTimeoutLessThanInactivityTimeout",
             "ConnectionTimeout"),
            (new["DomainSecureEnabled"] and "Tls" not in auth, "DomainSecureEnabledWithoutTls", "DomainSecureEnabled"),
            (new["DomainSecureEnabled"] and "ExternalAuthoritative" in auth, "DomainSecureEnabledWithExternalAuthoritative",
             "DomainSecureEnabled"),
            ("ExternalAuthoritative" in auth and "ExchangeServers" not in perms,
             "ExternalAuthoritativeWithoutExchangeServerPermission", "DomainSecureEnabled"),
            (bool(new["Banner"]) and not (new["Banner"].startswith("220") and new["Banner"].isascii()),
             "InvalidBannerSetting", "Banner"),
            (str(new["ExtendedProtectionPolicy"]) != "None" and not new["RequireTLS"],
             "ExtendedProtectionNonTlsTerminatingProxyScenarioRequireTls", "ExtendedProtectionPolicy"),
        ]
        for broken, key, prop in rules:
            if broken:
                raise ctx.validation(_MSG[key], prop)
        # SetReceiveConnector.InternalValidate / InternalProcessRecord [SRC]
        if new["AdvertiseClientSettings"] and "ExchangeUsers" not in perms:
            raise ctx.error(
                _MSG["AdvertiseClientSettingsWithoutExchangeUsersPermissionGroups"],
                "AdvertiseClientSettingsWithoutExchangeUsersPermissionGroupsException",
            )
        if "PermissionGroups" in changed:
            if edge and "ExchangeLegacyServers" in perms:
                raise ctx.error(_MSG["UnSupportedPermissionGroupsForEdge"], "UnSupportedPermissionGroupsForEdgeException")
            if "Custom" in perms:
                raise ctx.error(_MSG["CustomCannotBeUsedForPermissionGroups"], "CustomCannotBeSetForPermissionGroupsException")
        if "ChunkingEnabled" in changed and not new["ChunkingEnabled"] and new["BinaryMimeEnabled"]:
            raise ctx.error(_MSG["ChunkingEnabledSettingConflict"], "ChunkingEnabledSettingConflictException")
        if "LongAddressesEnabled" in changed and new["LongAddressesEnabled"] and edge:
            raise ctx.error(_MSG["LongAddressesEnabledOnEdge"], "LongAddressesEnabledOnEdgeException")
        if "SuppressXAnonymousTls" in changed and new["SuppressXAnonymousTls"]:
            if edge:
                raise ctx.error(_MSG["SuppressXAnonymousTlsEnabledOnEdge"], "SuppressXAnonymousTlsEnabledOnEdgeException")
            service = ctx.state.get(owner.name, "TransportService")
            if not service["UseDowngradedExchangeServerAuth"]:
                raise ctx.error(
                    _MSG["SuppressXAnonymousTlsEnabledWithoutDowngradedExchangeAuth"],
                    "SuppressXAnonymousTlsEnabledWithoutDowngradedExchangeAuthException",
                )
        if "TransportRole" in changed and not flags_of(new["TransportRole"]) & {
            "Mailbox", "HubTransport", "Edge", "FrontendTransport"
        }:
            raise ctx.error(
                _MSG["InvalidTransportRoleOnReceiveConnector"], "InvalidTransportRoleOnReceiveConnectorException", "InvalidData"
            )

    return validate


def set_(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    found, shown = find(ctx, bound["Identity"])
    if not found:
        raise ctx.not_found(shown)
    if len(found) > 1:
        raise ctx.ambiguous(bound["Identity"])
    owner, obj = found[0]
    if "DefaultDomain" in bound and bound["DefaultDomain"] is not None:
        # The lab's only accepted domain is the organisation's domain.
        if bound["DefaultDomain"].lower() != ctx.domain.lower():
            raise ctx.not_found(bound["DefaultDomain"])
        bound = {**bound, "DefaultDomain": ctx.domain}
    set_object(ctx, KIND, obj, bound, identity(owner, obj), _validator(owner, bound))
    return []


# Where the lab state keeps them: a list per server (see stored.py).
STORED = stored.objects(
    "ReceiveConnector", KIND, stored.on_servers,
    new=lambda org, entry, now: new_defaults(entry, org.organization.domain, now),
    defaults=lambda org, entry, raw: {**base_defaults(entry), "Name": raw.get("Name", "")},
)
