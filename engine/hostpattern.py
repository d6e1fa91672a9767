"""Host names as Ansible inventories write them: ``host:port`` and ``[01:04]`` ranges.

Mirrors ansible-core's ``parse_address`` (the port suffix) and
``expand_hostname_range`` (``plugins/inventory/__init__.py``): numeric
ranges keep a leading zero's width, ``[a:f]`` is an alphabetic range, a
third part is the step, and several ranges in one name multiply.
"""

from __future__ import annotations

import re
import string

_BRACKETED_PORT = re.compile(r"^\[(.+)\]:(\d+)$")
_HOST_PORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])+):(\d+)$")


class HostPatternError(ValueError):
    """A host name or range that cannot be expanded; the message says why."""


def split_port(text: str) -> tuple[str, int | None]:
    """``ex01:5986`` -> (``ex01``, 5986); ``[::1]:22`` -> (``::1``, 22); a name without a port is returned as is."""
    for rx in (_BRACKETED_PORT, _HOST_PORT):
        m = rx.match(text)
        if m:
            return m.group(1), int(m.group(2))
    return text, None


def expand(pattern: str) -> list[str]:
    """Every host name a pattern with ``[start:end(:step)]`` ranges stands for."""
    if "[" not in pattern:
        return [pattern]
    head, _, rest = pattern.partition("[")
    body, closed, tail = rest.partition("]")
    if not closed:
        raise HostPatternError(f"host range in {pattern!r} has no closing ']'")
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise HostPatternError(f"host range [{body}] in {pattern!r} must be begin:end or begin:end:step")
    beg, end = bounds[0] or "0", bounds[1]
    if not end:
        raise HostPatternError(f"host range [{body}] in {pattern!r} must specify its end")
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError:
        raise HostPatternError(f"host range [{body}] in {pattern!r}: the step must be a number") from None
    if step < 1:
        raise HostPatternError(f"host range [{body}] in {pattern!r}: the step must be at least 1")
    width = len(beg) if beg[0] == "0" and len(beg) > 1 else 0
    if width and len(end) != width:
        raise HostPatternError(f"host range [{body}] in {pattern!r} must have begin and end of equal width")
    if beg in string.ascii_letters and end in string.ascii_letters:
        i, j = string.ascii_letters.index(beg), string.ascii_letters.index(end)
        if i > j:
            raise HostPatternError(f"host range [{body}] in {pattern!r} must have begin <= end")
        items = list(string.ascii_letters[i : j + 1 : step])
    else:
        try:
            items = [str(n).zfill(width) for n in range(int(beg), int(end) + 1, step)]
        except ValueError:
            raise HostPatternError(f"host range [{body}] in {pattern!r}: expected numbers or single letters") from None
    out: list[str] = []
    for item in items:
        out.extend(expand(head + item + tail))
    return out


def expand_host(text: str) -> tuple[list[str], int | None]:
    """A host key of an inventory: its expanded names and the port it names, if any."""
    name, port = split_port(text.strip())
    return expand(name), port
