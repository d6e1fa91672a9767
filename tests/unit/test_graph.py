import pytest

from exconf.graph import GraphError, dependants, waves
from exconf.model import Operation


def op(id_, host, *needs):
    return Operation(id=id_, host=host, change=id_, steps=(), needs=tuple(needs))


def ids(plan_waves):
    return [[o.id for o in wave] for wave in plan_waves]


def test_no_cross_host_needs_is_one_wave_in_plan_order():
    ops = [op("a1", "a"), op("b1", "b"), op("a2", "a")]
    assert ids(waves(ops)) == [["a1", "b1", "a2"]]


def test_a_need_on_the_same_host_stays_in_the_wave_but_runs_after_it():
    ops = [op("a2", "a", "a1"), op("a1", "a")]
    assert ids(waves(ops)) == [["a1", "a2"]]


def test_a_need_on_another_host_starts_a_new_wave():
    ops = [op("mbx", "ex01", "edge"), op("edge", "edge01"), op("other", "ex02")]
    assert ids(waves(ops)) == [["edge", "other"], ["mbx"]]


def test_chains_across_hosts_take_one_wave_per_hop():
    ops = [op("c", "h3", "b"), op("b", "h2", "a"), op("a", "h1"), op("a2", "h1", "a")]
    assert ids(waves(ops)) == [["a", "a2"], ["b"], ["c"]]


def test_unknown_needs_and_cycles_are_errors():
    with pytest.raises(GraphError, match="needs ghost"):
        waves([op("a", "h", "ghost")])
    with pytest.raises(GraphError, match="cycle"):
        waves([op("a", "h1", "b"), op("b", "h2", "a")])


def test_dependants_are_transitive_across_hosts_and_leave_others_alone():
    ops = [op("a", "h1"), op("b", "h2", "a"), op("c", "h3", "b"), op("d", "h3"), op("e", "h1", "d")]
    assert [o.id for o in dependants(ops, "a")] == ["b", "c"]
    assert [o.id for o in dependants(ops, "d")] == ["e"]
    assert dependants(ops, "c") == []


def test_no_operations_is_no_wave():
    assert waves([]) == []


def test_dependants_are_found_whatever_order_the_plan_lists_them_in():
    ops = [op("c", "h3", "b"), op("b", "h2", "a"), op("a", "h1")]
    assert sorted(o.id for o in dependants(ops, "a")) == ["b", "c"]


def test_a_hosts_free_operations_join_the_latest_wave_it_takes_part_in_anyway():
    # mbx imports the Edge's file in wave 2 and synchronises after the Edge's restart in wave 4; its own changes
    # (own1, own2: nothing elsewhere waits for them) travel with the last of those round trips, not in wave 1.
    ops = [op("own1", "mbx"), op("own2", "mbx", "own1"), op("file", "edge"), op("import", "mbx", "file"),
           op("restart", "edge", "import"), op("sync", "mbx", "restart"), op("other", "ex02")]
    assert ids(waves(ops)) == [["file", "other"], ["import"], ["restart"], ["own1", "own2", "sync"]]


def test_an_operation_is_not_moved_past_what_needs_it():
    # own1 is needed by the Edge in wave 2: it stays in wave 1; own2 (needed by nothing elsewhere) moves to wave 3
    ops = [op("own1", "mbx"), op("own2", "mbx"), op("edge", "edge", "own1"), op("back", "mbx", "edge")]
    assert ids(waves(ops)) == [["own1"], ["edge"], ["own2", "back"]]
    # a same-host need only keeps it in the same wave or earlier, and first in it
    ops = [op("a", "h1"), op("x", "h2"), op("b", "h1", "x"), op("c", "h1", "a")]
    assert ids(waves(ops)) == [["x"], ["a", "b", "c"]]


def test_an_operation_with_a_deadline_stays_where_its_needs_put_it():
    timed = Operation(id="t", host="mbx", change="t", steps=(), within=("file", 60))
    ops = [timed, op("file", "edge"), op("import", "mbx", "file")]
    assert ids(waves(ops)) == [["t", "file"], ["import"]]
