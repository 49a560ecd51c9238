"""Where a command may write its output: one check for --output (evaluate, why), --out (batch, ask).

An output replaces a regular file whole (written beside it, then renamed) or writes in place to a
device or pipe (/dev/null, /dev/stdout); it never replaces a symbolic link, a device or a folder with
a regular file, and never any input of the same run (a facts file, a policy file, a batch input).
Each refusal is bad input (exit status 2), located at the path.

Every file podeploy writes whole (a report, a facts file, a batch's results, a cached knowledge base)
goes through atomic_file: written beside its place, flushed to disk, then renamed into it, so that
a crash, a full disk or Ctrl-C leaves either the old file whole or the new one, and nothing else.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

from ..errors import DISK_FULL, BadInput, Location, PodeployError, Problem

REGULAR = "regular"  # absent, or a regular file: written whole, atomically
IN_PLACE = "in-place"  # a character device or a pipe: opened and written as it is


def output_kind(path: str, inputs: Iterable[str] = (), *, option: str = "--output") -> str:
    """What writing path means (REGULAR or IN_PLACE), or BadInput saying why it may not be written."""

    def refuse(code: str, message: str) -> BadInput:
        return BadInput([Problem(code, message, Location(path or option))])

    if not path:
        raise refuse("bad-value", f"{option} needs a file name")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise refuse("unwritable", exc.strerror or str(exc)) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise refuse("not-a-file", f"is a symbolic link; give {option} the file it points to")
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise refuse("not-a-file", "is a directory, not a file")
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode):
            kind = IN_PLACE
        else:
            raise refuse("not-a-file", "is not a regular file, a character device or a pipe")
    else:
        kind = REGULAR
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise refuse("not-found", f"no such directory: {folder}")
    if info is not None:
        for given in inputs:
            if given in ("", "-"):
                continue
            try:
                same = os.path.samefile(path, given)
            except OSError:
                continue
            if same:
                raise refuse("would-overwrite", f"{option} names an input of this run ({given}); choose another file")
    return kind


def _device(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def write_in_place(path: str, text: str | bytes) -> None:
    """Write to a device or pipe as it is (no temporary file: it cannot be renamed into place)."""
    try:
        with open(path, "wb") as handle:
            handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
    except OSError as exc:
        raise BadInput([Problem("unwritable", exc.strerror or str(exc), Location(path))]) from None


@contextlib.contextmanager
def atomic_file(
    path: str, *, binary: bool = False, overwrite: bool = True, mode: int | None = None
) -> Iterator[IO[Any]]:
    """A file that appears at path only complete, when the block ends without an error.

    It is written to a new file beside path (a random name, created exclusively), flushed to disk, then
    renamed onto path; on any error, Ctrl-C included, the new file is removed and path left as it was.
    A replaced file keeps its permission bits; a new one gets mode, or the usual ones (0666 less the
    umask). Without overwrite an existing path is never replaced, even one created meanwhile
    (FileExistsError). Raises OSError; callers say what it means to them (see cannot_write).
    """
    folder = os.path.dirname(os.path.abspath(path))
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        handle: IO[Any] = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)  # fails if path exists: no overwrite, atomically
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links
                if os.path.lexists(path):
                    raise FileExistsError(errno.EEXIST, "File exists", path) from None
                os.replace(temp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)  # left only by an error, or by the link that kept the file at path
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def cannot_write(path: str, exc: OSError) -> PodeployError:
    """What a failed write of path tells the user: the path is taken or unwritable (bad input, located at
    it), or the disk is full (exit status 1)."""
    if isinstance(exc, FileExistsError):
        return already_exists(path)
    if exc.errno in DISK_FULL:
        return PodeployError(f"cannot write {path}: {exc.strerror or exc}")
    return BadInput([Problem("unwritable", exc.strerror or str(exc), Location(path))])


def already_exists(path: str) -> BadInput:
    """An output that is not to replace the file at path (ask --out without --force)."""
    return BadInput([Problem("exists", "already exists; pass --force to overwrite it", Location(path))])


def write_file(path: str | os.PathLike[str], data: str | bytes, *, overwrite: bool = True) -> None:
    """Write text (ending it with one newline) or bytes (as they are) to path whole (see atomic_file), or to a
    device or pipe (/dev/null, /dev/stdout) as it is: neither can be replaced by a file."""
    target = os.fspath(path)
    payload = data if isinstance(data, bytes) else (data if data.endswith("\n") else data + "\n").encode("utf-8")
    if _device(target):
        write_in_place(target, payload)
        return
    try:
        with atomic_file(target, binary=True, overwrite=overwrite) as handle:
            handle.write(payload)
    except OSError as exc:
        raise cannot_write(target, exc) from None


class StatusLine:
    """One line on a terminal, redrawn in place at most ten times a second, and cleared when done."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.drawn = 0.0
        self.shown = False

    def draw(self, text: str, *, last: bool = False) -> None:
        """Show text in place of the line (within a tenth of a second of the last draw, only the last)."""
        now = time.monotonic()
        if now - self.drawn < 0.1 and not last:
            return
        self.drawn = now
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
