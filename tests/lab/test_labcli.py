"""engine/labcli.py's pure parts: durations for `lab clock advance`, terminal-safe text, the checkout."""

from pathlib import Path

import pytest

from exconf.labcli import checkout_root, parse_duration, safe


@pytest.mark.parametrize("text, seconds", [("25h", 90000), ("90m", 5400), ("1d12h", 129600), ("30s", 30), ("1.5h", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "25", "h", "25x", "-1h", "1h then 2m"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="expected for example 25h"):
        parse_duration(text)


def test_server_text_is_escaped_for_the_terminal():
    assert safe("a\x1b[2Jb\u202ec\u200dd\u2028e\x7f") == "a\\x1b[2Jb\\u202ec\\u200dd\\u2028e\\x7f"
    assert safe("line 1\nline 2", keep_newlines=True) == "line 1\nline 2"
    assert safe("line 1\nline 2") == "line 1\\x0aline 2"
    assert safe("café – ok") == "café – ok"


def test_the_checkout_is_the_nearest_folder_with_git(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "inventories").mkdir()
    assert checkout_root(tmp_path / "repo" / "inventories") == (tmp_path / "repo").resolve()
    assert checkout_root(tmp_path) == Path(tmp_path).resolve()
