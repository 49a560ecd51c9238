"""What-if: the smallest changes to a facts file that make a deployment type the recommendation, and the reverse.

search() answers "what would make TYPE the recommendation?": it derives every single change the
vocabulary allows (drop a requirement, add one, give a choice or boolean fact another value, give a
number, version or text fact one of the values the rules tell apart), then
searches breadth-first over change-set size, evaluating every set of 1 change, then every set of 2,
and so on, and returns every set of the first size that works. They are the minimal ones: no
smaller set works, so none of them is a superset of a smaller solution. The search is bounded: it
stops before a size whose sets would take it past the budget of evaluations or past max_changes,
and says so (`SearchResult.message`); it never evaluates part of a size.

apply() answers the reverse: the decision under given changes, and what changed against the original.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput, EngineError, Location, Problem, did_you_mean
from ..evaluation.compiled import Store, compiled
from ..evaluation.decision import Decision, EntityDecision
from ..evaluation.derivation import Firing, passes
from ..evaluation.evaluate import evaluate
from ..explain.queries import business_explanation, cited_text, deciding_step
from ..explain.render import counted
from ..facts.reading import FactsInput, read_facts
from ..io.loader import Document
from ..model.terms import VERSION_PATTERN, Fact, FactDecl, Scalar, Test, Var, show_value, version_text
from ..policy.knowledge import RESERVED_FACT_KEYS, KnowledgeBase
from ..records import record
from .diffing import Change as Difference
from .diffing import _changes as differences
from .diffing import reason_text

DEFAULT_BUDGET = 20_000
# An evaluation costs more than the square of the facts given (rules join legal entities in pairs,
# and each pair is checked against the rest): a customer's search may evaluate at most
# SEARCH_WORK / facts³ sets, so that a customer of many legal entities stops in about the time a
# one-entity customer's full budget takes (20 facts: 20,000 sets), and says so.
SEARCH_WORK = 160_000_000


def sized_budget(budget: int, facts: int) -> int:
    """The sets a search over a customer of `facts` facts may evaluate, within the given budget."""
    return max(1, min(budget, SEARCH_WORK // max(1, facts**3)))
DEFAULT_MAX_CHANGES = 3
OPEN_TYPES = ("number", "integer", "version", "text")  # facts with no finite set of values: see open_values


# -- changes -------------------------------------------------------------------------------------


@record
class Change:
    """One edit of a facts document.

    kind: 'drop' (a value leaves a list fact), 'add' (a value joins a list fact) or 'set' (a scalar
    fact takes a value). entity None edits the top level (shared by every legal entity); otherwise
    the legal entity's own entry.
    """

    kind: str
    fact: str
    value: Scalar
    entity: str | None = None

    @property
    def slot(self) -> tuple[str, str, str | None, Scalar | None]:
        """Two changes of one slot cannot go together (two values for one fact, an add and a drop of one item)."""
        if self.kind == "set":
            return ("set", self.fact, self.entity, None)
        return ("list", self.fact, self.entity, self.value)

    def __str__(self) -> str:
        shown = show_value(self.value)
        if self.kind == "set":
            where = f" for {self.entity}" if self.entity else ""
            return f"set {self.fact}={shown}{where}"
        what = shown if self.fact == "requirements" else f"{self.fact} {shown}"
        if self.entity is None:
            return f"{self.kind} {what}"
        return f"{self.kind} {what} {'from' if self.kind == 'drop' else 'to'} {self.entity}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "fact": self.fact, "value": self.value, "entity": self.entity, "text": str(self)}


class FactsEditor:
    """A parsed facts document and the edits that can be made to it."""

    def __init__(self, kb: KnowledgeBase, doc: Document) -> None:
        self.kb = kb
        self.doc = doc
        self.original = read_facts(kb, doc)  # validates the document: everything below may trust its shape
        self.value: dict[str, Any] = doc.value
        listed = self.value.get("legal_entities") or []
        self.entity_index = {str(item["name"]).strip(): i for i, item in enumerate(listed)}
        self.entity_names = [e.name for e in self.original.entities]

    def apply(self, changes: Iterable[Change]) -> dict[str, Any]:
        """The document's value with the changes made (the original is left as it was)."""
        value = dict(self.value)
        if value.get("legal_entities"):
            value["legal_entities"] = list(value["legal_entities"])
        for change in changes:
            if change.entity is None:
                target = value
            else:
                index = self.entity_index[change.entity]
                target = dict(value["legal_entities"][index])
                value["legal_entities"][index] = target
            if change.kind == "set":
                target[change.fact] = change.value
            elif change.kind == "add":
                target[change.fact] = [*(target.get(change.fact) or []), change.value]
            else:
                target[change.fact] = [v for v in target.get(change.fact) or [] if v != change.value]
        return value

    def facts(self, changes: Iterable[Change]) -> FactsInput:
        value = self.apply(changes)
        return read_facts(self.kb, Document(self.doc.name, value, self.doc.marks, self.doc.key_marks))

    def own(self, entity: str | None) -> dict[str, Any]:
        """The top level (entity None) or a legal entity's own entry."""
        if entity is None:
            return self.value
        item: dict[str, Any] = self.value["legal_entities"][self.entity_index[entity]]
        return item

    def current(self, decl: FactDecl, entity: str | None) -> Any:
        """A scalar fact's value where it is written, falling back to the top level and the default."""
        here = self.own(entity)
        if decl.id in here:
            return here[decl.id]
        if entity is not None and decl.id in self.value:
            return self.value[decl.id]
        return decl.default

    def candidates(self) -> list[Change]:
        """Every single change the vocabulary allows, in a stable order.

        For each list fact (capability-list, choice-list): drop each value written at the top level
        or in an entity's own list; add each allowed value not already written there. For each choice
        or boolean fact: every other allowed value, at the top level and (for an entity-scoped fact,
        when legal entities are listed) for each legal entity; an entity without its own value may take
        any value, its current one included, which pins it beside a change at the top level. Number,
        version and text facts take the values that can make a difference to the rules (open_values).
        """
        places: list[str | None] = [None]
        places.extend(self.entity_index)
        drops: list[Change] = []
        adds: list[Change] = []
        sets: list[Change] = []
        for decl in self.kb.facts.values():
            scoped = places if decl.scope == "entity" else [None]
            if decl.is_list:
                allowed = list(self.kb.capabilities) if decl.type == "capability-list" else list(decl.values)
                for where in scoped:
                    written = list(self.own(where).get(decl.id) or [])
                    drops.extend(Change("drop", decl.id, v, where) for v in dict.fromkeys(written))
                    adds.extend(Change("add", decl.id, v, where) for v in allowed if v not in written)
            elif decl.type in ("choice", "boolean", *OPEN_TYPES):
                if decl.type in OPEN_TYPES:
                    values = open_values(self.kb, decl)
                else:
                    values = [False, True] if decl.type == "boolean" else list(decl.values)
                for where in scoped:
                    here = self.own(where)
                    now = here.get(decl.id, decl.default if where is None else None)
                    sets.extend(Change("set", decl.id, v, where) for v in values if now is None or not _same(v, now))
        return [*drops, *adds, *sets]


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def open_values(kb: KnowledgeBase, decl: FactDecl) -> list[Scalar]:
    """The values of a number, version or text fact that can make a difference to the rules.

    The rules tell values apart only by the tests with literals they apply to the fact (eq, ne,
    lt, lte, gt, gte, in, not_in). For a text fact the literals are the values to try. For a
    number or a version the literals cut the line into stretches in which every test comes out
    the same: each literal, a value inside each stretch between two of them, one below and one
    above them all (within the fact's bounds) cover every outcome. Of values that pass the same
    tests, one is kept, a literal first (the threshold a consultant recognises). A fact the rules
    test with no literal (only against other facts) has none.
    """
    tests: list[Test] = []
    for rule in kb.rules:
        for clause in rule.clauses:
            for atom in (*clause.positives, *clause.negatives, *(c.atom for c in clause.counts)):
                if atom.predicate == decl.id:
                    tests.extend(
                        t
                        for fp in atom.fields
                        if fp.field == "value"
                        for t in fp.tests
                        if not isinstance(t.operand, Var)
                    )
    literals = {v for t in tests for v in (t.operand if isinstance(t.operand, tuple) else (t.operand,))}
    if decl.type == "text":
        tried: list[Any] = sorted(v for v in literals if isinstance(v, str))
    else:
        points = sorted(v for v in literals if isinstance(v, (int, float)) and not isinstance(v, bool))
        if not points:
            return []
        whole = decl.type in ("integer", "version")
        between = [points[0] - 1, points[-1] + 1]
        for low, high in itertools.pairwise(points):
            if not whole:
                between.append(round((low + high) / 2, 6))
            elif high - low > 1:
                between.append(low + 1)
        low_bound = -math.inf if decl.minimum is None else decl.minimum
        high_bound = math.inf if decl.maximum is None else decl.maximum
        tried = [v for v in [*points, *sorted(between)] if low_bound <= v <= high_bound]
        if decl.type == "version":
            tried = [v for v in tried if _is_version(int(v))]
    kept: dict[tuple[bool, ...], Any] = {}
    for value in tried:
        kept.setdefault(tuple(passes(t, value, {}) for t in tests), value)
    values = sorted(kept.values())
    if decl.type == "version":
        return [version_text(int(v)) for v in values]
    if decl.type == "text":
        return values
    return [int(v) if float(v).is_integer() else v for v in values]


def _is_version(number: int) -> bool:
    return number >= 0 and number // 1_000_000 <= 999



# -- the search ---------------------------------------------------------------------------------


@dataclass(slots=True)
class KeyStep:
    """The firing that now decides an entity's deployment."""

    step: int
    rule: str
    location: str
    layer: str
    source: str | None
    explanation: str

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "rule": self.rule,
            "location": self.location,
            "layer": self.layer,
            "source": self.source,
            "explanation": self.explanation,
        }


@dataclass(slots=True)
class EntityOutcome:
    name: str
    target: bool  # one of the entities the search had to move to the target type
    before: str | None
    after: str | None
    gaps: list[str]
    decided_by: KeyStep | None
    no_longer: str | None  # why the entity's former type is no longer recommended, when it changed

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "gaps": self.gaps,
            "decided_by": self.decided_by.as_json() if self.decided_by else None,
            "no_longer": self.no_longer,
        }


@dataclass(slots=True)
class Outcome:
    """A set of changes, evaluated on the requested engine, against the original decision."""

    changes: tuple[Change, ...]
    decision: Decision
    entities: list[EntityOutcome]
    differences: list[Difference]

    def as_json(self) -> dict[str, Any]:
        return {
            "size": len(self.changes),
            "changes": [c.as_json() for c in self.changes],
            "deployments": self.decision.deployments,
            "entities": [e.as_json() for e in self.entities],
            "differences": [
                {"what": d.what, "entity": d.entity, "before": d.before, "after": d.after} for d in self.differences
            ],
        }


@dataclass(slots=True)
class SearchResult:
    target: str
    entity: str | None  # None: every legal entity had to get the target type
    targets: list[str]
    original: Decision
    candidates: list[Change]
    max_changes: int
    budget: int
    solutions: list[Outcome] = field(default_factory=list)
    searched_up_to: int = 0  # every set of at most this many changes was evaluated
    sets: int = 0  # change sets examined (original included)
    evaluations: int = 0  # engine runs (sets with the same resulting facts are evaluated once)
    stopped: str | None = None  # None | "max-changes" | "budget" | "exhausted"
    next_size_sets: int = 0  # when stopped by the budget: how many sets the next size holds
    sized: bool = False  # the budget was cut to the customer's size (many legal entities)
    # Facts never changed: "no-effect" (no chain of rules leads from them to a deployment) or
    # "open-value" (a number, version or text fact the rules test against no literal: nothing to try).
    left_out: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int | None:
        return len(self.solutions[0].changes) if self.solutions else None

    @property
    def message(self) -> str:
        k = self.searched_up_to
        done = f"{counted(self.sets, 'set')}, {counted(self.evaluations, 'evaluation')}"
        searched = f"searched all sets of up to {counted(k, 'change')} ({done})"
        if self.solutions:
            if self.size == 0:
                return f"already the recommendation: no change is needed; {searched}"
            verb = "is" if self.size == 1 else "are"
            return f"exact: {counted(self.size or 0, 'change')} {verb} the fewest; {searched}"
        if self.stopped == "exhausted":
            return f"{searched}; no set of changes makes it the recommendation"
        if self.stopped == "budget":
            why = (
                f"the {self.next_size_sets} sets of {k + 1} changes would take the search past its budget"
                f" of {self.budget} evaluations"
                + (", the budget of a customer of this size" if self.sized else "")
            )
        else:
            why = f"--max-changes is {self.max_changes}"
        return f"{searched}; no set found; a set of more than {counted(k, 'change')} may exist ({why})"

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": "search",
            "customer": self.original.customer,
            "target": self.target,
            "entity": self.entity,
            "scope": "entity" if self.entity is not None else "every-entity",
            "entities": self.targets,
            "before": [{"name": e.name, "deployment": e.deployment} for e in self.original.entities],
            "search": {
                "candidates": len(self.candidates),
                "left_out": [{"fact": f, "reason": r} for f, r in self.left_out.items()],
                "max_changes": self.max_changes,
                "budget": self.budget,
                "searched_up_to": self.searched_up_to,
                "sets": self.sets,
                "evaluations": self.evaluations,
                "found": bool(self.solutions),
                "minimal": bool(self.solutions),
                "stopped": self.stopped,
                "message": self.message,
            },
            "solutions": [s.as_json() for s in self.solutions],
            "engine": self.solutions[0].decision.engine if self.solutions else self.original.engine,
        }


def resolve_target(kb: KnowledgeBase, target: str) -> str:
    if target not in kb.types:
        raise BadInput(
            [
                Problem(
                    "unknown-type",
                    f"'{target}' is not a deployment type{did_you_mean(target, kb.types)}"
                    f" (types: {', '.join(t.id for t in kb.types_by_rank())})",
                    Location("--target"),
                )
            ]
        )
    return target


def resolve_entity(facts: FactsInput, entity: str | None) -> str | None:
    if entity is None:
        return None
    names = [e.name for e in facts.entities]
    if entity.strip() in names:
        return entity.strip()
    raise BadInput(
        [
            Problem(
                "unknown-entity",
                f"'{entity}' is not a legal entity of {facts.customer}{did_you_mean(entity, names)}"
                f" (legal entities: {', '.join(names)})",
                Location("--entity"),
            )
        ]
    )


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
        elif decl.type in OPEN_TYPES and not open_values(kb, decl):
            result.left_out[decl.id] = "open-value"
    memo: dict[frozenset[Fact], bool] = {}

    def works(changes: tuple[Change, ...]) -> bool:
        result.sets += 1
        try:
            facts = editor.facts(changes)
        except BadInput:  # pragma: no cover - candidates keep to the vocabulary, so this is a bug guard
            return False
        key = frozenset(facts.ground)
        if key not in memo:
            result.evaluations += 1
            got = chosen_types(kb, compiled(kb).run(facts.ground))
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


# -- outcomes and their key steps ----------------------------------------------------------------


def outcome(
    kb: KnowledgeBase,
    editor: FactsEditor,
    original: Decision,
    changes: tuple[Change, ...],
    engine: str,
    targets: Sequence[str] = (),
) -> Outcome:
    decision = evaluate(kb, editor.facts(changes), engine=engine)
    before = {e.name: e.deployment for e in original.entities}
    entities = []
    for e in decision.entities:
        was = before.get(e.name)
        no_longer = None
        if was is not None and was != e.deployment:
            no_longer = reason_against(decision, e.name, was)
        entities.append(
            EntityOutcome(e.name, e.name in targets, was, e.deployment, e.gaps, key_step(decision, e), no_longer)
        )
    return Outcome(changes, decision, entities, differences(original, decision))


def reason_against(decision: Decision, entity: str, type_id: str) -> str | None:
    """The first recorded reason against a type for an entity (a why-not conclusion), or None."""
    against = {pid for pid, p in decision.kb.predicates.items() if p.role == "why-not"}
    for firing in decision.trace:
        if any(
            c.predicate in against and c.get("entity") == entity and c.get("type") == type_id
            for c in firing.conclusions
        ):
            rule = firing.clause.rule
            source = cited_text(decision.kb, rule.source)  # the documents by title, never a file name
            return f"{business_explanation(decision.kb, firing)} (rule {rule.id}, {rule.location}" + (
                f"; {source})" if source else ")"
            )
    return None


def key_step(decision: Decision, entity: EntityDecision) -> KeyStep | None:
    """The firing that decides the entity's deployment: the fit behind it, or the rule that moved it."""
    step = deciding_step(decision, entity)
    return None if step is None else _key(decision.kb, step, decision.trace[step])


def _key(kb: KnowledgeBase, step: int, firing: Firing) -> KeyStep:
    rule = firing.clause.rule
    return KeyStep(step, rule.id, str(rule.location), rule.layer, rule.source, business_explanation(kb, firing))


# -- the reverse: given changes ------------------------------------------------------------------


@dataclass(slots=True)
class Applied:
    original: Decision
    changes: tuple[Change, ...]
    outcome: Outcome

    def as_json(self) -> dict[str, Any]:
        decision = self.outcome.decision
        return {
            "mode": "apply",
            "customer": self.original.customer,
            "changes": [c.as_json() for c in self.changes],
            "deployments": {"before": self.original.deployments, "after": decision.deployments},
            "entities": [e.as_json() for e in self.outcome.entities],
            "differences": self.outcome.as_json()["differences"],
            "warnings": [_notice(n) for n in decision.warnings],
            "notes": [_notice(n) for n in decision.notes],
            "engine": decision.engine,
        }


def _notice(n: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"code": n.code, "message": n.message}
    if n.entity is not None:
        data["entity"] = n.entity
    return data


def list_fact(kb: KnowledgeBase) -> str | None:
    """The capability list --add and --drop edit: 'requirements', or the first one a layer declares."""
    lists = [d.id for d in kb.facts.values() if d.type == "capability-list"]
    return "requirements" if "requirements" in lists else (lists[0] if lists else None)


def parse_changes(
    kb: KnowledgeBase,
    editor: FactsEditor,
    *,
    drops: Sequence[str] = (),
    adds: Sequence[str] = (),
    sets: Sequence[str] = (),
    entity: str | None = None,
) -> tuple[Change, ...]:
    """The changes the options name, checked against the vocabulary and the facts: every problem reported."""
    problems: list[Problem] = []
    changes: list[Change] = []
    facts = editor.original
    listed = bool(editor.entity_index)
    needs = {e.name: list(e.values.get(list_fact(kb) or "", [])) for e in facts.entities}
    where = entity if listed else None  # with no legal entities listed, the top level is the one entity

    def capability(option: str, cap: str) -> str | None:
        if cap in kb.capabilities:
            return cap
        problems.append(
            Problem(
                "unknown-capability",
                f"'{cap}' is not a capability{did_you_mean(cap, kb.capabilities)}",
                Location(option),
            )
        )
        return None

    fact_id = list_fact(kb)
    for raw in drops:
        cap = capability("--drop", raw)
        if cap is None or fact_id is None:
            continue
        if where is not None:
            if cap in (editor.own(where).get(fact_id) or []):
                changes.append(Change("drop", fact_id, cap, where))
            elif cap in (editor.value.get(fact_id) or []):
                problems.append(
                    Problem(
                        "shared-requirement",
                        f"'{cap}' is needed by every legal entity (top level), not by {where} alone;"
                        " drop it without --entity",
                        Location("--drop"),
                    )
                )
            else:
                problems.append(Problem("not-needed", f"{where} does not need '{cap}'", Location("--drop")))
            continue
        found = [None, *editor.entity_index] if listed else [None]
        made = [Change("drop", fact_id, cap, w) for w in found if cap in (editor.own(w).get(fact_id) or [])]
        if not made:
            problems.append(
                Problem("not-needed", f"no legal entity of {facts.customer} needs '{cap}'", Location("--drop"))
            )
        changes.extend(made)
    for raw in adds:
        cap = capability("--add", raw)
        if cap is None or fact_id is None:
            continue
        who = [entity] if entity is not None else list(needs)
        if all(cap in needs[name] for name in who):
            problems.append(
                Problem(
                    "already-needed",
                    f"{' and '.join(who)} already need{'s' if len(who) == 1 else ''} '{cap}'",
                    Location("--add"),
                )
            )
            continue
        changes.append(Change("add", fact_id, cap, where))
    for raw in sets:
        change = _parse_set(kb, editor, raw, where, problems)
        if change is not None:
            changes.append(change)
    slots = [c.slot for c in changes]
    for slot in dict.fromkeys(s for s in slots if slots.count(s) > 1):
        clash = [c for c in changes if c.slot == slot]
        option = "--set" if clash[0].kind == "set" else f"--{clash[0].kind}"
        problems.append(
            Problem(
                "conflicting-changes",
                f"'{clash[0]}' is given twice"
                if len(set(clash)) == 1
                else f"{' and '.join(dict.fromkeys(map(str, clash)))} change the same fact; give one",
                Location(option),
            )
        )
    if problems:
        raise BadInput(problems)
    if not changes:
        raise BadInput(
            [Problem("no-changes", "give --target TYPE, or changes: --drop, --add, --set", Location("--target"))]
        )
    return tuple(changes)


def _parse_set(
    kb: KnowledgeBase, editor: FactsEditor, raw: str, where: str | None, problems: list[Problem]
) -> Change | None:
    loc = Location("--set")
    name, eq, text = raw.partition("=")
    name, text = name.strip(), text.strip()
    if not eq or not name:
        problems.append(Problem("bad-value", f"'{raw}' is not FACT=VALUE (e.g. plans_finance=true)", loc))
        return None
    decl = kb.facts.get(name)
    if decl is None:
        known = [d for d in kb.facts if d not in RESERVED_FACT_KEYS]
        problems.append(Problem("unknown-fact", f"'{name}' is not a known fact{did_you_mean(name, known)}", loc))
        return None
    if decl.is_list:
        problems.append(Problem("wrong-type", f"'{name}' is a list; change it with --add and --drop, not --set", loc))
        return None
    value: Scalar
    if decl.type == "boolean":
        lowered = text.lower()
        if lowered not in ("true", "false", "yes", "no"):
            problems.append(Problem("wrong-type", f"{name}: expected true or false, got '{text}'", loc))
            return None
        value = lowered in ("true", "yes")
    elif decl.type == "choice":
        if text not in decl.values:
            hint = did_you_mean(text, decl.values) or f" (one of: {', '.join(decl.values)})"
            problems.append(Problem("unknown-value", f"'{text}' is not a value of '{name}'{hint}", loc))
            return None
        value = text
    elif decl.type in ("number", "integer"):
        try:
            number = int(text) if decl.type == "integer" else float(text)
        except ValueError:
            problems.append(
                Problem(
                    "wrong-type",
                    f"{name}: expected a {'whole ' if decl.type == 'integer' else ''}number, got '{text}'",
                    loc,
                )
            )
            return None
        low = decl.minimum if decl.minimum is not None else -(10**9)
        high = decl.maximum if decl.maximum is not None else 10**9
        if not (math.isfinite(number) and low <= number <= high):
            problems.append(Problem("bad-value", f"{name}: {text} is outside {low:g}..{high:g}", loc))
            return None
        value = int(number) if isinstance(number, float) and number.is_integer() else number
    elif decl.type == "version":
        if not re.match(VERSION_PATTERN, text):
            problems.append(Problem("bad-value", f"{name}: '{text}' is not a version like 10.0.44", loc))
            return None
        value = text
    else:
        if not text:
            problems.append(Problem("bad-value", f"{name}: must not be blank", loc))
            return None
        value = text
    place = where if decl.scope == "entity" else None
    if _same(editor.current(decl, place), value):
        problems.append(Problem("no-change", f"{name} is already {show_value(value)}", loc))
        return None
    return Change("set", name, value, place)


def apply(
    kb: KnowledgeBase,
    doc: Document,
    *,
    drops: Sequence[str] = (),
    adds: Sequence[str] = (),
    sets: Sequence[str] = (),
    entity: str | None = None,
    engine: str = "auto",
) -> Applied:
    """The decision under the given changes, against the original one."""
    editor = FactsEditor(kb, doc)
    entity = resolve_entity(editor.original, entity)
    changes = parse_changes(kb, editor, drops=drops, adds=adds, sets=sets, entity=entity)
    original = evaluate(kb, editor.original, engine=engine)
    return Applied(original, changes, outcome(kb, editor, original, changes, engine))


# -- text ----------------------------------------------------------------------------------------


def _entity_lines(e: EntityOutcome, pad: str, *, always: bool) -> list[str]:
    if not always and e.before == e.after:
        return []
    after = e.after or "no deployment type fits"
    arrow = f"{e.before} -> {after}" if e.before != e.after else f"{after} (unchanged)"
    lines = [f"{pad}{e.name}: {arrow}"]
    if e.gaps:
        lines.append(f"{pad}  gaps: {', '.join(e.gaps)}")
    if e.decided_by is not None:
        d = e.decided_by
        lines.append(f"{pad}  decided by step {d.step}: rule {d.rule} ({d.location}): {d.explanation}")
    if e.no_longer is not None:
        lines.append(f"{pad}  not {e.before}: {e.no_longer}")
    return lines


def search_text(result: SearchResult) -> str:
    customer = result.original.customer
    if result.entity is not None:
        lines = [f"What makes {result.entity} {result.target}? (a legal entity of {customer}; the others may change)"]
    else:
        n = len(result.targets)
        lines = [
            f"What makes every legal entity of {customer} {result.target}?"
            f" ({n} legal {'entity' if n == 1 else 'entities'}: {', '.join(result.targets)})"
        ]
    now = ", ".join(f"{e.name} {e.deployment or 'none'}" for e in result.original.entities)
    lines.append(f"Now: {now}")
    reasons = []
    no_effect = [f for f, r in result.left_out.items() if r == "no-effect"]
    open_value = [f for f, r in result.left_out.items() if r == "open-value"]
    if no_effect:
        reasons.append(f"{', '.join(no_effect)} cannot change a deployment")
    if open_value:
        reasons.append(
            f"{', '.join(open_value)} {'is' if len(open_value) == 1 else 'are'} compared with no value a rule names"
        )
    left_out = f" (not changed: {'; '.join(reasons)})" if reasons else ""
    lines.append(f"{counted(len(result.candidates), 'possible single change')}{left_out}.")
    lines.append(f"{result.message[0].upper()}{result.message[1:]}.")
    if not result.solutions:
        lines.append("No set of changes found.")
        return "\n".join(lines)
    if result.size == 0:
        return "\n".join(lines)
    n = len(result.solutions)
    size = result.size or 0
    lines.append(f"{n} smallest set{'s' if n != 1 else ''} of {size} change{'s' if size != 1 else ''}:")
    for number, solution in enumerate(result.solutions, 1):
        lines.append("")
        lines.append(f"{number:>2}. {'; '.join(str(c) for c in solution.changes)}")
        for e in solution.entities:
            lines.extend(_entity_lines(e, "    ", always=e.target))
    return "\n".join(lines)


def apply_text(applied: Applied) -> str:
    lines = [f"What if, for {applied.original.customer}: {'; '.join(str(c) for c in applied.changes)}"]
    lines.append(
        f"Deployments on the environment: {', '.join(applied.original.deployments) or 'none'}"
        f" -> {', '.join(applied.outcome.decision.deployments) or 'none'}"
    )
    lines.append("")
    for e in applied.outcome.entities:
        lines.extend(_entity_lines(e, "  ", always=True))
    lines.append("")
    other = [d for d in applied.outcome.differences if d.what != "deployment"]
    if not other and all(e.before == e.after for e in applied.outcome.entities):
        lines.append("Nothing else changes.")
    elif not other:
        lines.append("No gap, warning or note changes.")
    else:
        lines.append("What else changes:")
        for d in other:
            subject = f"{d.entity}: " if d.entity else ""
            if d.what == "gaps":
                lines.append(f"  {subject}gaps {d.before} -> {d.after}")
            elif d.what.endswith(" reason"):
                lines.append(f"  {subject}{reason_text(d)}")
            elif d.before == "absent":
                lines.append(f"  {subject}{d.what} {d.after} added")
            else:
                lines.append(f"  {subject}{d.what} {d.before} removed")
    return "\n".join(lines)
