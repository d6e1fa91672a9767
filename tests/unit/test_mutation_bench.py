"""bench/mutation.py turns mutmut's exit codes into a score; a wrong table would misreport every module."""

import importlib.util
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("mutation_bench", Path(__file__).resolve().parents[2] / "bench" / "mutation.py")
mutation = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mutation  # dataclasses look their module up there
spec.loader.exec_module(mutation)


def test_killed_and_timed_out_count_for_the_score_and_unchecked_apart():
    codes = {"killed": 1, "pytest-error": 3, "timeout": 36, "survived": 0, "no-tests": 33, "segfault": -11, "skipped": 34, "unchecked": None}
    score = mutation.score_of("m", codes)
    assert (score.killed, score.survived, score.no_tests, score.other, score.unchecked) == (3, 1, 1, 1, 1)
    assert score.counted == 6
    assert round(score.percent, 1) == 50.0


def test_a_module_with_no_mutant_scores_zero_not_an_error():
    assert mutation.score_of("m", {}).percent == 0.0


def test_the_scratch_copy_has_a_src_layout_and_a_mutmut_config(tmp_path):
    mutation.prepare(tmp_path, ["yamlsource", "limit"])
    assert (tmp_path / "src" / "exconf" / "yamlsource.py").is_file()
    assert (tmp_path / "src" / "exconf" / "modules" / "__init__.py").is_file()
    assert (tmp_path / "src" / "exconf" / "lab" / "__init__.py").is_file()
    assert (tmp_path / "engine" / "yamlsource.py").is_file()  # tests read the source tree by path too
    cfg = (tmp_path / "setup.cfg").read_text()
    assert "    src/exconf/yamlsource.py\n    src/exconf/limit.py\n" in cfg
    assert "pytest_add_cli_args_test_selection=tests/unit" in cfg


# --- what the floor covers, the cache, equivalent mutants (docs/testing.md) -------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_every_deciding_engine_module_and_every_kind_is_covered_but_what_is_left_out_with_why():
    covered = mutation.covered()
    for module in ("engine/planfile.py", "engine/plankey.py", "engine/review.py", "engine/safety.py", "engine/planner.py", "engine/graph.py",
                   "engine/readcache.py", "engine/hostpattern.py", "modules/certificate_plan.py", "modules/certificate_values.py",
                   "modules/edge_subscription.py", "modules/settings.py"):
        assert module in covered
    kinds = {f"modules/{p.name}" for p in (ROOT / "modules").glob("*.py")}
    assert kinds == {m for m in covered if m.startswith("modules/")} | set(mutation.NOT_COVERED)
    assert all(reason for reason in mutation.NOT_COVERED.values())


def test_the_docs_state_the_floor_and_every_covered_module():
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    assert f"**{mutation.FLOOR:g} %**" in text
    for module in (*mutation.covered(), *mutation.NOT_COVERED):
        assert f"`{module}`" in text, module


def test_a_module_without_a_mutant_is_not_under_the_floor_one_without_a_test_is():
    assert not mutation.below(mutation.score_of("m", {}), 90)
    assert mutation.below(mutation.score_of("m", {"a": 33}), 90)
    nine_of_ten = {f"k{i}": 1 for i in range(9)} | {"s": 0}
    assert not mutation.below(mutation.score_of("m", nine_of_ten), 90) and mutation.below(mutation.score_of("m", nine_of_ten), 90.1)


def test_an_equivalent_mutant_that_survived_leaves_the_score_one_that_was_killed_counts_as_killed():
    score = mutation.score_of("m", {"a": 0, "b": 0, "c": 1}, frozenset({"a", "c"}))
    assert (score.killed, score.survived, score.equivalent, score.counted) == (1, 1, 1, 2)


def test_equivalent_mutants_are_matched_on_their_function_and_the_lines_they_change():
    diff = "--- src/exconf/graph.py\n+++ src/exconf/graph.py\n@@ -1,3 +1,3 @@\n def f():\n-    changed = False\n+    changed = None\n     return 1"
    marks = [mutation.Equivalent("engine/graph.py", "dependants", "changed = False", "changed = None", "why")]
    assert mutation.changed_lines(diff) == ("changed = False", "changed = None")
    assert mutation.function_of("exconf.graph.x_dependants__mutmut_7") == "dependants"
    assert mutation.function_of("exconf.modules.base.xǁKindDefaultsǁpolls__mutmut_1") == "KindDefaults.polls"
    assert mutation.equivalent_names("engine/graph.py", {"exconf.graph.x_dependants__mutmut_7": diff}, marks) == {"exconf.graph.x_dependants__mutmut_7"}
    assert mutation.equivalent_names("engine/graph.py", {"exconf.graph.x_waves__mutmut_7": diff}, marks) == frozenset()
    assert mutation.equivalent_names("engine/planner.py", {"exconf.planner.x_dependants__mutmut_7": diff}, marks) == frozenset()


def test_every_equivalent_mutant_listed_has_a_one_line_reason():
    marks = mutation.load_equivalents()
    assert marks and all(m.why and "\n" not in m.why and m.module in mutation.covered() for m in marks)


def test_the_cache_key_follows_the_module_and_the_unit_tests_not_other_files(tmp_path):
    for rel in ("engine/graph.py", "engine/limit.py", "tests/unit/test_x.py", "tests/conftest.py", "tests/integration/test_y.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("1\n")
    key = mutation.cache_key("engine/graph.py", tmp_path)
    (tmp_path / "engine/limit.py").write_text("2\n")
    (tmp_path / "tests/integration/test_y.py").write_text("2\n")
    assert mutation.cache_key("engine/graph.py", tmp_path) == key
    for rel in ("engine/graph.py", "tests/unit/test_x.py", "tests/conftest.py"):
        (tmp_path / rel).write_text("changed\n")
        assert mutation.cache_key("engine/graph.py", tmp_path) != key
        key = mutation.cache_key("engine/graph.py", tmp_path)


def test_a_cached_result_is_used_only_for_its_key(tmp_path):
    result = mutation.Result("engine/graph.py", {"a": 1, "b": 0}, {"b": "diff"})
    mutation.store(tmp_path, result, "k1")
    hit = mutation.cached(tmp_path, "engine/graph.py", "k1")
    assert (hit.codes, hit.survivors, hit.cached) == ({"a": 1, "b": 0}, {"b": "diff"}, True)
    assert mutation.cached(tmp_path, "engine/graph.py", "k2") is None and mutation.cached(tmp_path, "engine/review.py", "k1") is None


def test_ci_slices_share_the_modules_out_deterministically():
    modules = list(mutation.covered())
    slices = [mutation.ci_slice(modules, f"{i}/3") for i in (1, 2, 3)]
    assert sorted(m for s in slices for m in s) == sorted(modules)
    assert slices == [mutation.ci_slice(modules, f"{i}/3") for i in (1, 2, 3)]
    assert mutation.ci_slice(modules, "1/1") == modules


def test_ci_runs_the_slice_of_the_commit_count_that_the_docs_describe():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ('.venv/bin/python bench/mutation.py --children "$(nproc 2>/dev/null || echo 2)" '
            '--slice "$(( $(git rev-list --count HEAD 2>/dev/null || echo 0) % 4 + 1 ))/4"') in ci
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    section = text.split("## Mutation testing in CI", 1)[1]
    assert "`python bench/mutation.py --children N --slice I/4`" in section and "modulo 4, plus 1" in section
    assert set(text.splitlines()).isdisjoint({"MEASURED", "TIMES", "CI"})  # no placeholder left


def test_the_scores_the_docs_show_name_only_covered_modules_each_with_a_percentage():
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    table = text.split("### Scores as measured", 1)[1].split("###", 1)[0]
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| `")]
    assert rows and all(cells[0].strip().strip("`") in mutation.covered() for cells in rows)
    assert all(cells[1].strip().endswith(" %") for cells in rows)
