"""One SSH connection to a lab server, as Windows OpenSSH's sshd answers it (paramiko's server side).

What it accepts follows sshd_config's Windows defaults (sshd_config(5); learn.microsoft.com/
windows-server/administration/openssh/openssh_server_configuration):

* ``password`` (PasswordAuthentication yes) for the server's accounts, named as Windows OpenSSH names
  them (``user``, ``SERVER\\user``, ``DOMAIN\\user`` or ``user@domain``), and ``publickey``
  (PubkeyAuthentication yes) with the keys of %ProgramData%\\ssh\\administrators_authorized_keys: the
  lab's accounts are all members of Administrators, and the default sshd_config reads administrators'
  keys from that file only ("Match Group administrators", Ansible's Windows SSH guide);
* at most MaxAuthTries (6) failed attempts per connection, then the connection is closed;
* ``session`` channels, at most MaxSessions (10) open at once, each running one ``exec`` request through
  the default shell (shell.py); no interactive shell, subsystem (sftp), pseudo-terminal or forwarding:
  like the lab's WinRM endpoint, a lab server runs nothing but exconf's program;
* faults as for WinRM: ``refuse_credentials`` refuses every credential, ``delay_seconds`` answers each
  request that late (authentication, channels, exec, keep-alive probes).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

import paramiko

from exconf.lab.winrm.auth import account_name, find_account, split_principal

from . import shell
from .keys import KeyLineError, parse_public_key

if TYPE_CHECKING:
    from exconf.lab.exchange.spec import Account, ServerSpec
    from exconf.lab.winrm.stats import ServerStats

log = logging.getLogger(__name__)

ENDPOINT = "ssh"  # the `lab stats` endpoint of a server's sshd
MAX_AUTH_TRIES = 6  # sshd_config MaxAuthTries default
MAX_SESSIONS = 10  # sshd_config MaxSessions default: open session channels per connection
MAX_STDIN = 64 * 1024 * 1024  # memory guard, as the WinRM listener's MAX_BODY


def user_principal(spec: "ServerSpec", username: str) -> "Account | None":
    """The account an SSH user name logs on as, in the forms Windows OpenSSH takes (Win32-OpenSSH wiki,
    "sshd_config": local accounts by name, domain accounts as domain\\user or user@domain)."""
    domain, user = split_principal(username)
    return find_account(spec, domain, user)


class LabSSHServer(paramiko.ServerInterface):
    """paramiko's callbacks for one connection to one lab server."""

    def __init__(self, spec: "ServerSpec", backend: shell.Process, stats: "ServerStats",
                 close: Callable[[], None], open_channels: Callable[[], int], active: Callable[[], bool]):
        self.spec = spec
        self.settings = spec.ssh
        assert self.settings is not None
        self.backend = backend
        self.stats = stats
        self._close = close  # closes the connection (after MaxAuthTries)
        self._open_channels = open_channels  # session channels open now on this connection
        self.transport_active = active  # the connection is still up
        self._lock = threading.Lock()
        self._failures = 0
        self._service_counted = False
        self.principal = ""  # DOMAIN\\user once authenticated
        self._pending: dict[int, tuple[paramiko.Channel, str]] = {}  # exec requests not yet answered
        self._authorized = [k for k in (self._parse(line) for line in self.settings.administrators_authorized_keys) if k]

    @staticmethod
    def _parse(line: str) -> paramiko.PKey | None:
        try:
            return parse_public_key(line)
        except KeyLineError:
            return None  # sshd skips a line it cannot read (the organisation file refuses them anyway)

    # -- counting and faults ------------------------------------------------------------------

    def _answered(self, n: int = 1) -> None:
        """A request the client waited for: counted, and answered late on a slow server."""
        self.stats.add(ENDPOINT, requests=n)
        if self.spec.faults.delay_seconds > 0:
            time.sleep(self.spec.faults.delay_seconds)

    def _auth_request(self) -> None:
        with self._lock:
            first, self._service_counted = not self._service_counted, True
        # The first authentication request follows the ssh-userauth service request (RFC 4253 §10): one more.
        self._answered(2 if first else 1)

    def _failed(self) -> int:
        self.stats.add(ENDPOINT, auth_failures=1)
        with self._lock:
            self._failures += 1
            too_many = self._failures >= MAX_AUTH_TRIES
        if too_many:
            threading.Thread(target=self._close, daemon=True).start()  # "Too many authentication failures"
        return paramiko.AUTH_FAILED

    # -- authentication ---------------------------------------------------------------------------

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password" if self.settings.password_authentication else "publickey"

    def check_auth_none(self, username: str) -> int:
        self._auth_request()
        return paramiko.AUTH_FAILED  # asks which methods there are: not a failed attempt

    def check_auth_password(self, username: str, password: str) -> int:
        self._auth_request()
        account = user_principal(self.spec, username)
        if not self.settings.password_authentication or self.spec.faults.refuse_credentials or account is None:
            return self._failed()
        if not hmac.compare_digest(account.password.encode("utf-8"), password.encode("utf-8")):
            return self._failed()
        self.principal = account_name(account)
        return paramiko.AUTH_SUCCESSFUL

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        # paramiko calls this for a key offered without a signature (the answer is PK_OK) and again once the
        # signature of a signed request checked out: each is a request the client waited for.
        self._auth_request()
        account = user_principal(self.spec, username)
        if self.spec.faults.refuse_credentials or account is None:
            return self._failed()
        if not any(key.get_name() == k.get_name() and key.asbytes() == k.asbytes() for k in self._authorized):
            return self._failed()
        self.principal = account_name(account)
        return paramiko.AUTH_SUCCESSFUL

    # -- channels ------------------------------------------------------------------------------------

    def check_channel_request(self, kind: str, chanid: int) -> int:
        self._answered()
        if kind != "session":
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        if self._open_channels() >= MAX_SESSIONS:
            return paramiko.OPEN_FAILED_RESOURCE_SHORTAGE
        self.stats.add(ENDPOINT, channels=1)
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self._answered()
        self.stats.add(ENDPOINT, commands=1)
        text = command.decode("utf-8", errors="replace")  # sshd hands the command on as UTF-16 (CreateProcessW)
        with self._lock:
            self._pending[channel.get_id()] = (channel, text)  # started once the request is answered (start_pending)
        return True

    def start_pending(self, channel: paramiko.Channel) -> None:
        """Run the command an exec request asked for, now that paramiko has answered the request: sshd says
        "success" before the process writes anything, so a command that answers at once never races the reply."""
        with self._lock:
            pending = self._pending.pop(channel.get_id(), None)
        if pending is not None:
            threading.Thread(target=self._exec, args=pending, name=f"ssh-exec-{self.spec.name}", daemon=True).start()

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self._answered()
        return False  # the lab runs exconf's program only (as its WinRM endpoint does)

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        self._answered()
        return False

    def check_channel_pty_request(self, *args: Any) -> bool:
        self._answered()
        return False

    def check_global_request(self, kind: str, msg: Any) -> bool:
        self._answered()  # keepalive@openssh.com: an unknown request is answered with a failure (RFC 4254 §4)
        return False

    # -- one command ------------------------------------------------------------------------------------

    def _exec(self, channel: paramiko.Channel, command: str) -> None:
        def read_stdin() -> bytes | None:
            stdin = bytearray()
            while True:
                piece = channel.recv(65536)
                if not piece:
                    # EOF: the client ended standard input, or the connection is gone (nothing to run then)
                    return bytes(stdin) if not channel.closed and self.transport_active() else None
                stdin += piece
                if len(stdin) > MAX_STDIN:
                    log.info("%s: standard input over %d bytes; channel closed", self.spec.name, MAX_STDIN)
                    return None

        try:
            result = shell.run(self.settings.default_shell, self.backend, self.spec, command, read_stdin, self.principal)
            if result is None:
                return
            self._answered()  # the command's answer: its output and exit status
            if result.stdout:
                channel.sendall(result.stdout)
            if result.stderr:
                channel.sendall_stderr(result.stderr)
            channel.send_exit_status(result.exit_code)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.debug("%s: exec channel ended: %s", self.spec.name, exc)
        except Exception:  # never leave a client waiting on a channel nobody serves
            log.exception("internal error running a command on %s", self.spec.name)
        finally:
            try:
                channel.close()
            except Exception:  # noqa: BLE001 - the connection may be gone
                pass
