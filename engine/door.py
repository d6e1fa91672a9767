"""Which door exconf takes to a host, decided from its inventory variables before it is contacted.

Three doors (docs/remote-powershell.md, docs/ssh.md):

* **Exchange remote PowerShell** (``psrp``): PSRP to ``/PowerShell``, configuration
  ``Microsoft.Exchange``, the endpoint Exchange's own shell uses on Mailbox servers; cmdlets run
  inside Exchange under RBAC and land in the admin audit log.
* **exconf's program over WinRM** (``winrm``): the Exchange snap-in loaded in a WinRM shell. An Edge
  Transport server has no other: no IIS, no ``/PowerShell``, no RBAC ("Edge Transport servers don't
  use Role Based Access Control", mail-flow-permissions.md; cmdlets.md §1b).
* **exconf's program over SSH** (``ssh``): the same program on an exec channel of Windows OpenSSH,
  through the server's DefaultShell; for an Edge in a perimeter network that allows only SSH.

A host without ``ansible_connection`` takes remote PowerShell when it is a Mailbox server and the
program when it is an Edge. The role must be known before the host is contacted, so it comes from:

1. ``exconf_role: Mailbox | Edge``, when given;
2. otherwise Edge when the host declares ``exchange.edge_subscription`` (only an Edge has one);
3. otherwise Edge when the account logs on as a local account of the host (``HOST\\user`` or
   ``.\\user``): Edge servers are not domain-joined, and a local account can never use remote
   PowerShell, whose RBAC gives roles to Active Directory accounts only;
4. otherwise Mailbox.

``ansible_connection: psrp`` on an Edge is refused when the inventory loads; ``ansible_connection:
winrm`` on a Mailbox server means the program in a WinRM shell, kept as an explicit choice, whose
reason says when its logon cannot reach Active Directory (the double hop: only a delegated Kerberos
ticket can).
``ansible_connection: ssh`` on a Mailbox server is refused: its Exchange cmdlets would run through the
snap-in and read Active Directory as the user, which a key logon cannot do (the double hop: "SSH keys
... suffer from the double-hop issue", Ansible's Windows SSH guide, "Key Authentication";
PowerShell/Win32-OpenSSH#518, "by design"), and a password logon does only by handing the server the
password itself ("Password authentication works like WinRM CredSSP authentication", same guide), which
exconf never does (it refuses CredSSP for the same reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PSRP = "psrp"
WINRM = "winrm"
SSH = "ssh"
ROLES = ("Mailbox", "Edge")


@dataclass(frozen=True)
class Door:
    connection: str  # psrp | winrm | ssh
    role: str  # Mailbox | Edge, as the inventory tells it
    why: str  # one sentence, for `exconf inventory --host` and errors


class DoorError(ValueError):
    """The variables ask for a door the host cannot have; ``variable`` names the one to change."""

    def __init__(self, variable: str, message: str):
        super().__init__(message)
        self.variable = variable


def role_of(name: str, v: Mapping[str, object]) -> tuple[str, str]:
    """(role, why) of a host, from its variables alone."""
    declared = v.get("exconf_role")
    if declared in ROLES:
        return str(declared), f"exconf_role: {declared}"
    exchange = v.get("exchange")
    if isinstance(exchange, Mapping) and exchange.get("edge_subscription") is not None:
        return "Edge", "it declares exchange.edge_subscription, which only an Edge Transport server has"
    user = v.get("ansible_user")
    if isinstance(user, str) and _local_account(user, name, v.get("ansible_host")):
        return "Edge", (f"it logs on with the local account {user!r}: Edge Transport servers are not domain-joined, and "
                        "remote PowerShell gives roles to Active Directory accounts only")
    return "Mailbox", "nothing in its variables says Edge: no exconf_role, exchange.edge_subscription or local account"


def _local_account(user: str, name: str, address: object) -> bool:
    domain, sep, _ = user.partition("\\")
    if not sep:
        return False
    short = name.split(".", 1)[0].lower()
    aliases = {short}
    if isinstance(address, str) and address and not address.replace(".", "").isdigit() and ":" not in address:
        aliases.add(address.split(".", 1)[0].lower())
    return domain == "." or domain.lower() in aliases


def truthy(value: object) -> bool:
    """Ansible's boolean forms (true/yes/on/1 and their opposites), as its connection plugins read them."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y", "t") if value is not None else False


def _delegates(v: Mapping[str, object]) -> bool:
    """Whether the WinRM logon hands the server a delegated Kerberos ticket (as engine/connection.py reads it)."""
    return v.get("ansible_winrm_transport") == "kerberos" and truthy(v.get("ansible_winrm_kerberos_delegation"))


def door_of(name: str, v: Mapping[str, object]) -> Door:
    """The door of a host; DoorError when its variables ask for one it cannot have."""
    role, why = role_of(name, v)
    kind = v.get("ansible_connection")
    if kind is None:
        if role == "Edge":
            return Door(WINRM, role, f"no ansible_connection, and it is an Edge Transport server ({why}), which has "
                                     "no remote PowerShell")
        return Door(PSRP, role, f"no ansible_connection, and it is a Mailbox server ({why})")
    if kind == PSRP:
        if role == "Edge":
            raise DoorError("ansible_connection", f"psrp reaches Exchange remote PowerShell, which an Edge Transport "
                                                  f"server does not have (no IIS, no RBAC; {why}); remove "
                                                  "ansible_connection (an Edge is reached over WinRM) or set it to winrm")
        return Door(PSRP, role, "ansible_connection: psrp (Exchange remote PowerShell)")
    if kind == WINRM:
        why = "ansible_connection: winrm (exconf's program in a WinRM shell)"
        if role == "Mailbox" and not _delegates(v):
            why += ("; on a Mailbox server its cmdlets reach Active Directory from that shell, which only a delegated "
                    "Kerberos ticket allows (the double hop: ansible_winrm_transport: kerberos, "
                    "ansible_winrm_kerberos_delegation: true; docs/kerberos.md)")
        return Door(WINRM, role, why)
    if kind == SSH:
        if role == "Mailbox":
            raise DoorError("ansible_connection", f"ssh to a Mailbox server ({why}) would run its Exchange cmdlets through "
                                                  "the snap-in in exconf's program, reading Active Directory as you: a key "
                                                  "logon cannot (the double hop; Ansible's Windows SSH guide: SSH keys "
                                                  "\"suffer from the double-hop issue\"), and a password logon does so only "
                                                  "by giving the server your password to act as you anywhere, as CredSSP "
                                                  "does, which exconf does not do; remove ansible_connection (a Mailbox "
                                                  "server is reached through Exchange remote PowerShell), or, if this host "
                                                  "is an Edge Transport server, say so with exconf_role: Edge")
        return Door(SSH, role, "ansible_connection: ssh (exconf's program over SSH, through the server's OpenSSH default shell)")
    raise DoorError("ansible_connection", f"{kind!r} is not supported; use psrp (Mailbox servers), winrm or ssh (Edge servers)")
