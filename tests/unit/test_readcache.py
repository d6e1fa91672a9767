"""A read cmdlet asked for twice with the same parameters is sent once per round trip (engine/readcache.py)."""

from exconf.readcache import answer_for, shared
from exconf.remote import LOCAL_SERVER, Answer, Step, StepResult


def test_the_same_read_is_sent_once_selecting_what_both_ask_and_both_get_it():
    a = Step("read:receive_connector", "Get-ReceiveConnector", {"Server": LOCAL_SERVER}, select=("Name", "ProtocolLoggingLevel"))
    b = Step("read:exchange_certificate:receive", "Get-ReceiveConnector", {"Server": LOCAL_SERVER}, select=("Identity", "Fqdn"))
    c = Step("read:send", "Get-SendConnector", {})
    sent, alias = shared([a, b, c])
    assert [s.id for s in sent] == [a.id, c.id]
    assert sent[0].select == ("Name", "ProtocolLoggingLevel", "Identity", "Fqdn")
    answer = Answer("EX01", False, {a.id: StepResult(a.id, "ok", ({"Name": "x"},)), c.id: StepResult(c.id, "ok")})
    got = answer_for(answer, alias)
    assert got.result(b.id).objects == ({"Name": "x"},) and got.result(b.id).id == b.id


def test_all_properties_win_and_changes_are_never_shared():
    every = Step("x", "Get-TransportConfig", {})
    some = Step("y", "Get-TransportConfig", {}, select=("Name",))
    sent, _ = shared([some, every])
    assert [s.select for s in sent] == [()]
    one = Step("s1", "Set-ReceiveConnector", {"Identity": "g", "ProtocolLoggingLevel": "Verbose"})
    two = Step("s2", "Set-ReceiveConnector", {"Identity": "g", "ProtocolLoggingLevel": "Verbose"})
    assert [s.id for s in shared([one, two])[0]] == ["s1", "s2"]
    other_params = Step("z", "Get-TransportConfig", {"Identity": "x"})
    assert len(shared([every, other_params])[0]) == 2
    assert len(shared([every, Step("w", "Get-TransportConfig", {}, always_run=True)])[0]) == 2
