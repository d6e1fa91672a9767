"""Sinks: RFC 5424 messages (checked by an RFC 5424 parser) over a unix socket, UDP and TCP with octet counting;
JSON Lines; a webhook failure that names no secret; the outbox's order, retention and what it reports."""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest
from syslog_rfc5424_parser import SyslogMessage

from exconf.drift import history, outbox, sinks
from exconf.drift.report import DriftState

from .helpers import item, record

EVENT = {"event": "drift_appeared", "host": "ex02.contoso.lab", "resource": "receive_connector", "name": 'Default "Frontend" ]EX\\02',
         "severity": "critical", "since": "2026-11-01T08:00:00Z", "at": "2026-11-01T08:00:00Z", "text": "DRIFT … é",
         "changed_by": {"caller": "contoso.lab/Users/helpdesk"}}


def test_rfc5424_messages_parse_back_with_their_structured_data_escaped():
    raw = sinks.rfc5424(EVENT, hostname="ctl01.contoso.lab", pid=4242)
    message = SyslogMessage.parse(raw.decode("utf-8"))
    assert (message.hostname, message.appname, message.procid, message.msgid) == ("ctl01.contoso.lab", "exconf", 4242, "drift_appeared")
    assert int(message.severity) == 2 and int(message.facility) == 3  # critical drift; daemon
    # '"', '\\' and ']' escaped as RFC 5424 §6.3.3 says (the parser returns values as written)
    assert message.sd["exconf@32473"]["name"] == 'Default \\"Frontend\\" \\]EX\\\\02' and message.msg == "\ufeffDRIFT … é"  # MSG-UTF8: a BOM, then UTF-8 (§6.4)


@pytest.mark.parametrize(("event", "severity", "expected"), [
    ("drift_appeared", "low", 4), ("drift_appeared", "medium", 4), ("drift_appeared", "high", 3), ("drift_appeared", "critical", 2),
    ("not_checked", "high", 3), ("drift_resolved", "critical", 5), ("checked_again", "high", 5)])
def test_syslog_severity_follows_the_event_and_the_kind(event, severity, expected):
    assert sinks.syslog_severity({"event": event, "severity": severity}) == expected


def test_tcp_uses_octet_counting_and_a_unix_socket_takes_datagrams(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=accept)
    thread.start()
    sinks.Syslog(f"tcp://127.0.0.1:{server.getsockname()[1]}").deliver(EVENT)
    thread.join(5)
    server.close()
    length, _, message = bytes(received).partition(b" ")
    assert int(length) == len(message) and SyslogMessage.parse(message.decode("utf-8")).msgid == "drift_appeared"
    path = tmp_path / "log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        sinks.Syslog(f"unix:{path}").deliver(EVENT)
        assert SyslogMessage.parse(listener.recv(65536).decode("utf-8")).appname == "exconf"
    with pytest.raises(sinks.SinkError, match="did not take the message"):
        sinks.Syslog(f"unix:{tmp_path / 'nobody'}").deliver(EVENT)


@pytest.mark.parametrize("target", ["syslog.contoso.lab", "udp://", "unix:dev/log", "tcp://host:port"])
def test_a_syslog_target_that_cannot_be_used_is_named(target):
    with pytest.raises(ValueError, match="--syslog"):
        sinks.parse_syslog_target(target)


def test_json_lines_append_one_line_per_event(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = sinks.JsonLines(path)
    sink.deliver(EVENT | {"id": "a"})
    sink.deliver(EVENT | {"id": "b"})
    assert [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()] == ["a", "b"]
    with pytest.raises(sinks.SinkError, match="cannot append"):
        sinks.JsonLines(tmp_path / "no" / "such" / "file").deliver(EVENT)


class Flaky:
    name = "webhook"

    def __init__(self, fail: int):
        self.fail, self.got = fail, []

    def describe(self) -> str:
        return "flaky"

    def deliver(self, payload) -> None:
        if self.fail:
            self.fail -= 1
            raise sinks.SinkError("the notification to https://hooks.example/… was refused: HTTP 500")
        self.got.append(payload)


def test_the_outbox_keeps_order_and_says_what_waits(tmp_path):
    t0 = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", DriftState.IN_SYNC), item("ex01", "B", DriftState.IN_SYNC)], t0)
        record(db, [item("ex01", "A", DriftState.DRIFT), item("ex01", "B", DriftState.IN_SYNC)], t0 + timedelta(minutes=15))
        record(db, [item("ex01", "A", DriftState.DRIFT), item("ex01", "B", DriftState.DRIFT)], t0 + timedelta(minutes=30))
        flaky = Flaky(fail=1)
        first = outbox.deliver(db, {"webhook": flaky}, history.now_text(t0 + timedelta(minutes=31)))
        assert first.delivered == 0 and len(first.undelivered) == 2 and "HTTP 500" in first.failures[0]  # the second waits its turn
        then = outbox.deliver(db, {"webhook": flaky}, history.now_text(t0 + timedelta(minutes=32)))
        assert then.delivered == 2 and then.undelivered == ()
        assert ['"A"' in m["text"] for m in flaky.got] == [True, False]  # in the order they were made
        nothing = outbox.deliver(db, {}, history.now_text(t0 + timedelta(minutes=33)))
        assert nothing.undelivered == ()


def test_undelivered_messages_older_than_the_retention_are_dropped(tmp_path):
    t0 = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
    with history.History(tmp_path / "h.sqlite") as db:
        record(db, [item("ex01", "A", DriftState.IN_SYNC)], t0)
        record(db, [item("ex01", "A", DriftState.DRIFT)], t0 + timedelta(minutes=15))
        assert len(db.pending()) == 1
        record(db, [item("ex01", "A", DriftState.DRIFT)], t0 + timedelta(days=4), keep_days=3)
        assert db.pending() == []
