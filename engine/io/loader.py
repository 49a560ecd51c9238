"""Safe, bounded reading of YAML and JSON documents that remembers where each value came from.

PyYAML composes the node graph; the values are built here, so that only the
plain YAML types are accepted, duplicate keys are caught, alias expansion and
nesting are bounded, and every value and key keeps its line and column.
"""

from __future__ import annotations

import datetime
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import CONTROL, BadInput, Location, Problem, bad, visible

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

Path = tuple[str | int, ...]

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(slots=True)
class Document:
    """A parsed file: its plain value and the location of every value and key in it."""

    name: str
    value: Any
    marks: dict[Path, Location] = field(default_factory=dict)
    key_marks: dict[Path, Location] = field(default_factory=dict)

    def where(self, path: Path, *, key: bool = False) -> Location:
        """The location of the value (or of its key) at path, or of its nearest ancestor."""
        table = self.key_marks if key else self.marks
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.marks:
                return self.marks[probe]
            probe = probe[:-1]
        return self.marks.get((), Location(self.name, 1, 1))


def control_problems(doc: Document, *, allowed: str = "") -> list[Problem]:
    """A problem for every text in the document that holds a control character (other than those allowed).

    Names and texts from input files reach terminals, reports and spreadsheets: an escape sequence in
    a customer's name could retitle a window, a newline forge a table row.
    """
    found: list[Problem] = []

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        if isinstance(value, str):
            for ch in CONTROL.findall(value):
                if ch not in allowed:
                    found.append(
                        Problem(
                            "control-character",
                            f"text holds a control character ({visible(ch)}); remove it",
                            doc.where(path),
                        )
                    )
                    return
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*path, i))

    walk(doc.value, ())
    return found


def read_text(path: str, *, stdin_name: str = "<stdin>") -> tuple[str, str]:
    """Read a UTF-8 text file (or standard input for '-'), refusing what is not one."""
    if path == "-":
        name = stdin_name
        raw = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    else:
        name = path
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise bad("not-found", "no such file", Location(name)) from None
        except OSError as exc:
            raise bad("unreadable", exc.strerror or str(exc), Location(name)) from None
        if stat.S_ISDIR(info.st_mode):
            raise bad("not-a-file", "is a directory, not a file", Location(name))
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)):
            raise bad("not-a-file", "is not a regular file, a pipe or a device", Location(name))
        if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
            raise bad("too-large", f"file is {info.st_size} bytes; the limit is {MAX_FILE_BYTES}", Location(name))
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise bad("unreadable", exc.strerror or str(exc), Location(name)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise bad("too-large", f"input is over the limit of {MAX_FILE_BYTES} bytes", Location(name))
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise bad("encoding", "file is UTF-32; save it as UTF-8", Location(name, 1, 1))
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise bad("encoding", "file is UTF-16; save it as UTF-8", Location(name, 1, 1))
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise bad("binary-file", "file holds NUL bytes; expected YAML or JSON text", Location(name, line, 1))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        raise bad("encoding", f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", Location(name, line, column)) from None
    return name, text


def load_document(path: str) -> Document:
    """Read and parse one YAML or JSON file into a located Document."""
    name, text = read_text(path)
    return parse_document(text, name)


_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)


def _join_surrogates(text: str) -> str:
    """JSON writes characters outside the BMP as two escapes; YAML wants one (for JSON documents)."""
    if "\\u" not in text:
        return text

    def joined(match: re.Match[str]) -> str:
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"

    return _SURROGATE_PAIR.sub(joined, text)


MAX_PARSER_DEPTH = 1000  # PyYAML's C parser recurses per level and overflows its stack near 30,000


_LEAD = re.compile(r"(?:-[- \t]*)?")  # a line's opening dashes and blanks, where its block sequences are


def _dashes(row: str) -> int:
    """How many block sequences a line (its indentation stripped) opens: "- - - a" opens three.

    A dash opens one when a blank or the end of the line follows it. Counted on slices of the line's
    whole opening, not by a regular expression's group repeated per dash, which keeps a saved state
    for each (a line of a million dashes took 25 times as long as one of a hundred thousand).
    """
    lead = _LEAD.match(row).group()  # type: ignore[union-attr]  # it always matches
    cut = lead.find("--")  # the first dash not followed by a blank: "- --x" opens one
    if cut >= 0:
        lead = lead[:cut]
    elif lead.endswith("-") and len(lead) < len(row):  # "- -x": the last dash belongs to the text
        lead = lead[:-1]
    return lead.count("-")


def _flow_too_deep(text: str, name: str) -> None:
    """Refuse nesting the C parser cannot survive, before it sees it: brackets, and block levels per line.

    The builder refuses anything deeper than MAX_DEPTH afterwards; this only has to come first.
    """
    for number, row in enumerate(text.splitlines(), 1):
        stripped = row.lstrip(" ")
        indent = len(row) - len(stripped)
        if indent // 2 + _dashes(stripped) > MAX_PARSER_DEPTH:
            raise bad("too-deep", f"nested more than {MAX_DEPTH} levels", Location(name, number, 1))
    if text.count("[") + text.count("{") <= MAX_PARSER_DEPTH:
        return
    depth = 0
    quote = ""
    line, column = 1, 0
    first_too_deep = Location(name, 1, 1)
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            if depth == MAX_DEPTH + 1:
                first_too_deep = Location(name, line, column)
            if depth > MAX_PARSER_DEPTH:
                raise bad("too-deep", f"nested more than {MAX_DEPTH} levels", first_too_deep)
        elif char in "]}":
            depth = max(depth - 1, 0)


# Characters JSON reads raw in a string as themselves, and YAML's reader refuses (DEL, C1 controls,
# non-characters) or reads as a line break (NEL, LINE and PARAGRAPH SEPARATOR).
_JSON_ONLY = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")
# A JSON string, or one left open at the end of its line (group 1 unset). Matching the open one too
# lets the search go on after it: a search for closed strings alone starts again at every escaped
# quote inside it, and a line of `"\"\"\"...` took time quadratic in its length. Possessive (`*+`):
# giving characters back never finds a closing quote, and keeping no state to give them back is faster.
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*+(")?')


def _escape_json_only(text: str) -> str:
    """In a JSON document, write what YAML would refuse inside a string as the escape JSON means by it.

    JSON takes a raw DEL or C1 control in a string as that character, YAML's reader refuses the
    whole file (or folds a NEL into a space): as an escape, the character reaches the checks that
    refuse it, located, as they refuse `\\u007f`. Only inside strings, where the two languages agree
    on what an escape is.
    """
    if not _JSON_ONLY.search(text):
        return text

    def escaped(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group()  # not a string JSON reads: left for the parser to refuse, as written
        return _JSON_ONLY.sub(lambda c: f"\\u{ord(c.group()):04x}", match.group())

    return _JSON_STRING.sub(escaped, text)


def parse_document(text: str, name: str) -> Document:
    """Parse YAML (JSON is a subset) from text, bounded and located."""
    _flow_too_deep(text, name)
    if text.lstrip().startswith(("{", "[")):  # a JSON document: JSON's reading of strings, not YAML's
        text = _join_surrogates(_escape_json_only(text))
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        if "single document" not in str(exc):
            raise _yaml_problem(exc, name, "yaml-syntax") from None
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 1
        raise bad(
            "multiple-documents", "a file holds one YAML document; a second one starts here", Location(name, line, 1)
        ) from None
    except yaml.YAMLError as exc:
        raise _yaml_problem(exc, name, "yaml-syntax") from None
    finally:
        loader.dispose()
    doc = Document(name, None)
    if node is None:
        doc.marks[()] = Location(name, 1, 1)
        return doc
    builder = _Builder(doc)
    try:
        doc.value = builder.build(node, (), 0)
    finally:
        # The shared constructor remembers every node it built; a long batch must not keep them all.
        _SAFE.constructed_objects.clear()
    return doc


def _yaml_problem(exc: yaml.YAMLError, name: str, code: str) -> BadInput:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"{context}, {problem}" if context and code == "yaml-syntax" else str(problem)
    opened = getattr(exc, "context_mark", None)
    if opened is not None and mark is not None and context and context.startswith("while parsing a flow"):
        # Often an unclosed bracket: say where it opened as well as where the parser gave up.
        message = f"{message} (the bracket opened at line {opened.line + 1}, column {opened.column + 1})"
    if mark is None:
        return bad(code, message, Location(name, 1, 1))
    return bad(code, message, Location(name, mark.line + 1, mark.column + 1))


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.visited: set[int] = set()  # collection nodes built so far: one met again is an alias
        self.aliased = False

    def _loc(self, node: yaml.Node) -> Location:
        return Location(self.doc.name, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            message = (
                f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)"
                if self.aliased
                else f"more than {MAX_NODES} values in one file"
            )
            raise bad("too-large", message, self._loc(node))
        if not isinstance(node, yaml.ScalarNode):
            if id(node) in self.visited:
                self.aliased = True
            self.visited.add(id(node))
        if depth > MAX_DEPTH:
            raise bad("too-deep", f"nested more than {MAX_DEPTH} levels", self._loc(node))
        self.doc.marks.setdefault(path, self._loc(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise self._tag_error(node)
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                raise self._tag_error(node)
            return self._mapping(node, path, depth)
        raise self._tag_error(node)  # pragma: no cover - PyYAML has no other node kinds

    def _tag_error(self, node: yaml.Node) -> BadInput:
        return bad("yaml-tag", f"tag '{node.tag}' is not allowed; use plain YAML values", self._loc(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag not in _SCALAR_TAGS:
            raise self._tag_error(node)
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # a date stays the text the author wrote
        try:
            constructed = _SAFE.construct_object(node, deep=True)
        except Exception:  # PyYAML's constructors raise KeyError, IndexError... on malformed tagged values
            raise bad(
                "yaml-syntax", f"'{node.value[:60]}' is not a valid {node.tag.rsplit(':', 1)[-1]}", self._loc(node)
            ) from None
        if isinstance(constructed, (datetime.date, datetime.datetime)):
            return node.value
        if isinstance(constructed, float) and constructed != constructed:
            raise bad("wrong-type", "NaN is not a usable value", self._loc(node))
        if isinstance(constructed, int) and not isinstance(constructed, bool) and abs(constructed) > 10**18:
            raise bad("bad-value", "a number of more than 18 digits; no fact needs one", self._loc(node))
        return constructed

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise bad("yaml-merge", "merge keys ('<<') are not supported; write the keys out", self._loc(key_node))
            if not isinstance(key_node, yaml.ScalarNode):
                raise bad("wrong-type", "a key must be a plain string", self._loc(key_node))
            key = self._scalar(key_node)
            if not isinstance(key, str):
                key = key_node.value if isinstance(key, (int, float, bool)) or key is None else str(key)
            if key in result:
                first = self.doc.key_marks.get((*path, key))
                where = f" (first at line {first.line})" if first else ""
                raise bad("duplicate-key", f"key '{key}' appears twice{where}", self._loc(key_node))
            self.doc.key_marks[(*path, key)] = self._loc(key_node)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result


class _ScalarConstructor(yaml.constructor.SafeConstructor):
    """Constructs plain scalars only (never collections), so it cannot recurse or expand aliases."""


_SAFE = _ScalarConstructor()


def problems_sorted(problems: list[Problem]) -> list[Problem]:
    """Problems in file, line, column order, without repeats."""
    seen: set[tuple[str, str, Location]] = set()
    unique: list[Problem] = []
    for p in sorted(problems, key=lambda p: (p.location, p.code, p.message)):
        key = (p.code, p.message, p.location)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique
