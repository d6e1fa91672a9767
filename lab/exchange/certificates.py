"""Exchange certificate cmdlets (cmdlets.md §2): Get/Enable/New/Import/Export/Remove-ExchangeCertificate
on the stores of certificate_store.py.

What the cmdlets do follows cmdlets.md §2 and §6; each behaviour chosen beyond it says so. A PFX
password exists only as the SecureString of the one Import/Export call that uses it.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import errors
from . import param_types as v
from . import x509 as lab_x509
from .binder import Param, Signature
from .certificate_store import (
    ALLOWED_SERVICES, DEFAULT_FRIENDLY_NAME, DEFAULT_WEB_SITE, FEDERATION, FIVE_YEARS, IIS, IMAP, POP, SMTP, UM, UM_CALL_ROUTER,
    certificate_of, fqdns, new_stored, server_store, status, thumbprint_of, view,
)
from .context import Context
from .secure import BYTES, SECURE_STRING
from .spec import ServerEntry
from .enums import EnumValue

# Texts. [cmdlets.md §6] (ManageExchangeCertificate.UpdateActiveDirectory [SRC]):
EDGE_RESUBSCRIBE_WARNING = (
    "The internal transport certificate attribute for the local Edge Transport server has been updated. If this Edge "
    "Transport server is subscribed to an Active Directory site, you must subscribe it again by using the "
    "New-EdgeSubscription cmdlet in the Shell, and then restart AD LDS."
)
# [cmdlets.md §2 Remove] (Strings of Microsoft.Exchange.Management [SRC]); the second sentence is the
# advice cmdlets.md gives ("create its replacement first").
INTERNAL_TRANSPORT_REMOVE = (
    "The internal transport certificate cannot be removed because that would cause the Microsoft Exchange Transport "
    "service to stop. To replace the internal transport certificate, create a new certificate. The new certificate "
    "will automatically become the internal transport certificate. You can then remove the existing certificate."
)
# A prompt in `powershell.exe -NonInteractive`: the console host throws instead of asking
# (PowerShell ConsoleHostUserInterfaceStrings.ReadFailsOnNonInteractiveFlag, Windows PowerShell 5.1
# wording). The SMTP overwrite and IIS Require-SSL questions are ShouldContinue prompts [cmdlets.md
# §1a, §2]; Remove-ExchangeCertificate confirms (ShouldProcess, high impact) unless -Confirm:$false.
NON_INTERACTIVE = "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."


def prompt_fails(ctx: Context, changed: bool = False) -> errors.CmdletError:
    """The error a prompt raises in a non-interactive shell. ``changed``: the cmdlet already
    changed something before it asked (the SMTP bit), which stays."""
    error = errors.CmdletError(NON_INTERACTIVE, f"InvalidOperation,{ctx.dotnet}", "InvalidOperation",
                               "PSInvalidOperationException", ctx.cmdlet)
    error.changed = changed  # type: ignore[attr-defined]  # read by LabStore.invoke: persist what was done
    return error


# --- cmdlet plumbing ----------------------------------------------------------------------------------------

SERVER_ID = v.id_param("ServerIdParameter")
CERT_ID = v.id_param("ExchangeCertificateIdParameter")
SERVICES = v.EnumType(ALLOWED_SERVICES)
X509_INSTANCE = v.RejectType("System.Security.Cryptography.X509Certificates.X509Certificate2")


def _key_size(value: int) -> str | None:
    # New-ExchangeCertificate allows 1024, 2048 and 4096 [PS New-ExchangeCertificate.md]; lab wording.
    return None if value in (1024, 2048, 4096) else f"The key size {value} isn't supported. Use 1024, 2048 or 4096."


# How Enable, Export and Remove name one certificate: -Thumbprint [-Server], or -Identity Server\Thumbprint.
BY_THUMBPRINT = (
    Param("Thumbprint", v.STRING, mandatory=True, position=1, sets=("Thumbprint",)),
    Param("Identity", CERT_ID, position=1, sets=("Identity",)),
    Param("Server", SERVER_ID, sets=("Thumbprint",)),
)


def _normal_thumbprint(text: str) -> str:
    return re.sub(r"\s", "", text).upper()


def _target(ctx: Context, bound: dict[str, Any]) -> tuple[ServerEntry, str | None]:
    """The server a call addresses and the thumbprint it names (-Identity "Server\\Thumbprint" or -Thumbprint)."""
    identity = bound.get("Identity")
    if identity is not None:
        server, sep, thumb = identity.rpartition("\\")
        entry = ctx.one_server(server) if sep else ctx.local
        return entry, _normal_thumbprint(thumb)
    entry = ctx.one_server(bound["Server"]) if bound.get("Server") is not None else ctx.local
    thumb = bound.get("Thumbprint")
    return entry, None if thumb is None else _normal_thumbprint(thumb)


def _find(ctx: Context, store: dict[str, Any], thumb: str) -> dict[str, Any]:
    for stored in store["certs"]:
        if lab_x509.thumbprint(certificate_of(stored).certificate) == thumb:
            return stored
    # Lab wording after Exchange's ManagementObjectNotFoundException for a certificate.
    raise ctx.error(f"The certificate with thumbprint {thumb} was not found.", "ManagementObjectNotFoundException",
                    errors.CATEGORY_CONTEXT)


def _addressed(ctx: Context, bound: dict[str, Any]) -> tuple[ServerEntry, str, dict[str, Any], dict[str, Any]]:
    """The server, thumbprint, store and stored certificate that BY_THUMBPRINT parameters name."""
    entry, thumb = _target(ctx, bound)
    store = server_store(ctx, entry)
    return entry, thumb or "", store, _find(ctx, store, thumb or "")


def _audited(ctx: Context, entry: ServerEntry, stored: dict[str, Any]) -> None:
    """The admin audit log names the object a cmdlet operated on (ObjectModified, what -ObjectIds filters:
    office-docs-powershell Search-AdminAuditLog.md); a certificate is named by its Identity,
    ``ServerFQDN\\Thumbprint`` (cmdlets.md §2, Get-ExchangeCertificate's output)."""
    ctx.modified.append(f"{entry.spec.fqdn}\\{lab_x509.thumbprint(certificate_of(stored).certificate)}")


def _refuse_on_edge(ctx: Context, entry: ServerEntry, services: int) -> None:
    """On an Edge only SMTP (and None): IMAP/POP need the Client Access role [cmdlets.md §2,
    ExchangeCertificateServerHelper.cs l.729-735 SRC]. Lab wording."""
    refused = services & ~SMTP
    if entry.is_edge and refused:
        names = str(EnumValue(ALLOWED_SERVICES, refused))
        raise ctx.error(
            f"The certificate can't be enabled for {names} on {entry.name}: an Edge Transport server runs none of "
            "these services. Only SMTP can be enabled on an Edge Transport server.",
            "InvalidOperationException", "InvalidOperation",
        )


def _make_default(ctx: Context, entry: ServerEntry, store: dict[str, Any], stored: dict[str, Any], force: bool) -> bool:
    """UpdateActiveDirectory [SRC ManageExchangeCertificate]: the certificate becomes the server's internal
    transport (default SMTP) certificate. When another one is, Exchange asks first ("Overwrite the existing
    default SMTP certificate?"), and only -Force answers yes [PS Enable-ExchangeCertificate -Force: "By
    default, when you enable a certificate for SMTP, the command prompts you to replace the existing
    certificate that's enabled for SMTP"]. False: the question is pending (a non-interactive shell fails it
    once everything else the call does is done, cmdlets.md §2 "SMTP and -Force")."""
    thumb = thumbprint_of(stored)
    if store["internal_transport"] == thumb:
        return True
    if not force:
        return False
    from . import edge_sync  # a subscribed Edge's synchronisation breaks from here on

    edge_sync.internal_transport_changing(ctx, entry)
    store["internal_transport"] = thumb
    ctx.changed = True
    if entry.is_edge:  # a Mailbox server re-encrypts the EdgeSync credentials itself [cmdlets.md §6]
        ctx.warn(EDGE_RESUBSCRIBE_WARNING)
    return True


def _enable_for(ctx: Context, entry: ServerEntry, store: dict[str, Any], stored: dict[str, Any], services: int,
                force: bool, network_service: bool = False) -> None:
    """EnableForServices [SRC ManageExchangeCertificate], in its order: IIS binds the Default Web Site; SMTP,
    IMAP, POP (or -NetworkServiceAllowed) let NETWORK SERVICE read the key; SMTP makes it the default SMTP
    certificate (a question without -Force); POP and IMAP take its first name as their X509CertificateName.
    A pending SMTP question fails the call at the end, with everything else done (as Exchange asks it after)."""
    thumb = thumbprint_of(stored)
    if services & IIS and store["iis"].get(DEFAULT_WEB_SITE) != thumb:
        store["iis"][DEFAULT_WEB_SITE] = thumb
        ctx.changed = True
    if (services & (SMTP | IMAP | POP) or network_service) and not stored.get("network_service"):
        stored["network_service"] = True
        ctx.changed = True
    answered = _make_default(ctx, entry, store, stored, force) if services & SMTP else True
    names = fqdns(certificate_of(stored).certificate)
    for bit, key in ((POP, "pop"), (IMAP, "imap")):
        if services & bit and names and store.get(key) != names[0]:
            store[key] = names[0]
            ctx.changed = True
    if not answered:
        raise prompt_fails(ctx, changed=ctx.changed)


# --- Get-ExchangeCertificate ------------------------------------------------------------------------------------

GET = Signature(
    "Get-ExchangeCertificate",
    (
        Param("Thumbprint", v.STRING, position=1, sets=("Thumbprint",)),
        Param("Identity", CERT_ID, position=1, sets=("Identity",)),
        Param("Instance", X509_INSTANCE, sets=("Instance",)),
        Param("Server", SERVER_ID, sets=("Thumbprint", "Instance")),
        Param("DomainName", v.multi(v.STRING)),
        Param("DomainController", v.FQDN),
    ),
    default_set="Thumbprint",
)


def _covers(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and name.count(".") == pattern.count(".")
    return pattern == name


def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry, thumb = _target(ctx, bound)
    store = server_store(ctx, entry)
    found = [_find(ctx, store, thumb)] if thumb else list(store["certs"])
    rows = [view(ctx, entry, s) for s in found]
    wanted = bound.get("DomainName")
    if wanted:
        rows = [r for r in rows if any(_covers(d, w) for d in r["CertificateDomains"] for w in wanted)]
        # The first is the one a connector with that FQDN selects [PS Get-ExchangeCertificate Example 4]:
        # valid before invalid, CA-issued before self-signed, then the newest (lab's ordering of that rule).
        rows.sort(key=lambda r: (str(r["Status"]) != "Valid", r["IsSelfSigned"], -r["NotBefore"].timestamp()))
    return rows


# --- Enable-ExchangeCertificate -----------------------------------------------------------------------------------

ENABLE = Signature(
    "Enable-ExchangeCertificate",
    (
        *BY_THUMBPRINT,
        Param("Services", SERVICES, mandatory=True),
        Param("DoNotRequireSsl", v.SWITCH),
        Param("Force", v.SWITCH),
        Param("NetworkServiceAllowed", v.SWITCH),
        Param("DomainController", v.FQDN),
    ),
    default_set="Thumbprint",
    should_process=True,
)


def _refuse_missing_roles(ctx: Context, entry: ServerEntry, services: int) -> None:
    """Services whose role the server lacks [SRC ExchangeCertificateServerHelper.EnableCertificate]: Federation
    is managed through federation trusts; UM needs the Unified Messaging service in TLS or Dual startup mode,
    and Exchange 2019 has no UM [PS Enable-ExchangeCertificate -Services]. The lab's UM services start in
    TCP mode, their default, and it has no Set-UMService. Lab wording after Exchange's string ids."""
    if services & FEDERATION:
        raise ctx.error("Don't use Enable-ExchangeCertificate to enable a certificate for Federation. Create or modify "
                        "a federation trust instead (New-FederationTrust, Set-FederationTrust).",
                        "InvalidOperationException", "InvalidArgument")
    um = services & (UM | UM_CALL_ROUTER)
    if not um or entry.is_edge:
        return
    if entry.spec.version.startswith("15.2."):
        raise ctx.error(f"The certificate can't be enabled for {EnumValue(ALLOWED_SERVICES, um)}: the service isn't "
                        f"installed on {entry.name} (Exchange 2019 has no Unified Messaging).",
                        "InvalidOperationException", "InvalidArgument")
    raise ctx.error(f"The certificate can't be enabled for {EnumValue(ALLOWED_SERVICES, um)} because the UMStartupMode "
                    "of the service is TCP. Set it to TLS or Dual first.", "InvalidOperationException", "InvalidOperation")


def enable(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry, thumb, store, stored = _addressed(ctx, bound)
    services = bound["Services"].number
    cert = certificate_of(stored).certificate
    if stored["pending"]:
        raise ctx.error(f"The certificate with thumbprint {thumb} is a pending request. Complete the request with "
                        "Import-ExchangeCertificate before you enable it.", "InvalidOperationException",
                        "InvalidOperation")  # lab wording
    _refuse_on_edge(ctx, entry, services)
    _refuse_missing_roles(ctx, entry, services)
    if (services or bound.get("NetworkServiceAllowed")) and stored["key"] is None:
        raise ctx.error(f"The certificate with thumbprint {thumb} has no private key, so it can't be enabled for "
                        f"{EnumValue(ALLOWED_SERVICES, services)}.", "InvalidOperationException", "InvalidOperation")
    if (services or bound.get("NetworkServiceAllowed")) and status(stored, cert, ctx.now) == "DateInvalid":
        raise ctx.error(f"The certificate with thumbprint {thumb} has expired or isn't valid yet.",
                        "InvalidOperationException", "InvalidOperation")  # lab wording
    if services & IIS and not bound.get("DoNotRequireSsl") and not store["root_require_ssl"]:
        # "Do you want to enforce SSL communication on the root web site? If not, rerun the cmdlet with the
        # -DoNotRequireSSL parameter." [cmdlets.md §2]: asked before anything changes.
        raise prompt_fails(ctx)
    if ctx.whatif:
        return []
    _enable_for(ctx, entry, store, stored, services, bool(bound.get("Force")), bool(bound.get("NetworkServiceAllowed")))
    _audited(ctx, entry, stored)
    return []


# --- New-ExchangeCertificate --------------------------------------------------------------------------------------

NEW = Signature(
    "New-ExchangeCertificate",
    (
        Param("GenerateRequest", v.SWITCH, sets=("Request",)),
        Param("BinaryEncoded", v.SWITCH, sets=("Request",)),
        Param("RequestFile", v.STRING, sets=("Request",)),  # Exchange 2013 only
        Param("Services", SERVICES, sets=("Certificate",)),
        Param("SubjectName", v.STRING),
        Param("DomainName", v.multi(v.SMTP_DOMAIN_SUB)),
        Param("FriendlyName", v.STRING),
        Param("KeySize", v.INT, check=_key_size),
        Param("PrivateKeyExportable", v.BOOL),
        Param("IncludeAcceptedDomains", v.SWITCH),
        Param("IncludeAutoDiscover", v.SWITCH),
        Param("IncludeServerFQDN", v.SWITCH),
        Param("IncludeServerNetBIOSName", v.SWITCH),
        Param("SubjectKeyIdentifier", v.STRING),
        Param("Server", SERVER_ID),
        Param("Force", v.SWITCH),
        Param("Instance", X509_INSTANCE),  # "deprecated and no longer used" [PS New-ExchangeCertificate]
        Param("DomainController", v.FQDN),
    ),
    default_set="Certificate",
    should_process=True,
)
MAX_FRIENDLY_NAME = 63  # "The value must be less than 64 characters" [PS]; FriendlyNameTooLong [SRC EnsureCreateDefaults]


def _names(ctx: Context, entry: ServerEntry, bound: dict[str, Any]) -> tuple[x509.Name, list[str]]:
    given = bound.get("SubjectName")
    try:
        subject = lab_x509.parse_name(given) if given is not None else lab_x509.parse_name(f"CN={entry.name}")
    except ValueError as exc:
        raise ctx.error(f"The SubjectName '{given}' isn't valid: {exc}", "ArgumentException", "InvalidArgument") from None
    includes = [bound.get(k) for k in ("IncludeAcceptedDomains", "IncludeAutoDiscover", "IncludeServerFQDN",
                                       "IncludeServerNetBIOSName")]
    if given is None and not bound.get("DomainName") and not any(includes):
        return subject, [entry.name, entry.spec.fqdn]  # the documented default SANs [cmdlets.md §2]
    domains: list[str] = []
    cn = lab_x509.common_name(subject)
    if cn and re.fullmatch(r"[A-Za-z0-9*][A-Za-z0-9.-]*", cn):  # the CN is added to the SANs [cmdlets.md §2]
        domains.append(cn)
    domains += list(bound.get("DomainName") or ())
    if bound.get("IncludeAcceptedDomains"):
        domains.append(ctx.domain)
    if bound.get("IncludeAutoDiscover"):
        domains.append(f"autodiscover.{ctx.domain}")
    if bound.get("IncludeServerFQDN"):
        domains.append(entry.spec.fqdn)
    if bound.get("IncludeServerNetBIOSName"):
        domains.append(entry.name)
    unique: list[str] = []
    for d in domains:
        if d.lower() not in (u.lower() for u in unique):
            unique.append(d)
    return subject, unique


def new(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry = ctx.one_server(bound["Server"]) if bound.get("Server") is not None else ctx.local
    if bound.get("RequestFile") is not None and not entry.spec.version.startswith("15.0."):
        # -RequestFile exists only in Exchange 2013 [cmdlets.md §2].
        raise errors.CmdletError("A parameter cannot be found that matches parameter name 'RequestFile'.",
                                 f"NamedParameterNotFound,{ctx.dotnet}", "InvalidArgument",
                                 "ParameterBindingException", ctx.cmdlet)
    store = server_store(ctx, entry)
    friendly = bound.get("FriendlyName") or DEFAULT_FRIENDLY_NAME
    if len(friendly) > MAX_FRIENDLY_NAME:
        raise ctx.error(f"The friendly name must be less than {MAX_FRIENDLY_NAME + 1} characters.", "ArgumentException",
                        "InvalidArgument")  # lab wording after Strings.FriendlyNameTooLong
    subject, domains = _names(ctx, entry, bound)
    size = bound.get("KeySize") or 2048
    exportable = bool(bound.get("PrivateKeyExportable", False))
    if ctx.whatif:
        return []
    key = lab_x509.new_key(size)
    if bound.get("GenerateRequest") or bound.get("BinaryEncoded") or bound.get("RequestFile") is not None:
        csr = lab_x509.request(subject, domains, key)
        # Exchange keeps the request with a placeholder certificate of the same key: that is the
        # thumbprint Get-ExchangeCertificate shows for the pending request.
        placeholder = lab_x509.issue(subject, domains, ctx.now, ctx.now + dt.timedelta(days=365), key=key)
        stored = new_stored(placeholder, friendly_name=friendly, exportable=exportable)
        stored.update(pending=True, request=base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode("ascii"))
        store["certs"].append(stored)
        ctx.changed = True
        _audited(ctx, entry, stored)
        text = lab_x509.request_text(csr)
        if bound.get("RequestFile") is not None:
            ctx.files[bound["RequestFile"]] = text.encode("ascii")
        if bound.get("BinaryEncoded"):
            return [{"FileData": csr.public_bytes(serialization.Encoding.DER)}]
        # The text request is a [string] on the pipeline: what a property select sees of it is Length.
        return [{"Length": len(text)}]
    default_services = SMTP if entry.is_edge else IMAP | POP | SMTP  # [cmdlets.md §2]; an Edge has no IMAP/POP
    services = bound["Services"].number if bound.get("Services") is not None else default_services
    _refuse_on_edge(ctx, entry, services)
    _refuse_missing_roles(ctx, entry, services)
    keyed = lab_x509.issue(subject, domains, ctx.now, ctx.now + FIVE_YEARS, key=key)
    # A new self-signed certificate shows RootCAType None [cmdlets.md §2 table].
    stored = new_stored(keyed, friendly_name=friendly, exportable=exportable, root_ca_type="None")
    store["certs"].append(stored)
    ctx.changed = True
    # CreateCertificate enables it for its services as Enable-ExchangeCertificate does [SRC EnableForServices].
    _enable_for(ctx, entry, store, stored, services, bool(bound.get("Force")))
    _audited(ctx, entry, stored)
    return [view(ctx, entry, stored)]


# --- Import-ExchangeCertificate ------------------------------------------------------------------------------------

IMPORT = Signature(
    "Import-ExchangeCertificate",
    (
        Param("FileData", BYTES, mandatory=True, sets=("FileData",)),
        # "deprecated and no longer used" [PS Import-ExchangeCertificate -Instance, String[]]: bound, then refused.
        Param("Instance", v.multi(v.STRING, "System.String[]"), mandatory=True, sets=("Instance",)),
        Param("Password", SECURE_STRING),
        Param("PrivateKeyExportable", v.BOOL),
        Param("FriendlyName", v.STRING),
        Param("Server", SERVER_ID),
        Param("DomainController", v.FQDN),
    ),
    default_set="FileData",
    should_process=True,
)


def import_(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    if bound.get("FileData") is None:  # -Instance: no longer used, so nothing to import (lab wording)
        raise ctx.error("The Instance parameter is deprecated and no longer used. Give the certificate's bytes with the "
                        "FileData parameter.", "ArgumentException", "InvalidArgument")
    entry = ctx.one_server(bound["Server"]) if bound.get("Server") is not None else ctx.local
    store = server_store(ctx, entry)
    password = bound["Password"].reveal() if bound.get("Password") is not None else None
    try:
        keyed, _chain = lab_x509.read_file_data(bound["FileData"], password)
    except lab_x509.CertificateDataError as exc:
        # X509Certificate2Collection.Import's CryptographicException, written by the task.
        raise ctx.error(str(exc), "CryptographicException", "InvalidOperation") from None
    finally:
        password = None  # noqa: F841  the text is not kept past the call
    thumb = lab_x509.thumbprint(keyed.certificate)
    for stored in store["certs"]:
        if not stored["pending"] and lab_x509.thumbprint(certificate_of(stored).certificate) == thumb:
            # Lab wording after Exchange's refusal to import a certificate the store already has.
            raise ctx.error(f"The certificate with thumbprint {thumb} already exists in the certificate store.",
                            "InvalidOperationException", "InvalidOperation")
    key_pem = keyed.key_pem
    friendly = bound.get("FriendlyName") or ""
    if key_pem is None:  # an issued certificate completes the pending request that holds its key
        public = keyed.certificate.public_key().public_numbers()
        for stored in list(store["certs"]):
            if stored["pending"] and certificate_of(stored).certificate.public_key().public_numbers() == public:
                key_pem = stored["key"].encode("ascii")
                friendly = friendly or stored["friendly_name"]
                store["certs"].remove(stored)
                break
    if ctx.whatif:
        return []
    exportable = bool(bound.get("PrivateKeyExportable", False)) and key_pem is not None
    self_signed = lab_x509.is_self_signed(keyed.certificate)
    stored = new_stored(lab_x509.KeyedCertificate(keyed.certificate, key_pem), friendly_name=friendly,
                     exportable=exportable, trusted=not self_signed)  # a foreign self-signed root is not trusted
    store["certs"].append(stored)
    ctx.changed = True
    _audited(ctx, entry, stored)
    return [view(ctx, entry, stored)]


# --- what exconf's program does instead of Import-ExchangeCertificate -------------------------------------------


class StoreImportError(Exception):
    """What .NET throws while exconf's program imports a PFX itself: the exception's type name and message."""

    def __init__(self, exception: str, message: str):
        super().__init__(message)
        self.exception = exception
        self.message = message


def add_pfx_to_my_store(ctx: Context, data: bytes, password: str, exportable: bool, friendly_name: str | None) -> str:
    """Import-Pfx of engine/remote/exconf.ps1 on this server: ``X509Certificate2(byte[], SecureString, MachineKeySet
    | PersistKeySet [| Exportable])`` (the PFX's certificate with a private key, else its first one: CLR FilterPFXStore;
    the same one read_file_data keeps for a PFX), refused when LocalMachine\\My has its thumbprint (as Exchange's own
    import refuses it, ExchangeCertificateServerHelper.ImportCertificate [SRC]), FriendlyName, ``X509Store.Add``.
    No cmdlet runs: nothing is written to the admin audit log. Returns the thumbprint."""
    store = server_store(ctx, ctx.local)
    try:
        keyed, _chain = lab_x509.read_file_data(data, password)
    except lab_x509.CertificateDataError as exc:
        raise StoreImportError("CryptographicException", str(exc)) from None
    finally:
        password = ""  # noqa: F841  the text is not kept past the call
    thumb = lab_x509.thumbprint(keyed.certificate)
    if any(not stored["pending"] and thumbprint_of(stored) == thumb for stored in store["certs"]):
        raise StoreImportError("InvalidOperationException",
                               f"The certificate with thumbprint {thumb} already exists in the certificate store.")
    store["certs"].append(new_stored(keyed, friendly_name=friendly_name or "", exportable=exportable and keyed.key_pem is not None,
                                     trusted=not lab_x509.is_self_signed(keyed.certificate)))
    ctx.changed = True
    return thumb


# --- Export-ExchangeCertificate ------------------------------------------------------------------------------------

EXPORT = Signature(
    "Export-ExchangeCertificate",
    (
        *BY_THUMBPRINT,
        Param("BinaryEncoded", v.SWITCH),
        Param("Password", SECURE_STRING),
        Param("DomainController", v.FQDN),
    ),
    default_set="Thumbprint",
    should_process=True,
)


def export(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    entry, thumb, store, stored = _addressed(ctx, bound)
    keyed = certificate_of(stored)
    if stored["pending"]:  # a pending request exports as its PKCS#10 [cmdlets.md §2]
        data = base64.b64decode(stored["request"])
        text = lab_x509.request_text(x509.load_der_x509_csr(data))
    elif keyed.key_pem is None:
        data = keyed.der
        text = base64.b64encode(data).decode("ascii")
    else:
        if not stored["exportable"]:
            # Needs PrivateKeyExportable True [cmdlets.md §2 Export]; lab wording.
            raise ctx.error(f"The private key of the certificate with thumbprint {thumb} isn't exportable, so the "
                            "certificate can't be exported with it.", "InvalidOperationException", "InvalidOperation")
        password = bound["Password"].reveal() if bound.get("Password") is not None else None
        data = lab_x509.pfx(stored["friendly_name"], keyed, password)
        password = None
        text = base64.b64encode(data).decode("ascii")
    if bound.get("BinaryEncoded"):
        return [{"FileData": data}]
    return [{"Length": len(text)}]  # a [string] on the pipeline (see New-ExchangeCertificate)


# --- Remove-ExchangeCertificate ------------------------------------------------------------------------------------

REMOVE = Signature(
    "Remove-ExchangeCertificate",
    (
        *BY_THUMBPRINT,
        Param("DomainController", v.FQDN),
    ),
    default_set="Thumbprint",
    should_process=True,
)


def remove(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    """RemoveCertificate [SRC ExchangeCertificateServerHelper]: never the internal transport certificate, nor one a
    send connector names by TlsCertificateName; an IIS binding to it is left as it is (IIS then has no
    certificate: Exchange does not check), as is the IMAP/POP name, which other certificates may carry."""
    entry, thumb, store, stored = _addressed(ctx, bound)
    if store["internal_transport"] == thumb:
        raise ctx.error(INTERNAL_TRANSPORT_REMOVE, "InvalidOperationException", "InvalidOperation")
    if not stored["pending"]:
        using = _send_connectors_naming(ctx, certificate_of(stored).certificate)
        if using:
            # Lab wording after Strings.CannotRemoveSendConnectorCertificate.
            raise ctx.error(f"The certificate with thumbprint {thumb} can't be removed because the send connectors "
                            f"{', '.join(using)} use it (TlsCertificateName).", "InvalidOperationException", "InvalidArgument")
    if bound.get("Confirm") is not False and not ctx.whatif:
        raise prompt_fails(ctx)  # "Are you sure you want to perform this action?" cannot be asked
    if ctx.whatif:
        return []
    store["certs"].remove(stored)
    ctx.changed = True
    _audited(ctx, entry, stored)
    return []


def _send_connectors_naming(ctx: Context, cert: x509.Certificate) -> list[str]:
    """IsSendConnectorUsingSMTPCertificate [SRC]: issuer and subject equal those of TlsCertificateName."""
    from . import send_connectors, stored as lab_stored

    wanted = f"<I>{lab_x509.dotnet_name(cert.issuer)}<S>{lab_x509.dotnet_name(cert.subject)}"
    return [c["Name"] for c in ctx.state.get(lab_stored.ORG, send_connectors.STORED.key) if c.get("TlsCertificateName") == wanted]
