"""The smallest-change search: every smallest set of changes that makes a deployment type the recommendation.

Sets are tried breadth-first over their size on the compiled evaluator, within a budget of sets
cut to the customer's size (sets the rules cannot tell apart are evaluated once, see Symmetry); the
solutions are evaluated again on the requested engine.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ...analysis.dimensions import Dim
from ...analysis.inquiry import analyzer_for
from ...errors import BadInput, EngineError, Problem
from ...evaluation.compiled import Store, compiled
from ...evaluation.evaluate import evaluate
from ...facts.questions import Absent
from ...io.loader import Document
from ...model.terms import Fact, Scalar
from ...policy.knowledge import KnowledgeBase
from .answer import SearchResult
from .applying import outcome, resolve_entity, resolve_target
from .changes import Change, FactsEditor, is_open, open_values

DEFAULT_BUDGET = 20_000
DEFAULT_MAX_CHANGES = 3
# An evaluation of a set costs about as much more as the customer has more facts (a change re-runs the
# rules of the legal entity it touches and those joining every entity): a customer's search may
# evaluate at most SEARCH_WORK / facts sets, so that a customer of many legal entities stops in about
# the time a one-entity customer's full budget takes (20 facts: 20,000 sets), and says so.
SEARCH_WORK = 400_000


def sized_budget(budget: int, facts: int) -> int:
    """The sets a search over a customer of `facts` facts may evaluate, within the given budget."""
    return max(1, min(budget, SEARCH_WORK // max(1, facts)))


def deciding_facts(kb: KnowledgeBase) -> set[str]:
    """The facts that can change a deployment: those some chain of rules leads from to a deployment conclusion.

    A rule's conclusions depend only on the facts its conditions (positive, negated, counted) name,
    so a fact no such chain reaches (in the built-ins: budget, pm_maturity, region) cannot change
    any entity's deployment, and a change of it is never part of a smallest set.
    """
    relevant = {pid for pid, p in kb.predicates.items() if p.role == "deployment"}
    changed = True
    while changed:
        changed = False
        for rule in kb.rules:
            if not any(c.predicate in relevant for c in rule.conclusions):
                continue
            for clause in rule.clauses:
                named = {a.predicate for a in (*clause.positives, *clause.negatives)}
                named.update(c.atom.predicate for c in clause.counts)
                if not named <= relevant:
                    relevant |= named
                    changed = True
    return {fid for fid in kb.facts if fid in relevant}


def combinations_count(candidates: Sequence[Change], size: int) -> int:
    """How many sets of `size` changes go together (at most one change per slot)."""
    groups: dict[Any, int] = {}
    for c in candidates:
        groups[c.slot] = groups.get(c.slot, 0) + 1
    # The elementary symmetric polynomial of the group sizes: one change from each of `size` slots.
    counts = [1] + [0] * size
    for n in groups.values():
        for k in range(size, 0, -1):
            counts[k] += counts[k - 1] * n
    return counts[size]


def change_sets(candidates: Sequence[Change], size: int) -> Iterable[tuple[Change, ...]]:
    """Every set of `size` changes that go together, in the candidates' order (lexicographic)."""
    for combo in itertools.combinations(candidates, size):
        if len({c.slot for c in combo}) == size:
            yield combo


class Symmetry:
    """Sets of changes that surely do as well as a set already tried, so that only one of them is evaluated.

    A change that adds or drops a list item no rule of the deployments can use (a capability every type
    offers) changes no deployment: a set holding one does what the set without it does, and every smaller
    set has been tried already. Capabilities offered by the same types and named by no rule are
    interchangeable (permuting them maps the knowledge base onto itself, see analysis.dimensions): two
    sets that differ by such a permutation, among capabilities the facts file lists in the same places,
    give the same deployments, so each set is tried as its canonical one, its interchangeable
    capabilities renamed in order of appearance to the first of their kind. Likewise a value no rule of the
    deployments tells apart from another (the same literal tests passed, never bound) is tried as the one
    standing for both.
    """

    def __init__(self, kb: KnowledgeBase, editor: FactsEditor) -> None:
        dims = analyzer_for(kb, warnings=False).dims  # the deployments' cone and its dimensions
        self.inert = dims.inert
        places: list[str | None] = [None, *editor.entity_index]

        def placed(item: str) -> tuple[tuple[str | None, str], ...]:
            """Where the document lists the item (in any list, an `unknown:` entry's key included)."""
            return tuple(
                (where, key)
                for where in places
                for key, value in editor.own(where).items()
                if isinstance(value, list) and any(item in re.split(r"[:@]", str(v)) for v in value)
            )

        self.dims = dims
        # A scalar fact's dimension: values no rule of the deployments tells apart stand for one another.
        self.scalar: dict[str, Dim] = {d.decl.id: d for d in (*dims.customer, *dims.local) if not d.is_class
                                       and d.item is None}
        self._stand_ins: dict[Change, Change] = {}
        self.kind: dict[tuple[str, Scalar], tuple[str, ...]] = {}
        for dim in dims.local:
            if len(dim.members) < 2:
                continue
            alike: dict[Any, list[str]] = {}
            for member in dim.members:
                alike.setdefault(placed(member), []).append(member)
            for members in alike.values():
                for member in members:
                    self.kind[(dim.decl.id, member)] = tuple(members)

    def _standing_for(self, change: Change) -> Change:
        """A scalar change with the value standing for the values no rule tells apart from it."""
        found = self._stand_ins.get(change)
        if found is None:
            dim = self.scalar.get(change.fact)
            rep = self.dims.rep_of(dim, change.value) if dim is not None else change.value
            found = change if isinstance(rep, Absent) else Change("set", change.fact, rep, change.entity)
            self._stand_ins[change] = found
        return found

    def is_inert(self, change: Change) -> bool:
        return change.kind != "set" and (change.fact, change.value) in self.inert

    def canonical(self, changes: tuple[Change, ...]) -> tuple[Change, ...]:
        """The set with its interchangeable items renamed to the first ones of their kind, in order of appearance."""
        renamed: dict[tuple[str, Scalar], Scalar] = {}
        used: dict[tuple[str, ...], int] = {}
        out = []
        for change in changes:
            if change.kind == "set":
                out.append(self._standing_for(change))
                continue
            kind = self.kind.get((change.fact, change.value))
            if kind is None:
                out.append(change)
                continue
            key = (change.fact, change.value)
            if key not in renamed:
                renamed[key] = kind[used.get(kind, 0)]
                used[kind] = used.get(kind, 0) + 1
            out.append(Change(change.kind, change.fact, renamed[key], change.entity))
        return tuple(out)


def search(
    kb: KnowledgeBase,
    doc: Document,
    target: str,
    *,
    entity: str | None = None,
    engine: str = "auto",
    max_changes: int = DEFAULT_MAX_CHANGES,
    budget: int = DEFAULT_BUDGET,
    progress: Callable[[int, int, int], None] | None = None,
) -> SearchResult:
    """Every smallest set of changes to doc under which target is the recommendation.

    For entity (or every legal entity when entity is None). Sets are evaluated on the compiled
    evaluator (the reference semantics without a trace); the solutions are then evaluated again on
    `engine`, for the trace they show, and must agree. `progress(size, done, total)` is called as
    the sets of each size are tried.
    """
    editor = FactsEditor(kb, doc)
    problems: list[Problem] = []
    try:
        resolve_target(kb, target)
    except BadInput as exc:
        problems.extend(exc.problems)
    try:
        entity = resolve_entity(editor.original, entity)
    except BadInput as exc:
        problems.extend(exc.problems)
    if problems:
        raise BadInput(problems)
    targets = [entity] if entity is not None else list(editor.entity_names)
    original = evaluate(kb, editor.original, engine=engine)
    deciding = deciding_facts(kb)
    every = editor.candidates()
    candidates = [c for c in every if c.fact in deciding]
    allowed = sized_budget(budget, len(editor.original.ground))
    result = SearchResult(target, entity, targets, original, candidates, max_changes, allowed)
    result.sized = allowed < budget
    for decl in kb.facts.values():
        if decl.id not in deciding:
            result.left_out[decl.id] = "no-effect"
        elif is_open(decl) and not open_values(kb, decl):
            result.left_out[decl.id] = "open-value"
    memo: dict[frozenset[Fact], bool] = {}
    symmetry = Symmetry(kb, editor)
    # Only the rules that can reach a deployment: the warnings' and notes' are left out.
    program = compiled(analyzer_for(kb, warnings=False).cone.cone_kb)
    tried: dict[tuple[Change, ...], bool] = {}

    def works(changes: tuple[Change, ...]) -> bool:
        result.sets += 1
        if any(symmetry.is_inert(c) for c in changes):
            return False  # does what the smaller set without it does, and none of those worked
        canonical = symmetry.canonical(changes)
        found = tried.get(canonical)
        if found is None:
            found = tried[canonical] = evaluated(canonical)
        return found

    def evaluated(changes: tuple[Change, ...]) -> bool:
        try:
            ground = editor.ground(changes)
        except BadInput:  # pragma: no cover - candidates keep to the vocabulary, so this is a bug guard
            return False
        key = frozenset(ground)
        if key not in memo:
            result.evaluations += 1
            got = chosen_types(kb, program.run(ground))
            memo[key] = all(got.get(name) == target for name in targets)
        return memo[key]

    found: list[tuple[Change, ...]] = []
    if works(()):
        found.append(())
    size = 0
    slots = len({c.slot for c in candidates})
    while not found:
        if size >= slots:
            result.stopped = "exhausted"
            break
        if size >= max_changes:
            result.stopped = "max-changes"
            break
        total = combinations_count(candidates, size + 1)
        if result.sets + total > allowed:
            result.stopped = "budget"
            result.next_size_sets = total
            break
        size += 1
        found = []
        for done, combo in enumerate(change_sets(candidates, size), 1):
            if works(combo):
                found.append(combo)
            if progress is not None:
                progress(size, done, total)
    result.searched_up_to = size
    result.solutions = [outcome(kb, editor, original, combo, engine, targets) for combo in found]
    for solution in result.solutions:
        got = {e.name: e.after for e in solution.entities}
        if any(got.get(name) != target for name in targets):  # the engines have one semantics; say so if not
            raise EngineError(
                f"the {solution.decision.engine} engine does not confirm '{'; '.join(map(str, solution.changes))}'"
                f" (the reference evaluator gives {target}); run with --engine reference"
            )
    return result


def chosen_types(kb: KnowledgeBase, store: Store) -> dict[str, str]:
    """Each legal entity's recommended type in a compiled evaluation: the lightest concluded, as decide() keeps."""
    rank = {t.id: t.rank for t in kb.types.values()}
    chosen: dict[str, str] = {}
    for pid, pred in kb.predicates.items():
        if pred.role != "deployment":
            continue
        for fact in store.of(pid):
            name, type_id = str(fact.get("entity")), str(fact.get("type"))
            if name not in chosen or (rank.get(type_id, 0), type_id) < (rank.get(chosen[name], 0), chosen[name]):
                chosen[name] = type_id
    return chosen

