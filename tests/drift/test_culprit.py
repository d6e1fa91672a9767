"""Who changed it: only an entry inside the episode's window (after the last run that saw the object in sync, up
to the first run that saw it drift) is named; otherwise "not in the admin audit log", never a guess. Removals are
matched by identity, thumbprint and cmdlet; the search is filtered by time, cmdlets and objects; an episode keeps
what it found."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from exconf.drift import audit, cycle, history
from exconf.drift.audit import AuditEntry, AuditLog, Target
from exconf.drift.episodes import ObjState
from exconf.drift.history import HostInfo
from exconf.drift.report import DriftState
from exconf.remote import Answer, StepError, StepResult

from .helpers import item, record

T0 = datetime(2026, 11, 3, 8, 0, tzinfo=timezone.utc)
RC = "Set-ReceiveConnector"


def t(minutes: float) -> str:
    return history.now_text(T0 + timedelta(minutes=minutes))


def entry(obj: str, when: str, caller: str = "contoso.lab/Users/exadmin", cmdlet: str = RC,
          params: tuple[str, ...] = ("Identity", "ProtocolLoggingLevel")) -> AuditEntry:
    return AuditEntry(obj, cmdlet, params, caller, when)


def log(*entries: AuditEntry, full: bool = False) -> AuditLog:
    return AuditLog(tuple(sorted(entries, key=lambda e: e.when, reverse=True)), searched=True, full=full, after="2000-01-01T00:00:00Z")


def test_the_administrator_who_set_the_right_value_before_the_last_in_sync_run_is_never_blamed(tmp_path):
    """The resubscription case: exconf's own apply set Verbose at 07:50; runs at 08:00 saw it in sync; the EdgeSync
    connector was recreated (by New-EdgeSubscription, which names the subscription, not the connector) and a run at
    08:15 sees it drift. The only entry about the connector is the right one, outside the window."""
    right = entry("EdgeSync - Amsterdam to Internet", t(-10), caller="contoso.lab/Users/exconf-svc", cmdlet="Set-SendConnector")
    resubscribe = entry("EDGE01", t(5), cmdlet="New-EdgeSubscription", params=("FileData", "Site"))
    with history.History(tmp_path / "h.sqlite") as db:
        connector = lambda s: item("organization", "EdgeSync - Amsterdam to Internet", s, kind="send_connector")  # noqa: E731
        record(db, [connector(DriftState.IN_SYNC)], T0, log=log(right))
        r = record(db, [connector(DriftState.DRIFT)], T0 + timedelta(minutes=15), log=log(right, resubscribe))
        [drift] = r.drifted
        assert drift.culprit.status == audit.NOT_IN_LOG and drift.culprit.entry is None
        assert drift.culprit.window == (t(1), t(16))  # after the in-sync run ended, up to this run's end
        assert "not in the admin audit log" in drift.culprit.text()


def test_the_change_inside_the_window_is_named_and_the_episode_keeps_it(tmp_path):
    culprit = entry("EX01\\A", t(7), caller="contoso.lab/Users/helpdesk")
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0)
        r = record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(minutes=15), log=log(culprit))
        assert r.drifted[0].who.caller == "contoso.lab/Users/helpdesk"
        # Later searches no longer return it (aged out, or 1,000 newer entries): the episode keeps its culprit.
        r = record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(minutes=30), log=log())
        assert r.drifted[0].who.caller == "contoso.lab/Users/helpdesk"
        [row] = db.episodes()
        assert row.episode.culprit.entry.caller == "contoso.lab/Users/helpdesk"


def test_a_drift_never_seen_in_sync_names_nobody(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        r = record(db, [item("ex01", "A", DriftState.DRIFT)], T0, log=log(entry("EX01\\A", t(-5))))
        assert r.drifted[0].culprit.status == audit.NO_IN_SYNC_RUN and r.drifted[0].who is None


def test_an_unsearched_window_is_looked_up_again_by_object_on_a_later_run(tmp_path):
    culprit = entry("EX01\\A", t(7))
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0)
        failed = AuditLog(note="Search-AdminAuditLog failed on EX01: Access denied")
        r = record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(minutes=15), log=failed)
        assert r.drifted[0].culprit.status == audit.NOT_SEARCHED and "Access denied" in r.drifted[0].culprit.text()
        prior, hosts = db.load(["ex01"])
        steps = cycle.audit_steps(prior, hosts)
        [open_step] = [s for s in steps if s.id == audit.OPEN_STEP_ID]
        assert open_step.params["StartDate"] == t(1) and open_step.params["EndDate"] == t(16)
        assert set(open_step.params["ObjectIds"]) == {"A", "EX01\\A", "ex01.contoso.lab\\A"}
        assert open_step.params["Cmdlets"] == [RC]
        r = record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(minutes=30), log=log(culprit))
        assert r.drifted[0].who is not None and r.drifted[0].who.when == t(7)


def test_the_search_is_bounded_by_time_and_cmdlets(tmp_path):
    with history.History(tmp_path / "h.sqlite") as db:
        assert cycle.audit_steps(*db.load(["ex01"])) == ()  # nothing was ever seen: nothing to look up
        record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0)
        [step] = cycle.audit_steps(*db.load(["ex01"]))
        assert step.cmdlet == "Search-AdminAuditLog" and step.params["StartDate"] == t(1)  # since the last read
        assert "Set-ReceiveConnector" in step.params["Cmdlets"] and "Remove-ExchangeCertificate" in step.params["Cmdlets"]
        assert step.params["IsSuccess"] is True and step.params["ResultSize"] == audit.RESULT_SIZE


def test_more_entries_than_a_search_returns_is_not_known_rather_than_the_wrong_one():
    target = Target(("A",), ("EX01",), (RC,), ("ProtocolLoggingLevel",))
    found = audit.blame(log(entry("EX01\\B", t(5)), full=True), target, t(1), t(16))
    assert found.status == audit.TOO_MANY and found.entry is None


def test_removals_are_matched_by_thumbprint_identity_and_cmdlet():
    thumb = "3F2A9C1B7E5D4C3B2A1908F7E6D5C4B3A2918070"
    cert = Target(("CN=mail.contoso.lab (3F2A9C1B)", thumb), ("EX01", "ex01.contoso.lab"),
                  ("Import-ExchangeCertificate", "Enable-ExchangeCertificate", "Remove-ExchangeCertificate"), ())
    removed = entry(f"ex01.contoso.lab\\{thumb}", t(5), cmdlet="Remove-ExchangeCertificate", params=("Thumbprint", "Confirm"))
    elsewhere = entry(f"ex02.contoso.lab\\{thumb}", t(6), cmdlet="Remove-ExchangeCertificate", params=("Thumbprint",))
    other_cmdlet = entry(f"ex01.contoso.lab\\{thumb}", t(7), cmdlet="Export-ExchangeCertificate", params=("Thumbprint",))
    found = audit.blame(log(removed, elsewhere, other_cmdlet), cert, t(1), t(16))
    assert found.entry == removed
    edge = Target(("EDGE01",), (), ("New-EdgeSubscription", "Remove-EdgeSubscription"), ())
    gone = entry("EDGE01", t(4), cmdlet="Remove-EdgeSubscription", params=("Identity", "Confirm"))
    assert audit.blame(log(gone), edge, t(1), t(16)).entry == gone


def test_a_set_entry_must_set_a_drifted_property_and_an_edge_has_no_log():
    target = Target(("A",), ("EX01",), (RC,), ("ProtocolLoggingLevel",))
    banner = entry("EX01\\A", t(5), params=("Identity", "Banner"))
    assert audit.blame(log(banner), target, t(1), t(16)).status == audit.NOT_IN_LOG
    assert audit.blame(log(), target, t(1), t(16), no_log=True).status == audit.NO_LOG


def test_an_entry_in_the_second_the_in_sync_run_ended_is_not_named():
    target = Target(("A",), ("EX01",), (RC,), ())
    assert audit.blame(log(entry("EX01\\A", t(1))), target, t(1), t(16)).status == audit.NOT_IN_LOG
    assert audit.blame(log(entry("EX01\\A", t(16))), target, t(1), t(16)).entry is not None


def test_the_answer_is_read_from_every_search_step_and_a_failure_says_why():
    steps = (audit.search_step(audit.STEP_ID, after=t(0), cmdlets=(RC,)),)
    row = {"ObjectModified": "EX01\\A", "CmdletName": RC, "CmdletParameters": ["Identity", "ProtocolLoggingLevel"],
           "Caller": "contoso.lab/Users/exadmin", "RunDate": t(3)}
    ok = Answer("EX01", False, {audit.STEP_ID: StepResult(audit.STEP_ID, "ok", (row,))})
    got = audit.read(ok, steps)
    assert got.searched and got.entries[0].object == "EX01\\A" and got.after == t(0)
    failed = Answer("EX01", False, {audit.STEP_ID: StepResult(audit.STEP_ID, "error", error=StepError("Access denied"))})
    assert audit.read(failed, steps).note == "Search-AdminAuditLog failed on EX01: Access denied"
    assert "no Mailbox server" in audit.read(None, steps).note


def test_who_resolved_is_the_entry_between_the_last_drifted_run_and_the_resolving_one(tmp_path):
    fixer = entry("EX01\\A", t(20), caller="contoso.lab/Users/oncall")
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0)
        record(db, [item("ex01", "A", DriftState.DRIFT)], T0 + timedelta(minutes=15))
        r = record(db, [item("ex01", "A", DriftState.IN_SYNC)], T0 + timedelta(minutes=30), log=log(fixer))
        [resolved] = r.resolved
        assert resolved.episode.resolved_by.entry.caller == "contoso.lab/Users/oncall"


def test_objects_on_an_edge_are_not_looked_up():
    prior = {("edge01", "receive_connector", "A"): ObjState(("edge01", "receive_connector", "A"), "in_sync", t(0))}
    assert cycle.audit_steps(prior, {"edge01": HostInfo(t(1), "EDGE01", "edge01.dmz", "Edge")}) == ()
