"""Which host reads each AD site's side of a kind read once per site (``reads_per_site``), chosen before reading.

Test-EdgeSynchronization contacts every Edge of the site it runs in, so one Mailbox server per site runs it.
A reader that learns its site from its own read needs a second command for it (2 more requests over
remote PowerShell: over the budget of 8). So the first host read lists the organisation's servers and
their sites (``SITES_STEP``), and each site's reader is picked from that list before it is read: its
site steps travel in its one read. Pure functions; the runner does the reading, and a site whose chosen
reader was not read as expected (a name the list does not hold, a failed read) is read afterwards by a
second command on another Mailbox server of it.
"""

from __future__ import annotations

from collections.abc import Iterable

from exconf.remote import Answer, Step

SITES_STEP_ID = "exconf.sites"
# Get-ExchangeServer without -Identity lists every Exchange server of the organisation; Fqdn and Site only,
# so that the list of a thousand servers stays within one WS-Management envelope.
SITES_STEP = Step(id=SITES_STEP_ID, cmdlet="Get-ExchangeServer", params={}, select=("Fqdn", "Site"))


def site_name(value: object) -> str:
    """``contoso.lab/Configuration/Sites/Amsterdam`` → ``Amsterdam`` (as engine/facts.py reads a server's Site)."""
    return str(value or "").rsplit("/", 1)[-1]


def sites_of(answer: Answer) -> dict[str, str]:
    """Server FQDN and short name (case-folded) → its AD site, from the list; {} when the list was not read."""
    result = answer.results.get(SITES_STEP_ID)
    if result is None or not result.ok:
        return {}
    out: dict[str, str] = {}
    for obj in result.objects:
        fqdn, site = str(obj.get("Fqdn") or "").casefold(), site_name(obj.get("Site"))
        if fqdn and site:
            out[fqdn] = site
            out.setdefault(fqdn.split(".", 1)[0], site)
    return out


def site_of_host(host: str, sites: dict[str, str]) -> str:
    """The site the list gives a host named by its FQDN or its short name ("" when it does not hold it)."""
    name = host.casefold()
    return sites.get(name) or sites.get(name.split(".", 1)[0], "")


def choose_readers(hosts: Iterable[str], sites: dict[str, str], covered: Iterable[str] = ()) -> dict[str, str]:
    """host → the site it reads: the first host of each site in selection order, sites ``covered`` left out."""
    taken = {s.casefold() for s in covered}
    out: dict[str, str] = {}
    for host in hosts:
        site = site_of_host(host, sites)
        if site and site.casefold() not in taken:
            taken.add(site.casefold())
            out[host] = site
    return out
