"""A proof that nothing left open can change the advice, from one bracketed evaluation.

Enumerating the completions is what makes "nothing can change it" exact, and a customer with several
open needs per legal entity has thousands of them. Before that, the questionnaire tries a proof: every
open answer is given as *maybe* (a list item may or may not be needed, a value may be any of the ones
the rules tell apart) and the compiled evaluator brackets what the rules derive, between what every
completion derives and what some completion may (Compiled.brackets). When both sides give every legal
entity the same deployments and warnings, every completion does, and the advice is settled without
trying one of them. When they differ the proof says nothing, and the analysis enumerates as before.

The proof is sound, not complete: it can miss a settled customer (a maybe that the rules would cancel
out), never declare one settled that is not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..evaluation.compiled import Store, compiled
from ..evaluation.limits import TooMuchWork
from ..facts.questions import Value, question_key
from ..model.terms import Fact, make_fact
from .dimensions import Dim
from .states import WARNING_MARK, Outcome

if TYPE_CHECKING:
    from .search import Analysis, Analyzer, Answered


# A proof gives up past this many bracketed evaluations (each about as costly as one evaluation).
BUDGET = 200


@dataclass(frozen=True, slots=True)
class _Slot:
    """One open dimension of the space: customer-wide (entity None) or one entity's; its values still possible."""

    dim: Dim
    entity: int | None
    values: tuple[Value, ...] = ()  # a scalar's representatives
    counts: tuple[int, int] = (0, 0)  # a class: how many of its items are needed, at least and at most

    @property
    def open(self) -> bool:
        return self.counts[0] < self.counts[1] if self.dim.is_class else len(self.values) > 1

    def halves(self) -> tuple[_Slot, _Slot]:
        if self.dim.is_class:
            lo, hi = self.counts
            return replace(self, counts=(lo, lo)), replace(self, counts=(lo + 1, hi))
        middle = len(self.values) // 2
        return replace(self, values=self.values[:middle]), replace(self, values=self.values[middle:])


class _Proof:
    """Brackets a space of completions, and splits it in two where a bracket is too wide to decide."""

    def __init__(self, analyzer: Analyzer, names: tuple[str, ...], fixed: list[Fact], budget: int) -> None:
        self.cone, self.dims, self.evaluator = analyzer.cone, analyzer.dims, analyzer.evaluator
        self.names = names
        self.fixed = fixed
        self.program = compiled(self.cone.cone_kb)
        self.left = budget
        self.start = self.evaluator.evaluations

    def facts(self, slot: _Slot) -> tuple[list[Fact], list[Fact]]:
        """The facts every value of the slot gives, and those some value gives."""
        name = None if slot.entity is None else self.names[slot.entity]
        if slot.dim.is_class:
            lo, hi = slot.counts
            return self.dims.dim_facts(slot.dim, lo, name), self.dims.dim_facts(slot.dim, hi, name)
        made = [set(self.dims.dim_facts(slot.dim, v, name)) for v in slot.values]
        every, some = set.intersection(*made), set().union(*made)
        return sorted(every, key=lambda f: f.key), sorted(some, key=lambda f: f.key)

    def sides(self, space: list[_Slot]) -> tuple[Store, Store] | None:
        """What every completion of the space derives, and what some may; None past the budget."""
        if self.left <= 0:
            return None
        self.left -= 1
        lower, upper = list(self.fixed), list(self.fixed)
        for slot in space:
            every, some = self.facts(slot)
            lower += every
            upper += some
        try:
            found = self.program.brackets(lower, upper)
        except TooMuchWork:
            self.left = 0
            return None
        self.evaluator.evaluations += 1
        return found

    def bracket(self, space: list[_Slot]) -> tuple[Outcome, set[Fact]] | None:
        """The outcome every completion of the space shares as far as the bracket can tell, and the
        advice facts only some completions may derive (none: the space is settled); None past the budget."""
        sides = self.sides(space)
        if sides is None:
            return None
        low, high = sides
        wide: set[Fact] = set()
        for predicate in (*self.cone.outcome_preds, *self.cone.warning_preds):
            wide.update(set(high.of(predicate)) - set(low.of(predicate)))
        return self.evaluator.outcome_of(low.of, self.names), wide

    def prove(self, space: list[_Slot], found: tuple[Outcome, set[Fact]]) -> Outcome | None:
        """The one outcome of every completion of the space, or None (not proven, or not one)."""
        outcome, wide = found
        if not wide:
            return outcome
        for i in self._to_split(space, wide):
            halves = [[*space[:i], half, *space[i + 1 :]] for half in space[i].halves()]
            made = [self.bracket(half) for half in halves]
            if any(m is None for m in made):
                return None
            if all(len(m[1]) < len(wide) for m in made if m is not None):  # each half decides more
                first, second = (self.prove(h, m) for h, m in zip(halves, made, strict=True) if m is not None)
                return first if first is not None and first == second else None
        return None

    def _to_split(self, space: list[_Slot], wide: set[Fact]) -> list[int]:
        """The open slots, those of the legal entities whose advice is undecided first."""
        undecided = {self.names.index(str(f.get("entity"))) for f in wide if f.get("entity") in self.names}
        slots = [i for i, slot in enumerate(space) if slot.open]
        return sorted(slots, key=lambda i: space[i].entity not in undecided)


def settled(analyzer: Analyzer, session: Answered, budget: int = BUDGET) -> Analysis | None:
    """The session's analysis when brackets prove that no open answer can change the advice, else None.

    At most `budget` bracketed evaluations: past it, not proven."""
    from .search import Analysis

    made = _space(analyzer, session)
    if made is None:
        return None
    names, fixed, space = made
    proof = _Proof(analyzer, names, fixed, budget)
    first = proof.bracket(space)
    outcome = None if first is None else proof.prove(space, first)
    if outcome is None:
        return None
    possible = [[t for t in slot if not t.startswith(WARNING_MARK)] for slot in outcome[: len(names)]]
    return Analysis({outcome: 1}, possible, True, None, [], {}, True, analyzer.evaluator.evaluations - proof.start)


def possible_at_most(analyzer: Analyzer, session: Answered) -> list[set[str]] | None:
    """Per legal entity, every deployment type some completion of the open answers may give it (one
    bracketed evaluation: never fewer than the completions give, perhaps more); None when the open values
    are sampled or the bracket is too costly."""
    made = _space(analyzer, session)
    if made is None:
        return None
    names, fixed, space = made
    sides = _Proof(analyzer, names, fixed, 1).sides(space)
    if sides is None:
        return None
    _, high = sides
    found: list[set[str]] = [set() for _ in names]
    for predicate in analyzer.cone.outcome_preds:
        for fact in high.of(predicate):
            entity = fact.get("entity")
            if entity in names:
                found[names.index(str(entity))].add(str(fact.get("type")))
    return found


def _space(analyzer: Analyzer, session: Answered) -> tuple[tuple[str, ...], list[Fact], list[_Slot]] | None:
    """The session's names, the facts every completion holds, and its open space; None when values are sampled."""
    cone, dims = analyzer.cone, analyzer.dims
    names = session.analysis_names(cone.names_matter)
    fixed: list[Fact] = []
    if cone.reads_customer:
        fixed.append(make_fact("customer", {"name": session.customer if cone.names_matter else "<customer>"}))
    fixed += [make_fact("entity", {"name": name}) for name in names]
    space: list[_Slot] = []
    for dim in dims.customer:
        key = question_key(dim.decl.id, dim.item, None)
        if key in session.answers:
            answer = session.answers[key]
            space.append(_Slot(dim, None, (answer is True,) if dim.item is not None else (dims.rep_of(dim, answer),)))
        elif not dim.exact:  # its values are sampled: a proof over them would not cover the rest
            return None
        else:
            space.append(_Slot(dim, None, tuple(r for r, _ in dim.reps)))
    for e in range(len(names)):
        for dim in dims.local:
            if dim.is_class:
                keys = [question_key(dim.decl.id, m, e) for m in dim.members]
                yes = sum(1 for k in keys if session.answers.get(k) is True)
                space.append(_Slot(dim, e, counts=(yes, yes + sum(1 for k in keys if k not in session.answers))))
                continue
            key = question_key(dim.decl.id, None, e)
            if key in session.answers:
                space.append(_Slot(dim, e, (dims.rep_of(dim, session.answers[key]),)))
            elif not dim.exact:
                return None
            else:
                space.append(_Slot(dim, e, tuple(r for r, _ in dim.reps)))
    return names, fixed, space
