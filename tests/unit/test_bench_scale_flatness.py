"""bench_scale says whether the lab's CPU per host stays flat from 100 servers to the largest size (issue 20)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # as when it runs as a script: its helpers beside it
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_scale", module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_flatness_compares_100_servers_with_the_largest_size_per_command(bench):
    cpu = {(10, "plan"): 90.0, (100, "plan"): 50.0, (200, "plan"): 70.0, (1000, "plan"): 55.0,
           (10, "apply"): 120.0, (100, "apply"): 100.0, (1000, "apply"): 125.0}
    line = bench.flatness(cpu)
    assert line.startswith("lab CPU per host from 100 to 1,000 servers (within 20%): ")
    assert "plan 50.0 -> 55.0 ms (+10.0%, flat)" in line  # 10 servers (fixed costs) and 200 are not compared
    assert "apply 100.0 -> 125.0 ms (+25.0%, NOT flat)" in line


def test_flatness_needs_two_sizes_of_at_least_100(bench):
    assert bench.flatness({(10, "plan"): 90.0, (1000, "plan"): 50.0}) is None
    assert bench.SIZES[:2] == (10, bench.FLAT_FROM) and bench.SIZES[-1] == 1000
