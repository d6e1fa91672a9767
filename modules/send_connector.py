"""Send connectors: organisation-wide objects, read and changed through one Mailbox server.

Identity is the connector name (cmdlets.md §3); declared names may use ``*``
as in the shell, and a name that matches nothing is an error. The EdgeSync
connectors (``EdgeSync - <Site> to Internet``) are ordinary send connectors
here; on a subscribed Edge they are read-only, so exconf changes them on a
Mailbox server and EdgeSync replicates them. An Edge Subscription made or made
again in the same plan makes them anew, with Exchange's defaults [EXD
edge-subscriptions.md, "Send connectors created automatically by the Edge
Subscription"]: the kind ``sees_planned``, and their declared settings are set
after the subscription (a pattern that matches nothing until then is not an error).
"""

from exconf.values import PROTOCOL_LOGGING_LEVEL, TLS_AUTH_LEVEL, BoolType, CertificateRefType, DomainType

from .base import ORGANIZATION
from .settings import Prop, SettingsKind

KIND = SettingsKind(
    kind="send_connector",
    section="send_connectors",
    scope=ORGANIZATION,
    title="send connector",
    get_cmdlet="Get-SendConnector",
    set_cmdlet="Set-SendConnector",
    named=True,
    roles=frozenset({"Mailbox"}),
    props=(
        Prop(
            "protocol_logging_level",
            "ProtocolLoggingLevel",
            PROTOCOL_LOGGING_LEVEL,
            "Protocol logging for this connector (None or Verbose); logs go to the transport service's SendProtocolLogPath.",
        ),
        Prop("tls_certificate", "TlsCertificateName", CertificateRefType(),
             "The certificate the connector presents, named as exchange.certificates names one; resolved on the Mailbox server "
             "that carries the organisation's objects, to <I>issuer<S>subject, which stays true when the certificate is renewed."),
        Prop("require_tls", "RequireTLS", BoolType(), "Require TLS for outbound messages on this connector."),
        Prop("tls_auth_level", "TlsAuthLevel", TLS_AUTH_LEVEL,
             "EncryptionOnly, CertificateValidation or DomainValidation (needs require_tls true); null clears it."),
        Prop("tls_domain", "TlsDomain", DomainType(), "The domain DomainValidation checks the remote certificate against (e.g. *.fabrikam.com)."),
        Prop("domain_secure_enabled", "DomainSecureEnabled", BoolType(),
             "Domain Security (mutual TLS) for the domains of TLSSendDomainSecureList; needs DNS routing and no wildcard address space."),
    ),
    doc="Send connectors of the organisation, by name or `*` pattern.",
    sees_planned=True,
    certificates=True,
)
