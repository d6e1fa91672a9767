"""Get-/Set-ImapSettings, Get-/Set-PopSettings and Get-AuthConfig: the settings that decide which
certificate IMAP4, POP3 and OAuth use (cmdlets.md §2; [PS Get-ImapSettings, Set-ImapSettings,
Get-PopSettings, Set-PopSettings, Get-AuthConfig]).

The IMAP4 and POP3 services of a Mailbox server use the certificate whose names contain their
X509CertificateName [EXD clients/pop3-and-imap4/configure-imap4.md: "This value identifies the
certificate that matches or contains the IMAP4 server FQDN"]; Get-ExchangeCertificate shows IMAP or
POP on every such certificate (certificate_store.shown_services). The name is kept with the server's
certificate store, where Enable-ExchangeCertificate -Services IMAP/POP also writes it.

The lab implements X509CertificateName and what identifies the objects; the other properties show
Exchange's defaults for a fresh server (IMAP4 993/143, POP3 995/110 on every address, SecureLogin)
and Set-* takes only -X509CertificateName. AuthConfig (OAuth's certificates) is auth_config.py.
"""

from __future__ import annotations

from typing import Any

from . import param_types as v
from .binder import Param, Signature
from .certificate_store import server_store
from .context import Context, lab_guid
from .spec import ServerEntry

SERVER_ID = v.id_param("ServerIdParameter")
PROTOCOLS = {"imap": ("IMAP4", 993, 143), "pop": ("POP3", 995, 110)}


def _signature(cmdlet: str) -> Signature:
    if cmdlet.startswith("Get-"):
        return Signature(cmdlet, (Param("Server", SERVER_ID), Param("DomainController", v.FQDN)))
    return Signature(cmdlet, (Param("Server", SERVER_ID), Param("X509CertificateName", v.STRING),
                              Param("DomainController", v.FQDN)), should_process=True)


GET_IMAP, SET_IMAP = _signature("Get-ImapSettings"), _signature("Set-ImapSettings")
GET_POP, SET_POP = _signature("Get-PopSettings"), _signature("Set-PopSettings")


def _server(ctx: Context, bound: dict[str, Any]) -> ServerEntry:
    entry = ctx.one_server(bound["Server"]) if bound.get("Server") is not None else ctx.local
    if entry.is_edge:
        raise ctx.not_found(bound.get("Server"))
    return entry


def _view(ctx: Context, entry: ServerEntry, which: str) -> dict[str, Any]:
    protocol, ssl, plain = PROTOCOLS[which]
    store = server_store(ctx, entry)
    name = "1"
    dn = f"CN={name},CN={protocol},CN=Protocols,{ctx.server_dn(entry)}"
    created = ctx.state.created
    out: dict[str, Any] = {
        "Name": name,
        "ProtocolName": protocol,
        "Server": entry.name,
        "X509CertificateName": store.get(which),
        "InternalConnectionSettings": (f"{entry.spec.fqdn}:{ssl}:SSL", f"{entry.spec.fqdn}:{plain}:TLS"),
        "ExternalConnectionSettings": (),
        "SSLBindings": (f"[::]:{ssl}", f"0.0.0.0:{ssl}"),
        "UnencryptedOrTLSBindings": (f"[::]:{plain}", f"0.0.0.0:{plain}"),
        "LoginType": "SecureLogin",
    }
    out.update(ctx.common(identity=f"{entry.name}\\{name}", dn=dn, guid=lab_guid(which, ctx.domain, entry.name),
                          category=f"ms-Exch-Protocol-Cfg-{protocol}-Server", classes=("top", f"protocolCfg{protocol}Server"),
                          created=created, changed=created))
    return out


def _get(which: str):
    def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
        return [_view(ctx, _server(ctx, bound), which)]
    return get


def _set(which: str):
    def set_(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
        entry = _server(ctx, bound)
        if ctx.whatif or "X509CertificateName" not in bound:
            return []
        store = server_store(ctx, entry)
        if store.get(which) != bound["X509CertificateName"]:
            store[which] = bound["X509CertificateName"]
            ctx.changed = True
            ctx.modified.append(f"{entry.name}\\1")
        return []
    return set_


get_imap, set_imap, get_pop, set_pop = _get("imap"), _set("imap"), _get("pop"), _set("pop")
