"""Connection settings of a host, from Ansible's connection variables.

Which door a host takes (Exchange remote PowerShell or exconf's program over WinRM) is door.py's;
this module turns the variables of that door into settings. Defaults follow the issue's security
stance: Kerberos or NTLM over HTTP with message encryption, or Kerberos/NTLM/Basic over HTTPS with
certificate validation; nothing that sends a password in clear is accepted, and nothing that hands
it to the server (CredSSP). An estate that disabled NTLM says ``exconf_forbid_ntlm: true``. Kerberos
(docs/kerberos.md) takes its service principal from the inventory host name when ``ansible_host`` is
an address, and its ticket from the credential cache when no password is given.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from . import sshvars
from .door import PSRP, SSH, DoorError, door_of, truthy as _truthy
from .host import Host
from .schema import is_secret
from .templating import RenderError
from .transport import ConnectionSettings, cleartext
from .transport.kerberos import kerberos_missing, spn_host
from .transport.psrp import EXCHANGE_CONFIGURATION, PSRPSettings
from .transport.ssh import SSHSettings

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
FORBID_NTLM = "exconf_forbid_ntlm"


def unsupported_connection(v: Mapping[str, object], name: str = "") -> list[tuple[str, str]]:
    """Connection variables exconf cannot or will not use, as (variable, message): checked with the
    inventory, before any host is contacted."""
    out = []
    try:
        door = door_of(name, v)
    except DoorError as exc:
        return [(exc.variable, str(exc))]
    if door.connection == PSRP:
        return unsupported_psrp(v)
    if door.connection == SSH:
        return sshvars.inventory_issues(v)
    declared = v.get("ansible_winrm_transport")
    choices = [declared] if isinstance(declared, str) else list(declared) if isinstance(declared, list) else []
    forbid = _truthy(v.get(FORBID_NTLM))
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
        out.append((FORBID_NTLM, "NTLM is forbidden but ansible_winrm_transport is not set (its default is ntlm); set "
                                 "it to kerberos"))
    return out


def cleartext_connection(v: Mapping[str, object]) -> list[tuple[str, str]]:
    """A host reached over http without message encryption: refused when it is given a secret, or when the
    inventory does not accept cleartext for it (transport/cleartext.py); checked when the inventory loads."""
    try:
        door = door_of("", v)
    except DoorError:
        return []  # unsupported_connection reports it
    if door.connection == SSH:
        return []  # SSH encrypts every byte of the connection
    variable = "ansible_psrp_message_encryption" if door.connection == PSRP else "ansible_winrm_message_encryption"
    clear = _psrp_in_clear(v) if door.connection == PSRP else reached_in_clear(v)
    problem = cleartext.refusal(
        clear=clear, setting=str(v.get(variable, "auto")),
        accepted=v.get(cleartext.ACCEPT_VAR) is True, secrets=declared_secrets(v.get("exchange")),
    )
    return [(variable, problem)] if problem else []


def _psrp_in_clear(v: Mapping[str, object]) -> bool:
    """Remote PowerShell over http with ``ansible_psrp_message_encryption: never`` (pypsrp seals otherwise)."""
    return cleartext.in_clear(_psrp_protocol(v), sealed=v.get("ansible_psrp_message_encryption", "auto") != "never")


def reached_in_clear(v: Mapping[str, object]) -> bool:
    """WinRM over http with ``ansible_winrm_message_encryption: never``: NTLM seals otherwise (pywinrm's
    ``auto``), and basic over http is refused on its own (``_auth``). SSH is never in clear."""
    try:
        if door_of("", v).connection == SSH:
            return False
    except DoorError:
        pass
    try:
        scheme, _ = _scheme_and_port(v)
    except ValueError:  # a port that is not a number: the schema reports it
        return False
    return cleartext.in_clear(scheme, sealed=v.get("ansible_winrm_message_encryption", "auto") != "never")


def declared_secrets(section: object, path: str = "exchange") -> list[str]:
    """Where a host's declarations name a secret (a key such as password_env or password_file), dotted."""
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


def settings_for(host: Host, inventory_dir: Path, env: Mapping[str, str] = os.environ, *, beside_psrp: bool = False) -> ConnectionSettings:
    """WinRM settings (exconf's program): what the runner uses for a host whose door is WinRM (door.py). A
    variable that cannot be rendered (a host outside --limit, read only when it carries the organisation's
    objects) is this host's error, never the run's. ``beside_psrp``: for the few steps a host reached over
    remote PowerShell takes through WinRM's own endpoint (an ACME challenge file, an app pool restart: nothing
    an Exchange session holds); ``ansible_port`` is then remote PowerShell's when ansible_connection says psrp."""
    try:
        return _settings(host, inventory_dir, env, beside_psrp)
    except RenderError as exc:
        raise ConnectionConfigError(f"{host.name}: {exc}") from None


def ssh_settings_for(host: Host, inventory_dir: Path, env: Mapping[str, str] = os.environ, *,
                     read_key: bool = True) -> SSHSettings:
    """SSH settings (exconf's program over SSH, docs/ssh.md): the private key read (and its passphrase asked
    for, once per file) unless ``read_key`` is false."""
    try:
        return sshvars.ssh_settings(host, inventory_dir, env, keys=sshvars.KEYS if read_key else None)
    except sshvars.SSHConfigError as exc:
        raise ConnectionConfigError(f"{host.name}: {exc.variable}: {exc}") from None
    except RenderError as exc:
        raise ConnectionConfigError(f"{host.name}: {exc}") from None


def _settings(host: Host, inventory_dir: Path, env: Mapping[str, str], beside_psrp: bool = False) -> ConnectionSettings:
    v = host.vars
    kind = v.get("ansible_connection")
    if kind not in (None, "winrm", PSRP):
        raise ConnectionConfigError(f"{host.name}: ansible_connection {kind!r} is not supported yet; use psrp or winrm")
    scheme, port = _scheme_and_port(v)
    if beside_psrp and kind == PSRP:
        scheme, port = str(v.get("ansible_winrm_scheme") or "http"), None
    port = port or (5986 if scheme == "https" else 5985)
    auth = _auth(host, v.get("ansible_winrm_transport"), scheme, _truthy(v.get(FORBID_NTLM)))
    user, password = _credentials(host, env, kerberos=auth == "kerberos")
    ca = _ca_path(host, "ansible_winrm_ca_trust_path", inventory_dir, env)
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
        user=user,
        password=password,
        cert_validation=v.get("ansible_winrm_server_cert_validation", "validate") != "ignore",
        ca_trust_path=ca,
        message_encryption=v.get("ansible_winrm_message_encryption", "auto"),
        operation_timeout=operation,
        read_timeout=read,
        service=str(v.get("ansible_winrm_service") or "HTTP"),
        spn_host=spn_host(host.name, connect_to, _optional(v.get("ansible_winrm_kerberos_hostname_override"))),
        delegate=auth == "kerberos" and _truthy(v.get("ansible_winrm_kerberos_delegation")),
    )


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


def _credentials(host: Host, env: Mapping[str, str], kerberos: bool = False) -> tuple[str, str | None]:
    """(user, password). With Kerberos both may be absent: the ticket and its principal then come from
    the user's credential cache (kinit); a user is ``user@REALM`` with the realm upper-cased."""
    v = host.vars
    user = v.get("ansible_user")
    if not user and not kerberos:
        raise ConnectionConfigError(f"{host.name}: ansible_user is not set")
    password = v.get("ansible_password")
    env_name = v.get("exconf_password_env")
    if env_name:
        if env_name not in env:
            raise ConnectionConfigError(f"{host.name}: exconf_password_env names {env_name}, which is not set in the environment")
        password = env[env_name]
    if password is None and not kerberos:
        raise ConnectionConfigError(f"{host.name}: no password: set exconf_password_env (or ansible_password)")
    if kerberos:
        missing = kerberos_missing()
        if missing:
            raise ConnectionConfigError(f"{host.name}: {missing}")
        return kerberos_principal(host.name, str(user or "")), None if password is None else str(password)
    return str(user), str(password)


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


def _ca_path(host: Host, variable: str, inventory_dir: Path, env: Mapping[str, str]) -> str | None:
    ca = host.vars.get(variable)
    if ca:
        ca_path = (inventory_dir / str(ca)).resolve()
        if not ca_path.exists():
            raise ConnectionConfigError(f"{host.name}: {variable}: {ca_path} does not exist")
        if not os.access(ca_path, os.R_OK):
            raise ConnectionConfigError(f"{host.name}: {variable}: {ca_path} cannot be read")
        return str(ca_path)
    # What pywinrm did by itself ("legacy_requests"), read once here: the transport's
    # sessions never look at the environment (engine/transport/session.py).
    return env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None


# --- Exchange remote PowerShell (ansible-core's psrp connection plugin's variable names) ----------------

PSRP_AUTH = ("negotiate", "ntlm", "kerberos", "basic")
# Exchange's /PowerShell is served by IIS: http 80 and https 443 (connect-to-exchange-servers-using-
# remote-powershell.md: "http://<ServerFQDN>/PowerShell/"; "TCP port 80 must be open").
EXCHANGE_HTTP_PORT = 80
EXCHANGE_HTTPS_PORT = 443


def _psrp_name_issues(name: str) -> list[tuple[str, str]]:
    """Over remote PowerShell the session's server is named to the cmdlets by the inventory name
    (``-Server``, ``Get-ExchangeServer -Identity``): an address names no Exchange server."""
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return []
    return [("ansible_host", f"the host is named {name!r}, an address; over Exchange remote PowerShell exconf names the "
                             "server to its cmdlets by the inventory name, so name the host by its server name or FQDN "
                             "and put the address in ansible_host")]


def unsupported_psrp(v: Mapping[str, object]) -> list[tuple[str, str]]:
    """psrp variables exconf will not use, as (variable, message)."""
    out = []
    auth = v.get("ansible_psrp_auth", "negotiate")
    protocol = _psrp_protocol(v)
    if auth == "ntlm" and _truthy(v.get(FORBID_NTLM)):
        out.append(("ansible_psrp_auth", "ntlm is forbidden here (exconf_forbid_ntlm: true); use kerberos (or negotiate, "
                                         "which then never falls back to NTLM)"))
    elif auth == "credssp":
        out.append(("ansible_psrp_auth", "credssp hands your password itself to the server, which can then act as you "
                                         "anywhere; Exchange remote PowerShell needs no delegation: use negotiate, "
                                         "kerberos or ntlm"))
    elif auth == "certificate":
        out.append(("ansible_psrp_auth", "certificate authentication maps a certificate to a local account, which "
                                         "holds no Exchange role; use negotiate, kerberos or ntlm"))
    elif auth not in PSRP_AUTH:
        out.append(("ansible_psrp_auth", f"{auth!r} is not an authentication exconf knows; use negotiate, kerberos, ntlm, or basic over https"))
    elif auth == "basic" and protocol != "https":
        out.append(("ansible_psrp_auth", "basic authentication over http sends the password in clear; use https "
                                         "(ansible_psrp_protocol: https) or negotiate"))
    return out


def _psrp_protocol(v: Mapping[str, object]) -> str:
    declared = v.get("ansible_psrp_protocol")
    if declared in ("http", "https"):
        return str(declared)
    port = _psrp_port_declared(v)
    return "https" if port in (EXCHANGE_HTTPS_PORT, 5986) else "http"


def _psrp_port_declared(v: Mapping[str, object]) -> int | None:
    """ansible_psrp_port, else ansible_port (Ansible's psrp plugin reads both, psrp's first); a value that
    is not a port is the schema's to report. ``ansible_port`` counts only with an explicit
    ``ansible_connection: psrp``: without one, an inventory written when exconf's only door was WinRM
    meant WinRM's port (5985/5986), where no /PowerShell is served."""
    names = ("ansible_psrp_port", "ansible_port") if v.get("ansible_connection") == "psrp" else ("ansible_psrp_port",)
    for name in names:
        raw = v.get(name)
        if isinstance(raw, bool) or raw in (None, ""):
            continue
        text = str(raw).strip()
        if text.isdigit() and 0 < int(text) < 65536:
            return int(text)
    return None


def psrp_settings_for(host: Host, inventory_dir: Path, env: Mapping[str, str] = os.environ) -> PSRPSettings:
    """Exchange remote PowerShell settings: http on port 80, path PowerShell, configuration
    Microsoft.Exchange unless the variables say otherwise."""
    try:
        return _psrp_settings(host, inventory_dir, env)
    except RenderError as exc:
        raise ConnectionConfigError(f"{host.name}: {exc}") from None


def _psrp_settings(host: Host, inventory_dir: Path, env: Mapping[str, str]) -> PSRPSettings:
    v = host.vars
    problems = _psrp_name_issues(host.name) + unsupported_psrp(v)
    if problems:
        variable, message = problems[0]
        raise ConnectionConfigError(f"{host.name}: {variable}: {message}")
    protocol = _psrp_protocol(v)
    port = _psrp_port_declared(v) or (EXCHANGE_HTTPS_PORT if protocol == "https" else EXCHANGE_HTTP_PORT)
    auth = str(v.get("ansible_psrp_auth", "negotiate"))
    if auth == "negotiate" and _truthy(v.get(FORBID_NTLM)):
        auth = "kerberos"  # Negotiate would fall back to NTLM when Kerberos fails
    user, password = _credentials(host, env, kerberos=auth == "kerberos")
    if auth == "negotiate" and "\\" in user:
        # Negotiate with a DOMAIN\user name can only end in NTLM from a controller that is not Windows: MIT
        # Kerberos reads the backslash as an escape and asks the default realm's KDC for another principal
        # (a lookup that leaves the machine and may wait seconds on DNS). Go to NTLM at once; Kerberos takes
        # user@REALM (docs/remote-powershell.md).
        auth = "ntlm"
    if auth == "negotiate" and "@" in user and "\\" not in user:
        user = kerberos_principal(host.name, user)  # Kerberos first: its realm in upper case (NTLM takes either)
    connect_to = str(v.get("ansible_host") or host.name)
    connection = float(v.get("ansible_psrp_connection_timeout") or 30)
    operation = float(v.get("ansible_psrp_operation_timeout") or 20)
    read = float(v.get("ansible_psrp_read_timeout") or max(30, operation + 10))
    if read <= operation:
        raise ConnectionConfigError(f"{host.name}: ansible_psrp_read_timeout ({read:g}) must exceed ansible_psrp_operation_timeout ({operation:g})")
    return PSRPSettings(
        host=connect_to,
        port=port,
        scheme=protocol,
        path=str(v.get("ansible_psrp_path") or "PowerShell").strip("/") or "PowerShell",
        auth=auth,
        user=user,
        password=password,
        cert_validation=v.get("ansible_psrp_cert_validation", "validate") != "ignore",
        ca_trust_path=_ca_path(host, "ansible_psrp_ca_path", inventory_dir, env),
        message_encryption=str(v.get("ansible_psrp_message_encryption", "auto")),
        configuration_name=str(v.get("ansible_psrp_configuration_name") or EXCHANGE_CONFIGURATION),
        operation_timeout=int(operation),
        read_timeout=int(read),
        connection_timeout=int(connection),
        server_name=host.name,
        negotiate_service=str(v["ansible_psrp_negotiate_service"]) if v.get("ansible_psrp_negotiate_service") else None,
        # Kerberos names the service by a DNS name, never the address one connects to (connection.py, spn_host).
        negotiate_hostname_override=spn_host(host.name, connect_to, _optional(v.get("ansible_psrp_negotiate_hostname_override"))),
        negotiate_delegate=_truthy(v.get("ansible_psrp_negotiate_delegate", False)),
    )
