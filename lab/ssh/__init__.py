"""The lab's SSH server: Windows OpenSSH on Edge servers, with paramiko's server side.

``SSHService(backend, servers, stats_for, state_dir).start()`` serves every server whose organisation
file gives it ``ssh``: password and administrators' public key logons, ``exec`` requests run through
the server's default shell (cmd.exe or powershell.exe) by the same backend as a WinRS command, host
keys kept with the lab's state and published in ``ssh_known_hosts``.
"""

from .keys import KNOWN_HOSTS_NAME, KeyLineError, known_hosts_name, parse_public_key
from .server import ENDPOINT
from .service import SSHService

__all__ = ["ENDPOINT", "KNOWN_HOSTS_NAME", "KeyLineError", "SSHService", "known_hosts_name", "parse_public_key"]
