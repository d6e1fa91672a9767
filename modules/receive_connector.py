"""Receive connectors: per server, named ``<Name>``; ``{server}`` expands to the server name.

Exchange's default connectors carry the server name (``Default Frontend EX01``),
so one declaration such as ``"Default Frontend {server}"`` serves every
Mailbox server (cmdlets.md §4). Receive connectors are never replicated by
EdgeSync, so on an Edge they stay editable after subscription.

Domain Security (cmdlets.md §8) needs a connector's certificate: ``tls_certificate``
names it as ``exchange.certificates`` does, and becomes its TlsCertificateName
(connector_certificates.py), after a certificate this plan imports for it.
"""

from exconf.values import PROTOCOL_LOGGING_LEVEL, BoolType, CertificateRefType

from .base import LOCAL_SERVER, SERVER
from .settings import Prop, SettingsKind

KIND = SettingsKind(
    kind="receive_connector",
    section="receive_connectors",
    scope=SERVER,
    title="receive connector",
    get_cmdlet="Get-ReceiveConnector",
    set_cmdlet="Set-ReceiveConnector",
    named=True,
    get_params={"Server": LOCAL_SERVER},
    props=(
        Prop(
            "protocol_logging_level",
            "ProtocolLoggingLevel",
            PROTOCOL_LOGGING_LEVEL,
            "Protocol logging for this connector (None or Verbose); logs go to the service's ReceiveProtocolLogPath.",
        ),
        Prop("tls_certificate", "TlsCertificateName", CertificateRefType(),
             "The certificate the connector presents, named as exchange.certificates names one ({match: {subject, issuer, domains}} "
             "or {thumbprint}): its TlsCertificateName becomes <I>issuer<S>subject, which stays true when the certificate is renewed."),
        Prop("require_tls", "RequireTLS", BoolType(), "Require TLS for inbound messages on this connector."),
        Prop("domain_secure_enabled", "DomainSecureEnabled", BoolType(),
             "Domain Security (mutual TLS) for the domains of TLSReceiveDomainSecureList; needs Tls in AuthMechanism."),
    ),
    doc="Receive connectors of the server, by name or `*` pattern; `{server}` is the Exchange server name.",
    certificates=True,
    sees_planned=True,  # a certificate reference follows the certificate change of this plan that makes it
)
