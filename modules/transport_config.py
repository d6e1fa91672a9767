"""The organisation's transport configuration: Domain Security lists (Set-TransportConfig).

Both lists are organisation-wide, take no wildcards, and a declared list is
the whole list (cmdlets.md §8). Set them through a Mailbox server: EdgeSync
overwrites an Edge's local copy with the organisation's values.
"""

from exconf.values import DomainListType

from .base import ORGANIZATION
from .settings import Prop, SettingsKind

KIND = SettingsKind(
    kind="transport_config",
    section="transport_config",
    scope=ORGANIZATION,
    title="transport config",
    get_cmdlet="Get-TransportConfig",
    set_cmdlet="Set-TransportConfig",
    named=False,
    roles=frozenset({"Mailbox"}),
    identity_property=None,
    severity="medium",  # Domain Security: mutual TLS with partners, not only logging
    props=(
        Prop(
            "tls_send_domain_secure_list",
            "TLSSendDomainSecureList",
            DomainListType(),
            "Domains to which mail is sent with mutual TLS (Domain Security); the whole list.",
        ),
        Prop(
            "tls_receive_domain_secure_list",
            "TLSReceiveDomainSecureList",
            DomainListType(),
            "Domains from which mail is received with mutual TLS (Domain Security); the whole list.",
        ),
    ),
    doc="Organisation-wide transport settings: the Domain Security lists.",
)
