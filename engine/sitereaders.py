"""Which host reads each AD site's side of a kind read once per site (``reads_per_site``), chosen before reading.

Test-EdgeSynchronization contacts every Edge of the site it runs in, so one Mailbox server per site runs it.
A reader that learns its site from its own read needs a second command for it (2 more requests over
remote PowerShell: over the budget of 8). Where the inventory says a Mailbox server's site
(``exconf_site``, as Ansible inventories often group hosts by site), the first selected host of each
site is chosen before it is read and reads its site in its one read. Listing the organisation's servers
instead would cost more than it saves: Get-ExchangeServer answers whole objects (a few KB each), several
envelopes for a thousand servers. A site nobody was chosen for is read by a second command right after
the read of its first Mailbox server; one whose chosen reader failed or turned out to be in another
site, after all reads. Pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SITE_VARIABLE = "exconf_site"


def declared_site(variables: Mapping[str, object]) -> str:
    """The AD site the inventory gives a host ("" when it gives none)."""
    value = variables.get(SITE_VARIABLE)
    return value.strip() if isinstance(value, str) else ""


def choose_readers(hosts: Iterable[tuple[str, Mapping[str, object]]]) -> dict[str, str]:
    """host -> the site it reads: the first host of each declared site, in selection order."""
    taken: set[str] = set()
    out: dict[str, str] = {}
    for name, variables in hosts:
        site = declared_site(variables)
        if site and site.casefold() not in taken:
            taken.add(site.casefold())
            out[name] = site
    return out


def misplaced(host: str, declared: str, actual: str) -> str:
    """A note when a host is not in the site the inventory says ("" when it is, or when none is said)."""
    if not declared or declared.casefold() == actual.casefold():
        return ""
    return (f"{host}: {SITE_VARIABLE} says {declared}, but the server is in site {actual or '(none)'}; "
            f"{declared} was read through another Mailbox server of it")
