"""Rule coverage: which rules of the layers under test fired in one case and stayed quiet in another."""

from __future__ import annotations

from collections.abc import Iterable

from ...policy.knowledge import KnowledgeBase
from ...records import record
from .results import CaseResult, RuleRef, rule_ref


@record
class FileCoverage:
    """The rules one policy file declares, those that fired in some case and those that stayed quiet in some case.

    A rule is covered when both happened: a case shows it fires and a case shows it can hold back. A rule
    that fires in every case (on a default value, say) is tested no better than one that never fires.
    """

    file: str
    rules: tuple[RuleRef, ...]
    fired: tuple[RuleRef, ...]
    quiet: tuple[RuleRef, ...] = ()

    @property
    def covered_rules(self) -> tuple[RuleRef, ...]:
        fired, quiet = set(self.fired), set(self.quiet)
        return tuple(r for r in self.rules if r in fired and r in quiet)

    @property
    def total(self) -> int:
        return len(self.rules)

    @property
    def covered(self) -> int:
        return len(self.covered_rules)

    @property
    def never_fired(self) -> tuple[RuleRef, ...]:
        fired = set(self.fired)
        return tuple(r for r in self.rules if r not in fired)

    @property
    def always_fired(self) -> tuple[RuleRef, ...]:
        """Rules that fired in every case that ran them: no case shows them holding back."""
        quiet = set(self.quiet)
        return tuple(r for r in self.fired if r not in quiet)

    @property
    def percent(self) -> float:
        return percent(self.covered, self.total)


@record
class Coverage:
    """Rule coverage of the layers under test, per policy file."""

    files: tuple[FileCoverage, ...]

    @property
    def total(self) -> int:
        return sum(f.total for f in self.files)

    @property
    def covered(self) -> int:
        return sum(f.covered for f in self.files)

    @property
    def percent(self) -> float:
        return percent(self.covered, self.total)

    @property
    def never_fired(self) -> tuple[RuleRef, ...]:
        return tuple(r for f in self.files for r in f.never_fired)

    @property
    def always_fired(self) -> tuple[RuleRef, ...]:
        return tuple(r for f in self.files for r in f.always_fired)

    def below(self, minimum: float) -> bool:
        """Whether coverage is under minimum percent (compared exactly, not as rounded for display)."""
        return self.covered * 100 < minimum * self.total


def percent(covered: int, total: int) -> float:
    return 100.0 if total == 0 else covered * 100 / total


def layer_rules(kb: KnowledgeBase, layer: str) -> list[RuleRef]:
    """The rules in effect that a layer declares (a rule it overrides counts as its own)."""
    return [rule_ref(r) for r in kb.rules if r.layer == layer]


def compute_coverage(rules: Iterable[RuleRef], results: Iterable[CaseResult]) -> Coverage:
    """Which of rules fired in at least one of results and which stayed quiet in at least one, per policy file
    (files sorted by name, rules in the order they are declared)."""
    fired: set[RuleRef] = set()
    quiet: set[RuleRef] = set()
    for result in results:
        fired |= result.fired
        quiet |= result.quiet
    by_file: dict[str, list[RuleRef]] = {}
    for rule in dict.fromkeys(rules):
        by_file.setdefault(rule.file, []).append(rule)
    files = []
    for file, declared in sorted(by_file.items()):
        ordered = tuple(sorted(declared, key=lambda r: (r.location.line, r.location.column, r.id)))
        files.append(
            FileCoverage(
                file, ordered, tuple(r for r in ordered if r in fired), tuple(r for r in ordered if r in quiet)
            )
        )
    return Coverage(tuple(files))
