"""What exconf prints on a terminal is safe (engine/termsafe.py): controls, bidi and invisible format characters
are shown as escapes, whether the text is ASCII or not."""

from __future__ import annotations

import pytest

from exconf.termsafe import safe


@pytest.mark.parametrize(("text", "shown"), [
    ("Default EX01", "Default EX01"),
    ("tab\tand\nnewline", "tab\tand\nnewline"),
    ("esc\x1b[2Jclear", "esc\\x1b[2Jclear"),
    ("del\x7f bell\x07", "del\\x7f bell\\x07"),
    ("caf\u00e9", "caf\u00e9"),  # an accent is text
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # bidi override
    ("soft\u00adhyphen", "soft\\u00adhyphen"),  # Cf outside the expression: the per-character pass
    ("tag\U000e0041", "tag\\ue0041"),  # a tag character (Cf)
    ("lone\ud800surrogate", "lone\\ud800surrogate"),  # Cs
    ("mixed\x1b and \u00ad", "mixed\\x1b and \\u00ad"),
])
def test_unsafe_characters_are_escaped(text: str, shown: str):
    assert safe(text) == shown


def test_newlines_escaped_when_asked():
    assert safe("a\nb\tc", newlines=False) == "a\\nb\\tc"
    assert safe("\u00e9\nx", newlines=False) == "\u00e9\\nx"
