"""The organisation's AuthConfig: which certificate signs OAuth tokens (the Exchange Server Auth Certificate).

Get-AuthConfig and Set-AuthConfig [PS Get-AuthConfig, Set-AuthConfig]. The object holds the current, next and
previous certificates' thumbprints and the date the next one takes over (NextCertificateEffectiveDate). How
they move, after Microsoft's "Maintain (rotate) the Exchange Server Auth Certificate" (EXD plan-and-deploy/
integration-with-sharepoint-and-skype/maintain-oauth-certificate.md) and CSS-Exchange's
MonitorExchangeAuthCertificate (New-ExchangeAuthCertificate.ps1, the procedure it automates):

* ``-NewCertificateThumbprint T -NewCertificateEffectiveDate D`` stages T as the next certificate. T must be in
  the certificate store of the server the cmdlet runs on, with its private key (the cmdlet reads it there: the
  doc's procedure makes it with New-ExchangeCertificate on that server first); lab wording of the refusal.
* The AuthAdmin servicelet of MSExchangeServiceHost publishes the next certificate once its effective date is
  reached: it runs when the service starts and then every 12 hours ("if it detects that the
  NewCertificateEffectiveDate is reached, it then publishes the new Auth Certificate to make it the new active
  one"). The lab runs it lazily: whenever AuthConfig is read or changed, a next certificate whose effective date
  is at least 12 hours past is published (the latest a servicelet would have done it), and Restart-Service
  MSExchangeServiceHost runs it at once (windows_services.py).
* ``-PublishCertificate`` "immediately rolls over the certificate configured as the next certificate and makes it
  the current certificate. You must have installed a certificate marked as the next certificate." The current
  one becomes the previous one. ``-ClearPreviousCertificate`` clears the previous one.

The Auth certificate is used on every Mailbox server, so each must hold it ("What should I do if the new Auth
Certificate is missing on an Exchange server ...? You can export the certificate ... and import it"; HealthChecker's
AuthCertificateCheck reports one "not found on the server"): ``missing_on`` says where the current or next one is
not, what a test or ``lab exec`` can ask; the lab's IIS answers Outlook on the web and the admin centre with
HTTP 500 on a server that lacks the current one, as Exchange does when OAuth cannot sign ("Can't sign in to
Outlook on the web or EAC if Exchange Server OAuth certificate is expired or missing", KB 5000393 title).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import param_types as v
from . import stored
from .binder import Param, Signature
from .certificate_store import ORG_KEY, certificate_of, server_store, thumbprint_of
from .context import Context, lab_guid
from .spec import ServerEntry

SERVICELET_PERIOD = dt.timedelta(hours=12)


def _parse_date(text: str) -> str:
    """A System.DateTime as PowerShell converts a string (ISO 8601, or the invariant culture's M/d/yyyy)."""
    text = text.strip()
    for parse in (dt.datetime.fromisoformat, lambda t: dt.datetime.strptime(t, "%m/%d/%Y %H:%M:%S"),
                  lambda t: dt.datetime.strptime(t, "%m/%d/%Y")):
        try:
            moment = parse(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        return moment.astimezone(dt.timezone.utc).isoformat()
    raise ValueError("String was not recognized as a valid DateTime.")


DATE = v.ParsedString("System.DateTime", _parse_date)
SERVER_ID = v.id_param("ServerIdParameter")

GET = Signature("Get-AuthConfig", (Param("DomainController", v.FQDN),))
SET = Signature(
    "Set-AuthConfig",
    (
        Param("CertificateThumbprint", v.STRING, mandatory=True, sets=("CurrentCertificateParameter",)),
        Param("ClearPreviousCertificate", v.SWITCH, sets=("PublishAuthCertificateParameter",)),
        Param("PublishCertificate", v.SWITCH, sets=("PublishAuthCertificateParameter",)),
        Param("NewCertificateEffectiveDate", DATE, sets=("NewCertificateParameter",)),
        Param("NewCertificateThumbprint", v.STRING, sets=("NewCertificateParameter",)),
        Param("SkipImmediateCertificateDeployment", v.SWITCH, sets=("CurrentCertificateParameter", "NewCertificateParameter")),
        Param("Force", v.SWITCH, sets=("CurrentCertificateParameter", "PublishAuthCertificateParameter", "NewCertificateParameter")),
        Param("Server", SERVER_ID, sets=("CurrentCertificateParameter", "NewCertificateParameter")),
        Param("Realm", v.STRING, sets=("AuthConfigSettings",)),
        Param("ServiceName", v.STRING, sets=("AuthConfigSettings",)),
        Param("DomainController", v.FQDN),
    ),
    default_set="NewCertificateParameter",
    should_process=True,
)


def config(ctx: Context) -> dict[str, Any]:
    """The organisation's AuthConfig (lab state beside the Auth certificate), made from setup's certificate on
    first use; the servicelet's publication applied as of now."""
    first = ctx.org.mailbox_servers[0]
    server_store(ctx, first)  # setup makes the Auth certificate with the first store
    blob = ctx.state.get(stored.ORG, ORG_KEY)
    if "auth_config" not in blob:
        blob["auth_config"] = {"current": thumbprint_of(blob["auth"]), "next": "", "effective": None, "previous": "",
                               "realm": "", "service_name": "00000002-0000-0ff1-ce00-000000000000"}
        ctx.changed = True
    cfg = blob["auth_config"]
    servicelet(ctx, cfg, ctx.now - SERVICELET_PERIOD)
    return cfg


def servicelet(ctx: Context, cfg: dict[str, Any], until: dt.datetime) -> bool:
    """The AuthAdmin servicelet: publish the next certificate when its effective date is at or before ``until``."""
    if cfg["next"] and cfg["effective"] and dt.datetime.fromisoformat(cfg["effective"]) <= until:
        cfg["previous"], cfg["current"], cfg["next"], cfg["effective"] = cfg["current"], cfg["next"], "", None
        ctx.changed = True
        return True
    return False


def run_servicelet_now(ctx: Context) -> None:
    """MSExchangeServiceHost (re)started: "The servicelet is executed immediately"."""
    if ctx.org.mailbox_servers:
        servicelet(ctx, config(ctx), ctx.now)


def get(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    cfg = config(ctx)
    effective = dt.datetime.fromisoformat(cfg["effective"]) if cfg["effective"] else None
    dn = f"CN=Auth Configuration,{ctx.org_dn()}"
    out: dict[str, Any] = {
        "CurrentCertificateThumbprint": cfg["current"],
        "PreviousCertificateThumbprint": cfg["previous"],
        "NextCertificateThumbprint": cfg["next"],
        "NextCertificateEffectiveDate": effective,
        "ServiceName": cfg["service_name"],
        "Realm": cfg["realm"],
        # The properties and classes CSS-Exchange recorded (HealthChecker Tests/DataCollection/E16/Exchange/
        # GetAuthConfig.xml): no hybrid configuration here, so the deployment and issuer are empty.
        "DeploymentId": "",
        "IssuerIdentifier": "",
        "Name": "Auth Configuration",
    }
    out.update(ctx.common(identity="Auth Configuration", dn=dn, guid=lab_guid("authconfig", ctx.domain),
                          category="ms-Exch-Auth-Auth-Config", classes=("top", "container", "msExchContainer", "msExchAuthAuthConfig"),
                          created=ctx.state.created, changed=ctx.state.created))
    return [out]


def _local_certificate(ctx: Context, thumbprint: str) -> str:
    """The thumbprint, normalised, of a certificate with its private key on the server the cmdlet runs on."""
    thumb = "".join(thumbprint.split()).upper()
    store = server_store(ctx, ctx.local)
    for s in store["certs"]:
        if not s["pending"] and thumbprint_of(s) == thumb:
            if certificate_of(s).key_pem is None:
                raise ctx.error(f"The certificate with thumbprint {thumb} has no private key, so it can't sign tokens.",
                                "InvalidOperationException", "InvalidOperation")  # lab wording
            return thumb
    raise ctx.error(f"The certificate with thumbprint {thumb} was not found on {ctx.local.name}.",
                    "ManagementObjectNotFoundException", "ObjectNotFound")  # lab wording after Exchange's not-found


def set_(ctx: Context, bound: dict[str, Any]) -> list[dict[str, Any]]:
    cfg = config(ctx)
    if "CertificateThumbprint" in bound:
        thumb = _local_certificate(ctx, bound["CertificateThumbprint"])
        if not ctx.whatif and cfg["current"] != thumb:
            cfg["previous"], cfg["current"] = cfg["current"], thumb
            ctx.changed = True
        return []
    if bound.get("PublishCertificate") or bound.get("ClearPreviousCertificate"):
        if bound.get("PublishCertificate") and not cfg["next"]:
            raise ctx.error("There's no next certificate to publish. Set one with the NewCertificateThumbprint parameter first.",
                            "InvalidOperationException", "InvalidOperation")  # lab wording of "You must have installed ..."
        if ctx.whatif:
            return []
        if bound.get("PublishCertificate"):
            cfg["previous"], cfg["current"], cfg["next"], cfg["effective"] = cfg["current"], cfg["next"], "", None
            ctx.changed = True
        if bound.get("ClearPreviousCertificate") and cfg["previous"]:
            cfg["previous"] = ""
            ctx.changed = True
        return []
    if "NewCertificateThumbprint" in bound:
        thumb = _local_certificate(ctx, bound["NewCertificateThumbprint"])
        # Without a date the next certificate takes over at the servicelet's next run (lab choice: now).
        effective = bound.get("NewCertificateEffectiveDate") or ctx.now.astimezone(dt.timezone.utc).isoformat()
        if not ctx.whatif and (cfg["next"], cfg["effective"]) != (thumb, effective):
            cfg["next"], cfg["effective"] = thumb, effective
            ctx.changed = True
        return []
    for key, prop in (("Realm", "realm"), ("ServiceName", "service_name")):
        if key in bound and not ctx.whatif and cfg[prop] != (bound[key] or ""):
            cfg[prop] = bound[key] or ""
            ctx.changed = True
    return []


def missing_on(ctx: Context) -> dict[str, list[str]]:
    """Mailbox servers that lack the current or next Auth certificate: {"current": [...], "next": [...]}."""
    cfg = config(ctx)
    out: dict[str, list[str]] = {"current": [], "next": []}
    for entry in ctx.org.mailbox_servers:
        held = {thumbprint_of(s) for s in server_store(ctx, entry)["certs"] if not s["pending"]}
        for which in ("current", "next"):
            if cfg[which] and cfg[which] not in held:
                out[which].append(entry.name)
    return out


def holds_current(ctx: Context, entry: ServerEntry) -> bool:
    """Whether OAuth can sign on this Mailbox server: it holds the current Auth certificate."""
    cfg = config(ctx)
    return any(not s["pending"] and thumbprint_of(s) == cfg["current"] for s in server_store(ctx, entry)["certs"])


def signs_here(org_blob: dict[str, Any], store: dict[str, Any], now: dt.datetime) -> bool:
    """Whether Outlook on the web and the admin centre can sign in on a server (its IIS answers 500 otherwise): it
    holds the current Auth certificate, valid now. A server whose store was never made holds setup's."""
    cfg = org_blob.get("auth_config")
    current = cfg["current"] if cfg else (thumbprint_of(org_blob["auth"]) if "auth" in org_blob else "")
    if not store.get("certs"):
        return True  # not touched yet: a fresh install, which holds setup's Auth certificate
    for s in store["certs"]:
        if not s["pending"] and thumbprint_of(s) == current:
            cert = certificate_of(s).certificate
            return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
    return False
