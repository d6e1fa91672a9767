"""The exconf process's heap: what lives as long as the process is kept out of the cyclic collector's scans.

A Python process rescans every tracked object in each full collection. The ``exconf`` process's modules
(rich, requests, cryptography, the kinds), and a lab's organisation once it serves, live until the
process ends, and at 1,000 servers the full collections that rescanned them were about a tenth of a
plan's CPU on each side (issue 20).
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Move every object alive now into the collector's permanent generation (Python's gc.freeze: "ignore
    them in all the future collections"), after a collection so that no garbage is kept with them. Only for
    what lives as long as the process: a frozen object that later becomes cyclic garbage is never freed."""
    gc.collect()
    gc.freeze()
