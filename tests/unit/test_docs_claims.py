"""Every promise the user guide and the certificates guide list names a test, and that test exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("doc, least", [("user-guide.md", 50), ("certificates.md", 20)])
def test_every_promise_of_the_user_guide_names_a_test_that_exists(doc: str, least: int) -> None:
    guide = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    section = guide.split("## Promises and the tests that keep them", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| `(tests/[^`]+)::(test_\w+)` \|$", section, re.M)
    assert len(rows) >= least
    missing = []
    for claim, path, name in rows:
        file = ROOT / path
        if not file.is_file() or not re.search(rf"^def {name}\(", file.read_text(encoding="utf-8"), re.M):
            missing.append(f"{claim}: {path}::{name}")
    assert not missing, missing
