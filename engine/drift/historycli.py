"""``exconf drift history`` (episodes, outages, runs; text, JSON or an HTML page) and ``exconf drift ack``."""

from __future__ import annotations

import argparse
import fnmatch
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from ..render import FORMAT_VERSION, document_meta, value_text
from ..termsafe import safe
from . import history
from .episodes import EPISODE_NOT_CHECKED
from .outputs import OutputError, write_atomic
from .report import HOST_KIND, RUN_KIND

DEFAULT_SINCE = "7d"
MAX_ACK_DAYS = 90


def _error(err: Console, message: str) -> int:
    err.print(Text("Error: ", style="bold red") + Text(message))
    return 1


def find_history(args: argparse.Namespace, inventory: Path | None, err: Console) -> Path | None:
    if args.history is None and inventory is None:
        found = sorted(Path(".").glob(".*.drift.sqlite"))  # the one history of the inventory in this folder
        if len(found) != 1:
            _error(err, "this needs the inventory (its history is beside it) or --history DB"
                   + (f": this folder has {len(found)} histories" if found else ""))
            return None
        return found[0]
    path = args.history or history.default_path(inventory)  # type: ignore[arg-type]
    return path


def host_filter(pattern: str | None, hosts: list[str]) -> set[str] | None:
    """``--host``: comma-separated names or patterns (``*``, ``?``), ``!`` to exclude; None keeps every host."""
    if not pattern:
        return None
    parts = [p.strip() for p in pattern.split(",") if p.strip()]
    include = [p for p in parts if not p.startswith("!")]
    exclude = [p[1:] for p in parts if p.startswith("!")]
    out = {h for h in hosts if not include or any(fnmatch.fnmatchcase(h.lower(), p.lower()) for p in include)}
    out = {h for h in out if not any(fnmatch.fnmatchcase(h.lower(), p.lower()) for p in exclude)}
    return None if out == set(hosts) else out  # every host: no filter


def history_main(args: argparse.Namespace, inventory: Path | None, out: Console, err: Console) -> int:
    path = find_history(args, inventory, err)
    if path is None:
        return 1
    if not path.is_file():
        return _error(err, f"no drift history at {safe(str(path))}: run exconf drift first")
    try:
        since = history.parse_since(args.since or DEFAULT_SINCE)
    except ValueError as exc:
        return _error(err, safe(str(exc)))
    newest = None if args.max == 0 else args.max
    outage_kinds = (HOST_KIND, RUN_KIND)
    try:
        with history.History(path, readonly=True) as db:
            hosts = host_filter(args.host, db.hosts_known())
            drift = db.episodes(since=since, hosts=hosts, newest=newest)
            outages = db.episodes(since=since, hosts=hosts, types=(EPISODE_NOT_CHECKED,), kinds=outage_kinds, newest=newest)
            unchecked = db.episodes(since=since, hosts=hosts, types=(EPISODE_NOT_CHECKED,), not_kinds=outage_kinds, newest=newest)
            totals = {"drift": db.count_episodes(since=since, hosts=hosts),
                      "outages": db.count_episodes(since=since, hosts=hosts, types=(EPISODE_NOT_CHECKED,), kinds=outage_kinds),
                      "not_checked": db.count_episodes(since=since, hosts=hosts, types=(EPISODE_NOT_CHECKED,), not_kinds=outage_kinds)}
            runs = db.runs(since=since)
            if args.html is not None:
                from . import history_html

                try:
                    write_atomic(args.html, history_html.render(db, history.now_text(), since=since, hosts=hosts))
                except OutputError as exc:
                    return _error(err, safe(str(exc)))
    except history.HistoryError as exc:
        return _error(err, safe(str(exc)))
    if args.json:
        meta = document_meta([str(inventory)] if inventory else [], None)
        print(json.dumps({"format_version": FORMAT_VERSION, **meta, "history": str(path), "host": args.host, "since": since,
                          "episodes": [r.to_json() for r in drift],
                          "outages": [r.to_json() for r in outages], "not_checked": [r.to_json() for r in unchecked],
                          "totals": totals, "runs": _runs_summary(runs)}, ensure_ascii=False))  # one line: thousands of episodes
        return 0
    scope = (f" for {safe(args.host)}" if args.host else "") + f" since {since}"
    lines: list[Text] = []  # printed at once: one print per line costs more than the query
    if not drift:
        lines.append(Text(f"No drift recorded{scope}."))
    elif totals["drift"] > len(drift):
        lines.append(Text(f"{totals['drift'] - len(drift)} earlier drift episodes{scope} are not shown (--max 0 shows all)", style="dim"))
    lines += [_episode_line(r) for r in drift]
    if outages:
        lines.append(Text(f"Outages{scope}" + (f" (the newest {len(outages)} of {totals['outages']})" if totals["outages"] > len(outages) else "")
                          + ":", style="bold"))
        for r in outages:
            e = r.episode
            state = Text(f"back {e.ended}", style="green") if e.ended else Text("still not checked", style="bold red")
            why = (e.detail.get("message") or "").splitlines()[0] if e.detail.get("message") else ""
            lines.append(Text(f"{safe(r.host, newlines=False)}: not checked since {e.since}, ") + state
                         + Text(f" ({safe(why, newlines=False)})" if why else ""))
    if totals["not_checked"]:
        lines.append(Text(f"Objects not checked{scope}: {totals['not_checked']} episodes (--json lists them)", style="dim"))
    s = _runs_summary(runs)
    lines.append(Text(f"Runs{scope}: {s['runs']} ({s['exit_codes'].get('0', 0)} no drift, {s['exit_codes'].get('2', 0)} drift, "
                      f"{s['exit_codes'].get('1', 0)} error); last run {s['last'] or 'none'}", style="dim"))
    out.print(Text("\n").join(lines), soft_wrap=True)
    return 0


def _runs_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    codes: dict[str, int] = {}
    for r in runs:
        codes[str(r["exit_code"])] = codes.get(str(r["exit_code"]), 0) + 1
    last = runs[-1] if runs else None
    return {"runs": len(runs), "exit_codes": codes, "last": f"{last['started']} (exit {last['exit_code']})" if last else None}


def _episode_line(r: history.EpisodeRow) -> Text:
    e = r.episode
    state = Text(f"resolved {safe(e.ended)}" + (" (corrected by exconf)" if e.resolution == "corrected" else
                                               " (no longer declared)" if e.resolution == "no_longer_declared" else ""),
                 style="green") if e.ended else Text("still drifting", style="bold yellow")
    line = Text(f"{safe(r.host, newlines=False)}: {safe(r.kind, newlines=False)} {value_text(r.name)} [{e.severity}]: "
                f"since {safe(e.since, newlines=False)}, last seen {safe(e.last_seen or 'now', newlines=False)}, ") + state
    if e.culprit is not None:
        line.append("; " + safe(e.culprit.text(), newlines=False))
    if e.resolved_by is not None and e.resolved_by.entry is not None:
        who = e.resolved_by.entry
        line.append(f"; resolved by {safe(who.caller, newlines=False)} with {safe(who.cmdlet, newlines=False)} at {who.when}")
    return line


def parse_expiry(text: str, now: datetime | None = None) -> str:
    """--expires: a span (7d, 12h) or a date; in the future, at most MAX_ACK_DAYS away."""
    now = now or datetime.now(timezone.utc)
    s = text.strip()
    if s[:-1].isdigit() and s[-1:].lower() in ("h", "d", "w"):
        seconds = int(s[:-1]) * {"h": 3600, "d": 86400, "w": 604800}[s[-1].lower()]
        moment = now + timedelta(seconds=seconds)
    else:
        try:
            moment = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"--expires {text!r} is neither a span such as 7d nor a date such as 2026-12-31") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    if moment <= now:
        raise ValueError(f"--expires {text!r} is not in the future")
    if moment > now + timedelta(days=MAX_ACK_DAYS):
        raise ValueError(f"--expires {text!r} is more than {MAX_ACK_DAYS} days away: acknowledge again when it comes")
    return history.now_text(moment)


def ack_main(args: argparse.Namespace, inventory: Path | None, out: Console, err: Console) -> int:
    path = find_history(args, inventory, err)
    if path is None:
        return 1
    try:
        with history.History(path) as db:
            if args.list or (args.remove is None and not args.host):
                acks = db.acks(history.now_text())
                if args.json:
                    print(json.dumps({"acknowledgements": [a.to_json() for a in acks]}, indent=2, ensure_ascii=False))
                elif not acks:
                    out.print("No acknowledgement in force.")
                for a in acks if not args.json else ():
                    out.print(Text(f"#{a.id} {safe(a.host, newlines=False)}: {safe(a.kind, newlines=False)} {value_text(a.name)}: "
                                   f"{safe(a.owner, newlines=False)} until {a.expires}: {safe(a.reason, newlines=False)}"))
                return 0
            if args.remove is not None:
                if not db.remove_ack(args.remove):
                    return _error(err, f"no acknowledgement #{args.remove}")
                out.print(f"Acknowledgement #{args.remove} removed.")
                return 0
            missing = [f"--{n}" for n in ("owner", "reason", "expires") if not getattr(args, n)]
            if missing:
                return _error(err, f"drift ack needs {', '.join(missing)} (who owns it, why, until when)")
            try:
                expires = parse_expiry(args.expires)
            except ValueError as exc:
                return _error(err, safe(str(exc)))
            ack_id = db.add_ack(args.host, args.kind or "*", args.name or "*", args.owner, args.reason, history.now_text(), expires)
    except history.HistoryError as exc:
        return _error(err, safe(str(exc)))
    out.print(Text(f"Acknowledged #{ack_id}: {safe(args.host, newlines=False)}: {safe(args.kind or '*', newlines=False)} "
                   f"{value_text(args.name or '*')} until {expires} ({safe(args.owner, newlines=False)}: {safe(args.reason, newlines=False)})."))
    return 0
