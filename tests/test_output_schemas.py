"""The JSON Schemas of what evaluate, why, what-if and batch print: published, closed, and true of every example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result
from podeploy.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
EXAMPLES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").iterdir() if p.suffix in (".yaml", ".json"))
OUTPUTS = ("output", "why", "what-if", "batch")
TYPES = ("lite", "resource-non-stocked", "stocked-production")

# A facts file written by podeploy ask: the output says which workshop the facts come from.
WORKSHOP_FACTS = """\
customer: Contoso
requirements: [customer-facing-invoicing]
workshop:
  date: '2026-12-02T09:30:00Z'
  by: Ana Díaz
  answers:
  - {question: Does the customer already run ...?, of: Contoso, answer: none, at: '2026-12-02T09:31:00Z'}
"""


def schema_of(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
    return data


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema_of(name))


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def printed(*args: str) -> Any:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def problems(name: str, data: Any) -> list[str]:
    """Every way data breaks the schema, as 'path: message', best first."""
    return [f"{e.json_path}: {e.message}" for e in validator(name).iter_errors(data)]


def test_the_examples_are_the_thirteen_shipped_ones() -> None:
    assert len(EXAMPLES) == 13 and "examples/adatum-mixed.json" in EXAMPLES


# -- the schemas ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OUTPUTS)
def test_each_output_schema_is_a_draft_2020_12_schema_with_an_id(name: str) -> None:
    schema = schema_of(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:podeploy:schema:{name}:1"


@pytest.mark.parametrize("name", OUTPUTS)
def test_podeploy_schema_prints_the_shipped_schema(name: str) -> None:
    result = invoke("schema", name)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == schema_of(name)


def test_the_definitions_the_schemas_share_are_written_alike_in_each() -> None:
    """Each schema stands alone (no reference out of its file), so a shared definition is repeated: never apart."""
    seen: dict[str, tuple[str, Any]] = {}
    for name in OUTPUTS:
        text = (SCHEMAS / f"{name}.schema.json").read_text("utf-8")
        assert '"$ref": "urn:' not in text
        for key, definition in schema_of(name)["$defs"].items():
            first = seen.setdefault(key, (name, definition))
            assert definition == first[1], f"$defs/{key} differs between {first[0]} and {name}"
    assert {"notice", "entity", "summary", "citation", "knowledge"} <= set(seen)


# -- every example's real output --------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_evaluate_json_of_every_example_matches_the_output_schema(example: str) -> None:
    assert problems("output", printed("evaluate", example, "--format", "json")) == []


@pytest.mark.parametrize("example", EXAMPLES)
def test_why_json_of_every_example_matches_the_why_schema(example: str) -> None:
    assert problems("why", printed("why", example, "--format", "json")) == []
    for type_id in TYPES:
        assert problems("why", printed("why", example, "--not", type_id, "--format", "json")) == []


@pytest.mark.parametrize("example", EXAMPLES)
def test_what_if_json_of_every_example_matches_the_what_if_schema(example: str) -> None:
    for type_id in TYPES:
        found = printed("what-if", example, "--target", type_id, "--max-changes", "1", "--format", "json")
        assert problems("what-if", found) == []
    applied = invoke("what-if", example, "--set", "budget=large", "--format", "json")
    if applied.exit_code == 2:  # the example already has a large budget
        applied = invoke("what-if", example, "--set", "budget=small", "--format", "json")
    assert applied.exit_code == 0, applied.output
    assert problems("what-if", json.loads(applied.stdout)) == []


def test_batch_records_of_every_example_and_of_a_bad_input_match_the_batch_schema(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    result = invoke("batch", *EXAMPLES, missing, "--jobs", "1")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["ok"] * len(EXAMPLES) + ["bad-input"]
    assert [problems("batch", r) for r in records] == [[]] * len(records)
    assert result.exit_code == 2


def test_a_workshop_record_superseded_statements_and_a_search_that_stops_match_too(tmp_path: Path) -> None:
    facts = tmp_path / "contoso.facts.yaml"
    facts.write_text(WORKSHOP_FACTS, "utf-8")
    evaluated = printed("evaluate", str(facts), "--format", "json")
    assert evaluated["workshop"] == {"date": "2026-12-02T09:30:00Z", "answers": 1, "dont_know": 0, "by": "Ana Díaz"}
    assert problems("output", evaluated) == []
    # The docs-2026-08 edition corrects statements of the seeds: its steps say which (supersedes).
    why = printed("why", "examples/fabrikam-finance-later.yaml", "--format", "json")
    assert any("supersedes" in step for step in why["trace"])
    assert problems("why", why) == []
    stopped = printed("what-if", "examples/contoso.yaml", "--target", "lite", "--budget", "1", "--format", "json")
    assert stopped["search"]["stopped"] == "budget" and stopped["solutions"] == []
    assert problems("what-if", stopped) == []


# -- closed shapes: a key added to an output without its schema is caught --------------------------------------


def _evaluated() -> dict[str, Any]:
    data: dict[str, Any] = printed("evaluate", "examples/litware-small.yaml", "--format", "json")
    return data


@pytest.mark.parametrize(
    "path",
    [
        (),
        ("entities", 0),
        ("warnings", 0),
        ("warnings", 0, "rules", 0),
        ("warnings", 0, "rules", 0, "citations", 0),
        ("trace", 0),
        ("trace", 0, "matched", 0),
        ("trace", 0, "concluded", 0),
        ("knowledge", 0),
        ("open_questions", 0),
    ],
    ids=lambda path: ".".join(str(p) for p in path) or "top",
)
def test_a_key_the_output_schema_does_not_describe_is_refused(path: tuple[str | int, ...]) -> None:
    data: Any = printed("evaluate", "examples/litware-small.yaml", "--format", "json")
    where = data
    for part in path:
        where = where[part]
    where["surprise"] = 1
    shown = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    # At the top the summary's keys are checked by unevaluatedProperties, worded a little differently.
    kind = "Unevaluated" if not path else "Additional"
    assert f"{shown}: {kind} properties are not allowed ('surprise' was unexpected)" in problems("output", data)


def test_a_record_of_batch_with_a_key_left_out_or_added_is_refused() -> None:
    record = {"input": "x.yaml", "status": "bad-input", "errors": ["x.yaml:1:1: empty: ..."]}
    assert problems("batch", record) == []
    assert problems("batch", {**record, "customer": "X"}) != []
    assert problems("batch", {"input": "x.yaml", "status": "ok"}) != []
