"""Policy problems in one pass: every independent problem at once, none that only follows from another.

A file that fails the schema still has its other declarations checked; a reference to a declaration
left out for its own problem, and a variable that only a misspelt condition binds, are not reported
again. Every row pins the exact lines `validate` and `evaluate` print.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from podeploy.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = ROOT / "examples" / "contoso.yaml"

SEVERAL_PROBLEMS = """\
policy: Finance
description: A policy with several independent problems.
facts:
  - id: field_service
    type: bool
    default: false
    description: The customer also runs Field Service.
    question: Does the customer run Field Service?
  - id: region_kind
    type: choice
    values: [emea, americas]
    default: Dynamics
    description: Where the customer works.
    question: Where does the customer work?
codes:
  - id: fs-overlap
    kind: warning
    description: Field Service and Project Operations share resource scheduling.
rules:
  - id: fs-overlap-rule
    description: Field Service customers share resource scheduling.
    when:
      - field_service: true
      - deployment: {entity: $entity}
    then:
      - warning: {code: fs-overlap, entity: $entity, message: Hi}
    explanation: "{entity} runs Field Service too."
  - id: other-rule
    description: A rule with a misspelt fact.
    when:
      - field_servise: true
      - deployment: {entity: $entity}
    then:
      - warning: {code: fs-overlap, entity: $entity}
    explanation: "{entity} runs Field Service too."
"""

RULE = """\
policy: consultant
description: A consultant's own rule.
codes:
  - id: fs-overlap
    kind: {kind}
    description: Field Service and Project Operations share resource scheduling.
rules:
  - id: consultant-rule
    description: A consultant's own rule.
    when:
      - {condition}
    then:
      - warning: {{code: fs-overlap, entity: $entity}}
    explanation: "{{entity}} on {{type}}."
"""


# A second rule with a problem of its own, whatever the other files hold.
MISMATCH = """\
  - id: finance-later
    description: A rule comparing a yes-or-no fact with text.
    when:
      - plans_finance: "yes"
    then:
      - warning: {code: fs-overlap}
    explanation: Finance later.
"""


def rule(condition: str = "deployment: {entity: $entity, type: $type}", kind: str = "warning") -> str:
    return RULE.format(condition=condition, kind=kind)


CASES = [
    pytest.param(
        {"p.yaml": SEVERAL_PROBLEMS},
        [
            "pol/p.yaml:1:9: bad-value: policy: 'Finance' must be lower-case letters and digits, starting with a"
            " letter, words joined by '-' or '_' (e.g. 'finance')",
            "pol/p.yaml:5:11: bad-value: facts.0.type: 'bool' is not a choice here (did you mean 'boolean'?); the"
            " choices: choice, boolean, number, integer, version, text, capability-list, choice-list",
            "pol/p.yaml:12:14: bad-value: fact 'region_kind': default 'Dynamics' is not one of its values: emea,"
            " americas",
            "pol/p.yaml:26:9: unknown-field: 'warning' has no field 'message' (fields: code, entity, type, capability)",
            "pol/p.yaml:31:9: unknown-predicate: 'field_servise' is not a declared fact or conclusion"
            " (did you mean 'field_service'?)",
        ],
        id="schema-defaults-and-rules-problems-come-together-and-the-left-out-fact-is-not-reported-again",
    ),
    pytest.param(
        {"p.yaml": rule(condition="deploymnt: {entity: $entity, type: $type}")},
        ["pol/p.yaml:11:9: unknown-predicate: 'deploymnt' is not a declared fact or conclusion"
         " (did you mean 'deployment'?)"],
        id="a-misspelt-condition-leaves-its-variables-bound-for-the-conclusion-and-the-explanation",
    ),
    pytest.param(
        {"p.yaml": rule(condition="deployment: {entity: $entity, typ: $type}")},
        ["pol/p.yaml:11:44: unknown-field: 'deployment' has no field 'typ' (did you mean 'type'?)"
         " (fields: entity, type)"],
        id="a-misspelt-field-leaves-its-variable-bound-for-the-explanation",
    ),
    pytest.param(
        {"p.yaml": rule(condition="deployment: {entity: $entity, type: {inn: [lite]}}")},
        ["pol/p.yaml:11:46: unknown-key: 'inn' is not allowed here (did you mean 'in'?); allowed: eq, ne, lt, lte,"
         " gt, gte, in, not_in, as"],
        id="a-rule-whose-condition-fails-the-schema-is-not-checked-further",
    ),
    pytest.param(
        {"p.yaml": rule(kind="warn")},
        ["pol/p.yaml:5:11: bad-value: codes.0.kind: 'warn' is not a choice here (did you mean 'warning'?); the"
         " choices: warning, note"],
        id="a-code-left-out-for-its-problem-is-not-unknown-where-a-rule-concludes-it",
    ),
    pytest.param(
        {"p.yaml": SEVERAL_PROBLEMS.replace("id: field_service", "id: Field_Service").replace("field_servise", "budget")
         .replace("type: bool", "type: boolean")},
        [
            "pol/p.yaml:1:9: bad-value: policy: 'Finance' must be lower-case letters and digits, starting with a"
            " letter, words joined by '-' or '_' (e.g. 'finance')",
            "pol/p.yaml:4:9: bad-value: facts.0.id: 'Field_Service' must be lower-case letters and digits, starting"
            " with a letter, words joined by '-' or '_' (e.g. 'field_service')",
            "pol/p.yaml:12:14: bad-value: fact 'region_kind': default 'Dynamics' is not one of its values: emea,"
            " americas",
            "pol/p.yaml:26:9: unknown-field: 'warning' has no field 'message' (fields: code, entity, type, capability)",
            "pol/p.yaml:31:17: type-mismatch: true is a boolean; this field holds a string",
        ],
        id="a-fact-left-out-for-its-capitals-is-not-unknown-where-a-rule-spells-it-right",
    ),
    pytest.param(
        {"a.yaml": "policy: facts-of-mine\ndescription: [unfinished\n",
         "b.yaml": rule(condition="field_service: {as: $entity}").replace("{type}", "{entity}") + MISMATCH},
        ["pol/a.yaml:3:1: yaml-syntax: while parsing a flow sequence, did not find expected ',' or ']'"
         " (the bracket opened at line 2, column 14)",
         "pol/b.yaml:18:24: type-mismatch: 'yes' is a string; this field holds a boolean"],
        id="names-a-file-that-does-not-parse-may-declare-are-not-reported",
    ),
    pytest.param(
        {"a.yaml": "policy: facts-of-mine\ndescription: Facts.\nfact:\n  - id: field_service\n",
         "b.yaml": rule(condition="field_service: {as: $entity}").replace("{type}", "{entity}")},
        ["pol/a.yaml:3:1: unknown-key: 'fact' is not allowed here (did you mean 'facts'?); allowed: policy,"
         " description, as_of, edition, deployment_types, capabilities, offers, facts, predicates, codes, rules,"
         " disables, renames, next_steps, sources"],
        id="names-a-misspelt-section-may-declare-are-not-reported",
    ),
]


@pytest.mark.parametrize("command", ["validate", "evaluate"])
@pytest.mark.parametrize(("files", "expected"), CASES)
def test_policy_problems_are_reported_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, files: dict[str, str], expected: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pol").mkdir()
    for name, text in files.items():
        (tmp_path / "pol" / name).write_text(text)
    args = ["validate", "pol"] if command == "validate" else ["evaluate", "--policies", "pol", str(CONTOSO)]
    result = CliRunner().invoke(cli, args)
    assert result.stderr.splitlines() == expected
    assert result.stdout == ""
    assert result.exit_code == 2


def test_a_negation_cycle_is_reported_beside_other_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "p.yaml").write_text(
        """\
policy: cycle
description: A rule that needs the absence of its own conclusion.
predicates:
  - id: flagged
    description: An entity is flagged.
    fields: {entity: {type: string, domain: entity}}
rules:
  - id: flag-unless-flagged
    description: Flags an entity that is not flagged.
    when:
      - entity: {name: $entity}
      - not: {flagged: {entity: $entity}}
    then:
      - flagged: {entity: $entity}
    explanation: "{entity} is flagged."
  - id: misspelt
    description: A rule with a misspelt fact.
    when:
      - budgett: large
    then:
      - warning: {code: low-fit}
    explanation: A large budget.
"""
    )
    result = CliRunner().invoke(cli, ["validate", "pol"])
    assert result.stderr.splitlines() == [
        "pol/p.yaml:8:5: unstratifiable: rule 'flag-unless-flagged' depends on the absence (or count) of a conclusion"
        " that it helps to derive; break the cycle",
        "pol/p.yaml:19:9: unknown-predicate: 'budgett' is not a declared fact or conclusion (did you mean 'budget'?)",
    ]
    assert result.exit_code == 2


MISSPELT_REQUIRED_KEY = """\
policy: typo
description: A choice fact whose values key is misspelt.
facts:
  - id: region_kind
    type: choice
    valeus: [emea, americas]
    description: Where the customer works.
    question: Where does the customer work?
"""


def test_a_misspelt_required_key_is_one_line_not_also_a_missing_key(tmp_path: Path) -> None:
    (tmp_path / "typo.yaml").write_text(MISSPELT_REQUIRED_KEY)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"{tmp_path / 'typo.yaml'}:6:5: unknown-key: 'valeus' is not allowed here (did you mean 'values'?); allowed: "
        "id, type, values, default, scope, minimum, maximum, description, question, source, overrides, labels, ask\n"
    )
