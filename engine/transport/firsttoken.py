"""HTTP authentication that sends its first token with the connection's first request.

RFC 4559 4.2: "A client may initiate a connection to the server with an "Authorization" header
containing the initial token for the server. This form will bypass the initial 401 error from the
server when the client knows that the server will accept the Negotiate HTTP authentication type."
MS-NTHT 2.2.1 and MS-N2HT 2.2.1 (NTLM and Negotiate over HTTP) have the server answer with a bare
401 only when "an acceptable Authorization header has not been sent". Windows' own WinRM client and
``curl --ntlm`` start so. The stock clients (pypsrp's ``HTTPNegotiateAuth``, requests_ntlm's
``HttpNtlmAuth``) first send the request without credentials to be told 401: one request per logon
that changes nothing. These subclasses keep the stock contexts (pyspnego, with the same credentials,
SPN, delegation flag and MS-WSMV wrapping) and only move the first token forward:

* NTLM: NEGOTIATE with the first request, AUTHENTICATE with the second (2 requests, was 3);
* Kerberos: the ticket with the first request (1 request, was 2).

The token goes under ``Negotiate``: WinRM's service and Exchange's /PowerShell both offer it, and it
is the scheme the stock clients choose from their 401s (so MS-WSMV sealing keeps its SPNEGO protocol).

Over https, channel binding (RFC 5929) hashes the certificate the server presented on this
connection. NTLM carries it in AUTHENTICATE, the second leg, which is made from the 401's socket as
the stock clients do; Kerberos (and Negotiate, which may choose Kerberos) carries it in the first
token, before any answer: there the stock exchange is kept.

A server that answers the first token with a 401 carrying no token of ours did not take it (a
mechanism it does not accept, something in between that drops the header): from that 401 on the
stock exchange runs, exactly as if it had been the anonymous one, so such a server still logs on
(one request more than before) and a refusal reads as before.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlparse

import requests
import spnego
import spnego.channel_bindings
from pypsrp.negotiate import HTTPNegotiateAuth
from requests_ntlm import HttpNtlmAuth
from requests_ntlm.requests_ntlm import ShimSessionSecurity

SCHEME = "Negotiate"


def _offered_token(response: requests.Response, scheme: str = SCHEME) -> bytes | None:
    """The token of ``scheme`` in a response's WWW-Authenticate (several headers arrive joined by commas)."""
    prefix = scheme.lower() + " "
    for value in response.headers.get("www-authenticate", "").split(","):
        value = value.strip()
        if value.lower().startswith(prefix) and value[len(prefix):].strip():
            try:
                return base64.b64decode(value[len(prefix):].strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
    return None


def _release(response: requests.Response) -> None:
    """Read the answer and give its connection back, so the next leg goes on the same one (the stock clients' way)."""
    response.content  # noqa: B018 - reading the body is the point
    response.raw.release_conn()


class FirstTokenNegotiateAuth(HTTPNegotiateAuth):
    """pypsrp's Negotiate/Kerberos/NTLM auth with the first token on the first request (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._opening: dict[str, Any] = {}  # host -> the context whose first token is on its way
        self.fallbacks = 0  # first tokens a server did not take (then the stock exchange ran)

    def first_token(self, url: str) -> bool:
        """Whether the first token can go before the server has answered: over http always; over https only
        for NTLM, whose channel binding goes in its second message (see the module)."""
        return url.lower().startswith("http://") or self.auth_provider == "ntlm"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request = super().__call__(request)
        host = urlparse(request.url or "").hostname or ""
        if host not in self.contexts and self.first_token(request.url or ""):
            context = self._client(host, None)
            self._set_auth_token(request, context.step(), SCHEME)
            self._opening[host] = context
        return request

    def _client(self, host: str, cbt: Any) -> Any:
        """The context pypsrp's ``handle_401`` makes, with the same settings."""
        context_req = spnego.ContextReq.default
        if self.delegate:
            context_req |= spnego.ContextReq.delegate
        return spnego.client(
            self.username, self.password, hostname=self.hostname_override or host or "unspecified", service=self.service,
            channel_bindings=cbt, context_req=context_req, protocol=self.auth_provider,
            options=spnego.NegotiateOptions.wrapping_winrm if self.wrap_required else spnego.NegotiateOptions.none,
        )

    def response_hook(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        host = urlparse(response.url).hostname or ""
        context = self._opening.pop(host, None)
        if context is None:
            return super().response_hook(response, **kwargs)
        in_token = _offered_token(response)
        if response.status_code == 401 and not in_token:
            self.fallbacks += 1
            return super().response_hook(response, **kwargs)  # not taken: the stock exchange from this 401
        if not in_token:
            return response  # answered without a word of authentication: as the stock client, no context is kept
        return self._go_on(context, host, response, in_token, kwargs)

    def _go_on(self, context: Any, host: str, response: requests.Response, in_token: bytes,
               kwargs: dict[str, Any]) -> requests.Response:
        """pypsrp's ``handle_401`` loop, from the answer to the first token on."""
        cbt = None
        if self.send_cbt:
            app_data = self._get_cbt_data(response)
            if app_data:
                cbt = spnego.channel_bindings.GssChannelBindings(application_data=app_data)
        out_token = context.step(in_token, channel_bindings=cbt)
        while out_token is not None:
            _release(response)
            request = response.request.copy()
            self._set_auth_token(request, out_token, SCHEME)
            response = response.connection.send(request, **kwargs)  # requests sets it
            in_token = self._get_auth_token(response, self._regex)
            if in_token in (None, b""):
                break
            out_token = context.step(in_token, channel_bindings=cbt)
        context.response_auth_header = SCHEME.lower()  # what pypsrp's message encryption reads
        self.contexts[host] = context
        return response


class FirstTokenNtlmAuth(HttpNtlmAuth):
    """requests_ntlm's NTLM auth (pywinrm's, pass-the-hash included) with NEGOTIATE on the first request."""

    def __init__(self, username: str | None, password: str | None, send_cbt: bool = True) -> None:
        super().__init__(username, password, send_cbt=send_cbt)
        self._opening: Any = None  # the client whose NEGOTIATE is on its way
        self.fallbacks = 0

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r = super().__call__(r)
        if self.session_security is None:
            self._opening = self._client(urlparse(r.url or "").hostname or "unspecified")
            r.headers["Authorization"] = f"{SCHEME} {base64.b64encode(self._opening.step() or b'').decode()}"
        return r

    def _client(self, host: str) -> Any:
        """The context requests_ntlm's ``retry_using_http_NTLM_auth`` makes (channel bindings come with AUTHENTICATE)."""
        options = spnego.NegotiateOptions.use_ntlm if self.username and self.password else spnego.NegotiateOptions.none
        return spnego.client(self.username, self.password, protocol="ntlm", hostname=host, service="http", options=options)

    def response_hook(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        client, self._opening = self._opening, None
        if client is None or r.status_code != 401:
            return super().response_hook(r, **kwargs)
        challenge = _offered_token(r)
        if not challenge:
            self.fallbacks += 1
            r.request.headers.pop("Authorization", None)  # the stock exchange from this 401, as after an anonymous one
            return super().response_hook(r, **kwargs)
        hashed = self._get_server_cert(r)
        cbt = (spnego.channel_bindings.GssChannelBindings(application_data=b"tls-server-end-point:" + hashed)
               if hashed else None)
        authenticate = client.step(challenge, channel_bindings=cbt)
        _release(r)
        request = r.request.copy()
        if r.headers.get("set-cookie"):
            request.headers["Cookie"] = r.headers["set-cookie"]  # as requests_ntlm does
        request.headers["Authorization"] = f"{SCHEME} {base64.b64encode(authenticate or b'').decode()}"
        final = r.connection.send(request, **kwargs)  # requests sets it
        final.history.append(r)
        self.session_security = ShimSessionSecurity(client)
        return final
