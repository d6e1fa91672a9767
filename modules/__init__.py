"""Resource modules, one file per Exchange object kind; RESOURCES is in apply order."""

from .base import ORGANIZATION, SERVER, Resource
from .frontend_transport_service import RESOURCE as FRONTEND_TRANSPORT_SERVICE
from .receive_connector import RESOURCE as RECEIVE_CONNECTOR
from .send_connector import RESOURCE as SEND_CONNECTOR
from .transport_config import RESOURCE as TRANSPORT_CONFIG
from .transport_service import RESOURCE as TRANSPORT_SERVICE

RESOURCES: tuple[Resource, ...] = (
    TRANSPORT_CONFIG,
    SEND_CONNECTOR,
    TRANSPORT_SERVICE,
    FRONTEND_TRANSPORT_SERVICE,
    RECEIVE_CONNECTOR,
)


def by_scope(scope: str) -> tuple[Resource, ...]:
    return tuple(r for r in RESOURCES if r.scope == scope)


def by_kind(kind: str) -> Resource:
    return next(r for r in RESOURCES if r.kind == kind)


__all__ = ["ORGANIZATION", "RESOURCES", "SERVER", "Resource", "by_kind", "by_scope"]
