"""Ansible's YAML tags, ``!vault`` and ``!unsafe``, read with PyYAML's SafeLoader.

SafeLoader has no constructor for them, and yamlsource (which keeps every
value's location) uses SafeLoader as it is. So PyYAML's own scanner finds
the tag tokens (never a look-alike inside a quoted text), they are blanked
out with spaces of the same width, so that every line and column stays
true, and the place of each tagged value is remembered; the caller then
treats the values found exactly there: it decrypts ``!vault`` ones and keeps
``!unsafe`` ones from being rendered, as Ansible does.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

TAGS = ("!vault", "!unsafe")


@dataclass(frozen=True)
class Untagged:
    """YAML text without Ansible's tags, and the 1-based (line, column) where each tagged value starts."""

    text: str
    vault: frozenset[tuple[int, int]]
    unsafe: frozenset[tuple[int, int]]


def untag(text: str) -> Untagged:
    """Blank Ansible's tags; text that cannot be scanned is returned as is (the parser then reports it)."""
    if not any(tag in text for tag in TAGS):
        return Untagged(text, frozenset(), frozenset())
    spans: list[tuple[int, int, str]] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.TagToken) and token.value in (("!", "vault"), ("!", "unsafe")):
                spans.append((token.start_mark.index, token.end_mark.index, "!" + token.value[1]))
    except yaml.YAMLError:
        return Untagged(text, frozenset(), frozenset())
    chars = list(text)
    found: dict[str, set[tuple[int, int]]] = {tag: set() for tag in TAGS}
    for start, end, _tag in spans:
        chars[start:end] = " " * (end - start)
    out = "".join(chars)
    for _, end, tag in spans:
        at = end
        while at < len(out) and out[at] in " \t":
            at += 1
        line = out.count("\n", 0, at) + 1
        column = at - (out.rfind("\n", 0, at) + 1) + 1
        found[tag].add((line, column))
    return Untagged(out, frozenset(found["!vault"]), frozenset(found["!unsafe"]))
