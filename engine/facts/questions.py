"""The questions the vocabulary asks, and ABSENT, the answer "don't know".

One question per scalar fact and one per item (capability or choice) of a list fact, customer-wide or per
legal entity, in the vocabulary's order; each is known by its key (`fact`, `fact:item`, with `@entity`).
Questions come from the policies alone: the questionnaire asks them, an answers file answers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..model.fact_types import YES_NO, FactType, fact_type
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
    """One question: a scalar fact, or one item (capability or choice) of a list fact; customer-wide or per entity.

    What an answer may be is the fact type's business (`FactType.read_answer`, `hint`); an item of a list
    fact is answered yes or no.
    """

    key: str
    fact: str
    item: str | None
    entity: int | None
    text: str
    decl: FactDecl

    @property
    def answering(self) -> FactType:
        """The type whose answers the question takes."""
        return YES_NO if self.item is not None else fact_type(self.decl)

    @property
    def kind(self) -> str:
        """yes-no (an item of a list fact) | boolean | choice | integer | number | version | text"""
        return "yes-no" if self.item is not None else self.answering.question_kind

    @property
    def choices(self) -> tuple[str, ...]:
        """The answers offered one by one; none where the answer is typed (or is yes or no)."""
        return self.answering.answer_choices(self.decl)

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The lowest and highest number an answer may be; None for an answer that is no number."""
        return self.answering.answer_bounds(self.decl)

    @property
    def hint(self) -> str:
        """The answers the question takes, shown after it."""
        return self.answering.hint(self.decl)

    def read(self, raw: str) -> Scalar:
        """A typed answer (stripped, not "don't know"), or ValueError saying what to answer."""
        return self.answering.read_answer(self.decl, raw)


def question_key(fact: str, item: str | None, entity: int | None) -> str:
    """A question's key: the fact, its item after a colon, the entity's index after an at sign."""
    key = fact if item is None else f"{fact}:{item}"
    return key if entity is None else f"{key}@{entity}"


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
        return [Question(question_key(decl.id, None, entity), decl.id, None, entity, prefix + decl.question, decl)]
    out = []
    kind = fact_type(decl)
    needs = kind.domain(decl) == "capability"
    for item in kind.items(decl, kb.capabilities):
        if needs and "need" in decl.question:
            text = f"Does {who} need {kb.capability_words(item)}?"
        else:
            label = kb.capabilities[item].name if needs else item
            text = f"{prefix}{decl.question.rstrip('?')}: {label}?"
        out.append(Question(question_key(decl.id, item, entity), decl.id, item, entity, text, decl))
    return out
