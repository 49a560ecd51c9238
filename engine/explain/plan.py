"""What a customer's deployment plan says, computed once from a Decision for every format of the report.

Page one is the decision: the fit verdict when Project Operations may be the wrong tool, the
recommendation per legal entity (today's product name, the seed's name beside it), the environments
to provision, the traps, the open questions and the next steps per type. Then, per legal entity,
why its type (what rules out the lighter ones first), why not each heavier one, its gaps and notes.
The appendix holds the capability matrix, each derivation step by step, and the sources.

Everything is in the customer's words (explain.py): capabilities and types by name, sources by
title. Nothing here reasons; it only selects and orders what the rules concluded.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence

from ..analysis.openquestions import OpenQuestion, of_decision
from ..evaluation.decision import Decision, EntityDecision, Notice
from ..evaluation.derivation import Firing
from ..evaluation.wording import business_explanation
from ..model.terms import Fact, NextStep
from ..records import record
from .brand import Brand
from .queries import (
    Citation,
    citations,
    customer_facts,
    deciding_reasons,
    deciding_step,
    deployment_facts,
    derivation,
    fact_words,
    notice_firings,
    reasons_against,
)
from .render import COARSE_NOTE


@record
class Said:
    """One statement in the customer's words, with the rule behind it and the documents it cites."""

    text: str
    rule: str | None = None
    location: str | None = None
    layer: str | None = None
    cites: tuple[Citation, ...] = ()


@record
class EntityPlan:
    name: str
    type_id: str | None
    type_name: str | None  # today's name
    seed_name: str | None  # the name the seed gives, where it differs
    provisional: bool
    finance: bool
    needs: tuple[str, ...]  # capability names
    gaps: tuple[str, ...]  # capability names
    chosen: tuple[Said, ...]  # what decided the type
    lighter: tuple[tuple[str, tuple[Said, ...]], ...]  # (type name, every reason it was ruled out), lightest first
    heavier: tuple[tuple[str, tuple[Said, ...]], ...]  # (type name, why not), for the types above the chosen one
    gap_notes: tuple[Said, ...]  # what the knowledge says about the gaps
    notes: tuple[Said, ...]  # the notes about this legal entity


@record
class Question:
    text: str  # the questions, with the legal entities each is open for
    changes: str  # what an answer could change


@record
class Environment:
    text: str
    entities: tuple[str, ...]


@record
class Steps:
    heading: str
    steps: tuple[Said, ...]


@record
class DerivationStep:
    number: int
    said: Said


@record
class Derivation:
    entity: str
    steps: tuple[DerivationStep, ...]
    facts: tuple[tuple[str, str], ...]  # (the customer's fact in words, where it was given)


@record
class MatrixLine:
    capability: str  # its name
    offered: tuple[bool, ...]
    needed_by: tuple[tuple[str, bool], ...]  # (entity, is it a gap for that entity)


@record
class SourceLine:
    citation: Citation
    rules: tuple[str, ...]


@record
class Plan:
    customer: str
    date: str
    facts_source: str
    generator: str
    engine: str
    firings: int
    paper: str
    brand: Brand | None
    knowledge: tuple[str, ...]
    workshop: str | None  # the workshop the facts come from, in a sentence
    fit: tuple[Said, ...]
    fit_warning: bool  # the fit says Project Operations may be the wrong tool
    entities: tuple[EntityPlan, ...]
    environments: tuple[Environment, ...]
    traps: tuple[Said, ...]
    questions: tuple[Question, ...]
    questions_complete: bool
    questions_note: str | None
    next_steps: tuple[Steps, ...]
    other_notes: tuple[Said, ...]
    types: tuple[str, ...]  # type names, lightest first (the matrix's columns)
    matrix: tuple[MatrixLine, ...]
    derivations: tuple[Derivation, ...]
    sources: tuple[SourceLine, ...]


TITLE = "Project Operations deployment plan"


def fit_heading(p: Plan) -> str:
    """The fit verdict's heading: asked first when Project Operations may be the wrong tool."""
    return "First: is Project Operations the right tool?" if p.fit_warning else "Is Project Operations the right tool?"


def status_word(entity_provisional: bool) -> str:
    """A legal entity's recommendation as settled, or provisional (an open question could still change it)."""
    return "Provisional" if entity_provisional else "Settled"


def version() -> str:
    try:
        from podeploy import __version__
    except ImportError:  # pragma: no cover - the engine used without its package
        return "podeploy"
    return f"podeploy {__version__}"


def check_date(value: str | None) -> str:
    """The report's date: YYYY-MM-DD as given, or today's."""
    if value is None:
        return datetime.date.today().isoformat()
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError(value)
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        from ..errors import Location, bad

        raise bad("bad-value", f"'{value}' is not a date like 2026-12-01 (YYYY-MM-DD)", Location("--date")) from None


def _said(decision: Decision, firing: Firing) -> Said:
    rule = firing.clause.rule
    kb = decision.kb
    return Said(business_explanation(kb, firing), rule.id, str(rule.location), rule.layer, citations(kb, rule.source))


def _reasons_said(decision: Decision, firings: Sequence[Firing]) -> tuple[Said, ...]:
    """The reasons against a type, one statement per need: two rules that matched the same need (one
    saying the type lacks it, the other ruling the type out for it) read as one statement, the verdict,
    citing both rules' documents."""
    groups: dict[tuple[tuple[str, object], ...], list[Firing]] = {}
    for firing in firings:
        groups.setdefault(tuple(sorted(firing.bindings)), []).append(firing)
    said: list[Said] = []
    for group in groups.values():
        verdict = min(group, key=_verdict_rank)
        first = _said(decision, verdict)
        cites = list(first.cites)
        for other in group:
            cites.extend(c for c in citations(decision.kb, other.clause.rule.source) if c not in cites)
        said.append(Said(first.text, first.rule, first.location, first.layer, tuple(cites)))
    return tuple(said)


def _verdict_rank(firing: Firing) -> int:
    """Fewer fields in what a reason concludes make it more of a verdict ("ruled out" over "lacks X")."""
    return min((len(c.values) for c in firing.conclusions), default=0)


def _notice_said(decision: Decision, notice: Notice) -> tuple[Said, ...]:
    firings = notice_firings(decision, notice)
    if not firings:
        return (Said(notice.message),)
    return tuple(_said(decision, f) for f in firings)


def _entity_plan(decision: Decision, entity: EntityDecision, provisional: bool, fit_codes: set[str]) -> EntityPlan:
    kb = decision.kb
    # A policy may conclude a deployment that names no deployment type: nothing to recommend, then.
    type_id = entity.deployment if entity.deployment in kb.types else None
    dtype = kb.types.get(type_id) if type_id is not None else None
    name = kb.type_name(type_id) if dtype is not None and type_id is not None else None
    seed = dtype.name if dtype is not None and dtype.name != name else None

    def cap(c: str) -> str:
        return kb.capabilities[c].name if c in kb.capabilities else c

    step = deciding_step(decision, entity)
    deciding = deciding_reasons(decision, entity)
    shown = {id(f) for _, firings in deciding for f in firings}
    chosen = (
        (_said(decision, decision.trace[step]),) if step is not None and id(decision.trace[step]) not in shown else ()
    )
    lighter = tuple((kb.type_name(t), _reasons_said(decision, firings)) for t, firings in deciding)
    heavier = []
    rank = dtype.rank if dtype is not None else -1
    for other in kb.types_by_rank():
        if other.id == type_id or other.rank < rank:
            continue
        found = _reasons_said(decision, reasons_against(decision, entity, other.id))
        # No rule ruled the heavier type out: the chosen one is lighter, and the step that chose it (which the
        # deciding reasons may already show, as for a legal entity promoted to share an environment) says why.
        if not found and step is not None:
            decided = chosen[0] if chosen else _said(decision, decision.trace[step])
            lighter_name = name or "The recommended type"
            found = (Said(f"{lighter_name} is lighter and already offers what is needed.", decided.rule,
                          decided.location, decided.layer, decided.cites),)
        heavier.append((kb.type_name(other.id), found))
    gap_notes = tuple(
        said
        for n in decision.warnings
        if n.code == "capability-gap" and n.entity == entity.name
        for said in _notice_said(decision, n)
    )
    notes = tuple(
        said
        for n in decision.notes
        if n.entity == entity.name and n.code not in fit_codes
        for said in _notice_said(decision, n)
    )
    return EntityPlan(
        entity.name,
        type_id,
        name,
        seed,
        provisional,
        bool(dtype is not None and dtype.finance),
        tuple(cap(c) for c in entity.needs),
        tuple(cap(c) for c in entity.gaps),
        chosen,
        lighter,
        tuple(heavier),
        gap_notes,
        notes,
    )


def _environments(decision: Decision, entities: Sequence[EntityPlan]) -> tuple[Environment, ...]:
    kb = decision.kb
    finance = tuple(e.name for e in entities if e.finance)
    core = tuple(e.name for e in entities if e.type_id is not None and not e.finance)
    none = tuple(e.name for e in entities if e.type_id is None)
    found = []
    if finance:
        types = sorted({e.type_id for e in entities if e.finance and e.type_id}, key=lambda t: kb.types[t].rank)
        names = " and ".join(kb.type_name(t) for t in types)
        shared = ", shared by" if len(finance) > 1 else ", for"
        found.append(Environment(f"Dynamics 365 Finance with Project Operations ({names}){shared}", finance))
    if core:
        types = sorted({e.type_id for e in entities if e.type_id and not e.finance}, key=lambda t: kb.types[t].rank)
        text = " and ".join(kb.type_name(t) for t in types) + " (Dataverse only)"
        if finance:
            text += ", in a Dataverse environment of its own, not the Finance-connected one, for"
        else:
            text += ", for"
        found.append(Environment(text, core))
    if none:
        found.append(Environment("No deployment type fits; nothing to provision yet for", none))
    return tuple(found)


def _changes(decision: Decision, could_change: Sequence[str]) -> str:
    """What an answer could change, for a customer: the recommendation first, else the advice it could change."""
    kb = decision.kb
    if "deployment" in could_change:
        return "the recommendation"
    described = []
    for c in could_change:
        code = kb.codes.get(c)
        text = code.description.rstrip(". ") if code is not None and code.description else c
        if text not in described:
            described.append(text)
    return "the advice: " + "; ".join(described)


def _questions(decision: Decision, found: Sequence[OpenQuestion]) -> tuple[Question, ...]:
    """The open questions, one line per thing they could change (so that page one stays one page): the legal
    entities each is open for named after it, questions that could change the same advice together."""
    by_text: dict[tuple[str, str], list[str]] = {}
    for q in found:
        text = " ".join(decision.kb.facts[q.fact].question.split()) if q.fact in decision.kb.facts else q.question
        names = by_text.setdefault((text, _changes(decision, q.could_change)), [])
        if q.entity is not None and q.entity not in names:
            names.append(q.entity)
    by_change: dict[str, list[str]] = {}
    for (text, changes), names in by_text.items():
        by_change.setdefault(changes, []).append(text + (f" (for {', '.join(names)})" if names else ""))
    return tuple(Question(" ".join(texts), changes) for changes, texts in by_change.items())


def _next_steps(decision: Decision, entities: Sequence[EntityPlan]) -> tuple[tuple[Steps, ...], tuple[Said, ...]]:
    """The steps per type used (lightest first), and the cautions of those types (each said once)."""
    kb = decision.kb
    used = sorted({e.type_id for e in entities if e.type_id}, key=lambda t: kb.types[t].rank)

    def said(step: NextStep) -> Said:
        return Said(" ".join(step.text.split()), None, str(step.location), step.layer, citations(kb, step.source))

    found = []
    cautions: dict[str, Said] = {}
    for t in used:
        names = ", ".join(e.name for e in entities if e.type_id == t)
        steps = tuple(said(s) for s in kb.next_steps.get(t, []) if not s.caution)
        for s in kb.next_steps.get(t, []):
            if s.caution:
                cautions.setdefault(" ".join(s.text.split()), said(s))
        if steps:
            found.append(Steps(f"{kb.type_name(t)} ({names})", steps))
    return tuple(found), tuple(cautions.values())


def _derivation(decision: Decision, entity: EntityDecision) -> Derivation:
    steps, _ = derivation(decision, deployment_facts(decision, entity))
    # The recommendation rests on what rules out the lighter types and on the facts of every legal entity
    # whose advice the steps read (the one whose manufacturing brings Finance, for an entity that joins its
    # environment), then on the rest of what the entity needs (every need the type offers).
    named = {str(c.get("entity")) for s in steps for c in s.firing.conclusions if c.get("entity") is not None}
    involved = [entity, *(e for e in decision.entities if e is not entity and e.name in named)]
    deciding = [f for e in involved for _, found in deciding_reasons(decision, e) for f in found]
    lists = {d.id for d in decision.kb.capability_lists()}
    needs = [f for f in decision.facts.ground if f.predicate in lists and f.get("entity") == entity.name]
    facts = list(dict.fromkeys([*customer_facts(decision, [*deciding, *(s.firing for s in steps)]), *needs]))
    shown = tuple((fact_words(decision.kb, f), _origin(f)) for f in facts)
    return Derivation(
        entity.name,
        tuple(DerivationStep(n, _said(decision, s.firing)) for n, s in enumerate(steps, 1)),
        shown,
    )


def _origin(fact: Fact) -> str:
    if fact.origin is None:
        return "given"
    where = str(fact.origin)
    return f"default in {where}" if where.startswith("policies/") else where


def _matrix(decision: Decision) -> tuple[tuple[str, ...], tuple[MatrixLine, ...]]:
    kb = decision.kb
    types = kb.types_by_rank()
    lines = []
    for cap in kb.capabilities.values():
        offered = tuple(cap.id in kb.offered(t.id) for t in types)
        needed = tuple((e.name, cap.id in e.gaps) for e in decision.entities if cap.id in e.needs)
        lines.append(MatrixLine(cap.name, offered, needed))
    return tuple(kb.type_name(t.id) for t in types), tuple(lines)


def _sources(decision: Decision, extra: Sequence[Said]) -> tuple[SourceLine, ...]:
    kb = decision.kb
    by_text: dict[str, tuple[Citation, list[str]]] = {}
    for firing in decision.trace:
        rule = firing.clause.rule
        for c in citations(kb, rule.source):
            key = c.url.split("#")[0] if c.url else c.text.split("#")[0]
            entry = by_text.setdefault(key, (c, []))
            if rule.id not in entry[1]:
                entry[1].append(rule.id)
    for said in extra:
        for c in said.cites:
            key = c.url.split("#")[0] if c.url else c.text.split("#")[0]
            by_text.setdefault(key, (c, []))
    lines = []
    for citation, rules in by_text.values():
        whole = Citation(citation.text.split("#")[0], citation.title, citation.publisher, citation.date,
                         citation.url.split("#")[0] if citation.url else None, None)
        lines.append(SourceLine(whole, tuple(rules)))
    return tuple(sorted(lines, key=lambda s: s.citation.label.lower()))


def plan(decision: Decision, *, date: str | None = None, brand: Brand | None = None, paper: str = "a4") -> Plan:
    """Everything the report shows, in the order it shows it."""
    kb = decision.kb
    open_ = of_decision(decision)
    # Whether Project Operations fits at all (codes marked `fit`) comes first, before the recommendation.
    fit_codes = {c.id for c in kb.codes.values() if c.fit}
    entities = tuple(_entity_plan(decision, e, e.name in open_.provisional, fit_codes) for e in decision.entities)
    fit_warning = any(n.code in fit_codes for n in decision.warnings)
    fit = tuple(
        s for n in (*decision.warnings, *decision.notes) if n.code in fit_codes for s in _notice_said(decision, n)
    )
    traps = tuple(s for n in decision.warnings if n.code not in fit_codes for s in _notice_said(decision, n))
    other = tuple(
        s for n in decision.notes if n.entity is None and n.code not in fit_codes for s in _notice_said(decision, n)
    )
    questions = _questions(decision, open_.questions)
    note = None
    if open_.coarse:
        note = COARSE_NOTE
    elif not open_.exact:
        note = "found by sampling the possible answers: there may be others"
    knowledge = tuple(
        f"{layer.title or layer.name} ({'as of ' + layer.as_of if layer.as_of else 'undated'})" for layer in kb.layers
    )
    steps, cautions = _next_steps(decision, entities)
    types, matrix = _matrix(decision)
    everything = [*fit, *traps, *cautions, *other, *(s for st in steps for s in st.steps)]
    return Plan(
        decision.customer,
        check_date(date),
        decision.facts.source,
        version(),
        decision.engine,
        len(decision.trace),
        paper,
        brand,
        knowledge,
        decision.facts.workshop.text() if decision.facts.workshop is not None else None,
        fit,
        fit_warning,
        entities,
        _environments(decision, entities),
        (*traps, *cautions),
        questions,
        open_.exact and not open_.coarse,
        note,
        steps,
        other,
        types,
        matrix,
        tuple(_derivation(decision, e) for e in decision.entities),
        _sources(decision, everything),
    )
