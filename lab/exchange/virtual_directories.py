"""The names clients use to reach a Mailbox server: its virtual directories' URLs, Outlook Anywhere's host
names, the Autodiscover service URI, and the organisation's accepted domains.

What a fresh Exchange 2016/2019 Mailbox server has, per Microsoft's documentation:

* every client virtual directory of the Default Web Site has an InternalUrl of ``https://<server FQDN>/<path>``
  and no ExternalUrl until an administrator sets one ("By default, the internal URL is set to the FQDN of the
  server ... The external URL ... is blank", EXD architecture/client-access/client-access-namespaces and
  configure-mail-flow-and-client-access.md, whose procedure sets both with Set-*VirtualDirectory
  -InternalUrl/-ExternalUrl), with the paths of each cmdlet's own examples [PS Get-OwaVirtualDirectory,
  Get-EcpVirtualDirectory, Get-WebServicesVirtualDirectory ("https://<FQDN>/EWS/Exchange.asmx"),
  Get-OabVirtualDirectory, Get-ActiveSyncVirtualDirectory ("Microsoft-Server-ActiveSync"),
  Get-MapiVirtualDirectory]; the Autodiscover virtual directory has neither URL (clients find it by
  AutoDiscoverServiceInternalUri and DNS: "the InternalUrl and ExternalUrl parameters ... aren't used",
  PS Set-AutodiscoverVirtualDirectory);
* Outlook Anywhere's InternalHostname is the server's FQDN and its ExternalHostname blank [PS
  Set-OutlookAnywhere, configure-mail-flow-and-client-access.md];
* Get-ClientAccessService's AutoDiscoverServiceInternalUri is ``https://<server FQDN>/Autodiscover/Autodiscover.xml``
  [PS Set-ClientAccessService -AutoDiscoverServiceInternalUri, whose example has that form];
* the organisation's accepted domain is its domain, Authoritative and the default [EXD mail-flow/
  accepted-domains: "the first accepted domain ... is the domain you used when you installed Exchange"].

Set-* takes only the URL and host name parameters (the lab keeps nothing else of these objects); a URL must
be absolute (System.Uri), as PowerShell's binding of a Uri parameter needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import param_types as v
from . import stored
from .binder import Param, Signature
from .context import Context, lab_guid
from .spec import ServerEntry

SERVER_ID = v.id_param("ServerIdParameter")
KEY = "client_access_names"  # per Mailbox server: {setting: value} as set (absent: the default)
ORG_KEY = "accepted_domains"  # organisation: [{"DomainName", "DomainType", "Default"}] beyond the default one


def _parse_uri(text: str) -> str:
    """System.Uri's absolute form: a scheme and a host."""
    parts = urlsplit(text.strip())
    if not parts.scheme or not parts.hostname:
        raise ValueError("Invalid URI: The format of the URI could not be determined.")
    return text.strip()


URI = v.ParsedString("System.Uri", _parse_uri)


@dataclass(frozen=True)
class Directory:
    """One client virtual directory: its cmdlets' noun, its IIS name and the path of its default InternalUrl."""

    noun: str
    name: str
    path: str | None  # None: no default URL (Autodiscover)
    dotnet: str


DIRECTORIES = (
    Directory("OwaVirtualDirectory", "owa", "/owa", "GetOwaVirtualDirectory"),
    Directory("EcpVirtualDirectory", "ecp", "/ecp", "GetEcpVirtualDirectory"),
    Directory("WebServicesVirtualDirectory", "EWS", "/EWS/Exchange.asmx", "GetWebServicesVirtualDirectory"),
    Directory("OabVirtualDirectory", "OAB", "/OAB", "GetOabVirtualDirectory"),
    Directory("ActiveSyncVirtualDirectory", "Microsoft-Server-ActiveSync", "/Microsoft-Server-ActiveSync",
              "GetMobileSyncVirtualDirectory"),
    Directory("MapiVirtualDirectory", "mapi", "/mapi", "GetMapiVirtualDirectory"),
    Directory("AutodiscoverVirtualDirectory", "Autodiscover", None, "GetAutodiscoverVirtualDirectory"),
)


def _blob(raw: Any, org: Any = None, entry: Any = None) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("the client access names of the state file are damaged")
    return raw


def _domains(raw: Any, org: Any = None, entry: Any = None) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("the accepted domains of the state file are damaged")
    return raw


# Listed in state.KINDS: each Mailbox server's client access names, the organisation's accepted domains.
SERVER_STORED = stored.Stored(KEY, lambda entry: entry is not None and not entry.is_edge, lambda org, entry, now: {}, dict, _blob)
ORG_STORED = stored.Stored(ORG_KEY, lambda entry: entry is None, lambda org, entry, now: [], list, _domains)


def _settings(ctx: Context, entry: ServerEntry) -> dict[str, Any]:
    return ctx.state.get(entry.name, KEY)


def _server(ctx: Context, bound: dict[str, Any], identity_key: str = "Identity") -> ServerEntry:
    """The Mailbox server a Get (-Server, or -Identity "SERVER\\name (Default Web Site)") or Set names."""
    identity = bound.get(identity_key)
    server = bound.get("Server")
    if identity is not None:
        server = str(identity).split("\\", 1)[0]
    entry = ctx.one_server(server) if server is not None else ctx.local
    if entry.is_edge:  # no Client Access services, no IIS on an Edge
        raise ctx.not_found(identity or server or entry.name)
    return entry


def _default_url(entry: ServerEntry, d: Directory) -> str | None:
    return None if d.path is None else f"https://{entry.spec.fqdn}{d.path}"


def _directory_view(ctx: Context, entry: ServerEntry, d: Directory) -> dict[str, Any]:
    values = _settings(ctx, entry)
    name = f"{d.name} (Default Web Site)"
    internal = values.get(f"{d.noun}.InternalUrl", _default_url(entry, d))
    external = values.get(f"{d.noun}.ExternalUrl")
    out: dict[str, Any] = {
        "Name": name,
        "Server": entry.name,
        "InternalUrl": internal,
        "ExternalUrl": external,
        "MetabasePath": f"IIS://{entry.spec.fqdn}/W3SVC/1/ROOT/{d.name}",
        "Path": rf"C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\{d.name.lower()}",
    }
    dn = f"CN={name},CN=HTTP,CN=Protocols,{ctx.server_dn(entry)}"
    out.update(ctx.common(identity=f"{entry.name}\\{name}", dn=dn, guid=lab_guid("vdir", ctx.domain, entry.name, d.noun),
                          category=f"ms-Exch-{d.noun}", classes=("top", "msExchVirtualDirectory"),
                          created=ctx.state.created, changed=ctx.state.created))
    return out


def _get_directory(d: Directory):
    def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
        if bound.get("Identity") is None and bound.get("Server") is None:
            return [_directory_view(ctx, e, d) for e in ctx.org.mailbox_servers]  # every server's, as without -Server
        return [_directory_view(ctx, _server(ctx, bound), d)]
    return get


def _set_directory(d: Directory):
    def set_(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
        entry = _server(ctx, bound)
        if ctx.whatif:
            return []
        values = _settings(ctx, entry)
        for prop in ("InternalUrl", "ExternalUrl"):
            if prop in bound and values.get(f"{d.noun}.{prop}", _default_url(entry, d) if prop == "InternalUrl" else None) != bound[prop]:
                values[f"{d.noun}.{prop}"] = bound[prop]
                ctx.changed = True
        if ctx.changed:
            ctx.modified.append(f"{entry.name}\\{d.name} (Default Web Site)")
        return []
    return set_


def _signatures(d: Directory) -> tuple[Signature, Signature]:
    get = Signature(f"Get-{d.noun}", (Param("Identity", v.id_param("VirtualDirectoryIdParameter"), position=1),
                                      Param("Server", SERVER_ID), Param("ADPropertiesOnly", v.SWITCH),
                                      Param("ShowMailboxVirtualDirectories", v.SWITCH), Param("DomainController", v.FQDN)))
    set_ = Signature(f"Set-{d.noun}", (Param("Identity", v.id_param("VirtualDirectoryIdParameter"), mandatory=True, position=1),
                                       Param("InternalUrl", URI), Param("ExternalUrl", URI),
                                       Param("DomainController", v.FQDN)), should_process=True)
    return get, set_


# (get signature, get handler, set signature, set handler, .NET get type, .NET set type) per directory
HANDLERS = tuple((d, *_signatures(d), _get_directory(d), _set_directory(d)) for d in DIRECTORIES)


# --- Outlook Anywhere --------------------------------------------------------------------------------

GET_OUTLOOK_ANYWHERE = Signature("Get-OutlookAnywhere", (Param("Identity", v.id_param("VirtualDirectoryIdParameter"), position=1),
                                                         Param("Server", SERVER_ID), Param("ADPropertiesOnly", v.SWITCH),
                                                         Param("DomainController", v.FQDN)))
SET_OUTLOOK_ANYWHERE = Signature("Set-OutlookAnywhere", (Param("Identity", v.id_param("VirtualDirectoryIdParameter"), mandatory=True, position=1),
                                                         Param("InternalHostname", v.FQDN), Param("ExternalHostname", v.FQDN),
                                                         Param("InternalClientsRequireSsl", v.BOOL),
                                                         Param("ExternalClientsRequireSsl", v.BOOL),
                                                         Param("DomainController", v.FQDN)), should_process=True)


def _outlook_anywhere_view(ctx: Context, entry: ServerEntry) -> dict[str, Any]:
    values = _settings(ctx, entry)
    name = "Rpc (Default Web Site)"
    out: dict[str, Any] = {
        "Name": name,
        "Server": entry.name,
        "InternalHostname": values.get("OutlookAnywhere.InternalHostname", entry.spec.fqdn),
        "ExternalHostname": values.get("OutlookAnywhere.ExternalHostname"),
        "InternalClientsRequireSsl": values.get("OutlookAnywhere.InternalClientsRequireSsl", False),
        "ExternalClientsRequireSsl": values.get("OutlookAnywhere.ExternalClientsRequireSsl", False),
    }
    dn = f"CN={name},CN=HTTP,CN=Protocols,{ctx.server_dn(entry)}"
    out.update(ctx.common(identity=f"{entry.name}\\{name}", dn=dn, guid=lab_guid("vdir", ctx.domain, entry.name, "rpc"),
                          category="ms-Exch-Rpc-Http-Virtual-Directory", classes=("top", "msExchRpcHttpVirtualDirectory"),
                          created=ctx.state.created, changed=ctx.state.created))
    return out


def get_outlook_anywhere(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    if bound.get("Identity") is None and bound.get("Server") is None:
        return [_outlook_anywhere_view(ctx, e) for e in ctx.org.mailbox_servers]
    return [_outlook_anywhere_view(ctx, _server(ctx, bound))]


def set_outlook_anywhere(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry = _server(ctx, bound)
    if ctx.whatif:
        return []
    values = _settings(ctx, entry)
    for prop in ("InternalHostname", "ExternalHostname", "InternalClientsRequireSsl", "ExternalClientsRequireSsl"):
        if prop in bound and values.get(f"OutlookAnywhere.{prop}") != bound[prop]:
            values[f"OutlookAnywhere.{prop}"] = bound[prop]
            ctx.changed = True
    return []


# --- the Client Access service: AutoDiscoverServiceInternalUri ----------------------------------------------

GET_CLIENT_ACCESS = Signature("Get-ClientAccessService", (Param("Identity", SERVER_ID, position=1),
                                                          Param("IncludeAlternateServiceAccountCredentialStatus", v.SWITCH),
                                                          Param("IncludeAlternateServiceAccountCredentialPassword", v.SWITCH),
                                                          Param("DomainController", v.FQDN)))
SET_CLIENT_ACCESS = Signature("Set-ClientAccessService", (Param("Identity", SERVER_ID, mandatory=True, position=1),
                                                          Param("AutoDiscoverServiceInternalUri", URI),
                                                          Param("DomainController", v.FQDN)), should_process=True)


def _client_access_view(ctx: Context, entry: ServerEntry) -> dict[str, Any]:
    values = _settings(ctx, entry)
    out: dict[str, Any] = {
        "Name": entry.name,
        "Fqdn": entry.spec.fqdn,
        "AutoDiscoverServiceInternalUri": values.get("ClientAccess.AutoDiscoverServiceInternalUri",
                                                     f"https://{entry.spec.fqdn}/Autodiscover/Autodiscover.xml"),
        "AutoDiscoverSiteScope": (entry.spec.site,),
    }
    out.update(ctx.common(identity=entry.name, dn=ctx.server_dn(entry), guid=lab_guid("server", ctx.domain, entry.name),
                          category="ms-Exch-Exchange-Server", classes=("top", "server", "msExchExchangeServer"),
                          created=ctx.state.created, changed=ctx.state.created))
    return out


def get_client_access(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    if bound.get("Identity") is None:
        return [_client_access_view(ctx, e) for e in ctx.org.mailbox_servers]
    entry = ctx.one_server(bound["Identity"])
    if entry.is_edge:
        raise ctx.not_found(bound["Identity"])
    return [_client_access_view(ctx, entry)]


def set_client_access(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry = ctx.one_server(bound["Identity"])
    if entry.is_edge:
        raise ctx.not_found(bound["Identity"])
    if ctx.whatif or "AutoDiscoverServiceInternalUri" not in bound:
        return []
    values = _settings(ctx, entry)
    if values.get("ClientAccess.AutoDiscoverServiceInternalUri") != bound["AutoDiscoverServiceInternalUri"]:
        values["ClientAccess.AutoDiscoverServiceInternalUri"] = bound["AutoDiscoverServiceInternalUri"]
        ctx.changed = True
    return []


# --- accepted domains ------------------------------------------------------------------------------------

DOMAIN_TYPES = ("Authoritative", "InternalRelay", "ExternalRelay")
GET_ACCEPTED_DOMAIN = Signature("Get-AcceptedDomain", (Param("Identity", v.id_param("AcceptedDomainIdParameter"), position=1),
                                                       Param("DomainController", v.FQDN)))


def _parse_domain_type(text: str) -> str:
    for t in DOMAIN_TYPES:
        if t.lower() == text.strip().lower():
            return t
    raise ValueError(f'Unable to match the identifier name {text} to a valid enumerator name. Specify one of the following '
                     f'enumerator names and try again: {", ".join(DOMAIN_TYPES)}')


NEW_ACCEPTED_DOMAIN = Signature("New-AcceptedDomain", (Param("Name", v.STRING, mandatory=True),
                                                       Param("DomainName", v.SMTP_DOMAIN_SUB, mandatory=True),
                                                       Param("DomainType", v.ParsedString("Microsoft.Exchange.Data.AcceptedDomainType", _parse_domain_type)),
                                                       Param("DomainController", v.FQDN)), should_process=True)


def accepted_domains(ctx: Context) -> list[dict[str, Any]]:
    """The organisation's accepted domains: its own (setup's), then those added."""
    first = {"Name": ctx.domain, "DomainName": ctx.domain, "DomainType": "Authoritative", "Default": True}
    return [first, *ctx.state.get(stored.ORG, ORG_KEY)]


def get_accepted_domain(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    if ctx.edge:
        return []  # an Edge holds what EdgeSync replicates; the lab replicates no accepted domains
    rows = accepted_domains(ctx)
    wanted = bound.get("Identity")
    if wanted is not None:
        rows = [r for r in rows if str(wanted).lower() in (r["Name"].lower(), r["DomainName"].lower())]
        if not rows:
            raise ctx.not_found(wanted)
    out = []
    for r in rows:
        row = dict(r)
        row.update(ctx.common(identity=r["Name"], dn=f"CN={r['Name']},CN=Accepted Domains,CN=Transport Settings,{ctx.org_dn()}",
                              guid=lab_guid("accepted-domain", ctx.domain, r["DomainName"]), category="ms-Exch-Accepted-Domain",
                              classes=("top", "msExchAcceptedDomain"), created=ctx.state.created, changed=ctx.state.created))
        out.append(row)
    return out


def new_accepted_domain(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    if ctx.edge:  # on an Edge accepted domains come from EdgeSync (cmdlets.md §6); a local one is lab state we lack
        raise ctx.error("The accepted domains of an Edge Transport server are managed by EdgeSync.", "InvalidOperationException")
    name, domain = bound["Name"], str(bound["DomainName"])
    if any(r["Name"].lower() == name.lower() or r["DomainName"].lower() == domain.lower() for r in accepted_domains(ctx)):
        raise ctx.error(f"An accepted domain with the name or domain {domain} already exists.", "ADObjectAlreadyExistsException")  # lab wording
    if ctx.whatif:
        return []
    row = {"Name": name, "DomainName": domain, "DomainType": bound.get("DomainType") or "Authoritative", "Default": False}
    ctx.state.get(stored.ORG, ORG_KEY).append(row)
    ctx.changed = True
    ctx.modified.append(name)
    return get_accepted_domain(ctx, {"Identity": name})
