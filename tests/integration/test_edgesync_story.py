"""The seed's EdgeSync story on the shipped lab inventory, in one apply each: protocol logging set on the EdgeSync
send connectors, the Edge's certificate replaced, the subscription made again (Microsoft: "delete and recreate
the Edge Subscription"), which makes the connectors anew and loses the logging, which the same apply sets again;
and a subscription removed by hand, which one apply restores with everything that hung on it."""

from __future__ import annotations

from .test_lab_cli import exconf, shipped_lab  # noqa: F401 - the fixture


def logging_of(env, connector: str) -> str:
    shown = exconf(env, "lab", "exec", "EX01", "--", "Get-SendConnector", "-Identity", connector)
    return next(line.split(":", 1)[1].strip() for line in shown.stdout.splitlines() if line.startswith("ProtocolLoggingLevel"))


def guid_of(env, connector: str) -> str:
    shown = exconf(env, "lab", "exec", "EX01", "--", "Get-SendConnector", "-Identity", connector)
    return next(line.split(":", 1)[1].strip() for line in shown.stdout.splitlines() if line.startswith("Guid"))


def sync_status(env) -> str:
    shown = exconf(env, "lab", "exec", "EX02", "--", "Test-EdgeSynchronization")
    return next(line.split(":", 1)[1].strip() for line in shown.stdout.splitlines() if line.startswith("SyncStatus"))


INTERNET = "EdgeSync - Amsterdam to Internet"


def test_the_seed_story_converges_in_one_apply(shipped_lab):  # noqa: F811
    inventories, env = shipped_lab
    planned = exconf(env, "plan", str(inventories / "lab.yaml"))  # starts the lab
    assert planned.returncode == 0 and "Started the lab" in planned.stderr, planned.stdout + planned.stderr
    old_guid = guid_of(env, INTERNET)
    done = exconf(env, "apply", str(inventories / "lab.yaml"), "--auto-approve")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    # The plan said, before any of it happened, what the resubscription does beyond the subscription.
    assert "! the organisation's Edge Subscription of EDGE01 (site Amsterdam) is removed first" in out
    assert f"! the EdgeSync connectors {INTERNET}, EdgeSync - Inbound to Amsterdam are made again with Exchange's defaults" in out
    assert "! AD LDS (ADAM_MSExchange) is restarted on EDGE01 with the services that depend on it" in out
    assert "Restart-Service -Name 'ADAM_MSExchange' -Force" in out
    # The connectors' logging is planned after the subscription, by name (the new connectors' Guids are not known).
    assert 'protocol_logging_level = "(made again by edge_subscription \'EDGE01\': Exchange\'s default)" -> "Verbose"' in out
    assert f"Set-SendConnector -Identity '{INTERNET}' -ProtocolLoggingLevel 'Verbose'" in out
    # Exchange's "subscribe it again" warning is not shown: this plan does it.
    assert "you must subscribe it again" not in out
    assert "Apply complete: 13 of 13 changes made and verified." in out
    # The connectors are new objects, with the declared logging again; the Edge synchronises.
    assert guid_of(env, INTERNET) != old_guid
    assert logging_of(env, INTERNET) == "Verbose" and logging_of(env, "EdgeSync - Inbound to Amsterdam") == "Verbose"
    assert sync_status(env) == "Normal"
    again = exconf(env, "plan", str(inventories / "lab.yaml"), "--detailed-exitcode")
    assert again.returncode == 0 and "No changes." in again.stdout, again.stdout + again.stderr


def test_a_subscription_removed_by_hand_is_restored_with_its_connectors_in_one_apply(shipped_lab):  # noqa: F811
    inventories, env = shipped_lab
    assert exconf(env, "apply", str(inventories / "lab.yaml"), "--auto-approve").returncode == 0
    # An administrator removes the organisation's side: Exchange deletes the connectors the Edge was the only source of.
    removed = exconf(env, "lab", "exec", "EX01", "--", "Remove-EdgeSubscription", "-Identity", "EDGE01", "-Confirm:$false")
    assert removed.returncode == 0, removed.stderr
    gone = exconf(env, "lab", "exec", "EX01", "--", "Get-SendConnector", "-Identity", INTERNET)
    assert gone.returncode != 0
    drift = exconf(env, "drift", str(inventories / "lab.yaml"), "--no-history")
    assert drift.returncode == 2 and "Traceback" not in drift.stdout + drift.stderr
    # The connector pattern matches nothing *because* the subscription is missing: not a host failure.
    plan = exconf(env, "plan", str(inventories / "lab.yaml"), "--detailed-exitcode")
    assert plan.returncode == 2 and "failed=1" not in plan.stdout, plan.stdout + plan.stderr
    assert "matches no send connector" not in plan.stdout
    done = exconf(env, "apply", str(inventories / "lab.yaml"), "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert logging_of(env, INTERNET) == "Verbose" and sync_status(env) == "Normal"
    again = exconf(env, "plan", str(inventories / "lab.yaml"), "--detailed-exitcode")
    assert again.returncode == 0 and "No changes." in again.stdout, again.stdout + again.stderr


def test_an_edge_switched_back_by_hand_to_its_self_signed_certificate_is_drift_of_the_default(shipped_lab):  # noqa: F811
    inventories, env = shipped_lab
    assert exconf(env, "apply", str(inventories / "lab.yaml"), "--auto-approve").returncode == 0
    certs = exconf(env, "lab", "exec", "EDGE01", "--", "Get-ExchangeCertificate")
    own = next(block for block in certs.stdout.split("\n\n") if "Subject" in block and "CN=EDGE01" in block)
    thumb = next(line.split(":", 1)[1].strip() for line in own.splitlines() if line.startswith("Thumbprint"))
    back = exconf(env, "lab", "exec", "EDGE01", "--", "Enable-ExchangeCertificate", "-Thumbprint", thumb, "-Services", "SMTP", "-Force")
    assert back.returncode == 0, back.stderr
    drift = exconf(env, "drift", str(inventories / "lab.yaml"), "--no-history")
    assert drift.returncode == 2
    assert "default_smtp" in drift.stdout and "smtp.contoso.lab" in drift.stdout, drift.stdout
    done = exconf(env, "apply", str(inventories / "lab.yaml"), "--auto-approve")
    assert done.returncode == 0 and 'edge_subscription "EDGE01" will be replaced' in done.stdout, done.stdout + done.stderr
    assert sync_status(env) == "Normal"
