"""The questions the vocabulary asks, and ABSENT, the answer "don't know".

One question per scalar fact and one per item (capability or choice) of a list fact, customer-wide or per
legal entity, in the vocabulary's order; each is known by its key (`fact`, `fact:item`, with `@entity`).
Questions come from the policies alone: the questionnaire asks them, an answers file answers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..model.fact_types import NUMBER_LIMIT, fact_type
from ..model.terms import FactDecl, Scalar
from ..policy.knowledge import KnowledgeBase
from ..records import record


class Absent:
    """A fact left unanswered ('?', don't know): its default applies, or it stays unknown."""

    _instance: Absent | None = None

    def __new__(cls) -> Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Final = Absent()
Value = Scalar | Absent


@record
class Question:
    """One question: a scalar fact, or one item (capability or choice) of a list fact; customer-wide or per entity."""

    key: str
    fact: str
    item: str | None
    entity: int | None
    text: str
    kind: str  # yes-no | boolean | choice | integer | number | version | text
    choices: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None  # the lowest and highest number an answer may be

    @property
    def range_words(self) -> str:
        """' from 1 to 50' for a number the declaration bounds; '' where only the engine's range applies."""
        if self.bounds is None:
            return ""
        low, high = (_number_words(b) for b in self.bounds)
        if self.bounds[0] > -NUMBER_LIMIT and self.bounds[1] < NUMBER_LIMIT:
            return f" from {low} to {high}"
        if self.bounds[0] > -NUMBER_LIMIT:
            return f" of at least {low}"
        if self.bounds[1] < NUMBER_LIMIT:
            return f" of at most {high}"
        return ""

    @property
    def hint(self) -> str:
        """The answers the question takes, shown after it."""
        if self.kind in ("yes-no", "boolean"):
            return "[y/n/?]"
        if self.kind == "choice":
            return "[" + "/".join(self.choices) + "/?]"
        if self.kind == "version":
            return "[a version like 10.0.44, or ?]"
        if self.kind in ("integer", "number"):
            return f"[{'a whole number' if self.kind == 'integer' else 'a number'}{self.range_words}, or ?]"
        return "[text, or ?]"


def _number_words(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def question_key(fact: str, item: str | None, entity: int | None) -> str:
    """A question's key: the fact, its item after a colon, the entity's index after an at sign."""
    key = fact if item is None else f"{fact}:{item}"
    return key if entity is None else f"{key}@{entity}"


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def all_questions(kb: KnowledgeBase, customer: str, entities: Sequence[str]) -> list[Question]:
    """Every question the vocabulary can ask of this customer and its legal entities, in vocabulary order."""
    several = len(entities) > 0
    names = list(entities) if several else [customer]
    out: list[Question] = []
    for decl in kb.facts.values():
        if decl.scope == "customer":
            out.extend(_questions_for(kb, decl, None, "the customer", ""))
    for decl in kb.facts.values():
        if decl.scope == "entity":
            for e, name in enumerate(names):
                who = name if several else "the customer"
                prefix = f"{name}: " if several else ""
                out.extend(_questions_for(kb, decl, e, who, prefix))
    return out


def _questions_for(kb: KnowledgeBase, decl: FactDecl, entity: int | None, who: str, prefix: str) -> list[Question]:
    if not decl.is_list:
        kind = fact_type(decl)
        return [
            Question(
                question_key(decl.id, None, entity),
                decl.id,
                None,
                entity,
                prefix + decl.question,
                kind.question_kind,
                tuple(decl.values),
                kind.answer_bounds(decl),
            )
        ]
    out = []
    if decl.type == "capability-list":
        items = [(c.id, c.name) for c in kb.capabilities.values()]
    else:
        items = [(v, v) for v in decl.values]
    for item, label in items:
        if decl.type == "capability-list" and "need" in decl.question:
            text = f"Does {who} need {_lower_first(label)}?"
        else:
            text = f"{prefix}{decl.question.rstrip('?')}: {label}?"
        out.append(Question(question_key(decl.id, item, entity), decl.id, item, entity, text, "yes-no"))
    return out
