"""A lab's listeners, in this process: what ``serve`` runs and what tests start directly."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from ..ssh import SSHService
from ..tlsca import LabCA
from ..winrm import KerberosKeys, WinRMService
from .registry import ServerInfo

if TYPE_CHECKING:
    from ..exchange.store import LabStore

log = logging.getLogger(__name__)


class LabService(Protocol):
    """Another protocol endpoint served beside WinRM (SSH, remote PowerShell …)."""

    def start(self) -> Any: ...
    def stop(self) -> None: ...


class LabServer:
    """All listeners of a lab, in this process. Use as a context manager in tests.

    ``state_dir`` holds the lab CA (``lab-ca.pem``, reused across restarts); ``private_dir``
    (a 0700 folder, see registry.private_dir) the listeners' keys and NT-hash files.
    ``extra_services`` are started after and stopped before the WinRM listeners. Servers whose organisation
    file installs Windows OpenSSH Server get an sshd (lab/ssh), whose host keys are kept in ``state_dir``
    and published in ``ssh_known_hosts`` there.
    """

    def __init__(self, store: "LabStore", state_dir: Path, extra_services: Sequence[LabService] = (),
                 private_dir: Path | None = None):
        self.store = store
        self.state_dir = Path(state_dir)
        self.private_dir = private_dir
        self.extra_services = list(extra_services)
        self.ca: LabCA | None = None
        self.winrm: WinRMService | None = None
        self.ssh: SSHService | None = None
        self._started: list[LabService] = []

    @property
    def ca_path(self) -> Path:
        if self.ca is None:
            raise RuntimeError("the lab server is not started")
        return self.ca.cert_path

    @property
    def known_hosts_path(self) -> Path:
        """The lab's servers' SSH host keys, in known_hosts form (written when a server serves SSH)."""
        if self.ssh is None:
            raise RuntimeError("the lab server is not started")
        return self.ssh.known_hosts

    def start(self) -> "LabServer":
        self.ca = LabCA.load_or_create(self.state_dir)
        org = getattr(self.store, "org", None)  # a store without an organisation (a test's) has no realm
        keytabs = getattr(org, "keytabs", None)
        kerberos = KerberosKeys(keytabs, org.realm) if keytabs is not None else None
        self.winrm = WinRMService(self.store, self.store.servers, self.ca, workdir=self.private_dir,
                                  kerberos=kerberos).start()
        winrm = self.winrm
        try:
            self.ssh = SSHService(self.store, self.store.servers, lambda name: winrm.endpoint(name).stats, self.state_dir)
            self.ssh.start()
            self._started.append(self.ssh)
            for service in self.extra_services:
                service.start()
                self._started.append(service)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for service in reversed(self._started):
            try:
                service.stop()
            except Exception:  # stopping must go on for the others
                log.exception("stopping %r failed", service)
        self._started.clear()
        if self.winrm is not None:
            self.winrm.stop()
            self.winrm = None

    def stats(self) -> dict[str, Any]:
        """``{"servers": {NAME: {"requests": …, "shells": …, …}}}``, every server of the lab."""
        return {"servers": self.winrm.stats() if self.winrm is not None else {}}

    def last_activity(self) -> float:
        return self.winrm.last_activity() if self.winrm is not None else 0.0

    def server_infos(self) -> tuple[ServerInfo, ...]:
        infos = []
        for spec in self.store.servers:
            down = bool(spec.faults.unreachable)
            infos.append(
                ServerInfo(
                    name=spec.name,
                    fqdn=spec.fqdn,
                    role=spec.role,
                    address=spec.address,
                    http_port=None if down or not spec.winrm.http_port else spec.winrm.http_port,
                    https_port=None if down or not spec.winrm.https_port else spec.winrm.https_port,
                    unreachable=down,
                    powershell_port=None if down or spec.iis is None or not spec.iis.http_port else spec.iis.http_port,
                    powershell_tls_port=None if down or spec.iis is None or not spec.iis.https_port else spec.iis.https_port,
                    ssh_port=None if down or spec.ssh is None else spec.ssh.port,
                )
            )
        return tuple(infos)

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
