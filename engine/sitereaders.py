"""Which host reads each AD site's side of a kind read once per site (``reads_per_site``), chosen before reading.

Test-EdgeSynchronization contacts every Edge of the site it runs in, so one Mailbox server per site runs it, and
only in the sites the declarations need (where an Edge is declared subscribed: ``Kind.needed_sites``); any one
site's read tells the organisation's records (Get-EdgeSubscription lists every site's). A reader that learns its
site from its own read needs a second command for it (2 more requests over remote PowerShell: over the budget
of 8), so readers are chosen before reading:

* where the inventory says a host's site (``exconf_site``, as Ansible inventories often group hosts by site),
  the first selected host of each needed site reads it in its one read;
* a needed site no host says it is in gets a guess: one host that says no site reads whatever site it is in,
  in its one read (a few statements more; right in the common estate, Edges in one site and its Mailbox
  servers listed first). Listing the organisation's servers instead would cost more than it saves:
  Get-ExchangeServer answers whole objects (a few KB each), several envelopes for a thousand servers.

A needed site nobody read is read by a second command right after the read of its first Mailbox server; one
whose chosen reader failed or turned out to be in another site, after all reads. Pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SITE_VARIABLE = "exconf_site"
GUESS = ""  # a reader chosen without a declared site: it reads the site it turns out to be in


def declared_site(variables: Mapping[str, object]) -> str:
    """The AD site the inventory gives a host ("" when it gives none)."""
    value = variables.get(SITE_VARIABLE)
    return value.strip() if isinstance(value, str) else ""


def choose_readers(hosts: Iterable[tuple[str, Mapping[str, object]]], needed: frozenset[str]) -> dict[str, str]:
    """host -> the site it reads (``GUESS`` for a guess), in selection order. ``hosts``: those that may read
    for a site; ``needed``: the sites the declarations need, casefolded (empty: any one site will do)."""
    listed = [(name, declared_site(variables)) for name, variables in hosts]
    out: dict[str, str] = {}
    covered: set[str] = set()
    for name, site in listed:
        key = site.casefold()
        if site and key in needed and key not in covered:
            covered.add(key)
            out[name] = site
    guesses = len(needed - covered) if needed else 1
    for name, site in listed:
        if guesses <= 0:
            break
        if not site:
            out[name] = GUESS
            guesses -= 1
    return out


def misplaced(host: str, declared: str, actual: str, *, chosen: bool) -> str:
    """A note when a host is not in the site the inventory says ("" when it is, or when none is said);
    ``chosen``: it was to read that site."""
    if not declared or declared.casefold() == actual.casefold():
        return ""
    note = f"{host}: {SITE_VARIABLE} says {declared}, but the server is in site {actual or '(none)'}"
    return note + (f"; {declared} was read through another Mailbox server of it" if chosen else "")
