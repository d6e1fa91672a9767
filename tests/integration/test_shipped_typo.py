"""Issue 15's scenario on the shipped lab inventory: a typo on one Mailbox server stays that server's problem.

ex01 declares a receive connector that does not exist ("Default Frontnd {server}"). Every other host is
applied: ex02's own changes, the organisation's (carried by ex02, since ex01 failed at plan time), and the
Edge's certificate and resubscription, imported through ex02, the Mailbox server of the site that planned
cleanly. The end state is read through the lab, not through exconf.
"""

from __future__ import annotations

import pytest

from .test_lab_cli import exconf, shipped_lab  # noqa: F401 - the fixture

TYPO = (
    "exchange:\n"
    "  receive_connectors:\n"
    '    "Default Frontnd {server}": {protocol_logging_level: Verbose}\n'
    '    "Default {server}": {protocol_logging_level: Verbose}\n'
)


@pytest.mark.parametrize("overrides", [[], ["--override", "blind-change"]])
def test_a_typo_on_one_mailbox_server_applies_every_other_host(shipped_lab, overrides):  # noqa: F811
    inventories, env = shipped_lab
    (inventories / "host_vars").mkdir()
    (inventories / "host_vars" / "ex01.contoso.lab.yaml").write_text(TYPO)
    done = exconf(env, "apply", str(inventories / "lab.yaml"), "--auto-approve", *overrides)
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert done.returncode == 2, out  # a host failed (at plan time); the others converged
    assert "'Default Frontnd EX01' matches no receive connector on EX01" in out
    recap = {line.split()[0]: line for line in done.stdout.splitlines() if " : ok=" in line}
    assert "failed=1" in recap["ex01.contoso.lab"] and "changed=0" in recap["ex01.contoso.lab"]
    assert "failed=0" in recap["ex02.contoso.lab"] and "failed=0" in recap["edge01.dmz.contoso.lab"]
    assert "organisation-wide objects are changed through ex02.contoso.lab" in out
    # The Edge was subscribed again through ex02 (its old record removed first, Microsoft's "delete and recreate"),
    # and synchronises.
    assert "on ex02.contoso.lab (wave 4, within" in done.stdout and "New-EdgeSubscription -FileData" in done.stdout
    sync = exconf(env, "lab", "exec", "EX02", "--", "Test-EdgeSynchronization")
    assert "Normal" in sync.stdout, sync.stdout + sync.stderr
    ex02 = exconf(env, "lab", "exec", "EX02", "--", "Get-ReceiveConnector", "-Identity", "EX02\\Default EX02")
    assert ": Verbose" in ex02.stdout
    edge_sync = exconf(env, "lab", "exec", "EX02", "--", "Get-SendConnector", "-Identity", "EdgeSync - Amsterdam to Internet")
    assert ": Verbose" in edge_sync.stdout  # the organisation's change, carried by ex02
    ex01 = exconf(env, "lab", "exec", "EX01", "--", "Get-ReceiveConnector", "-Identity", "EX01\\Default EX01")
    assert ": None" in ex01.stdout  # nothing was applied to the host that failed
