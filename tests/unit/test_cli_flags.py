"""The command line as Ansible and Terraform users type it: suggestions, no abbreviations, plain output."""

import pytest

from exconf.cli import main


def error_of(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    assert exit_.value.code == 64  # EX_USAGE: no command uses it for a result
    return capsys.readouterr().err


def test_terraform_style_single_dash_options_get_a_did_you_mean(capsys, tmp_path):
    err = error_of(capsys, "apply", str(tmp_path / "inv.yaml"), "-auto-approve")
    assert "unrecognized arguments: -auto-approve (did you mean --auto-approve?" in err
    assert err.startswith("usage: exconf apply")  # the subcommand's usage, not the top level's
    err = error_of(capsys, "plan", str(tmp_path / "inv.yaml"), "-detailed-exitcode")
    assert "(did you mean --detailed-exitcode?" in err and err.startswith("usage: exconf plan")


def test_abbreviations_are_not_silently_accepted(capsys, tmp_path):
    err = error_of(capsys, "plan", str(tmp_path / "inv.yaml"), "--lim", "ex01")
    assert "unrecognized arguments: --lim ex01 (did you mean --limit?)" in err


def test_an_unknown_command_suggests_the_nearest(capsys):
    err = error_of(capsys, "plna", "inv.yaml")
    assert "invalid choice: 'plna'" in err and "(did you mean plan?)" in err


def test_no_color_anywhere_gives_plain_output(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("rich.console.Console.is_terminal", property(lambda self: True))
    assert main(["plan", str(tmp_path / "missing.yaml"), "--no-color"]) == 1
    err = capsys.readouterr().err
    assert "\x1b[" not in err and "no inventory file or directory at" in err
    assert main(["plan", str(tmp_path / "missing.yaml")]) == 1
    assert "\x1b[" in capsys.readouterr().err  # on a terminal, errors are in colour unless told not to be


def test_no_color_in_the_environment_gives_plain_output(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("rich.console.Console.is_terminal", property(lambda self: True))
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["plan", str(tmp_path / "missing.yaml")]) == 1
    assert "\x1b[" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("-out=tonight.plan", "--out tonight.plan"),
        ("-no-color", "--no-color"),
        ("-limit=ex01", "--limit ex01"),  # argparse alone would read it as -l with the value 'imit=ex01'
        ("-forks=5", "--forks 5"),
        ("-detailed-exitcode", "--detailed-exitcode"),
    ],
)
def test_terraform_style_options_with_values_get_a_did_you_mean(capsys, tmp_path, typed, meant):
    err = error_of(capsys, "plan", str(tmp_path / "inv.yaml"), typed)
    assert f"unrecognized arguments: {typed} (did you mean {meant}? exconf's long options take two dashes)" in err
    assert err.startswith("usage: exconf plan")


def test_a_short_option_with_its_value_attached_still_works(capsys, tmp_path):
    assert main(["inventory", "-i" + str(tmp_path / "missing.yaml"), "--graph"]) == 1
    assert "no inventory file or directory at" in capsys.readouterr().err
