"""What values a field's tests let through: the reasoning about literals, ranges and domains the checks share."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ...model.fact_types import fact_type
from ...model.terms import VERSION_PATTERN, Atom, Scalar, Test, Var, show_value, version_number
from ...policy.knowledge import KnowledgeBase

_Key = tuple[str, Any]  # a literal tagged by kind, so that 1, 1.0, true and "1" never collide


_Bound = tuple[float, bool]  # a number and whether the bound is strict


_EVERY = frozenset("<=>")


_RELATIONS = {
    "eq": frozenset("="),
    "ne": frozenset("<>"),
    "lt": frozenset("<"),
    "lte": frozenset("<="),
    "gt": frozenset(">"),
    "gte": frozenset(">="),
}


def _key(value: Scalar, version: bool) -> _Key:
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, str):
        if version and re.match(VERSION_PATTERN, value):
            return ("n", version_number(value))
        return ("s", value)
    return ("n", value)


def _show(test: Test) -> str:
    if isinstance(test.operand, tuple):
        return f"{test.op}: [{', '.join(show_value(v) for v in test.operand)}]"
    return f"{test.op}: {show_value(test.operand)}"


def _domain(kb: KnowledgeBase, predicate: str, name: str) -> list[_Key] | None:
    """The values a field can hold, where the vocabulary lists them."""
    pred = kb.predicates.get(predicate)
    decl = pred.fields.get(name) if pred is not None else None
    if decl is None:
        return None
    if decl.type == "boolean":
        return [("b", False), ("b", True)]
    if decl.domain == "deployment-type":
        return [("s", t) for t in kb.types]
    if decl.domain == "capability":
        return [("s", c) for c in kb.capabilities]
    if decl.domain is not None and decl.domain.startswith("fact:") and decl.domain[5:] in kb.facts:
        return [("s", v) for v in kb.facts[decl.domain[5:]].values]
    return None


def impossible(kb: KnowledgeBase, predicate: str, name: str, tests: Sequence[Test]) -> str | None:
    """The tests, shown, when no value of the field can pass them all together; else None."""
    fact = kb.facts.get(predicate)
    version = fact is not None and fact_type(fact).grounded and name == "value"  # a version, compared as a number
    relations: dict[str, frozenset[str]] = {}
    allowed: set[_Key] | None = None
    excluded: set[_Key] = set()
    lower: _Bound | None = None
    upper: _Bound | None = None
    for test in tests:
        operand = test.operand
        if isinstance(operand, Var):
            relations[operand.name] = relations.get(operand.name, _EVERY) & _RELATIONS[test.op]
        elif isinstance(operand, tuple):
            keys = {_key(v, version) for v in operand}
            if test.op == "in":
                allowed = keys if allowed is None else allowed & keys
            else:
                excluded |= keys
        elif test.op == "eq":
            allowed = {_key(operand, version)} if allowed is None else allowed & {_key(operand, version)}
        elif test.op == "ne":
            excluded.add(_key(operand, version))
        else:
            kind, number = _key(operand, version)
            if kind != "n":
                continue  # ordering a non-number is a load error
            if test.op in ("gt", "gte"):
                bound = (number, test.op == "gt")
                if lower is None or bound[0] > lower[0] or (bound[0] == lower[0] and bound[1]):
                    lower = bound
            else:
                bound = (number, test.op == "lt")
                if upper is None or bound[0] < upper[0] or (bound[0] == upper[0] and bound[1]):
                    upper = bound

    def within(key: _Key) -> bool:
        if lower is None and upper is None:
            return True
        if key[0] != "n":
            return False
        if lower is not None and (key[1] < lower[0] or (key[1] == lower[0] and lower[1])):
            return False
        return not (upper is not None and (key[1] > upper[0] or (key[1] == upper[0] and upper[1])))

    shown = ", ".join(f"{t.op}: ${t.operand.name}" if isinstance(t.operand, Var) else _show(t) for t in tests)
    if any(not rel for rel in relations.values()):
        return shown
    if allowed is not None:
        return None if any(k not in excluded and within(k) for k in allowed) else shown
    if lower is not None and upper is not None:
        if lower[0] > upper[0] or (lower[0] == upper[0] and (lower[1] or upper[1])):
            return shown
        if lower[0] == upper[0] and ("n", lower[0]) in excluded:
            return shown
    domain = _domain(kb, predicate, name)
    if domain is not None and excluded and not any(k not in excluded and within(k) for k in domain):
        return f"{shown} (its values: {', '.join(show_value(v) for _, v in domain)})"
    return None


def passes(kb: KnowledgeBase, atom: Atom, value: Scalar) -> bool:
    """Does a fact holding value pass the atom's literal tests on its value?"""
    tests = [t for fp in atom.fields if fp.field == "value" for t in fp.tests if not isinstance(t.operand, Var)]
    return impossible(kb, atom.predicate, "value", [*tests, Test("eq", value)]) is None


def pin(atom: Atom, name: str) -> tuple[str, Any] | None:
    """What a field is held to: one variable or one literal, or None when it can vary."""
    for fp in atom.fields:
        if fp.field != name:
            continue
        if fp.bind is not None:
            return ("var", fp.bind.name)
        for test in fp.tests:
            if test.op == "eq":
                operand = test.operand
                return ("var", operand.name) if isinstance(operand, Var) else ("literal", operand)
            if test.op == "in" and isinstance(test.operand, tuple) and len(set(test.operand)) == 1:
                return ("literal", test.operand[0])
    return None
