"""A TLS failure says what is wrong with the server's certificate and which variable fixes it."""

from __future__ import annotations

import pytest

from exconf.transport import ConnectionSettings
from exconf.transport.winrm import tls_problem


def settings(ca: str | None = None) -> ConnectionSettings:
    return ConnectionSettings(host="edge01.dmz.contoso.com", port=5986, scheme="https", path="/wsman", auth="ntlm", user="u", password="p",
                              cert_validation=True, ca_trust_path=ca, message_encryption="auto", operation_timeout=20, read_timeout=30)


def requests_text(reason: str) -> str:
    """What requests says (urllib3 wraps OpenSSL's verify error twice)."""
    return ("HTTPSConnectionPool(host='edge01.dmz.contoso.com', port=5986): Max retries exceeded with url: /wsman (Caused by "
            f"SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {reason} (_ssl.c:1006)')))")


@pytest.mark.parametrize("reason", ["self-signed certificate in certificate chain", "unable to get local issuer certificate", "self-signed certificate"])
def test_an_untrusted_certificate_names_the_problem_and_ansible_winrm_ca_trust_path(reason: str) -> None:
    message = tls_problem(requests_text(reason), settings())
    assert message == (f"TLS failed: the server's certificate is not trusted ({reason}); "
                       "name the CA that issued it with ansible_winrm_ca_trust_path (a PEM file of CA certificates)")
    with_ca = tls_problem(requests_text(reason), settings("/etc/exconf/ca.pem"))
    assert with_ca.endswith(f"({reason}); the CA file /etc/exconf/ca.pem does not hold the CA that issued it; "
                            "name the file that does with ansible_winrm_ca_trust_path (a PEM file of CA certificates)")


def test_a_certificate_for_another_name_says_so_and_points_at_ansible_host() -> None:
    reason = "Hostname mismatch, certificate is not valid for 'edge01.dmz.contoso.com'."
    message = tls_problem(requests_text(reason), settings())
    assert f"is not for edge01.dmz.contoso.com ({reason})" in message and "ansible_host" in message


def test_an_expired_certificate_says_so() -> None:
    message = tls_problem(requests_text("certificate has expired"), settings())
    assert "out of its validity period (certificate has expired)" in message


def test_another_tls_failure_keeps_its_reason() -> None:
    assert tls_problem("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", settings()).startswith("TLS failed: ")
