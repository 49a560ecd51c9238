"""Decision diff: how a change of policies changes the recommendations for a folder of customers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .decision import Decision, Notice
from .errors import BadInput, Problem
from .explain import notice_firings
from .facts import read_facts, unknown_names, value_fits
from .knowledge import KnowledgeBase
from .loader import Document, load_document
from .model import Fact
from .records import record

FACTS_SUFFIXES = (".yaml", ".yml", ".json")


@record
class Change:
    """One difference for one customer: what changed, before and after."""

    what: str  # deployment | gaps | warning | note | warning reason | note reason
    entity: str | None
    before: str
    after: str


@record
class RuleDifference:
    rule: str
    location: str
    layer: str
    side: str  # "new" (fires only under the new policies) | "base" (fires only under the base)


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
    for path in facts_files(paths):
        diff = CustomerDiff(path, None)
        try:
            doc = load_document(path)
            after = new.evaluate(read_facts(new, doc), engine=engine)
            before = base.evaluate(read_facts(base, _known_to(base, doc)), engine=engine)
        except BadInput as exc:
            diff.problems.extend(exc.problems)
            results.append(diff)
            continue
        diff.customer = after.customer
        diff.changes = _changes(before, after)
        if diff.changes:
            diff.rules = _rule_differences(before, after)
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


def _changes(before: Decision, after: Decision) -> list[Change]:
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
        had = {n.fact: n for n in old_notices}
        has = {n.fact: n for n in new_notices}
        for fact in sorted(has.keys() - had.keys(), key=str):
            changes.append(Change(what, has[fact].entity, "absent", _notice_label(has[fact])))
        for fact in sorted(had.keys() - has.keys(), key=str):
            changes.append(Change(what, had[fact].entity, _notice_label(had[fact]), "absent"))
        # A warning kept, but concluded by other rules or saying something else: each reason added or removed.
        for fact in [f for f in has if f in had]:
            old_reasons, new_reasons = _reasons(before, had[fact]), _reasons(after, has[fact])
            label = _notice_label(has[fact])
            for rule, reason in old_reasons.items():
                if rule not in new_reasons:
                    changes.append(Change(f"{what} reason", has[fact].entity, f"{label}: {reason}", "absent"))
            for rule, reason in new_reasons.items():
                if rule not in old_reasons:
                    changes.append(Change(f"{what} reason", has[fact].entity, "absent", f"{label}: {reason}"))
    return changes


def reason_text(change: Change) -> str:
    """'warning low-fit no longer says: ...' or '... now also says: ...'."""
    kind = change.what.removesuffix(" reason")
    if change.after == "absent":
        label, _, reason = change.before.partition(": ")
        return f"{kind} {label} no longer says: {reason}"
    label, _, reason = change.after.partition(": ")
    return f"{kind} {label} now also says: {reason}"


def _notice_label(notice: Notice) -> str:
    """'low-fit', or 'capability-gap (capability: grants)' where a code is concluded about several things."""
    about = [f"{key}: {notice.fact.get(key)}" for key in ("type", "capability", "about") if notice.fact.get(key)]
    return notice.code + (f" ({', '.join(about)})" if about else "")


def _reasons(decision: Decision, notice: Notice) -> dict[str, str]:
    """The rules behind a notice, each with its sentence: a rule that stops (or starts) concluding it is a change,
    a rule that only words it differently (it names the new deployment type) is not."""
    found: dict[str, str] = {}
    for f in notice_firings(decision, notice):
        found.setdefault(f.clause.rule.id, f"{f.explanation} (rule {f.clause.rule.id})")
    return found


def _conclusions(decision: Decision) -> dict[str, tuple[set[Fact], str, str]]:
    """Per rule id: what its firings concluded, and where the rule is."""
    out: dict[str, tuple[set[Fact], str, str]] = {}
    for firing in decision.trace:
        rule = firing.clause.rule
        facts, _, _ = out.setdefault(rule.id, (set(), str(rule.location), rule.layer))
        facts.update(firing.conclusions)
    return out


def _rule_differences(before: Decision, after: Decision) -> list[RuleDifference]:
    """Rules whose conclusions differ between the two policy sets: they made the difference.

    A rule replaced by an override with the same id and the same conclusions is no difference.
    """
    old, now = _conclusions(before), _conclusions(after)
    out = []
    for rule_id, (facts, location, layer) in now.items():
        if facts - old.get(rule_id, (set(), "", ""))[0]:
            out.append(RuleDifference(rule_id, location, layer, "new"))
    for rule_id, (facts, location, layer) in old.items():
        if facts - now.get(rule_id, (set(), "", ""))[0]:
            out.append(RuleDifference(rule_id, location, layer, "base"))
    return out


def diff_json(diffs: list[CustomerDiff]) -> dict[str, Any]:
    return {
        "customers": [
            {
                "file": d.path,
                "customer": d.customer,
                "changed": d.changed,
                "changes": [
                    {"what": c.what, "entity": c.entity, "before": c.before, "after": c.after} for c in d.changes
                ],
                "rules": [
                    {"rule": r.rule, "location": r.location, "layer": r.layer, "fires_only_under": r.side}
                    for r in d.rules
                ],
                "errors": [str(p) for p in d.problems],
            }
            for d in diffs
        ],
        "changed": sum(1 for d in diffs if d.changed),
        "total": len(diffs),
    }


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
            elif c.what.endswith(" reason"):
                lines.append(f"  {subject}{reason_text(c)}")
            elif c.before == "absent":
                lines.append(f"  {subject}{c.what} {c.after} added")
            else:
                lines.append(f"  {subject}{c.what} {c.before} removed")
        for r in d.rules:
            side = "now fires" if r.side == "new" else "no longer fires"
            lines.append(f"  because rule {r.rule} ({r.location}, layer {r.layer}) {side}")
    changed = sum(1 for d in diffs if d.changed)
    bad = sum(1 for d in diffs if d.problems)
    summary = f"{changed} of {len(diffs)} customers change"
    if bad:
        summary += f"; {bad} could not be evaluated"
    lines.append(summary + ".")
    return "\n".join(lines)
