"""The .NET enums of the lab's cmdlets: names, values, [Flags] formatting and PowerShell's parsing.

Sources (cited again where used):
[SRC] PiratesRE/exchange_diff @ 1d7d834 (decompiled Exchange 2013), Microsoft.Exchange.Data/*.cs and DataStrings.resources;
[PS]  PowerShell/PowerShell LanguagePrimitives / ExtendedTypeSystem strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnumDef:
    """A .NET enum: its full name, members in declaration order, and whether it is [Flags]."""

    dotnet: str
    members: tuple[tuple[str, int], ...]
    flags: bool = False

    @property
    def names_by_value(self) -> list[tuple[str, int]]:
        # Enum.GetNames order: by unsigned value, declaration order for ties.
        return sorted(self.members, key=lambda nv: nv[1])

    def value(self, names: str) -> "EnumValue":
        """A value by name(s), e.g. "Tls, ExchangeServer" (for defaults written in code)."""
        return EnumValue(self, self.parse(names))

    def format(self, number: int) -> str:
        """Enum.ToString(): the name, or for [Flags] the composite "A, B" in ascending order."""
        ordered = self.names_by_value
        for name, value in ordered:
            if value == number:
                return name
        if not self.flags or number <= 0:
            return str(number)
        rest, parts = number, []
        for name, value in reversed(ordered):
            if value and rest & value == value:
                parts.append(name)
                rest -= value
        return ", ".join(reversed(parts)) if rest == 0 else str(number)

    def parse(self, raw: Any) -> int:
        """PowerShell's string/array to enum conversion; ValueError(.NET message)."""
        items = raw if isinstance(raw, (list, tuple)) else [raw]
        tokens: list[str] = []
        for item in items:
            if isinstance(item, bool):
                raise ValueError(None)
            tokens.extend(str(item).split(",") if isinstance(item, str) else [str(item)])
        if len(tokens) > 1 and not self.flags:
            raise ValueError(self._no_match(str(raw) if not isinstance(raw, (list, tuple)) else ",".join(map(str, raw))))
        lookup = {n.lower(): v for n, v in self.members}
        total = 0
        for token in tokens:
            word = token.strip()
            if re.fullmatch(r"-?\d+", word):
                number = int(word)
                if not self.flags and number not in lookup.values():
                    raise ValueError(self._no_match(word))
                total |= number
            elif word.lower() in lookup:
                total |= lookup[word.lower()]
            else:
                raise ValueError(self._no_match(word))
        return total

    def _no_match(self, word: str) -> str:
        # Windows PowerShell 5.1 puts a line break before the list (PS 7 a space).
        names = ", ".join(n for n, _ in self.names_by_value)
        return (
            f"Unable to match the identifier name {word} to a valid enumerator name. "
            f"Specify one of the following enumerator names and try again:\r\n{names}"
        )


@dataclass(frozen=True)
class EnumValue:
    enum: EnumDef = field(compare=False)
    number: int

    def __str__(self) -> str:
        return self.enum.format(self.number)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumValue) and other.enum.dotnet == self.enum.dotnet and other.number == self.number

    def __hash__(self) -> int:
        return hash((self.enum.dotnet, self.number))


# --- enums used by the cmdlets of this slice [SRC *.cs of the same names] ---------------

def _enum(dotnet: str, *names: str | tuple[str, int], flags: bool = False) -> EnumDef:
    members, next_value = [], 0
    for item in names:
        name, value = item if isinstance(item, tuple) else (item, next_value)
        members.append((name, value))
        next_value = value + 1
    return EnumDef(dotnet, tuple(members), flags)


PROTOCOL_LOGGING_LEVEL = _enum("Microsoft.Exchange.Data.ProtocolLoggingLevel", "None", "Verbose")
PROTOCOL_OPTION = _enum("Microsoft.Exchange.Data.ProtocolOption", "Any", "UseUdpOnly", "UseTcpOnly")
AUTH_MECHANISMS = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthMechanisms",
    ("None", 0), ("Tls", 1), ("Integrated", 2), ("BasicAuth", 4), ("BasicAuthRequireTLS", 8),
    ("ExchangeServer", 16), ("ExternalAuthoritative", 32), flags=True,
)
PERMISSION_GROUPS = _enum(
    "Microsoft.Exchange.Data.PermissionGroups",
    ("None", 0), ("AnonymousUsers", 1), ("ExchangeUsers", 2), ("ExchangeServers", 4),
    ("ExchangeLegacyServers", 8), ("Partners", 16), ("Custom", 32), flags=True,
)
SERVER_ROLE = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole",
    ("None", 0), ("Cafe", 1), ("Mailbox", 2), ("ClientAccess", 4), ("UnifiedMessaging", 16),
    ("HubTransport", 32), ("Edge", 64), ("All", 16503), ("Monitoring", 128), ("CentralAdmin", 256),
    ("CentralAdminDatabase", 512), ("DomainController", 1024), ("WindowsDeploymentServer", 2048),
    ("ProvisionedServer", 4096), ("LanguagePacks", 8192), ("FrontendTransport", 16384), ("CafeArray", 32768),
    ("FfoWebService", 65536), ("OSP", 131072), ("ARR", 262144), ("ManagementFrontEnd", 524288),
    ("ManagementBackEnd", 1048576), ("SCOM", 2097152), ("CentralAdminFrontEnd", 4194304), ("NAT", 8388608),
    ("DHCP", 16777216), flags=True,
)
SIZE_MODE = _enum("Microsoft.Exchange.Data.SizeMode", "Disabled", "Enabled", "EnabledWithoutValue")
MESSAGE_RATE_SOURCE = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.MessageRateSourceFlags",
    ("None", 0), ("IPAddress", 1), ("User", 2), ("All", 3), flags=True,
)
EXTENDED_PROTECTION = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.ExtendedProtectionPolicySetting",
    ("None", 0), ("Allow", 1), ("Require", 2), flags=True,
)
ERROR_POLICIES = _enum(
    "Microsoft.Exchange.Data.ErrorPolicies",
    ("Default", 0), ("DowngradeDnsFailures", 4), ("DowngradeCustomFailures", 8), ("UpgradeCustomFailures", 16),
    flags=True,
)
TLS_AUTH_LEVEL = _enum(
    "Microsoft.Exchange.Data.TlsAuthLevel", ("EncryptionOnly", 1), ("CertificateValidation", 2), ("DomainValidation", 4)
)
SMART_HOST_AUTH = _enum(
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.SmtpSendConnectorConfig+AuthMechanisms",
    ("None", 0), ("BasicAuth", 2), ("BasicAuthRequireTLS", 4), ("ExchangeServer", 8), ("ExternalAuthoritative", 16),
    flags=True,
)
# Set-SendConnector -ConnectorType: the 2019 docs list Default and XPremises; Get shows the
# property as Microsoft.Exchange.Data.SendConnectorType (fixture GetSendConnector.xml).
SEND_CONNECTOR_TYPE = _enum("Microsoft.Exchange.Data.SendConnectorType", "Default", "XPremises")
SERVER_EDITION = _enum(
    "Microsoft.Exchange.Data.ServerEditionType", "Unknown", "Standard", "StandardEvaluation", "Enterprise",
    "EnterpriseEvaluation", "Coexistence", "CoexistenceEvaluation",
)
SYNC_LOG_LEVEL = _enum("Microsoft.Exchange.Data.SyncLoggingLevel", "None", "Low", "Medium", "High", "VeryHigh", "Debug")
ACTION_PREFERENCE = _enum(
    "System.Management.Automation.ActionPreference", "SilentlyContinue", "Stop", "Continue", "Inquire", "Ignore",
    "Suspend",
)
DSN_CONVERSION = _enum("Microsoft.Exchange.Data.DSNConversionOption", "UseExchangeDSNs", "PreserveDSNBody", "DoNotConvert")
HEADER_PROMOTION = _enum("Microsoft.Exchange.Data.HeaderPromotionMode", "NoCreate", "MayCreate", "MustCreate")
SHADOW_PREFERENCE = _enum(
    "Microsoft.Exchange.Data.ShadowMessagePreference", "PreferRemote", "LocalOnly", "RemoteOnly"
)


def flags_of(value: EnumValue | None) -> set[str]:
    """The member names set in a flags value (for validation rules)."""
    if value is None:
        return set()
    return {name for name, number in value.enum.members if number and value.number & number == number}
