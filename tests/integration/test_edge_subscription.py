"""The edge_subscription kind over real WinRM against a lab with two sites, two Mailbox and two Edge servers:
the subscription sequence across hosts in one apply, idempotence, removal, a broken subscription found by
plan and drift and repaired by apply, the bootstrap window missed between waves, a failed import finished
by the next apply, and the subscription file's password nowhere on the controller."""

from __future__ import annotations

import base64
import re
import threading
from pathlib import Path

import pytest

from exconf.cli import main
from exconf.desired import parse
from exconf.executor import ProgramExecutor
from exconf.inventory import load
from exconf.model import ChangeOutcome
from exconf.runner import Run, default_executor_factory

from .conftest import EDGE_PASSWORD, PASSWORD

SERVERS = [
    {"name": "EX01", "role": "Mailbox", "site": "Amsterdam"},
    {"name": "EX02", "role": "Mailbox", "site": "Rotterdam"},
    {"name": "EDGE01", "role": "Edge", "site": "Amsterdam", "certificates": [
        {"subject": "CN=smtp.contoso.lab, O=Contoso", "domains": ["smtp.contoso.lab", "edge01.contoso.lab"]}]},
    {"name": "EDGE02", "role": "Edge", "site": "Amsterdam"},
]


def inventory(edge01: str = "", edge02: str = "", extra: str = "") -> str:
    def edge(name: str, body: str) -> str:
        out = (f'    {name.lower()}:\n      ansible_host: "{{{name}}}"\n      ansible_user: {name}\\Administrator\n'
               f"      ansible_password: {EDGE_PASSWORD}\n      ansible_winrm_transport: ntlm\n")
        return out + (f"      exchange:\n        edge_subscription: {body}\n" + (extra if name == "EDGE01" else "") if body else "")

    return (
        "all:\n  hosts:\n"
        f'    ex01: {{ansible_host: "{{EX01}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}\n'
        f'    ex02: {{ansible_host: "{{EX02}}", ansible_user: CONTOSO\\exadmin, ansible_password: {PASSWORD}}}\n'
        + edge("EDGE01", edge01) + edge("EDGE02", edge02)
    )


AMSTERDAM = "{site: Amsterdam}"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def statuses(lab, mailbox: str = "EX01") -> dict[str, str]:
    return {r["Name"]: r["SyncStatus"] for r in lab.exec(mailbox, "Test-EdgeSynchronization") if r.get("Name")}


class Recorder:
    """Each host's real executor, recording the order of round trips across hosts (and a hook after each)."""

    def __init__(self, factory, after=None):
        self.factory, self.after = factory, after
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.lock = threading.Lock()

    def __call__(self, host):
        real: ProgramExecutor = self.factory(host)
        recorder = self

        class Recording:
            def execute(self, steps, *, halt_on_error):
                answer = real.execute(steps, halt_on_error=halt_on_error)
                with recorder.lock:
                    recorder.calls.append((host.name, tuple(s.cmdlet for s in steps)))
                if recorder.after is not None:
                    recorder.after(host.name, steps)
                return answer

            def __getattr__(self, name):
                return getattr(real, name)

        return Recording()


def a_run(lab, text: str, after=None) -> tuple[Run, Recorder]:
    inv = load(lab.inventory(text))
    recorder = Recorder(default_executor_factory(inv.path.parent), after)
    return Run(inv, list(inv.hosts), parse(inv), executor_factory=recorder), recorder


def applied(recorder: Recorder) -> list[tuple[str, tuple[str, ...]]]:
    """The round trips of apply: those that change something (the reads, the site reads included, left out)."""
    return [(h, c) for h, c in recorder.calls if not all(x.startswith(("Get-", "Test-")) for x in c)]


def test_the_organisations_side_is_read_once_in_the_declared_site_by_a_guess_in_its_one_read(lab):
    """Get-EdgeSubscription and Test-EdgeSynchronization (which contacts every Edge of the site) run once, in the site
    an Edge is declared subscribed to, on one Mailbox server of it; without exconf_site the first host that says no
    site is the guess and reads its site in its one read (ex01: Amsterdam, right). Rotterdam, where no Edge is
    declared, is not read; the Edge reads its own side."""
    apply_run, recorder = a_run(lab, inventory(AMSTERDAM, ""))
    try:
        reads = apply_run.read()
    finally:
        apply_run.close()
    tests = [h for h, c in recorder.calls if "Test-EdgeSynchronization" in c and h.startswith("ex")]
    assert tests == ["ex01"]
    assert sorted(h for h, c in recorder.calls if "Get-EdgeSubscription" in c) == ["edge01", "ex01"]  # not edge02, not ex02
    assert sorted(h for h, _ in recorder.calls) == ["edge01", "edge02", "ex01", "ex02"]  # one command per host
    assert reads["edge02"].objects["edge_subscription"] == ()  # not declared there: read by nobody for it, still a peer
    assert reads["ex02"].objects["edge_subscription"] == ()
    assert any(o.kind == "edge_subscription.site" for o in reads["ex01"].objects["edge_subscription"])


def test_a_guess_is_never_a_host_the_inventory_says_is_an_edge(lab):
    """The Edges listed first (edge02 logs on with a local account, so the inventory says it is an Edge): the guess
    is still ex01, the first host the inventory says is a Mailbox server."""
    head, hosts = inventory(AMSTERDAM, "").split("  hosts:\n")
    lines = hosts.splitlines(keepends=True)
    apply_run, recorder = a_run(lab, head + "  hosts:\n" + "".join(lines[2:] + lines[:2]))
    try:
        apply_run.read()
    finally:
        apply_run.close()
    # edge01's own read lists it too (an Edge skips it: skip_on_edge); edge02, which does not declare the kind, does not
    assert [h for h, c in recorder.calls if "Test-EdgeSynchronization" in c and h != "edge01"] == ["ex01"]
    assert sorted(h for h, _ in recorder.calls) == ["edge01", "edge02", "ex01", "ex02"]  # one command per host


def test_a_wrong_guess_reads_the_needed_site_on_the_connection_its_first_mailbox_servers_read_used(lab, capsys):
    """EDGE01 declared in Rotterdam: the guess (ex01) turns out to be in Amsterdam, so Rotterdam is a second command
    right after ex02's read, before a plan lets its connection go: one pipeline more (remote PowerShell: Command and
    Receive), never a second logon. A right guess costs a read's requests, as without Edges."""
    before = lab.stats()
    code, out, err = run(capsys, "plan", str(lab.inventory(inventory("{site: Rotterdam}", ""))), "--detailed-exitcode")
    assert code == 2, out + err
    after = lab.stats()
    spent = {n: after[n]["requests"] - before.get(n, {}).get("requests", 0) for n in ("EX01", "EX02")}
    # remote PowerShell: a read 7, + 2; the program (Kerberos to a Mailbox server): 6, + a Send and a Receive
    assert spent == ({"EX01": 6, "EX02": 8} if lab.door == "winrm" else {"EX01": 7, "EX02": 9})
    code, out, err = run(capsys, "plan", str(lab.inventory(inventory(AMSTERDAM, ""))), "--detailed-exitcode")
    assert code == 2, out + err
    again = lab.stats()
    assert {n: again[n]["requests"] - after[n]["requests"] for n in ("EX01", "EX02")} == (
        {"EX01": 6, "EX02": 6} if lab.door == "winrm" else {"EX01": 7, "EX02": 7})


def with_sites(text: str, ex01: str, ex02: str) -> str:
    return (text.replace(f"ansible_password: {PASSWORD}}}\n    ex02", f"ansible_password: {PASSWORD}, exconf_site: {ex01}}}\n    ex02")
            .replace(f"ansible_password: {PASSWORD}}}\n    edge01", f"ansible_password: {PASSWORD}, exconf_site: {ex02}}}\n    edge01"))


def test_a_mailbox_server_whose_site_the_inventory_says_reads_it_in_its_one_read(lab):
    """With exconf_site the first host of each needed site is chosen before it is read: the site's side travels in its
    read, one command per host, within the read's budget of requests; a site no Edge is declared in is not read."""
    text = with_sites(inventory("", "{site: Rotterdam}"), "Amsterdam", "Rotterdam")
    assert text.count("exconf_site") == 2
    before = lab.stats()
    apply_run, recorder = a_run(lab, text)
    try:
        reads = apply_run.read()
    finally:
        apply_run.close()
    assert sorted(h for h, _ in recorder.calls) == ["edge01", "edge02", "ex01", "ex02"]  # one command per host
    assert [h for h, c in recorder.calls if "Test-EdgeSynchronization" in c and h.startswith("ex")] == ["ex02"]
    assert any(o.kind == "edge_subscription.site" for o in reads["ex02"].objects["edge_subscription"])
    assert apply_run.warnings == []
    after = lab.stats()
    assert {n: after[n]["requests"] - before.get(n, {}).get("requests", 0) for n in ("EX01", "EX02")} == (
        {"EX01": 6, "EX02": 6} if lab.door == "winrm" else {"EX01": 7, "EX02": 7})  # a read: NTLM 7, the program's Kerberos 6


def test_a_server_in_another_site_than_the_inventory_says_is_reported_and_the_needed_site_read(lab):
    text = with_sites(inventory(AMSTERDAM, ""), "Amsterdam", "Amsterdam")  # ex02 is in Rotterdam
    apply_run, recorder = a_run(lab, text)
    try:
        reads = apply_run.read()
    finally:
        apply_run.close()
    # ex01, the first host said to be in Amsterdam, is chosen and is there; ex02 is reported, and reads nothing for the site
    assert apply_run.warnings == ["ex02: exconf_site says Amsterdam, but the server is in site Rotterdam"]
    ex02 = [c for h, c in recorder.calls if h == "ex02"]
    assert len(ex02) == 1 and "Test-EdgeSynchronization" not in ex02[0]
    assert any(o.kind == "edge_subscription.site" for o in reads["ex01"].objects["edge_subscription"])
    # Said to be in Rotterdam while in Amsterdam, the chosen reader of Amsterdam fails to be there: Amsterdam is read
    # by a second command on the first Mailbox server of it that was read.
    apply_run, recorder = a_run(lab, with_sites(inventory(AMSTERDAM, ""), "Rotterdam", "Amsterdam"))
    try:
        reads = apply_run.read()
    finally:
        apply_run.close()
    assert sorted(apply_run.warnings) == [
        "ex01: exconf_site says Rotterdam, but the server is in site Amsterdam",
        "ex02: exconf_site says Amsterdam, but the server is in site Rotterdam; Amsterdam was read through another Mailbox server of it"]
    assert [c for h, c in recorder.calls if h == "ex01"][1] == ("Get-EdgeSubscription", "Test-EdgeSynchronization", "Get-TransportService")
    assert any(o.kind == "edge_subscription.site" for o in reads["ex01"].objects["edge_subscription"])


def every_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def lab(make_lab):
    return make_lab(SERVERS)


def test_first_subscription_in_one_apply_across_hosts_then_nothing_then_removal(lab, capsys, tmp_path):
    text = inventory(AMSTERDAM, "")
    code, out, err = run(capsys, "plan", str(lab.inventory(text)), "--detailed-exitcode")
    assert code == 2, out + err
    assert 'edge_subscription "EDGE01" will be created' in out
    assert '"EDGE01 is not subscribed" -> "SyncStatus Normal"' in out

    apply_run, recorder = a_run(lab, text)
    try:
        apply_run.read()
        plan = apply_run.plan()
        results = apply_run.apply(plan)
    finally:
        apply_run.close()
    assert [r.outcome for r in results["edge01"].results] == [ChangeOutcome.APPLIED], results["edge01"].results
    # After the reads: the Edge's file, the import on EX01 (Amsterdam), AD LDS restarted, synchronisation.
    order = [(h, c[0]) for h, c in applied(recorder)]
    assert order == [("edge01", "New-EdgeSubscription"), ("ex01", "New-EdgeSubscription"),
                     ("edge01", "Restart-Service"), ("ex01", "Start-EdgeSynchronization")]
    assert statuses(lab) == {"EDGE01": "Normal"}
    assert [s["Name"] for s in lab.exec("EX01", "Get-EdgeSubscription")] == ["EDGE01"]

    code, out, err = run(capsys, "apply", str(lab.inventory(text)), "--auto-approve")
    assert code == 0 and "No changes." in out, out + err

    # Saved and shown plans carry no file; the password the file held is nowhere on the controller.
    code, out, err = run(capsys, "plan", str(lab.inventory(inventory("{state: absent}", ""))), "--out", str(tmp_path / "rm.plan"))
    assert code == 0 and 'edge_subscription "EDGE01" will be destroyed' in out, out + err
    code, out, err = run(capsys, "apply", str(tmp_path / "rm.plan"), "--auto-approve")
    assert code == 0, out + err
    assert lab.exec("EX01", "Get-EdgeSubscription") == [] and lab.exec("EDGE01", "Get-EdgeSubscription") == []
    code, out, err = run(capsys, "plan", str(lab.inventory(inventory("{state: absent}", ""))), "--detailed-exitcode")
    assert code == 0, out + err


def password_of(data: bytes) -> str:
    return re.search(rb"<ESRAPassword>([^<]+)</ESRAPassword>", data).group(1).decode()


def test_the_subscription_file_never_reaches_the_controller_disk_or_output(lab, capsys, tmp_path):
    seen: list[bytes] = []
    original = ProgramExecutor.execute

    def spy(self, steps, *, halt_on_error):
        answer = original(self, steps, halt_on_error=halt_on_error)
        seen.extend(r.file for r in answer.results.values() if r.file)
        return answer

    ProgramExecutor.execute = spy
    try:
        text = inventory(AMSTERDAM, AMSTERDAM)
        code, out1, err1 = run(capsys, "plan", str(lab.inventory(text)), "--out", str(tmp_path / "sub.plan"))
        assert code == 0, out1 + err1
        code, out2, err2 = run(capsys, "apply", str(tmp_path / "sub.plan"), "--auto-approve", "--json")
        assert code == 0, out2 + err2
    finally:
        ProgramExecutor.execute = original
    assert len(seen) == 2  # one file per Edge, both in one apply (two Edges of one site)
    assert statuses(lab) == {"EDGE01": "Normal", "EDGE02": "Normal"}
    words = [password_of(d) for d in seen]
    everything = "\n".join((out1, err1, out2, err2, every_text(lab.dir), every_text(tmp_path)))
    for word in words:
        assert word not in everything and base64.b64encode(word.encode()).decode()[:12] not in everything
    assert b"ESRAPassword" not in everything.encode()


def test_broken_subscription_is_found_by_plan_and_drift_and_replaced_by_apply(lab, capsys):
    text = inventory(AMSTERDAM, "")
    inv = lab.inventory(text)
    assert run(capsys, "apply", str(inv), "--auto-approve")[0] == 0
    # A new default SMTP certificate on the Edge breaks synchronisation (cmdlets.md §6, §10).
    lab.exec("EDGE01", "New-ExchangeCertificate", Services="SMTP", Force=True)
    assert statuses(lab) == {"EDGE01": "Failed"}
    code, out, err = run(capsys, "plan", str(inv))
    assert code == 0 and 'edge_subscription "EDGE01" will be replaced' in out, out + err
    assert "SyncStatus Failed, FailureDetail CookieNotUpdated" in out
    code, out, err = run(capsys, "drift", str(inv), "--json")
    assert code == 2, out + err
    assert "sync_status" in out and "CookieNotUpdated" in out and "last_synchronized_utc" in out
    code, out, err = run(capsys, "apply", str(inv), "--auto-approve")
    assert code == 0, out + err
    assert statuses(lab) == {"EDGE01": "Normal"}
    code, out, err = run(capsys, "drift", str(inv))
    assert code == 0, out + err


def test_the_bootstrap_window_missed_between_waves_stops_before_the_import(lab):
    clock = [1_000_000.0]
    text = inventory(AMSTERDAM, "")

    def later(host, steps):  # a run held up for a day after the Edge wrote its file
        if any(s.output_file for s in steps):
            clock[0] += 25 * 3600

    apply_run, recorder = a_run(lab, text, later)
    apply_run.clock = lambda: clock[0]
    try:
        apply_run.read()
        results = apply_run.apply(apply_run.plan())
    finally:
        apply_run.close()
    (result,) = results["edge01"].results
    # The Edge made its file (and its bootstrap account): the change is partly made, so failed, never "not run".
    assert result.outcome is ChangeOutcome.FAILED and result.message.startswith("partly made (its first operations ran), then")
    assert "bootstrap window" in result.message and "exconf apply" in result.message
    assert [h for h, _ in applied(recorder)] == ["edge01"]  # nothing was sent to EX01
    assert lab.exec("EX01", "Get-EdgeSubscription") == []


def test_an_import_refused_after_the_edge_wrote_its_file_is_finished_by_the_next_apply(lab, capsys):
    text = inventory(AMSTERDAM, "")

    def expire(host, steps):  # the lab clock passes the file's bootstrap window: EX01 refuses the import
        if any(s.output_file for s in steps):
            lab.server.store.advance_clock(25 * 3600)

    apply_run, _ = a_run(lab, text, expire)
    try:
        apply_run.read()
        results = apply_run.apply(apply_run.plan())
    finally:
        apply_run.close()
    (result,) = results["edge01"].results
    assert result.outcome is ChangeOutcome.FAILED and "expire" in result.message
    assert lab.exec("EX01", "Get-EdgeSubscription") == []
    code, out, err = run(capsys, "plan", str(lab.inventory(text)))
    assert code == 0 and 'edge_subscription "EDGE01" will be' in out, out + err
    assert "the organisation does not have" in out or "is not subscribed" in out
    code, out, err = run(capsys, "apply", str(lab.inventory(text)), "--auto-approve")
    assert code == 0, out + err
    assert statuses(lab) == {"EDGE01": "Normal"}


def test_bad_declarations_are_clear_problems(lab, capsys):
    code, out, err = run(capsys, "plan", str(lab.inventory(inventory("{site: Utrecht}", ""))))
    assert code == 1
    assert "site 'Utrecht': no Mailbox server of that site among the hosts read" in out + err
    assert "Amsterdam, Rotterdam" in out + err
    code, out, err = run(capsys, "plan", str(lab.inventory(inventory("{state: present}", ""))))
    assert code == 1 and "site" in out + err and "Traceback" not in out + err


NEW_SMTP = """\
        certificates:
          - match: {subject: "CN=smtp.contoso.lab"}
            services: [SMTP]
            default_smtp: true
"""


def test_a_new_smtp_certificate_on_a_subscribed_edge_brings_the_resubscription_into_the_same_plan(lab, capsys):
    assert run(capsys, "apply", str(lab.inventory(inventory(AMSTERDAM, ""))), "--auto-approve")[0] == 0
    text = inventory(AMSTERDAM, "", NEW_SMTP)
    code, out, err = run(capsys, "plan", str(lab.inventory(text)))
    assert code == 0, out + err
    assert 'edge_subscription "EDGE01" will be replaced' in out and "default SMTP certificate" in out
    apply_run, recorder = a_run(lab, text)
    try:
        apply_run.read()
        results = apply_run.apply(apply_run.plan())
    finally:
        apply_run.close()
    assert [r.outcome for r in results["edge01"].results] == [ChangeOutcome.APPLIED, ChangeOutcome.APPLIED]
    # The certificate first; then the organisation's old subscription removed (Microsoft's "delete and recreate"),
    # then the file for the new certificate, and the rest of the sequence.
    order = [(h, c[0]) for h, c in applied(recorder)]
    assert order[:3] == [("edge01", "Enable-ExchangeCertificate"), ("ex01", "Remove-EdgeSubscription"), ("edge01", "New-EdgeSubscription")]
    assert statuses(lab) == {"EDGE01": "Normal"}
    code, out, err = run(capsys, "plan", str(lab.inventory(text)), "--detailed-exitcode")
    assert code == 0, out + err


def test_a_saved_plan_with_the_certificate_and_the_resubscription_applies_the_same_way(lab, capsys, tmp_path):
    assert run(capsys, "apply", str(lab.inventory(inventory(AMSTERDAM, ""))), "--auto-approve")[0] == 0
    saved = tmp_path / "cert.plan"
    code, out, err = run(capsys, "plan", str(lab.inventory(inventory(AMSTERDAM, "", NEW_SMTP))), "--out", str(saved))
    assert code == 0, out + err
    text = saved.read_text()
    assert '"file_written_by"' in text and '"within": [' in text and "ESRAPassword" not in text
    code, out, err = run(capsys, "show", str(saved))
    assert code == 0 and 'edge_subscription "EDGE01" will be replaced' in out, out + err
    # show names every cmdlet and where it runs, the file carried in memory included
    assert "New-EdgeSubscription -FileData (the file New-EdgeSubscription writes on edge01, carried in memory) -Site 'Amsterdam'" in out, out
    code, out, err = run(capsys, "apply", str(saved), "--auto-approve")
    assert code == 0 and "2 of 2 changes made and verified" in out, out + err
    assert statuses(lab) == {"EDGE01": "Normal"}
