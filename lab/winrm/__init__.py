"""The lab's WinRM server: WS-Management / WinRS over HTTP and HTTPS, as Windows serves it.

Stock pywinrm talks to it unchanged: NTLM (pyspnego as acceptor) with MS-WSMV
message encryption over HTTP, NTLM or Basic over HTTPS, and the WinRS shell
operations Create, Command, Send, Receive, Signal and Delete.

``WinRMService(backend, servers, ca).start()`` serves every server given;
the backend runs the commands (see ``shell.Backend``).
"""

from .endpoint import HttpResponse, ServerEndpoint
from .listener import KerberosKeys, ListenError, WinRMService
from .shell import SHELL_URI, Backend, split_arguments
from .stats import STAT_KEYS, ServerStats

__all__ = [
    "Backend",
    "HttpResponse",
    "KerberosKeys",
    "ListenError",
    "SHELL_URI",
    "STAT_KEYS",
    "ServerEndpoint",
    "ServerStats",
    "WinRMService",
    "split_arguments",
]
