"""Assembly: parsed policy files merged into one knowledge base and checked as a whole (names unique,
references resolved, variables bound, rules stratified), reporting every problem in one pass."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from ..errors import BadInput, Location, Problem, did_you_mean
from ..io.loader import problems_sorted
from ..model.terms import (
    VERSION_PATTERN,
    Atom,
    Clause,
    Conclusion,
    Disable,
    Fact,
    FactDecl,
    FieldDecl,
    Layer,
    Predicate,
    Rule,
    Scalar,
    Superseded,
    Var,
    explanation_parts,
    make_fact,
    version_number,
)
from .knowledge import CONDITION_KEYS, RESERVED_FACT_KEYS, VOCABULARY_PREDICATES, CompiledClause, KnowledgeBase
from .reading import PolicyFile, Unbuilt


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
    for rule in rules:
        checker.rule(kb, rule)
    kb.rules = [_with_versions(kb, rule) for rule in rules]
    checker.stratify(kb)
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
        value = FieldDecl(decl.runtime_type, decl.domain)
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
    """The rule with version literals ('10.0.44') on version facts turned into comparable numbers."""
    version_facts = {d.id for d in kb.facts.values() if d.type == "version"}
    if not version_facts:
        return rule

    def convert(value: Any) -> Any:
        if isinstance(value, str) and re.match(VERSION_PATTERN, value):
            return version_number(value)
        if isinstance(value, tuple):
            return tuple(convert(v) for v in value)
        return value

    def atom(a: Atom) -> Atom:
        if a.predicate not in version_facts:
            return a
        fields = tuple(
            replace(fp, tests=tuple(replace(t, operand=convert(t.operand)) for t in fp.tests))
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


# What a variable holds when the condition that binds it has a problem of its own: it counts as
# bound, and is compared with nothing, so that the one problem is reported once.
_UNCHECKED = FieldDecl("string", None)


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

    # -- rules ---------------------------------------------------------------------------------

    def rule(self, kb: KnowledgeBase, rule: Rule) -> None:
        bound_everywhere: set[str] | None = None
        for clause in rule.clauses:
            env = self.clause(kb, rule, clause)
            for conclusion in rule.conclusions:
                self.conclusion(kb, conclusion, env)
            names = set(env)
            bound_everywhere = names if bound_everywhere is None else bound_everywhere & names
        for _, name in explanation_parts(rule.explanation) or ():
            if name is None:
                continue
            if name == "" or name not in (bound_everywhere or set()):
                self.add(
                    "unknown-placeholder",
                    f"explanation uses '{{{name}}}', which is not a variable every case of the rule binds",
                    rule.location,
                )

    def clause(self, kb: KnowledgeBase, rule: Rule, clause: Clause) -> dict[str, FieldDecl]:
        env: dict[str, FieldDecl] = {}
        count_vars = {c.var.name for c in clause.counts}
        for atom in clause.positives:
            self.atom(kb, atom, env, binding=True, count_vars=count_vars)
        for atom in clause.negatives:
            self.atom(kb, atom, env, binding=False, count_vars=count_vars)
        for count in clause.counts:
            self.atom(kb, count.atom, env, binding=False, count_vars=count_vars)
        for count in clause.counts:
            if count.var.name in env:
                self.add(
                    "rebound-variable",
                    f"${count.var.name} is already bound; name the count differently",
                    count.location,
                )
            env[count.var.name] = FieldDecl("number", None)
        return env

    def atom(
        self, kb: KnowledgeBase, atom: Atom, env: dict[str, FieldDecl], *, binding: bool, count_vars: set[str]
    ) -> None:
        pred = kb.predicates.get(atom.predicate)
        if pred is None:
            if not self.unbuilt.covers("predicate", atom.predicate):
                names = [*kb.predicates, *self.unbuilt.ids.get("predicate", ()), *CONDITION_KEYS]
                self.add(
                    "unknown-predicate",
                    f"'{atom.predicate}' is not a declared fact or conclusion{did_you_mean(atom.predicate, names)}",
                    atom.location,
                )
            if binding:
                for fp in atom.fields:
                    if fp.bind is not None:
                        env.setdefault(fp.bind.name, _UNCHECKED)
            return
        local: set[str] = set()  # variables this atom binds: the engine cannot compare two fields of one fact
        for fp in atom.fields:
            decl = pred.fields.get(fp.field)
            if decl is None:
                self.add(
                    "unknown-field",
                    f"'{atom.predicate}' has no field '{fp.field}'{did_you_mean(fp.field, pred.fields)}"
                    f" (fields: {', '.join(pred.fields)})",
                    fp.location,
                )
                if binding and fp.bind is not None:
                    env.setdefault(fp.bind.name, _UNCHECKED)
                continue
            for test in fp.tests:
                if isinstance(test.operand, tuple):
                    for item in test.operand:
                        self.literal(kb, item, decl, fp.location)
                elif isinstance(test.operand, Var):
                    name = test.operand.name
                    if name in local:
                        self.add(
                            "same-fact-comparison",
                            f"${name} is bound by this same condition; two fields of one fact cannot be compared",
                            fp.location,
                        )
                    elif name in count_vars:
                        self.add("count-in-condition", f"${name} is a count; compare it in another rule", fp.location)
                    elif name not in env:
                        self.add(
                            "unbound-variable",
                            f"${name} is compared before a condition binds it; bind it in an earlier condition",
                            fp.location,
                        )
                    else:
                        self.compatible(name, env[name], decl, fp.location)
                else:
                    self.literal(kb, test.operand, decl, fp.location)
                if test.op in ("lt", "lte", "gt", "gte") and decl.type != "number":
                    self.add(
                        "type-mismatch",
                        f"'{fp.field}' holds a {decl.type}; only numbers can be ordered (lt, lte, gt, gte)",
                        fp.location,
                    )
            if fp.bind is None:
                continue
            name = fp.bind.name
            if name in local:
                self.add(
                    "same-fact-comparison",
                    f"${name} is bound twice in this condition; two fields of one fact cannot be compared",
                    fp.location,
                )
                continue
            if name not in env:
                local.add(name)
            if name in count_vars:
                self.add("count-in-condition", f"${name} is a count; compare it in another rule", fp.location)
            elif name in env:
                self.compatible(name, env[name], decl, fp.location)
            elif binding:
                env[name] = decl
            else:
                self.add(
                    "unbound-variable",
                    f"${name} appears only under 'not' or 'count'; bind it in a positive condition first",
                    fp.location,
                )

    def compatible(self, name: str, have: FieldDecl, want: FieldDecl, loc: Location) -> None:
        if have is not _UNCHECKED and have.type != want.type:
            self.add("type-mismatch", f"${name} holds a {have.type} but is compared with a {want.type}", loc)

    def literal(self, kb: KnowledgeBase, value: Scalar, decl: FieldDecl, loc: Location) -> None:
        if decl.domain == "version" and isinstance(value, str):
            if not re.match(VERSION_PATTERN, value):
                self.add("bad-value", f"'{value}' is not a version like 10.0.44", loc)
            return
        actual = "boolean" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else "string"
        if actual != decl.type:
            shown = ("true" if value else "false") if isinstance(value, bool) else repr(value)  # as YAML writes it
            self.add("type-mismatch", f"{shown} is a {actual}; this field holds a {decl.type}", loc)
            return
        domain = decl.domain
        if domain is None or domain == "entity" or not isinstance(value, str):
            return
        known: Iterable[str]
        if domain == "deployment-type":
            known, what = kb.types, "deployment type"
        elif domain == "capability":
            known, what = kb.capabilities, "capability"
        elif domain == "code":
            known, what = kb.codes, "warning or note code"
        elif domain.startswith("fact:"):
            decl_id = domain[5:]
            known, what = kb.facts[decl_id].values, f"value of '{decl_id}'"
        else:  # pragma: no cover - the schema lists every domain
            return
        if value not in known:
            if domain in ("deployment-type", "capability", "code") and self.unbuilt.covers(domain, value):
                return
            hint = did_you_mean(value, known)
            if not hint and domain.startswith("fact:"):
                hint = f" (one of: {', '.join(known)})"
            self.add(
                f"unknown-{'value' if domain.startswith('fact:') else domain}",
                f"'{value}' is not a {what}{hint}",
                loc,
            )

    def conclusion(self, kb: KnowledgeBase, conclusion: Conclusion, env: dict[str, FieldDecl]) -> None:
        pred = kb.predicates.get(conclusion.predicate)
        if pred is None:
            if self.unbuilt.covers("predicate", conclusion.predicate):
                return
            self.add(
                "unknown-predicate",
                f"'{conclusion.predicate}' is not a declared conclusion"
                f"{did_you_mean(conclusion.predicate, [p for p in kb.predicates if kb.predicates[p].derived])}",
                conclusion.location,
            )
            return
        if not pred.derived:
            self.add(
                "not-derivable",
                f"'{conclusion.predicate}' comes from the facts file or the vocabulary; rules conclude only"
                " predicates declared under 'predicates'",
                conclusion.location,
            )
            return
        given = {name for name, _ in conclusion.values}
        for name, decl in pred.fields.items():
            if name not in given and not decl.optional:
                self.add("missing-field", f"'{conclusion.predicate}' needs a value for '{name}'", conclusion.location)
        for name, value in conclusion.values:
            field_decl = pred.fields.get(name)
            if field_decl is None:
                self.add(
                    "unknown-field",
                    f"'{conclusion.predicate}' has no field '{name}'{did_you_mean(name, pred.fields)}"
                    f" (fields: {', '.join(pred.fields)})",
                    conclusion.location,
                )
            elif isinstance(value, Var):
                if value.name not in env:
                    self.add(
                        "unbound-variable", f"${value.name} is not bound by the rule's conditions", conclusion.location
                    )
                else:
                    self.compatible(value.name, env[value.name], field_decl, conclusion.location)
            else:
                self.literal(kb, value, field_decl, conclusion.location)

    # -- strata --------------------------------------------------------------------------------

    def stratify(self, kb: KnowledgeBase) -> None:
        """Place each rule in a stratum so that whatever it negates or counts is complete first."""
        level: dict[str, int] = {p: 0 for p in kb.predicates}
        rule_level: dict[str, int] = {}
        limit = len(kb.rules) + 2
        changed = True
        rounds = 0
        while changed:
            changed = False
            rounds += 1
            for rule in kb.rules:
                need = 1
                for clause in rule.clauses:
                    # An undeclared predicate (already reported) depends on nothing.
                    for atom in clause.positives:
                        need = max(need, level.get(atom.predicate, 0))
                    for atom in clause.negatives:
                        need = max(need, level.get(atom.predicate, 0) + 1)
                    for count in clause.counts:
                        need = max(need, level.get(count.atom.predicate, 0) + 1)
                if rule_level.get(rule.id) != need:
                    rule_level[rule.id] = need
                    changed = True
                for conclusion in rule.conclusions:
                    if conclusion.predicate in level and level[conclusion.predicate] < need:
                        level[conclusion.predicate] = need
                        changed = True
            if changed and rounds > limit:
                cyclic = [r for r in kb.rules if rule_level[r.id] > limit - 1]
                for rule in cyclic or kb.rules[:1]:
                    self.add(
                        "unstratifiable",
                        f"rule '{rule.id}' depends on the absence (or count) of a conclusion that it helps "
                        "to derive; break the cycle",
                        rule.location,
                    )
                return
        placed = [
            (rule, i, clause)
            for rule in sorted(kb.rules, key=lambda r: rule_level[r.id])
            for i, clause in enumerate(rule.clauses)
        ]
        kb.clauses = [
            CompiledClause(rule, i, clause, rule_level[rule.id], position)
            for position, (rule, i, clause) in enumerate(placed)
        ]
        kb.strata = max(rule_level.values(), default=0)
