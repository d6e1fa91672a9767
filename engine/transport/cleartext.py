"""Nothing secret in clear: when a connection carries its payload in clear, and what exconf allows then.

A WinRM (or PSRP) payload is protected by TLS (https) or by message
encryption (NTLM sealing, MS-WSMV 2.2.9.1; pywinrm's and pypsrp's
``message_encryption``). With neither — ``message_encryption: never`` over
http — NTLM still authenticates, but every command, every answer and every
parameter crosses the network as written: a PFX password, a PFX's private key,
an Edge Subscription file with its bootstrap account's password. The rule,
for every transport:

- a host given a secret is never reached in clear (``refusal``, when the
  inventory loads; ``secrets_in`` before each command, for what only the
  plan knows, such as an Edge Subscription file carried to a Mailbox server);
- any other host is reached in clear only when the inventory says so with
  ``exconf_accept_cleartext: true``, and the plan says so in a warning line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from exconf.remote import FromOperation, Secret, Step

from . import TransportError

ACCEPT_VAR = "exconf_accept_cleartext"


class CleartextRefused(TransportError):
    """A command carrying a secret was about to go to a host reached in clear; nothing was sent."""


def in_clear(scheme: str, sealed: bool) -> bool:
    """Whether a payload crosses the network as written: neither TLS nor sealed messages."""
    return scheme.lower() != "https" and not sealed


def refusal(*, clear: bool, setting: str, accepted: bool, secrets: Sequence[str]) -> str | None:
    """Why this host must not be reached so (None when it may), as the inventory's error says it.

    ``clear`` is ``in_clear(scheme, sealed)`` for the host's connection; ``setting`` the value that turned
    encryption off (``never``: the issue names the variable); ``secrets`` what the host is declared to be
    given (``exchange.certificates[0].import.password_env``).
    """
    if not clear:
        return None
    if secrets:
        return (f"{setting} over http would send this host's secrets ({', '.join(secrets[:3])}{', …' if len(secrets) > 3 else ''}) "
                "in clear; use https (port 5986) or message encryption (auto); a host given a secret is never reached in clear")
    if not accepted:
        return (f"{setting} over http sends every command and answer in clear (NTLM authenticates, but nothing is sealed); "
                f"use https (port 5986) or message encryption (auto), or, for a host given no secret, accept it with {ACCEPT_VAR}: true")
    return None


def warning(hosts: Iterable[str]) -> str:
    """The plan's line for the hosts reached in clear because the inventory accepted it."""
    names = sorted(hosts)
    return (f"cleartext: {', '.join(names)} {'is' if len(names) == 1 else 'are'} reached over http without message encryption "
            f"({ACCEPT_VAR}): what exconf sends and reads there can be read and changed on the network; no secret is sent there")


def secrets_in(steps: Iterable[Step]) -> list[str]:
    """What in these steps is secret (a SecureString, a file's bytes, a file the cmdlet writes), as ``Cmdlet -Parameter``."""
    found = []
    for step in steps:
        for name, value in step.params.items():
            if isinstance(value, (Secret, bytes, bytearray, FromOperation)):
                found.append(f"{step.cmdlet} -{name}")
        if step.output_file:
            found.append(f"the file {step.cmdlet} writes (-{step.output_file})")
    return found


def check_payload(endpoint: str, clear: bool, steps: Sequence[Step]) -> None:
    """CleartextRefused, before anything is sent, when a command for a host reached in clear carries a secret."""
    if not clear:
        return
    found = secrets_in(steps)
    if found:
        raise CleartextRefused(f"{endpoint}: this command carries secrets ({', '.join(found[:3])}) and the host is "
                               "reached in clear (http without message encryption); use https or message encryption")
