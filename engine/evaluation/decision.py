"""From derived facts to a Decision: each entity's deployment and gaps, the warnings and notes, the trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Location
from ..facts.reading import FactsInput
from ..model.terms import Fact, make_fact
from ..policy.knowledge import KnowledgeBase
from .derivation import FactStore, Firing
from .wording import business_explanation


@dataclass(slots=True)
class EntityDecision:
    name: str
    deployment: str | None
    gaps: list[str]
    needs: list[str]
    location: Location


@dataclass(slots=True)
class Notice:
    """A warning or a note: its code, message, the entity it is about (if any) and the steps behind it."""

    kind: str
    code: str
    message: str
    entity: str | None
    fact: Fact
    steps: list[int]


@dataclass(slots=True)
class Decision:
    """The outcome of one evaluation, with everything needed to explain it."""

    kb: KnowledgeBase
    facts: FactsInput
    engine: str
    store: FactStore
    trace: list[Firing]
    entities: list[EntityDecision] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)
    notes: list[Notice] = field(default_factory=list)
    concluded_by: dict[Fact, list[int]] = field(default_factory=dict)
    open_analysis: Any = None  # the open questions, once asked for (podeploy.engine.analysis.openquestions)

    @property
    def customer(self) -> str:
        return self.facts.customer

    @property
    def deployments(self) -> list[str]:
        return sorted({e.deployment for e in self.entities if e.deployment is not None})

    def step_of(self, fact: Fact) -> int | None:
        steps = self.concluded_by.get(fact)
        return steps[0] if steps else None


def decide(kb: KnowledgeBase, facts: FactsInput, engine: str, store: FactStore, trace: list[Firing]) -> Decision:
    decision = Decision(kb, facts, engine, store, trace)
    for number, firing in enumerate(trace):
        for fact in firing.conclusions:
            decision.concluded_by.setdefault(fact, []).append(number)
    roles: dict[str, list[str]] = {}
    for pid, pred in kb.predicates.items():
        if pred.role:
            roles.setdefault(pred.role, []).append(pid)

    deployments: dict[str, list[str]] = {}
    gaps: dict[str, set[str]] = {}
    for pid in roles.get("deployment", []):
        for fact in store.of(pid):
            deployments.setdefault(str(fact.get("entity")), []).append(str(fact.get("type")))
    for pid in roles.get("gap", []):
        for fact in store.of(pid):
            gaps.setdefault(str(fact.get("entity")), set()).add(str(fact.get("capability")))

    rank = {t.id: t.rank for t in kb.types.values()}
    capability_lists = [d.id for d in kb.capability_lists()]
    for entity in facts.entities:
        chosen = sorted(set(deployments.get(entity.name, [])), key=lambda t: (rank.get(t, 0), t))
        needs: list[str] = []
        for fid in capability_lists:
            for cap in entity.values.get(fid, []):
                if cap not in needs:
                    needs.append(cap)
        decision.entities.append(
            EntityDecision(
                entity.name, chosen[0] if chosen else None, sorted(gaps.get(entity.name, set())), needs, entity.location
            )
        )
        if len(chosen) > 1:
            # Policies that conclude two deployments for one entity contradict each other; say so, keep the lightest.
            conflict = make_fact("warning", {"code": "conflicting-deployments", "entity": entity.name})
            steps = sorted(
                step
                for pid in roles.get("deployment", [])
                for fact in store.of(pid)
                if fact.get("entity") == entity.name
                for step in decision.concluded_by.get(fact, [])
            )
            message = (
                f"The policies conclude more than one deployment type for {entity.name} ({', '.join(chosen)}); "
                f"{kb.type_name(chosen[0])}, the lightest, is shown. Fix the policies so that one rule decides."
            )
            decision.warnings.append(
                Notice("warning", "conflicting-deployments", message, entity.name, conflict, steps)
            )
    for kind in ("warning", "note"):
        target = decision.warnings if kind == "warning" else decision.notes
        found = [fact for pid in roles.get(kind, []) for fact in store.of(pid)]
        found.sort(key=lambda f: decision.concluded_by.get(f, [len(trace)])[0])
        for fact in found:
            steps = decision.concluded_by.get(fact, [])
            messages: list[str] = []
            for step in steps:
                text = business_explanation(kb, trace[step])
                if text not in messages:
                    messages.append(text)
            entity = fact.get("entity")
            target.append(
                Notice(
                    kind,
                    str(fact.get("code")),
                    " ".join(messages),
                    None if entity is None else str(entity),
                    fact,
                    steps,
                )
            )
    return decision
