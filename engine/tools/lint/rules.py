"""Checks of one rule at a time: its source and description, and the cases of it that fire by default or never."""

from __future__ import annotations

from ...errors import Location
from ...model.terms import Atom, Clause, Rule, Scalar, Test, show_value
from ...policy.knowledge import KnowledgeBase
from .report import Finding
from .values import impossible, passes, pin
from .wording import generic_explanation, undated_source

MIN_DESCRIPTION = 10  # characters; shorter descriptions say too little to audit a rule by


def local_findings(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    findings: list[Finding] = []
    listed_as_of = {entry.id: f.as_of for f in kb.files if f.as_of for entry in f.sources}
    for rule in rules:
        if rule.source is None or not rule.source.strip():
            findings.append(
                Finding(
                    "missing-source",
                    "warning",
                    f"rule '{rule.id}' has no 'source'; add the seed section or documentation path it comes from",
                    rule.location,
                )
            )
        if len(rule.description.strip()) < MIN_DESCRIPTION:
            findings.append(
                Finding(
                    "weak-description",
                    "warning",
                    f"rule '{rule.id}' has a {len(rule.description.strip())}-character description; "
                    "say in a sentence what the rule decides",
                    rule.location,
                )
            )
        findings.extend(generic_explanation(kb, rule))
        findings.extend(undated_source(kb, rule, listed_as_of))
        findings.extend(_fires_by_default(kb, rule))
        findings.extend(_never_fires(kb, rule))
    return findings


def _fires_by_default(kb: KnowledgeBase, rule: Rule) -> list[Finding]:
    """`fires-by-default`: a case of the rule that every customer passes without saying anything, because what
    it asks of the customer's facts is their defaults."""
    findings: list[Finding] = []
    for clause in rule.clauses:
        defaulted: list[tuple[Atom, Scalar, str]] = []
        silent = not clause.counts  # does a customer who said nothing pass every condition of this clause?
        for atom in clause.positives if silent else ():
            decl = kb.facts.get(atom.predicate)
            if atom.predicate == "entity":
                continue  # every customer has at least one
            if decl is None or decl.is_list or decl.default is None or not passes(kb, atom, decl.default):
                silent = False
                break
            defaulted.append((atom, decl.default, "passes"))
        for atom in clause.negatives if silent else ():
            decl = kb.facts.get(atom.predicate)
            if decl is None or (decl.default is not None and not decl.is_list and passes(kb, atom, decl.default)):
                silent = False  # a conclusion of other rules, or a default the 'not' refuses: it may not hold
                break
            if decl.default is not None and not decl.is_list:
                defaulted.append((atom, decl.default, "keeps the 'not' true"))
        if not silent or not defaulted:
            continue
        shown = " or ".join(
            f"'{atom.predicate}' (its default, {show_value(value)}, {how})" for atom, value, how in defaulted
        )
        findings.append(
            Finding(
                "fires-by-default",
                "warning",
                f"rule '{rule.id}' fires for every customer, even one who never mentioned {shown}; test a value "
                "the customer has to give, or declare the fact without a default",
                defaulted[0][0].location,
            )
        )
    return findings


def _never_fires(kb: KnowledgeBase, rule: Rule) -> list[Finding]:
    dead = [dead_ends(kb, clause) for clause in rule.clauses]
    everywhere = all(dead)
    findings: list[Finding] = []
    for reasons in dead:
        for location, reason in reasons:
            what = "can never fire" if everywhere else "can never fire in this case of its 'any'"
            findings.append(Finding("never-fires", "error", f"rule '{rule.id}' {what}: {reason}", location))
    return findings


def dead_ends(kb: KnowledgeBase, clause: Clause) -> list[tuple[Location, str]]:
    """Why a clause can never hold: a field no value passes, or two conditions needing one fact."""
    reasons: list[tuple[Location, str]] = []
    bound: set[str] = set()
    earlier: list[Atom] = []
    for atom in clause.positives:
        for fp in atom.fields:
            tests = list(fp.tests)
            if fp.bind is not None and fp.bind.name in bound:
                tests.append(Test("eq", fp.bind))  # a join on a bound variable
            reason = impossible(kb, atom.predicate, fp.field, tests)
            if reason is not None:
                reasons.append(
                    (
                        fp.location,
                        f"no value of {_field_name(kb, atom, fp.field)} passes {reason}; "
                        "correct the test that contradicts the others",
                    )
                )
        for other in earlier:
            reason = _same_fact(kb, other, atom)
            if reason is not None:
                reasons.append((atom.location, reason))
                break
        earlier.append(atom)
        bound |= {fp.bind.name for fp in atom.fields if fp.bind is not None}
    return reasons


def _field_name(kb: KnowledgeBase, atom: Atom, name: str) -> str:
    if name == "value" and atom.predicate in kb.facts:
        return f"'{atom.predicate}'"
    return f"'{atom.predicate}.{name}'"


def _same_fact(kb: KnowledgeBase, first: Atom, second: Atom) -> str | None:
    """Why two positive conditions of one clause can never match two different facts, or None."""
    if first.predicate != second.predicate or first.predicate not in kb.predicates:
        return None
    name = first.predicate
    decl = kb.facts.get(name)
    if decl is not None and not decl.is_list:
        keys = [] if decl.scope == "customer" else ["entity"]
        if all(pin(first, k) is not None and pin(first, k) == pin(second, k) for k in keys):
            holder = "the customer" if decl.scope == "customer" else "each legal entity"
            return (
                f"'{name}' holds one value for {holder} and each condition matches a different fact, so this "
                f"condition and the one at {first.location} cannot both hold; test '{name}' once "
                "(with 'in: [...]' for alternatives)"
            )
        return None
    fields = list(kb.predicates[name].fields)
    if all(pin(first, k) is not None and pin(first, k) == pin(second, k) for k in fields):
        return (
            f"this condition asks for the same '{name}' fact as the one at {first.location}, and each "
            "condition matches a different fact; remove one of them"
        )
    return None
