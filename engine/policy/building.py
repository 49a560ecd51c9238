"""Policy files turned into model objects: each declaration that passed the schema, built, and the names of
those left out for their problems."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location, Problem
from ..io.loader import Document
from ..model.fact_types import FACT_TYPES
from ..model.terms import (
    ASK_WHEN_IT_MATTERS,
    OPERATORS,
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


@dataclass(slots=True)
class Unbuilt:
    """Names that policy files declare in declarations left out for their problems.

    A reference to one of them is not reported again: the declaration's own problem is the one to fix.
    """

    ids: dict[str, set[str]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)  # kinds with a declaration whose name is unreadable
    everything: bool = False  # a file that could not be read at all may declare anything
    # The ids as a reference may spell them: an id refused for its capitals ('Field_Service') is still
    # the one a rule's 'field_service' means.
    keys: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, name: object) -> None:
        if isinstance(name, str):
            self.ids.setdefault(kind, set()).add(name)
            self.keys.setdefault(kind, set()).add(_key(name))
        else:
            self.unknown.add(kind)

    def merge(self, other: Unbuilt) -> None:
        for kind, names in other.ids.items():
            self.ids.setdefault(kind, set()).update(names)
        for kind, names in other.keys.items():
            self.keys.setdefault(kind, set()).update(names)
        self.unknown |= other.unknown
        self.everything = self.everything or other.everything

    def covers(self, kind: str, name: str) -> bool:
        """Might a left-out declaration be what a reference to `name` means?"""
        return self.everything or kind in self.unknown or _key(name) in self.keys.get(kind, ())


def _key(name: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


class PolicyBuilder:
    def __init__(
        self, doc: Document, layer: str, left_out: dict[str, set[int] | None], unbuilt: Unbuilt
    ) -> None:
        self.doc = doc
        self.layer = layer
        self.left_out = left_out
        self.unbuilt = unbuilt
        self.problems: list[Problem] = []

    def items(self, section: str) -> list[tuple[int, Any]]:
        """The section's items that passed the schema, with their indexes."""
        left = self.left_out.get(section, set())
        if left is None:
            return []
        return [(i, item) for i, item in enumerate(self.doc.value.get(section, [])) if i not in left]

    def top(self, key: str) -> Any:
        """A top-level text, or None where it is missing or failed the schema."""
        value = self.doc.value.get(key)
        return value if isinstance(value, str) and key not in self.left_out else None

    def at(self, *path: str | int) -> Location:
        return self.doc.where(path)

    def build(self) -> PolicyFile:
        policy = PolicyFile(
            self.top("policy") or "", self.doc.name, self.layer, self.top("description") or "", self.at("policy")
        )
        policy.as_of, policy.edition = self.top("as_of"), self.top("edition")
        for i, t in self.items("deployment_types"):
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
        for i, c in self.items("capabilities"):
            policy.capabilities.append(
                Capability(c["id"], c["name"], c.get("description"), c.get("source"), self.at("capabilities", i))
            )
        for i, o in self.items("offers"):
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
        for i, f in self.items("facts"):
            policy.facts.append(self._fact(f, i))
        for i, p in self.items("predicates"):
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
        for i, c in self.items("codes"):
            policy.codes.append(Code(c["id"], c["kind"], c["description"], self.at("codes", i), c.get("fit", False)))
        for i, d in self.items("disables"):
            policy.disables.append(Disable(d["rule"], d["reason"], self.at("disables", i), self.layer))
        for i, n in self.items("renames"):
            policy.renames.append(Rename(n["type"], n["name"], n["since"], n["source"], self.at("renames", i)))
        for i, n in self.items("next_steps"):
            policy.next_steps.append(
                NextStep(
                    n["type"], n["step"], n["source"], self.at("next_steps", i), self.layer, n.get("caution", False)
                )
            )
        for i, n in self.items("sources"):
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
        for i, r in self.items("rules"):
            rule = self._rule(r, i, policy.name)
            if rule is not None:
                policy.rules.append(rule)
        return policy

    def _fact(self, f: dict[str, Any], i: int) -> FactDecl:
        loc = self.at("facts", i)
        kind = FACT_TYPES[f["type"]]
        values = tuple(f.get("values", ()))
        if values and not kind.lists_values:
            self.problems.append(Problem("bad-value", f"fact '{f['id']}': only choice facts list values", loc))
        labels = f.get("labels", {})
        decl = FactDecl(
            f["id"],
            kind.name,
            values,
            f.get("default"),
            f.get("scope", kind.default_scope),
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
        problem = kind.default_problem(decl)
        if problem is not None:
            self.problems.append(Problem("bad-value", f"fact '{f['id']}': {problem}", self.at("facts", i, "default")))
        for value in labels:
            if value not in values:
                self.problems.append(
                    Problem(
                        "bad-value",
                        f"fact '{f['id']}': a label for '{value}', which is not one of its values",
                        self.doc.where(("facts", i, "labels", value), key=True),
                    )
                )
        return decl

    def _rule(self, r: dict[str, Any], i: int, policy: str) -> Rule | None:
        base = ("rules", i)
        try:
            branches = self._conditions(r["when"], (*base, "when"))
        except _TooManyBranches:
            self.unbuilt.add("rule", r["id"])
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
