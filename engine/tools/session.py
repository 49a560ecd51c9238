"""A questionnaire session: an inquiry that keeps the record of its workshop and writes its facts file.

The record says when the workshop began, who ran it, and each question answered, of whom, the answer and
when; answers can be taken back. `podeploy ask` and `podeploy serve` run one (see workshop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..analysis.inquiry import Inquiry
from ..facts.questions import ABSENT, Question, Value
from ..model.terms import ASK_ALWAYS, show_value
from ..policy.knowledge import KnowledgeBase


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def answer_text(question: Question, value: Value) -> str:
    """An answer as the workshop record gives it: yes, no, don't know, or the value."""
    if value is ABSENT:
        return "don't know"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return show_value(value)


@dataclass(slots=True)
class Session(Inquiry):
    """A questionnaire session: its answers, asked in order and each timed, and the facts file they make."""

    asked: list[str] = field(default_factory=list)
    passed: set[str] = field(default_factory=set)  # questions passed over, not answered
    answered_at: dict[str, str] = field(default_factory=dict)  # when each answer was given (UTC, ISO 8601)
    started: str = ""  # when the workshop began (UTC, ISO 8601)

    def __post_init__(self) -> None:
        Inquiry.__post_init__(self)  # slots=True makes a new class, one that super() without arguments misses
        self.started = self.started or _now()

    def next_question(self) -> Question | None:
        """The question to ask now, or None when nothing left to ask can change the recommendation and every
        question of a fact declared `ask: always` has been asked."""
        found = self.analysis().next
        return found if found is not None else self.always_open()

    def always_open(self) -> Question | None:
        """The first question not yet asked of a fact its policy asks in every workshop (`ask: always`)."""
        facts = self.analyzer.kb.facts
        for q in self.questions:
            if q.key not in self.answers and facts[q.fact].ask == ASK_ALWAYS:
                return q
        return None

    @property
    def done(self) -> bool:
        return self.analysis().done and self.always_open() is None

    def answer(self, question: Question | str, value: Value) -> None:
        key = question if isinstance(question, str) else question.key
        if key not in self._by_key:
            raise KeyError(key)
        if key in self.answers:
            self.asked.remove(key)
        self.answers[key] = value
        self.asked.append(key)
        self.passed.discard(key)
        self.answered_at[key] = _now()
        self._analysis = None

    def workshop(self, by: str | None = None) -> dict[str, Any]:
        """The record of the workshop: when it began, who ran it, and each question asked, of whom, the answer
        given ("yes", "no", "don't know", a value) and when, in the order they were answered."""
        record: dict[str, Any] = {"date": self.started}
        if by:
            record["by"] = by
        answers = []
        for key in self.asked:
            if key in self.passed:
                continue
            q = self._by_key[key]
            answers.append(
                {
                    "question": q.text,
                    "of": self.entity_names[q.entity] if q.entity is not None else self.customer,
                    "answer": answer_text(q, self.answers[key]),
                    "at": self.answered_at.get(key, self.started),
                }
            )
        record["answers"] = answers
        return record

    def back(self) -> Question | None:
        """Forget the last answer; the question it answered, to ask again."""
        if not self.asked:
            return None
        key = self.asked.pop()
        del self.answers[key]
        self.passed.discard(key)
        self._analysis = None
        return self._by_key[key]

    def forget(self, question: Question | str) -> None:
        """Take back one answer, wherever it was given."""
        key = question if isinstance(question, str) else question.key
        if key in self.answers:
            del self.answers[key]
            self.asked.remove(key)
            self.passed.discard(key)
            self._analysis = None

    def clear(self) -> None:
        """Take back every answer."""
        self.answers.clear()
        self.asked.clear()
        self.passed.clear()
        self._analysis = None

    def still_possible(self) -> list[tuple[str, list[str]]]:
        return list(zip(self.entity_names, self.analysis().possible, strict=True))

    def document(self, extra: Mapping[str, Value] | None = None) -> dict[str, Any]:
        """The facts file for the answers (and extra answers, e.g. given but never asked).

        Questions passed over without an answer (standard input ended) are left out, not recorded as
        "don't know".
        """
        answers = {**(extra or {}), **{k: v for k, v in self.answers.items() if k not in self.passed}}
        return facts_document(self.analyzer.kb, self.customer, self.entities, self.questions, answers)

    def pass_over(self, question: Question | str) -> None:
        """Leave a question unanswered, moving on (standard input ended): it is not a "don't know"."""
        key = question if isinstance(question, str) else question.key
        self.answer(key, ABSENT)
        self.passed.add(key)


def facts_document(
    kb: KnowledgeBase,
    customer: str,
    entities: Sequence[str],
    questions: Sequence[Question],
    answers: Mapping[str, Value],
) -> dict[str, Any]:
    """A facts document (as `podeploy evaluate` reads it) holding the answers.

    It records what was answered explicitly: a list fact whose items were asked is written even when
    empty (nothing needed is an answer), and the facts and capabilities answered "don't know" are listed
    under `unknown`, so that evaluating it, or resuming the questionnaire on it, knows what was asked.
    Questions never asked are left out.
    """
    doc: dict[str, Any] = {"customer": customer}
    own: list[dict[str, Any]] = [{"name": name} for name in entities] if entities else [doc]
    for q in questions:
        if q.key not in answers:
            continue
        value = answers[q.key]
        target = doc if q.entity is None else own[q.entity]
        if value is ABSENT:
            name = q.item if q.item is not None else q.fact
            if name not in target.setdefault("unknown", []):
                target["unknown"].append(name)
            continue
        if q.item is not None:
            listed = target.setdefault(q.fact, [])
            if value is True:
                listed.append(q.item)
        else:
            target[q.fact] = value
    for target in {id(t): t for t in (doc, *own)}.values():  # 'unknown' after the facts it sits beside
        if "unknown" in target:
            target["unknown"] = target.pop("unknown")
    if entities:
        doc["legal_entities"] = own
    return doc
