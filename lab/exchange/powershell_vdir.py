"""Each Mailbox server's PowerShell virtual directory: Get/Set-PowerShellVirtualDirectory.

What ``http(s)://<fqdn>/PowerShell`` accepts beyond Exchange's own Kerberos module
(exconf.lab.winrm.auth.AuthPolicy.powershell_vdir): IIS's Basic and Windows authentication, both
off on a fresh front end. The organisation file's ``powershell_virtual_directory`` sets them when a
server is built; ``Set-PowerShellVirtualDirectory -BasicAuthentication/-WindowsAuthentication``
changes them at run time, and the next connection to ``/PowerShell`` is authenticated accordingly
(IIS applies an authentication change to new requests at once). Parameters and identities as
office-docs-powershell Get-/Set-PowerShellVirtualDirectory.md document them (Identity
``"Server\\Name"`` or ``"Name"``, whose default Name is "PowerShell (Default Web Site)"); the task
types are Microsoft.Exchange.Management.SystemConfigurationTasks.{Get,Set}PowerShellVirtualDirectory
[SRC]. Administrators run them with ``exconf lab exec``; they are not in exconf's allowlist.
"""

from __future__ import annotations

from typing import Any

from . import stored
from .binder import Param, Signature
from .context import Context, lab_guid, name_matches
from .kinds import Kind, Prop, set_object
from .param_types import BOOL, FQDN, SWITCH, id_param
from .spec import ServerEntry

NAME = "PowerShell (Default Web Site)"
DOTNET = "Microsoft.Exchange.Management.SystemConfigurationTasks."
KIND = Kind("ADPowerShellVirtualDirectory", [Prop("BasicAuthentication", BOOL), Prop("WindowsAuthentication", BOOL)])


def defaults(entry: ServerEntry | None) -> dict[str, Any]:
    vdir = entry.spec.powershell_vdir if entry is not None else None
    return {"BasicAuthentication": bool(vdir and vdir.basic_authentication),
            "WindowsAuthentication": bool(vdir and vdir.windows_authentication)}


def _view(ctx: Context, owner: ServerEntry, obj: dict[str, Any]) -> dict[str, Any]:
    identity = f"{owner.name}\\{NAME}"
    out: dict[str, Any] = {"Name": NAME, "Server": owner.name}
    out.update({p.name: obj[p.name] for p in KIND.props})
    out.update({
        "InternalUrl": f"http://{owner.spec.fqdn}/powershell",
        "ExternalUrl": None,
        "MetabasePath": f"IIS://{owner.spec.fqdn}/W3SVC/1/ROOT/PowerShell",
    })
    out.update(ctx.common(
        identity=identity, dn=f"CN={NAME},CN=HTTP,CN=Protocols,{ctx.server_dn(owner)}", guid=obj["Guid"],
        category="ms-Exch-PowerShell-Virtual-Directory", classes=("top", "msExchVirtualDirectory",
                                                                   "msExchPowerShellVirtualDirectory"),
        created=obj["WhenCreated"], changed=obj["WhenChanged"],
    ))
    return out


def _find(ctx: Context, identity: str | None, server: str | None) -> list[ServerEntry]:
    """The Mailbox servers whose directory ``identity`` ("Server\\Name", "Name") and ``-Server`` name."""
    owners = ctx.org.mailbox_servers if server is None else tuple(ctx.find_server(server, ctx.org.mailbox_servers))
    if identity is None:
        return list(owners)
    server_part, _, name = identity.rpartition("\\")
    if server_part:
        owners = tuple(o for o in owners if any(o is e for e in ctx.find_server(server_part, ctx.org.mailbox_servers)))
    elif server is None:
        owners = (ctx.local,)  # a bare name is the local server's directory
    return [o for o in owners if name_matches(name, NAME)]


def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    owners = _find(ctx, bound.get("Identity"), bound.get("Server"))
    if bound.get("Identity") is not None and not owners:
        raise ctx.not_found(bound["Identity"])
    return [_view(ctx, o, ctx.state.get(o.name, STORED.key)) for o in owners]


def set_(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    owners = _find(ctx, bound["Identity"], None)
    if not owners:
        raise ctx.not_found(bound["Identity"])
    if len(owners) > 1:
        raise ctx.ambiguous(bound["Identity"])
    owner = owners[0]
    set_object(ctx, KIND, ctx.state.get(owner.name, STORED.key), bound, f"{owner.name}\\{NAME}")
    return []


_VDIR_ID = id_param("VirtualDirectoryIdParameter")
GET = Signature("Get-PowerShellVirtualDirectory", (
    Param("Identity", _VDIR_ID, position=1), Param("Server", id_param("ServerIdParameter")),
    Param("DomainController", FQDN), Param("ADPropertiesOnly", SWITCH), Param("ShowMailboxVirtualDirectories", SWITCH),
))
SET = Signature(
    "Set-PowerShellVirtualDirectory",
    (Param("Identity", _VDIR_ID, mandatory=True, position=1), Param("DomainController", FQDN)) + KIND.set_params(),
    should_process=True,
)

STORED = stored.single(
    "PowerShellVirtualDirectory", KIND, stored.on_mailbox_servers,
    new=lambda org, entry, now: KIND.new(defaults(entry), guid=lab_guid("psvdir", org.organization.domain, entry.name),
                                         created=now),
    defaults=lambda org, entry, raw: defaults(entry),
)
