"""Facts files: their JSON Schema, generated from the vocabulary, and their reading into ground facts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput, Location, Problem, did_you_mean
from ..io.loader import Document, control_problems, load_document, problems_sorted
from ..model.terms import VERSION_PATTERN, Fact, FactDecl, Scalar, describe_value, make_fact, version_number
from ..policy.knowledge import KnowledgeBase
from ..records import record
from .layers import LAYER_KEYS, declared_in, layers_ok, layers_schema

MAX_ENTITIES = 1000
NUMBER_LIMIT = 10**9
MAX_LIST = 500


@dataclass(slots=True)
class Entity:
    """A legal entity and the facts that hold for it (shared values merged with its own)."""

    name: str
    location: Location
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class FactsInput:
    """A validated facts document, ready to evaluate."""

    source: str
    customer: str
    customer_location: Location
    values: dict[str, Any]
    entities: list[Entity]
    ground: list[Fact]
    # What the file says, as (fact, entity name or None for the top level): the rest is unknown, or its default.
    given: frozenset[tuple[str, str | None]] = frozenset()
    listed: bool = False  # the file lists legal entities (else one entity is named after the customer)
    # What the file records as asked but not known ("don't know"): fact or capability ids, with the entity.
    unknown: frozenset[tuple[str, str | None]] = frozenset()
    workshop: Workshop | None = None  # the record of the workshop that gathered the facts (podeploy ask)


@record
class Workshop:
    """When the facts were gathered, by whom, and what was answered (a facts file written by podeploy ask)."""

    date: str
    by: str | None
    answers: int
    unknown: int  # answered "don't know"

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"date": self.date, "answers": self.answers, "dont_know": self.unknown}
        if self.by:
            data["by"] = self.by
        return data

    def text(self) -> str:
        """'Workshop of 2026-12-02 (run by Ana Díaz): 14 questions answered, 3 of them "don't know".'"""
        by = f" (run by {self.by})" if self.by else ""
        counted = f"{self.answers} question{'' if self.answers == 1 else 's'} answered"
        if self.unknown:
            counted += f', {self.unknown} of them "don\'t know"'
        return f"Workshop of {self.date[:10]}{by}: {counted}."


WORKSHOP_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})?)?(?![\s\S])"
MAX_WORKSHOP_ANSWERS = 5000
# A question as asked: a policy's question text (up to 2,000 characters) about a legal entity or capability.
MAX_WORKSHOP_TEXT = 3000


def _workshop_schema() -> dict[str, Any]:
    text = {"type": "string", "minLength": 1, "maxLength": MAX_WORKSHOP_TEXT}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["date"],
        "description": "The record of the workshop the facts come from, written by podeploy ask: when it was held, "
        "who ran it, and each question asked, of whom, the answer given and when.",
        "properties": {
            "date": {"type": "string", "pattern": WORKSHOP_TIME},
            "by": {"type": "string", "minLength": 1, "maxLength": 200},
            "answers": {
                "type": "array",
                "maxItems": MAX_WORKSHOP_ANSWERS,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["question", "of", "answer"],
                    "properties": {
                        "question": text,
                        "of": {"type": "string", "minLength": 1, "maxLength": 200},
                        "answer": text,
                        "at": {"type": "string", "pattern": WORKSHOP_TIME},
                    },
                },
            },
        },
    }


def _workshop_ok(item: Any) -> bool:
    """A hand check of _workshop_schema, narrower than it (see conforms)."""
    if not isinstance(item, dict) or set(item) - {"date", "by", "answers"} or "date" not in item:
        return False
    if not isinstance(item["date"], str) or not re.match(WORKSHOP_TIME, item["date"]):
        return False
    if "by" in item and not (isinstance(item["by"], str) and 0 < len(item["by"]) <= 200):
        return False
    answers = item.get("answers", [])
    if not isinstance(answers, list) or len(answers) > MAX_WORKSHOP_ANSWERS:
        return False
    for a in answers:
        if not isinstance(a, dict) or set(a) - {"question", "of", "answer", "at"}:
            return False
        for key, most in (("question", MAX_WORKSHOP_TEXT), ("of", 200), ("answer", MAX_WORKSHOP_TEXT)):
            if not (isinstance(a.get(key), str) and 0 < len(a[key]) <= most):
                return False
        if "at" in a and not (isinstance(a["at"], str) and re.match(WORKSHOP_TIME, a["at"])):
            return False
    return True


def facts_schema(kb: KnowledgeBase) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a facts file for this knowledge base's vocabulary."""
    entity_props: dict[str, Any] = {
        "name": {"type": "string", "pattern": r"\S", "maxLength": 200, "description": "The legal entity's name."},
        "unknown": _unknown_schema(kb, "entity"),
    }
    props: dict[str, Any] = {
        "customer": {"type": "string", "pattern": r"\S", "maxLength": 200, "description": "The customer's name."},
        "unknown": _unknown_schema(kb, "customer"),
        "workshop": _workshop_schema(),
        **layers_schema(),
    }
    for decl in kb.facts.values():
        schema = _value_schema(kb, decl)
        props[decl.id] = schema
        if decl.scope == "entity":
            entity_props[decl.id] = schema
    props["legal_entities"] = {
        "type": "array",
        "maxItems": MAX_ENTITIES,
        "description": "Legal entities; each adds its own requirements to the shared ones.",
        "items": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": entity_props},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:podeploy:schema:facts:1",
        "title": "podeploy facts file",
        "type": "object",
        "additionalProperties": False,
        "required": ["customer"],
        "properties": props,
    }


def unknown_names(kb: KnowledgeBase, scope: str) -> list[str]:
    """What an `unknown:` list may name: facts (entity-scoped ones only under a legal entity) and capabilities."""
    facts = [d.id for d in kb.facts.values() if scope == "customer" or d.scope == "entity"]
    return [*facts, *kb.capabilities]


def _unknown_schema(kb: KnowledgeBase, scope: str) -> dict[str, Any]:
    return {
        "type": "array",
        "maxItems": MAX_LIST,
        "items": {"enum": unknown_names(kb, scope)},
        "description": "Facts and capabilities that were asked and are not known (don't know): they stay open "
        "questions. Written by podeploy ask.",
    }


def _value_schema(kb: KnowledgeBase, decl: FactDecl) -> dict[str, Any]:
    text = f"{decl.description} Question: {decl.question}"
    item: dict[str, Any]
    if decl.type == "capability-list":
        item = {"enum": list(kb.capabilities)}
    elif decl.type in ("choice", "choice-list"):
        item = {"enum": list(decl.values)}
    elif decl.type == "boolean":
        item = {"type": "boolean"}
    elif decl.type in ("number", "integer"):
        # The engine layer keeps numbers within +-1e9 with six decimals (see rete.encode).
        item = {"type": decl.type, "minimum": -NUMBER_LIMIT, "maximum": NUMBER_LIMIT}
        if decl.minimum is not None:
            item["minimum"] = max(decl.minimum, -NUMBER_LIMIT)
        if decl.maximum is not None:
            item["maximum"] = min(decl.maximum, NUMBER_LIMIT)
    elif decl.type == "version":
        item = {"type": "string", "pattern": VERSION_PATTERN}
    else:
        item = {"type": "string", "minLength": 1, "maxLength": 200}
    if decl.is_list:
        return {"type": "array", "maxItems": MAX_LIST, "items": item, "description": text}
    return {**item, "description": text}


def load_facts(kb: KnowledgeBase, path: str) -> FactsInput:
    """Read, validate and normalise a facts file ('-' for standard input)."""
    doc = load_document(path)
    return read_facts(kb, doc)


def read_facts(kb: KnowledgeBase, doc: Document) -> FactsInput:
    if doc.value is None:
        raise BadInput(
            [Problem("empty", "facts file is empty; it needs at least 'customer'", Location(doc.name, 1, 1))]
        )
    if not isinstance(doc.value, dict):
        raise BadInput(
            [
                Problem(
                    "wrong-type", "a facts file is a mapping of facts (customer: ..., requirements: ...)", doc.where(())
                )
            ]
        )
    if "customer" not in doc.value:
        other = _other_kind(doc.value)
        if other is not None:
            raise BadInput([Problem("missing-key", f"'customer' is required: {other}", doc.where(()))])
    problems = _validate(kb, doc)
    if problems:
        raise BadInput(problems_sorted(problems))
    return _normalise(kb, doc)


def _other_kind(value: dict[str, Any]) -> str | None:
    """What a file given as a facts file is instead, when it is plainly one of podeploy's other files."""
    if "cases" in value:
        return "this looks like a policy test file; run it with 'podeploy test FILE'"
    if "policy" in value and ("rules" in value or "facts" in value or "description" in value):
        return "this looks like a policy file; load it with --policies FILE"
    return None


def _workshop(item: Any) -> Workshop | None:
    if not isinstance(item, dict):
        return None
    answers = item.get("answers") or []
    unknown = sum(1 for a in answers if a.get("answer") == "don't know")
    return Workshop(item["date"], item.get("by"), len(answers), unknown)


def conforms(kb: KnowledgeBase, value: Any) -> bool:
    """True only when value certainly satisfies facts_schema(kb); False sends it to the full validator.

    A hand check of the generated schema, kept strictly narrower than it (tests compare the two on
    generated documents), so that a good facts file never pays for importing jsonschema.
    """
    if not isinstance(value, dict) or not _name_ok(value.get("customer")):
        return False
    for key, item in value.items():
        if key == "legal_entities":
            if not _entities_ok(kb, item):
                return False
        elif key == "unknown":
            if not _unknown_ok(kb, item, "customer"):
                return False
        elif key == "workshop":
            if not _workshop_ok(item):
                return False
        elif key in LAYER_KEYS:
            if not layers_ok(item):
                return False
        elif key != "customer" and (key not in kb.facts or not _value_ok(kb, kb.facts[key], item)):
            return False
    return True


def _unknown_ok(kb: KnowledgeBase, items: Any, scope: str) -> bool:
    if not isinstance(items, list) or len(items) > MAX_LIST:
        return False
    names = set(unknown_names(kb, scope))
    return all(isinstance(item, str) and item in names for item in items)


def _name_ok(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= 200 and not name.isspace() and name != ""


def _entities_ok(kb: KnowledgeBase, entities: Any) -> bool:
    if not isinstance(entities, list) or len(entities) > MAX_ENTITIES:
        return False
    for entity in entities:
        if not isinstance(entity, dict) or not _name_ok(entity.get("name")):
            return False
        for key, item in entity.items():
            if key == "name":
                continue
            if key == "unknown":
                if not _unknown_ok(kb, item, "entity"):
                    return False
                continue
            decl = kb.facts.get(key)
            if decl is None or decl.scope != "entity" or not _value_ok(kb, decl, item):
                return False
    return True


def value_fits(kb: KnowledgeBase, decl: FactDecl, value: Any) -> bool:
    """Does the value certainly fit the fact's declaration in this knowledge base?"""
    return _value_ok(kb, decl, value)


def _value_ok(kb: KnowledgeBase, decl: FactDecl, value: Any) -> bool:
    if decl.is_list:
        return isinstance(value, list) and len(value) <= MAX_LIST and all(_item_ok(kb, decl, v) for v in value)
    return _item_ok(kb, decl, value)


def _item_ok(kb: KnowledgeBase, decl: FactDecl, value: Any) -> bool:
    kind = decl.type
    if kind == "capability-list":
        return isinstance(value, str) and value in kb.capabilities
    if kind in ("choice", "choice-list"):
        return isinstance(value, str) and value in decl.values
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind == "number" else int):
            return False
        low = -NUMBER_LIMIT if decl.minimum is None else max(decl.minimum, -NUMBER_LIMIT)
        high = NUMBER_LIMIT if decl.maximum is None else min(decl.maximum, NUMBER_LIMIT)
        return low <= value <= high
    if kind == "version":
        return isinstance(value, str) and re.match(VERSION_PATTERN, value) is not None and "\n" not in value
    return isinstance(value, str) and 1 <= len(value) <= 200


def _validate(kb: KnowledgeBase, doc: Document) -> list[Problem]:
    controls = control_problems(doc)
    if conforms(kb, doc.value):
        return [*controls, *_entity_names(doc), *_unknown_and_given(kb, doc)]
    import jsonschema  # imported here: only a file with a problem pays for it

    validator = jsonschema.Draft202012Validator(facts_schema(kb))
    problems = []
    for error in validator.iter_errors(doc.value):
        problems.extend(_problem(kb, doc, error))
    problems.extend(_entity_names(doc))
    problems.extend(_unknown_and_given(kb, doc))
    problems.extend(controls)
    return problems


def _unknown_and_given(kb: KnowledgeBase, doc: Document) -> list[Problem]:
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
            if decl.type == "capability-list" and isinstance(section.get(decl.id), list):
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


def _problem(kb: KnowledgeBase, doc: Document, error: Any) -> list[Problem]:
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
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a key"
        return [Problem("missing-key", f"'{missing}' is required", where)]
    if kind == "enum" and len(path) >= 2 and path[-2] == "unknown":
        value = error.instance
        names = list(error.validator_value)
        if not isinstance(value, str):
            return [Problem("wrong-type", f"unknown: expected a fact or capability id, got {_brief(value)}", where)]
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
    if kind == "enum":
        fact_id = _fact_of(path)
        value = error.instance
        shown = value if isinstance(value, str) else _brief(value)
        if fact_id is not None and fact_id in kb.facts and kb.facts[fact_id].type == "capability-list":
            if not isinstance(value, str):
                return [Problem("wrong-type", f"{fact_id}: expected a capability id, got {shown}", where)]
            return [
                Problem(
                    "unknown-capability", f"'{shown}' is not a capability{did_you_mean(shown, kb.capabilities)}", where
                )
            ]
        options = [str(o) for o in error.validator_value]
        if not isinstance(value, str):
            got = describe_value(value) if value is None or isinstance(value, bool) else shown
            return [Problem("wrong-type", f"{fact_id}: expected one of {', '.join(options)}, got {got}", where)]
        hint = did_you_mean(shown, options) or f" (one of: {', '.join(options)})"
        return [Problem("unknown-value", f"'{shown}' is not a value of '{fact_id}'{hint}", where)]
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
    if kind == "pattern" and error.validator_value == VERSION_PATTERN:
        return [Problem("bad-value", f"{label}: '{error.instance}' is not a version like 10.0.44", where)]
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


def _brief(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "a number of more than 30 digits"
    return repr(value)


def _fact_of(path: tuple[Any, ...]) -> str | None:
    names = [p for p in path if isinstance(p, str) and p != "legal_entities"]
    return names[-1] if names else None


def _entity_names(doc: Document) -> list[Problem]:
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


def _normalise(kb: KnowledgeBase, doc: Document) -> FactsInput:
    value = doc.value
    customer = value["customer"].strip()
    customer_loc = doc.where(("customer",))
    shared: dict[str, Any] = {}
    given: set[tuple[str, str | None]] = set()
    ground: list[Fact] = [make_fact("customer", {"name": customer}, customer_loc)]
    for decl in kb.facts.values():
        if decl.id in value:
            shared[decl.id] = _dedupe(value[decl.id]) if decl.is_list else value[decl.id]
            given.add((decl.id, None))
        elif decl.default is not None:
            shared[decl.id] = decl.default
    entities: list[Entity] = []
    listed = value.get("legal_entities") or []
    if not listed:
        entities.append(Entity(customer, customer_loc))
    for i, item in enumerate(listed):
        entities.append(Entity(item["name"].strip(), doc.where(("legal_entities", i, "name"))))
    for decl in kb.facts.values():
        if decl.scope == "customer":
            if decl.id in shared:
                ground.extend(_ground(decl, shared[decl.id], None, doc, (decl.id,), value))
            continue
        for i, entity in enumerate(entities):
            own = listed[i].get(decl.id) if listed else None
            if listed and decl.id in listed[i]:
                given.add((decl.id, entity.name))
            merged, path_of = _merge(decl, shared.get(decl.id), own, i)
            if merged is None:
                continue
            entity.values[decl.id] = merged
            ground.extend(_ground(decl, merged, entity.name, doc, path_of, value))
    unknown: set[tuple[str, str | None]] = {(item, None) for item in value.get("unknown") or ()}
    for i, entity in enumerate(entities):
        if listed:
            unknown.update((item, entity.name) for item in listed[i].get("unknown") or ())
    for entity in entities:
        ground.append(make_fact("entity", {"name": entity.name}, entity.location))
        for decl in kb.facts.values():
            if decl.scope == "customer" and decl.id in shared:
                entity.values.setdefault(decl.id, shared[decl.id])
    return FactsInput(
        doc.name,
        customer,
        customer_loc,
        shared,
        entities,
        _unique(ground),
        frozenset(given),
        bool(listed),
        frozenset(unknown),
        _workshop(value.get("workshop")),
    )


def _merge(decl: FactDecl, shared: Any, own: Any, index: int) -> tuple[Any, Any]:
    """An entity's value for decl: its own list adds to the shared one; its own scalar replaces it."""
    if decl.is_list:
        items = list(shared or []) + list(_dedupe(own or []))
        return (_dedupe(items) if items else None), ("list", index, len(shared or []))
    if own is not None:
        return own, ("legal_entities", index, decl.id)
    return shared, (decl.id,)


def _ground(
    decl: FactDecl, merged: Any, entity: str | None, doc: Document, path_of: Any, raw: dict[str, Any]
) -> list[Fact]:
    def origin_of(item: Scalar, position: int) -> Location:
        if not isinstance(path_of, tuple) or not path_of or path_of[0] != "list":
            where = doc.where(path_of) if isinstance(path_of, tuple) and _present(raw, path_of) else decl.location
            return where
        _, index, _n_shared = path_of
        shared = raw.get(decl.id) or []
        if item in shared:
            return doc.where((decl.id, shared.index(item)))
        own = raw["legal_entities"][index].get(decl.id) or [] if raw.get("legal_entities") else []
        if item in own:
            return doc.where(("legal_entities", index, decl.id, own.index(item)))
        return decl.location

    items = merged if decl.is_list else [merged]
    facts = []
    for position, item in enumerate(items):
        values: dict[str, Scalar] = {"value": version_number(item) if decl.type == "version" else item}
        if entity is not None:
            values["entity"] = entity
        if not decl.is_list and entity is None:
            origin = doc.where((decl.id,)) if decl.id in raw else decl.location
        elif decl.is_list and entity is None:
            origin = doc.where((decl.id, position)) if decl.id in raw else decl.location
        else:
            origin = origin_of(item, position)
        facts.append(make_fact(decl.id, values, origin))
    return facts


def _present(raw: dict[str, Any], path: tuple[Any, ...]) -> bool:
    node: Any = raw
    for part in path:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        ):
            node = node[part]
        else:
            return False
    return True


def _dedupe(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _unique(facts: list[Fact]) -> list[Fact]:
    seen: set[Fact] = set()
    out = []
    for f in facts:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out
