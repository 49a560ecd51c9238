"""What is wrong with a facts file: the validator's errors as problems in a consultant's words, and what a
schema cannot say (a legal entity named twice, a fact both given and unknown)."""

from __future__ import annotations

from typing import Any

from ..errors import Problem, did_you_mean
from ..io.loader import Document
from ..model.fact_types import ValueProblem, brief, fact_type
from ..model.terms import describe_value
from ..policy.knowledge import KnowledgeBase
from .layers import declared_in
from .schema import WORKSHOP_TIME, unknown_names


def unknown_and_given(kb: KnowledgeBase, doc: Document) -> list[Problem]:
    """A fact or capability both given and recorded as unknown, at the same level, is a contradiction."""
    problems = []
    sections: list[tuple[tuple[Any, ...], Any]] = [((), doc.value)]
    entities = doc.value.get("legal_entities")
    if isinstance(entities, list):
        sections.extend((("legal_entities", i), e) for i, e in enumerate(entities) if isinstance(e, dict))
    for path, section in sections:
        unknown = section.get("unknown")
        if not isinstance(unknown, list):
            continue
        needed: set[str] = set()
        for decl in kb.facts.values():
            if fact_type(decl).domain(decl) == "capability" and isinstance(section.get(decl.id), list):
                needed.update(x for x in section[decl.id] if isinstance(x, str))
        allowed = set(unknown_names(kb, "customer" if not path else "entity"))
        for i, item in enumerate(unknown):
            if not isinstance(item, str) or item not in allowed:
                continue
            where = doc.where((*path, "unknown", i))
            if item in section and item != "unknown":
                problems.append(Problem("contradiction", f"'{item}' is given here and also listed as unknown", where))
            elif item in needed:
                problems.append(
                    Problem("contradiction", f"'{item}' is listed as needed here and also as unknown", where)
                )
    return problems


def schema_problems(kb: KnowledgeBase, doc: Document, error: Any) -> list[Problem]:
    """A validator's error in a facts file as problems; a fact's value is judged by its fact type."""
    path = tuple(error.absolute_path)
    kind = error.validator
    where = doc.where(path)
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        out = []
        if path and path[0] == "workshop":  # the record ask writes, not a fact
            return [
                Problem(
                    "unknown-key",
                    f"'{key}' is not part of a workshop record{did_you_mean(key, allowed)} "
                    f"(it holds {', '.join(sorted(allowed))})",
                    doc.where((*path, key), key=True),
                )
                for key in sorted(set(error.instance) - allowed)
            ]
        for key in sorted(set(error.instance) - allowed):
            hint = did_you_mean(key, allowed)
            scope = ""
            if not hint and key in kb.facts and len(path) >= 2:
                scope = f" ('{key}' is a customer-wide fact: set it at the top level)"
            elif not hint:
                scope = declared_in(key, doc, (f.path for f in kb.files))
            out.append(
                Problem(
                    "unknown-fact", f"'{key}' is not a known fact{hint or scope}", doc.where((*path, key), key=True)
                )
            )
        return out
    fitted = _value_problem(kb, path, error.instance)
    if fitted is not None:
        return [Problem(fitted.code, fitted.message, where)]
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a key"
        return [Problem("missing-key", f"'{missing}' is required", where)]
    if kind == "enum" and len(path) >= 2 and path[-2] == "unknown":
        value = error.instance
        names = list(error.validator_value)
        if not isinstance(value, str):
            return [Problem("wrong-type", f"unknown: expected a fact or capability id, got {brief(value)}", where)]
        if value in kb.facts and len(path) > 2:
            message = f"'{value}' is a customer-wide fact: list it as unknown at the top level"
            return [Problem("unknown-fact", message, where)]
        return [
            Problem(
                "unknown-fact",
                f"'{value}' is not a fact or capability that can be unknown here{did_you_mean(value, names)}",
                where,
            )
        ]
    if kind == "type":
        label = ".".join(str(p) for p in path) or "facts file"
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        word = {
            "array": "a list",
            "object": "a mapping",
            "string": "text",
            "boolean": "true or false",
            "integer": "a whole number",
            "number": "a number",
        }.get(str(expected), str(expected))
        return [Problem("wrong-type", f"{label}: expected {word}, got {describe_value(error.instance)}", where)]
    label = ".".join(str(p) for p in path) or "facts file"
    if kind == "pattern" and error.validator_value == WORKSHOP_TIME:
        return [
            Problem("bad-value", f"{label}: '{error.instance}' is not a date like 2026-12-02 or 2026-12-02T09:30:00Z",
                    where)
        ]
    if kind == "pattern":
        return [Problem("bad-value", f"{label}: must not be blank", where)]
    if kind == "maxItems":
        return [Problem("bad-value", f"{label}: {len(error.instance)} items; at most {error.validator_value}", where)]
    if kind == "maxLength":
        return [Problem("bad-value", f"{label}: longer than {error.validator_value} characters", where)]
    return [Problem("bad-value", f"{label}: {error.message[:200]}", where)]


def _value_problem(kb: KnowledgeBase, path: tuple[Any, ...], value: Any) -> ValueProblem | None:
    """The fact type's problem with a fact's value, or an item of its list, that the schema refused; None when
    the path is no fact's value."""
    item = len(path) >= 2 and isinstance(path[-1], int)
    place = path[:-2] if item else path[:-1]
    fact_id = path[-2] if item else path[-1] if path else None
    decl = kb.facts.get(fact_id) if isinstance(fact_id, str) else None
    if decl is None or not (place == () or (len(place) == 2 and place[0] == "legal_entities")):
        return None
    kind = fact_type(decl)
    label = ".".join(str(p) for p in path)
    if kind.is_list and not item:
        return kind.list_problem(value, label)
    if kind.is_list != item:
        return None
    return kind.item_problem(decl, value, label, kb.capabilities)


def entity_names(doc: Document) -> list[Problem]:
    """Each legal entity needs a name of its own: one that does not read like another's either (the same
    letters in another Unicode form, another case, or with invisible characters)."""
    entities = doc.value.get("legal_entities")
    if not isinstance(entities, list):
        return []
    seen: dict[str, tuple[int, str]] = {}
    problems = []
    for i, entity in enumerate(entities):
        if isinstance(entity, dict) and isinstance(entity.get("name"), str):
            name = entity["name"].strip()
            key = _reading(name)
            if key in seen:
                first_index, first_name = seen[key]
                first = doc.where(("legal_entities", first_index, "name"))
                message = (
                    f"legal entity '{name}' is listed twice (first at line {first.line})"
                    if name == first_name
                    else f"legal entity '{name}' reads like '{first_name}' (line {first.line}); give each a name"
                    " of its own"
                )
                problems.append(Problem("duplicate-entity", message, doc.where(("legal_entities", i, "name"))))
            seen.setdefault(key, (i, name))
    return problems


def _reading(name: str) -> str:
    """How a name reads: its Unicode compatibility form, case-folded, without invisible format characters."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


