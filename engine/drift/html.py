"""The HTML drift report: one self-contained file (inline CSS, no script, nothing fetched).

A summary per host and per kind, each drifted object with its properties expected versus
actual, since when and by whom, errors, what was resolved, a timeline of when drift began,
the expiry of every object that has an expiry date (certificates) as a timeline,
and links from each finding to its declaring file:line. Jinja2 with autoescaping: every
server and inventory string is escaped, its control and bidi characters shown as escapes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from ..render import value_text
from ..termsafe import safe
from .expiry import expiries
from .history import parse_time
from .report import DriftReport, DriftState, differing, event_json

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>exconf drift report — {{ started }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1d1d1f; background: #fafafa; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; padding: .3em .8em; border-radius: 4px; font-weight: 600; color: #fff; }
.v0 { background: #2e7d32; } .v1 { background: #b71c1c; } .v2 { background: #e65100; }
table { border-collapse: collapse; margin: .6em 0; background: #fff; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.in_sync { color: #2e7d32; } .drift { color: #e65100; font-weight: 600; } .error { color: #b71c1c; font-weight: 600; }
.finding { background: #fff; border: 1px solid #ddd; border-left: 5px solid #e65100; margin: .8em 0; padding: .6em 1em; }
.finding.err { border-left-color: #b71c1c; }
.expected { color: #2e7d32; } .actual { color: #b71c1c; }
.meta { color: #555; font-size: .92em; }
.bar { height: 12px; background: #e65100; display: inline-block; border-radius: 2px; }
.bar.ok { background: #2e7d32; } .bar.gone { background: #b71c1c; }
#expiry tr.drift, #expiry tr.in_sync, #expiry tr.error { color: inherit; font-weight: normal; }
#expiry td.state.drift { color: #e65100; font-weight: 600; } #expiry td.state.in_sync { color: #2e7d32; }
td.when { white-space: nowrap; }
code { font-family: ui-monospace, monospace; }
.sev { display: inline-block; min-width: 4.5em; text-align: center; border-radius: 3px; color: #fff; background: #777; font-size: .85em; }
.sev-critical .sev { background: #7b1fa2; } .sev-high .sev { background: #b71c1c; } .sev-medium .sev { background: #e65100; } .sev-low .sev { background: #607d8b; }
.finding.acked { border-left-color: #0277bd; } .finding.corrected { border-left-color: #2e7d32; } .ack { color: #0277bd; }
</style>
</head>
<body>
<h1>exconf drift report</h1>
<p class="meta">Run started {{ started }} · {{ "%.1f"|format(duration) }} s · {{ host_count }} host(s), {{ hosts_up }} read ·
admin audit log: {{ audit }}</p>
<p><span class="verdict v{{ exit_code }}" id="verdict">{{ verdict }}</span>
{% if history_link %} · <a id="history-link" href="{{ history_link }}">history of the last 7 days</a>{% endif %}</p>
{% for note in notes %}<p class="error">{{ note }}</p>{% endfor %}
{% if undelivered %}<p class="error" id="undelivered">{{ undelivered|length }} message(s) not delivered yet (oldest {{ undelivered[0].created }},
{{ undelivered[0].error }}); they are sent again on the next runs.</p>{% endif %}

<h2>Summary per host</h2>
<table id="hosts"><tr><th>Host</th><th>Role</th><th>Status</th><th>In sync</th><th>Drift</th><th>Errors</th></tr>
{% for h in hosts %}<tr><td>{{ h.name }}</td><td>{{ h.role }}</td><td class="{{ 'in_sync' if h.status == 'ok' else 'error' }}">{{ h.status }}</td>
<td>{{ h.in_sync }}</td><td class="{{ 'drift' if h.drift else '' }}">{{ h.drift }}</td><td class="{{ 'error' if h.error else '' }}">{{ h.error }}</td></tr>
{% endfor %}</table>

<h2>Summary per kind</h2>
<table id="kinds"><tr><th>Kind</th><th>In sync</th><th>Drift</th><th>Errors</th></tr>
{% for k in kinds %}<tr><td>{{ k.name }}</td><td>{{ k.in_sync }}</td><td>{{ k.drift }}</td><td>{{ k.error }}</td></tr>
{% endfor %}</table>

<h2>Drift ({{ drifted|length }})</h2>
{% if not drifted %}<p class="in_sync" id="no-drift">No drift: every declared object matches the configuration.</p>{% endif %}
{% for d in drifted %}<div class="finding sev-{{ d.severity }}{% if d.ack %} acked{% endif %}{% if d.corrected %} corrected{% endif %}" id="drift-{{ loop.index }}">
<div><span class="sev">{{ d.severity }}</span> <strong>{{ d.host }}</strong> · {{ d.kind }} <strong>{{ d.name }}</strong>
· <a href="{{ d.href }}">{{ d.where }}</a>{% if d.corrected %} · <strong class="in_sync">corrected</strong>{% endif %}</div>
{% if d.properties %}<table><tr><th>Property</th><th>Expected</th><th>Actual</th><th>Declared at</th></tr>
{% for p in d.properties %}<tr><td><code>{{ p.prop }}</code></td><td class="expected">{{ p.expected }}</td><td class="actual">{{ p.actual }}</td>
<td><a href="{{ p.href }}">{{ p.where }}</a></td></tr>{% endfor %}</table>{% endif %}
{% if d.message %}<div>{{ d.message }}</div>{% endif %}
<div class="meta">Drifting since {{ d.since or "this run" }}{% if d.who %} · changed by <strong class="who">{{ d.who.caller }}</strong>
with <code>{{ d.who.cmdlet }}</code> at {{ d.who.when }}{% elif d.culprit %} · {{ d.culprit }}{% endif %}</div>
{%- if d.ack %}<div class="ack">Acknowledged by <strong>{{ d.ack.owner }}</strong> until {{ d.ack.expires }}: {{ d.ack.reason }}</div>{% endif %}
{%- if d.correction %}<div class="meta">Not corrected: {{ d.correction }}</div>{% endif %}
</div>{% endfor %}

{% if errors %}<h2>Not checked ({{ errors|length }})</h2>
{% for e in errors %}<div class="finding err"><strong>{{ e.host }}</strong> · {{ e.kind }} <strong>{{ e.name }}</strong>
· <a href="{{ e.href }}">{{ e.where }}</a><div>{{ e.message }}</div><div class="meta">Not checked since {{ e.since or "this run" }}</div></div>{% endfor %}{% endif %}

{% if undeclared is not none %}<h2>Undeclared objects ({{ undeclared|length }})</h2>
{% if not undeclared %}<p class="in_sync">Every object read is declared.</p>{% endif %}
<table id="undeclared">{% for u in undeclared %}<tr><td>{{ u.host }}</td><td>{{ u.resource }}</td><td>{{ u.name }}</td><td>{{ u.note }}</td></tr>{% endfor %}</table>{% endif %}

{% if resolved %}<h2>Resolved since the previous run ({{ resolved|length }})</h2>
<table id="resolved"><tr><th>Host</th><th>Kind</th><th>Name</th><th>Drifting since</th><th>Resolved</th></tr>
{% for r in resolved %}<tr><td>{{ r.host }}</td><td>{{ r.resource }}</td><td>{{ r.name }}</td><td>{{ r.since }}</td><td>{{ r.resolved }}
{% if r.resolution == "corrected" %}(corrected by exconf){% elif r.resolved_by and r.resolved_by.caller %}(by {{ r.resolved_by.caller }}){% endif %}</td></tr>{% endfor %}
</table>{% endif %}

{% if expiry %}<h2>Certificate expiry</h2>
<p class="meta">Every declared object with an expiry date, soonest first; the bar is the time left (today at its left end).
Orange: expires within its declared threshold (drift).</p>
<table id="expiry"><tr><th>Host</th><th>Certificate</th><th>Expires</th><th>State</th><th>Time left</th></tr>
{% for e in expiry %}<tr class="{{ e.state }}" id="expiry-{{ loop.index }}"><td>{{ e.host }}</td><td>{{ e.name }}{% if e.message %}<div class="meta">{{ e.message }}</div>{% endif %}</td>
<td class="when">{{ e.date }}</td><td class="state {{ e.state }}">{{ e.label }}</td>
<td class="when"><span class="bar {{ e.tone }}" style="width: {{ e.width }}px"></span> <span class="left">{{ e.left }}</span></td></tr>{% endfor %}
</table>{% endif %}

{% if timeline %}<h2>Timeline: how long each drift has lasted</h2>
<table id="timeline"><tr><th>Object</th><th>Since</th><th></th></tr>
{% for t in timeline %}<tr><td>{{ t.label }}</td><td>{{ t.since }}</td><td><span class="bar" style="width: {{ t.width }}px"></span> {{ t.age }}</td></tr>{% endfor %}
</table>{% endif %}
</body>
</html>
"""

# Control and bidi characters are shown as escapes (termsafe), as on a terminal: U+202E must not
# reverse what a reader sees; autoescaping handles markup.
_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True),
                   finalize=lambda value: safe(value) if isinstance(value, str) else value)
_TEMPLATE = _ENV.from_string(TEMPLATE)
VERDICT = {0: "No drift", 1: "Not everything could be checked", 2: "Drift detected"}
ORG = "organization"


def _href(file: str, line: int, base: Path) -> str:
    path = Path(file)
    if not path.is_absolute():
        path = (base / path).resolve()
    return path.as_uri() + f"#L{line}" if path.is_absolute() else "#"


def _age(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days} d {hours} h" if days else f"{hours} h {rest // 60} min"


def _expiry_rows(report: DriftReport, now) -> list[dict[str, Any]]:
    """The expiry timeline: bars scaled to the furthest expiry shown (at most 400 px), soonest first."""
    found = expiries(report)
    lefts = [(e.not_after - now).total_seconds() for e in found]
    longest = max((s for s in lefts if s > 0), default=0) or 1
    rows = []
    for e, left in zip(found, lefts):
        f = e.item.finding
        drift = e.item.state is DriftState.DRIFT
        rows.append({"host": f.host, "name": f.name, "date": e.not_after.strftime("%Y-%m-%d %H:%M UTC"),
                     "left": _age(left) if left > 0 else "expired", "width": max(2, int(400 * max(left, 0) / longest)),
                     "state": e.item.state.value, "tone": "gone" if left <= 0 else "" if drift else "ok",
                     "label": ("expired" if left <= 0 else "within its threshold") if drift else "in sync" if e.item.state is DriftState.IN_SYNC else "not checked",
                     "message": f.message if drift else ""})
    return rows


def render(report: DriftReport, inventory_dir: Path, history_link: str = "") -> bytes:
    items = report.items
    per_host: dict[str, Counter[str]] = {name: Counter() for name in report.plan.hosts}
    per_kind: dict[str, Counter[str]] = {}
    for i in items:
        per_host.setdefault(i.key[0], Counter())[i.state.value] += 1
        per_kind.setdefault(i.finding.kind, Counter())[i.state.value] += 1
    hosts = []
    for name, counts in per_host.items():
        hp = report.plan.hosts.get(name)
        hosts.append({"name": name, "role": hp.facts.role if hp and hp.facts else "", "status": hp.status.value if hp else "",
                      "in_sync": counts["in_sync"], "drift": counts["drift"], "error": counts["error"]})
    kinds = [{"name": k, "in_sync": c["in_sync"], "drift": c["drift"], "error": c["error"]} for k, c in sorted(per_kind.items())]

    def show(value: Any, sensitive: bool) -> str:
        return "(sensitive)" if sensitive else value_text(value)

    def entry(i) -> dict[str, Any]:
        f = i.finding
        return {
            "host": i.key[0], "kind": f.kind, "name": f.name, "message": f.message, "since": i.since, "severity": i.severity,
            "ack": i.ack.to_json() if i.ack else None, "corrected": i.corrected, "correction": i.correction,
            "culprit": i.culprit.text() if i.culprit is not None and i.culprit.entry is None else "",
            "where": f"{f.source.file}:{f.source.line}", "href": _href(f.source.file, f.source.line, inventory_dir),
            "who": i.who.to_json() if i.who else None,
            "properties": [{"prop": p.prop, "expected": show(p.expected, p.sensitive), "actual": show(p.actual, p.sensitive),
                            "where": f"{p.source.file}:{p.source.line}", "href": _href(p.source.file, p.source.line, inventory_dir)}
                           for p in differing(f)],
        }

    drifted = [entry(i) for i in report.worst_first(report.drifted)]
    now = parse_time(report.started)
    ages = [(i, (now - parse_time(i.since)).total_seconds()) for i in items if i.state is DriftState.DRIFT and i.since]
    longest = max((a for _, a in ages), default=0) or 1
    timeline = [{"label": f"{i.finding.host} · {i.finding.kind} {i.finding.name}", "since": i.since,
                 "width": max(2, int(400 * a / longest)), "age": _age(a)} for i, a in sorted(ages, key=lambda t: -t[1])]
    page = _TEMPLATE.render(
        expiry=_expiry_rows(report, now),
        started=report.started, duration=report.duration, hosts=hosts, host_count=len(report.plan.hosts), hosts_up=report.hosts_up(), kinds=kinds,
        drifted=drifted, errors=[entry(i) for i in report.worst_first(report.errors)],
        resolved=[event_json(e) for e in report.resolved], timeline=timeline, exit_code=report.exit_code,
        verdict=VERDICT[report.exit_code], audit=report.audit_note or "searched", notes=list(report.notes),
        undeclared=[u.to_json() for u in report.undeclared] if report.undeclared is not None else None,
        undelivered=sorted(report.undelivered, key=lambda u: u["created"]), history_link=history_link,
    )
    return page.encode("utf-8")
