"""Facts files: read, validated against the vocabulary, and turned into ground facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput, Location, Problem
from ..io.loader import Document, control_problems, load_document, problems_sorted
from ..model.fact_types import fact_type
from ..model.terms import Fact, FactDecl, Scalar, make_fact
from ..policy.knowledge import KnowledgeBase
from ..records import record
from .problems import entity_names, schema_problems, unknown_and_given
from .schema import conforms, facts_schema


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


def load_facts(kb: KnowledgeBase, path: str) -> FactsInput:
    """Read, validate and normalise a facts file ('-' for standard input)."""
    doc = load_document(path)
    return read_facts(kb, doc)


def read_facts(kb: KnowledgeBase, doc: Document, *, conforming: bool = False) -> FactsInput:
    """The facts of a document, checked against the facts schema and normalised. `conforming`: the document
    is known to conform already (a checked document edited within the vocabulary, as what-if's search
    edits it thousands of times) and is read for what its facts derive: it is not checked again, and its
    facts are not located in it (a fact's place is no part of what it is)."""
    if conforming:
        return _normalise(kb, doc, located=False)
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


def _validate(kb: KnowledgeBase, doc: Document) -> list[Problem]:
    controls = control_problems(doc)
    if conforms(kb, doc.value):
        return [*controls, *entity_names(doc), *unknown_and_given(kb, doc)]
    import jsonschema  # imported here: only a file with a problem pays for it

    validator = jsonschema.Draft202012Validator(facts_schema(kb))
    problems = []
    for error in validator.iter_errors(doc.value):
        problems.extend(schema_problems(kb, doc, error))
    problems.extend(entity_names(doc))
    problems.extend(unknown_and_given(kb, doc))
    problems.extend(controls)
    return problems


def _normalise(kb: KnowledgeBase, doc: Document, located: bool = True) -> FactsInput:
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
                ground.extend(_ground(decl, shared[decl.id], None, doc, (decl.id,), value, located))
            continue
        for i, entity in enumerate(entities):
            own = listed[i].get(decl.id) if listed else None
            if listed and decl.id in listed[i]:
                given.add((decl.id, entity.name))
            merged, path_of = _merge(decl, shared.get(decl.id), own, i)
            if merged is None:
                continue
            entity.values[decl.id] = merged
            ground.extend(_ground(decl, merged, entity.name, doc, path_of, value, located))
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
    decl: FactDecl,
    merged: Any,
    entity: str | None,
    doc: Document,
    path_of: Any,
    raw: dict[str, Any],
    located: bool = True,
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

    kind = fact_type(decl)
    items = merged if decl.is_list else [merged]
    facts = []
    for position, item in enumerate(items):
        values: dict[str, Scalar] = {"value": kind.ground(item)}
        if entity is not None:
            values["entity"] = entity
        if not located:
            origin = None
        elif not decl.is_list and entity is None:
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
