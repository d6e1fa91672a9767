"""Files of a Mailbox server's Default Web Site, as far as the lab has any: what an ACME HTTP-01 challenge puts
under ``/.well-known/acme-challenge/`` (RFC 8555 §8.3), written and removed by exconf's program with PowerShell's
Set-Content and Remove-Item (engine/remote/exconf.ps1 chooses the path: the web root IIS setup records in
``HKLM:\\SOFTWARE\\Microsoft\\InetStp`` PathWWWRoot, ``%SystemDrive%\\inetpub\\wwwroot`` by default [IIS
setup's registry values, learn.microsoft.com/troubleshoot/developer/webapps/iis/health-diagnostic-performance/
determine-version-iis]).

IIS serves such a file to anyone (the Default Web Site's root allows anonymous access) only when its extension has
a MIME type: a file without one gets 404.3 ("The page you are requesting cannot be served because of the
extension configuration", IIS's static file handler [learn.microsoft.com/iis/configuration/system.webserver/
staticcontent/mimemap]); a challenge token has none, so the folder carries a web.config mapping "." (files with
no extension), as ACME clients for IIS write it (win-acme's web_config.xml). And IIS answers plain HTTP with
403.4 ("SSL required") when the site requires SSL, which Enable-ExchangeCertificate -Services IIS sets on the
root unless -DoNotRequireSsl (cmdlets.md §2): an HTTP-01 validation then fails, as it would.

The lab keeps the files per server (lab state), by their path relative to the web root, case-insensitive as NTFS.
"""

from __future__ import annotations

from typing import Any

from . import errors
from . import param_types as v
from . import stored
from .binder import Param, Signature
from .context import Context

KEY = "web_files"
WEB_ROOT = "C:\\inetpub\\wwwroot\\"
SET_DOTNET = "Microsoft.PowerShell.Commands.SetContentCommand"
REMOVE_DOTNET = "Microsoft.PowerShell.Commands.RemoveItemCommand"
CHALLENGE_FOLDER = ".well-known\\acme-challenge\\"
MAX_FILES = 1000  # a web root the lab keeps bounded


def _blob(raw: Any, org: Any = None, entry: Any = None) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("the web files of the state file are damaged")
    return raw


# Listed in state.KINDS: the files of each Mailbox server's Default Web Site.
STORED = stored.Stored(KEY, lambda entry: entry is not None and not entry.is_edge, lambda org, entry, now: {}, dict, _blob)

SET_CONTENT = Signature(
    "Set-Content",
    (
        Param("Path", v.multi(v.STRING, "System.String[]"), mandatory=True, position=1, sets=("Path",)),
        Param("LiteralPath", v.multi(v.STRING, "System.String[]"), mandatory=True, sets=("LiteralPath",), aliases=("PSPath", "LP")),
        Param("Value", v.multi(v.STRING, "System.Object[]"), mandatory=True, position=2),
        Param("NoNewline", v.SWITCH),
        Param("Encoding", v.STRING),
        Param("Force", v.SWITCH),
    ),
    default_set="Path",
    should_process=True,
)
REMOVE_ITEM = Signature(
    "Remove-Item",
    (
        Param("Path", v.multi(v.STRING, "System.String[]"), mandatory=True, position=1, sets=("Path",)),
        Param("LiteralPath", v.multi(v.STRING, "System.String[]"), mandatory=True, sets=("LiteralPath",), aliases=("PSPath", "LP")),
        Param("Force", v.SWITCH),
        Param("Recurse", v.SWITCH),
    ),
    default_set="Path",
    should_process=True,
)


def _relative(ctx: Context, path: str, dotnet: str) -> str:
    """The path under the web root, or FileSystemProvider's error: the lab has no other file."""
    if not path.lower().startswith(WEB_ROOT.lower()) or ".." in path.split("\\"):
        raise errors.CmdletError(f"Could not find a part of the path '{path}'.", f"GetContentWriterDirectoryNotFoundError,{dotnet}",
                                 "ObjectNotFound", "DirectoryNotFoundException", ctx.cmdlet)
    return path[len(WEB_ROOT):].lower()


def set_content(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    paths = bound.get("LiteralPath") or bound.get("Path") or ()
    files = ctx.state.get(ctx.local.name, KEY)
    newline = "" if bound.get("NoNewline") else "\r\n"
    text = newline.join(bound.get("Value") or ()) + newline
    for path in paths:
        rel = _relative(ctx, path, SET_DOTNET)
        if ctx.whatif:
            continue
        if rel not in files and len(files) >= MAX_FILES:
            raise errors.CmdletError("There is not enough space on the disk.", f"SetContentWriterIOError,{SET_DOTNET}",
                                     "WriteError", "IOException", ctx.cmdlet)
        if files.get(rel) != text:
            files[rel] = text
            ctx.changed = True
    return []


def remove_item(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    files = ctx.state.get(ctx.local.name, KEY)
    for path in bound.get("LiteralPath") or bound.get("Path") or ():
        rel = _relative(ctx, path, REMOVE_DOTNET)
        if rel not in files:
            raise errors.CmdletError(f"Cannot find path '{path}' because it does not exist.", f"PathNotFound,{REMOVE_DOTNET}",
                                     "ObjectNotFound", "ItemNotFoundException", ctx.cmdlet)
        if not ctx.whatif:
            del files[rel]
            ctx.changed = True
    return []


def served(files: dict[str, str], url_path: str) -> tuple[int, bytes]:
    """What IIS answers for GET of a path of the Default Web Site, from the files the lab keeps (status, body)."""
    rel = url_path.split("?", 1)[0].lstrip("/").replace("/", "\\").lower()
    if not rel or ".." in rel.split("\\") or rel not in files:
        return 404, b""
    folder, _, name = rel.rpartition("\\")
    if "." not in name:
        config = files.get(f"{folder}\\web.config" if folder else "web.config", "")
        if 'fileextension="."' not in config.lower().replace(" ", ""):
            return 404, b""  # 404.3: no MIME type for a file without an extension
    return 200, files[rel].encode("utf-8")
