"""The HTML history page: the last 7 days as an operator reads them (one self-contained file, no script).

Per day the runs and their outcome; every drift episode and outage of the week on a time axis (a bar from its
start to its end or now), with who changed it and who resolved it; written beside the run report by
``drift --html FILE`` (FILE-history.html) and by ``drift history --html FILE``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jinja2 import Environment, select_autoescape

from ..termsafe import safe
from .episodes import EPISODE_DRIFT, EPISODE_NOT_CHECKED
from .history import History, now_text, parse_time
from .report import HOST_KIND, RUN_KIND

DAYS = 7
WIDTH = 360  # px of the time axis
ROWS = 1000  # the newest episodes of each sort on the page; the counts tell the rest

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>exconf drift history — {{ start }} to {{ now }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1d1d1f; background: #fafafa; }
table { border-collapse: collapse; margin: .6em 0; background: #fff; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.axis { position: relative; width: {{ width }}px; height: 14px; background: #f4f4f4; }
.span { position: absolute; top: 1px; height: 12px; border-radius: 2px; background: #e65100; }
.span.open { background: #b71c1c; } .span.outage { background: #546e7a; } .span.resolved { background: #ef6c00; }
.ok { color: #2e7d32; } .bad { color: #b71c1c; font-weight: 600; } .drift { color: #e65100; font-weight: 600; }
.meta { color: #555; font-size: .92em; }
td.when { white-space: nowrap; }
</style>
</head>
<body>
<h1>exconf drift history</h1>
<p class="meta">{{ start }} to {{ now }}{% if report_link %} · <a href="{{ report_link }}">the last run's report</a>{% endif %}</p>
<h2>Runs per day</h2>
<table id="days"><tr><th>Day</th><th>Runs</th><th>No drift</th><th>Drift</th><th>Error</th></tr>
{% for d in days %}<tr><td>{{ d.day }}</td><td>{{ d.runs }}</td><td class="ok">{{ d.ok }}</td><td class="drift">{{ d.drift }}</td><td class="bad">{{ d.error }}</td></tr>{% endfor %}
</table>
<h2>Drift ({{ drift_total }}{% if drift_total > drift|length %}, the newest {{ drift|length }} shown{% endif %})</h2>
{% if not drift %}<p class="ok" id="no-drift">No drift in these {{ days|length }} days.</p>{% else %}
<table id="drift"><tr><th>Object</th><th>Severity</th><th>Since</th><th>Resolved</th><th>Who changed it</th><th>Who resolved it</th><th>{{ start[:10] }} → {{ now[:10] }}</th></tr>
{% for e in drift %}<tr><td>{{ e.host }} · {{ e.kind }} <strong>{{ e.name }}</strong></td><td>{{ e.severity }}</td><td class="when">{{ e.since }}</td>
<td class="when">{{ e.resolved or "still drifting" }}</td><td>{{ e.who }}</td><td>{{ e.resolved_by }}</td>
<td><div class="axis"><span class="span {{ e.tone }}" style="left: {{ e.left }}px; width: {{ e.width }}px"></span></div></td></tr>{% endfor %}
</table>{% endif %}
<h2>Outages ({{ outages|length }})</h2>
{% if not outages %}<p class="ok" id="no-outage">Every host was read in every run.</p>{% else %}
<table id="outages"><tr><th>Host</th><th>Since</th><th>Back</th><th>Why</th><th></th></tr>
{% for e in outages %}<tr><td>{{ e.host }}</td><td>{{ e.since }}</td><td>{{ e.resolved or "still not checked" }}</td><td>{{ e.why }}</td>
<td><div class="axis"><span class="span outage" style="left: {{ e.left }}px; width: {{ e.width }}px"></span></div></td></tr>{% endfor %}
</table>{% endif %}
</body>
</html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True),
                   finalize=lambda value: safe(value) if isinstance(value, str) else value)
_TEMPLATE = _ENV.from_string(TEMPLATE)


def render(db: History, now: str, *, since: str | None = None, hosts: set[str] | None = None, report_link: str = "") -> bytes:
    end = parse_time(now)
    start = parse_time(since) if since else end - timedelta(days=DAYS)
    span = max(1.0, (end - start).total_seconds())

    def bar(since_: str, until: str) -> dict[str, Any]:
        a = max(0.0, (parse_time(since_) - start).total_seconds())
        b = min(span, (parse_time(until) - start).total_seconds()) if until else span
        return {"left": int(WIDTH * a / span), "width": max(2, int(WIDTH * max(0.0, b - a) / span))}

    rows = db.episodes(since=now_text(start), hosts=hosts, newest=ROWS) + db.episodes(
        since=now_text(start), hosts=hosts, types=(EPISODE_NOT_CHECKED,), kinds=(HOST_KIND, RUN_KIND), newest=ROWS)
    drift_total = db.count_episodes(since=now_text(start), hosts=hosts)
    drift, outages = [], []
    for r in rows:
        e = r.episode
        if e.type == EPISODE_DRIFT:
            who = e.culprit.text() if e.culprit is not None else ""
            resolved_by = ("corrected by exconf drift --correct" if e.resolution == "corrected" else
                           e.resolved_by.text().replace("changed by", "by") if e.resolved_by is not None and e.resolved_by.entry else "")
            drift.append({"host": r.host, "kind": r.kind, "name": r.name, "severity": e.severity, "since": e.since, "resolved": e.ended,
                          "who": who, "resolved_by": resolved_by, "tone": "resolved" if e.ended else "open"} | bar(e.since, e.ended))
        elif r.kind in (HOST_KIND, RUN_KIND):
            why = (e.detail.get("message") or "").splitlines()[0] if e.detail.get("message") else ""
            outages.append({"host": r.host, "since": e.since, "resolved": e.ended, "why": why} | bar(e.since, e.ended))
    days = []
    runs = db.runs(since=now_text(start))
    for n in range(DAYS):
        day = (start + timedelta(days=n + 1)).strftime("%Y-%m-%d") if since is None else (start + timedelta(days=n)).strftime("%Y-%m-%d")
        of_day = [r for r in runs if r["started"][:10] == day]
        days.append({"day": day, "runs": len(of_day), "ok": sum(1 for r in of_day if r["exit_code"] == 0),
                     "drift": sum(1 for r in of_day if r["exit_code"] == 2), "error": sum(1 for r in of_day if r["exit_code"] == 1)})
    page = _TEMPLATE.render(start=now_text(start), now=now, days=days, drift=drift, outages=outages, width=WIDTH, report_link=report_link,
                            drift_total=drift_total)
    return page.encode("utf-8")
