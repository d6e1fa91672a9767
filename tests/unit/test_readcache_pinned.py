"""One command's reads, shared (engine/readcache.py): what counts as the same read, which step answers for which,
and that a batch of changes (PFX bytes, secrets) or a partial answer passes through untouched."""

from __future__ import annotations

from exconf.readcache import answer_for, shared
from exconf.remote import LOCAL_SERVER, Answer, OutputRef, Secret, Step, StepResult


def test_the_same_parameters_in_another_order_are_the_same_read():
    a = Step("a", "Get-ReceiveConnector", {"Server": LOCAL_SERVER, "Identity": "x"}, select=("Name",))
    b = Step("b", "get-receiveconnector", {"Identity": "x", "Server": LOCAL_SERVER}, select=("Fqdn",))
    sent, alias = shared([a, b])
    assert [(s.id, s.select) for s in sent] == [("a", ("Name", "Fqdn"))]
    assert alias == {"a": "a", "b": "a"}


def test_every_step_is_named_in_the_alias_map_sent_ones_by_themselves():
    read = Step("r1", "Get-SendConnector", {})
    again = Step("r2", "Get-SendConnector", {})
    change = Step("w", "Set-SendConnector", {"Identity": "g", "ProtocolLoggingLevel": "Verbose"})
    test = Step("t", "Test-EdgeSynchronization", {"ExcludeRecipientTest": True})
    search = Step("s1", "Search-AdminAuditLog", {"StartDate": "2026-12-01"})
    search2 = Step("s2", "Search-AdminAuditLog", {"StartDate": "2026-12-01"})
    sent, alias = shared([read, change, again, test, search, search2])
    assert [s.id for s in sent] == ["r1", "w", "t", "s1"]
    assert alias == {"r1": "r1", "w": "w", "r2": "r1", "t": "t", "s1": "s1", "s2": "s1"}


def test_a_batch_of_changes_with_bytes_and_secrets_passes_through_untouched():
    pfx = b"0\x82pfx"
    imp = Step("i", "Import-ExchangeCertificate", {"FileData": pfx, "Password": Secret("from env X", lambda: "pw"), "Server": LOCAL_SERVER},
               select=("Thumbprint",))
    enable = Step("e", "Enable-ExchangeCertificate", {"Thumbprint": OutputRef("i", "Thumbprint"), "Services": "SMTP"})
    twice = Step("e2", "Enable-ExchangeCertificate", {"Thumbprint": OutputRef("i", "Thumbprint"), "Services": "SMTP"})
    back = Step("rb", "Get-ExchangeCertificate", {"Server": LOCAL_SERVER}, always_run=True)
    sent, alias = shared([imp, enable, twice, back])
    assert sent == [imp, enable, twice, back]
    assert all(k == v for k, v in alias.items())


def test_references_to_different_outputs_are_different_reads():
    one = Step("a", "Get-ExchangeCertificate", {"Thumbprint": OutputRef("i1", "Thumbprint")})
    two = Step("b", "Get-ExchangeCertificate", {"Thumbprint": OutputRef("i2", "Thumbprint")})
    same = Step("c", "Get-ExchangeCertificate", {"Thumbprint": OutputRef("i1", "Thumbprint")})
    sent, alias = shared([one, two, same])
    assert [s.id for s in sent] == ["a", "b"] and alias["c"] == "a"


def test_without_sharing_the_answer_is_the_programs_own():
    answer = Answer("EX01", False, {"a": StepResult("a", "ok")})
    assert answer_for(answer, {"a": "a"}) == answer


def test_a_partial_answer_leaves_the_sharing_step_without_a_result_never_a_traceback():
    """The program stopped (or a hostile endpoint answered) before the shared read: each step that asked for it
    has no result, which the kind reports as that step's failure."""
    answer = Answer("EX01", False, {"w": StepResult("w", "ok")})
    got = answer_for(answer, {"w": "w", "r1": "r1", "r2": "r1"})
    assert set(got.results) == {"w"} and got.result("w") is answer.result("w")
