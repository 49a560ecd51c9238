"""Consultants' policy layers over the built-ins, and the shipped docs-2026-08 edition (once the 2025-update pack)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from podeploy.cli.main import cli
from podeploy.engine import BadInput, load_knowledge_base
from podeploy.engine.evaluation import evaluate as evaluation
from podeploy.engine.explain.render import decision_json, why_text
from podeploy.engine.facts.reading import read_facts
from podeploy.engine.io.loader import parse_document
from podeploy.engine.policy.knowledge import KnowledgeBase
from podeploy.engine.policy.layers import edition_dirs, pack_path


def evaluate(kb: KnowledgeBase, text: str, engine: str = "durable") -> dict[str, Any]:
    facts = read_facts(kb, parse_document(textwrap.dedent(text), "facts.yaml"))
    return decision_json(evaluation.evaluate(kb, facts, engine=engine))


def codes(result: dict[str, Any], key: str = "warnings") -> list[tuple[str, str | None]]:
    return sorted((w["code"], w.get("entity")) for w in result[key])


@pytest.fixture(scope="module")
def pack() -> KnowledgeBase:
    """The built-ins and the docs-2026-08 edition, through the former pack's name (an alias of the edition)."""
    return load_knowledge_base([pack_path("2025-update")])


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(textwrap.dedent(text))
    return directory


OVERRIDE = (Path(__file__).parent / "fixtures" / "stricter-budget.yaml").read_text()


def test_an_override_replaces_the_built_in_rule_and_the_trace_names_its_layer(tmp_path: Path) -> None:
    kb = load_knowledge_base([str(write(tmp_path / "partner", "budget.yaml", OVERRIDE))])
    assert [r.layer for r in kb.rules if r.id == "small-budget"] == ["partner"]
    result = evaluate(kb, "customer: C\nbudget: medium\n")
    (warning,) = result["warnings"]
    assert warning["message"] == "A budget below large is tight for Project Operations."
    (step,) = [s for s in result["trace"] if s["rule"] == "small-budget"]
    assert step["layer"] == "partner"
    assert step["location"].endswith("budget.yaml:4:5")


def test_the_why_trace_says_which_layer_a_rule_came_from(tmp_path: Path) -> None:
    kb = load_knowledge_base([str(write(tmp_path / "partner", "budget.yaml", OVERRIDE))])
    decision = evaluation.evaluate(kb, read_facts(kb, parse_document("customer: C\nbudget: medium\n", "f.yaml")))
    assert "rule small-budget (" in why_text(decision)
    assert "budget.yaml:4:5 in layer partner)" in why_text(decision)


def test_a_collision_without_overrides_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    text = OVERRIDE.replace("    overrides: small-budget\n", "")
    with pytest.raises(BadInput) as refused:
        load_knowledge_base([str(write(tmp_path / "partner", "budget.yaml", text))])
    (problem,) = refused.value.problems
    assert str(problem) == (
        f"{tmp_path}/partner/budget.yaml:4:5: duplicate-id: rule 'small-budget' is already declared at "
        "policies/fit.yaml:9:5; to replace it, add 'overrides: small-budget'"
    )


def test_overriding_an_unknown_rule_suggests_the_closest(tmp_path: Path) -> None:
    text = OVERRIDE.replace("overrides: small-budget", "overrides: small-budgt")
    with pytest.raises(BadInput) as refused:
        load_knowledge_base([str(write(tmp_path / "partner", "budget.yaml", text))])
    (problem,) = refused.value.problems
    assert problem.code == "unknown-rule"
    assert problem.message == "'small-budgt' is not a rule of an earlier layer (did you mean 'small-budget'?)"


def test_a_disabled_rule_no_longer_fires(tmp_path: Path) -> None:
    text = """\
        policy: no-region-notes
        description: This practice checks regions itself.
        disables:
          - rule: check-region-availability
            reason: Our delivery team checks availability in the bid.
    """
    kb = load_knowledge_base([str(write(tmp_path / "partner", "quiet.yaml", text))])
    assert "check-region-availability" not in {r.id for r in kb.rules}
    assert kb.disabled["check-region-availability"].reason == "Our delivery team checks availability in the bid."
    assert evaluate(kb, "customer: C\nregion: japan\nplans_finance: true\n")["notes"] == []


def test_podeploy_policies_adds_layers_from_the_environment(tmp_path: Path) -> None:
    layer = write(tmp_path / "partner", "budget.yaml", OVERRIDE)
    facts = tmp_path / "facts.yaml"
    facts.write_text("customer: C\nbudget: medium\nplans_finance: true\n")
    result = CliRunner().invoke(
        cli, ["evaluate", str(facts), "--format", "json"], env={"PODEPLOY_POLICIES": str(layer)}
    )
    assert result.exit_code == 0, result.output
    assert [w["code"] for w in json.loads(result.stdout)["warnings"]] == ["low-fit"]


def test_schema_facts_includes_a_fact_a_layer_declares() -> None:
    result = CliRunner().invoke(cli, ["schema", "facts", "--as-of", "2023-11", "--pack", "2025-update"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$id"] == "urn:podeploy:schema:facts:1"
    assert schema["properties"]["finance_version"]["pattern"] == r"^[0-9]{1,3}(\.[0-9]{1,3}){0,2}$"
    seeds = json.loads(CliRunner().invoke(cli, ["schema", "facts", "--as-of", "2023-11"]).stdout)
    assert sorted(seeds["properties"]) == [
        "budget", "customer", "existing_solution", "legal_entities", "packs", "plans_finance", "pm_maturity",
        "policies", "region", "requirements", "unknown", "workshop",
    ]


def test_schema_facts_includes_the_editions_facts_by_default() -> None:
    result = CliRunner().invoke(cli, ["schema", "facts"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert sorted(schema["properties"]) == [
        "budget", "customer", "existing_solution", "finance_version", "ledger", "legal_entities", "packs",
        "plans_finance", "pm_maturity", "policies", "process_change_ready", "region", "requirements",
        "runs_dataverse_apps", "unknown", "workshop",
    ]
    assert schema["properties"]["finance_version"]["pattern"] == r"^[0-9]{1,3}(\.[0-9]{1,3}){0,2}$"


def test_schema_policy_prints_the_shipped_schema() -> None:
    result = CliRunner().invoke(cli, ["schema", "policy"])
    assert result.exit_code == 0
    root = Path(__file__).resolve().parent.parent
    assert json.loads(result.stdout) == json.loads((root / "schemas" / "policy.schema.json").read_text())


def test_an_unknown_pack_suggests_the_closest() -> None:
    result = CliRunner().invoke(cli, ["capabilities", "--pack", "2025-updat"])
    assert result.exit_code == 2
    assert result.stderr == (
        "--pack:1:1: unknown-pack: no pack named '2025-updat' (did you mean '2025-update'?)"
        " (packs: 2025-update, docs-2026-08)\n"
    )


# -- the docs-2026-08 edition, which absorbed the 2025-update pack ------------------------------


def test_the_former_pack_name_is_the_edition() -> None:
    assert Path(pack_path("2025-update")) == Path(pack_path("docs-2026-08"))
    assert Path(pack_path("2025-update")).parts[-2:] == ("editions", "docs-2026-08")


def test_the_library_loads_the_edition_only_when_asked() -> None:
    kb = load_knowledge_base()
    assert "finance_version" not in kb.facts
    assert kb.type_name("lite") == "Lite deployment - deal to proforma invoicing"
    assert edition_dirs("2023-11") == []
    (edition,) = edition_dirs()
    assert Path(edition) == Path(pack_path("docs-2026-08"))
    current = load_knowledge_base(edition_dirs())
    assert "finance_version" in current.facts
    assert current.type_name("lite") == "Project Operations Core"


@pytest.mark.parametrize(
    ("type_id", "name"),
    [
        ("lite", "Project Operations Core"),
        ("resource-non-stocked", "Project Operations Integrated with ERP"),
        ("stocked-production", "Project Operations for manufacturing"),
    ],
)
def test_the_pack_shows_the_2025_names(pack: KnowledgeBase, type_id: str, name: str) -> None:
    assert pack.type_name(type_id) == name


@pytest.mark.parametrize("engine", ["durable", "reference"])
def test_stocked_products_need_finance_10_0_44_for_resource_non_stocked(pack: KnowledgeBase, engine: str) -> None:
    facts = "customer: W\nrequirements: [stocked-inventory, project-sales]\nfinance_version: {}\n"
    before = evaluate(pack, facts.format("10.0.43"), engine)
    # The manufacturing type has project quotations (prod-pma/project-quotations.md): no project-sales gap.
    assert [(e["deployment"], e["gaps"]) for e in before["entities"]] == [("stocked-production", [])]
    assert codes(before) == []
    assert codes(before, "notes") == [("finance-required", "W")]
    after = evaluate(pack, facts.format("10.0.44"), engine)
    assert [(e["deployment"], e["gaps"]) for e in after["entities"]] == [("resource-non-stocked", [])]
    assert codes(after) == [("inventory-reservation-version", "W"), ("item-requirements-version", "W")]
    assert codes(after, "notes") == [("finance-required", "W"), ("stocked-products-feature", "W")]
    newest = evaluate(pack, facts.format("10.0.46"), engine)
    assert [(e["deployment"], e["gaps"]) for e in newest["entities"]] == [("resource-non-stocked", [])]
    assert codes(newest) == []
    assert codes(newest, "notes") == [("finance-required", "W"), ("stocked-products-feature", "W")]


def test_production_orders_stay_stocked_production_whatever_the_version(pack: KnowledgeBase) -> None:
    result = evaluate(pack, "customer: W\nrequirements: [production-orders]\nfinance_version: 10.0.46\n")
    assert result["deployments"] == ["stocked-production"]


def test_without_a_finance_version_a_new_customer_is_taken_to_be_on_the_current_release(pack: KnowledgeBase) -> None:
    result = evaluate(pack, "customer: W\nexisting_solution: none\nrequirements: [stocked-inventory]\n")
    assert result["deployments"] == ["resource-non-stocked"]
    assert codes(result) == []
    assert codes(result, "notes") == [
        ("finance-required", "W"), ("finance-version-assumed", "W"), ("stocked-products-feature", "W")
    ]
    assert [(q["fact"], q.get("entity")) for q in result["open_questions"] if q["fact"] == "finance_version"] == [
        ("finance_version", None)
    ]


def test_without_a_finance_version_an_entity_on_finance_today_keeps_the_seed_rules(pack: KnowledgeBase) -> None:
    result = evaluate(pack, "customer: W\nexisting_solution: resource-non-stocked\nrequirements: [stocked-inventory]\n")
    assert result["deployments"] == ["stocked-production"]
    assert [(w["code"], w.get("entity"), w.get("type")) for w in result["warnings"]] == [
        ("no-migration-path", "W", "stocked-production")
    ]


def test_a_bad_finance_version_is_reported(pack: KnowledgeBase) -> None:
    with pytest.raises(BadInput) as refused:
        read_facts(pack, parse_document("customer: W\nfinance_version: ten\n", "f.yaml"))
    assert [str(p) for p in refused.value.problems] == [
        "f.yaml:2:18: bad-value: finance_version: 'ten' is not a version like 10.0.44"
    ]


def test_psa_customers_are_told_the_upgrade_goes_to_lite_only(pack: KnowledgeBase) -> None:
    # Receipt OCR needs a Finance-based type: no upgrade, one warning of a new implementation (never both).
    result = evaluate(pack, "customer: T\nexisting_solution: project-service-automation\nrequirements: [receipt-ocr]\n")
    assert result["deployments"] == ["resource-non-stocked"]
    assert [(w["code"], w.get("entity"), w.get("type")) for w in result["warnings"]] == [
        ("no-migration-path", "T", "resource-non-stocked")
    ]
    assert codes(result, "notes") == [("finance-required", "T"), ("psa-end-of-life", "T")]
    lite = evaluate(pack, "customer: T\nexisting_solution: project-service-automation\nrequirements: [project-sales]\n")
    assert lite["deployments"] == ["lite"]
    assert codes(lite) == [("psa-upgrade", "T")]
    assert codes(lite, "notes") == [("lite-is-final", "T"), ("psa-end-of-life", "T"), ("psa-version-path", "T")]


def test_finance_customers_hear_of_the_one_way_modern_architecture(pack: KnowledgeBase) -> None:
    pma = "customer: N\nexisting_solution: finance-project-management\n"
    covered = evaluate(pack, pma + "requirements: [customer-facing-invoicing]\n")
    assert covered["deployments"] == ["stocked-production"]
    assert codes(covered) == [("finance-pma-continue", "N")]
    assert "Moving to the modern architecture later is possible, one way." in covered["warnings"][0]["message"]
    facts = (
        "customer: N\nexisting_solution: finance-project-management\nfinance_version: {}\n"
        "requirements: [project-for-the-web-planning, customer-facing-invoicing]\n"
    )
    moving = evaluate(pack, facts.format("10.0.45"))
    assert moving["deployments"] == ["resource-non-stocked"]
    assert [(w["code"], w.get("entity"), w.get("type")) for w in moving["warnings"]] == [
        ("pma-modern-architecture", "N", "resource-non-stocked")
    ]
    assert "older than 10.0.43" not in moving["warnings"][0]["message"]
    old = evaluate(pack, facts.format("10.0.42"))
    assert codes(old) == [("pma-modern-architecture", "N")]
    assert "older than 10.0.43: upgrade Finance" in old["warnings"][0]["message"]


# expense/match-receipt-expense-ocr.md: receipts from these regions are read; in the EU, English ones only.
OCR_READS = ["united-states", "canada", "united-kingdom", "australia"]
OCR_EU_ENGLISH_ONLY = ["europe", "france", "germany", "italy", "spain", "poland", "sweden"]
OCR_UNAVAILABLE = [
    "south-america", "brazil", "mexico", "switzerland", "norway", "asia-pacific", "asia", "japan", "india", "korea",
    "singapore", "new-zealand", "south-africa", "africa", "united-arab-emirates", "qatar", "israel",
]


def test_the_receipt_ocr_regions_cover_the_vocabulary(pack: KnowledgeBase) -> None:
    assert sorted(OCR_READS + OCR_EU_ENGLISH_ONLY + OCR_UNAVAILABLE) == sorted(pack.facts["region"].values)


@pytest.mark.parametrize(
    ("region", "warnings", "notes"),
    [
        *((r, [], [("finance-required", "R"), ("region-availability", None)]) for r in OCR_READS),
        *(
            (r, [], [("finance-required", "R"), ("receipt-ocr-english-only", "R"), ("region-availability", None)])
            for r in OCR_EU_ENGLISH_ONLY
        ),
        *(
            (r, [("receipt-ocr-unavailable", "R")], [("finance-required", "R"), ("region-availability", None)])
            for r in OCR_UNAVAILABLE
        ),
    ],
)
def test_receipt_ocr_by_region(pack: KnowledgeBase, region: str, warnings: list[Any], notes: list[Any]) -> None:
    result = evaluate(pack, f"customer: R\nrequirements: [receipt-ocr]\nregion: {region}\n")
    assert result["deployments"] == ["resource-non-stocked"]
    assert codes(result) == warnings
    assert codes(result, "notes") == notes
    if warnings:
        (warning,) = result["warnings"]
        assert warning["capability"] == "receipt-ocr"
        # The region as the vocabulary's labels name it for a customer ('Japan', 'the United Arab Emirates').
        named = pack.facts["region"].label(region)
        assert named is not None and named != region
        assert f"does not read receipts from {named}" in warning["message"] and "Expense Agent" in warning["message"]


@pytest.mark.parametrize("signal", ["pm_maturity: low", "budget: small", "process_change_ready: false"])
def test_lighter_alternatives_mention_project_online_retirement(pack: KnowledgeBase, signal: str) -> None:
    result = evaluate(pack, f"customer: L\n{signal}\nplans_finance: true\n")
    assert codes(result) == [("low-fit", None)]
    assert codes(result, "notes") == [("project-online-retired", None)]
    (retired,) = result["notes"]
    assert "2026-09-30" in retired["message"] and "Planner (premium" in retired["message"]


def test_a_low_maturity_names_planner_not_project_online(pack: KnowledgeBase) -> None:
    (low_fit,) = evaluate(pack, "customer: L\npm_maturity: low\nplans_finance: true\n")["warnings"]
    assert low_fit["rule"] == "low-pm-maturity"
    assert "Planner (premium plans, the former Project for the web)" in low_fit["message"]
    assert "Project Online" not in low_fit["message"]


def test_every_edition_rule_cites_a_documentation_path_or_seed(pack: KnowledgeBase) -> None:
    edition = [rule for rule in pack.rules if rule.layer == "docs-2026-08"]
    assert len(edition) > 30
    for rule in edition:
        assert rule.source, rule.id
