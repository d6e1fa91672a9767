"""Building drift runs without a lab: findings → report → transitions → history, as the command does."""

from __future__ import annotations

from datetime import datetime, timedelta

from exconf.drift import cycle, history, notify
from exconf.drift.audit import AuditLog
from exconf.drift.history import HostInfo, RunSummary
from exconf.drift.report import DriftItem, DriftReport, DriftState
from exconf.model import Finding, FindingProperty, FindingStatus, HostPlan, HostStatus, Plan
from exconf.yamlsource import Location

WHERE = Location("inventory.yaml", 12, 7)
STATUS = {DriftState.IN_SYNC: FindingStatus.IN_SYNC, DriftState.DRIFT: FindingStatus.CHANGE, DriftState.ERROR: FindingStatus.ERROR}


def item(host: str, name: str, state: DriftState, *, kind: str = "receive_connector", actual: str = "None",
         severity: str = "low", params: tuple[str, ...] = ("ProtocolLoggingLevel",)) -> DriftItem:
    props = (FindingProperty("protocol_logging_level", "Verbose", actual, WHERE),) if state is DriftState.DRIFT else ()
    message = "unreachable: cannot connect" if state is DriftState.ERROR else ""
    return DriftItem(Finding(host, kind, name, STATUS[state], WHERE, props, message), state, severity,
                     params=params if state is DriftState.DRIFT else ())


def report(items: list[DriftItem], at: datetime, down: tuple[str, ...] = ()) -> DriftReport:
    hosts = {i.finding.host: HostPlan(i.finding.host, HostStatus.UNREACHABLE if i.finding.host in down else HostStatus.OK, None, ())
             for i in items}
    return DriftReport(Plan(hosts=hosts), tuple(items), history.now_text(at), 60.0, inventory="inventory.yaml")


def record(db: history.History, items: list[DriftItem], at: datetime, *, keep_days: int = 90, log: AuditLog | None = None,
           down: tuple[str, ...] = (), sinks: tuple[str, ...] = ("webhook",)) -> DriftReport:
    """One run at ``at`` (ending a minute later): what the command does between the read and the outputs."""
    r = report(items, at, down)
    ended = history.now_text(at + timedelta(minutes=1))
    scopes = {i.key[0] for i in items}
    prior, hosts = db.load(scopes)
    judged, adv = cycle.run_once(r, prior, hosts, log or AuditLog(searched=True, after="2000-01-01T00:00:00Z"),
                                 db.acks(r.started), ended=ended, read_scopes=scopes - set(down))
    records = notify.event_records(judged)
    messages = []
    if "webhook" in sinks and (msg := notify.run_message(judged, records)) is not None:
        messages.append(("webhook", msg))
    messages += [(s, rec) for s in sinks if s != "webhook" for rec in records]
    read = {h: HostInfo(ended, h.upper(), f"{h}.contoso.lab", "Mailbox") for h in scopes - set(down)}
    db.write_run(RunSummary(r.started, ended, "inventory.yaml", judged.exit_code, judged.counts(), len(scopes), len(read)),
                 adv, read, messages, keep_days=keep_days)
    return judged
