"""Evaluating completions: each legal entity's local state on its own, then the entities together.

Each entity's local state is evaluated on its own (cached, under a placeholder name), and only its
*interface* feeds the evaluation of all entities together, where entities with the same interface are
interchangeable: the work grows with the combinations of interfaces, not of the entities' answers. Every
evaluation runs the reference evaluator on the knowledge base cut down to the cone: the semantics of
`podeploy evaluate`. The caches last as long as the analyzer, across sessions.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..evaluation.compiled import compiled
from ..facts.questions import Value
from ..model.terms import Fact, compact_json, make_fact
from ..policy.knowledge import KnowledgeBase
from .bounds import Limits, product
from .cone import Cone
from .dimensions import Dimensions

# Per entity, its deployment types (lightest first) and, when warnings count, its warnings ('!' and the
# warning's fields); then one more slot for the customer-wide warnings.
Outcome = tuple[tuple[str, ...], ...]
WARNING_MARK = "!"
ADVICE = "@advice"  # an interface fact of pooled analysis: an entity's advice for one pool


class StateEvaluator:
    """The recommendations of completions, evaluated through the cone and cached."""

    def __init__(self, kb: KnowledgeBase, cone: Cone, dims: Dimensions, limits: Limits) -> None:
        self.cone = cone
        self.dims = dims
        self.limits = limits
        self.ranks = {t.id: t.rank for t in kb.types.values()}
        self._solo: dict[tuple[Any, ...], frozenset[Fact]] = {}
        self._alone: dict[tuple[Any, ...], tuple[frozenset[Fact], Outcome, frozenset[Fact], bool]] = {}
        self._pooled = frozenset(cone.pooled)
        self._rep: dict[tuple[Any, ...], tuple[Value, ...]] = {}
        self._joint: dict[tuple[Any, ...], Outcome] = {}
        self._orders: dict[Any, str] = {}
        self._interfaces: dict[frozenset[Fact], frozenset[Fact]] = {}
        self._texts: dict[Outcome, str] = {}  # an advice as the text of an ADVICE fact (a pool's is its order)
        self._advice: dict[str, Any] = {}  # and back
        self.evaluations = 0
        # The customer's name in the evaluations: a placeholder, unless a rule names the customer (set by
        # each analysis).
        self.customer_name = "<customer>"

    def solo(
        self,
        view: frozenset[Fact],
        lkey: tuple[Value, ...],
        name: str,
        others: frozenset[frozenset[Fact]] = frozenset(),
    ) -> frozenset[Fact]:
        """The interface facts of one entity in a given local state, evaluated on its own.

        With pooled predicates, the interface is what the entity contributes to the pool and, for each
        pool the other entities can contribute (others), the entity's own advice and the customer-wide
        warnings: everything the recommendation needs of it.
        """
        if self.cone.pooled:
            return self._pooled_interface(view, lkey, name, others)
        key = (view, lkey, name, self.customer_name)
        found = self._solo.get(key)
        if found is None:
            given = sorted(view, key=lambda f: f.key)  # the vocabulary's facts are the compiled base
            if self.cone.customer_in_solo:
                given.append(make_fact("customer", {"name": self.customer_name}))
            given.extend(self.dims.local_facts(name, lkey))
            store = compiled(self.cone.solo_kb).run(given)
            self.evaluations += 1
            found = self._canonical(frozenset(f for p in self.cone.interface for f in store.of(p)))
            self._solo[key] = found
            self._rep.setdefault((view, found), lkey)
        return found

    def _canonical(self, interface: frozenset[Fact]) -> frozenset[Fact]:
        """One object per interface: the analysis keys many tables by them, and alike ones then compare at once."""
        return self._interfaces.setdefault(interface, interface)

    def alone(
        self, view: frozenset[Fact], lkey: tuple[Value, ...], name: str, pool: frozenset[Fact]
    ) -> tuple[frozenset[Fact], Outcome, frozenset[Fact], bool]:
        """One entity evaluated alone with the given pooled facts: what it pools, its advice, what the
        rules that read the pool concluded, and whether no pool could change any of it (the rules that
        read the pool cannot fire, whatever it holds)."""
        key = (view, lkey, name, self.customer_name, pool)
        found = self._alone.get(key)
        if found is None:
            given = sorted(view, key=lambda f: f.key)
            if self.cone.customer_in_solo:
                given.append(make_fact("customer", {"name": self.customer_name}))
            given.extend(self.dims.local_facts(name, lkey))
            given.extend(sorted(pool, key=lambda f: f.key))
            program = compiled(self.cone.cone_kb)
            store = program.run(given)
            self.evaluations += 1
            contributed = frozenset(f for p in self.cone.pooled for f in store.of(p))
            read = frozenset(f for p in self.cone.pool_read for f in store.of(p))
            unchanged = not pool and self.cone.pool_read_positively and program.reads_unchanged(store, self._pooled)
            found = (contributed, self.outcome_of(store.of, [name]), read, unchanged)
            self._alone[key] = found
        return found

    def pool_of(self, view: frozenset[Fact], lkey: tuple[Value, ...], name: str) -> frozenset[Fact]:
        """What one entity contributes to the pooled facts on its own."""
        return self.alone(view, lkey, name, frozenset())[0]

    def _pooled_interface(
        self, view: frozenset[Fact], lkey: tuple[Value, ...], name: str, others: frozenset[frozenset[Fact]]
    ) -> frozenset[Fact]:
        key = (view, lkey, name, self.customer_name, others)
        found = self._solo.get(key)
        if found is None:
            own, alone_advice, alone_read, unchanged = self.alone(view, lkey, name, frozenset())
            parts: set[Fact] = set(own)
            largest = frozenset().union(*others) - own if others else frozenset()
            settled = unchanged
            if largest and self.cone.pool_read_positively and not settled:
                # The rules that read the pool read it only positively: if even the largest pool makes them
                # conclude nothing new, no smaller one can, and the advice is the same for every pool.
                settled = self.alone(view, lkey, name, largest)[2] == alone_read
            for other in others or (frozenset(),):
                pool = own | other
                # Pooled facts are read only above the rules that pool them: what the entity pools itself
                # changes nothing when given, so only the others' part is given.
                advice = alone_advice if settled else self.alone(view, lkey, name, pool - own)[1]
                parts.add(
                    Fact(
                        ADVICE,
                        (("advice", self._text(advice)), ("pool", self.order(pool))),
                    )
                )
            found = self._canonical(frozenset(parts))
            self._solo[key] = found
            self._rep.setdefault((view, found), lkey)
        return found

    def evaluate_states(
        self, c: tuple[Value, ...], lkeys: Sequence[tuple[Value, ...]], names: tuple[str, ...]
    ) -> Outcome:
        """The recommendation for a customer completion and one local state per entity, evaluated together."""
        key = ("states", c, tuple(lkeys), names, self.customer_name)
        found = self._joint.get(key)
        if found is None:
            given = self.dims.customer_facts(c)
            if self.cone.reads_customer:
                given.append(make_fact("customer", {"name": self.customer_name}))
            for name, lkey in zip(names, lkeys, strict=True):
                given.extend(self.dims.local_facts(name, lkey))
            store = compiled(self.cone.cone_kb).run(given)
            self.evaluations += 1
            found = self.outcome_of(store.of, names)
            self._joint[key] = found
        return found

    def _pooled_joint(self, interfaces: tuple[frozenset[Fact], ...]) -> Outcome | None:
        """The recommendation from pooled interfaces, or None when one lacks the pool they make together."""
        pool = frozenset(f for interface in interfaces for f in interface if f.predicate != ADVICE)
        wanted = self.order(pool)
        slots: list[tuple[str, ...]] = []
        wide: tuple[str, ...] = ()
        for interface in interfaces:
            found = (f.get("advice") for f in interface if f.predicate == ADVICE and f.get("pool") == wanted)
            advice = next(found, None)
            if advice is None:
                return None
            read = self._read(str(advice))
            own, wide = read[:2] if self.cone.warning_preds else (read[0], [])
            slots.append(tuple(own))
            wide = tuple(wide)
        return (*slots, wide) if self.cone.warning_preds else tuple(slots)

    def _text(self, advice: Outcome) -> str:
        found = self._texts.get(advice)
        if found is None:
            found = self._texts[advice] = json.dumps(advice)
        return found

    def _read(self, text: str) -> Any:
        found = self._advice.get(text)
        if found is None:
            found = self._advice[text] = json.loads(text)
        return found

    def order(self, interface: Any) -> str:
        """A stable sort key for an interface (or a pair of them)."""
        found = self._orders.get(interface)
        if found is None:
            if isinstance(interface, frozenset):
                found = json.dumps(sorted(f.key for f in interface))
            else:
                found = json.dumps([self.order(part) for part in interface])
            self._orders[interface] = found
        return found

    def joint(self, c: tuple[Value, ...], interfaces: tuple[frozenset[Fact], ...], names: tuple[str, ...]) -> Outcome:
        """The recommendation for a customer completion and one interface per entity.

        Unless a rule names entities, they are interchangeable: the entities are evaluated sorted by interface
        and the recommendation is put back in their order, so each multiset of interfaces is evaluated once.
        """
        if not self.cone.names_matter and len(interfaces) > 1:
            order = sorted(range(len(interfaces)), key=lambda i: self.order(interfaces[i]))
            if order != list(range(len(interfaces))):
                sorted_outcome = self._joint_once(c, tuple(interfaces[i] for i in order), names)
                out: list[tuple[str, ...]] = [()] * len(order)
                for position, i in enumerate(order):
                    out[i] = sorted_outcome[position]
                return (*out, *sorted_outcome[len(order) :])
        return self._joint_once(c, interfaces, names)

    def _joint_once(
        self, c: tuple[Value, ...], interfaces: tuple[frozenset[Fact], ...], names: tuple[str, ...]
    ) -> Outcome:
        key = (c, interfaces, names, self.customer_name)
        found = self._joint.get(key)
        if found is None and self.cone.pooled:
            found = self._pooled_joint(interfaces)
            if found is not None:
                self._joint[key] = found
        if found is None:
            view = self.dims.view(c)
            given = self.dims.customer_facts(c)
            if self.cone.reads_customer:
                given.append(make_fact("customer", {"name": self.customer_name}))
            for name, interface in zip(names, interfaces, strict=True):
                given.extend(self.dims.local_facts(name, self._rep[(view, interface)]))
            store = compiled(self.cone.cone_kb).run(given)
            self.evaluations += 1
            found = self.outcome_of(store.of, names)
            self._joint[key] = found
        return found

    def lightest_first(self, types: Iterable[str]) -> list[str]:
        """Deployment types by rank, lightest first (a type no policy declares ranks first)."""
        return sorted(types, key=lambda t: (self.ranks.get(t, 0), t))

    def shifted(self, outcome: Outcome, standin: Outcome, given: Outcome) -> Outcome:
        """An outcome moved from stand-in answers to the answers given: in each slot, what the stand-ins alone
        concluded (standin, beside given, for one completion) is dropped and what the answers alone conclude
        is added; both are the same in every completion."""
        slots = []
        for slot, s, g in zip(outcome, standin, given, strict=True):
            items = (set(slot) - (set(s) - set(g))) | (set(g) - set(s))
            types = self.lightest_first(t for t in items if not t.startswith(WARNING_MARK))
            slots.append(tuple(types + sorted(t for t in items if t.startswith(WARNING_MARK))))
        return tuple(slots)

    def outcome_of(self, facts_of: Any, names: Sequence[str]) -> Outcome:
        chosen: dict[str, set[str]] = {n: set() for n in names}
        for p in self.cone.outcome_preds:
            for f in facts_of(p):
                entity = f.get("entity")
                if entity in chosen:
                    chosen[entity].add(str(f.get("type")))
        per_entity = [self.lightest_first(chosen[n]) for n in names]
        if not self.cone.warning_preds:
            return tuple(tuple(types) for types in per_entity)
        warned: dict[str, set[str]] = {n: set() for n in names}
        wide: set[str] = set()
        for p in self.cone.warning_preds:
            for f in facts_of(p):
                entity = f.get("entity")
                text = WARNING_MARK + compact_json(p, tuple((k, v) for k, v in f.values if k != "entity"))
                warned.get(entity, wide).add(text)
        slots = [tuple(types + sorted(warned[n])) for types, n in zip(per_entity, names, strict=True)]
        return (*slots, tuple(sorted(wide)))

    def customer_completions(
        self, answers: Mapping[int, Value], rng: random.Random, limits: Limits
    ) -> tuple[list[tuple[tuple[Value, ...], int]], bool]:
        choices = [[(answers[i], 1)] if i in answers else list(dim.reps) for i, dim in enumerate(self.dims.customer)]
        return product(choices, limits.customer_completions, rng, limits.samples)

    def local_states(
        self,
        answers: Mapping[int, Value],
        counts: Mapping[int, tuple[int, int]],
        limit: int,
        rng: random.Random,
        samples: int | None = None,
    ) -> tuple[list[tuple[tuple[Value, ...], int]], bool]:
        """An entity's local states consistent with its answers: scalar values and class counts, weighted."""
        choices: list[list[tuple[Value, int]]] = []
        for i, dim in enumerate(self.dims.local):
            if dim.is_class:
                yes, open_ = counts.get(i, (0, len(dim.members)))
                choices.append([(yes + j, self.class_weight(open_, j)) for j in range(open_ + 1)])
            elif i in answers:
                choices.append([(answers[i], 1)])
            else:
                choices.append(list(dim.reps))
        return product(choices, limit, rng, self.limits.samples if samples is None else samples)

    def class_weight(self, open_: int, j: int) -> int:
        """How many ways (weighted by the prior odds of a yes) j of open_ interchangeable items are needed."""
        yes, no = self.limits.item_odds
        return int(math.comb(open_, j) * pow(yes, j) * pow(no, open_ - j))
