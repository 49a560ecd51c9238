"""What both evaluators share: the fact store, matching semantics, firings and their canonical order.

The reference evaluator and the durable-rules network decide *which* clause
matches *which* facts; everything a firing then produces (bindings, counts,
conclusions, explanation) is computed here, once, for both.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import EngineError
from ..model.terms import Atom, Fact, FieldPattern, Scalar, Test, Var, explanation_parts, normal_number, show_value
from ..policy.knowledge import CompiledClause, Derived, KnowledgeBase
from ..records import record

Bindings = dict[str, Scalar]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


class FactStore:
    """Every fact known in one evaluation, indexed by predicate, in the order they arrived.

    A predicate's facts are indexed by value too, from the first lookup that can use it on: the
    durable-rules network matches in the engine and rarely looks facts up here.
    """

    def __init__(self, facts: Iterable[Fact] = ()) -> None:
        self.order: dict[Fact, int] = {}
        self.by_predicate: dict[str, list[Fact]] = {}
        self.by_value: dict[tuple[str, str, Any], list[Fact]] = {}
        self.indexed: set[str] = set()
        for fact in facts:
            self.add(fact)

    def add(self, fact: Fact) -> bool:
        if fact in self.order:
            return False
        self.order[fact] = len(self.order)
        self.by_predicate.setdefault(fact.predicate, []).append(fact)
        if fact.predicate in self.indexed:
            self._index(fact)
        return True

    def _index(self, fact: Fact) -> None:
        for name, value in fact.values:
            self.by_value.setdefault((fact.predicate, name, _index_key(value)), []).append(fact)

    def candidates(self, atom: Atom, bindings: Bindings) -> list[Fact]:
        """The facts that can match atom: those with the value a field must equal, when one is known."""
        if atom.predicate not in self.indexed:
            self.indexed.add(atom.predicate)
            for fact in self.by_predicate.get(atom.predicate, ()):
                self._index(fact)
        for fp in atom.fields:
            value: Any = None
            if fp.bind is not None and fp.bind.name in bindings:
                value = bindings[fp.bind.name]
            else:
                for test in fp.tests:
                    if test.op == "eq":
                        operand = test.operand
                        value = bindings.get(operand.name) if isinstance(operand, Var) else operand
                        break
            if value is not None:
                return self.by_value.get((atom.predicate, fp.field, _index_key(value)), [])
        return self.by_predicate.get(atom.predicate, [])

    def copy(self) -> FactStore:
        """A store that starts with these facts and then grows on its own."""
        other = FactStore()
        other.order = dict(self.order)
        other.by_predicate = {k: v.copy() for k, v in self.by_predicate.items()}
        other.by_value = {k: v.copy() for k, v in self.by_value.items()}
        other.indexed = set(self.indexed)
        return other

    def of(self, predicate: str) -> list[Fact]:
        return self.by_predicate.get(predicate, [])

    def __contains__(self, fact: Fact) -> bool:
        return fact in self.order

    def __len__(self) -> int:
        return len(self.order)


@record
class Firing:
    """One rule clause matched one tuple of facts and asserted its conclusions."""

    clause: CompiledClause
    matched: tuple[Fact, ...]
    counted: tuple[Fact, ...]
    bindings: tuple[tuple[str, Scalar], ...]
    conclusions: tuple[Fact, ...]
    explanation: str

    @property
    def identity(self) -> tuple[str, tuple[Fact, ...]]:
        return (self.clause.name, self.matched)


def vocabulary_store(kb: KnowledgeBase) -> FactStore:
    """The facts the vocabulary gives, indexed once per knowledge base: each evaluation starts from a copy."""
    return kb.derived(_VOCABULARY_STORE, lambda: _indexed_store(kb.vocabulary_facts))


_VOCABULARY_STORE: Derived[FactStore] = Derived("vocabulary-store")
_TRIGGERS: Derived[list[str | None]] = Derived("triggers")


def _indexed_store(facts: list[Fact]) -> FactStore:
    store = FactStore(facts)
    for predicate in store.by_predicate:  # indexed once here rather than in every evaluation
        store.indexed.add(predicate)
        for fact in store.by_predicate[predicate]:
            store._index(fact)
    return store


def triggers(kb: KnowledgeBase) -> list[str | None]:
    """For each clause (by position), a fact of the customer's it cannot fire without, or None.

    Of the facts-file predicates its positive conditions match, the one fewest clauses need: a
    clause whose trigger the customer did not give is skipped unseen, so rules about facts
    nobody gave cost nothing per evaluation.
    """
    return kb.derived(_TRIGGERS, lambda: _triggers(kb))


def _triggers(kb: KnowledgeBase) -> list[str | None]:
    given = set(kb.facts)
    needs = [{atom.predicate for atom in c.clause.positives} & given for c in kb.clauses]
    uses: dict[str, int] = {}
    for needed in needs:
        for predicate in needed:
            uses[predicate] = uses.get(predicate, 0) + 1
    return [min(needed, key=lambda p: (uses[p], p)) if needed else None for needed in needs]


def _index_key(value: Any) -> tuple[str, Any]:
    # True == 1 in Python; the index must keep them apart as matching does.
    return ("b" if isinstance(value, bool) else "s" if isinstance(value, str) else "n", value)


def _same_kind(a: Any, b: Any) -> bool:
    # Values are type-checked when policies load; this guards the engines' loose comparisons.
    return isinstance(a, bool) == isinstance(b, bool) and isinstance(a, str) == isinstance(b, str)


def passes(test: Test, value: Any, bindings: Bindings) -> bool:
    """Does value pass the test (a literal, a bound variable, or a list), comparing like with like?"""
    if test.op in ("in", "not_in"):
        assert isinstance(test.operand, tuple)
        inside = any(_same_kind(value, v) and value == v for v in test.operand)
        return inside if test.op == "in" else not inside
    operand = test.operand
    if isinstance(operand, Var):
        operand = bindings[operand.name]
    if not _same_kind(value, operand):
        return test.op == "ne"
    return bool(_ORDER[test.op](value, operand))


def match_field(fp: FieldPattern, fact: Fact, bindings: Bindings) -> bool:
    """Does the fact's field satisfy fp? Binds fp's variable into bindings when it is new."""
    value = fact.get(fp.field)
    if value is None:
        return False
    for test in fp.tests:
        if not passes(test, value, bindings):
            return False
    if fp.bind is not None:
        name = fp.bind.name
        if name in bindings:
            bound = bindings[name]
            return _same_kind(bound, value) and bound == value
        bindings[name] = value
    return True


def match_atom(atom: Atom, fact: Fact, bindings: Bindings) -> Bindings | None:
    """The bindings extended by matching atom against fact, or None."""
    if fact.predicate != atom.predicate:
        return None
    extended = dict(bindings)
    for fp in atom.fields:
        if not match_field(fp, fact, extended):
            return None
    return extended


def matching(atom: Atom, store: FactStore, bindings: Bindings) -> Iterator[Fact]:
    for fact in store.candidates(atom, bindings):
        if match_atom(atom, fact, bindings) is not None:
            yield fact


def rebind(clause: CompiledClause, matched: tuple[Fact, ...], *, strict: bool = True) -> Bindings | None:
    """Recover a firing's bindings from the facts matched by its positive atoms, checking each.

    Not strict: a mismatch means a test the engine left to us failed (None). Strict: the
    engine matched what it should not have, which is a bug worth stopping for.
    """
    bindings: Bindings = {}  # extended in place: on a mismatch it is thrown away
    for atom, fact in zip(clause.clause.positives, matched, strict=True):
        if fact.predicate == atom.predicate:
            for fp in atom.fields:
                if not match_field(fp, fact, bindings):
                    break
            else:
                continue
        if not strict:
            return None
        raise EngineError(f"rule '{clause.rule.id}' fired on {fact}, which does not match {atom.predicate}")
    return bindings


def holds_absent(negated: Iterable[Atom], store: FactStore, bindings: Bindings, matched: tuple[Fact, ...]) -> bool:
    """Is no fact, other than those the positive atoms matched, matching any of the negated atoms?"""
    for atom in negated:
        for fact in matching(atom, store, bindings):
            if fact not in matched:
                return False
    return True


def complete(
    kb: KnowledgeBase, clause: CompiledClause, matched: tuple[Fact, ...], bindings: Bindings, store: FactStore
) -> Firing:
    """Counts, conclusions and explanation of a clause that matched (negations already checked)."""
    counted: list[Fact] = []
    for count in clause.clause.counts:
        found = sorted(matching(count.atom, store, bindings), key=lambda f: f.key)
        counted.extend(found)
        bindings[count.var.name] = len(found)
    conclusions = tuple(
        Fact(
            c.predicate,
            tuple(sorted((name, normal_number(bindings[v.name] if isinstance(v, Var) else v)) for name, v in c.values)),
        )
        for c in clause.rule.conclusions
    )
    return Firing(
        clause,
        matched,
        tuple(counted),
        tuple(sorted(bindings.items())),
        conclusions,
        render_explanation(clause.rule.explanation, bindings),
    )


@functools.cache
def _template(text: str) -> tuple[tuple[str, str | None], ...]:
    return explanation_parts(text) or ((text, None),)



def render_explanation(template: str, bindings: Bindings) -> str:
    parts = []
    for literal, name in _template(template):
        parts.append(literal)
        if name is not None:
            value = bindings.get(name, f"{{{name}}}")
            parts.append(show_value(value))
    return "".join(parts)


def canonical_order(firings: Iterable[Firing], given: Iterable[Fact]) -> list[Firing]:
    """Firings in an order both evaluators agree on: stratum, derivation depth, rule order, matched facts."""
    depth: dict[Fact, int] = dict.fromkeys(given, 0)
    pending = list(firings)
    firing_depth: list[int | None] = [None] * len(pending)
    # Both engines report a firing after those that derived its facts, so this settles in two
    # passes; more only when a fact has several derivations of different depths.
    changed = True
    while changed:
        changed = False
        for i, firing in enumerate(pending):
            d = 0
            for fact in firing.matched + firing.counted if firing.counted else firing.matched:
                known = depth.get(fact)
                if known is None:
                    break
                if known > d:
                    d = known
            else:
                d += 1
                current = firing_depth[i]
                if current is None or current > d:
                    firing_depth[i] = d
                    changed = True
                for fact in firing.conclusions:
                    if depth.get(fact, d + 1) > d:
                        depth[fact] = d
                        changed = True
    for i, firing in enumerate(pending):
        if firing_depth[i] is None:
            raise EngineError(f"rule '{firing.clause.rule.id}' fired on facts that were never derived")
    order = sorted(
        range(len(pending)),
        key=lambda i: (
            pending[i].clause.stratum,
            firing_depth[i],
            pending[i].clause.position,
            [m.key for m in pending[i].matched],
        ),
    )
    return [pending[i] for i in order]
