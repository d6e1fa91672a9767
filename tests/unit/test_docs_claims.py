"""Every promise the user guide lists names a test, and that test exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_promise_of_the_user_guide_names_a_test_that_exists() -> None:
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    section = guide.split("## Promises and the tests that keep them", 1)[1]
    rows = re.findall(r"^\| (.+?) \| `(tests/[^`]+)::(test_\w+)` \|$", section, re.M)
    assert len(rows) >= 50
    missing = []
    for claim, path, name in rows:
        file = ROOT / path
        if not file.is_file() or not re.search(rf"^def {name}\(", file.read_text(encoding="utf-8"), re.M):
            missing.append(f"{claim}: {path}::{name}")
    assert not missing, missing
