"""One table of exit codes for every command (docs/user-guide.md), and usage errors that no result shares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exconf import exitcodes
from exconf.cli import _parser, main

ROOT = Path(__file__).resolve().parents[2]


def _guide_table() -> list[tuple[int, str, str]]:
    text = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\|\s*\d+\s*\|", line)]
    return [tuple(cell.strip().strip("`") for cell in row.strip("|").split("|")) for row in rows]  # type: ignore[misc]


def test_the_user_guide_prints_the_table_the_code_uses() -> None:
    assert [(int(code), commands, meaning) for code, commands, meaning in _guide_table()] == list(exitcodes.TABLE)


def test_no_result_shares_the_usage_code() -> None:
    results = {code for code, _, _ in exitcodes.TABLE if code != exitcodes.USAGE}
    assert exitcodes.USAGE not in results and exitcodes.USAGE not in (0, 1, 2, 4, 6)


def _commands() -> list[str]:
    parser, commands = _parser()
    return sorted(commands)


def test_every_command_is_in_the_guide() -> None:
    text = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    usage = text.split("## Commands", 1)[1].split("```", 2)[1]
    for command in _commands():
        assert f"exconf {command}" in usage, command


@pytest.mark.parametrize("command", _commands())
def test_a_usage_error_exits_64_for_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command.split(), "--no-such-option"])
    assert exit_.value.code == exitcodes.USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"usage: exconf {command}") and f"exconf {command}: error: " in err


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no command
        ["plna", "inv.yaml"],
        ["drift", "inv.yaml", "--htm", "x"],  # the example: was 2, "drift found"
        ["plan", "inv.yaml", "--forks", "0"],
        ["plan", "inv.yaml", "--forks", "many"],
        ["apply", "inv.yaml", "-auto-approve"],
        ["lab", "clock", "sideways"],
        ["inventory", "inv.yaml"],  # one of --list, --graph, --host is required
    ],
)
def test_a_command_line_that_cannot_be_understood_exits_64(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == exitcodes.USAGE


@pytest.mark.parametrize("argv", [["drift"], ["drift", "a.yaml", "b.yaml"], ["drift", "inv.yaml", "--forks", "0"], ["plan"], ["inventory", "--list"]])
def test_what_a_command_finds_wrong_with_its_own_arguments_exits_64_too(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == exitcodes.USAGE
    assert "Error:" in capsys.readouterr().err


def test_a_missing_inventory_file_is_an_error_not_a_usage_error(tmp_path: Path) -> None:
    assert main(["plan", str(tmp_path / "missing.yaml")]) == exitcodes.ERROR
    assert main(["drift", str(tmp_path / "missing.yaml"), "--no-history"]) == exitcodes.ERROR
