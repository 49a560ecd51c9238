"""podeploy why --not TYPE: every reason a type was not recommended, not just the first."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from podeploy.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = str(ROOT / "examples" / "contoso.yaml")
UK = "Contoso Robotics United Kingdom"
US = "Contoso Manufacturing United States"
LITE = "Lite deployment - deal to proforma invoicing"
RESOURCE = "Project Operations for resource/non-stocked scenarios"
SEED = ("--as-of", "2023-11")  # the seeds' literal reading alone; without it, the current knowledge too
SEED_TITLE = (
    'The seeds, read literally: Microsoft Learn, "Determine your deployment type" (2023-11-06), and '
    'Advisicon, "What is Dynamics 365 Project Operations?" (2023-09)'
)
DOCS_TITLE = "Microsoft's Dynamics 365 Project Operations documentation, as read on 2026-08-21"
KNOWLEDGE_SEED = f"Knowledge: built-in, as of 2023-11 ({SEED_TITLE})"
KNOWLEDGE_CURRENT = f"{KNOWLEDGE_SEED}; docs-2026-08, as of 2026-08 ({DOCS_TITLE})"
SEED_KNOWLEDGE_JSON = [{"layer": "built-in", "as_of": "2023-11", "title": SEED_TITLE}]
CURRENT_KNOWLEDGE_JSON = [*SEED_KNOWLEDGE_JSON, {"layer": "docs-2026-08", "as_of": "2026-08", "title": DOCS_TITLE}]


def why_not(*args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, ["why", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_every_reason_against_lite_is_listed_per_entity_with_the_customers_fact() -> None:
    data = why_not(*SEED, CONTOSO, "--not", "lite")
    assert data["type"] == "lite"
    reasons = {e["name"]: [(r["rule"], r["explanation"]) for r in e["reasons"]] for e in data["entities"]}
    assert reasons[UK] == [
        ("type-lacks-capability", f"{UK} needs customer-facing invoicing, which {LITE} does not offer."),
        ("type-lacks-capability", f"{UK} needs receipt scanning (OCR), which {LITE} does not offer."),
        ("type-lacks-capability", f"{UK} needs revenue recognition, which {LITE} does not offer."),
    ]
    assert [rule for rule, _ in reasons[US]] == ["type-lacks-capability"] * 4 + ["production-needs-stocked"] * 2
    first = data["entities"][1]["reasons"][0]
    assert first["location"] == "policies/choosing.yaml:9:5"
    assert first["source"] == "000_cd059b2c5f1fbec9.txt#deployment-types"
    assert first["facts"] == [
        {
            "fact": "requirements",
            "values": {"entity": UK, "value": "customer-facing-invoicing"},
            "location": f"{CONTOSO}:4:16",
        }
    ]


def test_a_type_that_covers_but_is_heavier_is_explained_by_the_preference() -> None:
    data = why_not(*SEED, CONTOSO, "--not", "stocked-production", "--entity", UK)
    assert data["entities"] == [
        {
            "name": UK,
            "deployment": "resource-non-stocked",
            "recommended": False,
            "reasons": [
                {
                    "rule": None,
                    "explanation": f"{RESOURCE} is lighter and already offers everything {UK} needs. "
                    "(rule lightest-covering-type, "
                    'policies/choosing.yaml:69:5, "Determine your deployment type" (2023-11-06), section '
                    '"Deployment types")',
                }
            ],
        }
    ]


def test_the_recommended_type_has_no_reasons_against_it() -> None:
    data = why_not(CONTOSO, "--not", "stocked-production", "--entity", US)
    assert data == {
        "customer": "Contoso",
        "type": "stocked-production",
        "entities": [{"name": US, "deployment": "stocked-production", "recommended": True, "reasons": []}],
        "knowledge": CURRENT_KNOWLEDGE_JSON,
    }


def test_json_names_the_knowledge_it_rests_on() -> None:
    assert why_not(*SEED, CONTOSO, "--not", "lite")["knowledge"] == SEED_KNOWLEDGE_JSON
    assert why_not(CONTOSO, "--not", "lite")["knowledge"] == CURRENT_KNOWLEDGE_JSON


def test_text_numbers_the_reasons_and_names_rule_source_and_fact() -> None:
    result = CliRunner().invoke(cli, ["why", *SEED, CONTOSO, "--not", "lite", "--entity", UK])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:7] == [
        "Why not lite (Lite deployment - deal to proforma invoicing) for Contoso?",
        KNOWLEDGE_SEED,
        "",
        f"{UK} (gets {RESOURCE}):",
        f"  1. {UK} needs customer-facing invoicing, which {LITE} does not offer.",
        '     rule type-lacks-capability (policies/choosing.yaml:9:5) ["Determine your deployment type" (2023-11-06), '
        'section "Deployment types"]',
        f"     customer's fact: requirements(entity: {UK}, value: customer-facing-invoicing) at {CONTOSO}:4:16",
    ]


def test_text_on_the_current_knowledge_names_the_type_by_its_2025_name_and_the_documentation_rule() -> None:
    result = CliRunner().invoke(cli, ["why", CONTOSO, "--not", "lite", "--entity", UK])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:7] == [
        "Why not lite (Project Operations Core) for Contoso?",
        KNOWLEDGE_CURRENT,
        "",
        f"{UK} (gets Project Operations Integrated with ERP):",
        f"  1. {UK} needs customer-facing invoicing, which Project Operations Core does not offer.",
        "     rule type-lacks-capability (policies/editions/docs-2026-08/books.yaml:86:5) "
        "[\"Determine your deployment type\" (2023-11-06), section \"Deployment types\"]",
        f"     customer's fact: requirements(entity: {UK}, value: customer-facing-invoicing) at {CONTOSO}:4:16",
    ]


def test_stocked_inventory_rules_integrated_with_erp_out_only_on_the_seeds() -> None:
    # The seeds: stocked inventory, like production orders, only in stocked/production. The documentation:
    # from Finance 10.0.44 Integrated with ERP handles stocked products, and a new Finance customer goes live
    # on the current release (policies/editions/docs-2026-08/stocked-products.yaml); production orders stay.
    def reasons(*args: str) -> list[tuple[str, str, str]]:
        [entity] = why_not(*args, CONTOSO, "--not", "resource-non-stocked", "--entity", US)["entities"]
        assert (entity["deployment"], entity["recommended"]) == ("stocked-production", False)
        return [(r["rule"], r["location"], r["explanation"]) for r in entity["reasons"]]

    lacks, needs_stocked = ("type-lacks-capability", "production-needs-stocked")
    assert [(rule, location) for rule, location, _ in reasons(*SEED)] == [
        (lacks, "policies/choosing.yaml:9:5"),
        (lacks, "policies/choosing.yaml:9:5"),
        (needs_stocked, "policies/choosing.yaml:21:5"),
        (needs_stocked, "policies/choosing.yaml:21:5"),
    ]
    assert reasons() == [
        (
            lacks,
            "policies/editions/docs-2026-08/books.yaml:86:5",
            f"{US} needs production orders, which Project Operations Integrated with ERP does not offer.",
        ),
        (
            needs_stocked,
            "policies/editions/docs-2026-08/books.yaml:65:5",
            f"{US} needs production orders, which decides the type: Project Operations Integrated with ERP does "
            "not offer it, so Project Operations Integrated with ERP is ruled out.",
        ),
    ]


def test_plans_finance_is_the_reason_against_lite(tmp_path: Path) -> None:
    facts = tmp_path / "f.yaml"
    facts.write_text("customer: F\nplans_finance: true\n")
    data = why_not(str(facts), "--not", "lite")
    (reason,) = data["entities"][0]["reasons"]
    assert reason["rule"] == "finance-later-rules-out-lite"
    assert reason["facts"] == [{"fact": "plans_finance", "values": {"value": True}, "location": f"{facts}:2:16"}]


def test_unknown_type_and_entity_are_bad_input_with_suggestions() -> None:
    result = CliRunner().invoke(cli, ["why", CONTOSO, "--not", "lyte"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "--not:1:1: unknown-type: 'lyte' is not a deployment type (did you mean 'lite'?)\n"
    result = CliRunner().invoke(cli, ["why", CONTOSO, "--not", "lite", "--entity", "Contoso Robotics UK"])
    assert result.exit_code == 2
    assert result.stderr.startswith("--entity:1:1: unknown-entity: no legal entity 'Contoso Robotics UK'")
