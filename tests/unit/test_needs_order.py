"""Order between changes comes only from needs (issue 15): the planner sorts operations by address and moves them
only as far as ``Change.after`` and operations' ``needs`` require; any kind may declare them, settings kinds too."""

from dataclasses import replace

from exconf.desired import DesiredState
from exconf.model import Change, Desired, DesiredValue, ObservedObject, PropertyChange, ServerFacts
from exconf.modules import RECEIVE_CONNECTOR
from exconf.modules.base import KindDefaults, KindPlan
from exconf.planner import HostRead, plan
from exconf.yamlsource import Location

AT = Location("inv.yaml", 4, 9)
EX01 = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")
CERT_ID = "ex01/exchange_certificate/" + "A" * 40


class Certificates(KindDefaults):
    """A certificate kind made for the test: one import per declaration."""

    kind, section, scope, title, roles = "exchange_certificate", "certificates", "server", "certificate", frozenset({"Mailbox"})

    def plan(self, desired, observed, ctx):
        return KindPlan(changes=(Change(CERT_ID, ctx.host, self.kind, "CN=mail", "A" * 40, "create",
                                        (PropertyChange("services", "", [], ["SMTP"], None, AT),), "import"),))

    def operations(self, change):
        from exconf.model import Operation
        from exconf.remote import Step

        return (Operation(change.id, change.host, change.id, (Step(change.id + ":import", "Import-ExchangeCertificate", {}),)),)

    def read_steps(self, prefix):
        return []


def binding(follows: bool):
    """A settings kind whose name sorts before the certificate's: without a need, it would run first."""
    return replace(RECEIVE_CONNECTOR, kind="a_connector_binding", sees_planned=follows,
                   follows=(lambda change, ctx: tuple(c.id for c in ctx.planned if c.kind == "exchange_certificate")) if follows else None)


def run(kind):
    desired = DesiredState(hosts={"ex01": (Desired(kind.kind, "Default {server}", (DesiredValue("protocol_logging_level", "Verbose", AT),), AT),
                                           Desired("exchange_certificate", "cert", (), AT))}, organization=())
    obs = ObservedObject(kind.kind, "Default EX01", "g-1", {"Name": "Default EX01", "ProtocolLoggingLevel": "None"})
    reads = {"ex01": HostRead("ex01", facts=EX01, objects={kind.kind: (obs,), "exchange_certificate": ()})}
    return plan(desired, reads, (kind, Certificates()), org_host=None)


def test_without_a_need_nothing_orders_two_kinds_but_their_addresses():
    result = run(binding(follows=False))
    assert [op.id for op in result.operations] == ["ex01/a_connector_binding/Default EX01", CERT_ID]


def test_a_settings_kind_declares_a_need_on_a_certificate_change_and_runs_after_it():
    result = run(binding(follows=True))
    (rc,) = [c for c in result.changes if c.kind == "a_connector_binding"]
    assert rc.after == (CERT_ID,)
    setting = next(op for op in result.operations if op.change == rc.id)
    assert setting.needs == (CERT_ID,)
    assert result.schedule == ((CERT_ID, setting.id),)  # same host: one wave, the certificate first
