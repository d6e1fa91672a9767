"""Apply runs a host's operations of one wave as one task, started once what it needs is done, urgent ones first
(engine/runner.py: apply_tasks, Run._run_tasks)."""

from __future__ import annotations

import threading

from exconf.desired import parse
from exconf.host import Host
from exconf.inventory import load
from exconf.model import Operation
from exconf.runner import Run, Session, Task, apply_tasks


def op(id_, host, *needs):
    return Operation(id=id_, host=host, change=id_, steps=(), needs=tuple(needs))


def sessions(*names):
    return {n: Session(Host(n, i, frozenset(), {}, {})) for i, n in enumerate(names)}


def test_a_task_waits_only_for_what_it_needs_and_its_hosts_earlier_wave():
    s = sessions("edge", "mbx", "other", "sync")
    waves = [[op("file", "edge"), op("own", "other")], [op("import", "mbx", "file")], [op("restart", "edge", "import")],
             [op("sync", "sync", "restart")]]
    tasks = apply_tasks(waves, s)
    assert [(t.session.host.name, [o.id for o in t.ops], sorted(t.after), t.wave) for t in tasks] == [
        ("edge", ["file"], [], 0), ("other", ["own"], [], 0), ("mbx", ["import"], [0], 1), ("edge", ["restart"], [0, 2], 2),
        ("sync", ["sync"], [3], 3)]
    # the chain other hosts wait for is urgent; the host nothing waits for is not, nor the chain's last task
    assert [t.urgent for t in tasks] == [True, False, True, True, False]


def a_run(tmp_path, forks):
    path = tmp_path / "inventory.yaml"
    path.write_text("all:\n  hosts:\n" + "".join(f"    h{i}: {{ansible_user: u, ansible_password: p}}\n" for i in range(4)), encoding="utf-8")
    inv = load([path])
    return Run(inv, list(inv.hosts), parse(inv), forks=forks, executor_factory=lambda host: None)


def test_urgent_tasks_start_first_then_the_others_in_order_each_after_what_it_comes_after(tmp_path):
    run = a_run(tmp_path, forks=1)
    s = run.sessions
    tasks = [Task(0, s["h0"]), Task(1, s["h1"]), Task(2, s["h2"], urgent=True), Task(3, s["h3"], frozenset({2})),
             Task(4, s["h0"], frozenset({0, 3}), urgent=True)]
    order: list[int] = []
    assert run._run_tasks("apply", lambda t: order.append(t.index), tasks) == []
    assert order == [2, 0, 1, 3, 4]
    run.close()


def test_tasks_run_side_by_side_and_one_never_starts_before_what_it_comes_after(tmp_path):
    run = a_run(tmp_path, forks=4)
    s = run.sessions
    gate, lock, seen = threading.Event(), threading.Lock(), []

    def work(t: Task) -> None:
        if t.index == 0:
            assert gate.wait(5)  # the others run meanwhile: 1 and 2 do not wait for 0
        if t.index == 2:
            gate.set()
        with lock:
            seen.append(t.index)

    tasks = [Task(0, s["h0"]), Task(1, s["h1"]), Task(2, s["h2"]), Task(3, s["h3"], frozenset({0}))]
    assert run._run_tasks("apply", work, tasks) == []
    assert seen.index(0) < seen.index(3) and seen.index(2) < seen.index(0)
    run.close()


def test_after_a_stop_no_task_starts_and_those_not_started_are_returned(tmp_path):
    run = a_run(tmp_path, forks=1)
    s = run.sessions

    def work(t: Task) -> None:
        run.stopping.set()

    tasks = [Task(0, s["h0"]), Task(1, s["h1"]), Task(2, s["h2"], frozenset({0}))]
    assert [t.index for t in run._run_tasks("apply", work, tasks)] == [1, 2]
    run.close()


def test_among_tasks_equally_urgent_the_lower_rank_starts_first(tmp_path):
    # apply ranks tasks by the order their hosts finished reading: the host read first waited longest
    run = a_run(tmp_path, forks=1)
    s = run.sessions
    tasks = [Task(0, s["h0"], rank=3), Task(1, s["h1"], rank=1), Task(2, s["h2"], rank=2), Task(3, s["h3"], rank=9, urgent=True)]
    order: list[int] = []
    run._run_tasks("apply", lambda t: order.append(t.index), tasks)
    assert order == [3, 1, 2, 0]
    run.close()


# -- keeping a waiting host's connection (Run._keep_alive) --------------------------------------------------


class _Keeper:
    """An executor's optional keep_alive: answers from a list, records each call."""

    def __init__(self, answers=(True,), fails=False):
        self.answers, self.fails, self.calls = list(answers), fails, []

    def keep_alive(self, *, lead):
        self.calls.append(lead)
        if self.fails:
            raise RuntimeError("the connection broke")
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def close(self):
        pass


def _keep(run, keeping, busy, until):
    """Run the keeper until ``until()`` says the test has seen what it waits for; whether it did."""
    stop = threading.Event()
    thread = threading.Thread(target=run._keep_alive, args=(sorted(keeping), keeping, busy, stop), daemon=True)
    thread.start()
    seen = until()
    stop.set()
    thread.join(5)
    return seen and not thread.is_alive()


def test_a_waiting_host_is_kept_until_its_executor_did_it_and_a_host_applying_is_left_alone(tmp_path, monkeypatch):
    import time

    from exconf import runner

    monkeypatch.setattr(runner, "KEEP_ALIVE_POLL", 0.01)
    run = a_run(tmp_path, forks=1)
    s = run.sessions
    waiting, applying, bare, broken = _Keeper([False, False, True]), _Keeper(), object(), _Keeper(fails=True)
    s["h0"].executor, s["h1"].executor, s["h2"].executor, s["h3"].executor = waiting, applying, bare, broken
    keeping = {"h0", "h1", "h2", "h3"}
    busy = {n: threading.Lock() for n in keeping}
    busy["h1"].acquire()  # its apply is running

    def settled():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and keeping != {"h1"}:
            time.sleep(0.01)
        return keeping == {"h1"}

    assert _keep(run, keeping, busy, settled)
    assert keeping == {"h1"}
    assert waiting.calls == [runner.KEEP_ALIVE_LEAD] * 3  # asked again until it could, then no more
    assert applying.calls == []
    assert broken.calls == [runner.KEEP_ALIVE_LEAD]  # what it met is left for its apply to meet
    assert not busy["h0"].locked() and not busy["h3"].locked()
    busy["h1"].release()
    for name in ("h0", "h1", "h2", "h3"):
        s[name].executor = None
    run.close()


def test_only_a_secret_sent_through_the_hosts_door_asks_for_keeping():
    from exconf.model import PROGRAM
    from exconf.remote import Secret, Step

    password = Secret("environment variable PFX_PASSWORD", lambda: "x")
    pfx = Step("import", "Import-ExchangeCertificate", {"FileData": b"pfx", "Password": password})
    plain = Step("set", "Set-TransportService", {"Identity": "EX01"})
    door = Operation(id="a", host="h", change="a", steps=(plain, pfx))
    assert runner_sends_secret((door,))
    assert not runner_sends_secret((Operation(id="b", host="h", change="b", steps=(plain,)),))
    assert not runner_sends_secret((Operation(id="c", host="h", change="c", steps=(pfx,), where=PROGRAM),))


def runner_sends_secret(ops):
    from exconf.runner import sends_secret

    return sends_secret(ops)


def test_what_faults_md_says_of_keeping_a_waiting_host():
    from pathlib import Path

    from exconf import runner
    from exconf.transport import SERVER_IDLE_TIMEOUT
    from exconf.transport.winrm import idle_margin

    text = " ".join((Path(__file__).resolve().parents[2] / "docs" / "faults.md").read_text(encoding="utf-8").split())
    start = idle_margin(SERVER_IDLE_TIMEOUT) - runner.KEEP_ALIVE_LEAD
    assert f"idle {start:.0f} s (`KEEP_ALIVE_LEAD`: {runner.KEEP_ALIVE_LEAD:.0f} s before the margin)" in text
    assert "`Run._keep_alive`, as many threads side by side as `--forks`" in text


def test_as_many_keepers_as_forks_each_host_with_one_and_the_longest_waiting_first():
    from exconf.runner import keeper_shares

    order = [f"h{i}" for i in range(7)]  # in the order they were read
    shares = keeper_shares(order, 3)
    assert shares == [["h0", "h3", "h6"], ["h1", "h4"], ["h2", "h5"]]
    assert sorted(h for share in shares for h in share) == sorted(order)
    assert len(keeper_shares(order, 50)) == 7 and keeper_shares([], 50) == []
