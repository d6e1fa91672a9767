import textwrap
from pathlib import Path

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
