"""Connection settings of a host, from Ansible's connection variables.

Defaults follow the issue's security stance: NTLM over HTTP with message
encryption, or Basic/NTLM over HTTPS with certificate validation; nothing
that sends a password in clear is accepted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .templating import RenderError
from .transport import ConnectionSettings
from .transport import cleartext

if TYPE_CHECKING:  # the inventory asks this module which connections exist; the types only go the other way
    from .inventory import Host

SUPPORTED_AUTH = ("ntlm", "basic")
NOT_YET = ("kerberos", "credssp", "certificate")  # Ansible has them; exconf does not yet


def unsupported_connection(v: Mapping[str, object]) -> list[tuple[str, str]]:
    """Connection variables exconf cannot use yet, as (variable, message): checked with the inventory, before any host is contacted."""
    out = []
    kind = v.get("ansible_connection", "winrm")
    if kind != "winrm":
        out.append(("ansible_connection", f"{kind!r} is not supported yet; use winrm"))
    declared = v.get("ansible_winrm_transport")
    choices = [declared] if isinstance(declared, str) else list(declared) if isinstance(declared, list) else []
    if choices and all(c in NOT_YET for c in choices):
        out.append(("ansible_winrm_transport", f"{declared!r} is not supported yet; use ntlm, or basic over https"))
    return out


def cleartext_connection(v: Mapping[str, object]) -> list[tuple[str, str]]:
    """A host reached over http without message encryption: refused when it is given a secret, or when the
    inventory does not accept cleartext for it (transport/cleartext.py); checked when the inventory loads."""
    if v.get("ansible_connection", "winrm") != "winrm":
        return []
    encryption = v.get("ansible_winrm_message_encryption", "auto")
    problem = cleartext.refusal(
        clear=reached_in_clear(v), setting=str(encryption),
        accepted=v.get(cleartext.ACCEPT_VAR) is True, secrets=declared_secrets(v.get("exchange")),
    )
    return [("ansible_winrm_message_encryption", problem)] if problem else []


def reached_in_clear(v: Mapping[str, object]) -> bool:
    """WinRM over http with ``ansible_winrm_message_encryption: never``: NTLM seals otherwise (pywinrm's
    ``auto``), and basic over http is refused on its own (``_auth``)."""
    try:
        scheme, _ = _scheme_and_port(v)
    except ValueError:  # a port that is not a number: the schema reports it
        return False
    return cleartext.in_clear(scheme, sealed=v.get("ansible_winrm_message_encryption", "auto") != "never")


def declared_secrets(section: object, path: str = "exchange") -> list[str]:
    """Where a host's declarations name a secret (a key such as password_env or password_file), dotted."""
    from .schema import is_secret  # schema imports the kinds; connection is imported by the inventory

    out: list[str] = []
    if isinstance(section, Mapping):
        for key, value in section.items():
            here = f"{path}.{key}"
            if is_secret((str(key),)) and value not in (None, False, ""):
                out.append(here)
            else:
                out += declared_secrets(value, here)
    elif isinstance(section, list):
        for i, value in enumerate(section):
            out += declared_secrets(value, f"{path}[{i}]")
    return out


def _scheme_and_port(v: Mapping[str, object]) -> tuple[str, int | None]:
    port = int(str(v["ansible_port"])) if v.get("ansible_port") not in (None, "") else None  # "5986" works as in Ansible
    scheme = str(v.get("ansible_winrm_scheme") or ("https" if port == 5986 else "http"))
    return scheme, port


class ConnectionConfigError(ValueError):
    """A host's connection variables cannot be used; the message names the host and the variable."""


def settings_for(host: Host, inventory_dir: Path, env: Mapping[str, str] = os.environ) -> ConnectionSettings:
    """A host's connection settings; a variable that cannot be rendered (a host outside --limit, read only
    when it carries the organisation's objects) is this host's error, never the run's."""
    try:
        return _settings(host, inventory_dir, env)
    except RenderError as exc:
        raise ConnectionConfigError(f"{host.name}: {exc}") from None


def _settings(host: Host, inventory_dir: Path, env: Mapping[str, str]) -> ConnectionSettings:
    v = host.vars
    kind = v.get("ansible_connection", "winrm")
    if kind != "winrm":
        raise ConnectionConfigError(f"{host.name}: ansible_connection {kind!r} is not supported yet; use winrm")
    scheme, port = _scheme_and_port(v)
    port = port or (5986 if scheme == "https" else 5985)
    auth = _auth(host, v.get("ansible_winrm_transport"), scheme)
    user = v.get("ansible_user")
    if not user:
        raise ConnectionConfigError(f"{host.name}: ansible_user is not set")
    password = v.get("ansible_password")
    env_name = v.get("exconf_password_env")
    if env_name:
        if env_name not in env:
            raise ConnectionConfigError(f"{host.name}: exconf_password_env names {env_name}, which is not set in the environment")
        password = env[env_name]
    if password is None:
        raise ConnectionConfigError(f"{host.name}: no password: set exconf_password_env (or ansible_password)")
    ca = v.get("ansible_winrm_ca_trust_path")
    if ca:
        ca_path = (inventory_dir / str(ca)).resolve()
        if not ca_path.exists():
            raise ConnectionConfigError(f"{host.name}: ansible_winrm_ca_trust_path: {ca_path} does not exist")
        if not os.access(ca_path, os.R_OK):
            raise ConnectionConfigError(f"{host.name}: ansible_winrm_ca_trust_path: {ca_path} cannot be read")
        ca = str(ca_path)
    else:
        # What pywinrm did by itself ("legacy_requests"), read once here: the transport's
        # sessions never look at the environment (engine/transport/session.py).
        ca = env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None
    timeout = v.get("ansible_winrm_connection_timeout")
    operation = int(v.get("ansible_winrm_operation_timeout_sec") or timeout or 20)
    read = int(v.get("ansible_winrm_read_timeout_sec") or (timeout + 10 if timeout else 30))
    if read <= operation:
        raise ConnectionConfigError(f"{host.name}: ansible_winrm_read_timeout_sec ({read}) must exceed ansible_winrm_operation_timeout_sec ({operation})")
    return ConnectionSettings(
        host=str(v.get("ansible_host") or host.name),
        port=int(port),
        scheme=scheme,
        path=v.get("ansible_winrm_path", "/wsman"),
        auth=auth,
        user=str(user),
        password=str(password),
        cert_validation=v.get("ansible_winrm_server_cert_validation", "validate") != "ignore",
        ca_trust_path=ca,
        message_encryption=v.get("ansible_winrm_message_encryption", "auto"),
        operation_timeout=operation,
        read_timeout=read,
    )


def _auth(host: Host, declared: str | list[str] | None, scheme: str) -> str:
    choices = [declared] if isinstance(declared, str) else list(declared or ["ntlm"])
    choices = ["basic" if c == "ssl" else c for c in choices]
    for choice in choices:
        if choice == "plaintext":
            raise ConnectionConfigError(f"{host.name}: ansible_winrm_transport plaintext sends the password in clear; use ntlm, or basic over https")
        if choice in SUPPORTED_AUTH:
            if choice == "basic" and scheme != "https":
                raise ConnectionConfigError(f"{host.name}: basic authentication over http sends the password in clear; use https (port 5986) or ntlm")
            return choice
    raise ConnectionConfigError(f"{host.name}: ansible_winrm_transport {declared!r} is not supported yet; use ntlm or basic (kerberos comes later)")
