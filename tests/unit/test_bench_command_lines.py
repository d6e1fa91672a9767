"""Every benchmark answers --help and a wrong argument with a usage message, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("bench_*.py"))


def test_every_benchmark_is_covered():
    assert len(SCRIPTS) >= 10 and BENCH / "bench_scale.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_help_and_a_wrong_argument(script):
    helped = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: "), helped.stderr[-2000:]
    wrong = subprocess.run([sys.executable, str(script), "not-a-number"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2, wrong.stdout[-2000:]
    assert "Traceback" not in wrong.stderr and "error: " in wrong.stderr, wrong.stderr[-2000:]


def test_a_lab_that_does_not_start_ends_a_benchmark_with_what_the_lab_said(monkeypatch):
    from exconf.lab.runtime import LabError

    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "argv", [str(BENCH / "bench_scale.py")])
    import benchargs

    with pytest.raises(SystemExit) as exited:
        with benchargs.lab_errors():
            raise LabError("the lab did not start (exit code 1): 127.147.200.1:5985 is held by process 42")
    assert exited.value.code == "bench_scale: the lab did not start (exit code 1): 127.147.200.1:5985 is held by process 42"
