"""Applying changes: the changes the options name, checked, and a set of changes evaluated against the original.

parse_changes() turns --drop, --add and --set into changes, reporting every problem at once;
outcome() evaluates a set of changes and says, per legal entity, what decides its type now and why
its former type no longer fits; apply() does both for the changes the options name.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import BadInput, Location, Problem, did_you_mean
from ...evaluation.decision import Decision, EntityDecision
from ...evaluation.derivation import Firing
from ...evaluation.evaluate import evaluate
from ...evaluation.wording import business_explanation
from ...explain.queries import cited_text, deciding_step, reasons_against
from ...facts.reading import FactsInput
from ...io.loader import Document
from ...model.fact_types import ValueProblem, fact_type
from ...model.terms import Scalar, show_value
from ...policy.knowledge import RESERVED_FACT_KEYS, KnowledgeBase
from ..diffing import differences
from .answer import Applied, EntityOutcome, KeyStep, Outcome
from .changes import Change, FactsEditor, _same

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
            no_longer = reason_against(decision, e, was)
        entities.append(
            EntityOutcome(e.name, e.name in targets, was, e.deployment, e.gaps, key_step(decision, e), no_longer)
        )
    return Outcome(changes, decision, entities, differences(original, decision))


def reason_against(decision: Decision, entity: EntityDecision, type_id: str) -> str | None:
    """The first recorded reason against a type for an entity (a why-not conclusion), or None."""
    found = reasons_against(decision, entity, type_id)
    if not found:
        return None
    firing = found[0]
    rule = firing.clause.rule
    source = cited_text(decision.kb, rule.source)  # the documents by title, never a file name
    return f"{business_explanation(decision.kb, firing)} (rule {rule.id}, {rule.location}" + (
        f"; {source})" if source else ")"
    )


def key_step(decision: Decision, entity: EntityDecision) -> KeyStep | None:
    """The firing that decides the entity's deployment: the fit behind it, or the rule that moved it."""
    step = deciding_step(decision, entity)
    return None if step is None else _key(decision.kb, step, decision.trace[step])


def _key(kb: KnowledgeBase, step: int, firing: Firing) -> KeyStep:
    rule = firing.clause.rule
    return KeyStep(step, rule.id, str(rule.location), rule.layer, rule.source, business_explanation(kb, firing))


# -- the changes the options name ----------------------------------------------------------------


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


def list_fact(kb: KnowledgeBase) -> str | None:
    """The capability list --add and --drop edit: 'requirements', or the first one a layer declares."""
    lists = [d.id for d in kb.capability_lists()]
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
    parsed = fact_type(decl).parse(decl, text, name)
    if isinstance(parsed, ValueProblem):
        problems.append(Problem(parsed.code, parsed.message, loc))
        return None
    value: Scalar = parsed
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
