"""Open questions: the facts a facts file leaves unanswered that could still change the advice.

A fact left out is unknown, not "no". A fact is an open question when some way of answering it, and
the other open facts, gives a different deployment for some legal entity or adds or removes a
warning: the questionnaire's own analysis (podeploy.engine.analysis.search) decides it, over the same
knowledge base. A requirements list that is given is complete; when no requirements are given
anywhere, the requirements themselves are open.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from ..evaluation.decision import Decision
from ..facts.questions import ABSENT, Question, Value
from ..facts.reading import FactsInput
from ..policy.knowledge import KnowledgeBase
from ..records import record
from .cone import clause_atoms
from .inquiry import Inquiry, analyzer_for
from .search import Analysis, Analyzer


@record
class OpenQuestion:
    """An unanswered fact (for one legal entity, or customer-wide) and what its answer could change."""

    fact: str
    entity: str | None  # the legal entity it is asked of; None for the customer as a whole
    question: str
    could_change: tuple[str, ...]  # "deployment" first, then the warning codes it could add or remove
    deployments_of: tuple[str, ...]  # the legal entities whose deployment it could change

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {"fact": self.fact}
        if self.entity is not None:
            data["entity"] = self.entity
        data["question"] = self.question
        data["could_change"] = list(self.could_change)
        return data


@dataclass(slots=True)
class OpenQuestions:
    """Every open question of one facts file, and which legal entities' deployments are provisional."""

    questions: list[OpenQuestion]
    provisional: set[str]  # legal entities whose deployment an open question could change
    exact: bool  # False when the analysis had to sample: a question may be missing
    # True when the customer has too many legal entities to analyse: every unanswered fact the rules
    # carry to the advice is listed, some of which may change nothing for this customer.
    coarse: bool = False


def session_for(kb: KnowledgeBase, facts: FactsInput) -> Inquiry:
    """A questionnaire session holding every answer the facts file gives (the rest open)."""
    names = [e.name for e in facts.entities] if facts.listed else []
    session = Inquiry(analyzer_for(kb), facts.customer, names)
    listed_anywhere = {fact for fact, _ in facts.given if kb.facts[fact].is_list}
    for q in session.questions:
        value = _answer(kb, facts, q, listed_anywhere)
        if value is not ABSENT:
            session.answers[q.key] = value
    return session


def _answer(kb: KnowledgeBase, facts: FactsInput, q: Question, listed: set[str]) -> Value:
    decl = kb.facts[q.fact]
    entity_name = facts.entities[q.entity].name if q.entity is not None else None
    said_unknown = {q.item or q.fact}
    if any((name, None) in facts.unknown or (name, entity_name) in facts.unknown for name in said_unknown):
        return ABSENT  # asked, and not known: still open
    if q.entity is None:
        if (q.fact, None) not in facts.given:
            return ABSENT
        value = facts.values[q.fact]
    else:
        entity = facts.entities[q.entity]
        if decl.is_list:
            if q.fact not in listed:  # no list given anywhere: unknown, not "none needed"
                return ABSENT
        elif (q.fact, None) not in facts.given and (q.fact, entity.name) not in facts.given:
            return ABSENT
        value = entity.values.get(q.fact, [] if decl.is_list else None)
    if q.item is not None:
        return q.item in (value or [])
    return ABSENT if value is None else value


def open_questions(kb: KnowledgeBase, facts: FactsInput) -> OpenQuestions:
    """The open questions of a facts file, in the order the questionnaire would consider them.

    When the requirements themselves are unknown (no capability list given anywhere), almost every
    fact the rules read could matter for some answer: then each unanswered fact that the rules carry
    to a deployment or a warning is an open question, with what it can reach, without the exact
    analysis (which would have to try every combination of needs).
    """
    session = session_for(kb, facts)
    analyzer = session.analyzer
    given_lists = {fact for fact, _ in facts.given if kb.facts[fact].is_list}
    unknown_lists = [
        d.id for d in kb.capability_lists() if d.id in analyzer.cone.predicates and d.id not in given_lists
    ]
    if unknown_lists:
        return _reachable(kb, facts, session, unknown_lists)
    if len(facts.entities) > analyzer.limits.exact_entities:  # too many to analyse: what the rules can reach
        found = _reachable(kb, facts, session, [])
        found.coarse = True
        return found
    return _grouped(kb, facts, session, session.analysis())


def _reachable(kb: KnowledgeBase, facts: FactsInput, session: Inquiry, first: list[str]) -> OpenQuestions:
    """Every unanswered fact the rules carry to the advice, with the deployments and warnings it can reach;
    the unknown lists (the requirements) first."""
    analyzer = session.analyzer
    names = [e.name for e in facts.entities]
    questions: list[OpenQuestion] = []
    seen: set[tuple[str, int | None]] = set()
    ordered = sorted(session.questions, key=lambda q: q.fact not in first)  # the unknown lists first
    for q in ordered:
        group = (q.fact, q.entity)
        if q.key in session.answers or group in seen or not analyzer.may_matter(q):
            continue
        seen.add(group)
        reach = reached(analyzer, q.fact)
        if not reach:
            continue
        decl = kb.facts[q.fact]
        entity = names[q.entity] if q.entity is not None and facts.listed else None
        text = " ".join(decl.question.split())
        if entity is not None:
            text = f"{entity}: {text}"
        deployments = tuple(names) if "deployment" in reach else ()
        questions.append(OpenQuestion(q.fact, entity, text, reach, deployments))
    provisional = {name for q in questions for name in q.deployments_of}
    # Every fact that could matter is listed (what it could change may be less than said): complete.
    return OpenQuestions(_deciding_first(questions), provisional, exact=True)


def reached(analyzer: Analyzer, fact: str) -> tuple[str, ...]:
    """What a fact can reach through the rules of the advice: 'deployment' and warning codes."""
    kb = analyzer.kb
    roles = {p: pred.role for p, pred in kb.predicates.items()}
    deployment = False
    codes: set[str] = set()
    todo, done = [fact], set()
    while todo:
        predicate = todo.pop()
        if predicate in done:
            continue
        done.add(predicate)
        for rule in analyzer.cone.rules:
            if not any(a.predicate == predicate for c in rule.clauses for _, a in clause_atoms(c)):
                continue
            for c in rule.conclusions:
                role = roles.get(c.predicate)
                if role == "deployment":
                    deployment = True
                elif role == "warning":
                    code = dict(c.values).get("code")
                    if isinstance(code, str):
                        codes.add(code)
                todo.append(c.predicate)
    return (*(["deployment"] if deployment else []), *sorted(codes))


def of_decision(decision: Decision) -> OpenQuestions:
    """The open questions behind a decision, analysed once."""
    if decision.open_analysis is None:
        decision.open_analysis = open_questions(decision.kb, decision.facts)
    found: OpenQuestions = decision.open_analysis
    return found


def _grouped(kb: KnowledgeBase, facts: FactsInput, session: Inquiry, analysis: Analysis) -> OpenQuestions:
    names = [e.name for e in facts.entities]
    order: list[tuple[str, int | None]] = []
    changes: dict[tuple[str, int | None], set[tuple[object, ...]]] = {}
    position = {q.key: i for i, q in enumerate(session.questions)}
    for key in sorted(analysis.relevant, key=position.__getitem__):  # in the vocabulary's order
        q = session.question(key)
        group = (q.fact, q.entity)
        if group not in changes:
            order.append(group)
            changes[group] = set()
        changes[group] |= analysis.changes.get(key, set())
    questions = []
    provisional: set[str] = set()
    for fact, index in order:
        decl = kb.facts[fact]
        entity = names[index] if index is not None and facts.listed else None
        text = " ".join(decl.question.split())
        if entity is not None:
            text = f"{entity}: {text}"
        deployments = sorted({names[int(str(c[1]))] for c in changes[(fact, index)] if c[0] == "deployment"})
        provisional.update(deployments)
        questions.append(
            OpenQuestion(fact, entity, text, _could_change(changes[(fact, index)]), tuple(deployments))
        )
    return OpenQuestions(_deciding_first(questions), provisional, analysis.exact)


def _deciding_first(questions: list[OpenQuestion]) -> list[OpenQuestion]:
    """The questions that could change a deployment first, then those that could change a warning."""
    return sorted(questions, key=lambda q: "deployment" not in q.could_change)


def _could_change(changes: Iterable[tuple[object, ...]]) -> tuple[str, ...]:
    codes: set[str] = set()
    deployment = False
    for change in changes:
        if change[0] == "deployment":
            deployment = True
        elif change[0] == "warning":
            _, values = json.loads(str(change[2]))
            code = dict(values).get("code")
            if code is not None:
                codes.add(str(code))
    return (*(["deployment"] if deployment else []), *sorted(codes))
