"""EdgeSync in the shipped lab from an administrator's console: `exconf lab exec` and `exconf lab clock`
against the lab that `exconf plan` started (a lab in its own process, reached over its control socket)."""

from __future__ import annotations

from integration.test_lab_cli import exconf, shipped_lab  # noqa: F401  (shipped_lab is a fixture)


def test_a_replaced_edge_certificate_shows_in_test_edge_synchronization_and_the_lease_expires(shipped_lab):
    inventories, env = shipped_lab
    started = exconf(env, "plan", str(inventories / "lab.yaml"))
    assert started.returncode in (0, 2) and "Started the lab" in started.stderr, started.stderr

    def sync_state() -> str:
        shown = exconf(env, "lab", "exec", "EX01", "--", "Test-EdgeSynchronization")
        assert shown.returncode == 0, shown.stderr
        return shown.stdout

    healthy = sync_state()
    assert "EDGE01" in healthy and "Normal" in healthy
    replaced = exconf(env, "lab", "exec", "EDGE01", "--", "New-ExchangeCertificate", "-Services", "SMTP", "-Force")
    assert replaced.returncode == 0 and "you must subscribe it again" in replaced.stderr, replaced.stderr
    broken = sync_state()
    assert "Failed" in broken and "CookieNotUpdated" in broken
    assert exconf(env, "lab", "clock", "advance", "2h").returncode == 0
    assert "LeaseExpired" in sync_state()
    # The Mailbox side still lists the subscription; the Edge still refuses connector changes.
    assert "EDGE01" in exconf(env, "lab", "exec", "EX01", "--", "Get-EdgeSubscription").stdout
    refused = exconf(env, "lab", "exec", "EDGE01", "--", "Set-SendConnector", "-Identity",
                     "EdgeSync - Amsterdam to Internet", "-ProtocolLoggingLevel", "Verbose")
    assert refused.returncode == 1 and "CannotRunOnSubscribedEdgeException" in refused.stderr
