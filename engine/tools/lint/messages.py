"""`merged-messages`: warnings and notes whose explanations the customer reads run together."""

from __future__ import annotations

from ...model.terms import Clause, Conclusion, Rule, Scalar, Var, explanation_parts
from ...policy.knowledge import KnowledgeBase
from ...policy.layers import shipped_layer
from .conflicts import exclusive, literal
from .report import Finding
from .rules import dead_ends


def merged_messages(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    """`merged-messages`, for the rules of a consultant's layers: a warning or note that two rules, or two firings
    of one rule, conclude alike. It is one warning, and its message is their explanations one after the other."""
    notices = {pid for pid, p in kb.predicates.items() if p.role in ("warning", "note")}
    mine = {  # the rules of a consultant's layers, those that can fire
        r.location
        for f in kb.files
        if not shipped_layer(f.layer)
        for r in f.rules
        if not all(dead_ends(kb, clause) for clause in r.clauses)
    }
    by_id: dict[str, list[Rule]] = {}
    for f in kb.files:
        for r in f.rules:
            by_id.setdefault(r.id, []).append(r)
    findings: list[Finding] = []
    by_code: dict[tuple[str, Scalar], list[tuple[Rule, Conclusion]]] = {}
    for rule in rules:
        for conclusion in rule.conclusions:
            code = literal(conclusion, "code")
            if conclusion.predicate in notices and code is not None:
                by_code.setdefault((conclusion.predicate, code), []).append((rule, conclusion))
                if rule.location in mine:
                    findings.extend(_merged_firings(kb, rule, conclusion))
    for (kind, code), concluding in by_code.items():
        for i, (later, ours) in enumerate(concluding):
            if later.location not in mine or _inherited(later, kind, code, by_id):
                continue
            for earlier, theirs in concluding[:i] + [c for c in concluding[i + 1 :] if c[0].location not in mine]:
                if earlier is later or not _alike(ours, theirs) or exclusive(kb, earlier, theirs, later, ours):
                    continue
                findings.append(
                    Finding(
                        "merged-messages",
                        "warning",
                        f"rule '{later.id}' concludes {kind} '{code}' as rule '{earlier.id}' ({earlier.location}) "
                        f"does, and nothing keeps both from firing for one customer: they make one {kind}, whose "
                        f"message runs their two explanations together; give this rule a {kind} code of its own, "
                        f"or a field{_free_fields(kb, ours)} that tells the two apart",
                        ours.location,
                    )
                )
                break
    return findings


def _inherited(rule: Rule, kind: str, code: Scalar, by_id: dict[str, list[Rule]]) -> bool:
    """Does the rule replace one that concluded the same code? It keeps what that rule said beside the others."""
    return rule.overrides is not None and any(
        r.location != rule.location and any(c.predicate == kind and literal(c, "code") == code for c in r.conclusions)
        for r in by_id.get(rule.overrides, [])
    )


def _free_fields(kb: KnowledgeBase, conclusion: Conclusion) -> str:
    """' (type, capability)': the fields of the conclusion's predicate it leaves out, to suggest."""
    pred = kb.predicates.get(conclusion.predicate)
    used = {name for name, _ in conclusion.values}
    free = [name for name in (pred.fields if pred is not None else ()) if name not in used]
    return f" ({', '.join(free)})" if free else ""


def _alike(first: Conclusion, second: Conclusion) -> bool:
    """Can the two conclusions draw the same fact: the same fields, and no two literals that differ?"""
    if {name for name, _ in first.values} != {name for name, _ in second.values}:
        return False
    theirs = dict(second.values)
    return all(
        isinstance(value, Var) or isinstance(theirs[name], Var) or theirs[name] == value for name, value in first.values
    )


def _merged_firings(kb: KnowledgeBase, rule: Rule, conclusion: Conclusion) -> list[Finding]:
    """A notice that leaves out a variable the explanation names: the rule's firings for two values of it conclude
    one notice, worded twice."""
    try:
        named = [name for _, name in explanation_parts(rule.explanation) or () if name is not None]
    except ValueError:
        return []
    carried = {value.name for _, value in conclusion.values if isinstance(value, Var)}
    loose: list[str] = []
    for clause in rule.clauses:
        fixed = _determined(kb, clause, carried)
        loose.extend(name for name in named if name not in fixed and name not in loose)
    if not loose:
        return []
    shown = ", ".join(f"'{{{name}}}'" for name in loose)
    kind, code = conclusion.predicate, literal(conclusion, "code")
    return [
        Finding(
            "merged-messages",
            "warning",
            f"rule '{rule.id}' names {shown} in its explanation, but its {kind} '{code}' does not carry "
            f"{'it' if len(loose) == 1 else 'them'}: when the rule fires for two values, the customer reads one "
            f"{kind} with both explanations run together; conclude the value in a field of the {kind}"
            f"{_free_fields(kb, conclusion)} or leave it out of the explanation",
            conclusion.location,
        )
    ]


def _determined(kb: KnowledgeBase, clause: Clause, carried: set[str]) -> set[str]:
    """The variables of a clause that take one value once the carried ones are known: a customer-wide fact has
    one value, an entity's fact and its deployment one per entity, a vocabulary item one of each field per id."""
    fixed = set(carried)
    for count in clause.counts:
        fixed.add(count.var.name)
    keyed: list[tuple[list[str], dict[str, str]]] = []
    for atom in clause.positives:
        pins = {fp.field: fp.bind.name for fp in atom.fields if fp.bind is not None}
        decl = kb.facts.get(atom.predicate)
        pred = kb.predicates.get(atom.predicate)
        if decl is not None and not decl.is_list:
            keys = [] if decl.scope == "customer" else ["entity"]
        elif pred is not None and pred.role == "deployment":
            keys = ["entity"]
        elif atom.predicate in ("deployment-type", "capability"):
            keys = ["id"]
        elif atom.predicate in ("customer", "entity"):
            keys = ["name"]
        else:
            continue
        keyed.append((keys, pins))
    grown = True
    while grown:
        grown = False
        for keys, pins in keyed:
            if all(pins.get(k) in fixed for k in keys):
                new = set(pins.values()) - fixed
                if new:
                    fixed |= new
                    grown = True
    return fixed
