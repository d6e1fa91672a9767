"""``exconf lab serve|exec|stats|events|clock|stop``: the command-line side of the lab (spec §5, a Contract).

Several labs may run at once (other checkouts, other organisation files): ``exec``,
``stats`` and ``clock`` take ``--lab ORG_FILE`` to choose; ``stop`` without an
argument stops only the labs of this checkout and names the others.
"""

from __future__ import annotations

import argparse
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich import box
from rich.table import Table
from rich.text import Text

from .heap import settle_heap


def lab_main(args: argparse.Namespace, out: Console, err: Console) -> int:
    from exconf.lab import runtime

    try:
        if args.lab_command == "serve":
            state = args.state or runtime.default_state_path(args.org_file)
            # the organisation, its servers and listeners live until the lab stops
            return runtime.serve(args.org_file, state, idle_timeout=args.idle_timeout, ready=settle_heap)
        if args.lab_command == "exec":
            return _exec(args, out, err)
        if args.lab_command == "stats":
            return _stats(args, out, err)
        if args.lab_command == "clock":
            return _clock(args, out, err)
        if args.lab_command == "events":
            return _events(args, out, err)
        if args.lab_command == "stop":
            return _stop(args, out, err)
    except runtime.LabError as exc:
        err.print(Text("Error: ", style="bold red") + Text(safe(str(exc), keep_newlines=True)))
        return 1
    raise AssertionError(args.lab_command)


def safe(text: str, keep_newlines: bool = False) -> str:
    """Text a lab or a server sent, made harmless for a terminal: control, format (bidi, zero-width)
    and line-separator characters are shown as escapes (\\x1b, \\u202e …)."""
    out = []
    for char in text:
        if keep_newlines and char == "\n":
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def _exec(args: argparse.Namespace, out: Console, err: Console) -> int:
    from exconf.lab import runtime
    from exconf.lab.console import ConsoleSyntaxError, parse_command

    words = list(args.words)
    if words and words[0] == "--":
        words = words[1:]
    if not words:
        err.print(Text("Error: ", style="bold red") + Text("usage: exconf lab exec [--lab ORG_FILE] [--as ACCOUNT] SERVER -- CMDLET [-Param Value ...]"))
        return 1
    try:
        cmdlet, params = parse_command(words)
    except ConsoleSyntaxError as exc:
        err.print(Text("Error: ", style="bold red") + Text(safe(str(exc), keep_newlines=True)))
        return 1
    warnings: list[str] = []
    try:
        objects = runtime.exec_on(args.server, cmdlet, params, warnings, lab_file=args.lab, account=args.account)
    except runtime.LabError as exc:  # the cmdlet's error as PowerShell prints it, or why no lab ran it
        err.print(Text(safe(str(exc), keep_newlines=True), style="red"))
        return 1
    for warning in warnings:
        err.print(Text(f"WARNING: {safe(warning)}", style="yellow"))
    for obj in objects:
        width = max((len(k) for k in obj), default=0)
        for key, value in obj.items():
            shown = "{" + ", ".join(map(str, value)) + "}" if isinstance(value, list) else "" if value is None else str(value)
            out.print(Text(f"{safe(key).ljust(width)} : {safe(shown)}"))
        out.print()
    return 0


def _stats(args: argparse.Namespace, out: Console, err: Console) -> int:
    from exconf.lab import runtime

    labs = runtime.select_lab(runtime.find_running(), args.lab)
    if not labs:
        err.print(Text("No lab is running. Start one with `exconf lab serve ORG_FILE`, or run exconf on an inventory that names one."))
        return 1
    if args.json:
        # One entry per lab: two labs may both have a server EX01.
        from exconf.render import FORMAT_VERSION, document_meta

        print(json.dumps({"format_version": FORMAT_VERSION, **document_meta([], None), "labs": [
            {"org_file": str(lab.org_file), "state_file": str(lab.state_file), "pid": lab.pid, **runtime.stats(lab)}
            for lab in labs
        ]}, indent=2))
        return 0
    for lab in labs:
        doc = runtime.stats(lab)
        # One row per server and endpoint that served requests: /wsman (WinRM shells running commands:
        # exconf's program), /PowerShell (Exchange remote PowerShell: runspace pools running pipelines) and
        # ssh (Windows OpenSSH: connections running exec commands, the program again).
        table = Table(title=safe(f"lab {lab.org_file} (pid {lab.pid})"), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                      caption="sessions: WinRM shells, runspace pools or SSH connections; runs: commands or pipelines; "
                              "in, out: bytes", caption_justify="left")
        for col in ("server", "endpoint", "requests", "sessions", "runs", "in", "out", "auth fail"):
            table.add_column(col, justify="left" if col in ("server", "endpoint") else "right", no_wrap=True, min_width=max(len(col), 7 if col in ("in", "out") else 4))
        for name, s in doc["servers"].items():
            endpoints = s.get("endpoints") or {"/wsman": s}
            served = [(path, e) for path, e in endpoints.items() if e.get("requests")] or [("/wsman", endpoints.get("/wsman", s))]
            for path, e in served:
                opened = e.get("shells", e.get("runspace_pools", e.get("connections", 0)))
                ran = e.get("commands", e.get("pipelines", 0))
                table.add_row(safe(name), safe(path), str(e.get("requests", 0)), str(opened), str(ran),
                              *(str(e.get(k, 0)) for k in ("bytes_in", "bytes_out", "auth_failures")))
        out.print(table)
    return 0


def _events(args: argparse.Namespace, out: Console, err: Console) -> int:
    """A server's PowerShell module logging (event 4103): what Windows records of the program's commands."""
    from exconf.lab import runtime

    doc = runtime.events(args.server, lab_file=args.lab)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    for event in doc["events"]:
        out.print(Text(safe(f"{event['time']}  {event['event_id']}  {event['user']}  {event['command']}"), style="bold"))
        for line in event["payload"]:
            out.print(Text("    " + safe(line)))
    if not doc["events"]:
        out.print(Text(f"No module logging events on {safe(doc['server'])}."))
    return 0


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhms])", re.I)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> float:
    """"25h", "90m", "1d12h", "30s" -> seconds; ValueError for anything else."""
    compact = text.strip().replace(" ", "")
    if not compact or _DURATION.sub("", compact):
        raise ValueError(f"cannot read {text!r} as a duration; expected for example 25h, 90m, 1d12h or 30s")
    return float(sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in _DURATION.findall(compact)))


def _clock(args: argparse.Namespace, out: Console, err: Console) -> int:
    from exconf.lab import runtime

    labs = runtime.select_lab(runtime.find_running(), args.lab)
    if not labs:
        err.print(Text("No lab is running. Start one with `exconf lab serve ORG_FILE`."))
        return 1
    if len(labs) > 1:
        names = ", ".join(str(lab.org_file) for lab in labs)
        err.print(Text("Error: ", style="bold red") + Text(safe(f"several labs are running ({names}); choose one with --lab ORG_FILE")))
        return 1
    seconds = 0.0
    if args.action == "advance":
        if args.duration is None:
            err.print(Text("Error: ", style="bold red") + Text("usage: exconf lab clock advance DURATION (for example 25h)"))
            return 1
        try:
            seconds = parse_duration(args.duration)
        except ValueError as exc:
            err.print(Text("Error: ", style="bold red") + Text(safe(str(exc))))
            return 1
    clock = runtime.advance_clock(labs[0], seconds)
    ahead = clock["offset_seconds"]
    out.print(Text(safe(f"Lab clock of {labs[0].org_file}: {clock['now']} ({_human(ahead)} ahead of real time)")))
    return 0


def _human(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"


def checkout_root(start: Path) -> Path:
    """The checkout the command runs in: the nearest folder up from ``start`` with a .git, else ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _targets(target: Path, running: list[Any]) -> list[Any]:
    """The running labs a ``lab stop`` argument names: an organisation file, a state file, or an
    inventory whose hosts name labs (exconf_lab)."""
    from exconf.lab import runtime

    resolved = target.resolve()
    direct = [lab for lab in running if resolved in (lab.org_file.resolve(), lab.state_file.resolve())]
    if direct or not resolved.is_file():
        return direct
    from . import inventory as inv
    from .labauto import lab_files

    try:
        inventory = inv.load(resolved)
    except inv.InventoryError:
        return []
    return runtime.labs_of(running, lab_files(inventory))


def _stop(args: argparse.Namespace, out: Console, err: Console) -> int:
    from exconf.lab import runtime

    running = runtime.find_running()
    if args.target is not None:
        labs = _targets(args.target, running)
        if not labs:
            err.print(Text(safe(f"No running lab belongs to {args.target} (an organisation file, state file or inventory).")))
            return 0
    elif args.all:
        labs = running
    else:
        root = checkout_root(Path.cwd())
        labs = [lab for lab in running if lab.org_file.resolve().is_relative_to(root)]
        others = [lab for lab in running if lab not in labs]
        if others:
            err.print(Text(safe(
                f"Left running (not of {root}): "
                + "; ".join(f"{lab.org_file} (pid {lab.pid})" for lab in others)
                + ". Stop them with: exconf lab stop ORG_FILE, or exconf lab stop --all"
            )))
        if not labs:
            err.print(Text(safe(f"No lab of {root} is running.")))
            return 0
    code = 0
    for lab in labs:
        if runtime.stop(lab):
            out.print(Text(safe(f"Stopped the lab {lab.org_file}.")))
        else:
            err.print(Text(safe(f"The lab {lab.org_file} (pid {lab.pid}) did not stop within 10 seconds."), style="red"))
            code = 1
    return code
