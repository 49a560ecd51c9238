"""Writing a document to a file: the reports, the derivation graphs and the facts files podeploy writes.

The renderers (render.py, markdown.py, html_report.py, graph.py) return text without a final newline,
for click.echo; write_output writes a file atomically and ends a text with one newline.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

from ..errors import PodeployError


def write_output(text: str | bytes, path: str | os.PathLike[str]) -> None:
    """Write text (ending it with one newline) or bytes (as they are) to path atomically.

    The text goes to a new file in the same folder, flushed to disk, then os.replace puts it in place: a crash
    leaves either the old file whole or the new one whole, never part of one, and no temporary file behind. A
    replaced file keeps its permission bits; a new one gets the usual ones (0666 less the umask).
    """
    target = os.fspath(path)
    folder = os.path.dirname(target) or "."
    data = text if isinstance(text, bytes) else (text if text.endswith("\n") else text + "\n").encode("utf-8")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise PodeployError(f"cannot write {target}: {exc.strerror or exc}") from exc
    temp = ""
    try:
        for _ in range(100):
            temp = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 collisions of 48 random bits
            raise FileExistsError(temp)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if mode is not None:
                os.chmod(temp, mode)
            os.replace(temp, target)
            temp = ""
        finally:
            if temp:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
    except OSError as exc:
        raise PodeployError(f"cannot write {target}: {exc.strerror or exc}") from exc
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
