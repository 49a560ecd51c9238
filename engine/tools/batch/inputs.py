"""The inputs of a batch: the facts documents that files, folders, globs and JSON-lines files name.

An input found wrong while the inputs are expanded (no such file, a pipe, an empty folder) carries
its problem and is reported without a worker. A JSON-lines input is one line, read by its offset
and length, its locations on the file's own lines.
"""

from __future__ import annotations

import glob
import json
import os
import re
import stat
from collections.abc import Iterator, Sequence
from typing import IO, Any

from ...errors import BadInput, Location, Problem
from ...records import record

JSONL_SUFFIX = ".jsonl"
FOLDER_SUFFIXES = (".yaml", ".yml", ".json", JSONL_SUFFIX)
MAX_LINE_BYTES = 4 * 1024 * 1024  # one JSON-lines document: the limit of one facts file
_LINE_IN_MESSAGE = re.compile(r"\bline (\d+)")


@record
class BatchInput:
    """One facts document of a batch: a file, or one line of a JSON-lines file."""

    label: str  # how records and messages name it: the path, or path:line for a JSON-lines document
    path: str
    line: int = 0  # 1-based line in a JSON-lines file; 0 for a whole file
    offset: int = 0
    length: int = 0
    problem: str | None = None  # found while expanding the inputs: reported without a worker

    @property
    def is_line(self) -> bool:
        return self.line > 0


def expand_inputs(inputs: Sequence[str]) -> list[BatchInput]:
    """Facts documents named by files, folders (searched, sorted), globs and JSON-lines files, in order."""
    items: list[BatchInput] = []
    for given in inputs:
        if given == "-":
            message = "batch does not read standard input; name files, folders or a .jsonl file"
            items.append(BatchInput(given, given, problem=_problem("not-a-file", message, "<stdin>")))
        elif os.path.isdir(given):
            found = _walk(given)
            if not found:
                message = f"folder holds no facts files ({', '.join('*' + s for s in FOLDER_SUFFIXES)})"
                items.append(BatchInput(given, given, problem=_problem("no-facts", message, given)))
            items.extend(_file_inputs(found))
        elif not os.path.exists(given) and glob.has_magic(given):
            matches = sorted(glob.glob(given, recursive=True))
            if not matches:
                items.append(
                    BatchInput(given, given, problem=_problem("not-found", "no file matches this pattern", given))
                )
            for match in matches:
                items.extend(_file_inputs(_walk(match) if os.path.isdir(match) else [match]))
        else:
            items.extend(_file_inputs([given]))
    return items


def _walk(folder: str) -> list[str]:
    """The facts files below a folder, sorted; batch's own JSON-lines records are not inputs."""
    found: list[str] = []
    for base, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(base, name)
            if name.endswith(FOLDER_SUFFIXES) and not (name.endswith(JSONL_SUFFIX) and _is_batch_output(path)):
                found.append(path)
    return found


def _is_batch_output(path: str) -> bool:
    """Does this JSON-lines file hold batch records (an earlier `batch --out` into the same folder)?"""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            first = handle.readline(65536)
        data = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "input" in data and data.get("status") in ("ok", "bad-input", "failed")


def _file_inputs(paths: Sequence[str]) -> Iterator[BatchInput]:
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            info = None
        if info is not None and not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            # A pipe or a device can be read once at most, and a pipe no one writes to never ends.
            message = "batch reads regular files only; this is a pipe, a device or a socket"
            yield BatchInput(path, path, problem=_problem("not-a-file", message, path))
        elif path.endswith(JSONL_SUFFIX):
            yield from json_lines(path)
        else:
            yield BatchInput(path, path)


def json_lines(path: str) -> list[BatchInput]:
    """One input per non-blank line of a JSON-lines file (its offset and length: workers read it)."""
    items: list[BatchInput] = []
    try:
        with open(path, "rb") as handle:
            offset = 0
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    body = raw.rstrip(b"\r\n")
                    items.append(BatchInput(f"{path}:{number}", path, number, offset, len(body)))
                offset += len(raw)
    except FileNotFoundError:
        return [BatchInput(path, path, problem=_problem("not-found", "no such file", path))]
    except OSError as exc:
        return [BatchInput(path, path, problem=_problem("unreadable", exc.strerror or str(exc), path))]
    if not items:
        return [BatchInput(path, path, problem=_problem("empty", "the JSON-lines file holds no facts documents", path))]
    return items


def _problem(code: str, message: str, path: str) -> str:
    return str(Problem(code, message, Location(path)))


def read_line_document(item: BatchInput, handle: IO[bytes]) -> Any:
    """The Document of one JSON-lines input, its locations on the file's own lines."""
    from ...io.loader import parse_document

    where = Location(item.path, item.line, 1)
    if item.length > MAX_LINE_BYTES:
        raise BadInput([Problem("too-large", f"line is {item.length} bytes; the limit is {MAX_LINE_BYTES}", where)])
    handle.seek(item.offset)
    raw = handle.read(item.length)
    if b"\x00" in raw:
        raise BadInput([Problem("binary-file", "line holds NUL bytes; expected a JSON object", where)])
    try:
        text = raw.decode("utf-8-sig" if item.offset == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        column = len(raw[: exc.start].decode("utf-8", "replace")) + 1
        where = Location(item.path, item.line, column)
        raise BadInput([Problem("encoding", f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", where)]) from None
    if not text.lstrip().startswith("{"):
        raise BadInput(
            [Problem("not-json-object", "a JSON-lines file holds one JSON object (a facts document) per line", where)]
        )
    shift = item.line - 1
    try:
        doc = parse_document(text, item.path)
    except BadInput as exc:
        raise BadInput([_shifted_problem(p, item.path, shift) for p in exc.problems]) from None
    doc.marks = {k: _shifted(v, item.path, shift) for k, v in doc.marks.items()}
    doc.key_marks = {k: _shifted(v, item.path, shift) for k, v in doc.key_marks.items()}
    return doc


def _shifted(location: Location, path: str, lines: int) -> Location:
    if location.file != path:
        return location
    return Location(location.file, location.line + lines, location.column)


def _shifted_problem(problem: Problem, path: str, lines: int) -> Problem:
    """A parse problem moved to the file's own lines: its location and any 'line N' its message names."""
    message = _LINE_IN_MESSAGE.sub(lambda m: f"line {int(m.group(1)) + lines}", problem.message)
    return Problem(problem.code, message, _shifted(problem.location, path, lines))
