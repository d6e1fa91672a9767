"""bench_scale says whether the lab's CPU per host stays flat from 100 servers to the largest size (issue 20)."""

from __future__ import annotations


def test_flatness_compares_100_servers_with_the_largest_size_per_command(bench_scale):
    cpu = {(10, "plan"): 90.0, (100, "plan"): 50.0, (200, "plan"): 70.0, (1000, "plan"): 55.0,
           (10, "apply"): 120.0, (100, "apply"): 100.0, (1000, "apply"): 125.0}
    line = bench_scale.flatness(cpu)
    assert line.startswith("lab CPU per host from 100 to 1,000 servers (within 20%): ")
    assert "plan 50.0 -> 55.0 ms (+10.0%, flat)" in line  # 10 servers (fixed costs) and 200 are not compared
    assert "apply 100.0 -> 125.0 ms (+25.0%, NOT flat)" in line


def test_flatness_needs_two_sizes_of_at_least_100(bench_scale):
    assert bench_scale.flatness({(10, "plan"): 90.0, (1000, "plan"): 50.0}) is None
    assert bench_scale.SIZES[:2] == (10, bench_scale.FLAT_FROM) and bench_scale.SIZES[-1] == 1000
