"""Rules that can fire together: two that conclude a clash for one entity, and what keeps two rules apart."""

from __future__ import annotations

from typing import Any

from ...model.terms import Atom, Clause, Conclusion, Rule, Scalar, Test, Var
from ...policy.knowledge import KnowledgeBase
from .report import Finding
from .values import impossible, pin


def literal(conclusion: Conclusion, name: str) -> Scalar | None:
    for field, value in conclusion.values:
        if field == name and not isinstance(value, Var):
            return value
    return None


def _var(conclusion: Conclusion, name: str) -> str | None:
    for field, value in conclusion.values:
        if field == name and isinstance(value, Var):
            return value.name
    return None


def contradictions(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    """Two rules that can both fire for one entity and conclude two deployments, or a deployment and its exclusion."""
    deployments = {pid for pid, p in kb.predicates.items() if p.role == "deployment"}
    involved = deployments | {"excluded"}
    rules = [  # only rules that conclude a deployment or an exclusion of a literal type can clash
        r for r in rules if any(c.predicate in involved and literal(c, "type") is not None for c in r.conclusions)
    ]
    findings: list[Finding] = []
    for i, later in enumerate(rules):
        for earlier in rules[:i]:
            found = _conflict(earlier, later, deployments)
            if found is None:
                continue
            mine, theirs = found
            if exclusive(kb, earlier, theirs, later, mine):
                continue
            findings.append(
                Finding(
                    "contradiction",
                    "warning",
                    f"rule '{later.id}' concludes {_show_conclusion(mine)} and rule '{earlier.id}' "
                    f"({earlier.location}) concludes "
                    f"{_show_conclusion(theirs)}, and nothing keeps both from holding for one entity; add a "
                    "condition that tells them apart (a different value of one fact, or 'not' on the other "
                    "rule's conclusion)",
                    mine.location,
                )
            )
    return findings


def _show_conclusion(conclusion: Conclusion) -> str:
    return f"{conclusion.predicate}(type: {literal(conclusion, 'type')})"


def _conflict(earlier: Rule, later: Rule, deployments: set[str]) -> tuple[Conclusion, Conclusion] | None:
    """The later rule's conclusion, the earlier one's, and how they clash."""
    for mine in later.conclusions:
        for theirs in earlier.conclusions:
            a, b = literal(theirs, "type"), literal(mine, "type")
            if a is None or b is None:
                continue
            ea, eb = literal(theirs, "entity"), literal(mine, "entity")
            if ea is not None and eb is not None and ea != eb:
                continue
            kinds = {mine.predicate in deployments, theirs.predicate in deployments}
            if kinds == {True} and a != b:
                return mine, theirs
            if kinds == {True, False} and a == b and {mine.predicate, theirs.predicate} - deployments == {"excluded"}:
                return mine, theirs
    return None


def exclusive(kb: KnowledgeBase, a: Rule, ca: Conclusion, b: Rule, cb: Conclusion) -> bool:
    """Can no clause of a hold together with a clause of b, for the entity both conclusions are about?"""
    return all(
        _clauses_exclusive(kb, a, x, _var(ca, "entity"), b, y, _var(cb, "entity")) for x in a.clauses for y in b.clauses
    )


def _clauses_exclusive(
    kb: KnowledgeBase, a: Rule, x: Clause, ea: str | None, b: Rule, y: Clause, eb: str | None
) -> bool:
    for left in x.positives:
        for right in y.positives:
            decl = kb.facts.get(left.predicate)
            if left.predicate != right.predicate or decl is None or decl.is_list:
                continue
            if decl.scope == "entity" and not (
                ea is not None
                and eb is not None
                and pin(left, "entity") == ("var", ea)
                and pin(right, "entity") == ("var", eb)
            ):
                continue
            tests = [
                t
                for atom in (left, right)
                for fp in atom.fields
                if fp.field == "value"
                for t in fp.tests
                if not isinstance(t.operand, Var)
            ]
            if impossible(kb, left.predicate, "value", tests) is not None:
                return True
    for rule, clause, other in ((a, x, y), (b, y, x)):
        for negated in other.negatives:
            if any(_could_match(kb, negated, c) for c in rule.conclusions):
                return True  # the other rule fires only where this one's conclusion is absent
            if not negated.variables() and any(atom_form(p) == atom_form(negated) for p in clause.positives):
                return True
    return False


def _could_match(kb: KnowledgeBase, atom: Atom, conclusion: Conclusion) -> bool:
    """Could the fact a conclusion draws match the (negated) atom?"""
    if atom.predicate != conclusion.predicate:
        return False
    values = dict(conclusion.values)
    for fp in atom.fields:
        if fp.field not in values:
            return False
        value = values[fp.field]
        if isinstance(value, Var):
            continue
        tests = [t for t in fp.tests if not isinstance(t.operand, Var)]
        if impossible(kb, atom.predicate, fp.field, [*tests, Test("eq", value)]) is not None:
            return False
    return True


def atom_form(atom: Atom) -> tuple[Any, ...]:
    fields = sorted(
        ((fp.field, fp.bind, tuple(sorted(fp.tests, key=repr))) for fp in atom.fields), key=lambda item: item[0]
    )
    return (atom.predicate, tuple(fields))
