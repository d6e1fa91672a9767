"""The command line every size-driven benchmark shares: numbers of servers (or hosts), --help, and a
clear error instead of a traceback for anything else, a lab that does not start included."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from exconf.lab.runtime import LabError


def parser(doc: str | None, default: tuple[int, ...], *, what: str = "servers") -> argparse.ArgumentParser:
    """A benchmark's command line: sizes (numbers of ``what``), to which a benchmark may add its own options."""
    made = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    made.add_argument("sizes", nargs="*", type=int, metavar=what.split(",")[0].upper(),
                      help=f"numbers of {what} (default: {' '.join(map(str, default))})")
    return made


def checked(made: argparse.ArgumentParser, given: list[int], default: tuple[int, ...], *, what: str = "servers",
            most: int | None = None) -> tuple[int, ...]:
    """The sizes given (each at least 1; at most ``most`` of them), or ``default``; otherwise usage and exit 2."""
    if any(n < 1 for n in given):
        made.error(f"a size is a number of {what}, at least 1")
    if most is not None and len(given) > most:
        made.error(f"at most {most} number{'' if most == 1 else 's'}")
    return tuple(given) or default


def sizes(doc: str | None, default: tuple[int, ...], *, what: str = "servers", most: int | None = None) -> tuple[int, ...]:
    """The sizes given on the command line (each at least 1; at most ``most`` of them), or ``default``."""
    made = parser(doc, default, what=what)
    return checked(made, made.parse_args().sizes, default, what=what, most=most)


@contextlib.contextmanager
def lab_errors() -> Iterator[None]:
    """A lab that does not start (its addresses taken by another lab, …) ends the benchmark with what the
    lab said, not a traceback."""
    try:
        yield
    except LabError as exc:
        sys.exit(f"{Path(sys.argv[0]).stem}: {exc}")
