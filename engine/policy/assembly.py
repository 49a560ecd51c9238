"""Assembly: parsed policy files merged into one knowledge base and checked as a whole (names unique,
references resolved, variables bound, rules stratified), reporting every problem in one pass."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from ..errors import BadInput, Location, Problem, did_you_mean
from ..io.loader import problems_sorted
from ..model.fact_types import FactType, fact_type
from ..model.terms import (
    Atom,
    Clause,
    Disable,
    Fact,
    FactDecl,
    FieldDecl,
    Layer,
    Predicate,
    Rule,
    Superseded,
    make_fact,
)
from .building import PolicyFile, Unbuilt
from .knowledge import RESERVED_FACT_KEYS, VOCABULARY_PREDICATES, KnowledgeBase
from .rule_checks import RuleChecker


def assemble(files: list[PolicyFile], unbuilt: Unbuilt | None = None) -> KnowledgeBase:
    """Merge parsed policy files and check them as a whole.

    Names in unbuilt belong to declarations left out for their own problems: references to them
    are not reported.
    """
    kb, problems = assemble_collecting(files, unbuilt)
    if problems:
        raise BadInput(problems_sorted(problems))
    return kb


def assemble_collecting(
    files: list[PolicyFile], unbuilt: Unbuilt | None = None
) -> tuple[KnowledgeBase, list[Problem]]:
    """As assemble, but the knowledge base is returned with its problems rather than refused for them.

    One with problems is not to be evaluated: it is as far as the files go, for lint's checks of them.
    """
    checker = _Checker(unbuilt or Unbuilt())
    types = checker.unique("deployment type", ((t.id, t, t.location) for f in files for t in f.deployment_types))
    capabilities = checker.unique("capability", ((c.id, c, c.location) for f in files for c in f.capabilities))
    facts = checker.layered_facts(files)
    codes = checker.unique("code", ((c.id, c, c.location) for f in files for c in f.codes))
    declared = checker.unique(
        "predicate", ((p.id, p, p.location or Location(f.path)) for f in files for p in f.predicates)
    )
    checker.unique("policy", ((f.name, f, f.location) for f in files if f.name))  # no name: already reported
    rules = checker.layered_rules(files)
    offers = [o for f in files for o in f.offers]

    kb = KnowledgeBase(files, types, capabilities, offers, facts, {}, codes, rules)
    for name in RESERVED_FACT_KEYS:
        if name in facts:
            checker.add(
                "reserved-name", f"'{name}' is part of every facts file and cannot be declared", facts[name].location
            )
    for name in VOCABULARY_PREDICATES:
        if name in facts:
            checker.add(
                "reserved-name",
                f"'{name}' names a predicate every knowledge base has; give the fact another id",
                facts[name].location,
            )
    system = system_predicates(kb)
    for pid, pred in declared.items():
        if pid in system:
            checker.add("duplicate-id", f"predicate '{pid}' is already given by the vocabulary", pred.location)
    kb.predicates = {**system, **declared}
    checker.offers(kb)
    def known_type(type_id: str, location: Location) -> bool:
        if type_id not in types and not checker.unbuilt.covers("deployment-type", type_id):
            checker.add("unknown-type", f"'{type_id}' is not a deployment type{did_you_mean(type_id, types)}", location)
        return type_id in types

    for f in files:
        for rename in f.renames:
            if known_type(rename.type, rename.location):
                kb.display_names[rename.type] = rename
    for f in files:
        for entry in f.sources:  # a later layer may retitle a document
            kb.sources[entry.id] = entry
    steps_layer: dict[str, str] = {}
    for f in files:
        for step in f.next_steps:
            if not known_type(step.type, step.location):
                continue
            if steps_layer.get(step.type) != step.layer:  # a later layer's steps for a type replace earlier ones
                steps_layer[step.type] = step.layer
                kb.next_steps[step.type] = []
            kb.next_steps[step.type].append(step)
    rule_checker = RuleChecker(checker.unbuilt, checker.problems)
    for rule in rules:
        rule_checker.rule(kb, rule)
    kb.rules = [_with_versions(kb, rule) for rule in rules]
    rule_checker.stratify(kb)
    kb.vocabulary_facts = vocabulary_facts(kb)
    kb.replaced = checker.replaced
    kb.disabled = checker.disabled
    kb.layers = layers_of(files)
    kb.superseded = checker.superseded
    return kb, checker.problems


def layers_of(files: Sequence[PolicyFile]) -> list[Layer]:
    """The knowledge base's layers in load order, each with the latest date and the first title its files give."""
    dates: dict[str, str | None] = {}
    titles: dict[str, str | None] = {}
    for f in files:
        dates.setdefault(f.layer, None)
        titles.setdefault(f.layer, None)
        if f.as_of is not None and (dates[f.layer] is None or str(f.as_of) > str(dates[f.layer])):
            dates[f.layer] = str(f.as_of)
        if titles[f.layer] is None and f.edition:
            titles[f.layer] = " ".join(f.edition.split())
    return [Layer(name, dates[name], titles[name]) for name in dates]


def system_predicates(kb: KnowledgeBase) -> dict[str, Predicate]:
    """The predicates every knowledge base has: the customer, its entities, the vocabulary, each fact."""
    s = FieldDecl("string", None)
    preds = {
        "customer": Predicate("customer", "The customer being advised.", {"name": s}, None, False, None),
        "entity": Predicate(
            "entity", "A legal entity of the customer.", {"name": FieldDecl("string", "entity")}, None, False, None
        ),
        "deployment-type": Predicate(
            "deployment-type",
            "A deployment type, its rank (lighter first) and whether it runs on Dynamics 365 Finance.",
            {
                "id": FieldDecl("string", "deployment-type"),
                "rank": FieldDecl("number", None),
                "finance": FieldDecl("boolean", None),
            },
            None,
            False,
            None,
        ),
        "capability": Predicate(
            "capability",
            "A capability a deployment type can offer.",
            {"id": FieldDecl("string", "capability")},
            None,
            False,
            None,
        ),
        "offers": Predicate(
            "offers",
            "A deployment type offers a capability.",
            {"type": FieldDecl("string", "deployment-type"), "capability": FieldDecl("string", "capability")},
            None,
            False,
            None,
        ),
    }
    for decl in kb.facts.values():
        if decl.id in preds:  # refused by assemble (reserved-name); the vocabulary's predicate stands
            continue
        kind = fact_type(decl)
        value = FieldDecl(kind.runtime, kind.domain(decl))
        fields = (
            {"value": value} if decl.scope == "customer" else {"entity": FieldDecl("string", "entity"), "value": value}
        )
        preds[decl.id] = Predicate(decl.id, decl.description, fields, None, False, decl.location)
    return preds


def vocabulary_facts(kb: KnowledgeBase) -> list[Fact]:
    facts = [
        make_fact("deployment-type", {"id": t.id, "rank": t.rank, "finance": t.finance}, t.location)
        for t in kb.types_by_rank()
    ]
    facts.extend(make_fact("capability", {"id": c.id}, c.location) for c in kb.capabilities.values())
    seen: set[Fact] = set()
    for offer in kb.offers:
        for cap in offer.capabilities:
            fact = make_fact("offers", {"type": offer.type, "capability": cap}, offer.location)
            if fact not in seen:
                seen.add(fact)
                facts.append(fact)
    return facts


def _with_versions(kb: KnowledgeBase, rule: Rule) -> Rule:
    """The rule with literals on facts whose rules see another value than the one written (a version,
    '10.0.44') turned into that value (a comparable number)."""
    grounded = {d.id: fact_type(d) for d in kb.facts.values() if fact_type(d).grounded}
    if not grounded:
        return rule

    def convert(value: Any, kind: FactType) -> Any:
        if isinstance(value, tuple):
            return tuple(convert(v, kind) for v in value)
        return kind.ground(value)

    def atom(a: Atom) -> Atom:
        kind = grounded.get(a.predicate)
        if kind is None:
            return a
        fields = tuple(
            replace(fp, tests=tuple(replace(t, operand=convert(t.operand, kind)) for t in fp.tests))
            if fp.field == "value"
            else fp
            for fp in a.fields
        )
        return replace(a, fields=fields)

    clauses = tuple(
        Clause(
            tuple(map(atom, c.positives)),
            tuple(map(atom, c.negatives)),
            tuple(replace(k, atom=atom(k.atom)) for k in c.counts),
        )
        for c in rule.clauses
    )
    return replace(rule, clauses=clauses)


class _Checker:
    def __init__(self, unbuilt: Unbuilt) -> None:
        self.unbuilt = unbuilt
        self.problems: list[Problem] = []
        self.replaced: dict[str, Rule] = {}
        self.disabled: dict[str, Disable] = {}
        self.superseded: dict[str, tuple[Superseded, ...]] = {}

    def layered_facts(self, files: list[PolicyFile]) -> dict[str, FactDecl]:
        """Facts of all files in layer order; a declaration replaces an earlier layer's only with 'overrides'."""
        placed: dict[str, FactDecl] = {}
        for f in files:
            for decl in f.facts:
                first = placed.get(decl.id)
                if decl.overrides is None:
                    if first is not None:
                        hint = f"; to replace it, add 'overrides: {decl.id}'" if first.layer != decl.layer else ""
                        self.add("duplicate-id", f"fact '{decl.id}' is already declared at {first.location}{hint}",
                                 decl.location)
                        continue
                    placed[decl.id] = decl
                    continue
                if decl.overrides != decl.id:
                    self.add(
                        "bad-value",
                        f"fact '{decl.id}' overrides '{decl.overrides}': a replacement keeps the id it replaces",
                        decl.location,
                    )
                    continue
                if first is None or first.layer == decl.layer:
                    where = "an earlier layer" if first is None else "an earlier layer, not this one"
                    if first is None and self.unbuilt.covers("fact", decl.overrides):
                        continue
                    self.add(
                        "unknown-fact",
                        f"'{decl.overrides}' is not a fact of {where}{did_you_mean(decl.overrides, placed)}",
                        decl.location,
                    )
                    continue
                placed[decl.id] = decl  # keeps the first declaration's place in the vocabulary order
        return placed

    def supersedes(self, rule: Rule, earlier: dict[str, Rule]) -> None:
        """Resolve what a rule says it supersedes: an earlier layer's rule, or a cited source line."""
        found: list[Superseded] = []
        for item in rule.supersedes:
            target = earlier.get(item)
            if target is not None and target.layer != rule.layer:
                found.append(Superseded(target.id, target.source))
            elif re.match(r"^[a-z][a-z0-9]*([_-][a-z0-9]+)*\Z", item):
                if self.unbuilt.covers("rule", item):
                    continue
                self.add(
                    "unknown-rule",
                    f"supersedes '{item}', which is not a rule of an earlier layer{did_you_mean(item, earlier)}"
                    " (or cite the superseded line, as 000_cd059b2c5f1fbec9.txt#pma)",
                    rule.location,
                )
            else:
                found.append(Superseded(None, item))
        if found:
            self.superseded[rule.id] = tuple(found)

    def layered_rules(self, files: list[PolicyFile]) -> list[Rule]:
        """Rules of all files in layer order; a rule replaces another only when it says 'overrides'."""
        placed: dict[str, Rule] = {}
        earlier: dict[str, Rule] = {}  # every rule of the layers so far, replaced or not, for 'supersedes'
        for f in files:
            for rule in f.rules:
                self.supersedes(rule, earlier)
                target_id = rule.overrides
                if target_id is None:
                    if rule.id in placed:
                        first = placed[rule.id]
                        hint = f"; to replace it, add 'overrides: {rule.id}'" if first.layer != rule.layer else ""
                        self.add(
                            "duplicate-id",
                            f"rule '{rule.id}' is already declared at {first.location}{hint}",
                            rule.location,
                        )
                        continue
                    placed[rule.id] = rule
                    continue
                target = placed.get(target_id)
                if target is None and self.unbuilt.covers("rule", target_id):
                    continue
                if target is None or target.layer == rule.layer:
                    where = "an earlier layer" if target is None else "an earlier layer, not this one"
                    self.add(
                        "unknown-rule",
                        f"'{target_id}' is not a rule of {where}{did_you_mean(target_id, placed)}",
                        rule.location,
                    )
                    continue
                if rule.id != target_id and rule.id in placed:
                    self.add(
                        "duplicate-id",
                        f"rule '{rule.id}' is already declared at {placed[rule.id].location}",
                        rule.location,
                    )
                    continue
                self.replaced[target_id] = rule
                # The replacement takes the replaced rule's place, so the trace keeps its order.
                placed = {
                    (rule.id if k == target_id else k): (rule if k == target_id else v) for k, v in placed.items()
                }
            for off in f.disables:
                target = placed.get(off.rule)
                if target is None and self.unbuilt.covers("rule", off.rule):
                    continue
                if target is None or target.layer == off.layer:
                    self.add(
                        "unknown-rule",
                        f"'{off.rule}' is not a rule of an earlier layer{did_you_mean(off.rule, placed)}",
                        off.location,
                    )
                    continue
                self.disabled[off.rule] = off
                del placed[off.rule]
            for rule in f.rules:
                earlier[rule.id] = rule
        return list(placed.values())

    def add(self, code: str, message: str, location: Location) -> None:
        self.problems.append(Problem(code, message, location))

    def unique(self, what: str, items: Iterable[tuple[str, Any, Location]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        first: dict[str, Location] = {}
        for key, item, loc in items:
            if key in found:
                self.add("duplicate-id", f"{what} '{key}' is already declared at {first[key]}", loc)
                continue
            found[key] = item
            first[key] = loc
        return found

    def offers(self, kb: KnowledgeBase) -> None:
        for offer in kb.offers:
            if offer.type not in kb.types and not self.unbuilt.covers("deployment-type", offer.type):
                self.add(
                    "unknown-type",
                    f"'{offer.type}' is not a deployment type{did_you_mean(offer.type, kb.types)}",
                    offer.location,
                )
            for cap in offer.capabilities:
                if cap not in kb.capabilities and not self.unbuilt.covers("capability", cap):
                    self.add(
                        "unknown-capability",
                        f"'{cap}' is not a capability{did_you_mean(cap, kb.capabilities)}",
                        offer.location,
                    )
