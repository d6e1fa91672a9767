"""Mutation score per engine module: which behaviour do tests/unit actually pin down?

Runs mutmut (the ``test`` extra installs it) on the engine modules named on the command
line against tests/unit and prints, per module, how many mutants the tests killed.
A surviving mutant is a change to the code that no test notices.

    python bench/mutation.py                       # values, limit, inventory, yamlsource
    python bench/mutation.py yamlsource schema     # any engine modules
    python bench/mutation.py --show yamlsource     # also list the surviving mutants

mutmut imports the mutated code from ``mutants/`` in place of the package, which needs a
standard layout; exconf maps ``exconf`` to ``engine/`` (pyproject's package-dir), so the
script runs mutmut in a scratch copy of the checkout laid out as ``src/exconf`` (engine,
with ``modules`` and ``lab`` inside). The checkout itself is never written to.

Score = killed / (killed + survived + no tests + suspicious); timeouts count as killed
(mutmut's own convention), skipped mutants are left out. Mutants mutmut did not get to
(it stopped early) are counted apart as "unchecked", and the script then says so and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODULES = ("values", "limit", "inventory", "yamlsource")
KILLED = {1, 3, 36, 37, -24, 24, 152, 255}  # mutmut's exit codes for killed, timeout, type-checked
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}
UNCHECKED = {None}


@dataclass(frozen=True)
class Score:
    """Mutants of one module by outcome."""

    module: str
    killed: int
    survived: int
    no_tests: int
    other: int
    unchecked: int = 0

    @property
    def counted(self) -> int:
        return self.killed + self.survived + self.no_tests + self.other

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 0.0


def score_of(module: str, exit_codes: dict[str, int | None]) -> Score:
    """Classify mutmut's exit codes (from a .meta file) the way mutmut's stats do."""
    counts: Counter[str] = Counter()
    for code in exit_codes.values():
        if code in UNCHECKED:
            counts["unchecked"] += 1
        elif code in SKIPPED:
            counts["skipped"] += 1
        elif code in KILLED:
            counts["killed"] += 1
        elif code in SURVIVED:
            counts["survived"] += 1
        elif code in NO_TESTS:
            counts["no_tests"] += 1
        else:
            counts["other"] += 1  # suspicious, segfault
    return Score(module, counts["killed"], counts["survived"], counts["no_tests"], counts["other"], counts["unchecked"])


def _tracked_files() -> list[str]:
    """The checkout's files: git's list, or (in a copy that is no git checkout) every file but caches."""
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if done.returncode == 0:
        return [p for p in done.stdout.decode().split("\0") if p]
    skip = {".git", ".venv", "mutants", "__pycache__", ".pytest_cache"}
    return sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts))


def prepare(scratch: Path, modules: list[str]) -> None:
    """Copy the checkout (tracked files, as they are on disk) into a src/exconf layout with a mutmut config."""
    for rel in _tracked_files():
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the work tree
        top, _, rest = rel.partition("/")
        targets = [scratch / rel]  # the tests also read docs/, inventories/ and the source tree by path
        if top == "engine":
            targets.append(scratch / "src" / "exconf" / rest)
        elif top in ("modules", "lab"):
            targets.append(scratch / "src" / "exconf" / top / rest)
        for dst in targets:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    also = sorted({rel.split("/")[0] for rel in _tracked_files()} - {"tests", "src"})
    # pyproject.toml has no [tool.mutmut], so mutmut reads setup.cfg.
    cfg = ["[mutmut]", "source_paths=src", "only_mutate="]
    cfg += [f"    src/exconf/{m}.py" for m in modules]
    cfg += ["pytest_add_cli_args_test_selection=tests/unit", "pytest_add_cli_args=-p no:cacheprovider -p no:xdist", "also_copy="]
    cfg += [f"    {a}" for a in also]
    (scratch / "setup.cfg").write_text("\n".join(cfg) + "\n", encoding="utf-8")


def run(scratch: Path, children: int) -> tuple[int, str]:
    """Run mutmut in the scratch copy; its exit code and the end of what it printed (for a failure)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    mutmut = Path(sys.executable).with_name("mutmut")
    cmd = [str(mutmut) if mutmut.exists() else "mutmut", "run", "--max-children", str(children)]
    done = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True, errors="replace")
    return done.returncode, (done.stdout + done.stderr)[-2000:]


def read_scores(scratch: Path, modules: list[str]) -> tuple[list[Score], dict[str, list[str]]]:
    scores, survivors = [], {}
    for m in modules:
        meta = scratch / "mutants" / "src" / "exconf" / f"{m}.py.meta"
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"] if meta.exists() else {}
        scores.append(score_of(m, codes))
        survivors[m] = sorted(k for k, c in codes.items() if c in SURVIVED | NO_TESTS)
    return scores, survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(DEFAULT_MODULES), help="engine module names (default: %(default)s)")
    parser.add_argument("--children", type=int, default=2, help="parallel mutant runs (default 2: the machine's cores)")
    parser.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print its path")
    parser.add_argument("--resume", type=Path, metavar="SCRATCH", help="go on in a scratch copy kept by --keep (mutmut checks what is left)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if not (ROOT / "engine" / f"{m}.py").is_file()]
    if unknown:
        print(f"no such engine module: {', '.join(unknown)}", file=sys.stderr)
        return 2
    scratch = args.resume or Path(tempfile.mkdtemp(prefix="exconf-mutation-"))
    keep = args.keep or args.resume is not None
    try:
        if args.resume is None:
            prepare(scratch, args.modules)
        code, output = run(scratch, args.children)
        scores, survivors = read_scores(scratch, args.modules)
        if not any(s.counted for s in scores):
            print(f"mutmut produced no results (exit {code}):\n{output}", file=sys.stderr)
            return 1
        fields = ("killed", "survived", "no_tests", "other", "unchecked")
        print(f"{'module':<26}{'score':>8}{'killed':>8}{'survived':>10}{'no tests':>10}{'other':>7}{'unchecked':>11}")
        total = Score("total", *(sum(getattr(s, f) for s in scores) for f in fields))
        for s in [*scores, total]:
            name = s.module if s is total else f"engine/{s.module}.py"
            print(f"{name:<26}{s.percent:>7.1f}%{s.killed:>8}{s.survived:>10}{s.no_tests:>10}{s.other:>7}{s.unchecked:>11}")
        if args.show:
            mutmut = Path(sys.executable).with_name("mutmut")
            for m, names in survivors.items():
                for name in names:
                    shown = subprocess.run([str(mutmut), "show", name], cwd=scratch, capture_output=True, text=True)
                    print(shown.stdout)
        if total.unchecked:
            print(f"mutmut stopped before checking {total.unchecked} mutants (exit {code}); the scores are partial:\n{output}", file=sys.stderr)
            return 1
        return 0
    finally:
        if keep:
            print(f"scratch copy: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
