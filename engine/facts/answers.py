"""Answers: one typed for a question, and an answers file read into an answer per question key.

An answers file is a facts file whose capabilities may also be keys with yes/no; `unknown` lists what was
asked and answered "don't know". `podeploy ask --answers` and `podeploy serve` read them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput, Problem, did_you_mean
from ..io.loader import Document
from ..model.fact_types import fact_type
from ..model.terms import FactDecl, normal_number
from ..policy.knowledge import KnowledgeBase
from .questions import ABSENT, Question, Value, all_questions

UNKNOWN_WORDS = ("?", "dont know", "don't know", "unknown", "not sure", "skip")
BACK_WORDS = ("<", "back")


def parse_answer(question: Question, text: str) -> Value:
    """An answer typed for a question: ABSENT for "don't know", else as its fact type reads it (ValueError
    with a message saying what is expected)."""
    raw = text.strip()
    if raw.lower() in UNKNOWN_WORDS:
        return ABSENT
    return question.read(raw)


@dataclass(slots=True)
class Answers:
    """A non-interactive session's answers: the customer, its legal entities and an answer per question key."""

    customer: str
    entities: list[str]
    values: dict[str, Value]

    def lookup(self, question: Question) -> Value:
        return self.values.get(question.key, ABSENT)


def read_answers(kb: KnowledgeBase, doc: Document) -> Answers:
    """An answers file: a facts file whose capabilities may also be keys with yes/no. Located problems."""
    problems: list[Problem] = []
    value = doc.value
    if not isinstance(value, dict):
        raise BadInput(
            [Problem("wrong-type", "an answers file is a mapping (customer: ..., facts, capabilities)", doc.where(()))]
        )
    cap_fact = _capability_fact(kb)
    customer = value.get("customer")
    if not isinstance(customer, str) or not customer.strip() or len(customer) > 200:
        where = doc.where(("customer",)) if "customer" in value else doc.where(())
        problems.append(
            Problem(
                "missing-key" if "customer" not in value else "bad-value",
                "'customer' is required: the customer's name (text)",
                where,
            )
        )
        customer = "customer"
    customer = customer.strip()
    listed = value.get("legal_entities") or []
    entities: list[str] = []
    if not isinstance(listed, list):
        problems.append(Problem("wrong-type", "legal_entities: expected a list", doc.where(("legal_entities",))))
        listed = []
    for i, item in enumerate(listed):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            problems.append(
                Problem("bad-value", "each legal entity needs a 'name' (text)", doc.where(("legal_entities", i)))
            )
            name = f"entity {i + 1}"
        name = name.strip()
        if name in entities:
            problems.append(
                Problem(
                    "duplicate-entity",
                    f"legal entity '{name}' is listed twice",
                    doc.where(("legal_entities", i, "name")),
                )
            )
            name = f"{name} ({i + 1})"
        entities.append(name)
    questions = all_questions(kb, customer, entities)
    shared = _section(kb, doc, value, (), "customer", cap_fact, problems)
    owns = [
        _section(kb, doc, item, ("legal_entities", i), "entity", cap_fact, problems) if isinstance(item, dict) else {}
        for i, item in enumerate(listed)
    ]
    if problems:
        raise BadInput(sorted(problems, key=lambda p: (p.location, p.code)))
    values: dict[str, Value] = {}
    for q in questions:
        sections = [shared] if q.entity is None or not entities else [owns[q.entity], shared]
        got = _answer_in(q, sections)
        if got is not None:
            values[q.key] = got
    return Answers(customer, entities, values)


def _capability_fact(kb: KnowledgeBase) -> str | None:
    lists = [d.id for d in kb.capability_lists()]
    if "requirements" in lists:
        return "requirements"
    return lists[0] if len(lists) == 1 else None


def _answer_in(q: Question, sections: Sequence[Mapping[Any, Any]]) -> Value | None:
    """The answer the sections (an entity's own, then the top level) give a question, or None when they say nothing.

    A list item: a yes/no key decides (the entity's own first); else it is needed when a list names it (lists add
    up, as in facts files), not needed when there is a list that does not.
    """
    if q.item is None:
        for section in sections:
            if q.fact in section:
                return section[q.fact]  # type: ignore[no-any-return]
        return None
    for section in sections:
        said = section.get(("item", q.fact, q.item))
        if said is not None:
            return said  # type: ignore[no-any-return]
    lists = [section[q.fact] for section in sections if isinstance(section.get(q.fact), list)]
    if not lists:
        return None
    return any(q.item in listed for listed in lists)


def _section(
    kb: KnowledgeBase,
    doc: Document,
    mapping: dict[str, Any],
    path: tuple[str | int, ...],
    scope: str,
    cap_fact: str | None,
    problems: list[Problem],
) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    reserved = ("customer", "legal_entities", "workshop") if scope == "customer" else ("name",)
    for key, raw in mapping.items():
        where = doc.where((*path, key))
        if key in reserved:
            continue
        if key == "unknown":
            _unknown_answers(kb, doc, raw, (*path, key), scope, cap_fact, out, problems)
            continue
        if key in kb.facts:
            decl = kb.facts[key]
            if scope == "entity" and decl.scope != "entity":
                problems.append(
                    Problem(
                        "unknown-fact",
                        f"'{key}' is a customer-wide fact: set it at the top level",
                        doc.where((*path, key), key=True),
                    )
                )
                continue
            if isinstance(raw, str) and raw.strip().lower() in UNKNOWN_WORDS:
                out[key] = ABSENT
                continue
            checked = _check_value(kb, decl, raw, doc, (*path, key), problems)
            if checked is not None:
                out[key] = checked
            continue
        if key in kb.capabilities and cap_fact is not None:
            if isinstance(raw, bool):
                out[("item", cap_fact, key)] = raw
            elif isinstance(raw, str) and raw.strip().lower() in UNKNOWN_WORDS:
                out[("item", cap_fact, key)] = ABSENT
            else:
                problems.append(Problem("wrong-type", f"{key}: expected yes, no or '?'", where))
            continue
        known = [*kb.facts, *kb.capabilities, *reserved]
        problems.append(
            Problem(
                "unknown-fact",
                f"'{key}' is not a known fact or capability{did_you_mean(str(key), known)}",
                doc.where((*path, key), key=True),
            )
        )
    return out


def _unknown_answers(
    kb: KnowledgeBase,
    doc: Document,
    raw: Any,
    path: tuple[str | int, ...],
    scope: str,
    cap_fact: str | None,
    out: dict[Any, Any],
    problems: list[Problem],
) -> None:
    """`unknown: [fact or capability, ...]`: each was asked and answered "don't know"."""
    if not isinstance(raw, list):
        problems.append(Problem("wrong-type", "unknown: expected a list of facts and capabilities", doc.where(path)))
        return
    for i, item in enumerate(raw):
        decl = kb.facts.get(item) if isinstance(item, str) else None
        if decl is not None and (scope == "customer" or decl.scope == "entity"):
            out[item] = ABSENT
        elif isinstance(item, str) and item in kb.capabilities and cap_fact is not None:
            out[("item", cap_fact, item)] = ABSENT
        else:
            known = [*kb.facts, *kb.capabilities]
            problems.append(
                Problem(
                    "unknown-fact",
                    f"'{item}' is not a fact or capability that can be unknown here{did_you_mean(str(item), known)}",
                    doc.where((*path, i)),
                )
            )


def _check_value(
    kb: KnowledgeBase, decl: FactDecl, raw: Any, doc: Document, path: tuple[str | int, ...], problems: list[Problem]
) -> Any:
    """The answer, checked as a facts file's value is (the same codes and messages), or None with its problems."""
    found = fact_type(decl).problems(decl, raw, ".".join(str(p) for p in path), kb.capabilities)
    for problem in found:
        place = path if problem.index is None else (*path, problem.index)
        problems.append(Problem(problem.code, problem.message, doc.where(place)))
    if found:
        return None
    if decl.is_list:
        return list(dict.fromkeys(raw))
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return normal_number(raw)
    return raw
