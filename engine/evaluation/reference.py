"""The reference evaluator: a plain-Python forward chainer with the same semantics as the durable-rules network.

It is the executable specification. Strata run in order; within a stratum,
every clause is matched against the store until nothing new is concluded. A
clause fires once per tuple of facts its positive atoms match.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model.terms import Fact
from ..policy.knowledge import CompiledClause, Derived, KnowledgeBase
from .derivation import Bindings, FactStore, Firing, complete, holds_absent, match_atom, triggers


def run(kb: KnowledgeBase, given: list[Fact], base: FactStore | None = None) -> tuple[FactStore, list[Firing]]:
    """Run the strata over the given facts, on top of base's facts when given (the vocabulary's, say)."""
    store = base.copy() if base is not None else FactStore()
    for fact in given:
        store.add(fact)
    in_use = _clauses_for(kb, {fact.predicate for fact in given})
    fired: dict[tuple[int, tuple[Fact, ...]], Firing] = {}
    for stratum in range(1, kb.strata + 1):
        clauses = [c for c in in_use if c.stratum == stratum]
        changed = True
        while changed:
            changed = False
            for clause in clauses:
                for matched, bindings in _tuples(clause, store):
                    key = (clause.position, matched)
                    if key in fired:
                        continue
                    firing = complete(kb, clause, matched, bindings, store)
                    fired[key] = firing
                    for fact in firing.conclusions:
                        if store.add(fact):
                            changed = True
    return store, list(fired.values())


# The clauses by the fact each cannot fire without (None: clauses that need none of the customer's facts).
_GROUPS: Derived[dict[str | None, list[CompiledClause]]] = Derived("reference-groups")


def _groups(kb: KnowledgeBase) -> dict[str | None, list[CompiledClause]]:
    groups: dict[str | None, list[CompiledClause]] = {}
    for clause, trigger in zip(kb.clauses, triggers(kb), strict=True):
        groups.setdefault(trigger, []).append(clause)
    return groups


def _clauses_for(kb: KnowledgeBase, present: set[str]) -> list[CompiledClause]:
    """The clauses that can fire on facts of these predicates, in knowledge-base order."""
    groups = kb.derived(_GROUPS, lambda: _groups(kb))
    chosen = [*groups.get(None, ()), *(c for p in present if p is not None and p in groups for c in groups[p])]
    return sorted(chosen, key=lambda c: c.position)


def _tuples(clause: CompiledClause, store: FactStore) -> Iterator[tuple[tuple[Fact, ...], Bindings]]:
    """Every tuple of distinct facts matching the clause's positive atoms whose negations hold.

    As in durable-rules, one fact fills at most one positive atom of a clause, and a negated
    atom looks past the facts the positive atoms matched.
    """
    atoms = clause.clause.positives

    def extend(i: int, matched: tuple[Fact, ...], bindings: Bindings) -> Iterator[tuple[tuple[Fact, ...], Bindings]]:
        if i == len(atoms):
            if holds_absent(clause.clause.negatives, store, bindings, matched):
                yield matched, bindings
            return
        for fact in list(store.candidates(atoms[i], bindings)):
            if fact in matched:
                continue
            extended = match_atom(atoms[i], fact, bindings)
            if extended is not None:
                yield from extend(i + 1, (*matched, fact), extended)

    yield from extend(0, (), {})
