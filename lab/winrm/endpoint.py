"""One lab server's WS-Management endpoint: HTTP semantics of ``POST /wsman``.

This is the part that decides, for one request on one connection, what a
Windows WinRM service would answer: 401 challenges, NTLM legs, refusing
unencrypted traffic, unsealing and sealing MS-WSMV encrypted messages, and
handing the SOAP to the shell resource. It knows nothing about sockets (see
``listener.py``), which keeps it testable with plain bytes.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from . import encryption, soap
from .auth import AuthPolicy, Authenticator, ConnectionAuth, Logon
from .shell import SHELL_URI, Backend, ShellResource
from .stats import POWERSHELL, WSMAN, ServerStats

if TYPE_CHECKING:
    from exconf.lab.exchange.store import ServerSpec
    from exconf.lab.kerberos import ServiceKey

log = logging.getLogger(__name__)

WSMAN_PATH = "/wsman"
POWERSHELL_PATH = "/powershell"
# Which listener serves which path: the WinRM service (HTTP.sys, 5985/5986) serves /wsman; IIS's
# Default Web Site (80/443 on a Mailbox server) serves Exchange's /PowerShell virtual directory.
SERVICE_PATHS = {"winrm": (WSMAN_PATH, WSMAN), "iis": (POWERSHELL_PATH, POWERSHELL)}


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class ServerEndpoint:
    """The WinRM service of one lab server (both its HTTP and HTTPS listeners)."""

    def __init__(self, spec: "ServerSpec", backend: Backend, credential_file: Path, powershell: Any = None,
                 service_key: "ServiceKey | None" = None, realm: str = ""):
        """``powershell``: a factory ``(spec, stats) -> resource`` of the server's /PowerShell, if it has one
        (then ``backend`` is the lab's store, which says what its PowerShell virtual directory accepts);
        ``service_key`` and ``realm``: the server's Kerberos keys."""
        self.spec = spec
        self._backend = backend
        # The server's clock, which dates its answers (the lab clock: `exconf lab clock advance` moves it).
        self.clock = getattr(backend, "clock_now", None)
        self.stats = ServerStats()
        self.auth = Authenticator(spec, credential_file, service_key=service_key, realm=realm)
        self.shells = ShellResource(spec, backend, self.stats)
        self.powershell = powershell(spec, self.stats) if powershell is not None else None
        # /PowerShell accepts what Exchange's PowerShell virtual directory accepts, read at each request:
        # Set-PowerShellVirtualDirectory changes it while the lab runs (AuthPolicy.powershell_vdir).
        self.powershell_auth = Authenticator(
            spec, credential_file, service_key=service_key, realm=realm,
            policy_source=lambda: _vdir_policy(spec, backend.powershell_vdir(spec)),  # type: ignore[attr-defined]
        ) if powershell is not None else None

    def new_connection(self, secure: bool, channel_bindings: bytes | None = None) -> ConnectionAuth:
        return ConnectionAuth(secure=secure, channel_bindings=channel_bindings)

    def handle(
        self, conn: ConnectionAuth, method: str, path: str, headers: Mapping[str, str], body: bytes, client_ip: str = "",
        service: str = "winrm",
    ) -> HttpResponse:
        """Answer one HTTP request received on ``conn`` by a listener of ``service`` (winrm or iis)."""
        served, endpoint = SERVICE_PATHS[service]
        if service == "iis" and method in ("GET", "HEAD") and path.split("?", 1)[0].rstrip("/").lower() != served:
            return self._web(path, conn.secure, method)
        if path.split("?", 1)[0].rstrip("/").lower() != served or (service == "iis" and self.powershell is None):
            return HttpResponse(404)  # HTTP.sys / IIS: nothing is served at this path
        if method != "POST":
            return HttpResponse(405, [("Allow", "POST")])
        self.stats.add(endpoint, requests=1, bytes_in=len(body))
        response = self._wsman(conn, headers, body, client_ip, endpoint)
        if self.spec.faults.delay_seconds > 0:
            time.sleep(self.spec.faults.delay_seconds)
        self.stats.add(endpoint, bytes_out=len(response.body))
        return response

    def _web(self, path: str, secure: bool, method: str) -> HttpResponse:
        """IIS's Default Web Site beyond /PowerShell: anonymous static files (an ACME HTTP-01 challenge), as the
        lab's Exchange keeps them (LabStore.web_request); 404 when the backend keeps none."""
        answer = getattr(self._backend, "web_request", None)
        if answer is None:
            return HttpResponse(404)
        status, body = answer(self.spec, path, secure)
        headers = [("Content-Type", "application/octet-stream")] if status == 200 else []
        return HttpResponse(status, headers, b"" if method == "HEAD" else body)

    # -- the WS-Man POST ------------------------------------------------------------

    def _wsman(self, conn: ConnectionAuth, headers: Mapping[str, str], body: bytes, client_ip: str,
               endpoint: str = WSMAN) -> HttpResponse:
        auth = self.powershell_auth if endpoint == POWERSHELL and self.powershell_auth is not None else self.auth
        authorization = headers.get("Authorization", "")
        principal: str | None = None
        logon: Logon | None = None
        mutual_token: bytes | None = None
        first_request = conn.requests == 0
        conn.requests += 1
        if authorization:
            scheme, _, param = authorization.partition(" ")
            if scheme.lower() in ("negotiate", "kerberos", "ntlm"):
                # A token is taken on any request, the connection's first included: "A client may initiate a
                # connection to the server with an "Authorization" header containing the initial token for the
                # server. This form will bypass the initial 401 error from the server" (RFC 4559 4.2); HTTP.sys
                # and IIS answer the bare 401 only when "an acceptable Authorization header has not been sent"
                # (MS-NTHT 2.2.1, MS-N2HT 2.2.1). So an NTLM NEGOTIATE on the first request gets the 401 with
                # the CHALLENGE (MS-NTHT 4.1), a Kerberos ticket gets the request served. A request whose logon
                # is not complete is never served: its body is dropped with the 401 that carries the next leg.
                if first_request and self.spec.faults.ignores_first_token:
                    return self._challenge(auth)  # fault: as if no token had been sent (Faults.ignores_first_token)
                outcome = auth.negotiate_step(conn, scheme, param)
                if outcome.status == "challenge":
                    value = f"{conn.scheme} {base64.b64encode(outcome.token or b'').decode()}"
                    return HttpResponse(401, [("WWW-Authenticate", value)])
                if outcome.status == "failed":
                    return self._refuse(outcome.reason, endpoint, scheme, outcome.token)
                principal, logon, mutual_token = conn.principal, conn.logon, outcome.token
            elif scheme.lower() == "basic":
                outcome = auth.basic(param, conn.secure)
                if outcome.status != "ok":
                    return self._refuse(outcome.reason, endpoint)
                principal = outcome.reason  # DOMAIN\user of the account
                logon = Logon(principal, "basic")
            else:
                return self._refuse(f"unsupported authentication scheme {scheme!r}", endpoint)
        elif conn.principal is not None:
            principal, logon = conn.principal, conn.logon
        else:
            return self._challenge(auth)  # the first, anonymous leg: not a failure

        extra: list[tuple[str, str]] = []
        if mutual_token:  # SPNEGO's final token (mechListMIC) rides on the 200
            extra.append(("WWW-Authenticate", f"{conn.scheme} {base64.b64encode(mutual_token).decode()}"))

        sealed = encryption.is_encrypted(headers.get("Content-Type", ""))
        if sealed:
            if conn.ctx is None or not conn.ctx.complete or conn.principal is None:
                return HttpResponse(400, extra)  # encrypted, but not with an NTLM context of this connection
            try:
                message = encryption.decrypt(body, conn.ctx)
            except encryption.EncryptionError as exc:
                log.info("%s: %s", self.spec.name, exc)
                return HttpResponse(400, extra)
        else:
            message = body
            if not message:
                # pywinrm's setup_encryption authenticates with an empty POST
                # and expects 200 with an empty body (winrm/transport.py).
                return HttpResponse(200, extra)
            if not conn.secure and not self.spec.winrm.allow_unencrypted:
                # Windows refuses a plain SOAP body over HTTP while
                # AllowUnencrypted is false with HTTP 500 and no SOAP fault
                # (pywinrm#129, pywinrm#208, cloudsoft/winrm4j#151,
                # rapid7/metasploit-framework#8900).
                return HttpResponse(500, extra)

        status, reply = self._dispatch(message, principal or "", client_ip, endpoint, logon)
        if sealed:
            return HttpResponse(
                status, [*extra, ("Content-Type", encryption.CONTENT_TYPE)], encryption.encrypt(reply, conn.ctx)
            )
        return HttpResponse(status, [*extra, ("Content-Type", soap.CONTENT_TYPE)], reply)

    def _dispatch(self, message: bytes, principal: str, client_ip: str, endpoint: str = WSMAN,
                  logon: Logon | None = None) -> tuple[int, bytes]:
        try:
            req = soap.parse_request(message)
        except soap.SoapError as exc:
            return 400, soap.fault_envelope(soap.invalid_body_fault(str(exc)), "", self.spec.fqdn)
        try:
            if endpoint == POWERSHELL:
                action, body = self.powershell.handle(req, principal, client_ip)
            elif req.resource_uri.rstrip("/").lower() != SHELL_URI:
                raise soap.resource_not_found_fault(req.resource_uri)
            else:
                action, body = self.shells.handle(req, principal, client_ip, logon)
        except soap.WSManFault as fault:
            return fault.http_status, soap.fault_envelope(fault, req.message_id, self.spec.fqdn)
        return 200, soap.envelope(action, req.message_id, body)

    def _challenge(self, auth: Authenticator | None = None) -> HttpResponse:
        return HttpResponse(401, [("WWW-Authenticate", offer) for offer in (auth or self.auth).challenges()])

    def _refuse(self, reason: str, endpoint: str = WSMAN, scheme: str = "", error_token: bytes | None = None) -> HttpResponse:
        self.stats.add(endpoint, auth_failures=1)
        auth = self.powershell_auth if endpoint == POWERSHELL and self.powershell_auth is not None else self.auth
        log.info("%s: authentication refused: %s", self.spec.name, reason)
        if error_token:
            # Kerberos answered with a KRB-ERROR (clock skew, channel bindings): send it back so the
            # client can tell why (RFC 4559 §5: the 401 may carry the final GSS-API token).
            return HttpResponse(401, [("WWW-Authenticate", f"{scheme} {base64.b64encode(error_token).decode()}")])
        return self._challenge(auth)

    def close(self) -> None:
        self.shells.close()
        if self.powershell is not None:
            self.powershell.close()


def _vdir_policy(spec: "ServerSpec", vdir: Any) -> AuthPolicy:
    """AuthPolicy of a Mailbox server's /PowerShell from its PowerShell virtual directory's settings."""
    return AuthPolicy.powershell_vdir(vdir.basic_authentication, vdir.windows_authentication, spec.fqdn)
