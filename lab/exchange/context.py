"""Where a cmdlet runs: the organisation, its state, the local server, and the
naming rules (identities, distinguished names, GUIDs) Exchange uses for objects."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import errors
from .edge_records import records
from .labstate import LabState
from .spec import OrgSpec, ServerEntry

# The administrative and routing group every Exchange 2007+ organisation has
# (fixtures GetSendConnector.xml, GetExchangeServer.xml).
ADMIN_GROUP = "CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups"
ROUTING_GROUP = "Exchange Routing Group (DWBGZMFD01QNBJR)"
EXCHANGE_VERSION = "0.1 (8.0.535.0)"  # ExchangeObjectVersion of these objects (fixtures)
INSTALL_PATH = r"C:\Program Files\Microsoft\Exchange Server\V15"
# An Edge's AD LDS instance holds its own organisation, named like a fresh install.
EDGE_ORGANIZATION = "First Organization"

_NAMESPACE = uuid.UUID("5b0a3e52-8f0c-4f43-9a47-3c4f6f0b1e21")


def lab_guid(*parts: str) -> uuid.UUID:
    """A stable GUID for a lab object, so a fresh lab is reproducible."""
    return uuid.uuid5(_NAMESPACE, "/".join(p.lower() for p in parts))


def name_matches(pattern: str, text: str) -> bool:
    """An identity against a name: case-insensitive, and '*' matches any run of characters."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL) is not None


@dataclass
class Context:
    """One cmdlet invocation on one server."""

    org: OrgSpec
    state: LabState
    local: ServerEntry
    now: datetime
    cmdlet: str
    dotnet: str
    warnings: list[str] = field(default_factory=list)
    changed: bool = False
    whatif: bool = False
    files: dict[str, bytes] = field(default_factory=dict)  # files the cmdlet wrote, by path
    modified: list[str] = field(default_factory=list)  # identities of the objects it changed (audit log)
    # The properties the caller selects (exconf's step ``select``, lower case); None: all of them. A
    # property Exchange computes on access (TransportServer.InternalTransportCertificateThumbprint reads
    # the certificate) is computed only when it is read.
    selected: frozenset[str] | None = None

    def wants(self, prop: str) -> bool:
        return self.selected is None or prop.lower() in self.selected

    @property
    def edge(self) -> bool:
        return self.local.is_edge

    @property
    def source(self) -> str:
        """The directory the session reads: the DC on Mailbox servers, local AD LDS on Edge
        (AdamTopologyProvider uses "localhost" [SRC Data.Directory/AdamTopologyProvider.cs])."""
        return "localhost" if self.edge else self.org.organization.dc

    def task(self) -> errors.TaskContext:
        return errors.TaskContext(self.local.name, self.cmdlet, self.dotnet)

    def not_found(self, identity: Any) -> errors.CmdletError:
        return errors.not_found(self.task(), str(identity), self.source)

    def ambiguous(self, identity: Any) -> errors.CmdletError:
        return errors.ambiguous(self.task(), str(identity))

    def error(
        self, message: str, exception: str = "InvalidOperationException", category: str = "InvalidOperation"
    ) -> errors.CmdletError:
        """An error the Exchange task writes (WriteError with this exception and category)."""
        return errors.task_error(self.task(), message, exception, category)

    def validation(self, message: str, prop: str) -> errors.CmdletError:
        return errors.validation_error(self.task(), message, prop)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    # --- the directory this server sees ------------------------------------------------------

    def visible_servers(self) -> tuple[ServerEntry, ...]:
        """Mailbox servers see the organisation (Mailbox servers and subscribed Edges, whose
        subscription creates their server object in AD); an Edge sees only its AD LDS."""
        if self.edge:
            return (self.local,)
        subscribed = self._subscribed_edges()
        return tuple(e for e in self.org.servers if not e.is_edge or e.name in subscribed)

    def _subscribed_edges(self) -> Any:
        """The Edges whose subscription the organisation imported (lab state, not the org file)."""
        return records(self)

    def legacy_dn(self, entry: ServerEntry) -> str:
        """The server's ExchangeLegacyDN (fixture GetExchangeServer.xml), an identity form of ServerIdParameter."""
        org_name = self.org_dn().split(",", 1)[0][3:]
        return f"/o={org_name}/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn={entry.name}"

    def _visible(self, entry: ServerEntry) -> bool:
        return entry is self.local if self.edge else (not entry.is_edge or entry.name in self._subscribed_edges())

    def find_server(self, identity: str, candidates: tuple[ServerEntry, ...] | None = None) -> list[ServerEntry]:
        """Servers an identity (name, FQDN, GUID, DN or ExchangeLegacyDN; '*' wildcards) refers to."""
        key = identity.strip()
        if "*" not in key:
            # The common case, a plain name or FQDN: an index lookup, no scan (issue 11).
            hits = self.org.by_name.get(key.lower(), ())
            plain = [e for e in hits if (self._visible(e) if candidates is None else any(e is c for c in candidates))]
            if plain:
                return plain
        pool = self.visible_servers() if candidates is None else candidates
        out = []
        for entry in pool:
            names = (entry.name, entry.spec.fqdn, str(lab_guid("server", self.org.organization.domain, entry.name)),
                     self.server_dn(entry), self.legacy_dn(entry))
            if any(name_matches(key, n) for n in names):
                out.append(entry)
        return out

    def one_server(self, identity: str) -> ServerEntry:
        """The one server a ServerIdParameter names, or Exchange's not-found / ambiguous error
        (Strings.ErrorServerNotFound of Microsoft.Exchange.Management.Tasks [SRC GetReceiveConnector.cs])."""
        matches = self.find_server(identity)
        if not matches:
            raise self.error(
                f'Exchange server "{identity}" was not found. Please make sure you typed the name correctly.',
                "ManagementObjectNotFoundException", errors.CATEGORY_CONTEXT,
            )
        if len(matches) > 1:
            raise self.error(
                f"The value you specified, '{identity}', matches more than one Exchange server. Specify a unique value.",
                "ManagementObjectAmbiguousException", errors.CATEGORY_CONTEXT,
            )
        return matches[0]

    # --- names -------------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        return self.org.organization.domain

    def config_dn(self) -> str:
        if self.edge:
            return f"CN=Configuration,CN={{{str(lab_guid('adam', self.local.name)).upper()}}}"
        return "CN=Configuration," + ",".join(f"DC={label}" for label in self.domain.split("."))

    def org_dn(self) -> str:
        name = EDGE_ORGANIZATION if self.edge else self.org.organization.name
        return f"CN={name},CN=Microsoft Exchange,CN=Services,{self.config_dn()}"

    def server_dn(self, entry: ServerEntry) -> str:
        return f"CN={entry.name},CN=Servers,{ADMIN_GROUP},{self.org_dn()}"

    def schema_id(self, cls: str) -> str:
        """ObjectCategory as an ADObjectId prints it: "<domain>/Configuration/Schema/<class>"."""
        root = self.local.spec.fqdn if self.edge else self.domain
        return f"{root}/Configuration/Schema/{cls}"

    def site_id(self, entry: ServerEntry) -> str | None:
        """Site as an ADObjectId prints it. An Edge's own AD LDS has no site."""
        if self.edge:
            return None
        return f"{self.domain}/Configuration/Sites/{entry.spec.site}"

    def common(self, *, identity: str, dn: str, guid: uuid.UUID, category: str, classes: tuple[str, ...],
               created: datetime, changed: datetime) -> dict[str, Any]:
        """The ADObject properties every Exchange configuration object ends with (fixtures)."""
        return {
            "AdminDisplayName": "",
            "ExchangeVersion": EXCHANGE_VERSION,
            "DistinguishedName": dn,
            "Identity": identity,
            "Guid": guid,
            "ObjectCategory": self.schema_id(category),
            "ObjectClass": classes,
            "WhenChanged": changed,
            "WhenCreated": created,
            "WhenChangedUTC": changed,
            "WhenCreatedUTC": created,
            "OrganizationId": "",
            "Id": identity,
            "OriginatingServer": self.local.spec.fqdn if self.edge else self.org.organization.dc,
            "IsValid": True,
            "ObjectState": "Unchanged",
        }
