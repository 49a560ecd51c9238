"""Values and explanations in the customer's words.

A rule's explanation names values as the trace holds them (`production-orders`,
`stocked-production`); a customer reads the capability and the product by name. This is the one
place that turns the one into the other, for the warnings a decision carries and for every
renderer after it.
"""

from __future__ import annotations

import functools
import re

from ..model.terms import explanation_parts, show_value
from ..policy.knowledge import KnowledgeBase
from .derivation import Firing

__all__ = ["business_explanation", "named_types", "readable", "type_with_id"]


def readable(kb: KnowledgeBase, value: object, domain: str | None) -> str:
    """A value for a customer: a capability or deployment type by its name, anything else as written."""
    text = show_value(value)
    if domain == "capability" and text in kb.capabilities:
        return kb.capability_words(text)
    if domain is not None and domain.startswith("fact:") and domain[5:] in kb.facts:
        label = kb.facts[domain[5:]].label(text)
        if label is not None:
            return label
    if text in kb.types and domain in ("deployment-type", "fact:existing_solution", None):
        return kb.type_name(text)
    return text


def _domains(kb: KnowledgeBase, firing: Firing) -> dict[str, str | None]:
    """The domain of each variable of the firing's clause (capability, deployment-type, entity...)."""
    found: dict[str, str | None] = {}
    clause = firing.clause.clause
    for atom in (*clause.positives, *clause.negatives):
        predicate = kb.predicates.get(atom.predicate)
        if predicate is None:
            continue
        for fp in atom.fields:
            decl = predicate.fields.get(fp.field)
            if fp.bind is not None and decl is not None:
                found.setdefault(fp.bind.name, decl.domain)
    return found


def business_explanation(kb: KnowledgeBase, firing: Firing) -> str:
    """The firing's explanation with capabilities and types named as the customer knows them."""
    parts = explanation_parts(firing.clause.rule.explanation)
    if not parts:
        return named_types(kb, firing.explanation)
    bindings = dict(firing.bindings)
    domains = _domains(kb, firing)
    out = []
    for literal, name in parts:
        out.append(named_types(kb, literal))
        if name is not None:
            out.append(readable(kb, bindings[name], domains.get(name)) if name in bindings else f"{{{name}}}")
    return "".join(out)


def type_with_id(kb: KnowledgeBase, type_id: str | None) -> str:
    """A deployment type by its name, its id beside it ('Project Operations Core (lite)'); 'none' for none."""
    if type_id is None:
        return "none"
    return f"{kb.type_name(type_id)} ({type_id})" if type_id in kb.types else type_id


def named_types(kb: KnowledgeBase, text: str) -> str:
    """A deployment type an explanation names by its id ('so S takes resource-non-stocked'), named as today."""
    if not any(t in text for t in kb.types):
        return text
    return _type_ids(tuple(kb.types)).sub(lambda m: kb.type_name(m.group(1)), text)


@functools.cache
def _type_ids(types: tuple[str, ...]) -> re.Pattern[str]:
    """Any of these type ids as a whole word (longest first, so that no id matches inside another)."""
    alternatives = "|".join(re.escape(t) for t in sorted(types, key=len, reverse=True))
    return re.compile(rf"(?<![\w/-])({alternatives})(?![\w/-])")
