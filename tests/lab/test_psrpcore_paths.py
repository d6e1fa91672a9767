"""The lab's fast paths through psrpcore (lab/powershell/psrpcore_paths.py) answer exactly what psrpcore's
own functions answer, and every lab endpoint puts them in place."""

from __future__ import annotations

import random
import uuid

import psrpcore.types as ps
import psrpcore.types._base as base
import psrpcore.types._serializer as serializer
import pytest
from exconf.lab.powershell import psrpcore_paths as paths
from exconf.remote import clixml

from integration.conftest import door, make_lab  # noqa: F401  (door and make_lab are fixtures)
from lab.test_powershell_endpoint import pool, run

# What the escapes are about (MS-PSRP 2.2.5.3.2): control characters, characters outside the BMP, the
# literal "_x" in either case, hex digits; and characters whose UTF-16 bytes hold 0x00, "_" or "x".
ALPHABET = ["a", "Z", " ", "_", "x", "X", "0", "9", "A", "f", "\x00", "\t", "\x1b", "\x7f", "\x85", "\x9f", "é",
            "\u0100", "\u3000", "\u5f00", "\u7800", "\u4e2d", "\ufffd", "\U0001F600", "\ud83d", "\ude00"]
ESCAPED = ["_x0041_", "_x000A_", "_x001B_", "_xD83D__xDE00_", "_x005F_x", "_X0041_", "_x12", "_x004g_", "_xffff_"]


def _strings(seed: int, pieces: list[str], n: int = 3000) -> list[str]:
    rnd = random.Random(seed)
    out = ["", "plain", "Get-ReceiveConnector", "EX01\\Default Frontend EX01", "_", "x_", "_x", "_X"]
    for _ in range(n):
        out.append("".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 12))))
    return out


def test_serialize_string_answers_as_psrpcore_for_every_string():
    for text in _strings(1, ALPHABET):
        assert paths.serialize_string(text) == paths.ORIGINAL_SERIALIZE_STRING(text), repr(text)
        assert type(paths.serialize_string(text)) is str


def test_a_str_subclass_goes_through_psrpcore_and_comes_back_a_plain_str():
    value = ps.PSString("plain")
    assert type(paths.ORIGINAL_SERIALIZE_STRING(value)) is str
    assert type(paths.serialize_string(value)) is str
    assert paths.serialize_string(value) == "plain"


def test_deserialize_string_answers_as_psrpcore_wherever_characters_are_read_as_characters():
    texts = _strings(2, ALPHABET[:17] + ESCAPED) + _strings(3, ["a", "_", "x", "0", "A"] + ESCAPED)
    assert sum("_x" in t for t in texts) > 1000  # the corpus does exercise the escapes
    for text in texts:
        assert paths.deserialize_string(text) == paths.ORIGINAL_DESERIALIZE_STRING(text), repr(text)
    assert paths.deserialize_string("a_x0041_b_x000A_") == "aAb\n"
    assert paths.deserialize_string("_X0041_") == "_X0041_"  # only the lower-case x escapes (MS-PSRP 2.2.5.3.2)


def test_deserialize_string_does_not_match_escapes_across_character_boundaries():
    # U+0100 U+5F00 U+7800 U+3000 U+3000 U+3000 U+3100 U+5F41: no "_x" in it, but its UTF-16 bytes hold
    # "\x00_\x00x\x000\x000\x000\x001\x00_" at an odd offset, which psrpcore's byte pattern matches.
    text = "\u0100\u5f00\u7800\u3000\u3000\u3000\u3100\u5f41"
    assert "_x" not in text
    assert paths.ORIGINAL_DESERIALIZE_STRING(text) != text
    assert paths.deserialize_string(text) == text


def test_a_missing_text_fails_as_in_psrpcore():
    with pytest.raises(AttributeError):
        paths.ORIGINAL_DESERIALIZE_STRING(None)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        paths.deserialize_string(None)  # type: ignore[arg-type]


def _objects() -> list[ps.PSObject]:
    custom = ps.PSCustomObject(Name="EX01", Count=3)
    both = ps.PSObject()
    both.PSObject.adapted_properties.append(ps.PSNoteProperty("Shared", "adapted"))
    both.PSObject.extended_properties.append(ps.PSNoteProperty("Shared", "extended"))
    both.PSObject.extended_properties.append(ps.PSNoteProperty("Twice", "first"))
    both.PSObject.extended_properties.append(ps.PSNoteProperty("Twice", "last"))
    text = ps.PSString("value")
    ps.add_note_property(text, "Note", 7)
    listed = ps.PSList([1, "two"])
    ps.add_note_property(listed, "Label", "items")
    enum_value = ps.PSInt(5)
    read_back = serializer.deserialize(serializer.serialize(custom, None), None)  # type: ignore[arg-type]  # no SecureString
    return [custom, both, text, listed, enum_value, read_back]


NAMES = ["Name", "Count", "Shared", "Twice", "Note", "Label", "Missing", "PSObject", "PSTypeNames", "__class__",
         "__dict__", "upper", "append", "real", "__len__", "__getattribute__"]


def _read(get, obj, name):
    try:
        return ("value", get(obj, name))
    except AttributeError as exc:
        return ("AttributeError", str(exc))


def test_attribute_reads_answer_as_psrpcore_for_fields_properties_methods_and_misses():
    for obj in _objects():
        for name in NAMES:
            assert _read(paths.getattribute, obj, name) == _read(paths.ORIGINAL_GETATTRIBUTE, obj, name), (type(obj), name)
    both = _objects()[1]
    assert paths.getattribute(both, "Shared") == "extended"  # an extended property over an adapted one
    assert paths.getattribute(both, "Twice") == "last"
    assert paths.getattribute(both, "__dict__")["Shared"] == "extended"


@ps.PSType(type_names=["Lab.Test.Mandatory"], adapted_properties=[ps.PSNoteProperty("Name", mandatory=True),
                                                                  ps.PSNoteProperty("Size")])
class _Mandatory(ps.PSObject):
    pass


@ps.PSType(type_names=["Lab.Test.Overridden"], adapted_properties=[ps.PSNoteProperty("Name", mandatory=True)],
           extended_properties=[ps.PSNoteProperty("Name")])
class _Overridden(ps.PSObject):
    pass


def _state(obj):
    raw = {k: v for k, v in object.__getattribute__(obj, "__dict__").items() if k != "PSObject"}
    meta = object.__getattribute__(obj, "PSObject")
    props = [(kind, p.name, p.get_value(obj)) for kind in ("adapted", "extended")
             for p in getattr(meta, f"{kind}_properties")]
    return raw, props


def _outcome(fn, obj, args, kwargs):
    try:
        fn(obj, *args, **kwargs)
    except TypeError as exc:
        return ("TypeError", str(exc))
    return ("ok",)


def test_init_answers_as_psrpcore_with_and_without_arguments_and_mandatory_properties():
    cases = [(ps.PSObject, (), {}), (ps.PSCustomObject, (), {}), (_Mandatory, (), {}), (_Mandatory, ("EX01",), {}),
             (_Mandatory, (), {"Name": "EX01", "Size": 3}), (_Mandatory, ("EX01", 3, 4), {}),
             (_Mandatory, (), {"Other": 1}), (_Overridden, (), {}), (ps.PSObject, (1,), {})]
    seen = set()
    for cls, args, kwargs in cases:
        fast, slow = cls.__new__(cls), cls.__new__(cls)
        got = _outcome(paths.init, fast, args, kwargs)
        want = _outcome(paths.ORIGINAL_INIT, slow, args, kwargs)
        assert got == want, (cls, args, kwargs)
        assert _state(fast) == _state(slow), (cls, args, kwargs)
        seen.add(want[0])
    assert seen == {"ok", "TypeError"}
    for value in (0, 5, -3):
        assert paths.init(ps.PSInt.__new__(ps.PSInt, value)) is None


def test_setattr_answers_as_psrpcore_for_attributes_properties_and_new_names():
    def made():
        obj = _Mandatory("EX01")
        obj.PSObject.extended_properties.append(ps.PSNoteProperty("Size", "extended"))
        obj.PSObject.extended_properties.append(ps.PSNoteProperty("Note"))
        object.__setattr__(obj, "existing", 1)
        return obj

    for key, value in [("Name", "EX02"), ("Size", 9), ("Note", "n"), ("existing", 2), ("fresh", 3),
                       ("PSObject", made().PSObject)]:
        fast, slow = made(), made()
        paths.setattribute(fast, key, value)
        paths.ORIGINAL_SETATTR(slow, key, value)
        if key == "PSObject":
            assert object.__getattribute__(fast, "PSObject") is object.__getattribute__(slow, "PSObject") is value
        else:
            assert _state(fast) == _state(slow), key
    obj = made()
    paths.setattribute(obj, "Size", 9)
    assert [p.get_value(obj) for p in obj.PSObject.adapted_properties if p.name == "Size"] == [None]
    assert [p.get_value(obj) for p in obj.PSObject.extended_properties if p.name == "Size"] == [9]


class _OwnSetValue(ps.PSNoteProperty):
    def set_value(self, value, ps_object):
        self.seen = ps_object
        super().set_value(value, ps_object)


def _property(fn, cls, args, kwargs):
    prop = cls.__new__(cls)
    try:
        fn(prop, *args, **kwargs)
    except (ValueError, TypeError) as exc:
        return ("error", type(exc).__name__, str(exc))
    state = {k: (v.__qualname__ if callable(v) and hasattr(v, "__qualname__") and not isinstance(v, type) else v)
             for k, v in vars(prop).items()}  # a getter made per call (an alias's lambda): by its name
    if "seen" in state:
        state["seen"] = type(state["seen"]).__name__
    return ("ok", type(prop).__name__, state)


def test_property_init_answers_as_psrpcore_for_values_casts_getters_setters_and_overrides():
    def getter(obj):
        return 1

    def setter(obj, value):
        obj.seen = value

    plain = [("Name", ()), ("Name", (False, None, "EX01")), ("Count", (True, ps.PSInt, "7")), ("Count", (False, ps.PSInt, 7)),
             ("Count", (False, ps.PSInt, "seven")), ("Nothing", (False, None, None)), ("Obj", (False, None, ps.PSObject())),
             ("List", (False, None, [1, 2])), ("Flag", (False, ps.PSBool, True)), ("Str", (False, ps.PSString, "x"))]
    cases = [(ps.PSNoteProperty, (name, *args[:1]), dict(zip(("ps_type", "value"), args[1:]))) for name, args in plain]
    cases += [(ps.PSScriptProperty, ("Script", getter), {}), (ps.PSScriptProperty, ("Script", getter, setter), {}),
              (ps.PSAliasProperty, ("Alias", "Name"), {}), (_OwnSetValue, ("Own", "v"), {}),
              (ps.PSNoteProperty, ("Early",), {"value": None, "mandatory": True})]
    seen = set()
    for cls, args, kwargs in cases:
        # the subclasses' own __init__ call PSPropertyInfo.__init__: swap it for the fast path, then psrpcore's
        outcomes = []
        for fn in (paths.property_init, paths.ORIGINAL_PROPERTY_INIT):
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(base.PSPropertyInfo, "__init__", fn)
                outcomes.append(_property(cls.__init__, cls, args, kwargs))
        assert outcomes[0] == outcomes[1], (cls, args, kwargs)
        seen.add(outcomes[1][0])
    assert seen == {"ok", "error"}
    # psrpcore's own makes a PSObject for set_value; the fast path gives a property the same value without one
    original_new = base.PSObject.__new__
    for fn, objects in ((paths.ORIGINAL_PROPERTY_INIT, [ps.PSObject]), (paths.property_init, [])):
        made = []
        with pytest.MonkeyPatch.context() as mp:  # restores the class's own entries (a staticmethod __new__)
            mp.setattr(base.PSObject, "__new__", staticmethod(lambda cls, *a, _made=made, **k: _made.append(cls) or original_new(cls, *a, **k)))
            mp.setattr(base.PSPropertyInfo, "__init__", fn)
            prop = ps.PSNoteProperty("Name", "EX01")
        assert made == objects and prop.get_value(ps.PSObject()) == "EX01"
    assert isinstance(base.PSObject.__dict__["__new__"], staticmethod)


def test_every_lab_endpoint_puts_the_fast_paths_in_place_and_strings_cross_the_wire_exactly(make_lab, monkeypatch):
    monkeypatch.setattr(base.PSObject, "__getattribute__", paths.ORIGINAL_GETATTRIBUTE)
    monkeypatch.setattr(base.PSObject, "__init__", paths.ORIGINAL_INIT)
    monkeypatch.setattr(base.PSObject, "__setattr__", paths.ORIGINAL_SETATTR)
    monkeypatch.setattr(base.PSPropertyInfo, "__init__", paths.ORIGINAL_PROPERTY_INIT)
    monkeypatch.setattr(serializer, "_serialize_string", paths.ORIGINAL_SERIALIZE_STRING)
    monkeypatch.setattr(serializer, "_deserialize_string", paths.ORIGINAL_DESERIALIZE_STRING)
    assert not paths.installed()
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}])
    assert paths.installed()
    # A name with an escape, a control character and a character outside the BMP goes to the lab and back
    # (the lab's error names what it could not find, as Exchange's does).
    name = f"x_x0041_\x1b\U0001F600{uuid.uuid4().hex[:6]}"
    with pool(lab) as rp:
        sh = run(rp, ("Get-ExchangeServer", {"Identity": name}))
        sh2 = run(rp, ("Get-ExchangeServer", {"Identity": "ex01.contoso.lab"}))
    (error,) = sh.streams.error
    assert name in str(error), str(error)
    (server,) = [clixml.parse(o._xml) for o in sh2.output]
    assert server.to_string == "EX01"
