"""``exconf lab serve|exec|stats|stop``: the command-line side of the lab (spec §5, a Contract)."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table
from rich.text import Text


def lab_main(args: argparse.Namespace, out: Console, err: Console) -> int:
    from exconf.lab import runtime

    try:
        if args.lab_command == "serve":
            state = args.state or runtime.default_state_path(args.org_file)
            return runtime.serve(args.org_file, state, idle_timeout=args.idle_timeout)
        if args.lab_command == "exec":
            return _exec(args, out, err)
        if args.lab_command == "stats":
            return _stats(args, out, err)
        if args.lab_command == "stop":
            return _stop(args, out, err)
    except runtime.LabError as exc:
        err.print(Text("Error: ", style="bold red") + Text(str(exc)))
        return 1
    raise AssertionError(args.lab_command)


def _exec(args: argparse.Namespace, out: Console, err: Console) -> int:
    from exconf.lab import runtime
    from exconf.lab.console import ConsoleSyntaxError, parse_command

    words = list(args.words)
    if words and words[0] == "--":
        words = words[1:]
    if not words:
        err.print(Text("Error: ", style="bold red") + Text("usage: exconf lab exec SERVER -- CMDLET [-Param Value ...]"))
        return 1
    try:
        cmdlet, params = parse_command(words)
    except ConsoleSyntaxError as exc:
        err.print(Text("Error: ", style="bold red") + Text(str(exc)))
        return 1
    warnings: list[str] = []
    try:
        objects = runtime.exec_on(args.server, cmdlet, params, warnings)
    except runtime.LabError as exc:  # the cmdlet's error as PowerShell prints it, or why no lab ran it
        err.print(Text(str(exc), style="red"))
        return 1
    for warning in warnings:
        err.print(Text(f"WARNING: {warning}", style="yellow"))
    for obj in objects:
        width = max((len(k) for k in obj), default=0)
        for key, value in obj.items():
            shown = "{" + ", ".join(map(str, value)) + "}" if isinstance(value, list) else "" if value is None else str(value)
            out.print(Text(f"{key.ljust(width)} : {shown}"))
        out.print()
    return 0


def _stats(args: argparse.Namespace, out: Console, err: Console) -> int:
    from exconf.lab import runtime

    labs = runtime.find_running()
    if not labs:
        err.print(Text("No lab is running. Start one with `exconf lab serve ORG_FILE`, or run exconf on an inventory that names one."))
        return 1
    docs = {str(lab.org_file): runtime.stats(lab) for lab in labs}
    if args.json:
        merged = {"servers": {name: s for doc in docs.values() for name, s in doc["servers"].items()}}
        print(json.dumps(merged, indent=2))
        return 0
    for org, doc in docs.items():
        table = Table(title=f"lab {org}", title_justify="left")
        for col in ("server", "requests", "shells", "commands", "bytes in", "bytes out", "auth failures"):
            table.add_column(col, justify="left" if col == "server" else "right")
        for name, s in doc["servers"].items():
            table.add_row(name, *(str(s.get(k, 0)) for k in ("requests", "shells", "commands", "bytes_in", "bytes_out", "auth_failures")))
        out.print(table)
    return 0


def _stop(args: argparse.Namespace, out: Console, err: Console) -> int:
    from exconf.lab import runtime

    labs = runtime.find_running()
    if args.org_file is not None:
        target = args.org_file.resolve()
        labs = [lab for lab in labs if lab.org_file.resolve() == target]
    if not labs:
        err.print(Text("No matching lab is running."))
        return 0
    code = 0
    for lab in labs:
        if runtime.stop(lab):
            out.print(Text(f"Stopped the lab {lab.org_file}."))
        else:
            err.print(Text(f"The lab {lab.org_file} (pid {lab.pid}) did not stop within 10 seconds.", style="red"))
            code = 1
    return code
