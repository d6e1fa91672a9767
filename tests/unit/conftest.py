import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture
def write(tmp_path: Path):
    """Write dedented files under tmp_path; returns the path of the first one."""

    def _write(files: dict[str, str]) -> Path:
        first = None
        for name, text in files.items():
            p = tmp_path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
            first = first or p
        return first

    return _write


@pytest.fixture
def bench_scale(monkeypatch) -> ModuleType:
    """bench/bench_scale.py, loaded as when it runs as a script: its helpers (benchargs) beside it on the path."""
    bench = Path(__file__).resolve().parents[2] / "bench"
    monkeypatch.syspath_prepend(str(bench))
    spec = importlib.util.spec_from_file_location("bench_scale", bench / "bench_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_scale", module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module
