"""docs/remote-powershell.md keeps its promises: the RBAC table is the lab's model of Exchange's
built-in role groups, covers every cmdlet exconf sends over remote PowerShell, and the request
budget it states is the one bench_scale prints."""

from __future__ import annotations

import re
from pathlib import Path

from exconf.lab.exchange import rbac
from exconf.remote import ALLOWED_CMDLETS

DOC = Path(__file__).resolve().parents[2] / "docs" / "remote-powershell.md"
PROGRAM_ONLY = {"Restart-Service", "Restart-WebAppPool", "Set-Content", "Remove-Item"}  # through the program only: never in an Exchange session
NOT_SENT: set[str] = set()  # in the allowlist, but no kind sends it


def rbac_table() -> dict[str, set[str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[A-Z][a-z]+-[A-Za-z]+", cells[0]):
            rows[cells[0]] = {g.strip() for g in cells[3].split(",")}
    return rows


def test_the_rbac_table_is_the_labs_model_of_the_built_in_role_groups():
    table = rbac_table()
    assert table, "no RBAC table found"
    for cmdlet, groups in table.items():
        assert groups == set(rbac.roles_for(cmdlet)), cmdlet


def test_the_rbac_table_covers_every_cmdlet_exconf_sends_over_remote_powershell():
    assert set(rbac_table()) == set(ALLOWED_CMDLETS) - PROGRAM_ONLY - NOT_SENT


def test_the_stated_budget_is_the_benchs(bench_scale):
    bench = bench_scale
    text = DOC.read_text(encoding="utf-8")
    budget = f"{bench.BUDGET['plan']} / {bench.BUDGET['apply']} |"
    assert bench.BUDGET == {"plan": 8, "apply": 12}
    for door in ("| exconf's program over WinRM (NTLM: an Edge) | 7 | 7 + 2 per wave",
                 "| exconf's program over WinRM (Kerberos: a Mailbox server) | 6 | 6 + 2 per wave",
                 "| Exchange remote PowerShell (NTLM) | 7 | 7 + 2 per pipeline of changes"):
        row = next(line for line in text.splitlines() if line.startswith(door))
        assert row.endswith(budget), row
    # docs/architecture.md's scale table is the bench's own output (its header, and rows in its format)
    architecture = (DOC.parent / "architecture.md").read_text(encoding="utf-8").splitlines()
    start = architecture.index(bench.MARKDOWN_HEADER)
    rows = [line for line in architecture[start + 2:] if line.startswith("| ")]
    assert rows, "no scale table rows"
    for line in rows[:1] + rows[-1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == bench.MARKDOWN_HEADER.count(" | ") + 1 and cells[1] in ("plan", "apply", "replan"), line
        assert int(cells[7]) == bench.BUDGET["plan" if cells[1] != "apply" else "apply"], line
