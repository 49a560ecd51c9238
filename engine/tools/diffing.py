"""Decision diff: how a change of policies changes the recommendations for a folder of customers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput, Location, Problem
from ..evaluation.decision import Decision, Notice
from ..evaluation.derivation import Firing
from ..evaluation.evaluate import evaluate
from ..explain import render
from ..explain.queries import notice_firings
from ..facts.reading import read_facts
from ..facts.schema import unknown_names, value_fits
from ..io.loader import Document, load_document
from ..model.terms import Fact, Scalar, show_value
from ..policy.knowledge import KnowledgeBase
from ..records import record

FACTS_SUFFIXES = (".yaml", ".yml", ".json")


@record
class Change:
    """One difference for one customer: what changed, before and after."""

    what: str  # deployment | gaps | warning | note | warning reason | note reason | warning wording | note wording
    entity: str | None
    before: str
    after: str
    conclusion: Fact | None = None  # the whole warning or note, every field


@record
class RuleDifference:
    rule: str
    location: str
    layer: str
    side: str  # "new" (fires so only under the new policies) | "base" (fires so only under the base)
    bindings: tuple[tuple[tuple[str, Scalar], ...], ...] = ()  # what each such firing matched its variables to
    unchanged: bool = False  # the rule is the same on both sides: it fires differently only as a consequence


@dataclass(slots=True)
class CustomerDiff:
    path: str
    customer: str | None
    changes: list[Change] = field(default_factory=list)
    rules: list[RuleDifference] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def facts_files(paths: Sequence[str]) -> list[str]:
    """Facts files named by paths: files as given, folders searched (sorted) for YAML and JSON files."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for base, dirs, names in os.walk(path):
                dirs.sort()
                found.extend(
                    os.path.join(base, n)
                    for n in sorted(names)
                    if n.endswith(FACTS_SUFFIXES) and os.path.isfile(os.path.join(base, n))  # no pipes: they block
                )
        else:
            found.append(path)
    return found


def diff_decisions(
    base: KnowledgeBase, new: KnowledgeBase, paths: Sequence[str], *, engine: str = "auto"
) -> list[CustomerDiff]:
    """Evaluate every facts file under both knowledge bases and say what changes, and which rules made it."""
    results = []
    same = {(r.id, r.location) for r in base.rules} & {(r.id, r.location) for r in new.rules}
    for path in facts_files(paths):
        diff = CustomerDiff(path, None)
        try:
            doc = load_document(path)
            after = evaluate(new, read_facts(new, doc), engine=engine)
            before = evaluate(base, read_facts(base, _known_to(base, doc)), engine=engine)
        except BadInput as exc:
            diff.problems.extend(exc.problems)
            results.append(diff)
            continue
        diff.customer = after.customer
        diff.changes = differences(before, after)
        if diff.changes:
            diff.rules = _rule_differences(before, after, same)
        results.append(diff)
    return results


def _known_to(kb: KnowledgeBase, doc: Document) -> Document:
    """The facts document without what kb does not know (a new layer may add facts, capabilities and
    values, or let a legal entity hold a fact of its own): the base side evaluates what it can read."""
    value = doc.value
    if not isinstance(value, dict):
        return doc

    def section(mapping: dict[str, Any], scope: str) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for key, item in mapping.items():
            decl = kb.facts.get(key)
            if key in ("customer", "name", "legal_entities", "workshop"):
                kept[key] = item
            elif key == "unknown" and isinstance(item, list):
                names = set(unknown_names(kb, scope))
                kept[key] = [x for x in item if isinstance(x, str) and x in names]
            elif decl is None or (scope == "entity" and decl.scope != "entity"):
                continue
            elif decl.is_list and isinstance(item, list):
                kept[key] = [x for x in item if value_fits(kb, decl, [x])]
            elif value_fits(kb, decl, item):
                kept[key] = item
        return kept

    kept = section(value, "customer")
    entities = kept.get("legal_entities")
    if isinstance(entities, list):
        kept["legal_entities"] = [section(e, "entity") if isinstance(e, dict) else e for e in entities]
    return Document(doc.name, kept, doc.marks, doc.key_marks)


def differences(before: Decision, after: Decision) -> list[Change]:
    """What differs for one customer between two decisions: deployments, gaps, warnings, notes and their reasons."""
    changes: list[Change] = []
    old = {e.name: e for e in before.entities}
    for entity in after.entities:
        was = old.get(entity.name)
        if was is None:
            continue
        if was.deployment != entity.deployment:
            changes.append(Change("deployment", entity.name, str(was.deployment), str(entity.deployment)))
        if was.gaps != entity.gaps:
            changes.append(Change("gaps", entity.name, ", ".join(was.gaps) or "none", ", ".join(entity.gaps) or "none"))
    for what, old_notices, new_notices in (
        ("warning", before.warnings, after.warnings),
        ("note", before.notes, after.notes),
    ):
        # A notice is its whole conclusion: code, entity and every other field; two that differ in any are two.
        had = {n.fact: n for n in old_notices}
        has = {n.fact: n for n in new_notices}
        for fact in sorted(has.keys() - had.keys(), key=str):
            changes.append(Change(what, has[fact].entity, "absent", _notice_label(has[fact]), fact))
        for fact in sorted(had.keys() - has.keys(), key=str):
            changes.append(Change(what, had[fact].entity, _notice_label(had[fact]), "absent", fact))
        # A notice kept, but concluded by other rules or saying something else: a rule's sentence reworded,
        # or each reason added or removed.
        for fact in [f for f in has if f in had]:
            old_reasons, new_reasons = _reasons(before, had[fact]), _reasons(after, has[fact])
            label, subject = _notice_label(has[fact]), has[fact].entity
            gone = [(rule, reason) for (rule, text), reason in old_reasons.items() if (rule, text) not in new_reasons]
            came = [(rule, reason) for (rule, text), reason in new_reasons.items() if (rule, text) not in old_reasons]
            for rule, reason in gone:
                reworded = next((pair for pair in came if pair[0] == rule), None)
                if reworded is not None:
                    came.remove(reworded)
                    changes.append(Change(f"{what} wording", subject, f"{label}: {reason}", f"{label}: {reworded[1]}",
                                          fact))
                else:
                    changes.append(Change(f"{what} reason", subject, f"{label}: {reason}", "absent", fact))
            for _, reason in came:
                changes.append(Change(f"{what} reason", subject, "absent", f"{label}: {reason}", fact))
    return changes


def reason_text(change: Change) -> str:
    """'warning low-fit no longer says: ...', '... now also says: ...' or '... now says: ...; it said: ...'."""
    kind = change.what.rpartition(" ")[0]
    label = change.before.partition(": ")[0]
    if change.conclusion is not None:
        label = _label(change.conclusion)

    def reason(text: str) -> str:
        return text.removeprefix(f"{label}: ")

    if change.what.endswith(" wording"):
        said, _, _ = reason(change.before).rpartition(" (rule ")  # the same rule, named once
        return f"{kind} {label} now says: {reason(change.after)}; it said: {said}"
    if change.after == "absent":
        return f"{kind} {label} no longer says: {reason(change.before)}"
    return f"{kind} {label} now also says: {reason(change.after)}"


_SHOWN_FIRST = ("type", "capability", "about")


def _notice_label(notice: Notice) -> str:
    return _label(notice.fact)


def _label(fact: Fact) -> str:
    """'low-fit', or 'capability-gap (type: lite, capability: grants)': every field but the code and the entity,
    so that two notices that differ in any field never read alike."""
    others = sorted(k for k, _ in fact.values if k not in ("code", "entity", *_SHOWN_FIRST))
    about = [f"{key}: {show_value(fact.get(key))}" for key in (*_SHOWN_FIRST, *others) if fact.get(key) is not None]
    return str(fact.get("code")) + (f" ({', '.join(about)})" if about else "")


def _reasons(decision: Decision, notice: Notice) -> dict[tuple[str, str], str]:
    """The rules behind a notice, each with what it says: a rule that stops (or starts) concluding it, or now
    says something else, is a change."""
    return {
        (f.clause.rule.id, f.explanation): f"{f.explanation} (rule {f.clause.rule.id})"
        for f in notice_firings(decision, notice)
    }


_FiringKey = tuple[str, tuple[tuple[str, Scalar], ...], frozenset[Fact], str]


def _firings(decision: Decision) -> dict[_FiringKey, Firing]:
    """Each firing by what it is: its rule, what it matched the rule's variables to, what it concluded and said.
    An override with the same id that concludes and says the same is no difference."""
    found: dict[_FiringKey, Firing] = {}
    for firing in decision.trace:
        key = (firing.clause.rule.id, firing.bindings, frozenset(firing.conclusions), firing.explanation)
        found.setdefault(key, firing)
    return found


def _rule_differences(before: Decision, after: Decision, same: set[tuple[str, Location]]) -> list[RuleDifference]:
    """The rules that fire for other values (or conclude or say something else) under one side than the other:
    first the rules of the layers that differ, then the rules the same on both sides (same) that fire differently
    as a consequence."""
    old, now = _firings(before), _firings(after)
    grouped: dict[tuple[str, str, Location], list[Firing]] = {}
    for side, mine, theirs in (("new", now, old), ("base", old, now)):
        for key, firing in mine.items():
            if key not in theirs:
                rule = firing.clause.rule
                grouped.setdefault((side, rule.id, rule.location), []).append(firing)
    out = []
    for (side, _, _), firings in grouped.items():
        rule = firings[0].clause.rule
        bindings = tuple(dict.fromkeys(f.bindings for f in firings))
        out.append(
            RuleDifference(
                rule.id, str(rule.location), rule.layer, side, bindings, (rule.id, rule.location) in same
            )
        )
    out.sort(key=lambda r: r.unchanged)  # stable: trace order within each group and side
    return out


def _binding_text(bindings: tuple[tuple[str, Scalar], ...]) -> str:
    return ", ".join(f"{name}: {show_value(value)}" for name, value in bindings)


def rule_text(r: RuleDifference) -> str:
    """'rule small-budget (partner/budget.yaml:4:5, layer partner) now fires for budget: small'."""
    side = "now fires" if r.side == "new" else "no longer fires"
    shown = "; ".join(text for text in map(_binding_text, r.bindings) if text)
    return f"rule {r.rule} ({r.location}, layer {r.layer}) {side}" + (f" for {shown}" if shown else "")


def diff_json(diffs: list[CustomerDiff]) -> dict[str, Any]:
    return {
        "customers": [
            {
                "file": d.path,
                "customer": d.customer,
                "changed": d.changed,
                "differences": len(d.changes),
                "changes": [_change_json(c) for c in d.changes],
                "rules": [
                    {
                        "rule": r.rule,
                        "location": r.location,
                        "layer": r.layer,
                        "fires_only_under": r.side,
                        "bindings": [dict(b) for b in r.bindings],
                        "unchanged": r.unchanged,
                    }
                    for r in d.rules
                ],
                "errors": [str(p) for p in d.problems],
            }
            for d in diffs
        ],
        "changed": sum(1 for d in diffs if d.changed),
        "differences": sum(len(d.changes) for d in diffs),
        "total": len(diffs),
    }


def _change_json(c: Change) -> dict[str, Any]:
    data: dict[str, Any] = {"what": c.what, "entity": c.entity, "before": c.before, "after": c.after}
    if c.conclusion is not None:
        data["conclusion"] = dict(c.conclusion.values)
    return data


def diff_text(diffs: list[CustomerDiff]) -> str:
    lines: list[str] = []
    for d in diffs:
        if d.problems:
            lines.append(f"{d.path}: not evaluated")
            lines.extend(f"  {p}" for p in d.problems)
            continue
        if not d.changed:
            lines.append(f"{d.path} ({d.customer}): unchanged")
            continue
        lines.append(f"{d.path} ({d.customer}):")
        for c in d.changes:
            subject = f"{c.entity}: " if c.entity else ""
            if c.what in ("deployment", "gaps"):
                lines.append(f"  {subject}{c.what} {c.before} -> {c.after}")
            elif c.what.endswith((" reason", " wording")):
                lines.append(f"  {subject}{reason_text(c)}")
            elif c.before == "absent":
                lines.append(f"  {subject}{c.what} {c.after} added")
            else:
                lines.append(f"  {subject}{c.what} {c.before} removed")
        lines.extend(f"  because {rule_text(r)}" for r in d.rules if not r.unchanged)
        unchanged = [r for r in d.rules if r.unchanged]
        if unchanged:
            lines.append("  and, as a consequence, rules the same on both sides:")
            lines.extend(f"    {rule_text(r)}" for r in unchanged)
    changed = sum(1 for d in diffs if d.changed)
    differences = sum(len(d.changes) for d in diffs)
    bad = sum(1 for d in diffs if d.problems)
    summary = f"{changed} of {len(diffs)} customers change"
    if changed:
        summary += f" ({render.counted(differences, 'difference')})"
    if bad:
        summary += f"; {bad} could not be evaluated"
    lines.append(summary + ".")
    return "\n".join(lines)
