"""ACME (RFC 8555) as an issuer, with the ``acme`` package certbot uses.

``begin`` logs on (an account key from the controller, or a new account for this apply), places an order for
the names of the server's request, and picks for each authorization that is not valid yet the challenge the
declaration says: HTTP-01 (the key authorization served by the server's IIS at
``/.well-known/acme-challenge/<token>``, RFC 8555 §8.3: the plan writes it through exconf's program and removes
it after) or DNS-01 (a TXT record ``_acme-challenge.<name>`` holding the base64url SHA-256 of the key
authorization, §8.4, written here by an RFC 2136 dynamic update with dnspython, TSIG-signed when a key is
declared, and deleted by ``finish`` or ``abandon``). ``finish`` answers the challenges, polls the
authorizations and finalizes the order with the same request (the order is for exactly its names), then
returns the issued chain as PKCS#7 DER.

Errors become IssuerError naming the ACME server and what it answered (RFC 7807 problem documents: type and
detail); a key, a key authorization or a TSIG secret is never in one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from exconf.controllerfiles import secret_from_ref
from exconf.regularfile import NotARegularFile, read_regular
from exconf.remote import SecretError

from .certificate_issuers import Challenge, IssuerError, IssuerSpec, Session

USER_AGENT = "exconf (acme-python)"


def _problem(spec: IssuerSpec, what: str, exc: BaseException) -> IssuerError:
    detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
    kind = getattr(exc, "typ", None) or getattr(exc, "code", None)
    return IssuerError(f"ACME server {spec.directory}: {what}: {detail}" + (f" ({kind})" if kind else ""))


class AcmeIssuer:
    """One declaration's ACME server, for one apply."""

    def __init__(self, spec: IssuerSpec):
        self.spec = spec

    # --- the account -----------------------------------------------------------------------------------

    def _client(self) -> Any:
        import josepy as jose
        import requests
        from acme import client, errors, messages

        key = self._account_key()
        jwk = jose.JWKRSA(key=key) if isinstance(key, rsa.RSAPrivateKey) else jose.JWKEC(key=key)
        alg = jose.RS256 if isinstance(key, rsa.RSAPrivateKey) else {256: jose.ES256, 384: jose.ES384, 521: jose.ES512}[key.curve.key_size]
        net = client.ClientNetwork(jwk, alg=alg, user_agent=USER_AGENT, timeout=min(45, self.spec.timeout_seconds))
        # requests takes a CA bundle's path where a bool is expected (the acme package types it bool)
        net.verify_ssl = self.spec.ca_bundle or True  # type: ignore[assignment]
        try:
            directory = client.ClientV2.get_directory(self.spec.directory, net)
            acme = client.ClientV2(directory, net)
            registration = messages.NewRegistration.from_data(email=self.spec.email or None, terms_of_service_agreed=True)
            try:
                acme.new_account(registration)
            except errors.ConflictError as exists:  # the key's account exists: use it (RFC 8555 §7.3.1)
                acme.query_registration(messages.RegistrationResource(body=messages.Registration(), uri=str(exists.location)))
        except (errors.Error, messages.Error, requests.RequestException, ValueError, KeyError) as exc:
            raise _problem(self.spec, "could not log on", exc) from None
        return acme

    def _account_key(self) -> Any:
        if not self.spec.account_key:
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)  # an account for this apply only
        try:
            raw = read_regular(self.spec.account_key, limit=1 << 20, what="the ACME account key")
            key = serialization.load_pem_private_key(raw, password=None)
        except NotARegularFile as exc:
            raise IssuerError(str(exc)) from None
        except (ValueError, TypeError):
            raise IssuerError(f"the ACME account key {self.spec.account_key} is not an unencrypted PEM private key") from None
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise IssuerError(f"the ACME account key {self.spec.account_key} is neither RSA nor EC")
        return key

    # --- begin, finish, abandon ------------------------------------------------------------------------

    def begin(self, request_der: bytes) -> Session:
        import requests
        from acme import challenges, errors, messages

        try:
            csr = x509.load_der_x509_csr(request_der)
        except ValueError:
            raise IssuerError("the server's request is not a PKCS#10 certificate request") from None
        acme = self._client()
        try:
            order = acme.new_order(csr.public_bytes(serialization.Encoding.PEM))
        except (errors.Error, messages.Error, requests.RequestException) as exc:
            raise _problem(self.spec, "refused the order", exc) from None
        wanted = challenges.HTTP01 if self.spec.http_files else challenges.DNS01
        answers: list[tuple[Any, Any, str, str]] = []  # (challenge body, response, name, validation)
        out: list[Challenge] = []
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue  # proved before (RFC 8555 §7.1.4: authorizations may be reused)
            name = authz.body.identifier.value
            body = next((c for c in authz.body.challenges if isinstance(c.chall, wanted)), None)
            if body is None:
                raise IssuerError(f"ACME server {self.spec.directory} offers no {self.spec.challenge} challenge for {name}")
            response, validation = body.response_and_validation(acme.net.key)
            answers.append((body, response, name, validation))
            if self.spec.http_files:
                out.append(Challenge(name, body.chall.encode("token"), validation))
        session = Session(self, tuple(out), {"acme": acme, "order": order, "answers": answers, "records": []})
        if not self.spec.http_files:
            try:
                for _, _, name, validation in answers:
                    self._txt(session, "add", name, validation)
            except IssuerError:
                self.abandon(session)
                raise
        return session

    def finish(self, session: Session) -> bytes:
        import requests
        from acme import errors, messages

        acme, order = session.state["acme"], session.state["order"]
        deadline = dt.datetime.now() + dt.timedelta(seconds=self.spec.timeout_seconds)
        try:
            for body, response, _, _ in session.state["answers"]:
                acme.answer_challenge(body, response)
            done = acme.poll_and_finalize(order, deadline)
        except errors.ValidationError as exc:
            failed = [f"{a.body.identifier.value}: " + "; ".join(f"{c.error.detail or c.error.typ}" for c in a.body.challenges if c.error)
                      for a in exc.failed_authzrs]
            raise IssuerError(f"ACME server {self.spec.directory} could not validate " + ", ".join(failed)) from None
        except errors.TimeoutError:
            raise IssuerError(f"ACME server {self.spec.directory} did not validate and sign within {self.spec.timeout_seconds} seconds") from None
        except (errors.Error, messages.Error, requests.RequestException) as exc:
            raise _problem(self.spec, "did not sign the request", exc) from None
        finally:
            self.abandon(session)
        try:
            chain = x509.load_pem_x509_certificates(done.fullchain_pem.encode("ascii"))
        except (ValueError, AttributeError):
            raise IssuerError(f"ACME server {self.spec.directory} returned no certificate chain") from None
        return pkcs7.serialize_certificates(chain, serialization.Encoding.DER)

    def abandon(self, session: Session) -> None:
        """Delete the TXT records this session added (best effort: a record left expires with its order)."""
        for name, validation in list(session.state.get("records", ())):
            try:
                self._txt(session, "delete", name, validation)
            except IssuerError:
                pass

    # --- RFC 2136 ----------------------------------------------------------------------------------------

    def _txt(self, session: Session, action: str, name: str, validation: str) -> None:
        import dns.exception
        import dns.name
        import dns.query
        import dns.rcode
        import dns.tsigkeyring
        import dns.update

        d = self.spec.dns
        assert d is not None
        keyring, keyname = None, None
        if d.tsig_secret is not None:
            try:
                secret = secret_from_ref(d.tsig_secret).reveal()
            except SecretError as exc:
                raise IssuerError(f"the TSIG secret of {d.describe()}: {exc}") from None
            try:
                keyring = dns.tsigkeyring.from_text({d.tsig_name: secret})
            except (ValueError, dns.exception.DNSException):
                raise IssuerError(f"the TSIG secret {d.tsig_secret.describe()} is not base64") from None
            finally:
                del secret
            keyname = dns.name.from_text(d.tsig_name)
        record = dns.name.from_text(f"_acme-challenge.{name.removeprefix('*.')}")
        update = dns.update.UpdateMessage(d.zone, keyring=keyring, keyname=keyname, keyalgorithm=d.tsig_algorithm + ".")
        if action == "add":
            update.add(record, 60, "TXT", f'"{validation}"')
        else:
            update.delete(record, "TXT", f'"{validation}"')
        try:
            answer = dns.query.tcp(update, d.server, port=d.port, timeout=10)
        except (OSError, dns.exception.DNSException) as exc:
            raise IssuerError(f"{d.describe()}: {type(exc).__name__}: {exc}") from None
        if answer.rcode() != dns.rcode.NOERROR:
            raise IssuerError(f"{d.describe()}: the server answered {dns.rcode.to_text(answer.rcode())} to the update of {record}")
        records = session.state["records"]
        if action == "add":
            records.append((name, validation))
        elif (name, validation) in records:
            records.remove((name, validation))
