"""drift and inventory take the inventory as plan does; a bad one is a clear error; secrets are never shown."""

from exconf.cli import main


def test_a_bad_inventory_is_a_clear_error_not_a_traceback(write, capsys):
    path = write({"inv.yaml": "all:\n  hostz:\n    ex01:\n"})
    assert main(["drift", str(path)]) == 1
    err = capsys.readouterr().err
    assert "is not a valid inventory" in err and "unknown key 'hostz'" in err and "Traceback" not in err


def test_the_inventory_may_be_given_with_dash_i(write, capsys):
    path = write({"inv.yaml": "all:\n  hostz:\n    ex01:\n"})
    assert main(["drift", "-i", str(path), "--no-history"]) == 1
    assert "unknown key 'hostz'" in capsys.readouterr().err


def test_no_inventory_at_all_is_named(capsys):
    assert main(["drift"]) == 64  # a usage error: nothing read, a code no result uses
    assert "no inventory given" in capsys.readouterr().err


def test_a_schedule_repeats_the_inventory_sources_and_vault_file_but_no_secret(write, capsys, tmp_path):
    path = write({"inv.yaml": "all:\n  hosts:\n    ex01:\n", "vault.txt": "s3cret-vault\n"})
    assert main(["drift", "-i", str(path), "--vault-password-file", str(tmp_path / "vault.txt"), "-e", "x=s3cret-e", "--print-schedule", "cron"]) == 0
    out = capsys.readouterr().out
    assert str(path.resolve()) in out and "--vault-password-file" in out and str((tmp_path / "vault.txt").resolve()) in out
    assert "s3cret" not in out


def test_exconf_inventory_never_shows_a_password_typed_in_clear(write, capsys):
    from exconf.cli import main as exconf

    path = write({"inv.yaml": "all:\n  vars: {ansible_user: u, ansible_password: Clear-Text-Pw, ansible_become_pass: Other-Pw}\n  hosts:\n    ex01:\n"})
    for args in (["--host", "ex01"], ["--list"], ["--graph", "--vars"]):
        assert exconf(["inventory", str(path), *args]) == 0
        out = capsys.readouterr().out
        assert "Clear-Text-Pw" not in out and "Other-Pw" not in out, args
    assert exconf(["inventory", str(path), "--host", "ex01"]) == 0
    assert '"ansible_password": "********"' in capsys.readouterr().out
