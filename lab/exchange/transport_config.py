"""Organisation transport settings: Get-TransportConfig and Set-TransportConfig (cmdlets.md §8).

One object for the organisation, and on every Edge a local copy in AD LDS. For a
subscribed Edge, EdgeSync overwrites the copy's TLSSendDomainSecureList,
TLSReceiveDomainSecureList and InternalSMTPServers with the organisation's values
[EXD edgesync-replication-data-exchange-2013-help.md]; the lab shows them as if
synchronisation had just run, and Set-TransportConfig refuses to change them
there (SetTransportConfig.InternalValidate [SRC]). The lists take no wildcards
(SmtpDomain values) and are replaced as a whole; $null or an empty list clears them.
"""

from __future__ import annotations

from typing import Any

from . import edge_sync, stored
from .binder import Param, Signature
from .context import Context, lab_guid
from .dotnet_values import ByteSize, TimeSpan, Unlimited
from .enums import DSN_CONVERSION, HEADER_PROMOTION, SHADOW_PREFERENCE
from .kinds import ONE_SECOND, Kind, Prop, in_range, seconds_in_range, set_object
from .param_types import (
    BOOL, BYTESIZE, CULTURE, FQDN, INT, IP_RANGE, SMTP_DOMAIN, STRING, SWITCH, TIMESPAN, UINT, UNLIMITED_BYTES,
    UNLIMITED_INT, EnumType, PType, ParsedString, enum, id_param, multi,
)
from .string_values import parse_smtp_address

INT_MAX = 2**31 - 1
NULLABLE_SMTP_ADDRESS = ParsedString("Microsoft.Exchange.Data.SmtpAddress", parse_smtp_address)
SMTP_DOMAINS = multi(SMTP_DOMAIN)


def _mb(n: int) -> ByteSize:
    return ByteSize(n * 1024 * 1024)


def _kb(n: int) -> ByteSize:
    return ByteSize(n * 1024)


ONE_DAY = TimeSpan.of(days=1)
MAX_TIMESPAN = TimeSpan.of(seconds=INT_MAX)  # 24855.03:14:07
# "A valid value is a number up to 1.999999 gigabytes (2147482624 bytes) or the value unlimited" [PS];
# RangedUnlimitedConstraint(FromKB(0), FromKB(2097151)) in TransportConfigContainerSchema [SRC].
MAX_MESSAGE_SIZE = _kb(2097151)


# Set-TransportConfig parameters of Exchange 2019 [PS Set-TransportConfig.md], with their documented defaults
# and ranges (the same as the TransportConfigContainerSchema constraints [SRC] where both give one).
_ROWS: list[tuple[str, PType, Any, Any]] = [
    ("AddressBookPolicyRoutingEnabled", BOOL, False, None),
    # "The default value is $false." for both loop-detection switches [PS]
    ("AgentGeneratedMessageLoopDetectionInSubmissionEnabled", BOOL, False, None),
    ("AgentGeneratedMessageLoopDetectionInSmtpEnabled", BOOL, False, None),
    ("ClearCategories", BOOL, True, None),
    ("ConvertDisclaimerWrapperToEml", BOOL, False, None),
    # No range documented [PS] and none in TransportConfigContainerSchema [SRC]: any Int32.
    ("DiagnosticsAggregationServicePort", INT, 9710, None),
    # "The default value in Exchange 2010 and Exchange 2013 is UseExchangeDSNs. Otherwise, the default
    # value is PreserveDSNBody." [PS]; the lab is Exchange 2019.
    ("DSNConversionMode", enum(DSN_CONVERSION), "PreserveDSNBody", None),
    ("ExternalDelayDsnEnabled", BOOL, True, None),
    ("ExternalDsnDefaultLanguage", CULTURE, None, None),
    ("ExternalDsnLanguageDetectionEnabled", BOOL, True, None),
    ("ExternalDsnMaxMessageAttachSize", BYTESIZE, _mb(10), in_range(ByteSize(0), ByteSize(INT_MAX))),
    ("ExternalDsnReportingAuthority", SMTP_DOMAIN, None, None),
    ("ExternalDsnSendHtml", BOOL, True, None),
    ("ExternalPostmasterAddress", NULLABLE_SMTP_ADDRESS, None, None),
    ("GenerateCopyOfDSNFor", multi(STRING), ("5.4.8", "5.4.6", "5.4.4", "5.2.4", "5.2.0", "5.1.4"), None),
    ("HeaderPromotionModeSetting", enum(HEADER_PROMOTION), "NoCreate", None),
    ("InternalDelayDsnEnabled", BOOL, True, None),
    ("InternalDsnDefaultLanguage", CULTURE, None, None),
    ("InternalDsnLanguageDetectionEnabled", BOOL, True, None),
    ("InternalDsnMaxMessageAttachSize", BYTESIZE, _mb(10), in_range(ByteSize(0), ByteSize(INT_MAX))),
    ("InternalDsnReportingAuthority", SMTP_DOMAIN, None, None),
    ("InternalDsnSendHtml", BOOL, True, None),
    ("InternalSMTPServers", multi(IP_RANGE), (), None),
    ("JournalingReportNdrTo", NULLABLE_SMTP_ADDRESS, None, None),
    ("MaxAllowedAgentGeneratedMessageDepth", UINT, 3, None),
    ("MaxAllowedAgentGeneratedMessageDepthPerAgent", UINT, 2, None),
    ("MaxDumpsterSizePerDatabase", BYTESIZE, _mb(18), in_range(ByteSize(0), _kb(INT_MAX))),
    ("MaxDumpsterTime", TIMESPAN, TimeSpan.of(days=7), seconds_in_range(TimeSpan(0), MAX_TIMESPAN)),
    ("MaxReceiveSize", UNLIMITED_BYTES, Unlimited(_mb(10)), in_range(ByteSize(0), MAX_MESSAGE_SIZE)),
    ("MaxRecipientEnvelopeLimit", UNLIMITED_INT, Unlimited(500), in_range(0, INT_MAX)),
    ("MaxRetriesForLocalSiteShadow", INT, 2, in_range(0, 255)),
    ("MaxRetriesForRemoteSiteShadow", INT, 4, in_range(0, 255)),
    ("MaxSendSize", UNLIMITED_BYTES, Unlimited(_mb(10)), in_range(ByteSize(0), MAX_MESSAGE_SIZE)),
    ("QueueDiagnosticsAggregationInterval", TIMESPAN, TimeSpan.of(minutes=1), None),
    ("RejectMessageOnShadowFailure", BOOL, False, None),
    ("Rfc2231EncodingEnabled", BOOL, False, None),
    ("SafetyNetHoldTime", TIMESPAN, TimeSpan.of(days=2), None),
    ("ShadowHeartbeatFrequency", TIMESPAN, TimeSpan.of(minutes=2), seconds_in_range(ONE_SECOND, ONE_DAY)),
    ("ShadowHeartbeatRetryCount", INT, 12, in_range(1, 15)),
    ("ShadowHeartbeatTimeoutInterval", TIMESPAN, TimeSpan.of(minutes=15), seconds_in_range(ONE_SECOND, ONE_DAY)),
    ("ShadowMessageAutoDiscardInterval", TIMESPAN, TimeSpan.of(days=2),
     seconds_in_range(TimeSpan.of(seconds=5), TimeSpan.of(days=90))),
    ("ShadowMessagePreferenceSetting", enum(SHADOW_PREFERENCE), "PreferRemote", None),
    ("ShadowRedundancyEnabled", BOOL, True, None),
    ("ShadowResubmitTimeSpan", TIMESPAN, TimeSpan.of(hours=3), seconds_in_range(ONE_SECOND, ONE_DAY)),
    ("SupervisionTags", multi(STRING), ("Reject", "Allow"), None),
    ("TLSReceiveDomainSecureList", SMTP_DOMAINS, (), None),
    ("TLSSendDomainSecureList", SMTP_DOMAINS, (), None),
    ("TransportRuleAttachmentTextScanLimit", BYTESIZE, _mb(1), None),
    ("VerifySecureSubmitEnabled", BOOL, False, None),
    ("VoicemailJournalingEnabled", BOOL, True, None),
    ("Xexch50Enabled", BOOL, True, None),
]

KIND = Kind("TransportConfigContainer", [Prop(name, ptype, check=check) for name, ptype, _, check in _ROWS])

# What EdgeSync copies from the organisation onto a subscribed Edge, and what the Edge then
# refuses to change (ADAMTransportConfigContainerSchema list of SetTransportConfig [SRC]).
SYNCED = edge_sync.SYNCED
EDGE_LOCKED = SYNCED + (
    "ShadowHeartbeatRetryCount", "ShadowHeartbeatTimeoutInterval", "ShadowMessageAutoDiscardInterval",
    "RejectMessageOnShadowFailure", "ShadowMessagePreferenceSetting", "MaxRetriesForLocalSiteShadow",
    "MaxRetriesForRemoteSiteShadow",
)
# Parameters an Edge ignores (WarningUnsupportedEdgeTransportConfigProperty [SRC]).
EDGE_UNUSED = (
    "MaxDumpsterSizePerDatabase", "MaxDumpsterTime", "MaxReceiveSize", "MaxRecipientEnvelopeLimit", "SupervisionTags",
    "ShadowHeartbeatFrequency", "ShadowResubmitTimeSpan", "QueueDiagnosticsAggregationInterval",
    "DiagnosticsAggregationServicePort", "AgentGeneratedMessageLoopDetectionInSubmissionEnabled",
    "AgentGeneratedMessageLoopDetectionInSmtpEnabled", "MaxAllowedAgentGeneratedMessageDepth",
    "MaxAllowedAgentGeneratedMessageDepthPerAgent",
)
IDENTITY = "Transport Settings"

# The keys an org file may use (snake_case -> Exchange).
DECLARABLE = {
    "tls_send_domain_secure_list": "TLSSendDomainSecureList",
    "tls_receive_domain_secure_list": "TLSReceiveDomainSecureList",
    "internal_smtp_servers": "InternalSMTPServers",
    "max_send_size": "MaxSendSize",
    "max_receive_size": "MaxReceiveSize",
    "max_recipient_envelope_limit": "MaxRecipientEnvelopeLimit",
    "external_postmaster_address": "ExternalPostmasterAddress",
}


def defaults() -> dict[str, Any]:
    return {
        name: ptype.convert(default) if isinstance(ptype, EnumType) else default
        for name, ptype, default, _ in _ROWS
    }


def new(values: dict[str, Any], domain: str, scope: str, created: Any) -> dict[str, Any]:
    return KIND.new(values, guid=lab_guid("transportconfig", domain, scope), created=created)


def _current(ctx: Context) -> dict[str, Any]:
    """The object this server reads: the organisation's, or the Edge's local copy."""
    return ctx.state.get(ctx.local.name if ctx.edge else stored.ORG, STORED.key)


def view(ctx: Context) -> dict[str, Any]:
    obj = _current(ctx)
    values = {p.name: obj[p.name] for p in KIND.props}
    if ctx.edge and edge_sync.subscribed_on_edge(ctx, ctx.local):
        values.update(_replicated_lists(ctx))  # what EdgeSync last wrote
    out: dict[str, Any] = {"Name": IDENTITY, **values}
    out.update(ctx.common(
        identity=IDENTITY, dn=f"CN={IDENTITY},{ctx.org_dn()}", guid=obj["Guid"],
        category="ms-Exch-Transport-Settings", classes=("top", "container", "msExchTransportSettings"),
        created=obj["WhenCreated"], changed=obj["WhenChanged"],
    ))
    return out


ORG_ID = id_param("OrganizationIdParameter")

GET = Signature("Get-TransportConfig", (Param("Identity", ORG_ID, position=1), Param("DomainController", FQDN)))
SET = Signature(
    "Set-TransportConfig",
    (Param("Identity", ORG_ID, position=1), Param("DomainController", FQDN), Param("Force", SWITCH))
    + KIND.set_params(),
    should_process=True,
)


def _replicated_lists(ctx: Context) -> dict[str, Any]:
    """TLSSendDomainSecureList, TLSReceiveDomainSecureList and InternalSMTPServers as EdgeSync last
    wrote them on a subscribed Edge (empty before the first synchronisation)."""
    written = edge_sync.replica(ctx)["transport"]
    return {n: KIND.prop(n).type.load(written[n]) if n in written else () for n in SYNCED}


def _check_identity(ctx: Context, ident: str | None) -> None:
    names = {ctx.org.organization.name.lower(), IDENTITY.lower()}
    if ident is not None and ident.lower() not in names:
        raise ctx.not_found(ident)


def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    _check_identity(ctx, bound.get("Identity"))
    return [view(ctx)]


def _validate(ctx: Context, old: dict[str, Any], new: dict[str, Any], changed: set[str]) -> None:
    if ctx.edge:
        if changed & set(EDGE_UNUSED):
            ctx.warn(
                "Edge Transport servers don't use the MaxDumpsterSizePerStorageGroup, MaxDumpsterTime, MaxReceiveSize, "
                "MaxRecipientEnvelopeLimit, and SupervisionTags parameters. Therefore, setting these parameters will "
                "have no effect."
            )
        if edge_sync.subscribed_on_edge(ctx, ctx.local):
            for name in EDGE_LOCKED:
                if name in changed:
                    raise ctx.error(
                        f"You can't configure the '{name}' property on a subscribed Edge Transport server. Configure "
                        "this property from inside your organization and allow EdgeSync to replicate the changes.",
                        "CannotSetTransportServerPropertyOnSubscribedEdgeException",
                    )
    for name in ("TLSReceiveDomainSecureList", "TLSSendDomainSecureList"):
        if name in changed and len(new[name]) > 256:
            raise ctx.error(
                f"{name} has too many items: allowed maximum count is 256, actual count is {len(new[name])}.",
                "ExceededMaximumCollectionCountException",
            )


def set_(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    _check_identity(ctx, bound.get("Identity"))
    obj = _current(ctx)
    if ctx.edge and edge_sync.subscribed_on_edge(ctx, ctx.local):
        # The Edge shows EdgeSync's copy of the replicated lists: compare and validate against
        # that view (the validator refuses to change them), then keep the Edge's other settings.
        shown = {**obj, **_replicated_lists(ctx)}
        if set_object(ctx, KIND, shown, bound, IDENTITY, _validate):
            obj.update({name: value for name, value in shown.items() if name not in SYNCED})
        return []
    set_object(ctx, KIND, obj, bound, IDENTITY, _validate)
    return []


# Where the lab state keeps it: the organisation's, and an Edge's local copy (see stored.py).
STORED = stored.single(
    stored.TRANSPORT_CONFIG, KIND, stored.on_org_and_edges,
    new=lambda org, entry, now: new(
        {**defaults(), **org.transport_config}, org.organization.domain, "org", now
    ) if entry is None else new(defaults(), org.organization.domain, entry.name, now),
    defaults=lambda org, entry, raw: defaults(),
)
