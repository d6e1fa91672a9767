"""The ``exconf`` process: a Ctrl-C at any moment is one line and a documented exit code, never a traceback.

The command line (cli.py) imports rich, requests, cryptography and the kinds, which takes a few
hundred milliseconds: a Ctrl-C then is caught here. And once ``cli.main`` has returned its exit
code, Python's finalisation puts SIGINT back to its default action, so a late Ctrl-C would kill
the process with the signal (exit 130) instead of the code the run earned: the run is over, so
SIGINT is ignored from then on.

Once the modules are imported they are frozen out of the cyclic collector's scans (heap.py).
"""

from __future__ import annotations

import signal
import sys

from .heap import settle_heap

EXIT_INTERRUPTED = 1  # nothing was attempted (docs/user-guide.md, exit codes)


def main() -> int:
    try:
        from .cli import main as cli_main
        settle_heap()  # the modules just imported
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return EXIT_INTERRUPTED
    try:
        return cli_main()
    except KeyboardInterrupt:  # only in the instant between cli.main's own handling and its return
        sys.stderr.write("Interrupted.\n")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
