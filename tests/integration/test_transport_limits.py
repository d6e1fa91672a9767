"""The controller raises its open-file limit and knows how many sockets it may hold."""

from __future__ import annotations

import json
import subprocess
import sys

from exconf.transport.limits import RESERVED, FileLimit, bound_forks

PROGRAM = r"""
import json, resource, socket
resource.setrlimit(resource.RLIMIT_NOFILE, (200, 400))   # a low soft limit under a higher hard one
from exconf.transport.limits import raise_open_file_limit
limit = raise_open_file_limit()
socks = []
for _ in range(limit.sockets):                             # every socket it promised can be opened
    socks.append(socket.socket())
print(json.dumps({"soft": limit.soft, "hard": limit.hard, "raised": limit.raised, "sockets": limit.sockets,
                  "in_use": limit.in_use, "opened": len(socks),
                  "rlimit": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
"""


def test_the_soft_limit_is_raised_to_the_hard_one_and_every_promised_socket_opens():
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["soft"], got["hard"], got["raised"], got["rlimit"]) == (400, 400, True, 400)
    assert got["sockets"] == 400 - got["in_use"] - RESERVED
    assert got["opened"] == got["sockets"]


def test_forks_are_bounded_by_the_sockets_left():
    limit = FileLimit(soft=1024, hard=1024, in_use=60, raised=False)
    assert limit.sockets == 1024 - 60 - RESERVED
    assert bound_forks(2000, limit) == limit.sockets
    assert bound_forks(50, limit) == 50
    assert bound_forks(50, FileLimit(soft=10, hard=10, in_use=9, raised=False)) == 1
