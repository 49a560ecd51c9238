"""The JSON Schema of a facts file, generated from the vocabulary, and the hand check of it that a good file
passes without loading a validator."""

from __future__ import annotations

import re
from typing import Any

from ..model.fact_types import MAX_LIST, fact_type
from ..model.terms import FactDecl
from ..policy.knowledge import KnowledgeBase
from .layers import LAYER_KEYS, layers_ok, layers_schema

MAX_ENTITIES = 1000
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
        schema = fact_type(decl).schema(decl, kb.capabilities)
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
        elif key != "customer" and (key not in kb.facts or not value_fits(kb, kb.facts[key], item)):
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
            if decl is None or decl.scope != "entity" or not value_fits(kb, decl, item):
                return False
    return True


def value_fits(kb: KnowledgeBase, decl: FactDecl, value: Any) -> bool:
    """Does the value certainly fit the fact's declaration in this knowledge base?"""
    return fact_type(decl).fits(decl, value, kb.capabilities)
