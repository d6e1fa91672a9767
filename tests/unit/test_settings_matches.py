"""Exchange identity matching (modules/settings.py matches): case-insensitive, ``*`` the only wildcard, whether
the pattern is compared as text (no wildcard, ASCII) or through its expression."""

from __future__ import annotations

import pytest

from exconf.modules.settings import _compiled, matches


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("Default EX01", "default ex01", True),
    ("Default EX01", "Default EX011", False),
    ("Default EX01", "Default EX0", False),
    ("Default Frontend EX01", "DEFAULT FRONTEND ex01", True),
    ("a.b", "aXb", False),  # a dot is a dot, not any character
    ("EX01\\Default", "ex01\\default", True),
    ("Default*", "Default Frontend EX01", True),
    ("*Frontend*", "Default EX01", False),
    ("", "", True),
    ("", "x", False),
    ("Ünïcode Connector", "ÜNÏCODE CONNECTOR", True),
    ("Ünïcode Connector", "Unicode Connector", False),
    ("Kelvin", "\u212aelvin", True),  # KELVIN SIGN: what the case-insensitive expression says, not str.lower()
])
def test_matching_is_what_the_case_insensitive_expression_says(pattern: str, name: str, expected: bool):
    assert matches(pattern, name) is expected
    assert (_compiled(pattern).fullmatch(name) is not None) is expected  # the two ways agree


def test_a_name_without_a_wildcard_compiles_no_expression():
    _compiled.cache_clear()
    assert matches("Default EX0042", "default ex0042") and _compiled.cache_info().currsize == 0
    assert matches("Default*", "Default EX0042") and _compiled.cache_info().currsize == 1
