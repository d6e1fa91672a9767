"""Import-ExchangeCertificate's reading of -FileData is the same on every read of the same file.

lab/exchange/x509.read_file_data remembers a file it opened (a fleet imports one PFX on every server);
what it answers must not depend on that: the right password opens the file each time, a wrong or
missing one fails each time, and a remembered answer cannot be changed by its caller.
"""

from __future__ import annotations

import pytest

from exconf.lab.exchange import x509 as lab_x509

from .certificate_helpers import PublicCA, ca, thumbprint  # noqa: F401  (ca is a fixture)


def test_the_same_pfx_opens_each_time_and_a_wrong_or_missing_password_fails_each_time(ca: PublicCA):
    data, cert = ca.pfx("mail.contoso.lab", ["mail.contoso.lab"], password="Right-1")
    for _ in range(2):
        keyed, chain = lab_x509.read_file_data(data, "Right-1")
        assert thumbprint(keyed.certificate) == thumbprint(cert) and keyed.key_pem is not None
        assert [c.subject for c in chain] == [ca.cert.subject]
        chain.clear()  # the caller's list, not the remembered one
        for wrong in ("Wrong-1", None, "right-1"):
            with pytest.raises(lab_x509.CertificateDataError) as raised:
                lab_x509.read_file_data(data, wrong)
            assert raised.value.wrong_password
            assert str(raised.value) == lab_x509.WRONG_PASSWORD


def test_another_file_with_the_same_password_is_read_for_itself(ca: PublicCA):
    first, cert1 = ca.pfx("a.contoso.lab", ["a.contoso.lab"], password="Same-1")
    second, cert2 = ca.pfx("b.contoso.lab", ["b.contoso.lab"], password="Same-1")
    assert thumbprint(lab_x509.read_file_data(first, "Same-1")[0].certificate) == thumbprint(cert1)
    assert thumbprint(lab_x509.read_file_data(second, "Same-1")[0].certificate) == thumbprint(cert2)
    assert thumbprint(lab_x509.read_file_data(first, "Same-1")[0].certificate) == thumbprint(cert1)
