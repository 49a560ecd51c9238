"""The reference evaluator: a plain-Python forward chainer with the same semantics as the durable-rules network.

It is the executable specification. Strata run in order; within a stratum,
every clause is matched against the store until nothing new is concluded. A
clause fires once per tuple of facts its positive atoms match.
"""

from __future__ import annotations

from collections.abc import Iterator

from .derivation import Bindings, FactStore, Firing, complete, holds_absent, match_atom
from .knowledge import CompiledClause, KnowledgeBase
from .model import Fact


def run(kb: KnowledgeBase, given: list[Fact]) -> tuple[FactStore, list[Firing]]:
    store = FactStore(given)
    fired: dict[tuple[str, tuple[Fact, ...]], Firing] = {}
    for stratum in range(1, kb.strata + 1):
        clauses = [c for c in kb.clauses if c.stratum == stratum]
        changed = True
        while changed:
            changed = False
            for clause in clauses:
                for matched, bindings in _tuples(clause, store):
                    key = (clause.name, matched)
                    if key in fired:
                        continue
                    firing = complete(kb, clause, matched, bindings, store)
                    fired[key] = firing
                    for fact in firing.conclusions:
                        if store.add(fact):
                            changed = True
    return store, list(fired.values())


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
