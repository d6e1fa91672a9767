"""A connector's certificate declared by the certificate it names (modules/connector_certificates.py): which certificate a
reference resolves to (valid on the server's clock, the newest, or the one a certificate change of this plan leaves there), the
change it then follows, what is a problem of the declaration, and the rail that refuses a certificate whose names do not cover
the connector's FQDN."""

from __future__ import annotations

import datetime as dt

from exconf.model import Change, Desired, DesiredValue, ObservedObject, PropertyChange, Refusal
from exconf.modules.certificate_plan import CertWork
from exconf.modules.certificate_values import cert_from_answer
from exconf.modules.connector_certificates import Resolved, name_refusals, resolve
from exconf.values import CertificateRef
from exconf.yamlsource import Location

A, B = Location("group_vars/all.yaml", 3, 5), Location("host_vars/ex01.yaml", 7, 9)
NOW = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
STORE = "receive_connector.certificate"


def cert(thumb, subject="CN=mail.contoso.lab", names=("mail.contoso.lab",), after="2025-06-01T00:00:00Z", status="Valid", before="2025-01-01T00:00:00Z"):
    return {"Thumbprint": thumb, "Subject": subject, "Issuer": "CN=Unit CA", "CertificateDomains": list(names), "NotBefore": before, "NotAfter": after,
            "Status": status}


def stored(*certs):
    return tuple(ObservedObject(STORE, c["Thumbprint"], "", c) for c in certs)


def made(thumb_or_cert, host="ex01", kind="exchange_certificate", action="create", id_="ex01/exchange_certificate/new"):
    payload = CertWork(cert=cert_from_answer(thumb_or_cert)) if isinstance(thumb_or_cert, dict) else thumb_or_cert
    return Change(id_, host, kind, "new", "", action, (), "r", payload=payload)


def declared(ref, pattern="Default*", at=A, also=()):
    return Desired("receive_connector", pattern, (*also, DesiredValue("tls_certificate", ref, at)), at)


def run(desired, observed=(), planned=()):
    return resolve("receive_connectors", desired, observed, STORE, planned, "ex01", "EX01", NOW)


def name(c):
    return f"<I>CN=Unit CA<S>{c['Subject']}"


def test_the_newest_valid_certificate_the_reference_selects_on_the_servers_clock():
    old, new = cert("11" * 20, after="2025-04-01T00:00:00Z"), cert("22" * 20, after="2025-09-01T00:00:00Z")
    expired, later = cert("33" * 20, after="2025-02-28T00:00:00Z"), cert("44" * 20, before="2025-03-02T00:00:00Z", after="2026-01-01T00:00:00Z")
    revoked, other = cert("55" * 20, after="2026-01-01T00:00:00Z", status="Revoked"), cert("66" * 20, subject="CN=other", after="2027-01-01T00:00:00Z")
    keep = DesiredValue("protocol_logging_level", "Verbose", A)
    got = run((declared(CertificateRef(subject="CN=mail.contoso.lab"), also=(keep,)),), stored(expired, old, new, later, revoked, other))
    assert got == Resolved((declared(name(new), also=(keep,)),), (), {}, {("Default*", "tls_certificate"): cert_from_answer(new)})
    by_thumbprint = run((declared(CertificateRef(thumbprint="11" * 20)),), stored(old, new))
    assert by_thumbprint.desired == (declared(name(old)),) and by_thumbprint.names == {("Default*", "tls_certificate"): cert_from_answer(old)}


def test_a_certificate_this_plan_imports_on_the_host_wins_and_is_followed():
    there, coming = cert("11" * 20, after="2027-01-01T00:00:00Z"), cert("22" * 20, after="2025-05-01T00:00:00Z", before="2025-04-01T00:00:00Z")
    ignored = (made(coming, host="ex02", id_="ex02/exchange_certificate/new"), made(coming, kind="auth_certificate", id_="ex01/auth/x"),
               made(coming, action="delete", id_="ex01/delete"), made(None, id_="ex01/nothing"), made(CertWork(), id_="ex01/no-cert"))
    ref = (declared(CertificateRef(subject="CN=mail.contoso.lab")),)
    assert run(ref, stored(there), ignored) == Resolved((declared(name(there)),), (), {}, {("Default*", "tls_certificate"): cert_from_answer(there)})
    for action in ("create", "replace", "update"):
        got = run(ref, stored(there), (*ignored, made(coming, action=action, id_=f"ex01/{action}")))
        assert got == Resolved((declared(name(coming)),), (), {("Default*", "tls_certificate"): f"ex01/{action}"},
                               {("Default*", "tls_certificate"): cert_from_answer(coming)})
    # of two the plan makes, the one that lasts longer
    two = run(ref, (), (made(coming, id_="ex01/a"), made({**coming, "Thumbprint": "33" * 20, "NotAfter": "2025-07-01T00:00:00Z"}, id_="ex01/b")))
    assert two.after == {("Default*", "tls_certificate"): "ex01/b"}


def test_a_certificate_on_the_server_that_a_change_of_this_plan_binds_is_followed_too():
    there = cert("11" * 20)
    renamed = cert("11" * 20, subject="CN=renamed.contoso.lab")  # what the change leaves: the same certificate, named otherwise
    got = run((declared(CertificateRef(subject="CN=mail.contoso.lab")),), stored(there), (made(renamed, action="update", id_="ex01/bind"),))
    assert got.desired == (declared(name(there)),) and got.after == {("Default*", "tls_certificate"): "ex01/bind"}
    alone = run((declared(CertificateRef(subject="CN=mail.contoso.lab")),), stored(there), (made(cert("99" * 20, subject="CN=x")),))
    assert alone.after == {}


def test_a_reference_that_selects_nothing_is_a_problem_of_its_declaration_and_the_others_go_on():
    there = cert("11" * 20)
    first = declared(CertificateRef(subject="CN=nothing", domains=("a.contoso.lab",)), pattern="Client {server}", at=B)
    second = declared(CertificateRef(subject="CN=mail.contoso.lab"))
    got = run((first, second), stored(there))
    assert got.problems == (("Client {server}", B, "host_vars/ex01.yaml:7:9: receive_connectors: 'Client {server}' tls_certificate: match subject "
                                                  "'CN=nothing', domains ['a.contoso.lab'] selects no valid certificate on EX01, nor one this plan "
                                                  "imports or makes there"),)
    assert got.desired == (Desired("receive_connector", "Client {server}", (), B), declared(name(there)))
    assert run((first,), stored(cert("11" * 20, subject="CN=nothing", names=("a.contoso.lab",)))).problems == ()


def change(props=("tls_certificate",), name_="Default EX01"):
    return Change(f"ex01/receive_connector/{name_}", "ex01", "receive_connector", name_, "g", "update",
                  tuple(PropertyChange(p, "X", None, "v", "v", A) for p in props), "r")


def test_a_certificate_whose_names_cover_neither_the_connectors_fqdn_nor_its_tls_domain_is_refused():
    resolved = Resolved((), (), {}, {("Default*", "tls_certificate"): cert_from_answer(cert("11" * 20, names=("mail.contoso.lab", "*.contoso.lab"))),
                                     ("Other*", "tls_certificate"): cert_from_answer(cert("22" * 20, subject="O=x", names=()))})
    why = ("EX01: receive_connector 'Default EX01' would present CN=mail.contoso.lab (11111111), whose names (mail.contoso.lab, *.contoso.lab) do "
           "not cover its FQDN {}; Exchange offers a connector's certificate for the connector's FQDN")
    refuse = lambda observed, server="ex01.contoso.lab", ch=change(), declared="Default*": name_refusals(  # noqa: E731
        ch, resolved, observed, "ex01", server, "EX01", declared)
    assert refuse({"Fqdn": "smtp.fabrikam.lab"}) == [
        Refusal("connector-certificate-names", "ex01", why.format("smtp.fabrikam.lab"), "ex01/receive_connector/Default EX01")]
    assert refuse({"Fqdn": "", "TlsDomain": None}, server="ex01.fabrikam.lab") == [
        Refusal("connector-certificate-names", "ex01", why.format("ex01.fabrikam.lab"), "ex01/receive_connector/Default EX01")]
    assert refuse({"Fqdn": "smtp.contoso.lab"}) == [] and refuse({}) == [] and refuse({"Fqdn": "MAIL.contoso.lab."}) == []
    assert refuse({"Fqdn": "smtp.fabrikam.lab", "TlsDomain": "mail.contoso.lab"}) == []
    assert refuse({"Fqdn": "a.b.contoso.lab"})[0].message == why.format("a.b.contoso.lab")  # a wildcard covers one label
    assert refuse({"Fqdn": "smtp.fabrikam.lab"}, ch=change(props=("protocol_logging_level",))) == []  # the certificate is not changed
    assert refuse({"Fqdn": "smtp.fabrikam.lab"}, declared="Relay*") == []
    nameless = refuse({"Fqdn": "smtp.contoso.lab"}, declared="Other*")
    assert [r.message for r in nameless] == ["EX01: receive_connector 'Default EX01' would present O=x (22222222), whose names (none) do not cover its "
                                             "FQDN smtp.contoso.lab; Exchange offers a connector's certificate for the connector's FQDN"]


def test_a_match_selects_on_subject_names_and_issuer_together():
    there = cert("11" * 20, names=("mail.contoso.lab", "smtp.contoso.lab"))
    for ref in (CertificateRef(subject="CN=mail.contoso.lab", issuer="CN=Other CA"), CertificateRef(subject="CN=mail.contoso.lab", domains=("x.contoso.lab",)),
                CertificateRef(thumbprint="22" * 20)):
        assert run((declared(ref),), stored(there)).names == {}
    both = CertificateRef(subject="CN=mail.contoso.lab", issuer="CN=Unit CA", domains=("smtp.contoso.lab",))
    assert run((declared(both),), stored(there)).names == {("Default*", "tls_certificate"): cert_from_answer(there)}


def test_a_reference_that_selects_nothing_drops_only_itself_from_its_declaration():
    nothing = Desired("receive_connector", "Default*", (DesiredValue("tls_certificate", CertificateRef(subject="CN=nothing"), A),
                                                       DesiredValue("protocol_logging_level", "Verbose", B)), A)
    got = run((nothing,), stored(cert("11" * 20)))
    assert got.desired == (Desired("receive_connector", "Default*", (DesiredValue("protocol_logging_level", "Verbose", B),), A),)
    assert len(got.problems) == 1


def test_a_connector_without_a_tls_domain_is_judged_on_its_fqdn_alone():
    resolved = Resolved((), (), {}, {("Default*", "tls_certificate"): cert_from_answer(cert("11" * 20, subject="O=x", names=("xxxx",)))})
    assert len(name_refusals(change(), resolved, {"Fqdn": "smtp.contoso.lab"}, "ex01", "ex01.contoso.lab", "EX01", "Default*")) == 1
