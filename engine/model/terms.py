"""The knowledge base's model: immutable objects that know where they came from."""

from __future__ import annotations

import json
import math
from dataclasses import field
from json.encoder import encode_basestring as _quote
from typing import Any

from ..errors import Location
from ..records import record

Scalar = str | int | float | bool

COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte")
MEMBERSHIP = ("in", "not_in")
OPERATORS = (*COMPARISONS, *MEMBERSHIP, "as")


@record
class Var:
    """A variable in a rule, written `$name` in YAML."""

    name: str

    def __str__(self) -> str:
        return f"${self.name}"


Operand = Scalar | Var


@record
class Test:
    """One comparison on a field: `op` against a literal, a bound variable or a list of literals."""

    op: str
    operand: Operand | tuple[Scalar, ...]


@record
class FieldPattern:
    """What a condition asks of one field of a fact."""

    field: str
    bind: Var | None  # `$x` alone, or `as: $x`
    tests: tuple[Test, ...]
    location: Location


@record
class Atom:
    """A condition on one fact or conclusion: `predicate: {field: pattern, ...}`."""

    predicate: str
    fields: tuple[FieldPattern, ...]
    location: Location

    def variables(self) -> set[str]:
        names: set[str] = set()
        for fp in self.fields:
            if fp.bind is not None:
                names.add(fp.bind.name)
            for t in fp.tests:
                if isinstance(t.operand, Var):
                    names.add(t.operand.name)
        return names


@record
class Count:
    """`count: atom, as: $n`: how many facts match atom, bound to $n."""

    atom: Atom
    var: Var
    location: Location


@record
class Clause:
    """One conjunction of a rule's `when`, after `any` has been spread into clauses.

    Positive atoms are matched in the order written; negations and counts are
    checked once they are all bound.
    """

    positives: tuple[Atom, ...]
    negatives: tuple[Atom, ...]
    counts: tuple[Count, ...]


@record
class Conclusion:
    """A fact a rule asserts: `predicate: {field: value-or-$var}`."""

    predicate: str
    values: tuple[tuple[str, Operand], ...]
    location: Location


@record
class Rule:
    id: str
    description: str
    source: str | None
    assumption: str | None
    explanation: str
    clauses: tuple[Clause, ...]
    conclusions: tuple[Conclusion, ...]
    location: Location
    policy: str
    layer: str
    order: int
    overrides: str | None = None
    supersedes: tuple[str, ...] = ()  # the earlier rules or source statements this rule corrects


@record
class DeploymentType:
    id: str
    name: str
    rank: int
    finance: bool
    description: str | None
    source: str
    location: Location


@record
class Disable:
    """A policy file switching off a rule of an earlier layer."""

    rule: str
    reason: str
    location: Location
    layer: str


@record
class Rename:
    """A later name for a deployment type, shown beside its id."""

    type: str
    name: str
    since: str
    source: str
    location: Location


@record
class SourceEntry:
    """A document rules cite, by id: its title, publisher, date and published address."""

    id: str
    title: str
    publisher: str | None
    date: str | None
    url: str | None
    sections: tuple[tuple[str, str], ...]
    location: Location


@record
class NextStep:
    """One step to take once a deployment type is chosen: where it is provisioned, what it needs."""

    type: str
    text: str
    source: str
    location: Location
    layer: str
    caution: bool = False  # shown with the traps ("Before you commit"), not as a step


@record
class Capability:
    id: str
    name: str
    description: str | None
    source: str | None
    location: Location


@record
class Offer:
    """One statement that a deployment type offers capabilities, citing its source line."""

    type: str
    capabilities: tuple[str, ...]
    description: str | None
    source: str
    assumption: str | None
    location: Location
    supersedes: tuple[str, ...] = ()


ASK_WHEN_IT_MATTERS = "when-it-matters"
ASK_ALWAYS = "always"


@record
class FactDecl:
    """A fact a facts file may hold, with the question a consultant would ask."""

    id: str
    type: str  # choice | boolean | number | integer | version | text | capability-list | choice-list
    values: tuple[str, ...]
    default: Scalar | None
    scope: str  # customer | entity
    description: str
    question: str
    source: str | None
    minimum: float | None
    maximum: float | None
    location: Location
    overrides: str | None = None  # a fact of an earlier layer this declaration replaces (same id)
    layer: str = ""
    labels: tuple[tuple[str, str], ...] = ()  # (value, how the customer reads it), for a choice fact
    # When `ask` asks it: only while an answer can change a deployment, or in every workshop.
    ask: str = ASK_WHEN_IT_MATTERS

    def label(self, value: str) -> str | None:
        return next((label for v, label in self.labels if v == value), None)

    @property
    def is_list(self) -> bool:
        return self.type.endswith("-list")


@record
class Layer:
    """One layer of the knowledge base: the built-ins, a shipped edition or a consultant's folder."""

    name: str
    as_of: str | None  # the date of the knowledge it encodes, YYYY-MM or YYYY-MM-DD; None when undated
    title: str | None  # what it encodes, for people


@record
class Superseded:
    """An earlier statement a rule corrects: a rule of an earlier layer (with its source), or a cited line."""

    rule: str | None
    source: str | None


@record
class FieldDecl:
    type: str  # string | number | boolean
    domain: str | None  # entity | deployment-type | capability | code | fact:<id>
    optional: bool = False


@record
class Predicate:
    """A kind of fact rules can match: given (from the facts file or vocabulary) or derived by rules."""

    id: str
    description: str
    fields: dict[str, FieldDecl]
    role: str | None
    derived: bool
    location: Location | None


@record
class Code:
    """A warning or note code that rules may conclude."""

    id: str
    kind: str  # warning | note
    description: str
    location: Location
    fit: bool = False  # whether Project Operations fits at all: reports show it first


@record
class Fact:
    """A ground fact: given, or concluded by a rule. Identity is its content."""

    predicate: str
    values: tuple[tuple[str, Scalar], ...]
    origin: Location | None = field(default=None, compare=False, hash=False)
    _hash: int = field(default=0, init=False, repr=False, compare=False)
    _key: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.predicate, self.values)))

    def __hash__(self) -> int:
        # Facts key every store, index and trace: hashed once, when made.
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        # String hashes differ from process to process: a fact read back is made anew.
        return (Fact, (self.predicate, self.values, self.origin))

    @property
    def key(self) -> str:
        """A text that orders facts the same way in every run (facts mix strings, numbers and booleans)."""
        if not self._key:
            object.__setattr__(self, "_key", compact_json(self.predicate, self.values))
        return self._key

    def get(self, name: str) -> Any:
        for k, v in self.values:
            if k == name:
                return v
        return None

    def as_dict(self) -> dict[str, Scalar]:
        return dict(self.values)

    def __str__(self) -> str:
        inner = ", ".join(f"{k}: {show_value(v)}" for k, v in self.values)
        return f"{self.predicate}({inner})"


def compact_json(predicate: str, values: tuple[tuple[str, Scalar], ...]) -> str:
    """json.dumps([predicate, values], separators=(",", ":"), ensure_ascii=False), character for character.

    Spelled out because json.dumps builds a new encoder on every call with these options, and
    facts are ordered by this text many times per evaluation; strings are quoted by the json
    module's own (C) quoting function.
    """
    inner = ",".join(f"[{_quote(name)},{_json_scalar(value)}]" for name, value in values)
    return f"[{_quote(predicate)},[{inner}]]"


def _json_scalar(value: Scalar) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)
    return repr(value)


def make_fact(predicate: str, values: dict[str, Scalar], origin: Location | None = None) -> Fact:
    return Fact(predicate, tuple(sorted((k, normal_number(v)) for k, v in values.items())), origin)


VERSION_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,3}){0,2}$"


def version_number(text: str) -> int:
    """'10.0.44' as a number that orders like the version: 10000044."""
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]


def version_text(number: int) -> str:
    """10000044 as '10.0.44': the inverse of version_number."""
    return f"{number // 1_000_000}.{number // 1_000 % 1_000}.{number % 1_000}"


def normal_number(value: Scalar) -> Scalar:
    """Numbers are kept to six decimals, and a whole float is an int: both engines then see one value."""
    if isinstance(value, float):
        value = round(value, 6)
        if value.is_integer():
            return int(value)
    return value


def explanation_parts(text: str) -> tuple[tuple[str, str | None], ...] | None:
    """An explanation as (literal text, placeholder or None) pairs; None when a brace has no pair.

    `{name}` is a placeholder, `{{` and `}}` a literal brace (Python's format syntax).
    """
    import string

    try:
        return tuple((literal, name) for literal, name, _, _ in string.Formatter().parse(text))
    except ValueError:
        return None


def lower_first(text: str) -> str:
    """A name mid-sentence: 'Production orders' -> 'production orders'; 'OCR receipts' keeps its capital."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def show_value(value: Any) -> str:
    """A value as policies and facts files write it: booleans as true and false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_value(value: Any) -> str:
    """A value as a consultant wrote it, for 'expected ..., got ...' messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (true/false)"
    if isinstance(value, int) and abs(value) > 10**30:
        return "a number of more than 30 digits"
    if isinstance(value, (int, float)):
        return f"{value} (a number)"
    if isinstance(value, str):
        return f"'{value[:60]}' (text)"
    if isinstance(value, list):
        return "a list"
    return "a mapping"
