"""What an organisation file declares, as frozen dataclasses.

``Account``, ``WinRMSettings``, ``Faults`` and ``ServerSpec`` are the interface the
lab's WinRM server reads (re-exported by :mod:`exconf.lab.exchange.store`); the
rest is what only the simulated Exchange organisation needs.
"""

from __future__ import annotations

from functools import cached_property
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class OrgFileError(Exception):
    """The organisation file is not valid. ``str(e)`` names the file, line and column and what was expected."""


@dataclass(frozen=True)
class Account:
    domain: str  # NetBIOS domain (e.g. "CONTOSO") for domain accounts; the server name for a server's local accounts
    user: str
    password: str = field(repr=False)
    # Exchange management role groups the account is a member of (RBAC, lab/exchange/rbac.py): domain
    # accounts only; a local account is no Active Directory object and holds no role.
    role_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class WinRMSettings:
    http_port: int = 5985
    https_port: int = 5986
    basic: bool = False
    allow_unencrypted: bool = False
    # HTTP.sys's IdleConnection timer: a keep-alive connection idle this long is closed
    # ("HTTP Server API default 120 Sec", learn.microsoft.com/windows/win32/http/server-timeouts-property).
    idle_connection_timeout: float = 120.0


@dataclass(frozen=True)
class PowerShellVdir:
    """What a Mailbox server's PowerShell virtual directory accepts beyond Exchange's own Kerberos
    (Set-PowerShellVirtualDirectory -BasicAuthentication / -WindowsAuthentication; both off on a fresh
    front end, see exconf.lab.winrm.auth.AuthPolicy.powershell_vdir)."""

    basic_authentication: bool = False
    windows_authentication: bool = False


@dataclass(frozen=True)
class IISSettings:
    """The bindings of the Default Web Site, where Exchange serves ``/PowerShell`` (IIS answers on
    http 80 and https 443 by default). Ports below 1024 need root on Linux, so the lab lets an
    organisation file move them (docs/lab.md, "Remote PowerShell")."""

    http_port: int = 80
    https_port: int = 443


@dataclass(frozen=True)
class SSHSettings:
    """Windows OpenSSH Server (sshd) on a lab server: where it listens and what it accepts.

    Windows' defaults: port 22; ``DefaultShell`` unset, so commands run through cmd.exe ("The initial
    default Windows is the Windows Command shell (cmd.exe)", learn.microsoft.com/windows-server/
    administration/openssh/openssh_server_configuration, "Configuring the default shell"); the
    registry value HKLM\\SOFTWARE\\OpenSSH\\DefaultShell names powershell.exe instead. sshd_config's
    PasswordAuthentication and PubkeyAuthentication default to yes, and the keys of members of the
    Administrators group are read from %ProgramData%\\ssh\\administrators_authorized_keys only ("Match
    Group administrators / AuthorizedKeysFile __PROGRAMDATA__/ssh/administrators_authorized_keys" in the
    default sshd_config; Ansible's Windows SSH guide, "Key Authentication").
    """

    port: int = 22
    default_shell: str = "cmd"  # "cmd" | "powershell": what DefaultShell names
    password_authentication: bool = True
    administrators_authorized_keys: tuple[str, ...] = ()  # OpenSSH public key lines ("ssh-ed25519 AAAA… comment")


@dataclass(frozen=True)
class Faults:
    unreachable: bool = False
    refuse_credentials: bool = False
    delay_seconds: float = 0.0
    constrained_language: bool = False  # PowerShell runs in CLM (AppLocker/WDAC): the bootstrap refuses
    # sshd presents another host key than the one it had (the server was reinstalled, or someone sits in
    # between): a client that knew the old one must refuse it.
    ssh_host_key_changed: bool = False
    # The server, or something in front of it (a reverse proxy, a load balancer), does not take an
    # authentication token sent with a connection's first request and answers with its plain 401, as if
    # none had been sent: a client must then start over from that 401 (lab/winrm/endpoint.py).
    ignores_first_token: bool = False


@dataclass(frozen=True)
class ServerSpec:
    name: str
    fqdn: str
    role: str  # "Mailbox" | "Edge"
    version: str
    site: str
    address: str  # loopback 127.x.y.z
    codepage: int
    winrm: WinRMSettings
    faults: Faults
    accounts: tuple[Account, ...]  # who may log on
    powershell_vdir: PowerShellVdir = PowerShellVdir()
    iis: IISSettings | None = None  # Mailbox servers: where /PowerShell is served; None on an Edge (no IIS)
    ssh: SSHSettings | None = None  # Windows OpenSSH Server, when the organisation file installs it (Edge servers)

    @property
    def is_edge(self) -> bool:
        return self.role == "Edge"

    @property
    def computer_name(self) -> str:
        """$env:COMPUTERNAME: the NetBIOS name in upper case."""
        return self.name.upper()


@dataclass(frozen=True)
class CmdletFault:
    """A cmdlet that fails on purpose: ``times`` failures (None = always)."""

    cmdlet: str
    message: str
    times: int | None = None
    exception: str = "InvalidOperationException"


@dataclass(frozen=True)
class ServerEntry:
    """A server as the simulated organisation knows it."""

    spec: ServerSpec
    subscribed: bool = False  # Edge only: EdgeSync-subscribed to its site
    edition: str = "Standard"
    cmdlet_faults: tuple[CmdletFault, ...] = ()
    send_connectors: tuple[dict[str, Any], ...] = ()  # Edge only: its own connectors while not subscribed
    certificates: tuple[Any, ...] = ()  # certificate_store.CertificateDecl the org file adds to its store
    # How Get-ExchangeCertificate's SerializationData travels over /PowerShell: "signed" (newer
    # builds: #sig#, length, stream, 32 bytes), "plain" (a bare BinaryFormatter stream) or "none"
    # (RawData only, as some servers send: the services are then unknown to a client).
    certificate_serialization: str = "signed"

    @property
    def name(self) -> str:
        return self.spec.computer_name

    @property
    def is_edge(self) -> bool:
        return self.spec.is_edge


@dataclass(frozen=True)
class Organization:
    name: str = "Contoso"
    domain: str = "contoso.lab"
    netbios: str = "CONTOSO"
    domain_controller: str = ""  # FQDN of the DC the Mailbox servers talk to (default DC01.<domain>)

    @property
    def dc(self) -> str:
        return self.domain_controller or f"DC01.{self.domain}"


@dataclass(frozen=True)
class OrgSpec:
    path: Path
    organization: Organization
    accounts: tuple[Account, ...]
    servers: tuple[ServerEntry, ...]
    send_connectors: tuple[dict[str, Any], ...] = ()  # Exchange property name -> typed value
    transport_config: dict[str, Any] = field(default_factory=dict)
    keytabs: Path | None = None  # kerberos.keytabs: <fqdn>.keytab per domain-joined server

    @property
    def realm(self) -> str:
        """The domain's Kerberos realm: Active Directory's is its DNS name in upper case."""
        return self.organization.domain.upper()

    @cached_property
    def mailbox_servers(self) -> tuple[ServerEntry, ...]:
        return tuple(e for e in self.servers if not e.is_edge)

    @cached_property
    def by_name(self) -> dict[str, tuple[ServerEntry, ...]]:
        """Servers by lower-case name and FQDN: what a cmdlet looks up, without a scan (issue 11)."""
        index: dict[str, tuple[ServerEntry, ...]] = {}
        for entry in self.servers:
            for key in {entry.name.lower(), entry.spec.fqdn.lower()}:
                index[key] = index.get(key, ()) + (entry,)
        return index
