"""The exconf process's heap: what lives as long as the process is kept out of the cyclic collector's scans.

A Python process rescans every tracked object in each full collection. The ``exconf`` process's modules
(rich, requests, cryptography, the kinds), and a lab's organisation once it serves, live until the
process ends, and at 1,000 servers the full collections that rescanned them were about a tenth of a
plan's CPU on each side (issue 20).

What a run keeps grows with the hosts it has read (their observed objects on the controller, their open
runspace pools in the lab), and the lab's psrpcore makes every object it reads a reference cycle (an
object and its PSObject metadata; the lab's own answers are made without one, lab/powershell/objects.py),
which only the collector frees. CPython makes a full
collection once the objects moved to the oldest generation since the last one number a quarter of those
that survived it; at 1,000 servers that was every one to three seconds, and about a tenth of an apply's CPU on
each side. The process therefore makes one only every ``FULL_COLLECTION_EVERY`` collections of the
middle generation instead of every 10 (gc.set_threshold's third value).
"""

from __future__ import annotations

import gc

FULL_COLLECTION_EVERY = 100  # collections of generation 1 (CPython's default: 10)


def settle_heap() -> None:
    """Move every object alive now into the collector's permanent generation (Python's gc.freeze: "ignore
    them in all the future collections"), after a collection so that no garbage is kept with them. Only for
    what lives as long as the process: a frozen object that later becomes cyclic garbage is never freed.
    Then full collections are made less often (the module's docstring says why)."""
    gc.collect()
    gc.freeze()
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_COLLECTION_EVERY)
