"""PowerShell parameter binding of the lab's cmdlets (lab/exchange/binder.py)."""

import pytest

from exconf.lab.exchange import receive_connectors, send_connectors, transport_services
from exconf.lab.exchange.binder import bind
from exconf.lab.exchange.errors import CmdletError

SET_RC = receive_connectors.SET
GET_RC = receive_connectors.GET


def fails(signature, named, positional=()):
    with pytest.raises(CmdletError) as err:
        bind(signature, named, list(positional))
    return err.value


def test_names_are_case_insensitive_and_unambiguous_prefixes_bind():
    bound = bind(SET_RC, [("identity", "EX01\\Default EX01"), ("ProtocolLog", "Verbose"), ("maxmess", "10MB")])
    assert set(bound) == {"Identity", "ProtocolLoggingLevel", "MaxMessageSize"}
    assert str(bound["ProtocolLoggingLevel"]) == "Verbose"
    assert str(bound["MaxMessageSize"]) == "10 MB (10,485,760 bytes)"


def test_aliases_of_common_parameters_bind():
    bound = bind(SET_RC, [("Identity", "x"), ("ea", "Stop"), ("wi", True)])
    assert str(bound["ErrorAction"]) == "Stop" and bound["WhatIf"] is True


def test_unknown_parameter():
    err = fails(SET_RC, [("Identity", "x"), ("Loudness", 1)])
    assert err.message == "A parameter cannot be found that matches parameter name 'Loudness'."
    assert err.error_id == "NamedParameterNotFound,Set-ReceiveConnector"
    assert (err.category, err.exception) == ("InvalidArgument", "ParameterBindingException")


def test_ambiguous_prefix_lists_the_candidates():
    err = fails(SET_RC, [("Identity", "x"), ("Max", 1)])
    assert err.error_id == "AmbiguousParameter,Set-ReceiveConnector"
    assert err.message.startswith("Parameter cannot be processed because the parameter name 'Max' is ambiguous. "
                                  "Possible matches include: -MaxInboundConnection -MaxInboundConnectionPerSource")


def test_missing_mandatory_parameter_fails_instead_of_prompting():
    err = fails(SET_RC, [("ProtocolLoggingLevel", "Verbose")])
    assert err.message == "Cannot process command because of one or more missing mandatory parameters: Identity."
    assert err.error_id == "MissingMandatoryParameter,Set-ReceiveConnector"


@pytest.mark.parametrize("signature, named", [
    (SET_RC, [("Identity", None), ("Enabled", True)]),
    (transport_services.SET_TRANSPORT, [("Identity", None)]),
])
def test_null_for_a_mandatory_parameter_is_a_validation_error(signature, named):
    err = fails(signature, named)
    assert err.message == "Cannot bind argument to parameter 'Identity' because it is null."
    assert err.error_id == f"ParameterArgumentValidationErrorNullNotAllowed,{signature.cmdlet}"
    assert (err.category, err.exception) == ("InvalidData", "ParameterBindingValidationException")
    assert bind(GET_RC, [("Identity", None)]) == {"Identity": None}  # not mandatory: $null binds


def test_a_parameter_given_twice():
    err = fails(SET_RC, [("Identity", "x"), ("Enabled", True), ("enabled", False)])
    assert err.error_id == "ParameterAlreadyBound,Set-ReceiveConnector"
    assert "parameter 'Enabled' is specified more than once" in err.message


def test_bad_enum_value():
    err = fails(SET_RC, [("Identity", "x"), ("ProtocolLoggingLevel", "Loud")])
    assert err.error_id == "CannotConvertArgumentNoMessage,Set-ReceiveConnector"
    assert err.message.startswith("Cannot bind parameter 'ProtocolLoggingLevel'. Cannot convert value \"Loud\" to type "
                                  '"Microsoft.Exchange.Data.ProtocolLoggingLevel".')
    assert err.message.endswith('try again:\r\nNone, Verbose"')


def test_string_for_a_boolean_is_a_transformation_error():
    err = fails(SET_RC, [("Identity", "x"), ("Enabled", "$false")])
    assert err.error_id == "ParameterArgumentTransformationError,Set-ReceiveConnector"
    assert (err.category, err.exception) == ("InvalidData", "ParameterBindingArgumentTransformationException")


def test_out_of_range_value_fails_in_the_setter_while_binding():
    err = fails(transport_services.SET_TRANSPORT, [("Identity", "EX01"), ("SendProtocolLogMaxAge", "24856.00:00:00")])
    assert err.error_id == "ParameterBindingFailed,Set-TransportService"
    assert err.category == "WriteError"
    assert err.message == (
        "Cannot bind parameter 'SendProtocolLogMaxAge' to the target. Exception setting \"SendProtocolLogMaxAge\": "
        "\"The property, (24856.00:00:00), is out of range. The valid range is from 00:00:00 to 24855.03:14:07.\""
    )


def test_timespans_must_be_whole_seconds():
    err = fails(transport_services.SET_TRANSPORT, [("Identity", "EX01"), ("SendProtocolLogMaxAge", "00:00:01.5")])
    assert "must be an integer multiple of the unit '00:00:01'" in err.message


def test_switches_and_their_explicit_values():
    assert bind(send_connectors.SET, [("Identity", "x"), ("Force", True)])["Force"] is True
    assert bind(send_connectors.SET, [("Identity", "x"), ("Force", None)])["Force"] is False


def test_positional_identity_and_too_many_positionals():
    assert bind(GET_RC, [], ["EX01\\Default EX01"])["Identity"] == "EX01\\Default EX01"
    err = fails(GET_RC, [], ["a", "b"])
    assert err.message == "A positional parameter cannot be found that accepts argument 'b'."


def test_parameters_of_different_sets_cannot_be_combined():
    err = fails(GET_RC, [("Identity", "EX01\\Default EX01"), ("Server", "EX01")])
    assert err.error_id == "AmbiguousParameterSet,Get-ReceiveConnector"


def test_unknown_parameters_are_reported_before_missing_mandatory_ones():
    err = fails(SET_RC, [("Bogus", 1)])
    assert err.error_id.startswith("NamedParameterNotFound")


def test_set_cmdlets_take_every_documented_parameter_and_nothing_else():
    names = {p.name for p in SET_RC.params}
    documented = {  # Set-ReceiveConnector.md (Exchange 2019), Identity and DomainController included
        "Identity", "AdvertiseClientSettings", "AuthMechanism", "AuthTarpitInterval", "Banner",
        "BareLinefeedRejectionEnabled", "BinaryMimeEnabled", "Bindings", "ChunkingEnabled", "Comment",
        "ConnectionInactivityTimeout", "ConnectionTimeout", "DefaultDomain", "DeliveryStatusNotificationEnabled",
        "DomainController", "DomainSecureEnabled", "EightBitMimeEnabled", "EnableAuthGSSAPI", "Enabled",
        "EnhancedStatusCodesEnabled", "ExtendedProtectionPolicy", "Fqdn", "LongAddressesEnabled",
        "MaxAcknowledgementDelay", "MaxHeaderSize", "MaxHopCount", "MaxInboundConnection",
        "MaxInboundConnectionPerSource", "MaxInboundConnectionPercentagePerSource", "MaxLocalHopCount",
        "MaxLogonFailures", "MaxMessageSize", "MaxProtocolErrors", "MaxRecipientsPerMessage", "MessageRateLimit",
        "MessageRateSource", "Name", "OrarEnabled", "PermissionGroups", "PipeliningEnabled", "ProtocolLoggingLevel",
        "RejectReservedSecondLevelRecipientDomains", "RejectReservedTopLevelRecipientDomains",
        "RejectSingleLabelRecipientDomains", "RemoteIPRanges", "RequireEHLODomain", "RequireTLS",
        "ServiceDiscoveryFqdn", "SizeEnabled", "SmtpUtf8Enabled", "SuppressXAnonymousTls", "TarpitInterval",
        "TlsCertificateName", "TlsDomainCapabilities", "TransportRole",
    }
    assert names == documented
    assert {p.name for p in SET_RC.all} - names == {
        "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ErrorVariable", "WarningVariable",
        "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable", "WhatIf", "Confirm",
    }
