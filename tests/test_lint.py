"""`podeploy lint`: every finding code on a small policy, with its exact message and location.

Policies are written relative to a temporary working directory, so that locations read as a
consultant would see them (`layer/policy.yaml:8:9`). HEADER takes the first two lines of every
written policy: `rules:` is line 3 and the first rule starts at 4:5.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from podeploy.cli.lint_command import lint as lint_command
from podeploy.engine import load_knowledge_base
from podeploy.engine.errors import Location
from podeploy.engine.evaluation.rete import Network
from podeploy.engine.policy.layers import pack_path
from podeploy.engine.tools.lint.report import Finding, LintReport
from podeploy.engine.tools.lint.run import lint

FIXTURES = Path(__file__).resolve().parent / "lint_fixtures"
HEADER = "policy: lint-fixture\ndescription: A policy written to show one kind of finding.\n"
POLICY = "layer/policy.yaml"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(root: Path, body: str, name: str = POLICY) -> str:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + textwrap.dedent(body))
    return name


OWN_WARNING = "- warning: {code: capability-gap}"  # no shipped rule concludes it without a capability: nothing merges


def rule(when: str, *, rid: str = "r", then: str = OWN_WARNING, explanation: str = "") -> str:
    """One rule whose conditions start at line 8, column 9."""
    explanation = explanation or ("{e} is why." if "$e" in then else "Why.")
    return (
        "rules:\n"
        f"  - id: {rid}\n"
        "    description: A rule written for a lint test.\n"
        "    source: a test (2026-11)\n"
        "    when:\n"
        + textwrap.indent(textwrap.dedent(when).strip("\n"), "      ")
        + "\n    then:\n"
        + textwrap.indent(then, "      ")
        + f"\n    explanation: {json.dumps(explanation)}\n"
    )


def found(report: LintReport) -> list[tuple[str, str, str, str]]:
    return [(f.code, f.severity, str(f.location), f.message) for f in report.findings]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(lint_command, list(args))


# -- the shipped policies ------------------------------------------------------------------------


EDITION = "policies/editions/docs-2026-08"
# (file:line:column in the edition, the replacing rule, the built-in rule it replaces, where that one is in policies/)
EDITION_REPLACES = [
    ("books.yaml:46:5", "finance-later-rules-out-lite", "finance-later-rules-out-lite", "choosing.yaml:37:5"),
    ("books.yaml:65:5", "production-needs-stocked", "production-needs-stocked", "choosing.yaml:21:5"),
    ("books.yaml:86:5", "type-lacks-capability", "type-lacks-capability", "choosing.yaml:9:5"),
    ("books.yaml:118:5", "gap-in-deployment", "gap-in-deployment", "environment.yaml:40:5"),
    (
        "environment.yaml:22:5",
        "lite-joins-finance-environment",
        "lite-joins-finance-environment",
        "environment.yaml:9:5",
    ),
    (
        "environment.yaml:57:5",
        "stocked-and-non-stocked-share-environment",
        "stocked-and-non-stocked-share-environment",
        "environment.yaml:53:5",
    ),
    (
        "existing-customers.yaml:11:5",
        "runs-a-project-operations-type",
        "current-type-is-deployed-type",
        "existing-customers.yaml:48:5",
    ),
    ("existing-customers.yaml:24:5", "runs-pma", "current-type-of-pma", "existing-customers.yaml:57:5"),
    ("existing-customers.yaml:53:5", "pma-keeps-stocked", "pma-keeps-stocked", "existing-customers.yaml:31:5"),
    ("existing-customers.yaml:70:5", "pma-can-continue", "pma-can-continue", "existing-customers.yaml:20:5"),
    (
        "existing-customers.yaml:114:5",
        "no-migration-between-types",
        "no-migration-between-types",
        "existing-customers.yaml:66:5",
    ),
    ("existing-customers.yaml:134:5", "psa-has-upgrade-path", "psa-has-upgrade-path", "existing-customers.yaml:9:5"),
    ("existing-customers.yaml:186:5", "lite-is-final", "lite-is-final", "existing-customers.yaml:78:5"),
    ("fit.yaml:20:5", "small-budget", "small-budget", "fit.yaml:9:5"),
    ("fit.yaml:34:5", "low-pm-maturity", "low-pm-maturity", "fit.yaml:21:5"),
]
EDITION_OVERRIDES = [
    (
        "shadowed",
        "info",
        f"{EDITION}/{loc}",
        f"rule '{new}' replaces rule '{old}' at policies/{where} (layer built-in), which no longer runs; keep the "
        "two in step when that rule changes",
    )
    for loc, new, old, where in EDITION_REPLACES
]


def test_the_shipped_knowledge_lints_clean_its_overrides_are_infos() -> None:
    report = lint([])
    assert found(report) == EDITION_OVERRIDES
    assert (report.errors, report.warnings, report.infos) == (0, 0, 15)
    quiet = invoke()
    assert (quiet.exit_code, quiet.output) == (0, "0 errors, 0 warnings\n")
    verbose = invoke("--verbose")
    assert verbose.exit_code == 0
    assert verbose.output.splitlines() == [
        *(f"{loc}: {severity}: {code}: {message}" for code, severity, loc, message in EDITION_OVERRIDES),
        "0 errors, 0 warnings, 15 info",
    ]


def test_the_built_ins_lint_clean() -> None:
    assert lint([], as_of="2023-11").findings == ()
    result = invoke("--as-of", "2023-11")
    assert (result.exit_code, result.output) == (0, "0 errors, 0 warnings\n")
    verbose = invoke("--as-of", "2023-11", "--verbose")
    assert (verbose.exit_code, verbose.output) == (0, "0 errors, 0 warnings, 0 info\n")


def test_the_edition_through_the_2025_pack_name_lints_clean_its_overrides_are_infos() -> None:
    for report in (lint([pack_path("2025-update")], as_of="2023-11"), lint([pack_path("2025-update")])):
        assert found(report) == EDITION_OVERRIDES
        assert (report.errors, report.warnings, report.infos) == (0, 0, 15)
    quiet = invoke("--as-of", "2023-11", pack_path("2025-update"))
    assert (quiet.exit_code, quiet.output) == (0, "0 errors, 0 warnings\n")
    verbose = invoke("--as-of", "2023-11", "--verbose", pack_path("2025-update"))
    assert verbose.exit_code == 0
    assert verbose.output.splitlines() == [
        *(f"{loc}: {severity}: {code}: {message}" for code, severity, loc, message in EDITION_OVERRIDES),
        "0 errors, 0 warnings, 15 info",
    ]


def test_the_readme_example_policy_lints_clean() -> None:
    assert lint([str(FIXTURES / "field-service")]).findings == ()


def test_the_compiler_never_makes_a_pattern_of_nex_tests_only(here: Path) -> None:
    """durable-rules mishandles a pattern made only of `$nex` tests; every pattern starts with a test on `k`."""
    layers = [
        [],
        [pack_path("2025-update")],
        [str(FIXTURES / "field-service")],
        [write(here, rule("- budget: {not_in: [small]}\n- not:\n    pm_maturity: {not_in: [low]}"))],
    ]
    patterns = 0
    for paths in layers:
        rulesets = Network(load_knowledge_base(paths), register=False).rulesets
        for engine_rule in (r for ruleset in rulesets for r in ruleset.definition.values()):
            for pattern in engine_rule["all"]:
                ((_, expression),) = pattern.items()
                tests = expression.get("$and", [expression])
                assert any(next(iter(t)) != "$nex" for t in tests), pattern
                patterns += 1
    assert patterns > 100


# -- what the loader refuses, reported as findings ---------------------------------------------------


LOADER_CASES = [
    pytest.param(
        rule("- budgett: small"),
        [
            (
                "unknown-predicate",
                "error",
                "layer/policy.yaml:8:9",
                "'budgett' is not a declared fact or conclusion (did you mean 'budget'?)",
            )
        ],
        id="unknown-fact",
    ),
    pytest.param(
        rule("- requirements: {entity: $e, value: recipt-ocr}", then="- warning: {code: low-fit, entity: $e}"),
        [
            (
                "unknown-capability",
                "error",
                "layer/policy.yaml:8:43",
                "'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)",
            )
        ],
        id="unknown-capability",
    ),
    pytest.param(
        rule("- deployment: {entity: $e, type: stocked-prodution}", then="- warning: {code: low-fit, entity: $e}"),
        [
            (
                "unknown-deployment-type",
                "error",
                "layer/policy.yaml:8:40",
                "'stocked-prodution' is not a deployment type (did you mean 'stocked-production'?)",
            )
        ],
        id="unknown-type",
    ),
    pytest.param(
        rule("- budget: small").replace("  - id: r\n", "  - id: r\n    overrides: small-budgett\n"),
        [
            (
                "unknown-rule",
                "error",
                "layer/policy.yaml:4:5",
                "'small-budgett' is not a rule of an earlier layer (did you mean 'small-budget'?)",
            )
        ],
        id="unknown-rule",
    ),
    pytest.param(
        rule("- budget: small", rid="small-budget"),
        [
            (
                "duplicate-id",
                "error",
                "layer/policy.yaml:4:5",
                # the declaration in force: docs-2026-08's, which overrides the seed's (policies/fit.yaml:9:5)
                f"rule 'small-budget' is already declared at {EDITION}/fit.yaml:20:5; to replace it, add "
                "'overrides: small-budget'",
            )
        ],
        id="duplicate-rule-id",
    ),
    pytest.param(
        rule(
            "- entity: {name: $e}\n- not:\n    deployment: {entity: $e}",
            then="- deployment: {entity: $e, type: lite}",
            explanation="{e} gets lite.",
        ),
        [
            (
                "unstratifiable",
                "error",
                "layer/policy.yaml:4:5",
                "rule 'r' depends on the absence (or count) of a conclusion that it helps to derive; break the cycle",
            )
        ],
        id="negative-cycle",
    ),
]


@pytest.mark.parametrize(("body", "expected"), LOADER_CASES)
def test_what_the_loader_refuses_is_an_error_finding_with_its_code(
    here: Path, body: str, expected: list[tuple[str, str, str, str]]
) -> None:
    path = write(here, body)
    report = lint([path])
    assert [f for f in found(report) if f[2].startswith("layer/")] == expected


def test_rules_are_still_checked_one_by_one_when_the_policies_do_not_load(here: Path) -> None:
    undocumented = rule("- budgett: small\n- pm_maturity: {eq: low, ne: low}")
    undocumented = undocumented.replace("    source: a test (2026-11)\n", "")
    path = write(here, undocumented)
    assert found(lint([path])) == [
        (
            "missing-source",
            "warning",
            "layer/policy.yaml:4:5",
            "rule 'r' has no 'source'; add the seed section or documentation path it comes from",
        ),
        (
            "unknown-predicate",
            "error",
            "layer/policy.yaml:7:9",
            "'budgett' is not a declared fact or conclusion (did you mean 'budget'?)",
        ),
        (
            "never-fires",
            "error",
            "layer/policy.yaml:8:22",
            "rule 'r' can never fire: no value of 'pm_maturity' passes eq: low, ne: low; correct the test that "
            "contradicts the others",
        ),
    ]


def test_a_missing_path_is_an_error() -> None:
    result = invoke("no/such/folder")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "no/such/folder:1:1: error: not-found: no such policy file or directory",
        "1 error, 0 warnings",
    ]


# -- never-fires ---------------------------------------------------------------------------------------


def never(location: str, reason: str, *, case: bool = False) -> list[tuple[str, str, str, str]]:
    what = "can never fire in this case of its 'any'" if case else "can never fire"
    return [("never-fires", "error", f"layer/policy.yaml:{location}", f"rule 'r' {what}: {reason}")]


def no_value(what: str, tests: str) -> str:
    return f"no value of {what} passes {tests}; correct the test that contradicts the others"


ENTITY_WARNING = "- warning: {code: low-fit, entity: $e}"

NEVER_CASES = [
    pytest.param(
        "- budget: small\n- budget: large",
        never(
            "9:9",
            "'budget' holds one value for the customer and each condition matches a different fact, so this "
            "condition and the one at layer/policy.yaml:8:9 cannot both hold; test 'budget' once (with "
            "'in: [...]' for alternatives)",
        ),
        id="one-customer-fact-twice",
    ),
    pytest.param(
        "- region: {entity: $e, value: europe}\n- region: {entity: $e, value: {ne: europe}}",
        never(
            "9:9",
            "'region' holds one value for each legal entity and each condition matches a different fact, so "
            "this condition and the one at layer/policy.yaml:8:9 cannot both hold; test 'region' once (with "
            "'in: [...]' for alternatives)",
        ),
        id="one-entity-fact-twice",
    ),
    pytest.param(
        "- requirements: {entity: $e, value: receipt-ocr}\n- requirements: {entity: $e, value: receipt-ocr}",
        never(
            "9:9",
            "this condition asks for the same 'requirements' fact as the one at layer/policy.yaml:8:9, and each "
            "condition matches a different fact; remove one of them",
        ),
        id="the-same-fact-twice",
    ),
    pytest.param(
        "- candidate: {entity: $e, gaps: {lt: 1, gt: 5}}",
        never("8:39", no_value("'candidate.gaps'", "lt: 1, gt: 5")),
        id="empty-range",
    ),
    pytest.param(
        "- candidate: {entity: $e, rank: {gte: 2, lt: 2}}",
        never("8:39", no_value("'candidate.rank'", "gte: 2, lt: 2")),
        id="empty-half-open-range",
    ),
    pytest.param(
        "- budget: {eq: small, in: [medium, large]}",
        never("8:17", no_value("'budget'", "eq: small, in: [medium, large]")),
        id="eq-outside-in",
    ),
    pytest.param(
        "- budget: {in: [small, medium], not_in: [medium, small]}",
        never("8:17", no_value("'budget'", "in: [small, medium], not_in: [medium, small]")),
        id="in-all-excluded",
    ),
    pytest.param(
        "- plans_finance: {not_in: [true, false]}",
        never("8:24", no_value("'plans_finance'", "not_in: [true, false] (its values: false, true)")),
        id="every-value-excluded",
    ),
    pytest.param(
        "- finance_version: {gte: '10.0.46', lt: '10.0.44'}",
        never("8:26", no_value("'finance_version'", "gte: 10.0.46, lt: 10.0.44")),
        id="versions-ordered-as-versions",
    ),
    pytest.param(
        "- candidate: {entity: $e, rank: $r}\n- candidate: {entity: $e, rank: {gt: $r, lte: $r}}",
        never("9:39", no_value("'candidate.rank'", "gt: $r, lte: $r")),
        id="variable-both-above-and-below",
    ),
    pytest.param(
        "- any:\n  - budget: {eq: small, ne: small}\n  - pm_maturity: low",
        never("9:19", no_value("'budget'", "eq: small, ne: small"), case=True),
        id="one-case-of-any",
    ),
]


@pytest.mark.parametrize(("when", "expected"), NEVER_CASES)
def test_conditions_that_can_never_hold(here: Path, when: str, expected: list[tuple[str, str, str, str]]) -> None:
    paths = [write(here, rule(when, then=ENTITY_WARNING if "$e" in when else OWN_WARNING))]
    if "finance_version" in when:  # a version fact the pack declares
        paths.insert(0, pack_path("2025-update"))
    assert [f for f in found(lint(paths)) if f[2].startswith("layer/")] == expected


@pytest.mark.parametrize(
    "when",
    [
        pytest.param("- budget: small\n- not:\n    budget: small", id="not-looks-past-the-matched-fact"),
        pytest.param(
            "- requirements: {entity: $e, value: receipt-ocr}\n- requirements: {entity: $e, value: full-expense}",
            id="two-items-of-a-list",
        ),
        pytest.param("- region: {entity: $e, value: europe}\n- region: {entity: $o, value: asia}", id="two-entities"),
        pytest.param("- fit: {entity: $e, type: lite}\n- fit: {entity: $e, type: stocked-production}", id="derived"),
        pytest.param("- candidate: {entity: $e, gaps: {gte: 1, lte: 1, ne: 2}}", id="a-one-value-range"),
        pytest.param("- budget: {ne: small, not_in: [medium]}", id="one-value-left"),
    ],
)
def test_conditions_that_can_hold_are_not_flagged(here: Path, when: str) -> None:
    assert (
        lint([write(here, rule(when, then=ENTITY_WARNING if "$e" in when else OWN_WARNING))]).findings
        == ()
    )


# -- duplicate-conditions, shadowed, disabled ----------------------------------------------------------------


def test_two_rules_with_the_same_conditions_and_kinds_of_conclusion(here: Path) -> None:
    first = rule("- budget: small\n- pm_maturity: low", rid="first")
    second = rule("- pm_maturity: low\n- budget: small", rid="second", then="- note: {code: lite-is-final}")
    third = rule("- pm_maturity: low\n- budget: small", rid="third")
    path = write(here, first + second.removeprefix("rules:\n") + third.removeprefix("rules:\n"))
    assert found(lint([path])) == [
        (
            "duplicate-conditions",
            "warning",
            "layer/policy.yaml:22:5",
            "rule 'third' has the same conditions as rule 'first' (layer/policy.yaml:4:5) and concludes the same "
            "kinds of fact (warning); merge the two rules, or correct the conditions of the one that was copied",
        ),
        (
            "merged-messages",
            "warning",
            "layer/policy.yaml:29:9",
            "rule 'third' concludes warning 'capability-gap' as rule 'first' (layer/policy.yaml:4:5) does, and nothing "
            "keeps both from firing for one customer: they make one warning, whose message runs their two "
            "explanations together; give this rule a warning code of its own, or a field (entity, type, capability) "
            "that tells the two apart",
        ),
    ]


def test_an_override_is_shadowed_at_info_and_a_disable_is_a_warning(here: Path) -> None:
    override = rule("- budget: {in: [small, medium]}", rid="small-budget").replace(
        "  - id: small-budget\n", "  - id: small-budget\n    overrides: small-budget\n"
    )
    body = override + "disables:\n  - {rule: low-pm-maturity, reason: The partner assesses maturity itself.}\n"
    path = write(here, body)

    def shadowed(where: str) -> tuple[str, str, str, str]:
        return (
            "shadowed",
            "info",
            "layer/policy.yaml:4:5",
            f"rule 'small-budget' replaces rule 'small-budget' at {where}, which no longer runs; keep the two in "
            "step when that rule changes",
        )

    switched_off = (
        "is switched off: The partner assesses maturity itself.; its conclusions are no longer drawn: remove this "
        "entry to run it again"
    )
    # Over the shipped knowledge, the rules replaced and switched off are the edition's small-budget and
    # low-pm-maturity, which replaced the seed's.
    report = lint([path])
    assert found(report) == [
        shadowed(f"{EDITION}/fit.yaml:20:5 (layer docs-2026-08)"),
        (
            "disabled",
            "warning",
            "layer/policy.yaml:14:5",
            f"rule 'low-pm-maturity' at {EDITION}/fit.yaml:34:5 (layer docs-2026-08) {switched_off}",
        ),
    ]
    assert (report.errors, report.warnings, report.infos) == (0, 1, 1)
    seeds = lint([path], as_of="2023-11")
    assert found(seeds) == [
        shadowed("policies/fit.yaml:9:5 (layer built-in)"),
        (
            "disabled",
            "warning",
            "layer/policy.yaml:14:5",
            f"rule 'low-pm-maturity' at policies/fit.yaml:21:5 (layer built-in) {switched_off}",
        ),
    ]
    assert (seeds.errors, seeds.warnings, seeds.infos) == (0, 1, 1)


# -- cycle, contradiction ----------------------------------------------------------------------------------


CYCLE = """\
predicates:
  - id: ready
    description: An entity is ready.
    fields: {entity: {type: string, domain: entity}}
  - id: planned
    description: An entity is planned.
    fields: {entity: {type: string, domain: entity}}
rules:
  - id: ready-when-planned
    description: A planned entity is ready.
    source: a test (2026-11)
    when:
      - planned: {entity: $e}
    then:
      - ready: {entity: $e}
    explanation: "{e} is ready."
  - id: planned-when-ready
    description: A ready entity is planned.
    source: a test (2026-11)
    when:
      - ready: {entity: $e}
    then:
      - planned: {entity: $e}
    explanation: "{e} is planned."
"""


def test_a_positive_cycle_among_derived_facts_is_a_warning_at_each_of_its_rules(here: Path) -> None:
    cycle = "closing a cycle among derived facts"
    assert found(lint([write(here, CYCLE)])) == [
        (
            "cycle",
            "warning",
            "layer/policy.yaml:11:5",
            f"rule 'ready-when-planned' derives 'ready' from 'planned', {cycle}: 'planned' -> 'ready' (rule "
            "'ready-when-planned'), 'ready' -> 'planned' (rule 'planned-when-ready'); a fact in it can support "
            "itself: break the cycle unless the recursion is intended",
        ),
        (
            "cycle",
            "warning",
            "layer/policy.yaml:19:5",
            f"rule 'planned-when-ready' derives 'planned' from 'ready', {cycle}: 'ready' -> 'planned' (rule "
            "'planned-when-ready'), 'planned' -> 'ready' (rule 'ready-when-planned'); a fact in it can support "
            "itself: break the cycle unless the recursion is intended",
        ),
    ]


def test_a_rule_that_feeds_itself_is_a_cycle(here: Path) -> None:
    body = CYCLE.replace(
        '      - ready: {entity: $e}\n    explanation: "{e} is ready."',
        '      - planned: {entity: $e}\n    explanation: "{e} is ready."',
        1,
    )
    assert [(f.code, str(f.location), f.message) for f in lint([write(here, body)]).findings] == [
        (
            "cycle",
            "layer/policy.yaml:11:5",
            "rule 'ready-when-planned' derives 'planned' from 'planned', closing a cycle among derived facts: "
            "'planned' -> 'planned' (rule 'ready-when-planned'); a fact in it can support itself: break the cycle "
            "unless the recursion is intended",
        )
    ]


BACK_TO_CURRENT = rule(
    "- warning: {code: no-migration-path, entity: $e, type: $t}",
    rid="migration-sets-current",
    then="- current-type: {type: $t}",
    explanation="{e} runs {t} today.",
)


def test_only_findings_in_the_given_paths_unless_all(here: Path) -> None:
    """A cycle through a built-in rule is reported at the built-in rule too, but shown only with --all."""
    path = write(here, BACK_TO_CURRENT)
    mine = lint([path], as_of="2023-11")
    everything = lint([path], include_all=True, as_of="2023-11")
    assert [(f.code, str(f.location)) for f in mine.findings] == [("cycle", "layer/policy.yaml:4:5")]
    assert [(f.code, str(f.location)) for f in everything.findings] == [
        ("cycle", "layer/policy.yaml:4:5"),
        ("cycle", "policies/existing-customers.yaml:66:5"),
    ]
    assert everything.findings[1].message == (
        "rule 'no-migration-between-types' derives 'warning' from 'current-type', closing a cycle among derived "
        "facts: 'current-type' -> 'warning' (rule 'no-migration-between-types'), 'warning' -> 'current-type' "
        "(rule 'migration-sets-current'); a fact in it can support itself: break the cycle unless the recursion "
        "is intended"
    )
    assert invoke("--as-of", "2023-11", "--all", path).output.count("warning: cycle:") == 2
    assert invoke("--as-of", "2023-11", path).output.count("warning: cycle:") == 1


def test_no_cycle_where_the_edition_replaced_the_rule_it_ran_through(here: Path) -> None:
    """The edition's no-migration-between-types reads runs-today, not current-type: the loop is gone."""
    path = write(here, BACK_TO_CURRENT)
    assert lint([path]).findings == ()
    assert [f.code for f in lint([path], include_all=True).findings] == ["shadowed"] * 15
    assert invoke("--all", path).output == "0 errors, 0 warnings\n"


def contradiction(rule_id: str, mine: str, other: str, where: str, theirs: str) -> str:
    return (
        f"rule '{rule_id}' concludes {mine} and rule '{other}' ({where}) concludes {theirs}, and nothing keeps both "
        "from holding for one entity; add a condition that tells them apart (a different value of one fact, or "
        "'not' on the other rule's conclusion)"
    )


def test_two_deployments_or_a_deployment_and_its_exclusion_contradict(here: Path) -> None:
    large = rule(
        "- budget: large\n- entity: {name: $e}",
        rid="large-takes-stocked",
        then="- deployment: {entity: $e, type: stocked-production}",
        explanation="{e} takes stocked-production.",
    )
    small = rule(
        "- budget: {in: [small, large]}\n- entity: {name: $e}",
        rid="small-takes-lite",
        then="- deployment: {entity: $e, type: lite}",
        explanation="{e} takes lite.",
    )
    path = write(here, large + small.removeprefix("rules:\n"))
    sp, lite, rns = (f"deployment(type: {t})" for t in ("stocked-production", "lite", "resource-non-stocked"))
    excluded = "excluded(type: lite)"
    joins = f"{EDITION}/environment.yaml:22:5"
    assert found(lint([path])) == [
        (
            "contradiction",
            "warning",
            "layer/policy.yaml:11:9",
            contradiction("large-takes-stocked", sp, "lite-joins-finance-environment", joins, rns),
        ),
        *(
            (
                "contradiction",
                "warning",
                "layer/policy.yaml:20:9",
                contradiction("small-takes-lite", lite, other, where, excluded),
            )
            for other, where in [
                ("books-in-finance-rule-out-lite", f"{EDITION}/books.yaml:34:5"),
                ("finance-books-today-rule-out-lite", f"{EDITION}/existing-customers.yaml:37:5"),
                ("finance-later-rules-out-lite", f"{EDITION}/books.yaml:46:5"),
            ]
        ),
        (
            "contradiction",
            "warning",
            "layer/policy.yaml:20:9",
            contradiction("small-takes-lite", lite, "large-takes-stocked", "layer/policy.yaml:4:5", sp),
        ),
        (
            "contradiction",
            "warning",
            "layer/policy.yaml:20:9",
            contradiction("small-takes-lite", lite, "lite-joins-finance-environment", joins, rns),
        ),
    ]
    report = lint([path], as_of="2023-11")
    finance = "policies/choosing.yaml:37:5"
    joins = "policies/environment.yaml:9:5"
    assert found(report) == [
        (
            "contradiction",
            "warning",
            "layer/policy.yaml:11:9",
            contradiction("large-takes-stocked", sp, "lite-joins-finance-environment", joins, rns),
        ),
        (
            "contradiction",
            "warning",
            "layer/policy.yaml:20:9",
            contradiction("small-takes-lite", lite, "finance-later-rules-out-lite", finance, "excluded(type: lite)"),
        ),
        (
            "contradiction",
            "warning",
            "layer/policy.yaml:20:9",
            contradiction("small-takes-lite", lite, "large-takes-stocked", "layer/policy.yaml:4:5", sp),
        ),
        (
            "contradiction",
            "warning",
            "layer/policy.yaml:20:9",
            contradiction("small-takes-lite", lite, "lite-joins-finance-environment", joins, rns),
        ),
    ]


def test_conditions_that_exclude_each_other_settle_a_contradiction(here: Path) -> None:
    """A different value of one customer fact, or `not` on the other rule's conclusion, keeps two rules apart."""
    large = rule(
        "- budget: large\n- plans_finance: false\n- entity: {name: $e}\n- not:\n    promoted: {entity: $e}",
        rid="large-takes-lite",
        then="- deployment: {entity: $e, type: lite}",
        explanation="{e} takes lite.",
    )
    small = rule(
        "- budget: small\n- plans_finance: false\n- entity: {name: $e}\n- not:\n    promoted: {entity: $e}",
        rid="small-takes-stocked",
        then="- deployment: {entity: $e, type: stocked-production}",
        explanation="{e} takes stocked-production.",
    )
    path = write(here, large + small.removeprefix("rules:\n"))
    assert lint([path], as_of="2023-11").findings == ()
    # The edition rules Core out on facts these rules do not test (the books, what the entity runs today).
    edition = "policies/editions/docs-2026-08"
    assert found(lint([path])) == [
        (
            "contradiction",
            "warning",
            "layer/policy.yaml:14:9",
            contradiction("large-takes-lite", "deployment(type: lite)", other, where, "excluded(type: lite)"),
        )
        for other, where in [
            ("books-in-finance-rule-out-lite", f"{edition}/books.yaml:34:5"),
            ("finance-books-today-rule-out-lite", f"{edition}/existing-customers.yaml:37:5"),
        ]
    ]


# -- engine limits --------------------------------------------------------------------------------------


CAPABILITIES = [
    "project-sales",
    "project-for-the-web-planning",
    "wbs-planning",
    "multidimensional-pricing",
    "resource-management",
    "time-tracking",
    "basic-expense",
    "full-expense",
    "receipt-ocr",
    "material-usage",
    "budgeting-forecasting",
    "subcontracting",
    "proforma-invoicing",
    "customer-facing-invoicing",
    "revenue-recognition",
    "production-orders",
]


def test_a_rule_past_durable_rules_limits_is_an_engine_limit_warning(here: Path) -> None:
    when = "\n".join(f"- requirements: {{entity: $e, value: {c}}}" for c in CAPABILITIES)
    path = write(here, rule(when, then=ENTITY_WARNING, explanation="{e} needs a lot."))
    assert found(lint([path])) == [
        (
            "engine-limit",
            "warning",
            "layer/policy.yaml:4:5",
            "rule 'r' matches 16 facts at once; durable-rules takes at most 15: split the rule; podeploy runs these"
            " policies on the reference evaluator",
        )
    ]


# -- the rule's own text ------------------------------------------------------------------------------------


def test_a_rule_without_source_with_a_weak_description_and_a_generic_explanation() -> None:
    report = lint([str(FIXTURES / "sloppy")])
    where = f"{FIXTURES}/sloppy/sloppy.yaml:4:5"
    assert found(report) == [
        (
            "generic-explanation",
            "warning",
            where,
            "rule 'tiny' concludes about a legal entity, but its explanation names none of its variables; write "
            "'{entity}' into it so the customer sees which entity it is about",
        ),
        (
            "missing-source",
            "warning",
            where,
            "rule 'tiny' has no 'source'; add the seed section or documentation path it comes from",
        ),
        (
            "weak-description",
            "warning",
            where,
            "rule 'tiny' has a 5-character description; say in a sentence what the rule decides",
        ),
    ]
    assert (report.errors, report.warnings) == (0, 3)


def test_every_text_new_policy_wrote_is_a_scaffold_text_warning(here: Path) -> None:
    from podeploy.engine.tools.scaffold import new_policy

    new_policy("field-service", "mine")
    report = lint(["mine"])
    written = "is still the text 'podeploy new-policy' wrote"
    assert found(report) == [
        ("scaffold-text", "warning", "mine/field-service.yaml:2:9", f"the description of policy 'field-service' "
         f"{written} ('What the field-service policy adds to the knowledge base (say it in one or two sentences).'); "
         "say in a sentence or two what the policy adds"),
        ("scaffold-text", "warning", "mine/field-service.yaml:6:5", f"the description of fact 'field_service' "
         f"{written} ('Whether field-service applies to the customer.'); say what the fact records about the customer"),
        ("scaffold-text", "warning", "mine/field-service.yaml:6:5", f"the question of fact 'field_service' {written} "
         "('Does field-service apply to this customer?'); write the question a consultant asks the customer"),
        ("scaffold-text", "warning", "mine/field-service.yaml:13:5", f"the description of code 'field-service-applies' "
         f"{written} ('The customer said field-service applies.'); say what the warning or note tells the customer"),
        ("scaffold-text", "warning", "mine/field-service.yaml:18:5", f"the description of rule 'field-service-applies' "
         f"{written} ('Tell the consultant when field-service applies to a customer.'); say in a sentence what the "
         "rule decides"),
        ("scaffold-text", "warning", "mine/field-service.yaml:18:5", f"the explanation of rule 'field-service-applies' "
         f"{written} ('{{entity}}: field-service applies; say here what the customer should do about it.'); write what "
         "the customer reads when the rule fires, in business words"),
        ("scaffold-text", "warning", "mine/field-service.yaml:18:5", f"the source of rule 'field-service-applies' "
         f"{written} ('the document and section this rule relies on'); name the document and section the rule "
         "relies on"),
    ]


def test_text_of_ones_own_that_only_starts_like_the_scaffold_is_not_scaffold_text(here: Path) -> None:
    path = write(here, rule("- pm_maturity: medium").replace(
        "source: a test (2026-11)", "source: the document and section this rule relies on, as of 2026-11"
    ))
    assert found(lint([path])) == []


UNDATED = (
    "rule 'r' cites '{0}', which has no address and no date, so a reader cannot tell which version of it the rule "
    "encodes; list it under 'sources:' with a title and a date (or a url), or write its date into the source "
    "('playbook (2026-11), section 2')"
)
PLAYBOOK = (
    "sources:\n  - {{id: playbook, title: Our delivery playbook{0}}}\n"
)


@pytest.mark.parametrize(
    ("source", "sources", "expected"),
    [
        pytest.param("our notes", "", ["our notes"], id="bare-text"),
        pytest.param("our notes; environment/lite-deployment.md", "", ["our notes"], id="one-part-of-two"),
        pytest.param("playbook#scheduling", PLAYBOOK.format(""), ["playbook#scheduling"], id="titled-undated-entry"),
        pytest.param("playbook", PLAYBOOK.format(", date: '2026-11'"), [], id="titled-dated-entry"),
        pytest.param("playbook", PLAYBOOK.format(", url: 'https://example.com/p'"), [], id="entry-with-an-address"),
        pytest.param("our playbook (2026-11), section 2", "", [], id="dated-text"),
        pytest.param("https://example.com/playbook", "", [], id="an-address"),
        pytest.param("environment/lite-deployment.md", "", [], id="a-learn-article"),
        pytest.param("000_cd059b2c5f1fbec9.txt#pma", "", [], id="a-seed-section"),
    ],
)
def test_a_source_a_reader_cannot_find_or_date_is_undated(
    here: Path, source: str, sources: str, expected: list[str]
) -> None:
    body = rule("- pm_maturity: medium").replace("source: a test (2026-11)", f"source: {json.dumps(source)}")
    path = write(here, body + sources)
    assert found(lint([path])) == [
        ("undated-source", "warning", "layer/policy.yaml:4:5", UNDATED.format(cited)) for cited in expected
    ]


def test_a_titled_source_is_dated_by_the_dated_file_that_lists_it(here: Path) -> None:
    body = rule("- pm_maturity: medium").replace("source: a test (2026-11)", "source: playbook")
    path = write(here, body + PLAYBOOK.format(""))
    dated = here / "layer" / "policy.yaml"
    dated.write_text('as_of: "2026-11"\n' + dated.read_text())
    assert found(lint([path])) == []


def test_a_dated_titled_source_is_dated_even_when_the_layer_has_an_error_elsewhere(here: Path) -> None:
    body = rule("- pm_maturity: medium").replace("source: a test (2026-11)", "source: playbook#scheduling")
    write(here, body + PLAYBOOK.format(", date: '2026-11'"))
    (here / "layer" / "broken.yaml").write_text("customer: Contoso\n")  # a facts file left in the folder
    assert [f[0] for f in found(lint([str(here / "layer")]))] == ["missing-key"]


DEFAULTED_FACT = """\
facts:
  - id: field_service
    type: boolean
    default: false
    description: The customer dispatches technicians with Dynamics 365 Field Service.
    question: Does the customer dispatch technicians with Dynamics 365 Field Service?
"""


def test_a_not_that_holds_by_default_fires_by_default(here: Path) -> None:
    when = "- entity: {name: $e}\n- not:\n    field_service: true"
    path = write(here, DEFAULTED_FACT + rule(when, then=ENTITY_WARNING))
    assert found(lint([path])) == [
        (
            "fires-by-default",
            "warning",
            "layer/policy.yaml:16:11",
            "rule 'r' fires for every customer, even one who never mentioned 'field_service' (its default, false, "
            "keeps the 'not' true); test a value the customer has to give, or declare the fact without a default",
        )
    ]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param("- field_service: false\n- entity: {name: $e}", ["14:9"], id="the-default-value"),
        pytest.param("- field_service: {ne: true}\n- entity: {name: $e}", ["14:9"], id="a-test-the-default-passes"),
        pytest.param("- field_service: true\n- entity: {name: $e}", [], id="a-value-to-give"),
        pytest.param("- field_service: false\n- budget: small\n- entity: {name: $e}", [], id="and-a-fact-to-give"),
        pytest.param("- field_service: false\n- deployment: {entity: $e, type: lite}", [], id="and-a-conclusion"),
    ],
)
def test_a_rule_every_silent_customer_passes_by_default_fires_by_default(
    here: Path, when: str, expected: list[str]
) -> None:
    path = write(here, DEFAULTED_FACT + rule(when, then=ENTITY_WARNING))
    assert found(lint([path])) == [
        (
            "fires-by-default",
            "warning",
            f"layer/policy.yaml:{where}",
            "rule 'r' fires for every customer, even one who never mentioned 'field_service' (its default, false, "
            "passes); test a value the customer has to give, or declare the fact without a default",
        )
        for where in expected
    ]


def merged(rid: str, kind: str, code: str, other: str, where: str) -> str:
    return (
        f"rule '{rid}' concludes {kind} '{code}' as rule '{other}' ({where}) does, and nothing keeps both from firing "
        f"for one customer: they make one {kind}, whose message runs their two explanations together; give this rule "
        f"a {kind} code of its own, or a field (entity, type, capability) that tells the two apart"
    )


def test_a_warning_a_shipped_rule_also_concludes_merges_their_messages(here: Path) -> None:
    path = write(here, rule("- pm_maturity: medium", then="- warning: {code: low-fit}"))
    assert found(lint([path])) == [
        ("merged-messages", "warning", "layer/policy.yaml:10:9",
         merged("r", "warning", "low-fit", "small-budget", f"{EDITION}/fit.yaml:20:5")),
    ]


@pytest.mark.parametrize(
    ("when", "then"),
    [
        pytest.param("- pm_maturity: medium", "- warning: {code: low-fit, type: lite}", id="another-field"),
        pytest.param("- pm_maturity: medium", "- note: {code: lite-is-final}", id="fewer-fields"),
        pytest.param(
            "- budget: large\n- pm_maturity: high\n- process_change_ready: true", "- warning: {code: low-fit}",
            id="conditions-that-exclude-the-others",
        ),
    ],
)
def test_a_notice_no_other_rule_concludes_alike_does_not_merge(here: Path, when: str, then: str) -> None:
    assert found(lint([write(here, rule(when, then=then))])) == []


def test_a_notice_that_leaves_out_a_variable_its_explanation_names_merges_its_firings(here: Path) -> None:
    when = "- requirements: {entity: $e, value: $c}\n- deployment: {entity: $e, type: $t}"
    path = write(here, rule(when, then=ENTITY_WARNING, explanation="{e} needs {c} on {t}."))
    assert found(lint([path])) == [
        (
            "merged-messages",
            "warning",
            "layer/policy.yaml:11:9",
            "rule 'r' names '{c}' in its explanation, but its warning 'low-fit' does not carry it: when the rule fires "
            "for two values, the customer reads one warning with both explanations run together; conclude the value "
            "in a field of the warning (type, capability) or leave it out of the explanation",
        )
    ]


# -- the command ---------------------------------------------------------------------------------------------


def test_warnings_alone_exit_0_in_text_sorted_by_location_with_a_summary() -> None:
    result = invoke(str(FIXTURES / "sloppy"))
    assert result.exit_code == 0
    where = f"{FIXTURES}/sloppy/sloppy.yaml:4:5"
    assert result.output.splitlines() == [
        f"{where}: warning: generic-explanation: rule 'tiny' concludes about a legal entity, but its explanation "
        "names none of its variables; write '{entity}' into it so the customer sees which entity it is about",
        f"{where}: warning: missing-source: rule 'tiny' has no 'source'; add the seed section or documentation "
        "path it comes from",
        f"{where}: warning: weak-description: rule 'tiny' has a 5-character description; say in a sentence what "
        "the rule decides",
        "0 errors, 3 warnings",
    ]


def test_errors_exit_2_and_json_lists_every_finding(here: Path) -> None:
    path = write(here, rule("- budget: small\n- budget: large"))
    result = invoke("--format", "json", path)
    assert result.exit_code == 2
    data: dict[str, Any] = json.loads(result.output)
    assert data == {
        "findings": [
            {
                "code": "never-fires",
                "severity": "error",
                "message": "rule 'r' can never fire: 'budget' holds one value for the customer and each "
                "condition matches a different fact, so this condition and the one at layer/policy.yaml:8:9 "
                "cannot both hold; test 'budget' once (with "
                "'in: [...]' for alternatives)",
                "file": "layer/policy.yaml",
                "line": 9,
                "column": 9,
            }
        ],
        "errors": 1,
        "warnings": 0,
    }


def test_json_shows_infos_only_when_verbose() -> None:
    quiet = json.loads(invoke("--format", "json", pack_path("2025-update")).output)
    verbose = json.loads(invoke("--format", "json", "-v", pack_path("2025-update")).output)
    assert quiet == {"findings": [], "errors": 0, "warnings": 0}
    assert [(f["code"], f["severity"], f"{f['file']}:{f['line']}:{f['column']}") for f in verbose["findings"]] == [
        (code, severity, location) for code, severity, location, _ in EDITION_OVERRIDES
    ]
    assert (verbose["errors"], verbose["warnings"]) == (0, 0)


def test_a_finding_prints_on_one_line() -> None:
    finding = Finding("x", "warning", "two\n  lines", Location("f.yaml", 2, 3))
    assert str(finding) == "f.yaml:2:3: warning: x: two lines"
    assert LintReport((finding,)).warnings == 1


CODES = """\
codes:
  - id: intercompany-setup
    kind: warning
    description: Intercompany invoicing needs its own setup.
  - id: pma-stays-off-core
    kind: note
    description: An entity on Finance's project accounting stays off Core.
"""


def test_a_code_no_rule_concludes_is_unused(here: Path) -> None:
    path = write(here, CODES + rule("- pm_maturity: medium", then="- warning: {code: intercompany-setup}"))
    assert found(lint([path])) == [
        (
            "unused-code",
            "warning",
            "layer/policy.yaml:7:5",
            "note code 'pma-stays-off-core' is declared but no rule concludes it; conclude it in a rule, or remove it",
        )
    ]
