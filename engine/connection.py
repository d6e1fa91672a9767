"""Connection settings of a host, from Ansible's connection variables.

Defaults follow the issue's security stance: NTLM or Kerberos over HTTP with message
encryption, or Kerberos/NTLM/Basic over HTTPS with certificate validation; nothing
that sends a password in clear is accepted, and nothing that hands it to the server
(CredSSP). An estate that disabled NTLM says ``exconf_forbid_ntlm: true``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .templating import RenderError
from .transport import ConnectionSettings, cleartext
from .transport.kerberos import kerberos_missing, spn_host

if TYPE_CHECKING:  # the inventory asks this module which connections exist; the types only go the other way
    from .inventory import Host

SUPPORTED_AUTH = ("ntlm", "kerberos", "basic")
NOT_YET = ("certificate",)  # Ansible has it; exconf does not yet
# CredSSP sends the user's password to the server (MS-CSSP 3.1.5: the TSPasswordCreds after the
# TLS channel), where any process acting as the server can use it to reach every other service as
# the user; Microsoft's own second-hop guide lists it as the option with the credential at risk
# (learn.microsoft.com/powershell/scripting/security/remoting/ps-remoting-second-hop, "CredSSP").
CREDSSP_REFUSED = (
    "CredSSP is refused: it hands your password to the server, where whoever controls it can use it "
    "against every other service as you; Mailbox servers are reached through remote PowerShell, which needs "
    "no second hop, and the program path can use ansible_winrm_kerberos_delegation: true"
)


def unsupported_connection(v: Mapping[str, object]) -> list[tuple[str, str]]:
    """Connection variables exconf cannot or will not use, as (variable, message): checked with the
    inventory, before any host is contacted."""
    out = []
    kind = v.get("ansible_connection", "winrm")
    if kind != "winrm":
        out.append(("ansible_connection", f"{kind!r} is not supported yet; use winrm"))
    declared = v.get("ansible_winrm_transport")
    choices = [declared] if isinstance(declared, str) else list(declared) if isinstance(declared, list) else []
    forbid = _truthy(v.get("exconf_forbid_ntlm"))
    usable = [c for c in choices if c not in NOT_YET and c != "credssp" and not (forbid and c == "ntlm")]
    if choices and not usable:
        if "credssp" in choices:
            out.append(("ansible_winrm_transport", CREDSSP_REFUSED))
        elif forbid and "ntlm" in choices:
            out.append(("ansible_winrm_transport", "ntlm is forbidden here (exconf_forbid_ntlm: true); use kerberos, "
                                                   "or basic over https"))
        else:
            out.append(("ansible_winrm_transport", f"{declared!r} is not supported yet; use kerberos or ntlm, or basic "
                                                   "over https"))
    elif not choices and forbid:
        out.append(("exconf_forbid_ntlm", "NTLM is forbidden but ansible_winrm_transport is not set (its default is "
                                          "ntlm); set it to kerberos"))
    return out


def _truthy(value: object) -> bool:
    """Ansible's boolean forms (true/yes/on/1 and their opposites), as the winrm plugin reads them."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y", "t") if value is not None else False


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
    auth = _auth(host, v.get("ansible_winrm_transport"), scheme, _truthy(v.get("exconf_forbid_ntlm")))
    user = v.get("ansible_user")
    if not user and auth != "kerberos":
        raise ConnectionConfigError(f"{host.name}: ansible_user is not set")
    password = v.get("ansible_password")
    env_name = v.get("exconf_password_env")
    if env_name:
        if env_name not in env:
            raise ConnectionConfigError(f"{host.name}: exconf_password_env names {env_name}, which is not set in the environment")
        password = env[env_name]
    if password is None and auth != "kerberos":  # Kerberos without a password: the ticket from kinit
        raise ConnectionConfigError(f"{host.name}: no password: set exconf_password_env (or ansible_password)")
    if auth == "kerberos":
        missing = kerberos_missing()
        if missing:
            raise ConnectionConfigError(f"{host.name}: {missing}")
        user = kerberos_principal(host.name, str(user or ""))
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
    connect_to = str(v.get("ansible_host") or host.name)
    return ConnectionSettings(
        host=connect_to,
        port=int(port),
        scheme=scheme,
        path=v.get("ansible_winrm_path", "/wsman"),
        auth=auth,
        user=str(user or ""),
        password=None if password is None else str(password),
        cert_validation=v.get("ansible_winrm_server_cert_validation", "validate") != "ignore",
        ca_trust_path=ca,
        message_encryption=v.get("ansible_winrm_message_encryption", "auto"),
        operation_timeout=operation,
        read_timeout=read,
        service=str(v.get("ansible_winrm_service") or "HTTP"),
        spn_host=spn_host(host.name, connect_to, _optional(v.get("ansible_winrm_kerberos_hostname_override"))),
        delegate=auth == "kerberos" and _truthy(v.get("ansible_winrm_kerberos_delegation")),
    )


def kerberos_principal(host_name: str, user: str) -> str:
    """``user@REALM`` as MIT Kerberos needs it: the realm part in upper case (Active Directory's realm
    is its DNS domain in upper case; the user part of a UPN is compared without case)."""
    if not user:
        return ""  # the credential cache's default principal
    if "\\" in user:
        raise ConnectionConfigError(
            f"{host_name}: ansible_user {user!r} is a DOMAIN\\user name; Kerberos needs user@REALM "
            "(e.g. exadmin@CONTOSO.LAB)")
    name, at, realm = user.rpartition("@")
    if not at or not name or not realm:
        raise ConnectionConfigError(f"{host_name}: ansible_user {user!r} has no realm; Kerberos needs user@REALM "
                                    "(e.g. exadmin@CONTOSO.LAB)")
    return f"{name}@{realm.upper()}"


def _optional(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _auth(host: Host, declared: str | list[str] | None, scheme: str, forbid_ntlm: bool = False) -> str:
    choices = [declared] if isinstance(declared, str) else list(declared or ["ntlm"])
    choices = ["basic" if c == "ssl" else c for c in choices]
    for choice in choices:
        if choice == "plaintext":
            raise ConnectionConfigError(f"{host.name}: ansible_winrm_transport plaintext sends the password in clear; use kerberos or ntlm, or basic over https")
        if choice == "ntlm" and forbid_ntlm:
            continue
        if choice in SUPPORTED_AUTH:
            if choice == "basic" and scheme != "https":
                raise ConnectionConfigError(f"{host.name}: basic authentication over http sends the password in clear; use https (port 5986), kerberos or ntlm")
            return choice
    if "credssp" in choices:
        raise ConnectionConfigError(f"{host.name}: {CREDSSP_REFUSED}")
    if forbid_ntlm and "ntlm" in choices:
        raise ConnectionConfigError(f"{host.name}: NTLM is forbidden here (exconf_forbid_ntlm: true); use kerberos, or basic over https")
    raise ConnectionConfigError(f"{host.name}: ansible_winrm_transport {declared!r} is not supported yet; use kerberos or ntlm, or basic over https")
