"""A workshop in progress: the customer, its legal entities, the answers so far, and the advice they give.

`podeploy ask` runs one on a terminal and `podeploy serve` in a browser; both ask the questionnaire
which question comes next and evaluate the facts file the answers make, exactly as `evaluate` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from ..analysis.bounds import CONVERSATION
from ..analysis.inquiry import analyzer_for
from ..errors import CONTROL, BadInput, Location, Problem
from ..evaluation.decision import Decision
from ..evaluation.evaluate import evaluate
from ..facts.answers import parse_answer, read_answers
from ..facts.questions import ABSENT, Question, Value
from ..facts.reading import read_facts
from ..io.loader import Document, parse_document
from ..policy.knowledge import KnowledgeBase
from .session import Session

HEADER = "# Facts for 'podeploy evaluate', written by 'podeploy ask'.\n"
SERVE_HEADER = "# Facts for 'podeploy evaluate', written by 'podeploy serve'.\n"
MAX_NAME = 200
MAX_ENTITIES = 64  # legal entities a workshop holds (the questionnaire analyses up to its limits, then asks in order)


class _Dumper(yaml.SafeDumper):
    """Block mappings; lists of plain values on one line, as the shipped examples write them."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, (dict, list)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def facts_text(document: dict[str, Any], header: str = HEADER) -> str:
    """A facts document as the YAML podeploy writes: block mappings, short lists on one line."""
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    return header + body


def checked_name(text: str, what: str) -> str:
    """A customer's or legal entity's name as typed: trimmed, at most 200 characters, no control characters."""
    name = text.strip()
    if not name or len(name) > MAX_NAME or CONTROL.search(name):
        raise BadInput([Problem("bad-value", f"a {what} name of 1 to {MAX_NAME} characters, without control "
                                "characters", Location(what))])
    return name


class Workshop:
    """One customer's workshop: its session of questions and answers, and the advice they give."""

    def __init__(
        self,
        kb: KnowledgeBase,
        customer: str,
        entities: Sequence[str] = (),
        *,
        engine: str = "auto",
        named: dict[str, list[str]] | None = None,
    ) -> None:
        self.kb = kb
        self.engine = engine
        self.named = dict(named or {})  # the layers the facts file names (packs:, policies:)
        self.extra: dict[str, Value] = {}  # answers a loaded file gave that no question asks
        self.session = Session(analyzer_for(kb, CONVERSATION), checked_name(customer, "customer"), list(entities))
        self._decision: tuple[tuple[Any, ...], Decision] | None = None

    # -- reading and writing the facts file ------------------------------------------------------------------

    @classmethod
    def from_document(cls, kb: KnowledgeBase, doc: Document, *, engine: str = "auto") -> Workshop:
        """A workshop resumed from a facts file: every answer it gives (and each "don't know") is kept."""
        read_facts(kb, doc)  # the file must be one `evaluate` reads: located problems otherwise
        answers = read_answers(kb, doc)
        value = doc.value if isinstance(doc.value, dict) else {}
        named = {key: list(value[key]) for key in ("packs", "policies") if isinstance(value.get(key), list)}
        workshop = cls(kb, answers.customer, answers.entities, engine=engine, named=named)
        by_key = {q.key for q in workshop.session.questions}
        for key, answer in answers.values.items():
            if key in by_key:
                workshop.session.answer(key, answer)
        return workshop

    def document(self) -> dict[str, Any]:
        """The facts file of the answers so far, with the record of the workshop."""
        document = self.session.document(self.extra)
        if self.named:
            customer = {"customer": document.pop("customer")}
            document = {**customer, **self.named, **document}
        document["workshop"] = self.session.workshop()
        return document

    def facts_text(self) -> str:
        return facts_text(self.document(), SERVE_HEADER)

    def decision(self) -> Decision:
        """The advice the answers so far give, as `podeploy evaluate` gives it for the facts file."""
        key = (tuple(sorted(self.session.answers.items(), key=lambda kv: kv[0])), self.customer, tuple(self.entities))
        if self._decision is None or self._decision[0] != key:
            text = facts_text(self.document())
            facts = read_facts(self.kb, parse_document(text, "<workshop>"))
            self._decision = (key, evaluate(self.kb, facts, engine=self.engine))
        return self._decision[1]

    # -- the customer and its legal entities -----------------------------------------------------------------

    @property
    def customer(self) -> str:
        return self.session.customer

    @property
    def entities(self) -> list[str]:
        return list(self.session.entities)

    @property
    def entity_names(self) -> list[str]:
        return self.session.entity_names

    def rename_customer(self, name: str) -> None:
        self._rebuild(checked_name(name, "customer"), self.entities, list(range(len(self.entities))))

    def add_entity(self, name: str) -> None:
        name = checked_name(name, "legal entity")
        names = self.entities
        if name in names:
            raise BadInput([Problem("duplicate-entity", f"legal entity '{name}' is already listed", Location("name"))])
        if len(names) >= MAX_ENTITIES:
            raise BadInput([Problem("too-many", f"a workshop holds at most {MAX_ENTITIES} legal entities",
                                    Location("name"))])
        # The first legal entity named takes over the answers given for the customer's only one.
        self._rebuild(self.customer, [*names, name], list(range(len(names))) or [0])

    def rename_entity(self, index: int, name: str) -> None:
        name = checked_name(name, "legal entity")
        names = self.entities
        self._check_index(index)
        if name in names and names.index(name) != index:
            raise BadInput([Problem("duplicate-entity", f"legal entity '{name}' is already listed", Location("name"))])
        names[index] = name
        self._rebuild(self.customer, names, list(range(len(names))))

    def remove_entity(self, index: int) -> None:
        names = self.entities
        self._check_index(index)
        del names[index]
        kept = [i for i in range(len(self.entities)) if i != index]
        self._rebuild(self.customer, names, kept if names else [])

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self.entities):
            raise BadInput([Problem("unknown-entity", f"there is no legal entity {index + 1}", Location("entity"))])

    def _rebuild(self, customer: str, entities: list[str], sources: list[int]) -> None:
        """A new session for new names: entity i of the new one keeps the answers of entity sources[i]."""
        old = self.session
        by_old = {(q.fact, q.item, q.entity): q.key for q in old.questions}
        fresh = Session(old.analyzer, customer, entities, started=old.started)
        for q in fresh.questions:
            source = q.entity if q.entity is None else (sources[q.entity] if q.entity < len(sources) else None)
            if q.entity is not None and source is None:
                continue
            key = by_old.get((q.fact, q.item, source))
            if key is not None and key in old.answers:
                fresh.answer(q, old.answers[key])
                if key in old.answered_at:
                    fresh.answered_at[q.key] = old.answered_at[key]
        order = {key: i for i, key in enumerate(old.asked)}  # the questions keep the order they were answered in

        def rank(key: str) -> int:
            return order.get(by_old.get(_identity(fresh, key, sources), ""), len(order))

        fresh.asked.sort(key=rank)
        self.session = fresh
        self._decision = None

    # -- questions and answers -------------------------------------------------------------------------------

    def question(self, key: str) -> Question:
        try:
            return self.session.question(key)
        except KeyError:
            raise BadInput([Problem("unknown-question", "no such question in this workshop", Location("question"))]) \
                from None

    def next_question(self) -> Question | None:
        return self.session.next_question()

    def answer(self, key: str, text: str) -> None:
        """Answer a question as typed ('?' is don't know); a located problem when the answer does not fit."""
        question = self.question(key)
        try:
            value = parse_answer(question, text)
        except ValueError as exc:
            raise BadInput([Problem("bad-value", str(exc), Location("answer"))]) from None
        self.session.answer(question, value)

    def dont_know(self, key: str) -> None:
        self.session.answer(self.question(key), ABSENT)

    def back(self) -> Question | None:
        return self.session.back()

    @property
    def asked(self) -> int:
        return sum(1 for key in self.session.asked if key not in self.session.passed)

    def open_questions(self) -> int:
        """How many unanswered questions can still change something (a deployment or a warning)."""
        analysis = self.session.analysis()
        return sum(1 for key in analysis.relevant if key not in self.session.answers)

    def possible(self) -> list[tuple[str, list[str]]]:
        """Per legal entity, the deployment types the answers still leave possible (lightest first)."""
        return self.session.still_possible()


def _identity(session: Session, key: str, sources: list[int]) -> tuple[str, str | None, int | None]:
    q = session.question(key)
    return (q.fact, q.item, q.entity if q.entity is None else sources[q.entity])
