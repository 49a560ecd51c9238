"""The checks of each rule against the knowledge base it belongs to (predicates and fields declared,
variables bound before they are compared, literals of the field's type and domain), and its place in a
stratum, so that whatever a rule negates or counts is complete before it runs."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import Location, Problem, did_you_mean
from ..model.terms import VERSION_PATTERN, Atom, Clause, Conclusion, FieldDecl, Rule, Scalar, Var, explanation_parts
from .building import Unbuilt
from .knowledge import CONDITION_KEYS, CompiledClause, KnowledgeBase

# What a variable holds when the condition that binds it has a problem of its own: it counts as
# bound, and is compared with nothing, so that the one problem is reported once.
_UNCHECKED = FieldDecl("string", None)


class RuleChecker:
    """Checks rules, adding what it finds to a list of problems shared with the rest of assembly."""

    def __init__(self, unbuilt: Unbuilt, problems: list[Problem]) -> None:
        self.unbuilt = unbuilt
        self.problems = problems

    def add(self, code: str, message: str, location: Location) -> None:
        self.problems.append(Problem(code, message, location))

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
