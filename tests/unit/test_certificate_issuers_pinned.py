"""Issuer declarations (modules/certificate_issuers.py): what a declaration becomes, what the plan prints of it, and
every problem the schema cannot say, with its path and message."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from exconf.model import ControllerError, SecretRef
from exconf.modules.certificate_issuers import (CHALLENGES, ISSUER_KINDS, SCHEMA, TSIG_ALGORITHMS, Challenge, DnsUpdate, IssuerError, IssuerSpec,
                                                Session, issuer_problems, parse_issuer)

DIRECTORY = "https://acme.contoso.test/dir"


def acme(**more) -> dict:
    return {"acme": {"directory": DIRECTORY, "agree_tos": True, **more}}


# --- the values and what the plan prints ------------------------------------------------------------------------


def test_the_constants():
    assert ISSUER_KINDS == ("acme",)
    assert CHALLENGES == ("http-01", "dns-01")
    assert TSIG_ALGORITHMS == ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")
    assert issubclass(IssuerError, ControllerError)


def test_the_defaults_of_a_spec_and_of_a_dns_update():
    spec = IssuerSpec("acme", DIRECTORY)
    assert (spec.challenge, spec.email, spec.account_key, spec.ca_bundle, spec.dns, spec.timeout_seconds) == ("http-01", "", "", "", None, 120)
    d = DnsUpdate("ns1.contoso.test")
    assert (d.port, d.zone, d.tsig_name, d.tsig_algorithm, d.tsig_secret) == (53, "", "", "hmac-sha256", None)


def test_describe():
    assert IssuerSpec("acme", DIRECTORY).describe() == f"ACME {DIRECTORY} (http-01)"
    assert IssuerSpec("acme", DIRECTORY, challenge="dns-01").describe() == f"ACME {DIRECTORY} (dns-01)"
    assert DnsUpdate("ns1", 5353, "contoso.test").describe() == "RFC 2136 updates of zone contoso.test at ns1:5353"
    signed = DnsUpdate("ns1", 53, "contoso.test", "acme-key", "hmac-sha512", SecretRef("env", "TSIG"))
    assert signed.describe() == "RFC 2136 updates of zone contoso.test at ns1:53, TSIG key acme-key (hmac-sha512, secret from env TSIG)"


def test_http_files_only_for_http_01():
    assert IssuerSpec("acme", DIRECTORY).http_files is True
    assert IssuerSpec("acme", DIRECTORY, challenge="dns-01").http_files is False
    assert IssuerSpec("acme", DIRECTORY, challenge="HTTP-01").http_files is False


def test_a_session_never_prints_its_state():
    session = Session(issuer=None, state={"key": "very secret"})  # type: ignore[arg-type]
    assert session.challenges == ()
    assert "very secret" not in repr(session) and "state" not in repr(session)
    assert Session(issuer=None).state is None  # type: ignore[arg-type]
    assert Challenge("mail.contoso.test", "tok", "tok.thumb") == Challenge(name="mail.contoso.test", token="tok", content="tok.thumb")


# --- the schema -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    acme(),
    acme(email="a@b", challenge="dns-01", account_key="k", ca_bundle="c", timeout_seconds=10, dns={"server": "ns1", "zone": "z"}),
    acme(timeout_seconds=3600),
    acme(dns={"server": "s", "zone": "z", "tsig_name": "n", "tsig_algorithm": "hmac-sha1", "tsig_secret_env": "_A9", "tsig_secret_file": "f"}),
])
def test_the_schema_accepts(raw):
    jsonschema.validate(raw, SCHEMA)


@pytest.mark.parametrize("raw", [
    {},
    {"acme": {"directory": DIRECTORY, "agree_tos": True}, "adcs": {}},
    {"adcs": {}},
    {"acme": {"directory": DIRECTORY}},
    {"acme": {"agree_tos": True}},
    acme(agree_tos=False),
    {"acme": {"directory": "http://acme.contoso.test/dir", "agree_tos": True}},
    acme(extra=1),
    acme(email="ab"),
    acme(challenge="tls-alpn-01"),
    acme(account_key=""),
    acme(ca_bundle=""),
    acme(timeout_seconds=9),
    acme(timeout_seconds=3601),
    acme(timeout_seconds="60"),
    acme(dns={"server": "ns1"}),
    acme(dns={"zone": "z"}),
    acme(dns={"server": "", "zone": "z"}),
    acme(dns={"server": "s", "zone": ""}),
    acme(dns={"server": "s", "zone": "z", "other": 1}),
    acme(dns={"server": "s", "zone": "z", "tsig_name": ""}),
    acme(dns={"server": "s", "zone": "z", "tsig_algorithm": "hmac-md5"}),
    acme(dns={"server": "s", "zone": "z", "tsig_secret_env": "9A"}),
    acme(dns={"server": "s", "zone": "z", "tsig_secret_env": "A-B"}),
    acme(dns={"server": "s", "zone": "z", "tsig_secret_file": ""}),
])
def test_the_schema_refuses(raw):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, SCHEMA)


def test_the_schema_describes_each_field():
    props = SCHEMA["properties"]["acme"]["properties"]
    assert SCHEMA["description"] == "Who signs the request: acme (RFC 8555)."
    assert props["challenge"]["enum"] == ["http-01", "dns-01"]
    assert props["dns"]["properties"]["tsig_algorithm"]["enum"] == list(TSIG_ALGORITHMS)
    assert props["timeout_seconds"]["description"] == "How long validation and signing may take (default 120)."
    assert props["account_key"]["description"] == ("PEM private key of the ACME account (relative to the declaring file); without it, "
                                                   "a new account for each apply.")


# --- parse_issuer -----------------------------------------------------------------------------------------------


def test_parse_the_least_declaration(tmp_path):
    assert parse_issuer(acme(), tmp_path) == IssuerSpec("acme", DIRECTORY, "http-01", "", "", "", None, 120)
    assert parse_issuer(acme(email="", challenge="", timeout_seconds=0, account_key="", ca_bundle=""), tmp_path) == IssuerSpec("acme", DIRECTORY)


def test_parse_every_field_with_paths_resolved_against_the_declaring_file(tmp_path):
    base = tmp_path / "inv"
    raw = acme(email="hostmaster@contoso.test", challenge="dns-01", account_key="keys/../keys/acct.pem", ca_bundle=str(tmp_path / "ca.pem"),
               timeout_seconds=300, dns={"server": "ns1.contoso.test:5353", "zone": "contoso.test.", "tsig_name": "acme-key",
                                         "tsig_algorithm": "hmac-sha512", "tsig_secret_file": "tsig.key"})
    assert parse_issuer(raw, base) == IssuerSpec(
        "acme", DIRECTORY, "dns-01", "hostmaster@contoso.test", str(base / "keys" / "acct.pem"), str(tmp_path / "ca.pem"),
        DnsUpdate("ns1.contoso.test", 5353, "contoso.test", "acme-key", "hmac-sha512", SecretRef("file", str(base / "tsig.key"))), 300)


def test_parse_the_dns_server_and_its_port(tmp_path):
    def dns(server, **more):
        return parse_issuer(acme(challenge="dns-01", dns={"server": server, "zone": "contoso.test", **more}), tmp_path).dns

    assert dns("ns1") == DnsUpdate("ns1", 53, "contoso.test", "", "hmac-sha256", None)
    assert dns("ns1:53000") == DnsUpdate("ns1", 53000, "contoso.test")
    assert dns("ns1:dns") == DnsUpdate("ns1", 53, "contoso.test")  # refused by issuer_problems; parsed without a crash
    assert dns(":5353") == DnsUpdate(":5353", 5353, "contoso.test")
    assert dns("::1") == DnsUpdate("::1", 53, "contoso.test")  # an IPv6 address: its colons are no port
    assert dns("fd00::53", tsig_name="", tsig_algorithm="") == DnsUpdate("fd00::53", 53, "contoso.test", "", "hmac-sha256")
    assert dns("ns1", tsig_name="k", tsig_secret_env="TSIG_SECRET").tsig_secret == SecretRef("env", "TSIG_SECRET")
    assert dns("ns1", tsig_secret_env="E", tsig_secret_file="f").tsig_secret == SecretRef("env", "E")
    assert parse_issuer(acme(dns="ns1"), tmp_path).dns is None


def test_parse_an_absolute_path_as_it_is(tmp_path):
    key = tmp_path / "acct.pem"
    assert parse_issuer(acme(account_key=str(key)), Path("/elsewhere")).account_key == str(key)
    assert parse_issuer(acme(ca_bundle="ca/../ca.pem", account_key="k.pem"), tmp_path).ca_bundle == str(tmp_path / "ca.pem")


def test_parse_the_zone_without_its_final_dot_only():
    raw = acme(challenge="dns-01", dns={"server": "ns1", "zone": "CONTOSO.LUX."})
    assert parse_issuer(raw, Path("/")).dns.zone == "CONTOSO.LUX"


# --- issuer_problems --------------------------------------------------------------------------------------------


def test_no_problem_in_a_plain_declaration(tmp_path):
    assert issuer_problems(acme(), ["mail.contoso.test"], tmp_path) == []
    assert issuer_problems(acme(challenge="dns-01", dns={"server": "ns1:53", "zone": "z"}), ["*.contoso.test"], tmp_path) == []
    assert issuer_problems("acme", [], tmp_path) == []
    assert issuer_problems({"acme": "x"}, [], tmp_path) == []
    assert issuer_problems({}, [], tmp_path) == []


def test_dns_01_needs_dns(tmp_path):
    msg = "dns-01 needs dns: the server and zone its TXT records are written to (RFC 2136)"
    assert issuer_problems(acme(challenge="dns-01"), [], tmp_path) == [(("acme", "challenge"), msg)]
    assert issuer_problems(acme(challenge="dns-01", dns="ns1"), [], tmp_path) == [(("acme", "challenge"), msg)]


def test_dns_with_http_01(tmp_path):
    msg = "dns applies to challenge dns-01; this issuer proves the names with http-01"
    assert issuer_problems(acme(dns={"server": "ns1", "zone": "z"}), [], tmp_path) == [(("acme", "dns"), msg)]
    assert issuer_problems(acme(challenge="", dns="x"), [], tmp_path) == [(("acme", "dns"), msg)]


def test_a_wildcard_needs_dns_01(tmp_path):
    msg = "*.contoso.test: a wildcard name is proved only with dns-01 (RFC 8555 §7.1.3)"
    assert issuer_problems(acme(), ["mail.contoso.test", "*.contoso.test", "*.fabrikam.test"], tmp_path) == [(("acme", "challenge"), msg)]
    assert issuer_problems(acme(), ["a*.contoso.test"], tmp_path) == []


def test_the_tsig_secret(tmp_path):
    def problems(**dns):
        return issuer_problems(acme(challenge="dns-01", dns={"server": "ns1", "zone": "z", **dns}), [], tmp_path)

    assert problems(tsig_name="k", tsig_secret_env="E") == []
    assert problems(tsig_name="k", tsig_secret_env="E", tsig_secret_file="f") == [
        (("acme", "dns"), "give the TSIG secret as one of tsig_secret_env or tsig_secret_file")]
    assert problems(tsig_secret_file="f") == [(("acme", "dns", "tsig_secret_file"), "a TSIG secret needs tsig_name, the key's name")]
    assert problems(tsig_secret_env="E", tsig_secret_file="f") == [
        (("acme", "dns"), "give the TSIG secret as one of tsig_secret_env or tsig_secret_file"),
        (("acme", "dns", "tsig_secret_env"), "a TSIG secret needs tsig_name, the key's name")]
    assert problems(tsig_name="k") == []


def test_the_dns_server_port(tmp_path):
    def problems(server):
        return issuer_problems(acme(challenge="dns-01", dns={"server": server, "zone": "z"}), [], tmp_path)

    assert problems("ns1:dns") == [(("acme", "dns", "server"), "'ns1:dns': the port after ':' is not a number")]
    assert problems("ns1:") == [(("acme", "dns", "server"), "'ns1:': the port after ':' is not a number")]
    assert problems("ns1:53") == [] and problems("fd00::x") == [] and problems("ns1") == []
    assert issuer_problems(acme(challenge="dns-01", dns={"zone": "z"}), [], tmp_path) == []


def test_the_account_key_and_ca_bundle_must_be_regular_files(tmp_path):
    (tmp_path / "acct.pem").write_text("key")
    (tmp_path / "dir").mkdir()
    assert issuer_problems(acme(account_key="acct.pem"), [], tmp_path) == []
    assert issuer_problems(acme(account_key="missing.pem", ca_bundle="dir"), [], tmp_path) == [
        (("acme", "account_key"), f"cannot read the account key {tmp_path / 'missing.pem'}: No such file or directory"),
        (("acme", "ca_bundle"), f"the ca bundle {tmp_path / 'dir'} is a folder, not a regular file")]
    (tmp_path / "big.pem").write_bytes(b"x" * ((1 << 20) + 1))
    (tmp_path / "full.pem").write_bytes(b"x" * (1 << 20))
    assert issuer_problems(acme(ca_bundle="full.pem"), [], tmp_path) == []
    [(path, message)] = issuer_problems(acme(ca_bundle="big.pem"), [], tmp_path)
    assert path == ("acme", "ca_bundle") and message.startswith(f"the ca bundle {tmp_path / 'big.pem'} is larger than ")


def test_every_problem_at_once_in_order(tmp_path):
    raw = acme(challenge="http-01", dns={"server": "ns1:x", "zone": "z", "tsig_secret_env": "E", "tsig_secret_file": "f"}, account_key="none")
    assert [p for p, _ in issuer_problems(raw, ["*.contoso.test"], tmp_path)] == [
        ("acme", "dns"), ("acme", "challenge"), ("acme", "dns"), ("acme", "dns", "tsig_secret_env"), ("acme", "dns", "server"), ("acme", "account_key")]
