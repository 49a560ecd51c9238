"""The knowledge base: every policy file merged, checked as a whole, and stratified."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

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
    lower_first,
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


T = TypeVar("T")


class Derived(Generic[T]):
    """The key of one thing made from a knowledge base once and kept with it, typed by what it holds
    (KnowledgeBase.derived): the compiled evaluator, durable-rules' network, the questionnaire's analyzer."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Derived({self.name!r})"


# The identity of a knowledge base read through the cache: knowledge bases of one identity are alike.
IDENTITY: Derived[str] = Derived("key")


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
    # What the stages after this one made from the knowledge base, by key (derived, recall, remember).
    memo: dict[Derived[Any], Any] = field(default_factory=dict)
    display_names: dict[str, Rename] = field(default_factory=dict)
    replaced: dict[str, Rule] = field(default_factory=dict)
    disabled: dict[str, Disable] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    superseded: dict[str, tuple[Superseded, ...]] = field(default_factory=dict)
    next_steps: dict[str, list[NextStep]] = field(default_factory=dict)
    sources: dict[str, SourceEntry] = field(default_factory=dict)

    def derived(self, key: Derived[T], make: Callable[[], T]) -> T:
        """What `make` makes from this knowledge base, made on the first call only."""
        if key not in self.memo:
            self.memo[key] = make()
        found: T = self.memo[key]
        return found

    def recall(self, key: Derived[T]) -> T | None:
        """What was remembered under the key, or None."""
        found: T | None = self.memo.get(key)
        return found

    def remember(self, key: Derived[T], value: T) -> None:
        self.memo[key] = value

    def type_name(self, type_id: str) -> str:
        """The name to show for a type: its latest name where a policy renames it."""
        if type_id in self.display_names:
            return self.display_names[type_id].name
        return self.types[type_id].name if type_id in self.types else type_id

    def capability_words(self, capability: str) -> str:
        """A capability as a sentence names it ('needs production orders'); an unknown id as written."""
        found = self.capabilities.get(capability)
        return capability if found is None else lower_first(found.name)

    def capability_lists(self) -> list[FactDecl]:
        """The facts that list capabilities needed (`type: capability-list`): what a legal entity needs."""
        return [d for d in self.facts.values() if d.type == "capability-list"]

    def offered(self, type_id: str) -> set[str]:
        return {c for o in self.offers if o.type == type_id for c in o.capabilities}

    def types_by_rank(self) -> list[DeploymentType]:
        return sorted(self.types.values(), key=lambda t: (t.rank, t.id))


