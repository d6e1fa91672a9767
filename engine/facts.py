"""The facts every read starts with: which Exchange server this is (Get-ExchangeServer).

A failed or odd answer marks the host failed with the cmdlet's own message.
"""

from __future__ import annotations

import re

from exconf.remote import LOCAL_SERVER, Answer, Step

from .model import ServerFacts

SERVER_STEP_ID = "server"
SERVER_STEP = Step(
    id=SERVER_STEP_ID,
    cmdlet="Get-ExchangeServer",
    params={"Identity": LOCAL_SERVER},
    select=("Name", "Fqdn", "ServerRole", "AdminDisplayVersion", "Site", "IsEdgeServer"),
)


class FactsError(Exception):
    """A read failed or returned something exconf cannot use."""


def server_facts(answer: Answer) -> ServerFacts:
    result = answer.result(SERVER_STEP_ID)
    if not result.ok:
        raise FactsError(f"Get-ExchangeServer failed: {result.error.message if result.error else result.status}")
    if len(result.objects) != 1:
        raise FactsError(f"Get-ExchangeServer returned {len(result.objects)} servers for {answer.computer}")
    obj = result.objects[0]
    roles = [r.strip() for r in str(obj.get("ServerRole", "")).split(",")]
    role = "Edge" if ("Edge" in roles or obj.get("IsEdgeServer") is True) else "Mailbox" if "Mailbox" in roles else roles[0]
    return ServerFacts(
        name=str(obj.get("Name", answer.computer)),
        fqdn=str(obj.get("Fqdn", "")),
        role=role,
        version=parse_version(str(obj.get("AdminDisplayVersion", ""))),
        site=str(obj.get("Site") or "").rsplit("/", 1)[-1],  # an Edge has no site: Site is $null, not the text "None"
    )


def parse_version(text: str) -> str:
    """``Version 15.2 (Build 1544.4)`` → ``15.2.1544.4`` (ServerVersion's format, cmdlets.md §7)."""
    m = re.match(r"Version (\d+)\.(\d+) \(Build (\d+)\.(\d+)\)", text)
    return ".".join(m.groups()) if m else text
