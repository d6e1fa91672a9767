"""What the engine relies on at the kind boundary without knowing any kind: the defaults every kind inherits
(modules/base.py), the message a refused plan prints (engine/safety.py), and the name templates kinds accept."""

from __future__ import annotations

import pytest

from exconf.model import Change, ObservedObject, Operation, Plan, Refusal
from exconf.modules.base import KindDefaults, expand_name, placeholder_error
from exconf.safety import refusal_message


class Recording(KindDefaults):
    """A kind that only says how it verifies a change: the defaults do the rest."""

    def __init__(self) -> None:
        self.asked: list[tuple[Change, tuple[ObservedObject, ...]]] = []

    def verify(self, change, readback):
        self.asked.append((change, readback))
        return "read back different"


CHANGE = Change("ex01/k/n", "ex01", "k", "n", "i", "update", (), "r")


def test_a_kind_with_one_verify_verifies_each_operation_with_it_and_never_polls():
    kind = Recording()
    readback = (ObservedObject("k", "n", "i", {}),)
    op = Operation("ex01/k/n", "ex01", CHANGE.id, ())
    assert kind.verify_operation(op, CHANGE, readback) == "read back different"
    assert kind.asked == [(CHANGE, readback)]
    assert kind.polls(op) == (0, 0.0)
    assert (kind.reads_peers, kind.sees_planned, kind.plan_rails(Plan({}))) == (False, False, [])
    with pytest.raises(NotImplementedError):
        KindDefaults().verify(CHANGE, readback)


@pytest.mark.parametrize("template, why", [
    ("Default {server!r}", "unknown placeholder {server!r} (known: {server})"),
    ("Default {server:>10}", "unknown placeholder {server:>10} (known: {server})"),
    ("Default {server!s:x}", "unknown placeholder {server!s:x} (known: {server})"),
    ("Default {site}", "unknown placeholder {site} (known: {server})"),
    ("Default {server", "expected '}' before end of string (write {{ and }} for literal braces)"),
])
def test_a_name_template_exconf_cannot_expand_says_why(template, why):
    assert placeholder_error(template) == why


def test_a_name_template_expands_the_server_and_keeps_literal_braces():
    assert placeholder_error("Default {server}") is None and placeholder_error("{{literal}} {server}") is None
    assert expand_name("{{literal}} {server}", "EX01") == "{literal} EX01"


def test_a_refused_plan_names_each_blocking_rail_and_how_to_override_each_once():
    plan = Plan({}, refusals=(
        Refusal("smtp-certificate-kept", "ex01", "EX01: removing CN=a would leave no SMTP certificate", "c1"),
        Refusal("certificate-sha1", "ex02", "EX02: CN=b is signed with SHA-1", "c2"),
        Refusal("smtp-certificate-kept", "ex03", "EX03: removing CN=c would leave no SMTP certificate", "c3"),
        Refusal("iis-self-signed", "ex01", "EX01: CN=d is self-signed", "c4"),
    ), overridden=("iis-self-signed",))
    assert refusal_message(plan) == (
        "This plan is refused by exconf's safety rails; nothing was changed on any host:\n"
        "  [smtp-certificate-kept] EX01: removing CN=a would leave no SMTP certificate\n"
        "  [certificate-sha1] EX02: CN=b is signed with SHA-1\n"
        "  [smtp-certificate-kept] EX03: removing CN=c would leave no SMTP certificate\n"
        "Fix the declaration, or override a rail you accept by name: --override certificate-sha1 --override smtp-certificate-kept"
    )
