"""TlsCertificateName declared by the certificate it names, over real WinRM against the lab: planned after the
certificate the same plan makes, applied, true across a renewal with no change, drift when changed by hand, and
refused where the server lacks the certificate or its names do not cover the connector's FQDN."""

from __future__ import annotations

import json

import pytest

from .test_certificates import inventory_text, run

SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "certificates": [
        {"subject": "CN=relay.contoso.lab", "domains": ["relay.contoso.lab", "ex01.contoso.lab"], "issuer": "self",
         "not_before": "-1800d", "not_after": "+10d", "services": "SMTP"},
        {"subject": "CN=partner.contoso.lab, O=Contoso", "domains": ["partner.contoso.lab"]},
    ]},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam"},
]

BOUND = """\
        certificates:
          - match: {subject: "CN=relay.contoso.lab"}
            services: [SMTP]
            renew: {within_days: 30}
        receive_connectors:
          "Default Frontend {server}":
            tls_certificate: {match: {subject: "CN=relay.contoso.lab"}}
            require_tls: false
"""


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


def tls_name(lab) -> str | None:
    return lab.exec("EX01", "Get-ReceiveConnector", Identity="EX01\\Default Frontend EX01")[0]["TlsCertificateName"]


def test_a_connector_certificate_is_planned_after_the_renewal_applied_and_kept_true(lab, capsys):
    inv = lab.inventory(inventory_text({"ex01": BOUND, "edge01": ""}))
    code, out, err = run(capsys, "plan", str(inv), "--json")
    assert code == 0, out + err
    doc = json.loads(out)
    (cert,) = [c for c in doc["changes"] if c["resource"] == "exchange_certificate"]
    (conn,) = [c for c in doc["changes"] if c["resource"] == "receive_connector"]
    assert cert["action"] == "replace" and conn["properties"]["tls_certificate"]["after"] == "<I>CN=relay.contoso.lab<S>CN=relay.contoso.lab"
    # The connector's Set runs after the certificate's replacement, in the same round trip on EX01.
    cert_ops = [o["id"] for o in cert["operations"]]
    conn_op = conn["operations"][0]
    assert set(cert_ops) <= set(conn_op["needs"])
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0 and "2 of 2 changes made and verified" in out, out + err
    assert tls_name(lab) == "<I>CN=relay.contoso.lab<S>CN=relay.contoso.lab"
    # The renewed certificate has the issuer and subject of the old one: nothing to change.
    code, out, err = run(capsys, "plan", str(inv), "--detailed-exitcode")
    assert code == 0 and "No changes." in out, out + err
    # A hand that points the connector elsewhere is drift, named by the property.
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Default Frontend EX01",
             TlsCertificateName="<I>CN=exconf lab Exchange CA, O=exconf lab<S>CN=partner.contoso.lab, O=Contoso")
    code, out, err = run(capsys, "drift", str(inv), "--no-history")
    assert code == 2 and "tls_certificate" in out, out + err
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    assert tls_name(lab) == "<I>CN=relay.contoso.lab<S>CN=relay.contoso.lab"


def test_a_certificate_whose_names_miss_the_connector_is_refused_and_one_the_server_lacks_is_an_error(lab, capsys):
    partner = """\
        receive_connectors:
          "Default Frontend {server}":
            tls_certificate: {match: {subject: "CN=partner.contoso.lab"}}
"""
    code, out, err = run(capsys, "apply", str(lab.inventory(inventory_text({"ex01": partner, "edge01": ""}))), "--auto-approve")
    assert code == 1 and "[connector-certificate-names]" in err, out + err
    assert "do not cover its FQDN ex01.contoso.lab" in err
    assert tls_name(lab) is None
    missing = partner.replace("CN=partner.contoso.lab", "CN=nowhere.contoso.lab")
    code, out, err = run(capsys, "plan", str(lab.inventory(inventory_text({"ex01": missing, "edge01": ""}))))
    assert code == 1 and "FAILED: ex01.contoso.lab" in out
    assert "tls_certificate: match subject 'CN=nowhere.contoso.lab' selects no valid certificate on EX01" in out
