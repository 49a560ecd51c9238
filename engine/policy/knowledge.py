"""The knowledge base: every policy file merged, checked as a whole, and stratified."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model.terms import (
    Capability,
    Clause,
    Code,
    DeploymentType,
    Disable,
    Fact,
    FactDecl,
    Layer,
    NextStep,
    Offer,
    Predicate,
    Rename,
    Rule,
    SourceEntry,
    Superseded,
)
from ..records import record
from .building import PolicyFile

RESERVED_FACT_KEYS = ("customer", "legal_entities", "unknown", "workshop", "packs", "policies")
# Predicates every knowledge base gives from its vocabulary: a fact of the same name would hide them.
VOCABULARY_PREDICATES = ("entity", "deployment-type", "capability", "offers")
# The words a condition may start with instead of a predicate: a misspelt one is suggested too.
CONDITION_KEYS = ("not", "any", "all", "count")


@record
class CompiledClause:
    """One clause of one rule, placed in its stratum."""

    rule: Rule
    index: int
    clause: Clause
    stratum: int
    position: int

    @property
    def name(self) -> str:
        return f"{self.rule.id}#{self.index}"


@dataclass(slots=True)
class KnowledgeBase:
    """Every policy merged: vocabulary, rules in strata, and the facts the vocabulary itself gives."""

    files: list[PolicyFile]
    types: dict[str, DeploymentType]
    capabilities: dict[str, Capability]
    offers: list[Offer]
    facts: dict[str, FactDecl]
    predicates: dict[str, Predicate]
    codes: dict[str, Code]
    rules: list[Rule]
    clauses: list[CompiledClause] = field(default_factory=list)
    strata: int = 0
    vocabulary_facts: list[Fact] = field(default_factory=list)
    engine_cache: dict[str, Any] = field(default_factory=dict)
    display_names: dict[str, Rename] = field(default_factory=dict)
    replaced: dict[str, Rule] = field(default_factory=dict)
    disabled: dict[str, Disable] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    superseded: dict[str, tuple[Superseded, ...]] = field(default_factory=dict)
    next_steps: dict[str, list[NextStep]] = field(default_factory=dict)
    sources: dict[str, SourceEntry] = field(default_factory=dict)

    def type_name(self, type_id: str) -> str:
        """The name to show for a type: its latest name where a policy renames it."""
        if type_id in self.display_names:
            return self.display_names[type_id].name
        return self.types[type_id].name if type_id in self.types else type_id

    def offered(self, type_id: str) -> set[str]:
        return {c for o in self.offers if o.type == type_id for c in o.capabilities}

    def types_by_rank(self) -> list[DeploymentType]:
        return sorted(self.types.values(), key=lambda t: (t.rank, t.id))


