"""The lab runtime: LabServer in process, serve() with its control socket and registry, ensure_running()."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest
from winrm.protocol import Protocol

from exconf.lab import runtime
from exconf.lab.winrm import STAT_KEYS
from exconf.lab.winrm.stats import ENDPOINT_KEYS

from . import DOMAIN_ADMIN, TESTS_DIR, FakeStore, install_fake_store, wait_for, write_fake_org

USER = f"{DOMAIN_ADMIN.domain}\\{DOMAIN_ADMIN.user}"


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path, monkeypatch):
    rdir = tmp_path / "run"
    monkeypatch.setenv(runtime.RUNTIME_ENV, str(rdir))
    return rdir


@pytest.fixture
def fake_store_module(monkeypatch):
    """serve() imports exconf.lab.exchange.store: make that the fake for the test."""
    saved = sys.modules.get("exconf.lab.exchange.store")
    install_fake_store()
    yield
    if saved is None:
        monkeypatch.delitem(sys.modules, "exconf.lab.exchange.store", raising=False)
    else:
        sys.modules["exconf.lab.exchange.store"] = saved


def _ntlm(server) -> Protocol:
    return Protocol(f"http://{server.address}:{server.winrm.http_port}/wsman", transport="ntlm",
                    username=USER, password=DOMAIN_ADMIN.password)


# --- paths ---------------------------------------------------------------------------------------


def test_default_state_path():
    assert runtime.default_state_path(Path("/srv/labs/contoso.yaml")) == Path("/srv/labs/.lab/contoso.state.json")


def test_runtime_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(runtime.RUNTIME_ENV, str(tmp_path / "explicit"))
    assert runtime.runtime_dir() == tmp_path / "explicit"
    assert (tmp_path / "explicit").stat().st_mode & 0o777 == 0o700
    monkeypatch.delenv(runtime.RUNTIME_ENV)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    assert runtime.runtime_dir(create=False) == tmp_path / "xdg" / "exconf"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert runtime.runtime_dir(create=False).name == f"exconf-{os.getuid()}"


def test_lab_id_is_stable_and_short(tmp_path):
    a = runtime.lab_id(tmp_path / "x.state.json")
    assert a == runtime.lab_id(tmp_path / "." / "x.state.json") and len(a) == 12


# --- LabServer in process ----------------------------------------------------------------------------


def test_lab_server_serves_and_reports_every_server(tmp_path):
    org = write_fake_org(tmp_path / "org.json", ("EX01", "EDGE01"), unreachable=("EDGE01",))
    store = FakeStore(org, tmp_path / "state.json")
    with runtime.LabServer(store, tmp_path / ".lab") as lab:
        assert lab.ca_path == tmp_path / ".lab" / "lab-ca.pem" and lab.ca_path.exists()
        ex01 = store.servers[0]
        p = _ntlm(ex01)
        shell = p.open_shell()
        p.close_shell(shell)
        stats = lab.stats()
        assert set(stats["servers"]) == {"EX01", "EDGE01"}
        assert all(tuple(s) == STAT_KEYS + ("endpoints",) for s in stats["servers"].values())
        assert stats["servers"]["EX01"]["endpoints"]["/wsman"]["requests"] == 5
        assert stats["servers"]["EX01"]["requests"] == 5 and stats["servers"]["EX01"]["shells"] == 1
        assert stats["servers"]["EDGE01"]["requests"] == 0
        infos = {s.name: s for s in lab.server_infos()}
        assert infos["EDGE01"].unreachable and infos["EDGE01"].http_port is None
        assert infos["EX01"].http_port == ex01.winrm.http_port


# --- serve(): control socket, registry, refusal, stop ---------------------------------------------------


def test_lab_exec_answers_the_cmdlets_warnings_as_the_console_prints_them(tmp_path):
    from exconf.lab.exchange.store import LabStore

    store = LabStore(TESTS_DIR / "lab" / "data" / "org.yaml", tmp_path / "state.json")
    control = runtime.ControlServer(tmp_path / "c.sock", types.SimpleNamespace(store=store), threading.Event())
    answer = control.dispatch({"op": "exec", "server": "ex01", "cmdlet": "Set-ReceiveConnector",
                               "params": {"Identity": "EX01\\Default EX01", "ProtocolLoggingLevel": "None"}})
    assert answer == {"ok": True, "objects": [], "warnings": [
        "The command completed successfully but no settings of 'EX01\\Default EX01' have been modified."]}


def test_a_client_still_connected_cannot_run_commands_once_the_control_socket_stopped(tmp_path):
    import socket

    store = FakeStore(write_fake_org(tmp_path / "org.json", ("EX01",)), tmp_path / "state.json")
    lab = types.SimpleNamespace(store=store, stats=lambda: {"servers": {}})
    control = runtime.ControlServer(tmp_path / "c.sock", lab, threading.Event()).start()
    exec_line = json.dumps({"op": "exec", "server": "EX01", "cmdlet": "Set-Thing", "params": {}}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(tmp_path / "c.sock"))
        client.sendall(exec_line)
        assert json.loads(client.recv(4096))["ok"]
        (thread,) = control._clients.values()
        control.stop()
        assert not thread.is_alive()
        with contextlib.suppress(OSError):
            client.sendall(exec_line)
        assert client.recv(4096) == b""  # closed, unanswered
    assert len(store.console) == 1  # the second exec never ran


@pytest.fixture
def served(tmp_path, fake_store_module):
    """serve() running in a thread on a fake org; yields (org, state, thread-result dict)."""
    org = write_fake_org(tmp_path / "contoso.json")
    state = tmp_path / ".lab" / "contoso.state.json"
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", runtime.serve(org, state)), daemon=True)
    thread.start()
    assert wait_for(lambda: len(runtime.find_running()) == 1 or "code" in result), result
    yield org, state, result
    for lab in runtime.find_running():
        runtime.stop(lab)
    thread.join(10)


def test_serve_registers_and_answers_control_requests(served):
    org, state, result = served
    (lab,) = runtime.find_running()
    assert lab.pid == os.getpid() and lab.org_file == org.resolve() and lab.state_file == state.resolve()
    assert lab.ca_file == state.parent / "lab-ca.pem" and lab.ca_file.exists()
    assert lab.socket.exists() and lab.socket.stat().st_mode & 0o077 == 0
    assert {s.name for s in lab.servers} == {"EX01", "EDGE01"}
    entry = json.loads((runtime.runtime_dir() / f"{lab.id}.json").read_text())
    assert entry["pid"] == os.getpid() and entry["socket"] == str(lab.socket)

    assert lab.ping()
    assert lab.request("ping")["pid"] == os.getpid()
    zero = {**dict.fromkeys(STAT_KEYS, 0), "endpoints": {e: dict.fromkeys(keys, 0) for e, keys in ENDPOINT_KEYS.items()}}
    assert runtime.stats(lab) == {"servers": {name: zero for name in ("EX01", "EDGE01")}}

    assert runtime.exec_on("ex01.contoso.com", "Set-Thing", {"Identity": "x", "Enabled": True}) == [
        {"Server": "EX01", "Cmdlet": "Set-Thing", "Identity": "x", "Enabled": True}
    ]
    with pytest.raises(runtime.ExecError, match="not recognized"):
        runtime.exec_on("EX01", "Get-Fail", {})
    with pytest.raises(runtime.LabError, match="no running lab serves a server named 'EX99'; the running labs serve: EDGE01, EX01"):
        runtime.exec_on("EX99", "Get-Thing", {})
    warnings: list[str] = []
    runtime.exec_on("EX01", "Set-Nothing", {"Identity": "x"}, warnings)
    assert warnings == ["The command completed successfully but no settings of 'x' have been modified."]
    assert lab.request("bogus") == {"ok": False, "error": "unknown operation 'bogus'"}

    assert runtime.stop(lab)
    assert wait_for(lambda: "code" in result)
    assert result["code"] == 0
    assert runtime.find_running() == []
    assert not (runtime.runtime_dir() / f"{lab.id}.json").exists() and not lab.socket.exists()
    assert json.loads(state.read_text())["saved"] >= 1  # state saved on exit


def test_serve_refuses_a_second_lab_on_the_same_state_file(served, capsys):
    org, state, _ = served
    assert runtime.serve(org, state) == 1
    err = capsys.readouterr().err
    assert "already running" in err and str(state.resolve()) in err
    assert f"stop it first with: exconf lab stop {org.resolve()}" in err


def test_serve_counts_winrm_traffic_in_stats(served):
    _, _, _ = served
    (lab,) = runtime.find_running()
    ex01 = next(s for s in lab.servers if s.name == "EX01")

    class Spec:  # just what _ntlm reads
        address = ex01.address
        winrm = type("W", (), {"http_port": ex01.http_port})

    p = _ntlm(Spec)
    p.close_shell(p.open_shell())
    assert runtime.stats(lab)["servers"]["EX01"]["requests"] == 5


def test_serve_prints_servers_and_stops_when_idle(tmp_path, fake_store_module, capsys):
    org = write_fake_org(tmp_path / "idle.json", ("EX01",))
    port = json.loads(org.read_text())["servers"][0]["http_port"]
    assert runtime.serve(org, tmp_path / "idle.state.json", idle_timeout=0.2) == 0
    out = capsys.readouterr().out
    assert "EX01" in out and str(port) in out and str(tmp_path / "lab-ca.pem") in out
    assert DOMAIN_ADMIN.password not in out
    assert "no requests for 0.2 seconds" in out
    assert runtime.find_running() == []


def test_serve_calls_ready_once_it_serves_and_before_anyone_can_find_it(tmp_path, fake_store_module):
    """``exconf lab serve`` settles its heap in ``ready``: the organisation is loaded and listening by then,
    and no client has been told the lab is there yet."""
    import socket

    org = write_fake_org(tmp_path / "ready.json", ("EX01",))
    port = json.loads(org.read_text())["servers"][0]["http_port"]
    address = json.loads(org.read_text())["servers"][0]["address"]
    seen: list[tuple[list, bool]] = []

    def ready() -> None:
        with socket.create_connection((address, port), timeout=5) as conn:
            listening = conn.fileno() >= 0
        seen.append((runtime.find_running(), listening))

    assert runtime.serve(org, tmp_path / "ready.state.json", idle_timeout=0.2, ready=ready) == 0
    assert seen == [([], True)]


def test_serve_reports_a_bad_org_file(tmp_path, fake_store_module, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert runtime.serve(bad, tmp_path / "bad.state.json") == 1
    assert "not a lab organisation file" in capsys.readouterr().err
    assert runtime.find_running() == []


def test_two_labs_serving_the_same_name_is_an_error(tmp_path, fake_store_module):
    labs = []
    threads = []
    for i in range(2):
        org = write_fake_org(tmp_path / f"org{i}.json", ("EX01",))
        t = threading.Thread(target=runtime.serve, args=(org, tmp_path / f"s{i}.json"), daemon=True)
        t.start()
        threads.append(t)
    assert wait_for(lambda: len(runtime.find_running()) == 2)
    labs = runtime.find_running()
    with pytest.raises(runtime.LabError, match="several running labs serve 'EX01'.*choose one with --lab ORG_FILE"):
        runtime.exec_on("EX01", "Get-Thing", {})
    assert runtime.exec_on("EX01", "Get-Thing", {}, lab_file=tmp_path / "org1.json") == [{"Server": "EX01", "Cmdlet": "Get-Thing"}]
    assert [lab.org_file for lab in runtime.select_lab(labs, tmp_path / "s0.json")] == [(tmp_path / "org0.json").resolve()]
    with pytest.raises(runtime.LabError, match="no running lab serves .*nowhere.json"):
        runtime.select_lab(labs, tmp_path / "nowhere.json")
    for lab in labs:
        assert runtime.stop(lab)
    for t in threads:
        t.join(10)


# --- registry cleanup --------------------------------------------------------------------------------------


def _fake_entry(rdir: Path, lid: str, pid: int) -> Path:
    entry = runtime.RunningLab(id=lid, pid=pid, org_file=Path("/x/org.yaml"), state_file=Path("/x/state.json"),
                               socket=rdir / f"{lid}.sock", ca_file=Path("/x/lab-ca.pem"), log_file=None)
    path = rdir / f"{lid}.json"
    path.write_text(json.dumps(entry.to_json()))
    (rdir / f"{lid}.sock").write_text("")
    return path


def test_stale_registry_entries_are_removed():
    rdir = runtime.runtime_dir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_entry = _fake_entry(rdir, "deadbeef0001", dead.pid)
    # A live pid (ours) that holds no lock: a reused pid, not a lab.
    reused_entry = _fake_entry(rdir, "deadbeef0002", os.getpid())
    (rdir / "deadbeef0003.json").write_text("{garbage")
    assert runtime.find_running() == []
    assert not dead_entry.exists() and not (rdir / "deadbeef0001.sock").exists()
    assert not reused_entry.exists()
    assert not (rdir / "deadbeef0003.json").exists()


def test_the_entry_of_a_dead_lab_is_left_alone_while_a_new_lab_holds_the_lock():
    rdir = runtime.runtime_dir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    entry = _fake_entry(rdir, "deadbeef0004", dead.pid)  # what the new lab is about to overwrite
    starting = runtime.LabLock(rdir / "deadbeef0004.lock")
    assert starting.acquire()
    try:
        assert runtime.find_running() == []
        assert entry.exists() and (rdir / "deadbeef0004.sock").exists()  # the new lab's socket, maybe
    finally:
        starting.release()
    assert runtime.find_running() == [] and not entry.exists()  # nobody serves it: now it is stale


def test_exec_on_without_any_lab():
    with pytest.raises(runtime.LabError, match="no running lab serves a server named 'EX01'"):
        runtime.exec_on("EX01", "Get-ExchangeServer", {})


# --- ensure_running(): a detached lab ---------------------------------------------------------------------------


def _fake_serve_argv(org: Path, state: Path) -> list[str]:
    """A detached lab process whose store is the fake (the real CLI and store are tested below)."""
    code = (
        "import sys; sys.path.insert(0, %r); import lab as fakes; fakes.install_fake_store(); "
        "from exconf.lab import runtime; sys.exit(runtime.serve(%r, %r, 60))" % (str(TESTS_DIR), str(org), str(state))
    )
    return [sys.executable, "-c", code]


def test_ensure_running_starts_a_detached_lab_once(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime.client, "_serve_argv", _fake_serve_argv)
    org = write_fake_org(tmp_path / "auto.json", ("EX01",))
    state = runtime.default_state_path(org)
    lab = runtime.ensure_running(org, state, timeout=20)
    try:
        assert lab.started and lab.pid != os.getpid()
        assert os.getsid(lab.pid) == lab.pid  # its own session: it outlives the caller
        assert runtime.log_path_for(state.resolve()).exists()
        again = runtime.ensure_running(org, state)
        assert again.pid == lab.pid and not again.started
        assert set(runtime.stats(lab)["servers"]) == {"EX01"}
    finally:
        assert runtime.stop(lab)
    assert runtime.find_running() == []
    assert state.exists()  # the detached lab saved its state


def test_ensure_running_reports_a_lab_that_dies(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime.client, "_serve_argv", _fake_serve_argv)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(runtime.LabError) as exc:
        runtime.ensure_running(bad, tmp_path / "bad.state.json", timeout=20)
    assert "did not start (exit code 1)" in str(exc.value) and "not a lab organisation file" in str(exc.value)


_EXAMPLE_ORG = TESTS_DIR.parent / "inventories" / "lab-org.yaml"


def test_ensure_running_with_the_real_cli_and_store(tmp_path):
    """``python -m exconf lab serve`` started detached, on a copy of the example organisation."""
    org = tmp_path / "lab-org.yaml"
    # Addresses of its own, so a lab the README started on the example's addresses does not collide.
    prefix = f"127.78.{os.getpid() % 250 + 1}"
    org.write_text(_EXAMPLE_ORG.read_text().replace("127.42.0.", prefix + "."))
    state = runtime.default_state_path(org)
    lab = runtime.ensure_running(org, state, timeout=30)
    try:
        assert lab.started and lab.ping() and lab.pid != os.getpid()
        assert lab.ca_file == state.resolve().parent / "lab-ca.pem" and lab.ca_file.exists()
        assert set(runtime.stats(lab)["servers"]) == {s.name for s in lab.servers}
        assert runtime.ensure_running(org, state).pid == lab.pid
    finally:
        assert runtime.stop(lab)
    assert state.exists()


# --- the lab clock over the control socket -----------------------------------------------------------


def test_the_control_socket_reads_and_advances_the_lab_clock(served):
    (lab,) = runtime.find_running()
    assert runtime.advance_clock(lab, 0)["offset_seconds"] == 0
    moved = runtime.advance_clock(lab, 25 * 3600)
    assert moved["offset_seconds"] == 25 * 3600 and moved["now"].startswith("2026-01-02T01:00:00")
    assert lab.request("clock", advance=-5) == {"ok": False, "error": "clock advance needs a number of seconds, zero or more"}
    assert lab.request("clock", advance="1h")["ok"] is False
    assert runtime.advance_clock(lab, 0)["offset_seconds"] == 25 * 3600


# --- an address already in use (issue 7) ---------------------------------------------------------------


def test_an_address_held_by_another_lab_names_that_lab_and_what_to_do(served, tmp_path, capsys):
    org, _, _ = served
    twin = tmp_path / "twin.json"
    twin.write_text(org.read_text())  # the same addresses and ports
    assert runtime.serve(twin, tmp_path / "twin.state.json") == 1
    err = capsys.readouterr().err
    assert f"is held by the lab {org.resolve()} (pid {os.getpid()}" in err
    assert f"stop it with: exconf lab stop {org.resolve()}" in err
    assert len(runtime.find_running()) == 1  # the first lab is untouched


def test_an_address_held_by_a_process_names_the_process(tmp_path, fake_store_module, capsys):
    import socket

    org = write_fake_org(tmp_path / "org.json", ("EX01",))
    server = json.loads(org.read_text())["servers"][0]
    with socket.socket() as holder:
        holder.bind((server["address"], server["http_port"]))
        holder.listen(1)
        assert runtime.serve(org, tmp_path / "state.json") == 1
    err = capsys.readouterr().err
    assert f"cannot listen on {server['address']}:{server['http_port']}" in err
    assert f"is held by process {os.getpid()} (" in err
    assert runtime.find_running() == []


# --- the detached lab's environment (issue 6, item 12) -----------------------------------------------------


def test_the_lab_environment_keeps_only_what_a_lab_needs():
    env = {"PATH": "/usr/bin", "EXCONF_RUNTIME_DIR": "/run/x", "EXADMIN_PASSWORD": "s3cret", "ANSIBLE_VAULT_PASSWORD_FILE": "/v"}
    assert runtime.lab_environment(env) == {"PATH": "/usr/bin", "EXCONF_RUNTIME_DIR": "/run/x"}


def test_a_detached_lab_does_not_inherit_password_variables(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime.client, "_serve_argv", _fake_serve_argv)
    monkeypatch.setenv("EXCONF_TEST_PASSWORD", "Pl3ase-n0t-here")
    org = write_fake_org(tmp_path / "env.json", ("EX01",))
    lab = runtime.ensure_running(org, runtime.default_state_path(org), timeout=20)
    try:
        environ = Path(f"/proc/{lab.pid}/environ").read_bytes().split(b"\0")
        assert not [v for v in environ if b"Pl3ase-n0t-here" in v]
        assert f"{runtime.RUNTIME_ENV}={os.environ[runtime.RUNTIME_ENV]}".encode() in environ
    finally:
        assert runtime.stop(lab)


def test_an_internal_error_never_echoes_what_the_exception_carries(tmp_path):
    class Broken(FakeStore):
        def exec_console(self, *args, **kwargs):
            text = '{"format": 2, "objects": ' + "x" * 10000 + "\ud800"
            text.encode("utf-8")  # UnicodeEncodeError: its repr holds the whole text

    store = Broken(write_fake_org(tmp_path / "org.json", ("EX01",)), tmp_path / "state.json")
    control = runtime.ControlServer(tmp_path / "c.sock", types.SimpleNamespace(store=store), threading.Event())
    answer = control.dispatch({"op": "exec", "server": "EX01", "cmdlet": "Set-Thing", "params": {}})
    assert answer == {"ok": False, "error": "internal error in the lab: UnicodeEncodeError (the lab's output has the traceback)"}
