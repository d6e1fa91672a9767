"""The ``exconf`` process: a Ctrl-C at any moment is one line and a documented exit code, never a traceback.

The command line (cli.py) imports rich, requests, cryptography and the kinds, which takes a few
hundred milliseconds: a Ctrl-C then is caught here. And once ``cli.main`` has returned its exit
code, Python's finalisation puts SIGINT back to its default action, so a late Ctrl-C would kill
the process with the signal (exit 130) instead of the code the run earned: the run is over, so
SIGINT is ignored from then on.

What the process holds for its whole life (the modules, and a lab's organisation once it serves) is
frozen out of the cyclic garbage collector's scans (``settle_heap``): at 1,000 servers the full
collections that rescanned it were a tenth of a plan's CPU on each side (issue 20).
"""

from __future__ import annotations

import gc
import signal
import sys

EXIT_INTERRUPTED = 1  # nothing was attempted (docs/user-guide.md, exit codes)


def settle_heap() -> None:
    """Move every object alive now into the collector's permanent generation (Python's gc.freeze: "ignore
    them in all the future collections"), after a collection so that no garbage is kept with them. Only for
    what lives as long as the process: a frozen object that later becomes cyclic garbage is never freed."""
    gc.collect()
    gc.freeze()


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
