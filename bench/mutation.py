"""Mutation score per module: which behaviour do tests/unit actually pin down?

Runs mutmut (the ``test`` extra installs it) on the modules that decide what exconf sends or
refuses, against tests/unit only, and prints per module how many mutants the tests killed.
A surviving mutant is a change to the code that no test notices. Exits 1 when a covered module
scores under the floor (docs/testing.md).

    python bench/mutation.py                          # every covered module (cached), floor check
    python bench/mutation.py engine/safety.py         # one module (while writing its tests)
    python bench/mutation.py --show modules/settings.py   # also print each surviving mutant
    python bench/mutation.py --no-cache               # mutate everything again
    python bench/mutation.py --slice 2/3              # one of three shares balanced by size (CI: .ci/run)

**Cache.** A module's result is kept under ``--cache`` (default ``$EXCONF_MUTATION_CACHE``, else
``$XDG_CACHE_HOME/exconf/mutation`` or ``~/.cache/exconf/mutation``)
keyed by the SHA-256 of the module's source, of every file of tests/unit (and tests/conftest.py),
of this script's rules and of mutmut's version: an unchanged module with unchanged unit tests is not
mutated again. What the key leaves out (other modules a test also runs, docs the tests read) can make
a cached score stale; ``--no-cache`` is the honest full run.

**Equivalent mutants** (a change no behaviour can tell apart) are listed in
bench/mutation_equivalent.toml, each with a one-line reason, matched on the lines the mutant
changes; they are left out of the score and counted apart.

mutmut imports the mutated code from ``mutants/`` in place of the package, which needs a
standard layout; exconf maps ``exconf`` to ``engine/`` (pyproject's package-dir), so the
script runs mutmut in a scratch copy of the checkout laid out as ``src/exconf`` (engine,
with ``modules`` and ``lab`` inside). The checkout itself is never written to.

Score = killed / (killed + survived + no tests + suspicious); timeouts count as killed
(mutmut's own convention), skipped and equivalent mutants are left out. Mutants mutmut did not
get to (it stopped early) are counted apart as "unchecked", and the script then says so and exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = 90.0  # percent killed every covered module must reach (docs/testing.md)
# Every engine module that decides what is sent or refused, and every kind (modules/).
COVERED_ENGINE = (
    "engine/graph.py",
    "engine/hostpattern.py",
    "engine/planfile.py",
    "engine/planner.py",
    "engine/plankey.py",
    "engine/readcache.py",
    "engine/review.py",
    "engine/safety.py",
)
# modules/ files left out, each with why (docs/testing.md says the same).
NOT_COVERED = {
    "modules/transport_logging.py": "its one function builds the property table while modules/ is imported; mutmut switches mutants "
                                    "only after import, so no test can reach them (the table is pinned by the docs and schema tests)",
}
EQUIVALENT_FILE = ROOT / "bench" / "mutation_equivalent.toml"
RULES = "2"  # bump when the classification or the scratch layout changes: every cached result is then stale
KILLED = {1, 3, 36, 37, -24, 24, 152, 255}  # mutmut's exit codes for killed, timeout, type-checked
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}
UNCHECKED = {None}


def covered() -> tuple[str, ...]:
    """The modules the floor applies to: COVERED_ENGINE and every file of modules/ (a new kind is covered by being added)."""
    kinds = sorted(f"modules/{p.name}" for p in (ROOT / "modules").glob("*.py") if f"modules/{p.name}" not in NOT_COVERED)
    return (*COVERED_ENGINE, *kinds)


@dataclass(frozen=True)
class Score:
    """Mutants of one module by outcome."""

    module: str
    killed: int
    survived: int
    no_tests: int
    other: int
    unchecked: int = 0
    equivalent: int = 0

    @property
    def counted(self) -> int:
        return self.killed + self.survived + self.no_tests + self.other

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 0.0


def score_of(module: str, exit_codes: dict[str, int | None], equivalent: frozenset[str] = frozenset()) -> Score:
    """Classify mutmut's exit codes (from a .meta file) the way mutmut's stats do; ``equivalent`` mutants
    that no test killed are left out of the score and counted apart."""
    counts: Counter[str] = Counter()
    for name, code in exit_codes.items():
        if code in UNCHECKED:
            counts["unchecked"] += 1
        elif code in SKIPPED:
            counts["skipped"] += 1
        elif code in KILLED:
            counts["killed"] += 1
        elif name in equivalent:
            counts["equivalent"] += 1
        elif code in SURVIVED:
            counts["survived"] += 1
        elif code in NO_TESTS:
            counts["no_tests"] += 1
        else:
            counts["other"] += 1  # suspicious, segfault
    return Score(module, counts["killed"], counts["survived"], counts["no_tests"], counts["other"], counts["unchecked"], counts["equivalent"])


# --- modules, the scratch copy and mutmut ---------------------------------------------------------------------


def module_path(name: str) -> str:
    """``engine/safety.py``, ``modules/settings.py``; a bare engine name (``safety``) as the script took before."""
    name = name.strip().removeprefix("./")
    if "/" not in name:
        name = f"engine/{name.removesuffix('.py')}.py"
    return name


def scratch_path(module: str) -> str:
    """Where a module lives in the scratch copy's src/exconf layout."""
    top, _, rest = module.partition("/")
    return f"src/exconf/{rest}" if top == "engine" else f"src/exconf/{top}/{rest}"


def _tracked_files() -> list[str]:
    """The checkout's files: git's list (tracked, and new files not ignored), or (in a copy that is no git
    checkout) every file but caches."""
    done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True)
    if done.returncode == 0:
        return sorted({p for p in done.stdout.decode().split("\0") if p})
    skip = {".git", ".venv", "mutants", "__pycache__", ".pytest_cache"}
    return sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts))


def prepare(scratch: Path, modules: list[str]) -> None:
    """Copy the checkout (tracked files, as they are on disk) into a src/exconf layout with a mutmut config."""
    files = _tracked_files()
    for rel in files:
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
    also = sorted({rel.split("/")[0] for rel in files} - {"tests", "src"})
    # pyproject.toml has no [tool.mutmut], so mutmut reads setup.cfg.
    cfg = ["[mutmut]", "source_paths=src", "only_mutate="]
    cfg += [f"    {scratch_path(module_path(m))}" for m in modules]
    cfg += ["pytest_add_cli_args_test_selection=tests/unit", "pytest_add_cli_args=-p no:cacheprovider -p no:xdist", "also_copy="]
    cfg += [f"    {a}" for a in also]
    (scratch / "setup.cfg").write_text("\n".join(cfg) + "\n", encoding="utf-8")


def _mutmut() -> str:
    mutmut = Path(sys.executable).with_name("mutmut")
    return str(mutmut) if mutmut.exists() else "mutmut"


def run(scratch: Path, children: int) -> tuple[int, str]:
    """Run mutmut in the scratch copy; its exit code and the end of what it printed (for a failure)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([_mutmut(), "run", "--max-children", str(children)], cwd=scratch, env=env, capture_output=True, text=True, errors="replace")
    return done.returncode, (done.stdout + done.stderr)[-2000:]


def exit_codes(scratch: Path, module: str) -> dict[str, int | None] | None:
    """mutmut's exit code per mutant of a module ({} for a module without a function to mutate), or None when
    mutmut did not get as far as mutating it."""
    meta = scratch / "mutants" / f"{scratch_path(module)}.meta"
    return json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"] if meta.exists() else None


_DIFFS = """
import json, subprocess, sys
out = {}
try:
    from mutmut.mutation.diff_apply import get_diff_for_mutant
except ImportError:
    get_diff_for_mutant = None
for path, name in json.load(sys.stdin):
    if get_diff_for_mutant is not None:
        try:
            out[name] = get_diff_for_mutant(name, path=path)
            continue
        except Exception:
            pass
    shown = subprocess.run([sys.argv[1], "show", name], capture_output=True, text=True)
    out[name] = shown.stdout.split("\\n", 1)[-1]
json.dump(out, sys.stdout)
"""


def diffs(scratch: Path, wanted: list[tuple[str, str]]) -> dict[str, str]:
    """The diff of each (module, mutant) asked for, read from the scratch copy in one process."""
    if not wanted:
        return {}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    payload = json.dumps([(scratch_path(m), name) for m, name in wanted])
    done = subprocess.run([sys.executable, "-c", _DIFFS, _mutmut()], cwd=scratch, env=env, input=payload, capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 and done.stdout else {}


# --- equivalent mutants -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Equivalent:
    """A mutant no behaviour can tell apart from the code: the lines it changes, in which function, and why."""

    module: str
    function: str
    was: str
    now: str
    why: str


def function_of(mutant: str) -> str:
    """``exconf.planner.x_plan__mutmut_3`` -> ``plan``; a method's ``xǁKindǁplan__mutmut_1`` -> ``Kind.plan``."""
    last = mutant.rsplit(".", 1)[-1].split("__mutmut_")[0]
    if last.startswith("xǁ"):
        return ".".join(p for p in last[2:].split("ǁ") if p)
    return last.removeprefix("x_")


def changed_lines(diff: str) -> tuple[str, str]:
    """The lines a mutant removes and adds (stripped, joined), which is what identifies it across edits elsewhere."""
    lines = diff.splitlines()
    was = "\n".join(line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---"))
    now = "\n".join(line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++"))
    return was, now


def load_equivalents(path: Path = EQUIVALENT_FILE) -> list[Equivalent]:
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = []
    for entry in data.get("equivalent", []):
        why = str(entry.get("why", "")).strip()
        if not why or "\n" in why:
            raise SystemExit(f"{path}: every equivalent mutant needs a one-line reason ({entry.get('module')}: {entry.get('function')})")
        out.append(Equivalent(module_path(entry["module"]), entry["function"], entry["was"].strip(), entry["now"].strip(), why))
    return out


def equivalent_names(module: str, survivors: dict[str, str], marks: list[Equivalent]) -> frozenset[str]:
    """The surviving mutants of ``module`` (name -> diff) that an entry of ``marks`` declares equivalent."""
    mine = [e for e in marks if e.module == module]
    out = set()
    for name, diff in survivors.items():
        was, now = changed_lines(diff)
        if any(e.function == function_of(name) and e.was == was and e.now == now for e in mine):
            out.add(name)
    return frozenset(out)


# --- the cache --------------------------------------------------------------------------------------------------


def _mutmut_version() -> str:
    try:
        return metadata.version("mutmut")
    except metadata.PackageNotFoundError:
        return "?"


def test_sources(root: Path = ROOT) -> list[Path]:
    """The unit tests' source: every file of tests/unit and the conftest above it."""
    files = [p for p in (root / "tests" / "unit").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    conftest = root / "tests" / "conftest.py"
    return sorted(files + ([conftest] if conftest.exists() else []))


def cache_key(module: str, root: Path = ROOT) -> str:
    """SHA-256 of what a module's result depends on, as far as the cache is concerned: its source, the unit
    tests' source, these rules and mutmut's version."""
    h = hashlib.sha256(f"rules {RULES}\0mutmut {_mutmut_version()}\0".encode())
    for path in [root / module, *test_sources(root)]:
        data = path.read_bytes() if path.exists() else b""
        h.update(str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def default_cache() -> Path:
    if os.environ.get("EXCONF_MUTATION_CACHE"):
        return Path(os.environ["EXCONF_MUTATION_CACHE"])
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "exconf" / "mutation"


@dataclass
class Result:
    """One module's mutants: exit code per mutant, the diff of each one that survived, and whether it came from the cache."""

    module: str
    codes: dict[str, int | None]
    survivors: dict[str, str] = field(default_factory=dict)
    cached: bool = False


def _cache_file(cache: Path, module: str) -> Path:
    return cache / (module.replace("/", "__") + ".json")


def cached(cache: Path, module: str, key: str) -> Result | None:
    try:
        data = json.loads(_cache_file(cache, module).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("key") != key:
        return None
    return Result(module, data["codes"], data["survivors"], cached=True)


def store(cache: Path, result: Result, key: str) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    path = _cache_file(cache, result.module)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": key, "codes": result.codes, "survivors": result.survivors}, indent=1), encoding="utf-8")
    os.replace(tmp, path)


# --- the run ----------------------------------------------------------------------------------------------------


def mutate(modules: list[str], children: int, keep: bool, resume: Path | None) -> tuple[list[Result], str]:
    """Run mutmut on ``modules`` in a scratch copy: their results (survivors with their diffs), or why none."""
    scratch = resume or Path(tempfile.mkdtemp(prefix="exconf-mutation-"))
    try:
        if resume is None:
            prepare(scratch, modules)
        code, output = run(scratch, children)
        found = {m: exit_codes(scratch, m) for m in modules}
        if any(codes is None for codes in found.values()):
            return [], f"mutmut produced no results (exit {code}):\n{output}"
        results = [Result(m, codes or {}) for m, codes in found.items()]
        stopped = "could not find any test case" in output or "Unable to force test failures" in output
        if stopped and all(c is None for r in results for c in r.codes.values()):
            for r in results:  # mutmut stops before running any: no unit test reaches these modules at all
                r.codes = {name: 33 for name in r.codes}
        wanted = [(r.module, name) for r in results for name, c in r.codes.items() if c in SURVIVED | NO_TESTS]
        shown = diffs(scratch, wanted)
        for r in results:
            r.survivors = {name: shown.get(name, "") for name, c in r.codes.items() if c in SURVIVED | NO_TESTS}
        unchecked = sum(1 for r in results for c in r.codes.values() if c is None)
        return results, (f"mutmut stopped before checking {unchecked} mutants (exit {code}):\n{output}" if unchecked else "")
    finally:
        if keep or resume is not None:
            print(f"scratch copy: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def ci_slice(modules: list[str], spec: str, root: Path = ROOT) -> list[str]:
    """``I/N``: the I-th of N shares of the modules, balanced by source size (about as many mutants in each):
    the largest first, each to the lightest share so far, ties by name. Deterministic for a given checkout."""
    index, _, count = spec.partition("/")
    i, n = int(index), int(count)
    if not 1 <= i <= n:
        raise SystemExit(f"--slice {spec}: expected I/N with 1 <= I <= N")
    weight = {m: (root / m).stat().st_size if (root / m).exists() else 0 for m in modules}
    shares: list[list[str]] = [[] for _ in range(n)]
    loads = [0] * n
    for m in sorted(modules, key=lambda m: (-weight[m], m)):
        lightest = loads.index(min(loads))
        shares[lightest].append(m)
        loads[lightest] += weight[m]
    return [m for m in modules if m in shares[i - 1]]


def below(score: Score, floor: float) -> bool:
    """Under the floor; a module without a mutant (data only, no function) has nothing to kill and is not."""
    return bool(score.counted or score.unchecked) and score.percent < floor


def table(scores: list[Score], sources: dict[str, str], floor: float) -> list[str]:
    lines = [f"{'module':<40}{'score':>8}{'killed':>8}{'survived':>10}{'no tests':>10}{'other':>7}{'equiv':>7}{'unchecked':>11}  "]
    fields = ("killed", "survived", "no_tests", "other", "unchecked", "equivalent")
    total = Score("total", *(sum(getattr(s, f) for s in scores) for f in fields))
    for s in [*scores, total]:
        mark = "" if s is total else ("  BELOW FLOOR" if below(s, floor) else "  (no code to mutate)" if not s.counted and not s.unchecked else "") + f"  ({sources.get(s.module, '')})"
        shown = f"{s.percent:>7.1f}%" if s.counted or s.unchecked else f"{'—':>8}"
        lines.append(f"{s.module:<40}{shown}{s.killed:>8}{s.survived:>10}{s.no_tests:>10}{s.other:>7}{s.equivalent:>7}{s.unchecked:>11}{mark}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules by path (engine/safety.py, modules/settings.py); default: every covered module")
    parser.add_argument("--children", type=int, default=2, help="parallel mutant runs (default 2: the machine's cores)")
    parser.add_argument("--floor", type=float, default=FLOOR, help="percent killed a module must reach (default %(default)s)")
    parser.add_argument("--cache", type=Path, default=None, help="where results are kept (default $EXCONF_MUTATION_CACHE or ~/.cache/exconf/mutation)")
    parser.add_argument("--no-cache", action="store_true", help="mutate every module again (the results are still stored)")
    parser.add_argument("--slice", metavar="I/N", help="only the I-th of N deterministic shares of the modules (CI)")
    parser.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print its path")
    parser.add_argument("--resume", type=Path, metavar="SCRATCH", help="go on in a scratch copy kept by --keep (mutmut checks what is left)")
    args = parser.parse_args(argv)
    modules = [module_path(m) for m in args.modules] or list(covered())
    unknown = [m for m in modules if not (ROOT / m).is_file() or not m.startswith(("engine/", "modules/"))]
    if unknown:
        print(f"no such module: {', '.join(unknown)} (name an engine/ or modules/ file)", file=sys.stderr)
        return 2
    if args.slice:
        modules = ci_slice(modules, args.slice)
    cache = args.cache or default_cache()
    keys = {m: cache_key(m) for m in modules}
    started = time.monotonic()
    results: dict[str, Result] = {}
    if not args.no_cache and args.resume is None:
        for m in modules:
            hit = cached(cache, m, keys[m])
            if hit is not None:
                results[m] = hit
    todo = [m for m in modules if m not in results]
    problem = ""
    if todo:
        fresh, problem = mutate(todo, args.children, args.keep, args.resume)
        if not fresh:
            print(problem, file=sys.stderr)
            return 1
        for r in fresh:
            results[r.module] = r
            if not any(c is None for c in r.codes.values()):
                store(cache, r, keys[r.module])
    marks = load_equivalents()
    scores, sources = [], {}
    for m in modules:
        r = results[m]
        scores.append(score_of(m, r.codes, equivalent_names(m, r.survivors, marks)))
        sources[m] = "cached" if r.cached else "mutated"
    print("\n".join(table(scores, sources, args.floor)))
    print(f"{len(modules)} modules ({len(todo)} mutated, {len(modules) - len(todo)} from the cache {cache}) in {time.monotonic() - started:.0f} s")
    if args.show:
        for m in modules:
            equivalent = equivalent_names(m, results[m].survivors, marks)
            for name, diff in sorted(results[m].survivors.items()):
                if name not in equivalent:
                    print(f"# {name}: {'no tests' if results[m].codes.get(name) in NO_TESTS else 'survived'}\n{diff}\n")
    if problem:
        print(f"the scores are partial: {problem}", file=sys.stderr)
        return 1
    under = [s for s in scores if below(s, args.floor)]
    if under:
        print(f"under the floor of {args.floor:g} % killed: " + ", ".join(f"{s.module} {s.percent:.1f} %" for s in under), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
