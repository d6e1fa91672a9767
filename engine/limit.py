"""``--limit`` patterns, evaluated as ansible-core's InventoryManager evaluates them.

Terms are separated by ``,`` (or ``:`` when there is no comma, outside
brackets); a term is a host or group name, a shell glob (``*``, ``?``,
``[abc]``), or ``~regex`` (Python's ``re.match``: anchored at the start
only). Matching is case-sensitive, as in Ansible. A group term may take a
subscript over its hosts: ``mailbox[0]``, ``mailbox[-1]``, ``mailbox[1:2]``
(inclusive), ``mailbox[1:]``. ``@file`` reads more terms from a file, one a
line (a retry file). ``!term`` excludes and ``&term`` intersects; plain
terms are taken first, then intersections, then exclusions (Ansible's
order_patterns); only ``!``/``&`` terms start from all hosts.

Deliberately stricter than Ansible: a term (or ``@file`` line) that matches
nothing is an error, where Ansible warns and carries on, so a typo never
silently shrinks a run.

Organisation-wide objects (``exchange_organization``) answer to the pseudo-host
``organization``, a member of ``all`` and of no other group: with no
``--limit``, or ``all``, ``*`` or ``organization`` in it, they are planned
(through a Mailbox server); ``--limit ex01`` pilots on one server without
touching them, and ``--limit 'all:!organization'`` leaves them out explicitly.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from .inventory import Inventory
from .inventory_data import group_hosts

_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+):([0-9]*))\]$")
_COLON_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_OPERATORS = ("!", "&")  # exclusion, intersection


ORGANIZATION = "organization"  # the pseudo-host of organisation-wide objects


class LimitError(ValueError):
    pass


def split_pattern(pattern: str) -> list[str]:
    """ansible-core's split_host_pattern: commas, else colons outside brackets."""
    if "," in pattern:
        parts = pattern.split(",")
    else:
        parts = _COLON_TERMS.findall(pattern)
    return [p.strip() for p in parts if p.strip()]


def expand_files(terms: list[str]) -> list[str]:
    """Replace each ``@file`` term with the lines of that file."""
    out: list[str] = []
    for term in terms:
        if not term.startswith("@"):
            out.append(term)
            continue
        path = Path(term[1:]).expanduser()
        if not path.exists():
            raise LimitError(f"--limit: no limit file {term[1:]}")
        if not path.is_file():
            raise LimitError(f"--limit: {term[1:]} must be a file, not a directory")
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise LimitError(f"--limit: cannot read limit file {term[1:]}: {exc}") from None
        out.extend(line.strip() for line in lines if line.strip())
    return out


def _regex(term: str) -> re.Pattern[str]:
    """A term's regular expression (``~regex`` or a shell glob); raises re.error."""
    return re.compile(term[1:]) if term.startswith("~") else re.compile(fnmatch.translate(term))


def _compile(term: str, whole: str) -> re.Pattern[str]:
    try:
        return _regex(term)
    except re.error as exc:
        raise LimitError(f"--limit: bad pattern {whole!r}: {exc}") from None


def _enumerate(inventory: Inventory, expr: str, whole: str) -> list[str]:
    """ansible-core's _enumerate_matches: the hosts of every group the term matches (``all`` in ansible-core's
    order: its own hosts, then its children's level by level), and hosts by name when no group matched or the
    term is a pattern."""
    rx = _compile(expr, whole)
    names = [h.name for h in inventory.hosts]
    matched_groups = [g for g in inventory.groups if rx.match(g)]
    results: list[str] = []
    for g in matched_groups:
        hosts = group_hosts(inventory.children, inventory.direct_hosts, g) if g != "all" else _all_hosts(inventory)
        results += [h for h in hosts if h not in results]
    if not matched_groups or expr.startswith("~") or any(c in expr for c in ".?*["):
        results += [h for h in names if rx.match(h) and h not in results]
    return results


def _all_hosts(inventory: Inventory) -> list[str]:
    """The ``all`` group's hosts as ansible-core's Group.get_hosts lists them (what ``all[0]`` picks):
    those declared under ``all`` itself, then each child group's (``ungrouped`` first), level by level.
    A host that only a deeper group declares comes after every host of the groups above it."""
    ordered = group_hosts(inventory.children, inventory.direct_hosts, "all")
    listed = set(ordered)
    return ordered + [h.name for h in inventory.hosts if h.name not in listed]


def _term_hosts(inventory: Inventory, term: str) -> list[str]:
    expr, subscript = term, None
    if not term.startswith("~"):
        m = _SUBSCRIPT.match(term)
        if m:
            expr = m.group(1)
            # [i] is one host (end None); [i:j] is inclusive, as Ansible's; [i:] runs to the last host (end -1)
            subscript = (int(m.group(2)), None) if m.group(2) else (int(m.group(3)), int(m.group(4) or -1))
    hosts = _enumerate(inventory, expr, term)
    if not hosts or subscript is None:
        return hosts
    start, end = subscript
    try:
        if end is None:
            return [hosts[start]]
        return hosts[start:] if end == -1 else hosts[start : end + 1]
    except IndexError:
        raise LimitError(f"--limit: {term!r}: {expr} has {len(hosts)} host{'s' if len(hosts) != 1 else ''}, no index {start}") from None


def select(inventory: Inventory, pattern: str | None, warnings: list[str] | None = None) -> list[str]:
    """Host names selected by the pattern, in inventory order; what deserves a warning goes to ``warnings``."""
    if not pattern:
        return [h.name for h in inventory.hosts]
    terms = expand_files(split_pattern(pattern))
    if not terms:
        raise LimitError(f"--limit {pattern!r} names no host or group")
    regular = [t for t in terms if t[0] not in _OPERATORS] or ["all"]
    ordered = regular + [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]
    hosts = {h.name for h in inventory.hosts}
    chosen: list[str] = []
    for term in ordered:
        op = term[0] if term[0] in _OPERATORS else ""
        name = term[len(op) :]
        if not name:
            raise LimitError(f"--limit: {term!r} names no host or group")
        if not op and name in hosts:
            # ansible-core's _evaluate_patterns: a plain term that is a host's name is that host, even when a group
            # has the same name (ansible-core warns about the name when it reads the inventory)
            if name in inventory.groups and warnings is not None:
                warnings.append(f"--limit {name!r}: {name} is both a host and a group; the host is selected, as ansible-core "
                                f"selects it (for the group's hosts, use 'all:&{name}')")
            if name not in chosen:
                chosen.append(name)
            continue
        matched = _term_hosts(inventory, name)
        if not matched and _matches_organization(name):
            continue  # the pseudo-host alone: select_organization() answers for it
        if not matched:
            where = ", ".join(inventory.sources or [str(p) for p in inventory.paths])
            raise LimitError(f"--limit: {name!r} matches no host or group in {where} (host and group names are case-sensitive; exconf stops here where Ansible would only warn)")
        if op == "!":
            chosen = [h for h in chosen if h not in matched]
        elif op == "&":
            chosen = [h for h in chosen if h in matched]
        else:
            chosen += [h for h in matched if h not in chosen]
    keep = set(chosen)
    return [h.name for h in inventory.hosts if h.name in keep]


def _matches_organization(expr: str) -> bool:
    """Whether a term names the pseudo-host: ``organization``, ``all``, or a pattern matching it."""
    if expr in (ORGANIZATION, "all"):
        return True
    try:  # a plain name's glob matches only that name
        return _regex(expr).match(ORGANIZATION) is not None
    except re.error:
        return False


def select_organization(pattern: str | None) -> bool:
    """Whether the pattern selects the organisation-wide objects (the ``organization`` pseudo-host)."""
    if not pattern:
        return True
    terms = expand_files(split_pattern(pattern))
    regular = [t for t in terms if t[0] not in _OPERATORS]
    chosen = not regular  # only exclusions and intersections: they start from all
    for term in regular:
        chosen = chosen or _matches_organization(term)
    for term in (t for t in terms if t[0] == "&"):
        chosen = chosen and _matches_organization(term[1:])
    for term in (t for t in terms if t[0] == "!"):
        chosen = chosen and not _matches_organization(term[1:])
    return chosen
