"""A saved plan with a PFX import over real WinRM: the file holds the PFX's path and SHA-256 and where the
password comes from, never the password or the PFX; apply PLANFILE imports it, and refuses a PFX that changed."""

from __future__ import annotations

import base64
import json

import pytest

from .test_certificates import IMPORT_MAIL, PFX_PASSWORD, TestCA, certs, inventory_text, run, services, write_pfx


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def lab(make_lab):
    return make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}, {"name": "EDGE01", "role": "Edge"}])


@pytest.fixture
def saved(lab, ca, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SMTP_PFX_PASSWORD", PFX_PASSWORD)
    thumb = write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab"])
    inv = lab.inventory(inventory_text({"ex01": IMPORT_MAIL, "edge01": ""}))
    plan_file = tmp_path / "certs.plan"
    code, out, err = run(capsys, "plan", str(inv), "--out", str(plan_file))
    assert code == 0, out + err
    return thumb, plan_file


def test_the_plan_file_holds_references_only(lab, saved):
    thumb, plan_file = saved
    text = plan_file.read_text()
    pfx = (lab.dir / "certs" / "mail.pfx").read_bytes()
    assert "Pfx-S3cret" not in text
    assert base64.b64encode(pfx).decode()[:40] not in text
    (change,) = json.loads(text)["saved"]["review"]["changes"]
    (op,) = change["operations"]
    import_step, enable_step = op["commands"]
    assert import_step["parameters"]["FileData"] == {"file": str((lab.dir / "certs" / "mail.pfx").resolve()),
                                                     "sha256": __import__("hashlib").sha256(pfx).hexdigest()}
    assert import_step["parameters"]["Password"] == {"secret": "from env SMTP_PFX_PASSWORD", "origin": "env", "name": "SMTP_PFX_PASSWORD"}
    assert enable_step["parameters"]["Thumbprint"] == import_step["step"].rsplit("/", 1)[1].split(":")[0]  # the PFX's thumbprint
    # SMTP without replacing the default SMTP certificate (no default_smtp declared): no -Force, NETWORK SERVICE.
    assert "Force" not in enable_step["parameters"] and enable_step["parameters"]["Services"] == "None"
    assert enable_step["parameters"]["NetworkServiceAllowed"] is True


def test_a_saved_plan_with_an_import_is_applied(lab, saved, capsys):
    thumb, plan_file = saved
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 0, out + err
    assert services(lab, "EX01", thumb) == "IMAP, POP, SMTP"  # IMAP, POP: it carries EX01's FQDN
    assert "Pfx-S3cret" not in out + err


def test_a_pfx_that_changed_since_the_plan_is_refused(lab, ca, saved, capsys):
    thumb, plan_file = saved
    write_pfx(lab, ca, "mail.pfx", "mail.contoso.lab", ["mail.contoso.lab", "ex01.contoso.lab"])  # a new certificate, same file
    before = certs(lab, "EX01")
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 1
    assert "the saved plan is stale; nothing was changed on any host" in err
    assert "ex01.contoso.lab: the file " in err and "mail.pfx changed since the plan was made" in err
    assert certs(lab, "EX01") == before
    code, out, err = run(capsys, "show", str(plan_file))  # the plan can still be read
    assert code == 0 and "will be created" in out, out + err


def test_a_password_variable_gone_at_apply_is_refused_before_any_host(lab, saved, capsys, monkeypatch):
    thumb, plan_file = saved
    monkeypatch.delenv("SMTP_PFX_PASSWORD")
    code, out, err = run(capsys, "apply", str(plan_file))
    assert code == 1 and "the environment variable SMTP_PFX_PASSWORD is not set" in err, out + err
    assert thumb not in certs(lab, "EX01")
