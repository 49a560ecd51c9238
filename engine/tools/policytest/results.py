"""What running a case gives: the expectations it did not meet and the rules that fired."""

from __future__ import annotations

import os

from ...errors import Location
from ...model.terms import Rule
from ...records import record


@record
class RuleRef:
    """A rule as coverage counts it: its id and where it is declared."""

    id: str
    location: Location

    @property
    def file(self) -> str:
        return self.location.file

    def __str__(self) -> str:
        return f"{self.id} ({self.location})"


def rule_ref(rule: Rule) -> RuleRef:
    where = rule.location
    return RuleRef(rule.id, Location(os.path.normpath(where.file), where.line, where.column))


@record
class Mismatch:
    """One expectation the outcome did not meet: what was expected and what came out."""

    field: str  # deployments | gaps | excluded | why_not | warnings | notes | fires | does_not_fire
    subject: str | None  # the entity, for deployments and gaps; 'entity: type' for excluded and why_not
    location: Location  # of the expectation in the test file
    expected: str
    actual: str
    missing: tuple[str, ...] = ()  # expected, not produced
    unexpected: tuple[str, ...] = ()  # produced, not expected


@record
class CaseResult:
    file: str
    name: str
    location: Location
    mismatches: tuple[Mismatch, ...]
    fired: frozenset[RuleRef]
    engine: str
    in_effect: frozenset[RuleRef] = frozenset()  # the rules of the knowledge base the case ran on

    @property
    def quiet(self) -> frozenset[RuleRef]:
        """The rules in effect that did not fire in this case."""
        return self.in_effect - self.fired

    @property
    def passed(self) -> bool:
        return not self.mismatches

    @property
    def title(self) -> str:
        return f"{self.file}::{self.name}"
