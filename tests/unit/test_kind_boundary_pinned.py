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


# --- operations that take what an earlier operation handed on -------------------------------------------------------


def _step(params, web_file=None):
    from exconf.remote import Step

    return Step("ex01/k/n:set", "Set-Thing", params, web_file=web_file)


def test_an_operation_without_references_is_returned_as_it_is():
    from exconf.modules.base import resolve_from_operations

    op = Operation("ex01/k/n", "ex01", CHANGE.id, (_step({"Identity": "A", "Names": ["x", "y"]}),))
    assert resolve_from_operations(op, {}) is op


def test_every_reference_is_replaced_by_what_its_operation_carried_in_parameters_lists_and_web_files():
    from exconf.modules.base import resolve_from_operations
    from exconf.remote import FromOperation

    file_ref, token = FromOperation("edge01/e/x", "new"), FromOperation("ex01/acme/order", "order")
    carried = {("edge01/e/x", "new"): b"FILE", ("ex01/acme/order", "order"): "TOKEN"}
    op = Operation("ex01/k/n", "ex01", CHANGE.id, (
        _step({"FileData": file_ref, "Identity": "A", "Names": ["plain", token], "Other": ("p", "q")}, web_file=token),
        _step({"Identity": "B"}),
    ), needs=("edge01/e/x",), role="import")
    resolved = resolve_from_operations(op, carried)
    assert resolved.steps[0].params == {"FileData": b"FILE", "Identity": "A", "Names": ["plain", "TOKEN"], "Other": ("p", "q")}
    assert resolved.steps[0].web_file == "TOKEN"
    assert resolved.steps[1] == op.steps[1]
    assert (resolved.id, resolved.host, resolved.change, resolved.needs, resolved.role) == (op.id, op.host, op.change, op.needs, op.role)
    assert op.steps[0].params["FileData"] is file_ref  # the plan's operation keeps its reference


@pytest.mark.parametrize("carried", [{}, {("edge01/e/x", "new"): None}, {("edge01/e/x", "other"): b"F"}])
def test_a_reference_nothing_was_carried_for_names_the_operation_and_the_parameter(carried):
    from exconf.modules.base import MissingOutput, resolve_from_operations
    from exconf.remote import FromOperation

    ref = FromOperation("edge01/e/x", "new")
    for params in ({"FileData": ref}, {"Names": ["a", ref]}):
        op = Operation("ex01/k/n", "ex01", CHANGE.id, (_step(params),))
        with pytest.raises(MissingOutput) as caught:
            resolve_from_operations(op, carried)
        assert str(caught.value) == f"not attempted: edge01/e/x returned nothing for -{next(iter(params))}"
    op = Operation("ex01/k/n", "ex01", CHANGE.id, (_step({}, web_file=ref),))
    with pytest.raises(MissingOutput, match=r"^not attempted: edge01/e/x returned nothing for -web_file$"):
        resolve_from_operations(op, carried)


def test_the_defaults_resolve_with_what_was_carried_answer_no_warning_note_nothing_and_run_nothing_on_the_controller():
    from exconf.model import ControllerError
    from exconf.remote import FromOperation

    kind = Recording()
    op = Operation("ex01/k/n", "ex01", CHANGE.id, (_step({"FileData": FromOperation("a", "s")}),))
    assert kind.resolve(op, {("a", "s"): b"X"}).steps[0].params == {"FileData": b"X"}
    assert kind.answers(CHANGE, "WARNING: anything") is False
    assert kind.applied_note(op, CHANGE, ()) == ""
    with pytest.raises(ControllerError) as caught:
        kind.run_on_controller(op, CHANGE, {})
    assert str(caught.value) == "ex01/k/n runs on the controller, and its kind does not say how"
