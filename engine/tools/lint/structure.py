"""Checks of the rules as a whole: layers that replace or switch rules off, copied rules, cycles among derived
facts, and codes no rule concludes."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from ...model.terms import Rule
from ...policy.knowledge import KnowledgeBase
from .conflicts import atom_form, literal
from .report import Finding

# Codes podeploy itself concludes, outside any rule (decision.py: two deployments for one entity).
ENGINE_CODES = ("conflicting-deployments",)


def unused_codes(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    """`unused-code`: a warning or note code that no rule concludes (a rule left out, or a code misspelt in it)."""
    notices = {pid for pid, p in kb.predicates.items() if p.role in ("warning", "note")}
    concluded = {
        literal(c, "code") for rule in rules for c in rule.conclusions if c.predicate in notices
    }
    return [
        Finding(
            "unused-code",
            "warning",
            f"{code.kind} code '{code.id}' is declared but no rule concludes it; conclude it in a rule, or remove it",
            code.location,
        )
        for code in kb.codes.values()
        if code.id not in concluded and code.id not in ENGINE_CODES
    ]


def layer_findings(kb: KnowledgeBase) -> list[Finding]:
    """`shadowed` for each explicit override, `disabled` for each rule switched off."""
    findings: list[Finding] = []
    placed: dict[str, Rule] = {}
    for f in kb.files:
        for rule in f.rules:
            target = placed.get(rule.overrides) if rule.overrides is not None else None
            if target is not None and target.layer != rule.layer:
                findings.append(
                    Finding(
                        "shadowed",
                        "info",
                        f"rule '{rule.id}' replaces rule '{target.id}' at {target.location} (layer "
                        f"{target.layer}), which no longer runs; keep the two in step when that rule changes",
                        rule.location,
                    )
                )
                del placed[target.id]
            placed.setdefault(rule.id, rule)
        for off in f.disables:
            disabled = placed.pop(off.rule, None)
            if disabled is None:
                continue
            findings.append(
                Finding(
                    "disabled",
                    "warning",
                    f"rule '{disabled.id}' at {disabled.location} (layer {disabled.layer}) is switched off: "
                    f"{' '.join(off.reason.split())}; its conclusions are no longer drawn: remove this entry "
                    "to run it again",
                    off.location,
                )
            )
    return findings


def _rule_form(rule: Rule) -> frozenset[tuple[Any, ...]]:
    return frozenset(
        (
            tuple(sorted(map(atom_form, c.positives), key=repr)),
            tuple(sorted(map(atom_form, c.negatives), key=repr)),
            tuple(sorted(((atom_form(k.atom), k.var) for k in c.counts), key=repr)),
        )
        for c in rule.clauses
    )


def duplicates(rules: list[Rule]) -> list[Finding]:
    """Rules with the same conditions concluding the same kinds of fact: one was likely copied."""
    findings: list[Finding] = []
    seen: dict[tuple[Any, ...], Rule] = {}
    for rule in rules:
        kinds = tuple(sorted({c.predicate for c in rule.conclusions}))
        key = (_rule_form(rule), kinds)
        first = seen.setdefault(key, rule)
        if first is not rule:
            findings.append(
                Finding(
                    "duplicate-conditions",
                    "warning",
                    f"rule '{rule.id}' has the same conditions as rule '{first.id}' ({first.location}) and "
                    f"concludes the same kinds of fact ({', '.join(kinds)}); merge the two rules, or correct "
                    "the conditions of the one that was copied",
                    rule.location,
                )
            )
    return findings


def cycles(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    """Derived facts that depend on themselves through positive conditions."""
    edges: dict[tuple[str, str], Rule] = {}
    by_rule: dict[str, list[tuple[str, str]]] = {}
    for rule in rules:
        for clause in rule.clauses:
            for atom in clause.positives:
                pred = kb.predicates.get(atom.predicate)
                if pred is None or not pred.derived:
                    continue
                for conclusion in rule.conclusions:
                    edge = (atom.predicate, conclusion.predicate)
                    edges.setdefault(edge, rule)
                    if edge not in by_rule.setdefault(rule.id, []):
                        by_rule[rule.id].append(edge)
    following: dict[str, list[str]] = {}
    for source, target in edges:
        following.setdefault(source, []).append(target)

    def path(start: str, goal: str) -> list[str] | None:
        """The shortest chain of predicates from start to goal, both included."""
        came: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            if here == goal:
                chain = [here]
                step = came[here]
                while step is not None:
                    chain.append(step)
                    step = came[step]
                return chain[::-1]
            for nxt in following.get(here, []):
                if nxt not in came:
                    came[nxt] = here
                    queue.append(nxt)
        return None

    findings: list[Finding] = []
    for rule in rules:
        for source, target in by_rule.get(rule.id, []):
            back = [target] if source == target else path(target, source)
            if back is None:
                continue
            chain = [source, *back] if source != target else [source, target]
            steps = [
                f"'{a}' -> '{b}' (rule '{(rule if (a, b) == (source, target) else edges[(a, b)]).id}')"
                for a, b in itertools.pairwise(chain)
            ]
            findings.append(
                Finding(
                    "cycle",
                    "warning",
                    f"rule '{rule.id}' derives '{target}' from '{source}', closing a cycle among derived facts: "
                    f"{', '.join(steps)}; a fact in it can support itself: break the cycle unless the "
                    "recursion is intended",
                    rule.location,
                )
            )
            break
    return findings
