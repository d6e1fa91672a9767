"""X.500 names as .NET prints them (modules/certificate_names.py), pinned down: how a written name splits into relative
names, which keys become which CryptoAPI short key, when a value is quoted, and when a text is not a name at all (then it is
left as written: an issuer pattern such as ``*DigiCert*``)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from exconf.modules import certificate_names as names


@pytest.mark.parametrize("text, parts", [
    ("CN=a, O=b", [[("CN", "a")], [("O", "b")]]),
    ("CN=a;O=b", [[("CN", "a")], [("O", "b")]]),
    ("CN=a+OU=b", [[("CN", "a"), ("OU", "b")]]),
    ('CN="a"+O=b', [[("CN", "a"), ("O", "b")]]),
    ('CN="a, b"', [[("CN", "a, b")]]),
    ('CN="a ""q"" b"', [[("CN", 'a "q" b')]]),
    ('CN=" a"""', [[("CN", ' a"')]]),
    ("CN=a\\,b", [[("CN", "a,b")]]),
    ('CN=" x "', [[("CN", " x ")]]),  # quoted: kept as it is
    (" CN = a ", [[("CN", "a")]]),  # unquoted: trimmed
    ('CN="a"  , O=b', [[("CN", "a")], [("O", "b")]]),
    ('CN= "a"', [[("CN", "a")]]),
    ('CN=""', [[("CN", "")]]),
    ("CN=a=b", [[("CN", "a=b")]]),
    ('CN=x"y', [[("CN", 'x"y')]]),  # a quote inside a value is a character of it
    ("CN=a\\", [[("CN", "a\\")]]),  # a backslash at the end escapes nothing
    ("C\\N=a", [[("C\\N", "a")]]),  # nor one in a key
    ('CN="a" x', None),  # text after a closing quote
    ('CN="unterminated', None),
    ('CN=a, O="b', None),
    ("CN", None),
    ("=a", None),
    ("CN=a,,O=b", None),
    ("CN=a,", None),
    ("CN=a+", None),
    ("", None),
])
def test_a_written_name_splits_into_its_relative_names_or_is_none(text, parts):
    assert names.split(text) == parts


@pytest.mark.parametrize("written, shown", [
    ("XX=a", "XX=a"),  # a key CryptoAPI has no name for, not an OID: not a name
    ("OID.2.5.4.3=a", "CN=a"),
    ("oid.2.5.4.10=x", "O=x"),
    ("2.5.4.3=a", "CN=a"),
    ("OID.1.2.3=x", "OID.1.2.3=x"),
    ("1.2.3=x", "OID.1.2.3=x"),
    ("1=x", "1=x"),
    ("OID.=x", "OID.=x"),
    ("1.a=x", "1.a=x"),
    ("emailAddress=a@b", "E=a@b"),
    ("Email=a@b", "E=a@b"),
    ("st=NH, s=NH", "S=NH, S=NH"),
    ("street=x, T=y, title=y, G=z, givenname=z, I=i, initials=i, SN=s, DC=d, SERIALNUMBER=1, PostalCode=9, UID=u, L=l, OU=o, C=NL",
     "STREET=x, T=y, T=y, G=z, G=z, I=i, I=i, SN=s, DC=d, SERIALNUMBER=1, PostalCode=9, UID=u, L=l, OU=o, C=NL"),
    ("CN=a+b", "CN=a+b"),
    ("CN=", 'CN=""'),
    ("CN= a", "CN=a"),
    ('CN=a\\"b', 'CN="a""b"'),
    ("CN=a;b", "CN=a;b"),
    ("cn=a + ou=b; o=c", "CN=a + OU=b, O=c"),
])
def test_keys_and_values_take_the_form_dotnet_prints(written, shown):
    assert names.canonical(written) == shown


@pytest.mark.parametrize("value, quoted", [
    ("plain", "plain"), ("two words", "two words"), ("", '""'), (" lead", '" lead"'), ("trail ", '"trail "'),
    *[(f"a{c}b", f'"a{c}b"') for c in ",+=\r\n<>#;"], ('a"b', '"a""b"'),
])
def test_a_value_is_quoted_when_it_holds_a_special_character_or_edge_spaces(value, quoted):
    assert names.quote(value) == quoted


def test_a_name_read_from_a_certificate_is_printed_last_relative_name_first():
    name = x509.Name([
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "NL")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Noord-Holland")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso, Ltd"),
                                        x509.NameAttribute(ObjectIdentifier("2.5.4.97"), "VAT-1")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com")]),
    ])
    assert names.dotnet_name(name) == 'CN=mail.contoso.com, O="Contoso, Ltd" + OID.2.5.4.97=VAT-1, S=Noord-Holland, C=NL'
    assert names.key_of(NameOID.EMAIL_ADDRESS) == "E" and names.key_of(ObjectIdentifier("1.2.3.4")) == "OID.1.2.3.4"


def test_two_written_names_are_the_same_name_whatever_their_case_separators_and_keys():
    assert names.same("CN=Mail, O=Contoso, ST=NH", "cn=mail;o=contoso;s=nh")
    assert not names.same("CN=a, O=b", "O=b, CN=a")  # the order is part of the name
    assert not names.same("CN=a", "CN=b")
    assert names.same("*DigiCert*", "*digicert*")


@pytest.mark.parametrize("text, parts", [
    ("CN=a, O=b", ["CN=a", "O=b"]),
    ('CN="a, b", O=c', ['CN="a, b"', "O=c"]),
    ("cn=a+ou=b; o=c", ["CN=a + OU=b", "O=c"]),
    ("a, b", ["a", "b"]),  # not a name: split at commas
    (" , x ,", ["x"]),
])
def test_each_relative_name_in_dotnet_form(text, parts):
    assert names.relative_names(text) == parts
