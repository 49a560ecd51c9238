"""Where a command may write its output: one check for --output (evaluate, why), --out (batch, ask).

An output replaces a regular file whole (written beside it, then renamed) or writes in place to a
device or pipe (/dev/null, /dev/stdout); it never replaces a symbolic link, a device or a folder with
a regular file, and never any input of the same run (a facts file, a policy file, a batch input).
Each refusal is bad input (exit status 2), located at the path.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable
from typing import IO

from ..errors import BadInput, Location, Problem

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


def write_in_place(path: str, text: str | bytes) -> None:
    """Write to a device or pipe as it is (no temporary file: it cannot be renamed into place)."""
    try:
        with open(path, "wb") as handle:
            handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
    except OSError as exc:
        raise BadInput([Problem("unwritable", exc.strerror or str(exc), Location(path))]) from None


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
