"""Exit codes: one table for every command, so a script can tell a result from a mistake.

A command's result (no changes, changes, drift, a host failed, a host unreachable) has its
code; an error is 1; a command line exconf could not understand (an unknown option or
command, a value of the wrong form, a missing argument) is 64, sysexits.h's EX_USAGE, which
no command uses for a result. docs/user-guide.md prints this table; tests/unit test that
the two agree and that every command keeps to it.
"""

from __future__ import annotations

OK = 0  # success: nothing to change, no drift, every host converged
ERROR = 1  # an error: bad inventory, a host not read, a refused or stale plan, nothing confirmed, interrupted before any change
CHANGES = 2  # plan --detailed-exitcode: there are changes; drift: something drifted
FAILED = 2  # apply: a host failed (a change failed, or could not be verified)
UNREACHABLE = 4  # apply: a host could not be reached, or a result is unknown (4 | 2 = 6 when both)
USAGE = 64  # the command line could not be understood; nothing was read or changed

# (code, commands, meaning): docs/user-guide.md's table, row by row.
TABLE: tuple[tuple[int, str, str], ...] = (
    (0, "every command", "success: nothing to change (plan), no drift (drift), every host converged (apply)"),
    (1, "every command", "an error: a bad inventory, a host that could not be read or planned, a refused or stale plan, the lock held, no confirmation, interrupted before any change"),
    (2, "plan --detailed-exitcode", "there are changes to make"),
    (2, "drift", "something drifted"),
    (2, "apply", "a host failed (a change failed or could not be verified)"),
    (4, "apply", "a host could not be reached, or a change's result is unknown (its answer never came back)"),
    (6, "apply", "both: a host failed and a host could not be reached"),
    (USAGE, "every command", "the command line could not be understood (an unknown option or command, a value of the wrong form, a missing argument); nothing was read or changed"),
)
