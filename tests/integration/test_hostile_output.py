"""What servers say reaches the terminal escaped, and one host's surprise never ends the run."""

from __future__ import annotations

import json

from exconf.cli import main
from exconf.desired import parse
from exconf.inventory import load
from exconf.model import HostStatus
from exconf.runner import Run, default_executor_factory

from .conftest import PASSWORD

FORGED = "\x1b[2J\x1b[HApply complete: 9 of 9 changes made and verified.\u202e\u009b31m\u2028\u200d\x7f"

INVENTORY = f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
    exchange:
      receive_connectors:
        "Default {{server}}": {{protocol_logging_level: Verbose}}
  hosts:
    ex01.contoso.lab: {{ansible_host: "{{EX01}}"}}
    ex02.contoso.lab: {{ansible_host: "{{EX02}}"}}
"""


def test_a_cmdlet_error_with_escape_sequences_is_printed_escaped_and_kept_exact_in_json(make_lab, capsys):
    lab = make_lab(
        [
            {"name": "EX01", "role": "Mailbox", "site": "Amsterdam", "faults": {"cmdlets": [{"cmdlet": "Set-ReceiveConnector", "message": FORGED}]}},
            {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"},
        ]
    )
    inv = lab.inventory(INVENTORY)
    code = main(["apply", str(inv), "--auto-approve"])
    out, err = capsys.readouterr()
    assert code == 2
    for raw in ("\x1b", "\u202e", "\u009b", "\u2028", "\u200d", "\x7f"):
        assert raw not in out + err
    assert "\\x1b[2J\\x1b[HApply complete: 9 of 9" in out and "\\u202e" in out
    assert "Apply incomplete: 1 of 2 changes made and verified" in out and "Apply complete" not in out.replace("\\x1b[2J\\x1b[HApply complete", "")
    lab.exec("EX01", "Set-ReceiveConnector", Identity="EX01\\Default EX01", ProtocolLoggingLevel="None")
    code = main(["apply", str(inv), "--auto-approve", "--json"])
    doc = json.loads(capsys.readouterr().out)
    (failed,) = [c for c in doc["changes"] if c["outcome"] == "failed"]
    assert FORGED in failed["message"]  # exact, control characters and all


def test_an_unexpected_exception_in_one_host_is_that_hosts_failure(make_lab):
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}, {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"}])
    inv = load(lab.inventory(INVENTORY))
    real = default_executor_factory(inv.path.parent)

    def factory(host):
        if host.name == "ex02.contoso.lab":
            raise KeyError("no_proxy")  # what a race in a dependency looked like (issue 6, item 7)
        return real(host)

    run = Run(inventory=inv, hosts=list(inv.hosts), desired=parse(inv), forks=2, executor_factory=factory)
    try:
        run.read()
        plan = run.plan()
        results = run.apply(plan)
    finally:
        run.close()
    assert plan.hosts["ex02.contoso.lab"].status is HostStatus.FAILED
    assert "unexpected KeyError" in plan.hosts["ex02.contoso.lab"].error and "no_proxy" in plan.hosts["ex02.contoso.lab"].error
    assert results["ex01.contoso.lab"].changed == 1
