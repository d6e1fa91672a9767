"""The exconf process keeps what lives as long as it does out of the cyclic collector's scans (engine/heap.py)."""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import weakref

from rich.console import Console

from exconf import heap, labcli


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_settle_heap_freezes_what_is_alive_and_frees_the_garbage_first():
    alive = _Node()
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    before = gc.get_freeze_count()
    thresholds = gc.get_threshold()
    try:
        heap.settle_heap()
        assert gone() is None  # collected, not frozen for ever
        assert gc.get_freeze_count() > before
        assert not any(o is alive for o in gc.get_objects())  # frozen objects are not tracked by any generation
        assert gc.get_threshold() == (thresholds[0], thresholds[1], heap.FULL_COLLECTION_EVERY)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert any(o is alive for o in gc.get_objects())


def test_the_exconf_process_settles_its_heap_after_its_imports():
    code = ("import gc, sys; sys.argv = ['exconf', 'plan', '/nonexistent/inventory.yaml']; from exconf.entry import main; "
            "rc = main(); print(rc, gc.get_freeze_count(), gc.get_threshold()[2])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    rc, frozen, full_every = done.stdout.split()
    assert rc == "1" and "no inventory file" in done.stderr
    assert int(frozen) > 10_000  # the modules (rich, requests, cryptography, the kinds …)
    assert int(full_every) == heap.FULL_COLLECTION_EVERY > 10  # fewer full collections than CPython's default


def test_lab_serve_settles_the_heap_once_the_lab_serves(monkeypatch, tmp_path):
    from exconf.lab import runtime

    called: dict = {}
    monkeypatch.setattr(runtime, "serve", lambda org, state, **kw: called.update(kw) or 0)
    args = argparse.Namespace(lab_command="serve", org_file=tmp_path / "org.yaml", state=tmp_path / "s.json", idle_timeout=None)
    assert labcli.lab_main(args, Console(), Console()) == 0
    assert called["ready"] is heap.settle_heap
