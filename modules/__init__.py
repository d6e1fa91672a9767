"""Resource kinds, one file per Exchange object kind (each exports its kind); KINDS is in apply order.

Adding a kind is one new file implementing ``base.Kind`` and one line here.
"""

from .auth_certificate import KIND_INSTANCE as AUTH_CERTIFICATE
from .base import ORGANIZATION, SERVER, Kind
from .certificate_urls import KIND_INSTANCE as CERTIFICATE_URLS
from .edge_subscription import KIND_INSTANCE as EDGE_SUBSCRIPTION
from .settings import SettingsKind
from .exchange_certificate import KIND_INSTANCE as EXCHANGE_CERTIFICATE
from .frontend_transport_service import KIND as FRONTEND_TRANSPORT_SERVICE
from .receive_connector import KIND as RECEIVE_CONNECTOR
from .send_connector import KIND as SEND_CONNECTOR
from .transport_config import KIND as TRANSPORT_CONFIG
from .transport_service import KIND as TRANSPORT_SERVICE

KINDS: tuple[Kind, ...] = (
    TRANSPORT_CONFIG,
    SEND_CONNECTOR,
    TRANSPORT_SERVICE,
    FRONTEND_TRANSPORT_SERVICE,
    RECEIVE_CONNECTOR,
    EXCHANGE_CERTIFICATE,
    EDGE_SUBSCRIPTION,
    AUTH_CERTIFICATE,
    CERTIFICATE_URLS,
)

# The settings kinds, for the inventory schema and the reference docs.
RESOURCES: tuple[SettingsKind, ...] = tuple(k for k in KINDS if isinstance(k, SettingsKind))


def by_scope(scope: str, kinds: tuple[Kind, ...] = KINDS) -> tuple[Kind, ...]:
    return tuple(k for k in kinds if k.scope == scope)


def by_kind(kind: str, kinds: tuple[Kind, ...] = KINDS) -> Kind:
    return next(k for k in kinds if k.kind == kind)


__all__ = ["KINDS", "ORGANIZATION", "RESOURCES", "SERVER", "Kind", "SettingsKind", "by_kind", "by_scope"]
