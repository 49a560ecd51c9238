"""A compiled form of the reference evaluator for search: the same conclusions, no explanations, no trace.

The questionnaire, the open questions and what-if evaluate one knowledge base thousands of times on
facts that differ in one answer. This evaluator has the reference evaluator's semantics (the
differential tests compare the facts both derive) and skips what only a shown result needs:
firings, bindings, counted facts and explanations. Each clause is compiled once into its join:
positive conditions matched in the order written through value indexes, negations and counts
checked once they are bound. Within a stratum a clause runs again only when one of its positive
conditions' predicates gained facts since it last ran; the vocabulary's facts are indexed once.

The clauses of a stratum fall into independent groups (no group reads or concludes what another
concludes). What a group concludes depends only on the facts of the predicates it reads or concludes
when it starts, so it is remembered by them: an analysis that changes one answer re-runs only the
groups that read it. A group whose every clause keeps to one legal entity (its conditions on an
entity's facts all name the same entity, and so do its conclusions) concludes for each entity from
that entity's facts and the customer-wide ones alone: it is remembered per entity, so that a change
to one legal entity re-runs it for that entity only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..model.terms import Atom, Fact, Scalar, Var, normal_number
from ..policy.knowledge import Derived, KnowledgeBase
from .derivation import passes, triggers
from .limits import Work, too_much_work, work_budget
from .stores import EMPTY, Index, Known, Store

Bindings = dict[str, Scalar]

__all__ = ["Compiled", "Store", "compiled", "entity_fields"]


def _same(a: Any, b: Any) -> bool:
    return a == b and a.__class__ is b.__class__


# A compiled condition: (predicate, index field chooser, field checks).
_Check = tuple[str, tuple[Any, ...], Var | None]


class _Atom:
    """One condition, compiled: which index to look in and what each field must satisfy."""

    __slots__ = ("checks", "predicate", "probes")

    def __init__(self, atom: Atom) -> None:
        self.predicate = atom.predicate
        self.checks: list[tuple[str, tuple[Any, ...], str | None]] = []
        # Fields whose value is known before matching (a literal eq, or an already bound variable).
        self.probes: list[tuple[str, Scalar | None, str | None]] = []
        for fp in atom.fields:
            bind = fp.bind.name if fp.bind is not None else None
            self.checks.append((fp.field, fp.tests, bind))
            for test in fp.tests:
                if test.op == "eq":
                    if isinstance(test.operand, Var):
                        self.probes.append((fp.field, None, test.operand.name))
                    else:
                        self.probes.append((fp.field, test.operand, None))  # type: ignore[arg-type]
            if bind is not None:
                self.probes.append((fp.field, None, bind))

    def keys(self, bindings: Bindings) -> list[tuple[str, Any]]:
        """The values some fields must have, known before matching."""
        out = []
        for field, literal, name in self.probes:
            if name is None:
                out.append((field, literal))
            elif name in bindings:
                out.append((field, bindings[name]))
        return out

    def match(self, values: dict[str, Scalar], bindings: Bindings) -> Bindings | None:
        """bindings extended by this fact's values, or None (bindings itself is left as it was)."""
        extended: Bindings | None = None
        for field, tests, bind in self.checks:
            value = values.get(field)
            if value is None:
                return None
            env = bindings if extended is None else extended
            for test in tests:
                if not passes(test, value, env):
                    return None
            if bind is not None:
                if bind in env:
                    if not _same(env[bind], value):
                        return None
                else:
                    if extended is None:
                        extended = dict(bindings)
                    extended[bind] = value
        return bindings if extended is None else extended

    def matching(self, store: Store, bindings: Bindings) -> Iterator[tuple[Fact, Bindings]]:
        for fact in store.lookup(self.predicate, self.keys(bindings)):
            got = self.match(store.values_of(fact), bindings)
            if got is not None:
                yield fact, got


class _Clause:
    """One clause of one rule, compiled."""

    __slots__ = ("conclusions", "counts", "negatives", "positives", "reads", "rule", "trigger")

    def __init__(self, clause: Any, trigger: str | None) -> None:
        self.rule = clause.rule
        self.positives = [_Atom(a) for a in clause.clause.positives]
        self.negatives = [_Atom(a) for a in clause.clause.negatives]
        self.counts = [(_Atom(c.atom), c.var.name) for c in clause.clause.counts]
        self.reads = {a.predicate for a in clause.clause.positives}
        self.trigger = trigger
        self.conclusions: list[tuple[str, list[tuple[str, Scalar | None, str | None]]]] = []
        for c in clause.rule.conclusions:
            fields = sorted(c.values, key=lambda item: item[0])
            self.conclusions.append(
                (
                    c.predicate,
                    [(name, None, v.name) if isinstance(v, Var) else (name, v, None) for name, v in fields],
                )
            )

    def run(self, store: Store, add: Callable[[Fact], bool], work: Work) -> bool:
        """Match the clause over the store and add what it concludes; whether anything was new."""
        new = False
        for _, bindings in self._tuples(store, 0, (), {}, work):
            for count, name in self.counts:
                bindings = {**bindings, name: sum(1 for _ in count.matching(store, bindings))}
            for predicate, fields in self.conclusions:
                values = tuple(
                    (field, normal_number(bindings[var] if var is not None else literal))  # type: ignore[arg-type]
                    for field, literal, var in fields
                )
                if add(Fact(predicate, values)):
                    new = True
        return new

    def run_bracket(self, store: Store, other: Store, lower: bool, add: Callable[[Fact], bool], work: Work) -> None:
        """One side of a bracket (see Compiled.brackets): positive conditions matched in store, negations
        and counts read in the other side too. The lower side concludes only on a count both sides agree
        on; the upper side concludes once for every count between them."""
        for _, bindings in self._tuples(store, 0, (), {}, work, other):
            options = [bindings]
            for count, name in self.counts:
                spread: list[Bindings] = []
                for b in options:
                    here = sum(1 for _ in count.matching(store, b))
                    there = sum(1 for _ in count.matching(other, b))
                    if lower:
                        if here == there:
                            spread.append({**b, name: here})
                    else:
                        spread.extend({**b, name: n} for n in range(min(here, there), max(here, there) + 1))
                work.left -= len(spread)
                if work.left < 0:
                    raise too_much_work(self.rule, len(self.positives), work.budget)
                options = spread
            for b in options:
                for predicate, fields in self.conclusions:
                    values = tuple(
                        (field, normal_number(b[var] if var is not None else literal))  # type: ignore[arg-type]
                        for field, literal, var in fields
                    )
                    add(Fact(predicate, values))

    def could_fire(self, store: Store, skipped: frozenset[str]) -> bool:
        """Whether the clause's positive conditions, but for those on skipped predicates, match in store
        (negations and counts not checked): if not, no facts of the skipped predicates can make it fire."""
        atoms = [a for a in self.positives if a.predicate not in skipped]

        def search(i: int, bindings: Bindings) -> bool:
            if i == len(atoms):
                return True
            return any(search(i + 1, extended) for _, extended in atoms[i].matching(store, bindings))

        return search(0, {})

    def _tuples(
        self,
        store: Store,
        i: int,
        matched: tuple[Fact, ...],
        bindings: Bindings,
        work: Work,
        negated_in: Store | None = None,
    ) -> Iterator[tuple[tuple[Fact, ...], Bindings]]:
        if i == len(self.positives):
            for negative in self.negatives:
                for fact, _ in negative.matching(store if negated_in is None else negated_in, bindings):
                    if fact not in matched:
                        return
            yield matched, bindings
            return
        found = list(self.positives[i].matching(store, bindings))
        work.left -= len(found)
        if work.left < 0:
            raise too_much_work(self.rule, len(self.positives), work.budget)
        for fact, extended in found:
            if fact in matched:
                continue
            yield from self._tuples(store, i + 1, (*matched, fact), extended, work, negated_in)


class _Group:
    """Clauses of one stratum that read or conclude one another's predicates, run to their fixpoint together."""

    __slots__ = ("clauses", "common", "inputs", "keyed", "triggers")

    def __init__(self, clauses: list[_Clause]) -> None:
        self.clauses = clauses
        # Set by Compiled when the group keeps to one legal entity: its inputs that hold an entity's facts
        # (with the field naming the entity), and those that are customer-wide.
        self.keyed: tuple[tuple[str, str], ...] | None = None
        self.common: tuple[str, ...] = ()
        self.triggers = tuple(sorted({c.trigger for c in clauses if c.trigger is not None}))
        made = {p for c in clauses for p, _ in c.conclusions}
        read = {p for c in clauses for p in c.reads}
        read.update(a.predicate for c in clauses for a in c.negatives)
        read.update(a.predicate for c in clauses for a, _ in c.counts)
        # Given facts of a concluded predicate decide what is new, so they are inputs too.
        self.inputs = tuple(sorted(read | made))

    def run(self, store: Store, present: set[str], work: Work) -> list[Fact]:
        """Run the clauses over the store until nothing new is concluded; the facts they added, in order."""
        in_use = [c for c in self.clauses if c.trigger is None or c.trigger in present]
        added: list[Fact] = []
        changed: set[str] | None = None  # None: the first pass runs every clause
        while True:
            grown: set[str] = set()

            def add(fact: Fact, grown: set[str] = grown) -> bool:
                if store.add(fact):
                    grown.add(fact.predicate)
                    added.append(fact)
                    return True
                return False

            for clause in in_use:
                if (changed is None or clause.reads & changed) and all(store.count(p) for p in clause.reads):
                    clause.run(store, add, work)
            if not grown:
                return added
            changed = grown

    def run_bracket(self, store: Store, other: Store, lower: bool, present: set[str], work: Work) -> None:
        """One side of a bracket: the clauses to their fixpoint over store, negations read in other."""
        in_use = [c for c in self.clauses if c.trigger is None or c.trigger in present]
        changed: set[str] | None = None
        while True:
            grown: set[str] = set()

            def add(fact: Fact, grown: set[str] = grown) -> bool:
                if store.add(fact):
                    grown.add(fact.predicate)
                    return True
                return False

            for clause in in_use:
                if (changed is None or clause.reads & changed) and all(store.count(p) for p in clause.reads):
                    clause.run_bracket(store, other, lower, add, work)
            if not grown:
                return
            changed = grown


def _groups(clauses: list[_Clause]) -> list[_Group]:
    """The independent groups of one stratum's clauses, in the order of their first clause."""
    parent = list(range(len(clauses)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    made = [{p for p, _ in c.conclusions} for c in clauses]
    read = [c.reads | {a.predicate for a in c.negatives} | {a.predicate for a, _ in c.counts} for c in clauses]
    owner: dict[str, int] = {}
    for i, predicates in enumerate(made):  # clauses concluding one predicate run together
        for p in predicates:
            parent[find(i)] = find(owner.setdefault(p, i))
    for i, predicates in enumerate(read):  # and a clause with the clauses whose conclusions it reads
        for p in predicates:
            if p in owner:
                parent[find(i)] = find(owner[p])
    members: dict[int, list[_Clause]] = {}
    for i, clause in enumerate(clauses):
        members.setdefault(find(i), []).append(clause)
    return [_Group(group) for group in members.values()]


def entity_fields(kb: KnowledgeBase) -> dict[str, str]:
    """Each predicate's field naming a legal entity, for the predicates with exactly one."""
    found: dict[str, str] = {}
    for pid, pred in kb.predicates.items():
        fields = [name for name, f in pred.fields.items() if f.domain == "entity"]
        if len(fields) == 1:
            found[pid] = fields[0]
    return found


def _entity_var(atom: _Atom, field: str) -> str | None:
    """The one variable an atom's entity field must equal (bound or tested eq), if there is one."""
    for name, tests, bind in atom.checks:
        if name != field:
            continue
        names = {bind} if bind is not None else set()
        names.update(t.operand.name for t in tests if t.op == "eq" and isinstance(t.operand, Var))
        return names.pop() if len(names) == 1 else None
    return None


def _keeps_to_one_entity(clause: _Clause, keyed: dict[str, str]) -> bool:
    """Whether every condition on an entity's facts, and every conclusion, names one and the same entity."""
    names = set()
    for atom in clause.positives:
        if atom.predicate in keyed:
            names.add(_entity_var(atom, keyed[atom.predicate]))
    if len(names) != 1 or None in names:
        return False
    (var,) = names
    for atom in (*clause.negatives, *(a for a, _ in clause.counts)):
        if atom.predicate in keyed and _entity_var(atom, keyed[atom.predicate]) != var:
            return False
    return all(
        predicate in keyed and any(name == keyed[predicate] and v == var for name, _, v in fields)
        for predicate, fields in clause.conclusions
    )


# Remembered group results per compiled knowledge base, past which the memory starts again.
MEMO_SIZE = 20_000


class Compiled:
    """A knowledge base compiled for fast evaluation: conclusions only."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.base = Index()
        for fact in kb.vocabulary_facts:
            self.base.add(fact)
        by_stratum: dict[int, list[_Clause]] = {}
        for clause, trigger in zip(kb.clauses, triggers(kb), strict=True):
            by_stratum.setdefault(clause.stratum, []).append(_Clause(clause, trigger))
        self.strata = [_groups(by_stratum[s]) for s in sorted(by_stratum)]
        self.memo: dict[tuple[Any, ...], list[Fact]] = {}
        self.known: Known = {}
        keyed = entity_fields(kb)
        for groups in self.strata:
            for group in groups:
                inputs = [p for p in group.inputs if p in keyed]
                if all(_keeps_to_one_entity(c, keyed) for c in group.clauses) and not any(
                    self.base.by_predicate.get(p) for p in inputs
                ):
                    group.keyed = tuple((p, keyed[p]) for p in inputs)
                    group.common = tuple(p for p in group.inputs if p not in keyed)

    def run(self, given: Iterable[Fact], budget: int | None = None) -> Store:
        """Every fact the rules derive from the given ones (with the vocabulary's).

        The matching is bounded: past `budget` matched facts (by default work_budget of the facts
        given) it stops with TooMuchWork, located at the rule whose joins grew past it.
        """
        store = Store(self.base, self.known)
        present: set[str] = set()
        count = 0
        for fact in given:
            store.add(fact)
            present.add(fact.predicate)
            count += 1
        work = Work(work_budget(count) if budget is None else budget)
        own = store.own.by_predicate
        # Remembering per legal entity pays only when there are several (an analysis evaluates one at a time).
        several = len(own.get("entity", EMPTY)) > 1
        for groups in self.strata:
            for group in groups:
                in_use = tuple(t in present for t in group.triggers)  # which of its clauses are in use
                if several and group.keyed is not None and self._run_per_entity(group, store, present, work, in_use):
                    continue
                # The vocabulary's facts are the same in every run: the run's own facts tell them apart.
                key = (id(group), frozenset(f for p in group.inputs for f in own.get(p, EMPTY)), in_use)
                self._recall_or_run(key, group, store, store, present, work)
        return store

    def _recall_or_run(
        self, key: tuple[Any, ...], group: _Group, on: Store, store: Store, present: set[str], work: Work
    ) -> None:
        """What the group concluded from these inputs, remembered, or else run over `on`; added to store."""
        found = self.memo.get(key)
        if found is None:
            found = group.run(on, present, work)
            if len(self.memo) >= MEMO_SIZE:
                self.memo.clear()
            self.memo[key] = found
            if on is store:
                return
        for fact in found:
            store.add(fact)

    def _run_per_entity(
        self, group: _Group, store: Store, present: set[str], work: Work, in_use: tuple[bool, ...]
    ) -> bool:
        """Run a group that keeps to one legal entity, remembered per entity: each entity's facts with the
        customer-wide ones. False (nothing done) when a fact names no entity."""
        own = store.own
        slices: dict[tuple[type, Scalar], list[Fact]] = {}
        for predicate, field in group.keyed or ():
            for fact in own.by_predicate.get(predicate, EMPTY):
                value = own.values[fact].get(field)
                if value is None:
                    return False
                slices.setdefault((value.__class__, value), []).append(fact)
        common = frozenset(f for p in group.common for f in own.by_predicate.get(p, EMPTY))
        for facts in slices.values():
            key = (id(group), common, frozenset(facts), in_use)
            on = store
            if len(slices) > 1 and key not in self.memo:  # run over this entity's facts alone
                on = Store(self.base, self.known)
                for fact in (*common, *facts):
                    on.add(fact)
            self._recall_or_run(key, group, on, store, present, work)
        return True


    def reads_unchanged(self, store: Store, given: frozenset[str]) -> bool:
        """Whether giving facts of the predicates given (read only positively) to the run that made store
        could not change it: no clause reading one of them can fire, whatever facts of them are given.

        The first fact such facts could change comes from a clause reading them; its other conditions match
        facts the run had already derived, and the store holds all of those.
        """
        return not any(
            clause.could_fire(store, given)
            for groups in self.strata
            for group in groups
            for clause in group.clauses
            if clause.reads & given
        )

    def brackets(self, lower: Iterable[Fact], upper: Iterable[Fact]) -> tuple[Store, Store]:
        """What every completion of partly known facts derives, and what some completion may derive.

        lower: the facts given in every completion; upper: those given in some (a superset). Stratum by
        stratum, the lower side matches its positive conditions in itself and a negation holds only when
        nothing matches it on the upper side; the upper side matches in itself and a negation holds unless
        something matches it on the lower side. Negations and counts read lower strata only, so both
        sides of those are final when read. Every fact the rules derive from a completion then lies between
        the two: where they agree on a predicate, its facts are the same in every completion. Bounded as
        run is; no memory.
        """
        low, high = Store(self.base), Store(self.base)
        low_present: set[str] = set()
        high_present: set[str] = set()
        for fact in lower:
            low.add(fact)
            low_present.add(fact.predicate)
        for fact in upper:
            high.add(fact)
            high_present.add(fact.predicate)
        work = Work(work_budget(high.count_own()))
        for groups in self.strata:
            for group in groups:
                group.run_bracket(high, low, False, high_present, work)
                group.run_bracket(low, high, True, low_present, work)
        return low, high


_COMPILED: Derived[Compiled] = Derived("compiled")


def compiled(kb: KnowledgeBase) -> Compiled:
    """The knowledge base's compiled form, made once per knowledge base."""
    return kb.derived(_COMPILED, lambda: Compiled(kb))
