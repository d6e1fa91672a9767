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
