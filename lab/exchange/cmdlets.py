"""The lab's cmdlets: which exist on which role, and how one invocation runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from . import (
    admin_audit_log, auth_config, certificates, client_access_settings, edge_subscriptions, errors, exchange_server, powershell_vdir,
    receive_connectors, send_connectors, transport_config, transport_services, virtual_directories, web_files, windows_services,
)
from .binder import Signature, bind
from .context import Context
from .spec import OrgSpec, ServerEntry
from .state import LabState

Handler = Callable[[Context, dict[str, Any]], list[dict[str, Any]]]
BOTH = frozenset({"Mailbox", "Edge"})
TASKS = "Microsoft.Exchange.Management.SystemConfigurationTasks."


@dataclass(frozen=True)
class Cmdlet:
    signature: Signature
    dotnet: str  # the implementing .NET type (ends Exchange's FullyQualifiedErrorIds)
    handler: Handler
    roles: frozenset[str] = BOTH  # where the cmdlet exists

    @property
    def name(self) -> str:
        return self.signature.cmdlet


_ALL = (
    Cmdlet(exchange_server.GET, TASKS + "GetExchangeServer", exchange_server.get),
    Cmdlet(send_connectors.GET, TASKS + "GetSendConnector", send_connectors.get),
    Cmdlet(send_connectors.SET, TASKS + "SetSendConnector", send_connectors.set_),
    Cmdlet(receive_connectors.GET, TASKS + "GetReceiveConnector", receive_connectors.get),
    Cmdlet(receive_connectors.SET, TASKS + "SetReceiveConnector", receive_connectors.set_),
    Cmdlet(transport_services.GET_TRANSPORT, TASKS + "GetTransportService", transport_services.get_transport),
    Cmdlet(transport_services.SET_TRANSPORT, TASKS + "SetTransportService", transport_services.set_transport),
    # Not on Edge: the Front End Transport service runs on Mailbox servers only (cmdlets.md §5).
    Cmdlet(transport_services.GET_FRONTEND, TASKS + "GetFrontendTransportService", transport_services.get_frontend,
           frozenset({"Mailbox"})),
    Cmdlet(transport_services.SET_FRONTEND, TASKS + "SetFrontendTransportService", transport_services.set_frontend,
           frozenset({"Mailbox"})),
    Cmdlet(transport_config.GET, "Microsoft.Exchange.Management.TransportConfig.GetTransportConfig", transport_config.get),
    Cmdlet(transport_config.SET, "Microsoft.Exchange.Management.TransportConfig.SetTransportConfig", transport_config.set_),
    # certificates (cmdlets.md §2)
    Cmdlet(certificates.GET, TASKS + "GetExchangeCertificate", certificates.get),
    Cmdlet(certificates.ENABLE, TASKS + "EnableExchangeCertificate", certificates.enable),
    Cmdlet(certificates.NEW, TASKS + "NewExchangeCertificate", certificates.new),
    Cmdlet(certificates.IMPORT, TASKS + "ImportExchangeCertificate", certificates.import_),
    Cmdlet(certificates.EXPORT, TASKS + "ExportExchangeCertificate", certificates.export),
    Cmdlet(certificates.REMOVE, TASKS + "RemoveExchangeCertificate", certificates.remove),
    Cmdlet(windows_services.RESTART, windows_services.DOTNET, windows_services.restart),
    # which certificate IMAP4, POP3 and OAuth use: Client Access settings of Mailbox servers (client_access_settings.py)
    Cmdlet(client_access_settings.GET_IMAP, TASKS + "GetImapConfiguration", client_access_settings.get_imap, frozenset({"Mailbox"})),
    Cmdlet(client_access_settings.SET_IMAP, TASKS + "SetImapConfiguration", client_access_settings.set_imap, frozenset({"Mailbox"})),
    Cmdlet(client_access_settings.GET_POP, TASKS + "GetPopConfiguration", client_access_settings.get_pop, frozenset({"Mailbox"})),
    Cmdlet(client_access_settings.SET_POP, TASKS + "SetPopConfiguration", client_access_settings.set_pop, frozenset({"Mailbox"})),
    Cmdlet(auth_config.GET, "Microsoft.Exchange.Management.SystemConfigurationTasks.GetAuthConfig", auth_config.get,
           frozenset({"Mailbox"})),
    Cmdlet(auth_config.SET, "Microsoft.Exchange.Management.SystemConfigurationTasks.SetAuthConfig", auth_config.set_,
           frozenset({"Mailbox"})),
    # the names clients use: virtual directories, Outlook Anywhere, Autodiscover, accepted domains (virtual_directories.py)
    *(c for d, get_sig, set_sig, get, set_ in virtual_directories.HANDLERS
      for c in (Cmdlet(get_sig, TASKS + d.dotnet, get, frozenset({"Mailbox"})),
                Cmdlet(set_sig, TASKS + "Set" + d.dotnet[3:], set_, frozenset({"Mailbox"})))),
    Cmdlet(virtual_directories.GET_OUTLOOK_ANYWHERE, TASKS + "GetRpcHttp", virtual_directories.get_outlook_anywhere, frozenset({"Mailbox"})),
    Cmdlet(virtual_directories.SET_OUTLOOK_ANYWHERE, TASKS + "SetRpcHttp", virtual_directories.set_outlook_anywhere, frozenset({"Mailbox"})),
    Cmdlet(virtual_directories.GET_CLIENT_ACCESS, TASKS + "GetClientAccessService", virtual_directories.get_client_access,
           frozenset({"Mailbox"})),
    Cmdlet(virtual_directories.SET_CLIENT_ACCESS, TASKS + "SetClientAccessService", virtual_directories.set_client_access,
           frozenset({"Mailbox"})),
    Cmdlet(virtual_directories.GET_ACCEPTED_DOMAIN, TASKS + "GetAcceptedDomain", virtual_directories.get_accepted_domain),
    Cmdlet(virtual_directories.NEW_ACCEPTED_DOMAIN, TASKS + "NewAcceptedDomain", virtual_directories.new_accepted_domain),
    # what a WinRM shell has beside Exchange: IIS's app pools and the Default Web Site's files (exconf's program only)
    Cmdlet(windows_services.RESTART_APP_POOL, windows_services.APP_POOL_DOTNET, windows_services.restart_app_pool,
           frozenset({"Mailbox"})),
    Cmdlet(web_files.SET_CONTENT, web_files.SET_DOTNET, web_files.set_content, frozenset({"Mailbox"})),
    Cmdlet(web_files.REMOVE_ITEM, web_files.REMOVE_DOTNET, web_files.remove_item, frozenset({"Mailbox"})),
    # the organisation's admin audit log: Mailbox servers only (admin_audit_log.py)
    Cmdlet(admin_audit_log.SEARCH, TASKS + "SearchAdminAuditLog", admin_audit_log.search, frozenset({"Mailbox"})),
    # EdgeSync (cmdlets.md §6); Start/Test run where the EdgeSync service runs: Mailbox servers.
    Cmdlet(edge_subscriptions.NEW, TASKS + "NewEdgeSubscription", edge_subscriptions.new),
    Cmdlet(edge_subscriptions.GET, TASKS + "GetEdgeSubscription", edge_subscriptions.get),
    Cmdlet(edge_subscriptions.REMOVE, TASKS + "RemoveEdgeSubscription", edge_subscriptions.remove),
    Cmdlet(edge_subscriptions.START, "Microsoft.Exchange.Management.EdgeSync.StartEdgeSynchronization",
           edge_subscriptions.start, frozenset({"Mailbox"})),
    Cmdlet(edge_subscriptions.TEST, "Microsoft.Exchange.Management.EdgeSync.TestEdgeSynchronization",
           edge_subscriptions.test, frozenset({"Mailbox"})),
    # The PowerShell virtual directory (IIS): Mailbox servers only; for `exconf lab exec` (powershell_vdir.py).
    Cmdlet(powershell_vdir.GET, powershell_vdir.DOTNET + "GetPowerShellVirtualDirectory", powershell_vdir.get,
           frozenset({"Mailbox"})),
    Cmdlet(powershell_vdir.SET, powershell_vdir.DOTNET + "SetPowerShellVirtualDirectory", powershell_vdir.set_,
           frozenset({"Mailbox"})),
)
CMDLETS: dict[str, Cmdlet] = {c.name.lower(): c for c in _ALL}


def lookup(name: str, local: ServerEntry) -> Cmdlet:
    """The cmdlet as this server's shell knows it; PowerShell's CommandNotFoundException otherwise."""
    cmdlet = CMDLETS.get(name.lower())
    if cmdlet is None or local.spec.role not in cmdlet.roles:
        raise errors.command_not_found(name)
    return cmdlet


@dataclass
class Outcome:
    cmdlet: str
    objects: list[dict[str, Any]]
    warnings: list[str]
    changed: bool
    files: dict[str, bytes] = field(default_factory=dict)  # files the cmdlet wrote (-FileName …)
    modified: list[str] = field(default_factory=list)  # identities of the objects it changed


def invoke(
    org: OrgSpec,
    state: LabState,
    local: ServerEntry,
    name: str,
    named: list[tuple[str, Any]],
    positional: list[Any] = (),
    *,
    now: datetime,
    compiled: bool = True,
    before_run: Callable[[Cmdlet], None] | None = None,
    selected: frozenset[str] | None = None,
) -> Outcome:
    """Bind and run one cmdlet with -ErrorAction Stop: the first error is raised as CmdletError.

    ``compiled``: the cmdlet is the snap-in's compiled cmdlet, so PowerShell ends the ids of
    binding errors with its .NET type; otherwise (a remote session's proxy function) with its name.
    """
    cmdlet = lookup(name, local)
    try:
        bound = bind(cmdlet.signature, named, list(positional))
    except errors.CmdletError as exc:
        if compiled:
            exc.error_id = f"{exc.error_id.split(',', 1)[0]},{cmdlet.dotnet}"
        raise
    if before_run is not None:
        before_run(cmdlet)
    ctx = Context(org, state, local, now, cmdlet.name, cmdlet.dotnet, whatif=bool(bound.get("WhatIf")), selected=selected)
    objects = cmdlet.handler(ctx, bound)
    return Outcome(cmdlet.name, objects, ctx.warnings, ctx.changed, ctx.files, ctx.modified)
