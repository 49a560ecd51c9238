"""`podeploy test`: policy tests (*.test.yaml) beside the policies, their exact output, exit status and coverage."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import assert_bad_input
from podeploy.cli.test_command import test as podeploy_test  # not test*: pytest would collect it
from podeploy.engine.errors import BadInput
from podeploy.engine.evaluation import rete
from podeploy.engine.io.loader import load_document
from podeploy.engine.policy.layers import builtin_policy_paths, pack_path
from podeploy.engine.policy.loading import load_knowledge_base
from podeploy.engine.tools.policytest.coverage import Coverage, compute_coverage
from podeploy.engine.tools.policytest.results import CaseResult, RuleRef
from podeploy.engine.tools.policytest.running import run_tests
from podeploy.engine.tools.policytest.suites import builtin_test_paths, find_test_files

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ["reference", *(["durable"] if rete.available() else [])]
# The runner's own tests pin what the layer's cases meet in the seeds' knowledge alone.
SEEDS = ("--as-of", "2023-11")
EDITION = "policies/editions/docs-2026-08/"

# A consultant's layer: one note on a large budget, one warning when Lite meets a large budget.
LAYER = """\
policy: consultant-extras
description: A consultant's own checks.
codes:
  - {id: large-budget, kind: note, description: A large budget leaves room for extensions.}
  - {id: lite-large-budget, kind: warning, description: Lite with a large budget.}
rules:
  - id: large-budget-room
    description: A large budget leaves room for extensions.
    when:
      - budget: large
    then:
      - note: {code: large-budget}
    explanation: With a large budget there is room to extend the deployment.
  - id: lite-with-large-budget
    description: A large budget on Lite may be better spent on a Finance-based type.
    when:
      - budget: large
      - deployment: {entity: $entity, type: lite}
    then:
      - warning: {code: lite-large-budget, entity: $entity}
    explanation: "{entity} gets lite with a large budget."
"""

PASSING = """\
cases:
  - name: a large budget leaves room
    facts:
      customer: Relecloud
      budget: large
      requirements: [customer-facing-invoicing]
    deployments: {Relecloud: resource-non-stocked}
    notes: [large-budget]
    fires: [large-budget-room]
"""

FAILING = """\
cases:
  - name: expects the wrong things
    facts:
      customer: Relecloud
      budget: large
      requirements: [customer-facing-invoicing, project-sales, wbs-planning]
    deployments: {Relecloud: lite}
    gaps: {Relecloud: []}
    warnings: [low-fit]
    notes: [large-budget, {code: region-availability, about: canada}]
    fires: [lite-with-large-budget, large-budget-room]
    does_not_fire: [type-lacks-capability]
"""


def layer(tmp_path: Path, tests: dict[str, str], policy: str = LAYER, name: str = "extras") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "extras.yaml").write_text(policy, "utf-8")
    for file, text in tests.items():
        (folder / file).write_text(text, "utf-8")
    return folder


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(podeploy_test, [str(a) for a in args])


# -- output and exit status ---------------------------------------------------------------------------


def test_a_passing_case_prints_pass_and_the_summary(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"extras.test.yaml": PASSING})
    result = run(folder, *SEEDS)
    assert result.stdout == f"PASS {folder}/extras.test.yaml::a large budget leaves room\n1 passed, 0 failed\n"
    assert result.stderr == ""
    assert result.exit_code == 0


def test_a_failing_case_prints_expected_and_actual_per_field(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"extras.test.yaml": FAILING})
    result = run(folder, "--engine", "reference", *SEEDS)
    f = f"{folder}/extras.test.yaml"
    assert result.stdout == textwrap.dedent(f"""\
        FAIL {f}::expects the wrong things
          deployments: Relecloud  ({f}:7:30)
            expected:   lite
            actual:     resource-non-stocked
          gaps: Relecloud  ({f}:8:23)
            expected:   []
            actual:     [wbs-planning]
            unexpected: wbs-planning
          warnings  ({f}:9:5)
            expected:   [low-fit]
            actual:     [capability-gap (entity: Relecloud, type: resource-non-stocked, capability: wbs-planning)]
            missing:    low-fit
            unexpected: capability-gap (entity: Relecloud, type: resource-non-stocked, capability: wbs-planning)
          notes  ({f}:10:5)
            expected:   [large-budget, region-availability (about: canada)]
            actual:     [large-budget]
            missing:    region-availability (about: canada)
          fires  ({f}:11:5)
            did not fire: lite-with-large-budget
          does_not_fire  ({f}:12:5)
            fired:        type-lacks-capability
        0 passed, 1 failed
        """)
    assert result.exit_code == 1


def test_a_layer_is_tested_over_the_current_knowledge_by_default(tmp_path: Path) -> None:
    """The same cases meet the docs-2026-08 edition: a WBS on Integrated with ERP, Finance as the ERP."""
    folder = layer(tmp_path, {"extras.test.yaml": PASSING + FAILING.removeprefix("cases:\n")})
    result = run(folder, "--engine", "reference")
    f = f"{folder}/extras.test.yaml"
    both = "finance-required (entity: Relecloud), project-for-the-web-limits (entity: Relecloud)"
    assert result.stdout == textwrap.dedent(f"""\
        FAIL {f}::a large budget leaves room
          notes  ({f}:8:5)
            expected:   [large-budget]
            actual:     [large-budget, finance-required (entity: Relecloud)]
            unexpected: finance-required (entity: Relecloud)
        FAIL {f}::expects the wrong things
          deployments: Relecloud  ({f}:15:30)
            expected:   lite
            actual:     resource-non-stocked
          warnings  ({f}:17:5)
            expected:   [low-fit]
            actual:     []
            missing:    low-fit
          notes  ({f}:18:5)
            expected:   [large-budget, region-availability (about: canada)]
            actual:     [large-budget, {both}]
            missing:    region-availability (about: canada)
            unexpected: finance-required (entity: Relecloud)
            unexpected: project-for-the-web-limits (entity: Relecloud)
          fires  ({f}:19:5)
            did not fire: lite-with-large-budget
          does_not_fire  ({f}:20:5)
            fired:        type-lacks-capability
        0 passed, 2 failed
        """)
    assert result.exit_code == 1
    current = PASSING.replace("[large-budget]", "[large-budget, {code: finance-required, entity: Relecloud}]")
    folder = layer(tmp_path, {"current.test.yaml": current}, name="current")
    assert run(folder).stdout == f"PASS {folder}/current.test.yaml::a large budget leaves room\n1 passed, 0 failed\n"
    # The seeds have no such note code: the test file does not fit that knowledge.
    assert_bad_input(
        run(folder, *SEEDS), [f"{folder}/current.test.yaml:8:34: unknown-code: 'finance-required' is not a note code"]
    )


def test_the_summary_is_alone_on_the_last_line_and_counts_every_case(tmp_path: Path) -> None:
    both = PASSING + FAILING.removeprefix("cases:\n")
    folder = layer(tmp_path, {"a.test.yaml": both, "b.test.yaml": PASSING})
    result = run(folder, "--coverage", *SEEDS)
    lines = result.stdout.splitlines()
    assert lines[-1] == "2 passed, 1 failed"
    assert [line.split("::")[0] for line in lines if line.startswith(("PASS", "FAIL"))] == [
        f"PASS {folder}/a.test.yaml",
        f"FAIL {folder}/a.test.yaml",
        f"PASS {folder}/b.test.yaml",
    ]
    assert result.exit_code == 1


def test_facts_file_is_read_relative_to_the_test_file(tmp_path: Path) -> None:
    # A facts file in a policy folder is named *.facts.yaml: every other .yaml file there is read as a policy.
    folder = layer(tmp_path, {})
    (folder / "relecloud.facts.yaml").write_text("customer: Relecloud\nbudget: large\n", "utf-8")
    (folder / "cases.test.yaml").write_text(
        "cases:\n  - name: from a file\n    facts_file: relecloud.facts.yaml\n"
        "    deployments: {Relecloud: lite}\n    warnings: [{code: lite-large-budget, entity: Relecloud}]\n",
        "utf-8",
    )
    result = run(folder)
    assert result.stdout == f"PASS {folder}/cases.test.yaml::from a file\n1 passed, 0 failed\n"


CONTOSO_CASE = """\
cases:
  - name: Contoso
    facts_file: contoso.facts.yaml
    deployments:
      Contoso Manufacturing United States: stocked-production
      Contoso Robotics United Kingdom: resource-non-stocked
    warnings: []
    notes: [shared-environment, region-availability]
"""


def test_the_seed_contoso_example_as_a_facts_file(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"contoso.test.yaml": CONTOSO_CASE})
    (folder / "contoso.facts.yaml").write_text((ROOT / "examples" / "contoso.yaml").read_text())
    result = run(folder, *SEEDS)
    assert result.stdout == f"PASS {folder}/contoso.test.yaml::Contoso\n1 passed, 0 failed\n"


def test_the_seed_contoso_example_over_the_current_knowledge(tmp_path: Path) -> None:
    """The same deployments; where the books are is open, so each entity is told it takes Finance as its ERP."""
    current = CONTOSO_CASE.replace(
        "notes: [shared-environment, region-availability]",
        "notes:\n      - shared-environment\n      - region-availability\n"
        "      - {code: finance-required, entity: Contoso Manufacturing United States}\n"
        "      - {code: finance-required, entity: Contoso Robotics United Kingdom}",
    )
    folder = layer(tmp_path, {"contoso.test.yaml": current})
    (folder / "contoso.facts.yaml").write_text((ROOT / "examples" / "contoso.yaml").read_text())
    result = run(folder)
    assert result.stdout == f"PASS {folder}/contoso.test.yaml::Contoso\n1 passed, 0 failed\n"


def test_a_code_alone_matches_every_notice_with_that_code_and_keys_narrow_it(tmp_path: Path) -> None:
    facts = (
        "    facts:\n      customer: Adatum\n      budget: large\n      legal_entities:\n"
        "        - {name: Adatum A}\n        - {name: Adatum B}\n"
    )
    cases = (
        f"cases:\n  - name: by code\n{facts}    warnings: [lite-large-budget]\n"
        f"  - name: by entity\n{facts}    warnings: [{{code: lite-large-budget, entity: Adatum A}}]\n"
    )
    folder = layer(tmp_path, {"x.test.yaml": cases})
    result = run(folder)
    assert result.stdout.splitlines()[0] == f"PASS {folder}/x.test.yaml::by code"
    assert result.stdout.splitlines()[1:] == [
        f"FAIL {folder}/x.test.yaml::by entity",
        f"  warnings  ({folder}/x.test.yaml:17:5)",
        "    expected:   [lite-large-budget (entity: Adatum A)]",
        "    actual:     [lite-large-budget (entity: Adatum A), lite-large-budget (entity: Adatum B)]",
        "    unexpected: lite-large-budget (entity: Adatum B)",
        "1 passed, 1 failed",
    ]


# -- exclusions, why-nots and what a warning says ------------------------------------------------------

# Fabrikam plans for Finance and needs production orders: lite is ruled out twice, Integrated with ERP once.
EXCLUSIONS = """\
cases:
  - name: Finance later and production orders rule lite out
    facts:
      customer: Fabrikam
      plans_finance: true
      requirements: [production-orders]
    excluded:
      Fabrikam:
        lite: [production-needs-stocked, finance-later-rules-out-lite]
        resource-non-stocked: production-needs-stocked
        stocked-production: []
    why_not:
      Fabrikam:
        lite:
          rules: [finance-later-rules-out-lite, production-needs-stocked, type-lacks-capability]
          capabilities: [production-orders]
        resource-non-stocked: {capabilities: [production-orders]}
"""

# Litware's low-fit warning, concluded by two rules with a sentence each.
LOW_FIT = """\
cases:
  - name: a small budget and a low maturity give one low-fit warning
    facts:
      customer: Litware
      requirements: [time-tracking, basic-expense]
      budget: small
      pm_maturity: low
    warnings:
      - code: low-fit
        message_contains: "a small   budget Project Operations\\n may be the wrong tool"
        rules: [small-budget, low-pm-maturity]
"""


def test_a_case_asserts_the_rules_that_exclude_each_type_and_the_reasons_against_it(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"t.test.yaml": EXCLUSIONS})
    result = run(folder, *SEEDS)
    assert result.stdout == f"PASS {folder}/t.test.yaml::Finance later and production orders rule lite out\n" \
        "1 passed, 0 failed\n"
    assert result.exit_code == 0


def test_a_wrong_exclusion_says_what_was_expected_and_what_excluded_the_type(tmp_path: Path) -> None:
    wrong = (
        EXCLUSIONS.replace("lite: [production-needs-stocked, finance-later-rules-out-lite]", "lite: []")
        .replace("resource-non-stocked: production-needs-stocked", "resource-non-stocked: finance-later-rules-out-lite")
        .replace("stocked-production: []", "stocked-production: type-lacks-capability")
    )
    folder = layer(tmp_path, {"t.test.yaml": wrong})
    result = run(folder, *SEEDS)
    f = f"{folder}/t.test.yaml"
    assert result.stdout.splitlines()[:15] == [
        f"FAIL {f}::Finance later and production orders rule lite out",
        f"  excluded: Fabrikam: lite  ({f}:9:9)",
        "    expected:   []",
        "    actual:     [finance-later-rules-out-lite, production-needs-stocked]",
        "    unexpected: finance-later-rules-out-lite",
        "    unexpected: production-needs-stocked",
        f"  excluded: Fabrikam: resource-non-stocked  ({f}:10:9)",
        "    expected:   [finance-later-rules-out-lite]",
        "    actual:     [production-needs-stocked]",
        "    missing:    finance-later-rules-out-lite",
        "    unexpected: production-needs-stocked",
        f"  excluded: Fabrikam: stocked-production  ({f}:11:9)",
        "    expected:   [type-lacks-capability]",
        "    actual:     []",
        "    missing:    type-lacks-capability",
    ]
    assert result.stdout.splitlines()[15:] == ["0 passed, 1 failed"]
    assert result.exit_code == 1


def test_a_wrong_why_not_says_which_rules_and_capabilities_were_expected_and_found(tmp_path: Path) -> None:
    wrong = EXCLUSIONS.replace(
        "rules: [finance-later-rules-out-lite, production-needs-stocked, type-lacks-capability]",
        "rules: [finance-later-rules-out-lite]",
    ).replace(
        "resource-non-stocked: {capabilities: [production-orders]}",
        "stocked-production: {rules: [], capabilities: [production-orders]}",
    )
    folder = layer(tmp_path, {"t.test.yaml": wrong})
    result = run(folder, *SEEDS)
    f = f"{folder}/t.test.yaml"
    assert result.stdout == textwrap.dedent(f"""\
        FAIL {f}::Finance later and production orders rule lite out
          why_not: Fabrikam: lite: rules  ({f}:14:9)
            expected:   [finance-later-rules-out-lite]
            actual:     [finance-later-rules-out-lite, production-needs-stocked, type-lacks-capability]
            unexpected: production-needs-stocked
            unexpected: type-lacks-capability
          why_not: Fabrikam: stocked-production: capabilities  ({f}:17:9)
            expected:   [production-orders]
            actual:     []
            missing:    production-orders
        0 passed, 1 failed
        """)
    assert result.exit_code == 1


def test_a_warning_is_matched_on_text_its_message_contains_and_exactly_the_rules_behind_it(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"t.test.yaml": LOW_FIT})
    result = run(folder, *SEEDS)
    assert result.stdout == f"PASS {folder}/t.test.yaml::a small budget and a low maturity give one low-fit warning\n" \
        "1 passed, 0 failed\n"
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("expectation", "missing"),
    [
        ("rules: [small-budget]", "low-fit (rules: [small-budget])"),
        ("message_contains: a large budget", 'low-fit (message contains "a large budget")'),
    ],
    ids=["rules", "message"],
)
def test_a_warning_with_other_rules_or_another_message_fails_showing_what_came_out(
    tmp_path: Path, expectation: str, missing: str
) -> None:
    text = textwrap.dedent(f"""\
        cases:
          - name: low fit
            facts: {{customer: Litware, budget: small, pm_maturity: low}}
            warnings:
              - {{code: low-fit, {expectation}}}
        """)
    folder = layer(tmp_path, {"t.test.yaml": text})
    result = run(folder, *SEEDS)
    lines = result.stdout.splitlines()
    f = f"{folder}/t.test.yaml"
    message = (
        "With a small budget Project Operations may be the wrong tool: it is a full ERP-class product and pays off "
        "only when implemented across the whole service lifecycle. Try Project for the web on its own first. With a "
        "low project-management maturity Project Operations may be too big a step; start with Project Online "
        "(Project Web App) or Project for the web and come back to it later."
    )
    produced = (
        "low-fit (rules: [low-pm-maturity, small-budget])"
        if expectation.startswith("rules")
        else f"low-fit (message {json.dumps(message)})"
    )
    assert lines == [
        f"FAIL {f}::low fit",
        f"  warnings  ({f}:4:5)",
        f"    expected:   [{missing}]",
        f"    actual:     [{produced}]",
        f"    missing:    {missing}",
        f"    unexpected: {produced}",
        "0 passed, 1 failed",
    ]
    assert result.exit_code == 1


def test_bad_exclusion_why_not_and_warning_expectations_are_located_one_line_each(tmp_path: Path) -> None:
    bad = textwrap.dedent("""\
        cases:
          - name: one
            facts: {customer: X, requirements: [production-orders]}
            excluded:
              X: {lit: production-needs-stocked, lite: production-need-stocked}
              Y: {lite: []}
            why_not:
              X:
                lite: [type-lacks-capability]
                stocked-production: {rule: [], capabilities: [recipt-ocr]}
            warnings:
              - {code: low-fit, message_contains: " ", rules: small-budget}
              - {code: low-fit, rules: [smal-budget]}
          - name: two
            facts: {customer: X}
            excluded: {X: lite}
            why_not: []
        """)
    folder = layer(tmp_path, {"t.test.yaml": bad})
    f = f"{folder}/t.test.yaml"
    assert_bad_input(
        run(folder, *SEEDS),
        [
            f"{f}:5:11: unknown-type: 'lit' is not a deployment type (did you mean 'lite'?)",
            f"{f}:5:48: unknown-rule: 'production-need-stocked' is not a rule "
            "(did you mean 'production-needs-stocked'?)",
            f"{f}:6:7: unknown-entity: 'Y' is not a legal entity of this case's facts (legal entities: 'X')",
            f"{f}:9:15: wrong-type: cases.0.why_not.X.lite: expected a mapping of keys to values, got a list",
            f"{f}:10:30: unknown-key: 'rule' is not allowed here (did you mean 'rules'?); allowed: rules, capabilities",
            f"{f}:10:55: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)",
            f"{f}:12:43: bad-value: cases.0.warnings.0.message_contains: ' ' must be text that is not blank",
            f"{f}:12:55: wrong-type: cases.0.warnings.0.rules: expected a list, got 'small-budget' (text)",
            f"{f}:13:33: unknown-rule: 'smal-budget' is not a rule (did you mean 'small-budget'?)",
            f"{f}:16:19: wrong-type: cases.1.excluded.X: expected a mapping of keys to values, got 'lite' (text)",
            f"{f}:17:14: wrong-type: cases.1.why_not: expected a mapping of keys to values, got a list",
        ],
    )


# -- coverage ---------------------------------------------------------------------------------------


# A second case, on a medium budget: large-budget-room does not fire in it.
MEDIUM_BUDGET = """\
  - name: a medium budget says nothing of room
    facts:
      customer: Relecloud
      budget: medium
    notes: [lite-is-final]
    does_not_fire: [large-budget-room]
"""
COVERAGE_HEADING = "Coverage (rules that fired in one case and did not fire in another):"


def test_coverage_counts_a_rule_that_fired_in_one_case_and_not_in_another(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"extras.test.yaml": PASSING + MEDIUM_BUDGET})
    result = run(folder, "--coverage", *SEEDS)
    assert result.stdout == textwrap.dedent(f"""\
        PASS {folder}/extras.test.yaml::a large budget leaves room
        PASS {folder}/extras.test.yaml::a medium budget says nothing of room

        {COVERAGE_HEADING}
          {folder}/extras.yaml  1/2   50%
            never fired:  lite-with-large-budget ({folder}/extras.yaml:14:5)
          {"total".ljust(len(f"{folder}/extras.yaml"))}  1/2   50%
        2 passed, 0 failed
        """)
    assert result.exit_code == 0


def test_a_rule_that_fires_in_every_case_is_not_covered_and_is_named_apart(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"extras.test.yaml": PASSING})
    result = run(folder, "--coverage", *SEEDS)
    assert result.stdout == textwrap.dedent(f"""\
        PASS {folder}/extras.test.yaml::a large budget leaves room

        {COVERAGE_HEADING}
          {folder}/extras.yaml  0/2    0%
            never fired:  lite-with-large-budget ({folder}/extras.yaml:14:5)
            always fired: large-budget-room ({folder}/extras.yaml:7:5): add a case where it does not fire
          {"total".ljust(len(f"{folder}/extras.yaml"))}  0/2    0%
        1 passed, 0 failed
        """)
    assert result.exit_code == 0


def test_coverage_min_fails_when_coverage_is_below_it(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"extras.test.yaml": PASSING + MEDIUM_BUDGET})
    result = run(folder, "--coverage-min", "75", *SEEDS)
    lines = result.stdout.splitlines()
    assert lines[-2:] == ["coverage 50% (1/2 rules) is below the minimum of 75%", "2 passed, 0 failed"]
    assert COVERAGE_HEADING in lines
    assert result.exit_code == 1
    passing = run(folder, "--coverage-min", "50", *SEEDS)
    assert passing.exit_code == 0
    assert "below the minimum" not in passing.stdout


def test_coverage_min_rejects_a_percentage_out_of_range() -> None:
    result = run("--coverage-min", "101")
    assert result.exit_code == 2
    assert "--coverage-min" in result.stderr


def test_compute_coverage_per_file_and_in_total() -> None:
    from podeploy.engine.errors import Location

    a1, a2, b1 = (
        RuleRef("a1", Location("a.yaml", 3, 5)),
        RuleRef("a2", Location("a.yaml", 9, 5)),
        RuleRef("b1", Location("b.yaml", 3, 5)),
    )
    outside = RuleRef("built", Location("policies/fit.yaml", 8, 5))
    every = frozenset({a1, a2, b1, outside})

    def case(line: int, fired: set[RuleRef]) -> CaseResult:
        return CaseResult("t.test.yaml", f"c{line}", Location("t.test.yaml", line, 5), (), frozenset(fired), "x", every)

    results = [case(2, {a2, b1, outside}), case(9, {a2, outside})]
    coverage = compute_coverage([a1, a2, b1], results)
    assert isinstance(coverage, Coverage)
    assert [(f.file, f.covered, f.total, f.percent) for f in coverage.files] == [
        ("a.yaml", 0, 2, 0.0),
        ("b.yaml", 1, 1, 100.0),
    ]
    assert (coverage.covered, coverage.total, coverage.never_fired, coverage.always_fired) == (1, 3, (a1,), (a2,))
    assert coverage.below(34) and not coverage.below(33.3)
    # A record: equal by value and hashable; immutable to the type checker (tests/test_records.py).
    assert coverage == compute_coverage([a1, a2, b1], results)
    assert hash(coverage) == hash(compute_coverage([a1, a2, b1], results))
    assert dataclasses.replace(coverage, files=coverage.files[:1]).total == 2


def test_a_rule_not_in_effect_in_a_case_does_not_count_as_quiet_there() -> None:
    from podeploy.engine.errors import Location

    rule = RuleRef("r", Location("a.yaml", 3, 5))
    ran = CaseResult("t.test.yaml", "ran", Location("t.test.yaml", 2, 5), (), frozenset({rule}), "x", frozenset({rule}))
    elsewhere = CaseResult("u.test.yaml", "elsewhere", Location("u.test.yaml", 2, 5), (), frozenset(), "x")
    coverage = compute_coverage([rule], [ran, elsewhere])
    assert (coverage.covered, coverage.always_fired) == (0, (rule,))


# -- the built-in knowledge base and the docs-2026-08 edition (once the 2025-update pack) --------------

# Two built-in rules fire in every case, whatever the facts: a type stays open for every entity
# (lite is the only type a built-in rule rules out) and some entity always keeps its own fit.
ALWAYS_FIRED = ["type-still-open", "entity-keeps-its-fit"]
BUILT_IN_FILES = [
    ("policies/choosing.yaml", 5, 6),
    ("policies/environment.yaml", 4, 5),
    ("policies/existing-customers.yaml", 7, 7),
    ("policies/fit.yaml", 2, 2),
]
EDITION_FILES = [
    (f"{EDITION}books.yaml", 9, 9),
    (f"{EDITION}environment.yaml", 5, 6),
    (f"{EDITION}existing-customers.yaml", 13, 13),
    (f"{EDITION}fit.yaml", 6, 6),
    (f"{EDITION}planning.yaml", 1, 1),
    (f"{EDITION}receipt-ocr.yaml", 2, 2),
    (f"{EDITION}stocked-products.yaml", 7, 7),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_the_built_in_tests_pass_and_cover_all_but_the_rules_that_always_fire(engine: str) -> None:
    report = run_tests(engine=engine, as_of="2023-11")
    assert [c.title for c in report.cases if not c.passed] == []
    assert (report.passed, len(report.cases)) == (27, 27)
    assert all(c.file.startswith("policies/") and not c.file.startswith(EDITION) for c in report.cases)
    assert (report.coverage.covered, report.coverage.total) == (18, 20)
    assert [r.id for r in report.coverage.always_fired] == ALWAYS_FIRED
    assert report.coverage.never_fired == ()
    assert [(f.file, f.covered, f.total) for f in report.coverage.files] == BUILT_IN_FILES
    assert {c.engine for c in report.cases} == {engine}


@pytest.mark.parametrize("engine", ENGINES)
def test_the_shipped_tests_pass_built_ins_then_the_edition(engine: str) -> None:
    report = run_tests(engine=engine)
    assert [c.title for c in report.cases if not c.passed] == []
    assert (report.passed, len(report.cases)) == (64, 64)
    edition = [c for c in report.cases if c.file.startswith(EDITION)]
    assert len(edition) == 37
    assert report.cases[: 64 - 37] == run_tests(engine=engine, as_of="2023-11").cases  # the built-ins' first
    assert (report.coverage.covered, report.coverage.total) == (61, 64)
    # And the edition's: every legal entity's type runs in the customer's environment.
    assert sorted(r.id for r in report.coverage.always_fired) == sorted([*ALWAYS_FIRED, "environment-runs-type"])
    assert [(f.file, f.covered, f.total) for f in report.coverage.files] == sorted(BUILT_IN_FILES + EDITION_FILES)
    assert {c.engine for c in report.cases} == {engine}


@pytest.mark.parametrize("engine", ENGINES)
def test_the_pack_name_runs_the_edition_tests_once(engine: str) -> None:
    default = run_tests(engine=engine)
    by_name = run_tests(packs=["2025-update"], engine=engine)
    with_seeds = run_tests(packs=["2025-update"], engine=engine, as_of="2023-11")
    for report in (by_name, with_seeds):
        assert [c.title for c in report.cases] == [c.title for c in default.cases]
        assert all(c.passed for c in report.cases)
        assert report.coverage == default.coverage
    assert {r.id for f in default.coverage.files if f.file.startswith(EDITION) for r in f.rules} >= {
        "type-lacks-capability",
        "production-needs-stocked",
        "psa-has-no-upgrade-to-finance",
        "receipt-ocr-not-in-region",
    }


def test_podeploy_test_runs_the_built_ins_with_coverage() -> None:
    result = run("--coverage", "--coverage-min", "90", *SEEDS)
    lines = result.stdout.splitlines()
    assert lines[-10:] == [
        "",
        COVERAGE_HEADING,
        "  policies/choosing.yaml              5/6   83%",
        "    always fired: type-still-open (policies/choosing.yaml:52:5): add a case where it does not fire",
        "  policies/environment.yaml           4/5   80%",
        "    always fired: entity-keeps-its-fit (policies/environment.yaml:29:5): add a case where it does not fire",
        "  policies/existing-customers.yaml    7/7  100%",
        "  policies/fit.yaml                   2/2  100%",
        "  total                             18/20   90%",
        "27 passed, 0 failed",
    ]
    cases = [line for line in lines if line.startswith(("PASS", "FAIL"))]
    assert len(cases) == 27 and all(line.startswith("PASS policies/") for line in cases)
    assert not any(line.startswith(f"PASS {EDITION}") for line in cases)
    assert result.exit_code == 0


SHIPPED_COVERAGE = [
    "",
    COVERAGE_HEADING,
    "  policies/choosing.yaml                                    5/6   83%",
    "    always fired: type-still-open (policies/choosing.yaml:52:5): add a case where it does not fire",
    "  policies/editions/docs-2026-08/books.yaml                 9/9  100%",
    "  policies/editions/docs-2026-08/environment.yaml           5/6   83%",
    "    always fired: environment-runs-type (policies/editions/docs-2026-08/environment.yaml:45:5): add a case where "
    "it does not fire",
    "  policies/editions/docs-2026-08/existing-customers.yaml  13/13  100%",
    "  policies/editions/docs-2026-08/fit.yaml                   6/6  100%",
    "  policies/editions/docs-2026-08/planning.yaml              1/1  100%",
    "  policies/editions/docs-2026-08/receipt-ocr.yaml           2/2  100%",
    "  policies/editions/docs-2026-08/stocked-products.yaml      7/7  100%",
    "  policies/environment.yaml                                 4/5   80%",
    "    always fired: entity-keeps-its-fit (policies/environment.yaml:29:5): add a case where it does not fire",
    "  policies/existing-customers.yaml                          7/7  100%",
    "  policies/fit.yaml                                         2/2  100%",
    "  total                                                   61/64   95%",
    "64 passed, 0 failed",
]


def test_podeploy_test_runs_the_built_ins_and_the_edition_with_coverage() -> None:
    result = run("--coverage", "--coverage-min", "95")
    lines = result.stdout.splitlines()
    assert lines[-len(SHIPPED_COVERAGE) :] == SHIPPED_COVERAGE
    cases = [line for line in lines if line.startswith(("PASS", "FAIL"))]
    assert len(cases) == 64 and all(line.startswith("PASS policies/") for line in cases)
    assert sum(line.startswith(f"PASS {EDITION}") for line in cases) == 37
    assert result.exit_code == 0


def test_podeploy_test_pack_runs_the_edition_tests_after_the_built_ins() -> None:
    result = run("--pack", "2025-update", "--coverage-min", "95", *SEEDS)
    lines = result.stdout.splitlines()
    cases = [line for line in lines if line.startswith(("PASS", "FAIL"))]
    assert len(cases) == 64 and all(line.startswith("PASS policies/") for line in cases)
    assert [line.startswith(f"PASS {EDITION}") for line in cases] == [False] * 27 + [True] * 37
    assert lines[-len(SHIPPED_COVERAGE) :] == SHIPPED_COVERAGE
    assert result.exit_code == 0


def test_the_edition_folder_given_as_a_path_runs_the_edition_tests_alone() -> None:
    by_path = run_tests([pack_path("2025-update")], engine="reference")
    by_name = run_tests(packs=["2025-update"], engine="reference")
    assert [c.title for c in by_path.cases] == [c.title for c in by_name.cases if c.file.startswith(EDITION)]
    assert all(c.passed for c in by_path.cases)
    assert [(f.file, f.covered, f.total) for f in by_path.coverage.files] == EDITION_FILES
    assert run_tests([pack_path("docs-2026-08")], engine="reference", as_of="2023-11").cases == by_path.cases


def test_a_single_built_in_test_file_runs_against_the_built_ins() -> None:
    fit = next(path for path, shown in builtin_test_paths() if shown == "policies/fit.test.yaml")
    report = run_tests([fit], engine="reference")
    assert report.cases and all(c.file == "policies/fit.test.yaml" and c.passed for c in report.cases)
    assert report.coverage.total == 20


def test_test_files_are_not_policies_and_every_rule_file_has_a_test_file() -> None:
    assert not any(shown.endswith(".test.yaml") for _, shown in builtin_policy_paths())
    tested = {shown.removesuffix(".test.yaml") for _, shown in builtin_test_paths()}
    with_rules = {f.path.removesuffix(".yaml") for f in load_knowledge_base().files if f.rules}
    assert with_rules <= tested


def test_the_shipped_test_files_match_the_test_file_schema() -> None:
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "policy-test.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = [Path(p) for p, _ in builtin_test_paths()] + [Path(p) for p in find_test_files(pack_path("2025-update"))]
    assert len(files) == 11
    for path in files:
        assert list(validator.iter_errors(load_document(str(path)).value)) == [], path
    bad = {"cases": [{"name": "x", "facts": {"customer": "X"}, "facts_file": "f.yaml"}]}
    assert list(validator.iter_errors(bad))
    assert list(validator.iter_errors({"cases": [{"name": "x", "facts": {"customer": "X"}}]}))


# -- layers --------------------------------------------------------------------------------------------


def test_each_path_is_tested_with_the_paths_before_it_loaded(tmp_path: Path) -> None:
    base = layer(tmp_path, {"extras.test.yaml": PASSING}, name="company")
    top_policy = textwrap.dedent("""\
        policy: customer-extras
        description: Overrides the company's large-budget note.
        rules:
          - id: large-budget-room
            overrides: large-budget-room
            description: Only with customer-facing invoicing.
            when:
              - budget: large
              - requirements: {entity: $e, value: customer-facing-invoicing}
            then:
              - note: {code: large-budget}
            explanation: Room to extend.
        """)
    top = layer(
        tmp_path,
        {"top.test.yaml": PASSING.replace("a large budget leaves room", "overridden")},
        policy=top_policy,
        name="customer",
    )
    result = run(base, top, "--coverage", *SEEDS)
    assert result.stdout.splitlines()[:2] == [
        f"PASS {base}/extras.test.yaml::a large budget leaves room",
        f"PASS {top}/top.test.yaml::overridden",
    ]
    assert f"    never fired:  lite-with-large-budget ({base}/extras.yaml:14:5)" in result.stdout
    assert f"  {top}/extras.yaml" in result.stdout  # the override counts as the top layer's rule
    assert result.exit_code == 0
    # Alone, the top layer overrides a rule that is not there.
    alone = run(top)
    assert alone.exit_code == 2
    assert "unknown-rule: 'large-budget-room' is not a rule of an earlier layer" in alone.stderr


CASE_KEYS = (
    "allowed: name, description, facts, facts_file, deployments, gaps, excluded, why_not, warnings, notes, fires, "
    "does_not_fire"
)


# -- bad input -----------------------------------------------------------------------------------------


def test_malformed_test_files_are_located_one_line_each(tmp_path: Path) -> None:
    bad = textwrap.dedent("""\
        cases:
          - name: one
            facts: {customer: X, requirements: [recipt-ocr]}
            deployments: {X: lite}
          - name: one
            facts: {customer: X}
            deployment: {X: lite}
          - name: three
            facts_file: nothere.yaml
            deployments: {X: lite}
          - name: four
            facts: {customer: X}
            deployments: {Y: lit}
            gaps: {X: receipt-ocr}
            warnings: [shared-environment, {code: psa-upgrade, entity: Z, typ: lite}, 5]
            notes: [nope]
            fires: [lite-is-fina]
          - name: five
            facts: {customer: X}
            fires: [lite-is-final]
            does_not_fire: [lite-is-final]
          - facts: {customer: X}
            notes: []
        """)
    folder = layer(tmp_path, {"bad.test.yaml": bad, "empty.test.yaml": "", "list.test.yaml": "- name: x\n"})
    f = f"{folder}/bad.test.yaml"
    assert_bad_input(
        run(folder),
        [
            f"{f}:3:41: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)",
            f"{f}:5:5: missing-key: cases.1: needs at least one of: deployments, gaps, excluded, why_not, warnings, "
            "notes, fires, does_not_fire",
            f"{f}:5:11: duplicate-case: case 'one' appears twice (first at line 2)",
            f"{f}:7:5: unknown-key: 'deployment' is not allowed here (did you mean 'deployments'?); {CASE_KEYS}",
            f"{f}:9:17: not-found: facts_file: no such facts file: nothere.yaml",
            f"{f}:13:19: unknown-entity: 'Y' is not a legal entity of this case's facts (legal entities: 'X')",
            f"{f}:13:22: unknown-type: 'lit' is not a deployment type (did you mean 'lite'?)",
            f"{f}:14:15: wrong-type: cases.3.gaps.X: expected a list, got 'receipt-ocr' (text)",
            f"{f}:15:16: wrong-kind: 'shared-environment' is a note code, not a warning: list it under notes",
            f"{f}:15:64: unknown-entity: 'Z' is not a legal entity of this case's facts (legal entities: 'X')",
            f"{f}:15:67: unknown-key: 'typ' is not allowed here (did you mean 'type'?); "
            "allowed: code, entity, type, capability, about, message_contains, rules",
            f"{f}:15:79: wrong-type: cases.3.warnings.2: expected text, got 5 (a number)",
            f"{f}:16:13: unknown-code: 'nope' is not a note code",
            f"{f}:17:13: unknown-rule: 'lite-is-fina' is not a rule (did you mean 'lite-is-final'?)",
            f"{f}:21:21: contradiction: rule 'lite-is-final' is listed under both fires and does_not_fire",
            f"{f}:22:5: missing-key: 'name' is required",
            f"{folder}/empty.test.yaml:1:1: empty: test file is empty; it needs 'cases:', a list of cases",
            f"{folder}/list.test.yaml:1:1: wrong-type: document: expected a mapping of keys to values, got a list",
        ],
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cases: [\n",
            "2:1: yaml-syntax: while parsing a flow node, did not find expected node content "
            "(the bracket opened at line 2, column 1)",
        ),
        ("cases: []\n", "1:8: bad-value: cases: needs at least 1 item"),
        (
            "cases: [{name: x, facts: {customer: X}, notes: []}]\ntests: []\n",
            "2:1: unknown-key: 'tests' is not allowed here; allowed: description, cases",
        ),
        (
            "cases: [{name: x, facts: {customer: X}, deployments: {X: lite}}]\ncases: []\n",
            "2:1: duplicate-key: key 'cases' appears twice (first at line 1)",
        ),
        (
            "cases:\n  - name: x\n    deployments: {X: lite}\n",
            "2:5: missing-key: cases.0: needs one of: facts, facts_file",
        ),
        (
            "cases:\n  - name: x\n    facts: {customer: X, budgett: small}\n    warnings: []\n",
            "3:26: unknown-fact: 'budgett' is not a known fact (did you mean 'budget'?)",
        ),
        (
            "cases:\n  - name: x\n    facts: {customer: X}\n    fires: !!python/object:os.system []\n",
            "4:12: yaml-tag: tag 'tag:yaml.org,2002:python/object:os.system' is not allowed; use plain YAML values",
        ),
        (
            "cases:\n  - name: x\n    facts: {customer: X}\n    deployments: [lite]\n",
            "4:18: wrong-type: cases.0.deployments: expected a mapping of keys to values, got a list",
        ),
        (
            "cases:\n  - name: x\n    facts: {customer: X}\n    does_not_fire: []\n",
            "4:20: bad-value: cases.0.does_not_fire: needs at least 1 item",
        ),
        (
            "cases:\n  - name: x\n    facts: {customer: X}\n    notes: [{entity: X}]\n",
            "4:13: missing-key: 'code' is required",
        ),
    ],
)
def test_one_malformed_test_file(tmp_path: Path, text: str, expected: str) -> None:
    folder = layer(tmp_path, {"t.test.yaml": text})
    result = run(folder)
    assert_bad_input(result, [f"{folder}/t.test.yaml:{expected}"])


def test_a_bad_facts_file_is_located_in_the_facts_file(tmp_path: Path) -> None:
    case = "cases:\n  - name: x\n    facts_file: f.facts.yaml\n    warnings: []\n"
    folder = layer(tmp_path, {"t.test.yaml": case})
    (folder / "f.facts.yaml").write_text("customer: X\nrequirements: [recipt-ocr]\n", "utf-8")
    assert_bad_input(
        run(folder),
        [
            f"{folder}/f.facts.yaml:2:16: unknown-capability: 'recipt-ocr' is not a capability"
            " (did you mean 'receipt-ocr'?)"
        ],
    )


OUTSIDE = "facts_file: name a file in this test file's folder or below it"


@pytest.mark.parametrize(
    ("given", "code", "message"),
    [
        ("/etc/passwd", "outside-folder", f"{OUTSIDE}: /etc/passwd"),
        ("../../x.yaml", "outside-folder", f"{OUTSIDE}: ../../x.yaml"),
        ("notes.txt", "not-a-facts-file", "facts_file: name a .yaml, .yml or .json facts file: notes.txt"),
    ],
)
def test_a_facts_file_outside_the_test_files_folder_is_refused_unread(
    tmp_path: Path, given: str, code: str, message: str
) -> None:
    (tmp_path / "x.yaml").write_text("secret: 1\n")
    case = f"cases:\n  - name: x\n    facts_file: {given}\n    warnings: []\n"
    folder = layer(tmp_path, {"t.test.yaml": case})
    (folder / "notes.txt").write_text("secret: 1\n")
    result = run(folder)
    assert result.exit_code == 2
    assert result.stderr == f"{folder}/t.test.yaml:3:17: {code}: {message}\n"
    assert "secret" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nowhere"], "nowhere:1:1: not-found: no such test file or directory"),
        (
            ["--pack", "2025-updat"],
            "--pack:1:1: unknown-pack: no pack named '2025-updat' (did you mean '2025-update'?) "
            "(packs: 2025-update, docs-2026-08)",
        ),
    ],
)
def test_bad_paths_and_packs(args: list[str], expected: str) -> None:
    assert_bad_input(run(*args), [expected])


def test_a_folder_without_tests_and_a_policy_file_are_refused(tmp_path: Path) -> None:
    folder = layer(tmp_path, {})
    assert_bad_input(run(folder), [f"{folder}:1:1: no-tests: directory holds no *.test.yaml files"])
    assert_bad_input(
        run(folder / "extras.yaml"),
        [
            f"{folder}/extras.yaml:1:1: not-a-test-file: "
            "a test file is named <anything>.test.yaml; give it or its folder"
        ],
    )


def test_a_bad_policy_in_the_layer_is_bad_input(tmp_path: Path) -> None:
    folder = layer(
        tmp_path, {"t.test.yaml": PASSING}, policy=LAYER.replace("budget: large\n    then", "budgt: large\n    then")
    )
    result = run(folder)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{folder}/extras.yaml:" in result.stderr and "budgt" in result.stderr


def test_run_tests_raises_located_bad_input(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"t.test.yaml": "cases: 3\n"})
    with pytest.raises(BadInput) as caught:
        run_tests([str(folder)])
    assert [str(p) for p in caught.value.problems] == [
        f"{folder}/t.test.yaml:1:8: wrong-type: cases: expected a list, got 3 (a number)"
    ]


ONE_PASS = """\
cases:
  - name: several mistakes in one case
    facts: {customer: Wingtip, requirements: [time-tracking]}
    deployments: {Wingtp: lyte}
    warning: []
    fires: [no-such-rule]
"""


def test_every_problem_of_a_case_is_reported_at_once(tmp_path: Path) -> None:
    folder = layer(tmp_path, {"extras.test.yaml": ONE_PASS})
    test_file = folder / "extras.test.yaml"
    assert_bad_input(
        run(folder),
        [
            f"{test_file}:4:19: unknown-entity: 'Wingtp' is not a legal entity of this case's facts (did you mean "
            "'Wingtip'?)",
            f"{test_file}:4:27: unknown-type: 'lyte' is not a deployment type (did you mean 'lite'?)",
            f"{test_file}:5:5: unknown-key: 'warning' is not allowed here (did you mean 'warnings'?); {CASE_KEYS}",
            f"{test_file}:6:13: unknown-rule: 'no-such-rule' is not a rule",
        ],
    )
