"""Running cases: each case's facts evaluated, the outcome checked against what it expects, and the report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...errors import BadInput, Problem
from ...evaluation.decision import Decision, EntityDecision, Notice
from ...evaluation.evaluate import evaluate
from ...explain.queries import notice_firings, reasons_against
from ...io.loader import problems_sorted
from ...policy.knowledge import KnowledgeBase
from ...policy.loading import load_knowledge_base
from ...records import record
from .cases import ProducedNotice, TestCase, listed, notice_text
from .coverage import Coverage, compute_coverage, layer_rules
from .reading import load_test_file
from .results import CaseResult, Mismatch, RuleRef, rule_ref
from .suites import TestSuite, find_suites

EXCLUDED = "excluded"  # the predicate that rules a deployment type out for a legal entity


@record
class TestReport:
    """Every case's result and the rule coverage of the layers under test."""

    __test__ = False  # not a pytest class

    cases: tuple[CaseResult, ...]
    coverage: Coverage

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.cases if not c.passed)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def produced_notices(decision: Decision, notices: Iterable[Notice]) -> list[ProducedNotice]:
    return [
        ProducedNotice(n, tuple(sorted({f.clause.rule.id for f in notice_firings(decision, n)}))) for n in notices
    ]


def excluding_rules(decision: Decision, entity: str, type_id: str) -> tuple[str, ...]:
    """The rules that concluded the type is ruled out for the entity (sorted, without repeats)."""
    return tuple(
        sorted(
            {
                f.clause.rule.id
                for f in decision.trace
                if any(
                    c.predicate == EXCLUDED and c.get("entity") == entity and c.get("type") == type_id
                    for c in f.conclusions
                )
            }
        )
    )


def why_not_reasons(
    decision: Decision, entity: EntityDecision, type_id: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The rules behind every reason against the type for the entity, and the capabilities those reasons name."""
    firings = reasons_against(decision, entity, type_id)
    rules = tuple(sorted({f.clause.rule.id for f in firings}))
    capabilities = {
        str(c.get("capability"))
        for f in firings
        for c in f.conclusions
        if decision.kb.predicates.get(c.predicate) is not None
        and decision.kb.predicates[c.predicate].role == "why-not"
        and c.get("entity") == entity.name
        and c.get("type") == type_id
        and c.get("capability") is not None
    }
    return rules, tuple(sorted(capabilities))


def check_case(case: TestCase, decision: Decision) -> tuple[Mismatch, ...]:
    """Every way the decision differs from what the case expects."""
    found: list[Mismatch] = []
    by_entity = {e.name: e for e in decision.entities}
    for want in case.deployments:
        got = by_entity[want.entity].deployment
        if got != want.values[0]:
            found.append(Mismatch("deployments", want.entity, want.location, want.values[0], got or "(none)"))
    for want in case.gaps:
        actual = tuple(sorted(by_entity[want.entity].gaps))
        if actual != want.values:
            found.append(
                Mismatch(
                    "gaps",
                    want.entity,
                    want.location,
                    listed(want.values),
                    listed(actual),
                    tuple(c for c in want.values if c not in actual),
                    tuple(c for c in actual if c not in want.values),
                )
            )
    for ruled_out in case.excluded:
        assert ruled_out.rules is not None
        actual = excluding_rules(decision, ruled_out.entity, ruled_out.type)
        if actual != ruled_out.rules:
            found.append(
                Mismatch(
                    "excluded",
                    f"{ruled_out.entity}: {ruled_out.type}",
                    ruled_out.location,
                    listed(ruled_out.rules),
                    listed(actual),
                    tuple(r for r in ruled_out.rules if r not in actual),
                    tuple(r for r in actual if r not in ruled_out.rules),
                )
            )
    for ruled_out in case.why_not:
        rules, capabilities = why_not_reasons(decision, by_entity[ruled_out.entity], ruled_out.type)
        for what, expected_values, actual_values in (
            ("rules", ruled_out.rules, rules),
            ("capabilities", ruled_out.capabilities, capabilities),
        ):
            if expected_values is None or actual_values == expected_values:
                continue
            found.append(
                Mismatch(
                    "why_not",
                    f"{ruled_out.entity}: {ruled_out.type}: {what}",
                    ruled_out.location,
                    listed(expected_values),
                    listed(actual_values),
                    tuple(v for v in expected_values if v not in actual_values),
                    tuple(v for v in actual_values if v not in expected_values),
                )
            )
    for field, expected, notices in (
        ("warnings", case.warnings, decision.warnings),
        ("notes", case.notes, decision.notes),
    ):
        if expected is None:
            continue
        produced = produced_notices(decision, notices)
        # What came out is written with what the expectations ask about: the rules, the message.
        with_rules = any(e.rules is not None for e in expected.items)
        with_message = any(e.message_contains is not None for e in expected.items)
        shown = [notice_text(p.notice, p.rules if with_rules else None, message=with_message) for p in produced]
        missing = tuple(str(e) for e in expected.items if not any(e.matches(p) for p in produced))
        unmatched = (
            text for p, text in zip(produced, shown, strict=True) if not any(e.matches(p) for e in expected.items)
        )
        unexpected = tuple(dict.fromkeys(unmatched))
        if missing or unexpected:
            found.append(
                Mismatch(
                    field,
                    None,
                    expected.location,
                    listed(str(e) for e in expected.items),
                    listed(dict.fromkeys(shown)),
                    missing,
                    unexpected,
                )
            )
    fired = {f.clause.rule.id for f in decision.trace}
    if case.fires is not None:
        missing = tuple(r for r in case.fires.rules if r not in fired)
        if missing:
            found.append(
                Mismatch(
                    "fires",
                    None,
                    case.fires.location,
                    listed(case.fires.rules),
                    listed(sorted(fired)),
                    missing=missing,
                )
            )
    if case.does_not_fire is not None:
        unexpected = tuple(r for r in case.does_not_fire.rules if r in fired)
        if unexpected:
            found.append(
                Mismatch(
                    "does_not_fire",
                    None,
                    case.does_not_fire.location,
                    listed(case.does_not_fire.rules),
                    listed(sorted(fired)),
                    unexpected=unexpected,
                )
            )
    return tuple(found)


def run_case(kb: KnowledgeBase, case: TestCase, engine: str = "auto") -> CaseResult:
    decision = evaluate(kb, case.facts, engine=engine)
    fired = frozenset(rule_ref(f.clause.rule) for f in decision.trace)
    in_effect = frozenset(rule_ref(r) for r in kb.rules)
    return CaseResult(
        case.file, case.name, case.location, check_case(case, decision), fired, decision.engine, in_effect
    )


def run_tests(
    paths: Sequence[str] = (), *, packs: Sequence[str] = (), engine: str = "auto", as_of: str | None = None
) -> TestReport:
    """Run the policy tests `podeploy test [PATH ...] [--pack NAME ...] [--as-of YYYY-MM]` runs.

    Every test file is read and checked before any case runs: bad input raises BadInput with every
    problem, located in its file.
    """
    planned: list[tuple[TestSuite, KnowledgeBase, list[TestCase]]] = []
    problems: list[Problem] = []
    for suite in find_suites(paths, packs, as_of):
        kb = load_knowledge_base(list(suite.layer_dirs))
        cases: list[TestCase] = []
        for path, shown in suite.files:
            try:
                cases.extend(load_test_file(kb, path, shown))
            except BadInput as exc:
                problems.extend(exc.problems)
        planned.append((suite, kb, cases))
    if problems:
        raise BadInput(problems_sorted(problems))
    results: list[CaseResult] = []
    rules: list[RuleRef] = []
    for suite, kb, cases in planned:
        rules.extend(layer_rules(kb, suite.layer))
        results.extend(run_case(kb, case, engine) for case in cases)
    return TestReport(tuple(results), compute_coverage(rules, results))
