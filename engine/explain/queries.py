"""The explanation queries every renderer shares, in the customer's words.

A trace speaks in ids (`production-orders`, `stocked-production`) and in the file names of the
sources rules cite. What a customer reads names the capability, the product and the document
instead. The queries here answer, once, what the text output, the reports and what-if all ask:
which document a rule cites (a titled link), why a type was chosen (what the entity needs that
rules out the lighter types), every rule behind a warning, and the customer's facts in words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..evaluation.decision import Decision, EntityDecision, Notice
from ..evaluation.derivation import Firing
from ..evaluation.wording import business_explanation, readable
from ..model.fact_types import fact_type
from ..model.terms import Fact, show_value
from ..policy.knowledge import KnowledgeBase
from ..records import record

# A Microsoft Learn article cited by its path in the MicrosoftDocs repository (articles/X.md).
_DOCS_PATH = re.compile(r"[a-z0-9-]+(?:/[A-Za-z0-9_.-]+)*/[A-Za-z0-9_.-]+\.md")
DOCS_SITE = "https://learn.microsoft.com/dynamics365/project-operations/"
_WEB_ADDRESS = re.compile(r"https?://[^\s<>\"']+")


@record
class Citation:
    """One document a rule cites: its title, publisher, date and address where known; else the text as written."""

    text: str
    title: str | None = None
    publisher: str | None = None
    date: str | None = None
    url: str | None = None
    section: str | None = None

    @property
    def label(self) -> str:
        """'Microsoft Learn, "Title" (2026-01-30), section "Deployment types"', or the text as written."""
        if self.title is None:
            return self.text
        label = f'"{self.title}"'
        if self.publisher:
            label = f"{self.publisher}, {label}"
        if self.date:
            label += f" ({self.date})"
        if self.section:
            label += f', section "{self.section}"'
        return label

    @property
    def short(self) -> str:
        """'"Title" (2026-01-30)': for page one, where the appendix gives the rest."""
        if self.title is None:
            return self.text
        return f'"{self.title}"' + (f" ({self.date})" if self.date else "")

    @property
    def brief(self) -> str:
        """'"Title" (2026-01-30), section "Deployment types"': for a line of a trace."""
        if self.title is None:
            return self.text
        return self.short + (f', section "{self.section}"' if self.section else "")

    def as_json(self) -> dict[str, str]:
        data = {"cited": self.text}
        for key in ("title", "publisher", "date", "section", "url"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


def citations(kb: KnowledgeBase, source: str | None) -> tuple[Citation, ...]:
    """The documents a rule's `source` names (several parts are separated by ';')."""
    if not source:
        return ()
    return tuple(citation(kb, part.strip()) for part in source.split(";") if part.strip())


def citation(kb: KnowledgeBase, part: str) -> Citation:
    if part not in kb.sources and _WEB_ADDRESS.fullmatch(part):  # a web address cited as it is: a link to it
        return Citation(part, url=part)
    doc, _, anchor = part.partition("#")
    entry = kb.sources.get(doc)
    if entry is not None:
        sections = dict(entry.sections)
        section = sections.get(anchor) if anchor else None
        if anchor and section is None:
            section = anchor.replace("-", " ").capitalize()
        url = entry.url
        # A page's anchor is part of its address only where it is known to exist: Microsoft Learn makes one
        # of every heading, and an entry's `sections` declare its own; a consultant's document may have none.
        if url and anchor and (anchor in sections or url.startswith(DOCS_SITE)):
            url = f"{url}#{anchor}"
        return Citation(part, entry.title, entry.publisher, entry.date, url, section)
    if _DOCS_PATH.fullmatch(doc):  # an article podeploy has no title for: still a working link
        url = DOCS_SITE + doc[: -len(".md")] + (f"#{anchor}" if anchor else "")
        return Citation(part, doc[: -len(".md")].rsplit("/", 1)[-1].replace("-", " ").capitalize(), "Microsoft Learn",
                        None, url, None)
    return Citation(part)


def cited_text(kb: KnowledgeBase, source: str | None) -> str:
    """Every document a source names, titled, for one line of text."""
    return "; ".join(c.brief for c in citations(kb, source))


def citations_json(kb: KnowledgeBase, source: str | None) -> list[dict[str, str]]:
    return [c.as_json() for c in citations(kb, source)]


def fact_words(kb: KnowledgeBase, fact: Fact) -> str:
    """One of the customer's facts as a sentence: 'Contoso Robotics needs revenue recognition'."""
    decl = kb.facts.get(fact.predicate)
    entity = fact.get("entity")
    value = fact.get("value")
    if decl is None:
        return ", ".join(f"{k}: {show_value(v)}" for k, v in fact.as_dict().items())
    if fact_type(decl).domain(decl) == "capability":
        return f"{entity or 'The customer'} needs {kb.capability_words(str(value))}"
    # The description's first sentence says what the fact is; the rest is for whoever writes policies.
    # (up to a colon: 'The system that keeps the books after go-live: Finance, another ERP, or none' lists values).
    about = re.split(r"(?<=\.)\s", " ".join((decl.description or decl.id).split()), maxsplit=1)[0].rstrip(". ")
    about = about.split(": ", 1)[0]
    if isinstance(value, bool):
        shown = "yes" if value else "no"
    else:
        shown = readable(kb, value, f"fact:{decl.id}")
        if shown == show_value(value) and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", shown):
            shown = shown.replace("-", " ")  # a choice as a phrase: 'finance project management'
    return f"{entity}: {about}: {shown}" if entity is not None else f"{about}: {shown}"


# -- the queries --------------------------------------------------------------------------------------------------


def reasons_against(decision: Decision, entity: EntityDecision, type_id: str) -> list[Firing]:
    """Every firing that concluded a reason (a why-not fact) against type_id for the entity, in trace order,
    one per rule and explanation."""
    against = {pid for pid, p in decision.kb.predicates.items() if p.role == "why-not"}
    found: list[Firing] = []
    seen: set[tuple[str, str]] = set()
    for firing in decision.trace:
        if not any(
            c.predicate in against and c.get("entity") == entity.name and c.get("type") == type_id
            for c in firing.conclusions
        ):
            continue
        key = (firing.clause.rule.id, firing.explanation)
        if key not in seen:
            seen.add(key)
            found.append(firing)
    return found


def deciding_reasons(decision: Decision, entity: EntityDecision) -> list[tuple[str, list[Firing]]]:
    """What rules out each lighter type than the one chosen (lightest first): the needs that decided it."""
    kb = decision.kb
    if entity.deployment not in kb.types:
        return []
    rank = kb.types[entity.deployment].rank
    return [
        (t.id, reasons_against(decision, entity, t.id)) for t in kb.types_by_rank() if t.rank < rank
    ]


def notice_steps(decision: Decision, notice: Notice) -> list[int]:
    """The steps behind a warning or note, one per rule and explanation: a merged message keeps all its rules."""
    found: list[int] = []
    seen: set[tuple[str, str]] = set()
    for step in notice.steps:
        firing = decision.trace[step]
        key = (firing.clause.rule.id, firing.explanation)
        if key not in seen:
            seen.add(key)
            found.append(step)
    return found


def notice_firings(decision: Decision, notice: Notice) -> list[Firing]:
    """The firings of notice_steps."""
    return [decision.trace[step] for step in notice_steps(decision, notice)]


def notice_words(decision: Decision, notice: Notice) -> str:
    """A warning or note as the customer reads it: each rule's explanation, types and capabilities by name."""
    firings = notice_firings(decision, notice)
    return " ".join(business_explanation(decision.kb, f) for f in firings) if firings else notice.message


def customer_facts(decision: Decision, firings: Iterable[Firing]) -> list[Fact]:
    """The customer's own facts (from the facts file or a default) the firings rest on, in order of first use."""
    seen: set[Fact] = set()
    found: list[Fact] = []
    pending = [fact for firing in firings for fact in (*firing.matched, *firing.counted)]
    pending.reverse()
    while pending:
        fact = pending.pop()
        if fact in seen:
            continue
        seen.add(fact)
        step = decision.step_of(fact)
        if step is not None:
            firing = decision.trace[step]
            pending.extend(reversed((*firing.matched, *firing.counted)))
        elif fact.predicate in decision.kb.facts:
            found.append(fact)
    return found


@record
class Step:
    """One firing in an entity's derivation."""

    number: int
    firing: Firing

    @property
    def rule(self) -> str:
        return self.firing.clause.rule.id


def deployment_facts(decision: Decision, entity: EntityDecision) -> list[Fact]:
    """The deployment conclusions behind the entity's recommended type."""
    roles = {pid for pid, pred in decision.kb.predicates.items() if pred.role == "deployment"}
    return [
        fact
        for pid in sorted(roles)
        for fact in decision.store.of(pid)
        if fact.get("entity") == entity.name and fact.get("type") == entity.deployment
    ]


def derivation(decision: Decision, facts: Iterable[Fact]) -> tuple[list[Step], list[Fact]]:
    """Every firing the facts rest on (in trace order) and the given facts at the leaves (in order of first use)."""
    steps: set[int] = set()
    leaves: dict[Fact, Fact] = {}
    pending = list(facts)
    while pending:
        fact = pending.pop()
        number = decision.step_of(fact)
        if number is None:
            leaves.setdefault(fact, fact)
            continue
        if number in steps:
            continue
        steps.add(number)
        firing = decision.trace[number]
        pending.extend(reversed(firing.matched + firing.counted))
    ordered = [Step(n, decision.trace[n]) for n in sorted(steps)]
    given: list[Fact] = []
    for step in ordered:
        for fact in step.firing.matched + step.firing.counted:
            if fact in leaves and fact not in given:
                given.append(fact)
    given.extend(f for f in leaves if f not in given)
    return ordered, given


def deciding_step(decision: Decision, entity: EntityDecision) -> int | None:
    """The step that decides the entity's deployment: the fit behind it, or the rule that moved it there."""
    for fact in deployment_facts(decision, entity):
        step = decision.step_of(fact)
        if step is None:
            continue
        for matched in decision.trace[step].matched:
            inner = decision.step_of(matched)
            # Follow the fit behind the deployment only when it chose the same type (not a promotion).
            if inner is not None and matched.get("type") == entity.deployment:
                return inner
        return step
    return None
