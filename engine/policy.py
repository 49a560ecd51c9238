"""Policy files: read, validate against the JSON Schema, and turn into model objects."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import shipped
from .errors import BadInput, Location, Problem
from .loader import Document, control_problems, load_document
from .model import (
    ASK_WHEN_IT_MATTERS,
    OPERATORS,
    VERSION_PATTERN,
    Atom,
    Capability,
    Clause,
    Code,
    Conclusion,
    Count,
    DeploymentType,
    Disable,
    FactDecl,
    FieldDecl,
    FieldPattern,
    NextStep,
    Offer,
    Operand,
    Predicate,
    Rename,
    Rule,
    SourceEntry,
    Test,
    Var,
    explanation_parts,
    normal_number,
)

MAX_CLAUSES = 64


@functools.cache
def policy_schema() -> dict[str, Any]:
    text = shipped.read_text(shipped.SCHEMAS, "policy.schema.json")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(slots=True)
class PolicyFile:
    """The model objects one policy file declares."""

    name: str
    path: str
    layer: str
    description: str
    location: Location
    as_of: str | None = None
    edition: str | None = None
    deployment_types: list[DeploymentType] = field(default_factory=list)
    capabilities: list[Capability] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    facts: list[FactDecl] = field(default_factory=list)
    predicates: list[Predicate] = field(default_factory=list)
    codes: list[Code] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    disables: list[Disable] = field(default_factory=list)
    renames: list[Rename] = field(default_factory=list)
    next_steps: list[NextStep] = field(default_factory=list)
    sources: list[SourceEntry] = field(default_factory=list)


def schema_problems(doc: Document, schema: dict[str, Any]) -> list[Problem]:
    """Every JSON Schema error in doc, located at its YAML node, best first within a location."""
    import jsonschema  # imported here: only validation pays for it

    validator = jsonschema.Draft202012Validator(schema)
    problems: list[Problem] = []
    for error in validator.iter_errors(doc.value):
        best = jsonschema.exceptions.best_match([error])
        problems.append(_schema_problem(doc, best))
    return problems


def _schema_problem(doc: Document, error: Any) -> Problem:
    path = tuple(error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        if extra:
            from .errors import did_you_mean

            key = extra[0]
            return Problem(
                "unknown-key",
                f"'{key}' is not allowed here{did_you_mean(key, allowed)}",
                doc.where((*path, key), key=True),
            )
    if validator == "required":
        return Problem("missing-key", error.message.replace("is a required property", "is required"), doc.where(path))
    if validator in (
        "type",
        "pattern",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "oneOf",
        "anyOf",
        "not",
    ):
        code = "wrong-type" if validator in ("type", "oneOf", "anyOf", "not") else "bad-value"
        return Problem(code, _describe(error, path), doc.where(path))
    return Problem("schema", _describe(error, path), doc.where(path))


# What the schema's patterns ask, in words.
_PATTERNS = {
    "^[a-z][a-z0-9]*([_-][a-z0-9]+)*(?![\\s\\S])": "an id of lower-case letters and digits, words joined by '-' or '_'",
    "^\\$[a-z_][a-z0-9_]*(?![\\s\\S])": "a variable: '$' and lower-case letters, digits or '_'",
    "^[0-9]{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?(?![\\s\\S])": "a date like 2026-08 or 2026-08-21",
}


def _describe(error: Any, path: tuple[Any, ...]) -> str:
    where = ".".join(str(p) for p in path) or "document"
    message = error.message
    wanted = _PATTERNS.get(error.validator_value) if error.validator == "pattern" else None
    if wanted is not None:
        shown = repr(error.instance) if isinstance(error.instance, str) and len(error.instance) <= 80 else "this value"
        message = f"{shown} is not {wanted}"
    if len(message) > 200:
        message = message[:200] + "..."
    return f"{where}: {message}"


def read_policy_file(path: str, layer: str, display: str | None = None) -> tuple[PolicyFile | None, list[Problem]]:
    """Load and schema-check one policy file; model objects only when it is valid."""
    try:
        doc = load_document(path)
    except BadInput as exc:
        return None, exc.problems
    if display:
        doc = _renamed(doc, display)
    if doc.value is None:
        return None, [Problem("empty", "policy file is empty", Location(doc.name, 1, 1))]
    problems = schema_problems(doc, policy_schema()) + control_problems(doc, allowed="\n\t")
    if problems:
        return None, problems
    builder = _PolicyBuilder(doc, layer)
    return builder.build(), builder.problems


def _renamed(doc: Document, name: str) -> Document:
    def move(loc: Location) -> Location:
        return Location(name, loc.line, loc.column)

    return Document(
        name,
        doc.value,
        {k: move(v) for k, v in doc.marks.items()},
        {k: move(v) for k, v in doc.key_marks.items()},
    )


class _PolicyBuilder:
    def __init__(self, doc: Document, layer: str) -> None:
        self.doc = doc
        self.layer = layer
        self.problems: list[Problem] = []

    def at(self, *path: str | int) -> Location:
        return self.doc.where(path)

    def build(self) -> PolicyFile:
        v = self.doc.value
        policy = PolicyFile(v["policy"], self.doc.name, self.layer, v["description"], self.at("policy"))
        policy.as_of, policy.edition = v.get("as_of"), v.get("edition")
        for i, t in enumerate(v.get("deployment_types", [])):
            policy.deployment_types.append(
                DeploymentType(
                    t["id"],
                    t["name"],
                    t["rank"],
                    t.get("finance", False),
                    t.get("description"),
                    t["source"],
                    self.at("deployment_types", i),
                )
            )
        for i, c in enumerate(v.get("capabilities", [])):
            policy.capabilities.append(
                Capability(c["id"], c["name"], c.get("description"), c.get("source"), self.at("capabilities", i))
            )
        for i, o in enumerate(v.get("offers", [])):
            policy.offers.append(
                Offer(
                    o["type"],
                    tuple(o["capabilities"]),
                    o.get("description"),
                    o["source"],
                    o.get("assumption"),
                    self.at("offers", i),
                    _listed(o.get("supersedes")),
                )
            )
        for i, f in enumerate(v.get("facts", [])):
            policy.facts.append(self._fact(f, i))
        for i, p in enumerate(v.get("predicates", [])):
            fields = {
                name: FieldDecl(d["type"], d.get("domain"), d.get("optional", False)) for name, d in p["fields"].items()
            }
            for name in fields:
                if name in OPERATORS:
                    self.problems.append(
                        Problem(
                            "reserved-name",
                            f"'{name}' is an operator and cannot name a field",
                            self.doc.where(("predicates", i, "fields", name), key=True),
                        )
                    )
            policy.predicates.append(
                Predicate(p["id"], p["description"], fields, p.get("role"), True, self.at("predicates", i))
            )
        for i, c in enumerate(v.get("codes", [])):
            policy.codes.append(Code(c["id"], c["kind"], c["description"], self.at("codes", i), c.get("fit", False)))
        for i, d in enumerate(v.get("disables", [])):
            policy.disables.append(Disable(d["rule"], d["reason"], self.at("disables", i), self.layer))
        for i, n in enumerate(v.get("renames", [])):
            policy.renames.append(Rename(n["type"], n["name"], n["since"], n["source"], self.at("renames", i)))
        for i, n in enumerate(v.get("next_steps", [])):
            policy.next_steps.append(
                NextStep(
                    n["type"], n["step"], n["source"], self.at("next_steps", i), self.layer, n.get("caution", False)
                )
            )
        for i, n in enumerate(v.get("sources", [])):
            policy.sources.append(
                SourceEntry(
                    n["id"],
                    n["title"],
                    n.get("publisher"),
                    n.get("date"),
                    n.get("url"),
                    tuple(sorted(n.get("sections", {}).items())),
                    self.at("sources", i),
                )
            )
        for i, r in enumerate(v.get("rules", [])):
            rule = self._rule(r, i, policy.name)
            if rule is not None:
                policy.rules.append(rule)
        return policy

    def _fact(self, f: dict[str, Any], i: int) -> FactDecl:
        loc = self.at("facts", i)
        kind = f["type"]
        values = tuple(f.get("values", ()))
        if values and kind not in ("choice", "choice-list"):
            self.problems.append(Problem("bad-value", f"fact '{f['id']}': only choice facts list values", loc))
        default = f.get("default")
        if default is not None and not _default_fits(kind, values, default):
            self.problems.append(
                Problem(
                    "bad-value",
                    f"fact '{f['id']}': default {default!r} is not a valid {kind}",
                    self.at("facts", i, "default"),
                )
            )
        scope = f.get("scope", "customer")
        if kind == "capability-list" and "scope" not in f:
            scope = "entity"
        labels = f.get("labels", {})
        for value in labels:
            if value not in values:
                self.problems.append(
                    Problem(
                        "bad-value",
                        f"fact '{f['id']}': a label for '{value}', which is not one of its values",
                        self.doc.where(("facts", i, "labels", value), key=True),
                    )
                )
        return FactDecl(
            f["id"],
            kind,
            values,
            default,
            scope,
            " ".join(f["description"].split()),
            " ".join(f["question"].split()),
            f.get("source"),
            f.get("minimum"),
            f.get("maximum"),
            loc,
            f.get("overrides"),
            self.layer,
            tuple(labels.items()),
            f.get("ask", ASK_WHEN_IT_MATTERS),
        )

    def _rule(self, r: dict[str, Any], i: int, policy: str) -> Rule | None:
        base = ("rules", i)
        try:
            branches = self._conditions(r["when"], (*base, "when"))
        except _TooManyBranches:
            self.problems.append(
                Problem(
                    "too-many-branches",
                    f"rule '{r['id']}': 'any' spreads into more than {MAX_CLAUSES} cases",
                    self.at(*base, "when"),
                )
            )
            return None
        clauses = tuple(_clause(branch) for branch in branches)
        conclusions = tuple(self._conclusion(c, (*base, "then", j)) for j, c in enumerate(r["then"]))
        if explanation_parts(r["explanation"]) is None:
            self.problems.append(
                Problem(
                    "bad-explanation",
                    f"rule '{r['id']}': a '{{' or '}}' without its pair in the explanation; write {{{{ or }}}} for a"
                    " literal brace, {variable} for a value",
                    self.at(*base, "explanation"),
                )
            )
        return Rule(
            r["id"],
            r["description"].strip(),
            r.get("source"),
            r.get("assumption"),
            " ".join(r["explanation"].split()),
            clauses,
            conclusions,
            self.at(*base),
            policy,
            self.layer,
            i,
            r.get("overrides"),
            _listed(r.get("supersedes")),
        )

    def _conditions(self, items: list[Any], path: tuple[str | int, ...]) -> list[list[Any]]:
        """Spread a list of conditions (an implicit 'all') into its clauses, each a list of literals."""
        branches: list[list[Any]] = [[]]
        for j, item in enumerate(items):
            here = (*path, j)
            options = self._condition(item, here)
            branches = [b + o for b in branches for o in options]
            if len(branches) > MAX_CLAUSES:
                raise _TooManyBranches
        return branches

    def _condition(self, item: dict[str, Any], path: tuple[str | int, ...]) -> list[list[Any]]:
        if "not" in item:
            return [[("not", self._atom(item["not"], (*path, "not")))]]
        if "any" in item:
            options: list[list[Any]] = []
            for j, sub in enumerate(item["any"]):
                options.extend(self._condition(sub, (*path, "any", j)))
            return options
        if "all" in item:
            return self._conditions(item["all"], (*path, "all"))
        if "count" in item:
            atom = self._atom(item["count"], (*path, "count"))
            var = Var(item["as"][1:])
            return [[("count", Count(atom, var, self.at(*path)))]]
        return [[("pos", self._atom(item, path))]]

    def _atom(self, item: dict[str, Any], path: tuple[str | int, ...]) -> Atom:
        ((predicate, body),) = item.items()
        loc = self.doc.where((*path, predicate), key=True)
        if not isinstance(body, dict) or _is_test(body):
            body = {"value": body}
            pattern_path: tuple[str | int, ...] = (*path, predicate)
            fields: tuple[FieldPattern, ...] = (self._field("value", body["value"], pattern_path),)
        else:
            fields = tuple(self._field(name, value, (*path, predicate, name)) for name, value in body.items())
        return Atom(predicate, fields, loc)

    def _field(self, name: str, value: Any, path: tuple[str | int, ...]) -> FieldPattern:
        loc = self.doc.where(path)
        if isinstance(value, dict):
            tests: list[Test] = []
            bind: Var | None = None
            for op, operand in value.items():
                if op == "as":
                    bind = Var(operand[1:])
                elif op in ("in", "not_in"):
                    tests.append(Test(op, tuple(operand)))
                else:
                    tests.append(Test(op, _operand(operand)))
            return FieldPattern(name, bind, tuple(tests), loc)
        operand = _operand(value)
        if isinstance(operand, Var):
            return FieldPattern(name, operand, (), loc)
        return FieldPattern(name, None, (Test("eq", operand),), loc)

    def _conclusion(self, item: dict[str, Any], path: tuple[str | int, ...]) -> Conclusion:
        ((predicate, body),) = item.items()
        values = tuple((name, _operand(v)) for name, v in body.items())
        return Conclusion(predicate, values, self.doc.where((*path, predicate), key=True))


class _TooManyBranches(Exception):
    pass


def _listed(value: str | list[str] | None) -> tuple[str, ...]:
    """A key that takes one string or a list of them, as a tuple."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _is_test(body: dict[str, Any]) -> bool:
    return bool(body) and all(k in OPERATORS for k in body)


def _operand(value: Any) -> Operand:
    if isinstance(value, str) and value.startswith("$"):
        return Var(value[1:])
    assert isinstance(value, (str, int, float, bool))
    return normal_number(value)


def _clause(literals: list[tuple[str, Any]]) -> Clause:
    return Clause(
        tuple(a for kind, a in literals if kind == "pos"),
        tuple(a for kind, a in literals if kind == "not"),
        tuple(a for kind, a in literals if kind == "count"),
    )


def _default_fits(kind: str, values: tuple[str, ...], default: Any) -> bool:
    if kind == "choice":
        return isinstance(default, str) and default in values
    if kind == "boolean":
        return isinstance(default, bool)
    if kind in ("number", "integer"):
        return isinstance(default, (int, float)) and not isinstance(default, bool)
    if kind == "version":
        return isinstance(default, str) and re.match(VERSION_PATTERN, default) is not None
    if kind == "text":
        return isinstance(default, str)
    return False
