"""The answer of a what-if: what a search or an apply returns, as JSON and as text.

An Outcome is a set of changes evaluated against the original decision: each legal entity's type
before and after, the rule that now decides it, and why its former type no longer fits. A
SearchResult holds the smallest sets a search found and how far it searched; an Applied holds the
outcome of the changes the options named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...evaluation.decision import Decision
from ...evaluation.wording import type_with_id
from ...explain.render import counted
from ...policy.knowledge import KnowledgeBase
from ..diffing import Change as Difference
from ..diffing import reason_text
from .changes import Change


@dataclass(slots=True)
class KeyStep:
    """The firing that now decides an entity's deployment."""

    step: int
    rule: str
    location: str
    layer: str
    source: str | None
    explanation: str

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "rule": self.rule,
            "location": self.location,
            "layer": self.layer,
            "source": self.source,
            "explanation": self.explanation,
        }


@dataclass(slots=True)
class EntityOutcome:
    name: str
    target: bool  # one of the entities the search had to move to the target type
    before: str | None
    after: str | None
    gaps: list[str]
    decided_by: KeyStep | None
    no_longer: str | None  # why the entity's former type is no longer recommended, when it changed

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "gaps": self.gaps,
            "decided_by": self.decided_by.as_json() if self.decided_by else None,
            "no_longer": self.no_longer,
        }


@dataclass(slots=True)
class Outcome:
    """A set of changes, evaluated on the requested engine, against the original decision."""

    changes: tuple[Change, ...]
    decision: Decision
    entities: list[EntityOutcome]
    differences: list[Difference]

    def as_json(self) -> dict[str, Any]:
        return {
            "size": len(self.changes),
            "changes": [c.as_json() for c in self.changes],
            "deployments": self.decision.deployments,
            "entities": [e.as_json() for e in self.entities],
            "differences": [
                {"what": d.what, "entity": d.entity, "before": d.before, "after": d.after} for d in self.differences
            ],
        }


@dataclass(slots=True)
class SearchResult:
    target: str
    entity: str | None  # None: every legal entity had to get the target type
    targets: list[str]
    original: Decision
    candidates: list[Change]
    max_changes: int
    budget: int
    solutions: list[Outcome] = field(default_factory=list)
    searched_up_to: int = 0  # every set of at most this many changes was evaluated
    sets: int = 0  # change sets examined (original included)
    evaluations: int = 0  # engine runs (sets with the same resulting facts are evaluated once)
    stopped: str | None = None  # None | "max-changes" | "budget" | "exhausted"
    next_size_sets: int = 0  # when stopped by the budget: how many sets the next size holds
    sized: bool = False  # the budget was cut to the customer's size (many legal entities)
    # Facts never changed: "no-effect" (no chain of rules leads from them to a deployment) or
    # "open-value" (a number, version or text fact the rules test against no literal: nothing to try).
    left_out: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int | None:
        return len(self.solutions[0].changes) if self.solutions else None

    @property
    def message(self) -> str:
        k = self.searched_up_to
        done = f"{counted(self.sets, 'set')}, {counted(self.evaluations, 'evaluation')}"
        searched = f"searched all sets of up to {counted(k, 'change')} ({done})"
        if self.solutions:
            if self.size == 0:
                return f"already the recommendation: no change is needed; {searched}"
            verb = "is" if self.size == 1 else "are"
            return f"exact: {counted(self.size or 0, 'change')} {verb} the fewest; {searched}"
        if self.stopped == "exhausted":
            return f"{searched}; no set of changes makes it the recommendation"
        if self.stopped == "budget":
            why = (
                f"the {self.next_size_sets} sets of {k + 1} changes would take the search past its budget"
                f" of {self.budget} sets"
                + (", the budget of a customer of this size" if self.sized else "")
            )
        else:
            why = f"--max-changes is {self.max_changes}"
        return f"{searched}; no set found; a set of more than {counted(k, 'change')} may exist ({why})"

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": "search",
            "customer": self.original.customer,
            "target": self.target,
            "entity": self.entity,
            "scope": "entity" if self.entity is not None else "every-entity",
            "entities": self.targets,
            "before": [{"name": e.name, "deployment": e.deployment} for e in self.original.entities],
            "search": {
                "candidates": len(self.candidates),
                "left_out": [{"fact": f, "reason": r} for f, r in self.left_out.items()],
                "max_changes": self.max_changes,
                "budget": self.budget,
                "searched_up_to": self.searched_up_to,
                "sets": self.sets,
                "evaluations": self.evaluations,
                "found": bool(self.solutions),
                "minimal": bool(self.solutions),
                "stopped": self.stopped,
                "message": self.message,
            },
            "solutions": [s.as_json() for s in self.solutions],
            "engine": self.solutions[0].decision.engine if self.solutions else self.original.engine,
        }


@dataclass(slots=True)
class Applied:
    original: Decision
    changes: tuple[Change, ...]
    outcome: Outcome

    def as_json(self) -> dict[str, Any]:
        decision = self.outcome.decision
        return {
            "mode": "apply",
            "customer": self.original.customer,
            "changes": [c.as_json() for c in self.changes],
            "deployments": {"before": self.original.deployments, "after": decision.deployments},
            "entities": [e.as_json() for e in self.outcome.entities],
            "differences": self.outcome.as_json()["differences"],
            "warnings": [_notice(n) for n in decision.warnings],
            "notes": [_notice(n) for n in decision.notes],
            "engine": decision.engine,
        }


def _notice(n: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"code": n.code, "message": n.message}
    if n.entity is not None:
        data["entity"] = n.entity
    return data


# -- text ----------------------------------------------------------------------------------------


def _entity_lines(kb: KnowledgeBase, e: EntityOutcome, pad: str, *, always: bool) -> list[str]:
    if not always and e.before == e.after:
        return []
    after = type_with_id(kb, e.after) if e.after else "no deployment type fits"
    before = type_with_id(kb, e.before) if e.before else "no deployment type"
    arrow = f"{before} -> {after}" if e.before != e.after else f"{after} (unchanged)"
    lines = [f"{pad}{e.name}: {arrow}"]
    if e.gaps:
        lines.append(f"{pad}  gaps: {', '.join(e.gaps)}")
    if e.decided_by is not None:
        d = e.decided_by
        lines.append(f"{pad}  decided by step {d.step}: rule {d.rule} ({d.location}): {d.explanation}")
    if e.no_longer is not None:
        lines.append(f"{pad}  not {type_with_id(kb, e.before)}: {e.no_longer}")
    return lines


def search_text(result: SearchResult) -> str:
    customer = result.original.customer
    kb = result.original.kb
    target = type_with_id(kb, result.target)
    if result.entity is not None:
        lines = [f"What makes {target} the recommendation for {result.entity}? (a legal entity of {customer};"
                 " the others may change)"]
    else:
        n = len(result.targets)
        lines = [
            f"What makes {target} the recommendation for every legal entity of {customer}?"
            f" ({n} legal {'entity' if n == 1 else 'entities'}: {', '.join(result.targets)})"
        ]
    now = "; ".join(f"{e.name}: {type_with_id(kb, e.deployment)}" for e in result.original.entities)
    lines.append(f"Now: {now}")
    reasons = []
    no_effect = [f for f, r in result.left_out.items() if r == "no-effect"]
    open_value = [f for f, r in result.left_out.items() if r == "open-value"]
    if no_effect:
        reasons.append(f"{', '.join(no_effect)} cannot change a deployment")
    if open_value:
        reasons.append(
            f"{', '.join(open_value)} {'is' if len(open_value) == 1 else 'are'} compared with no value a rule names"
        )
    left_out = f" (not changed: {'; '.join(reasons)})" if reasons else ""
    lines.append(f"{counted(len(result.candidates), 'possible single change')}{left_out}.")
    lines.append(f"{result.message[0].upper()}{result.message[1:]}.")
    if not result.solutions:
        lines.append("No set of changes found.")
        return "\n".join(lines)
    if result.size == 0:
        return "\n".join(lines)
    n = len(result.solutions)
    size = result.size or 0
    lines.append(f"{n} smallest set{'s' if n != 1 else ''} of {size} change{'s' if size != 1 else ''}:")
    for number, solution in enumerate(result.solutions, 1):
        lines.append("")
        lines.append(f"{number:>2}. {'; '.join(str(c) for c in solution.changes)}")
        for e in solution.entities:
            lines.extend(_entity_lines(kb, e, "    ", always=e.target))
    return "\n".join(lines)


def apply_text(applied: Applied) -> str:
    lines = [f"What if, for {applied.original.customer}: {'; '.join(str(c) for c in applied.changes)}"]
    kb = applied.original.kb
    before = ", ".join(type_with_id(kb, t) for t in applied.original.deployments) or "none"
    after = ", ".join(type_with_id(kb, t) for t in applied.outcome.decision.deployments) or "none"
    lines.append(f"Deployments on the environment: {before} -> {after}")
    lines.append("")
    for e in applied.outcome.entities:
        lines.extend(_entity_lines(kb, e, "  ", always=True))
    lines.append("")
    other = [d for d in applied.outcome.differences if d.what != "deployment"]
    if not other and all(e.before == e.after for e in applied.outcome.entities):
        lines.append("Nothing else changes.")
    elif not other:
        lines.append("No gap, warning or note changes.")
    else:
        lines.append("What else changes:")
        for d in other:
            subject = f"{d.entity}: " if d.entity else ""
            if d.what == "gaps":
                lines.append(f"  {subject}gaps {d.before} -> {d.after}")
            elif d.what.endswith(" reason"):
                lines.append(f"  {subject}{reason_text(d)}")
            elif d.before == "absent":
                lines.append(f"  {subject}{d.what} {d.after} added")
            else:
                lines.append(f"  {subject}{d.what} {d.before} removed")
    return "\n".join(lines)
