"""Reading a controller-side file that must be a regular file of bounded size (a PFX, a password file).

``Path.read_bytes()`` on ``/dev/zero`` grows until the kernel kills the process, and on a FIFO
waits for a writer forever. So the file is opened without blocking (``O_NONBLOCK``: opening a
FIFO does not wait for a writer, O_NOCTTY: a terminal does not become ours), checked with
``fstat`` on that very descriptor (no race with a rename), refused unless it is a regular file
no larger than the limit, and read with a bounded read.
"""

from __future__ import annotations

import os
import stat

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


# A PFX holding a key and its chain is a few KB; one bigger than this could not be sent anyway (WinRM's
# MaxEnvelopeSizekb, 500 KB by default, bounds the Send that carries it, base64 in JSON in base64).
PFX_LIMIT = 1 << 20
SECRET_FILE_LIMIT = 64 * 1024  # a password file (a PFX's, a vault's)


class NotARegularFile(OSError):
    """The file cannot be read as a regular file within its limit; ``str()`` names it and says why."""

    def __str__(self) -> str:
        return str(self.args[0])


def read_regular(path: str | os.PathLike[str], *, limit: int, what: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes; NotARegularFile otherwise.

    ``what`` names the file in messages: ``the PFX``, ``the password file``.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise NotARegularFile(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((text for test, text in _KINDS if test(mode)), "not a regular file")
            raise NotARegularFile(f"{what} {name} is {kind}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise NotARegularFile(f"{what} {name} is larger than {_size(limit)}; exconf reads no bigger one")
        return b"".join(chunks)
    except NotARegularFile:
        raise
    except OSError as exc:
        raise NotARegularFile(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    return f"{limit // (1 << 20)} MiB" if limit % (1 << 20) == 0 else f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"
