"""The built-in knowledge base against the seeds' own cases and the contract's decision rules, on both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from podeploy.engine import load_facts, load_knowledge_base
from podeploy.engine.evaluation import evaluate as evaluation
from podeploy.engine.explain.render import decision_json, why_not
from podeploy.engine.facts.reading import read_facts
from podeploy.engine.io.loader import parse_document
from podeploy.engine.policy.knowledge import KnowledgeBase
from podeploy.engine.policy.layers import edition_dirs

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ["durable", "reference"]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture(scope="module")
def current_kb() -> KnowledgeBase:
    """The built-ins with the shipped editions over them: what the command line loads by default."""
    return load_knowledge_base(edition_dirs())


def evaluate(kb: KnowledgeBase, text: str, engine: str = "durable") -> dict[str, Any]:
    facts = read_facts(kb, parse_document(text, "facts.yaml"))
    return decision_json(evaluation.evaluate(kb, facts, engine=engine))


def summary(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "deployments": result["deployments"],
        "entities": {e["name"]: (e["deployment"], e["gaps"]) for e in result["entities"]},
        "warnings": sorted((w["code"], w.get("entity")) for w in result["warnings"]),
        "notes": sorted((n["code"], n.get("entity"), n.get("about")) for n in result["notes"]),
    }


CASES = [
    pytest.param(
        """
        customer: Contoso
        requirements: [customer-facing-invoicing, receipt-ocr]
        legal_entities:
          - name: Contoso Manufacturing United States
            requirements: [production-orders, stocked-inventory]
          - name: Contoso Robotics United Kingdom
            requirements: [customer-facing-invoicing, revenue-recognition]
        """,
        {
            "deployments": ["resource-non-stocked", "stocked-production"],
            "entities": {
                "Contoso Manufacturing United States": ("stocked-production", []),
                "Contoso Robotics United Kingdom": ("resource-non-stocked", []),
            },
            "warnings": [],
            "notes": [("shared-environment", None, None)],
        },
        id="contoso-two-legal-entities-share-one-environment",
    ),
    pytest.param(
        "customer: Fabrikam\nrequirements: [project-sales, time-tracking, proforma-invoicing]\n",
        {
            "deployments": ["lite"],
            "entities": {"Fabrikam": ("lite", [])},
            "warnings": [],
            "notes": [("lite-is-final", "Fabrikam", None)],
        },
        id="lite-covers-deal-to-proforma",
    ),
    pytest.param(
        "customer: Fabrikam\n",
        {
            "deployments": ["lite"],
            "entities": {"Fabrikam": ("lite", [])},
            "warnings": [],
            "notes": [("lite-is-final", "Fabrikam", None)],
        },
        id="no-requirements-gets-the-lightest-type",
    ),
    pytest.param(
        "customer: Fabrikam\nrequirements: [project-sales]\nplans_finance: true\n",
        {
            "deployments": ["resource-non-stocked"],
            "entities": {"Fabrikam": ("resource-non-stocked", [])},
            "warnings": [],
            "notes": [],
        },
        id="finance-later-rules-out-lite",
    ),
    pytest.param(
        "customer: Fabrikam\nrequirements: [receipt-ocr]\n",
        {
            "deployments": ["resource-non-stocked"],
            "entities": {"Fabrikam": ("resource-non-stocked", [])},
            "warnings": [],
            "notes": [],
        },
        id="receipt-ocr-needs-resource-non-stocked",
    ),
    pytest.param(
        "customer: Fabrikam\nrequirements: [wbs-planning, time-tracking]\n",
        {
            "deployments": ["stocked-production"],
            "entities": {"Fabrikam": ("stocked-production", [])},
            "warnings": [],
            "notes": [],
        },
        id="wbs-planning-only-in-stocked-production",
    ),
    pytest.param(
        "customer: Fabrikam\nrequirements: [production-orders, project-sales, subcontracting]\n",
        {
            "deployments": ["stocked-production"],
            "entities": {"Fabrikam": ("stocked-production", ["project-sales", "subcontracting"])},
            "warnings": [("capability-gap", "Fabrikam"), ("capability-gap", "Fabrikam")],
            "notes": [],
        },
        id="production-orders-decide-the-type-and-the-rest-are-gaps",
    ),
    pytest.param(
        "customer: Fabrikam\nrequirements: [stocked-inventory, project-sales]\n",
        {
            "deployments": ["stocked-production"],
            "entities": {"Fabrikam": ("stocked-production", ["project-sales"])},
            "warnings": [("capability-gap", "Fabrikam")],
            "notes": [],
        },
        id="stocked-inventory-decides-the-type",
    ),
    pytest.param(
        "customer: Fabrikam\nrequirements: [wbs-planning, project-sales, receipt-ocr]\n",
        {
            "deployments": ["resource-non-stocked"],
            "entities": {"Fabrikam": ("resource-non-stocked", ["wbs-planning"])},
            "warnings": [("capability-gap", "Fabrikam")],
            "notes": [],
        },
        id="no-covering-type-takes-the-fewest-gaps",
    ),
    pytest.param(
        "customer: Fabrikam\nrequirements: [wbs-planning, project-sales]\n",
        {
            "deployments": ["lite"],
            "entities": {"Fabrikam": ("lite", ["wbs-planning"])},
            "warnings": [("capability-gap", "Fabrikam")],
            "notes": [("lite-is-final", "Fabrikam", None)],
        },
        id="partial-fit-tie-goes-to-the-lighter-type",
    ),
    pytest.param(
        """
        customer: Adatum
        legal_entities:
          - {name: Services, requirements: [project-sales]}
          - {name: Factory, requirements: [production-orders]}
        """,
        {
            "deployments": ["resource-non-stocked", "stocked-production"],
            "entities": {"Services": ("resource-non-stocked", []), "Factory": ("stocked-production", [])},
            "warnings": [("entity-promoted", "Services")],
            "notes": [("shared-environment", None, None)],
        },
        id="lite-entity-promoted-beside-a-finance-based-one",
    ),
    pytest.param(
        """
        customer: Adatum
        legal_entities:
          - {name: Services, requirements: [project-sales]}
          - {name: Billing, requirements: [customer-facing-invoicing]}
        """,
        {
            "deployments": ["resource-non-stocked"],
            "entities": {"Services": ("resource-non-stocked", []), "Billing": ("resource-non-stocked", [])},
            "warnings": [("entity-promoted", "Services")],
            "notes": [],
        },
        id="lite-entity-promoted-beside-resource-non-stocked",
    ),
    pytest.param(
        "customer: Northwind\nexisting_solution: finance-project-management\nrequirements: [time-tracking]\n",
        {
            "deployments": ["stocked-production"],
            "entities": {"Northwind": ("stocked-production", [])},
            "warnings": [("finance-pma-continue", None)],
            "notes": [],
        },
        id="pma-customer-keeps-stocked-production-where-it-covers",
    ),
    pytest.param(
        "customer: Northwind\nexisting_solution: finance-project-management\nrequirements: [project-sales]\n",
        {
            "deployments": ["lite"],
            "entities": {"Northwind": ("lite", [])},
            "warnings": [("finance-pma-continue", None), ("no-migration-path", "Northwind")],
            "notes": [],
        },
        id="pma-customer-needing-more-is-warned-of-no-migration",
    ),
    pytest.param(
        "customer: Tailspin\nexisting_solution: project-service-automation\nrequirements: [project-sales]\n",
        {
            "deployments": ["lite"],
            "entities": {"Tailspin": ("lite", [])},
            "warnings": [("psa-upgrade", None)],
            "notes": [],
        },
        id="psa-customer-told-of-upgrade-path",
    ),
    pytest.param(
        "customer: Litware\nexisting_solution: lite\nrequirements: [revenue-recognition]\n",
        {
            "deployments": ["resource-non-stocked"],
            "entities": {"Litware": ("resource-non-stocked", [])},
            "warnings": [("no-migration-path", "Litware")],
            "notes": [],
        },
        id="lite-customer-outgrowing-lite-is-warned-of-no-migration",
    ),
    pytest.param(
        "customer: Litware\nexisting_solution: resource-non-stocked\nrequirements: [revenue-recognition]\n",
        {
            "deployments": ["resource-non-stocked"],
            "entities": {"Litware": ("resource-non-stocked", [])},
            "warnings": [],
            "notes": [],
        },
        id="customer-staying-on-its-type-gets-no-migration-warning",
    ),
    pytest.param(
        "customer: Litware\nbudget: small\nrequirements: [time-tracking]\n",
        {
            "deployments": ["lite"],
            "entities": {"Litware": ("lite", [])},
            "warnings": [("low-fit", None)],
            "notes": [("lite-is-final", "Litware", None)],
        },
        id="small-budget-warns-low-fit-and-still-gives-the-plan",
    ),
    pytest.param(
        "customer: Litware\npm_maturity: low\nplans_finance: true\n",
        {
            "deployments": ["resource-non-stocked"],
            "entities": {"Litware": ("resource-non-stocked", [])},
            "warnings": [("low-fit", None)],
            "notes": [],
        },
        id="low-maturity-warns-low-fit",
    ),
    pytest.param(
        "customer: Contoso\nregion: united-kingdom\nlegal_entities:\n  - {name: US, region: united-states}\n"
        "  - {name: UK}\n",
        {
            "deployments": ["lite"],
            "entities": {"US": ("lite", []), "UK": ("lite", [])},
            "warnings": [],
            "notes": [
                ("lite-is-final", "UK", None),
                ("lite-is-final", "US", None),
                ("region-availability", None, "united-kingdom"),
                ("region-availability", None, "united-states"),
            ],
        },
        id="region-notes-per-distinct-region",
    ),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("facts", "expected"), CASES)
def test_built_in_decisions(kb: KnowledgeBase, facts: str, expected: dict[str, Any], engine: str) -> None:
    import textwrap

    assert summary(evaluate(kb, textwrap.dedent(facts), engine)) == expected


@pytest.mark.parametrize(("facts", "expected"), CASES)
def test_both_engines_give_identical_output(kb: KnowledgeBase, facts: str, expected: dict[str, Any]) -> None:
    import textwrap

    durable = evaluate(kb, textwrap.dedent(facts), "durable")
    reference = evaluate(kb, textwrap.dedent(facts), "reference")
    durable.pop("engine")
    reference.pop("engine")
    assert durable == reference


def test_low_fit_names_the_lighter_alternatives(kb: KnowledgeBase) -> None:
    result = evaluate(kb, "customer: Litware\nbudget: small\npm_maturity: low\n")
    (warning,) = result["warnings"]
    assert warning["code"] == "low-fit"
    assert "Project for the web" in warning["message"]
    assert "Project Online (Project Web App)" in warning["message"]
    assert warning["source"] == "003_93bb5cf298cac590.txt#what-project-operations-is-not"


def test_low_fit_on_the_current_knowledge_names_planner_as_project_online_retires(current_kb: KnowledgeBase) -> None:
    # policies/editions/docs-2026-08/fit.yaml: low-pm-maturity supersedes the seed's, and Project Online retires.
    result = evaluate(current_kb, "customer: Litware\npm_maturity: low\n")
    assert [r["rule"] for r in result["warnings"][0].pop("rules")] == ["low-pm-maturity"]
    assert result["warnings"] == [{
        "code": "low-fit",
        "message": "With a low project-management maturity Project Operations may be too big a step; start with "
        "Planner (premium plans, the former Project for the web) and come back to it later.",
        "rule": "low-pm-maturity",
        "source": "003_93bb5cf298cac590.txt#recommendations-on-when-to-use-project-operations",
    }]
    assert [(n["code"], n["message"]) for n in result["notes"] if n["code"] == "project-online-retired"] == [(
        "project-online-retired",
        "Project Online retires on 2026-09-30: the lighter starting points are Planner (premium plans, the former "
        "Project for the web), and Teams or SharePoint lists.",
    )]


def test_promotion_says_why(kb: KnowledgeBase) -> None:
    result = evaluate(
        kb, "customer: A\nlegal_entities:\n  - {name: S}\n  - {name: F, requirements: [production-orders]}\n"
    )
    (warning,) = result["warnings"]
    assert [(r["rule"], r["explanation"]) for r in warning.pop("rules")] == [
        ("lite-joins-finance-environment", warning["message"])
    ]
    assert warning == {
        "code": "entity-promoted",
        "message": "S would fit Lite deployment - deal to proforma invoicing on its own, but F needs Project "
        "Operations for stocked/production order scenarios, which runs on Dynamics 365 Finance; legal entities share "
        "one environment, so S takes Project Operations for resource/non-stocked scenarios.",
        "entity": "S",
        "type": "resource-non-stocked",
        "rule": "lite-joins-finance-environment",
        "source": "000_cd059b2c5f1fbec9.txt#deployment-types",
    }


def test_gap_warning_names_entity_type_and_capability(kb: KnowledgeBase) -> None:
    result = evaluate(kb, "customer: F\nrequirements: [production-orders, subcontracting]\n")
    (warning,) = result["warnings"]
    assert warning["code"] == "capability-gap"
    assert (warning["entity"], warning["type"], warning["capability"]) == ("F", "stocked-production", "subcontracting")


def test_contoso_example_file_matches_the_seed(kb: KnowledgeBase) -> None:
    decision = evaluation.evaluate(kb, load_facts(kb, str(ROOT / "examples" / "contoso.yaml")))
    assert [(e.name, e.deployment, e.gaps) for e in decision.entities] == [
        ("Contoso Manufacturing United States", "stocked-production", []),
        ("Contoso Robotics United Kingdom", "resource-non-stocked", []),
    ]
    assert decision.deployments == ["resource-non-stocked", "stocked-production"]


def test_every_trace_step_names_rule_location_matched_facts_and_source(kb: KnowledgeBase) -> None:
    result = evaluate(kb, (ROOT / "examples" / "contoso.yaml").read_text())
    assert result["trace"], "a recommendation without a trace is a bug"
    for step in result["trace"]:
        assert step["location"].startswith("policies/") and step["location"].count(":") == 2
        assert step["source"]
        assert step["matched"] or step["absent"]
        for fact in step["matched"]:
            assert ("location" in fact) != ("step" in fact)
            if "step" in fact:
                assert fact["step"] < step["step"]


def test_why_not_gives_first_reason_for_each_type_not_chosen(kb: KnowledgeBase) -> None:
    facts = read_facts(
        kb, parse_document("customer: F\nrequirements: [project-sales]\nplans_finance: true\n", "f.yaml")
    )
    decision = evaluation.evaluate(kb, facts)
    reasons = dict(why_not(decision, decision.entities[0]))
    assert set(reasons) == {"lite", "stocked-production"}
    assert reasons["lite"].startswith("The customer plans to adopt Dynamics 365 Finance")
    assert "(rule finance-later-rules-out-lite, policies/choosing.yaml:" in reasons["lite"]
    assert reasons["stocked-production"] == (
        "F needs project sales on Dynamics 365 Sales, which Project Operations for stocked/production order "
        "scenarios does not offer. (rule type-lacks-capability, "
        'policies/choosing.yaml:9:5, "Determine your deployment type" (2023-11-06), section "Deployment types")'
    )


def test_every_capability_of_the_seed_is_offered_as_the_seed_lists(kb: KnowledgeBase) -> None:
    assert kb.offered("lite") == {
        "project-sales",
        "project-for-the-web-planning",
        "multidimensional-pricing",
        "resource-management",
        "time-tracking",
        "basic-expense",
        "material-usage",
        "budgeting-forecasting",
        "subcontracting",
        "proforma-invoicing",
    }
    assert kb.offered("resource-non-stocked") == kb.offered("lite") | {
        "full-expense",
        "receipt-ocr",
        "customer-facing-invoicing",
        "revenue-recognition",
    }
    assert kb.offered("stocked-production") == {
        "wbs-planning",
        "resource-management",
        "time-tracking",
        "full-expense",
        "basic-expense",
        "receipt-ocr",
        "customer-facing-invoicing",
        "proforma-invoicing",
        "revenue-recognition",
        "production-orders",
        "stocked-inventory",
    }


def test_every_policy_statement_cites_a_source(kb: KnowledgeBase) -> None:
    for rule in kb.rules:
        assert rule.source and rule.source.split("#")[0] in ("000_cd059b2c5f1fbec9.txt", "003_93bb5cf298cac590.txt"), (
            rule.id
        )
    for offer in kb.offers:
        assert offer.source.startswith("000_cd059b2c5f1fbec9.txt#")
    # one statement per seed line: 10 lite, 12 resource/non-stocked, 9 stocked/production lines
    per_type = {t: sum(1 for o in kb.offers if o.type == t) for t in kb.types}
    assert per_type == {"lite": 10, "resource-non-stocked": 12, "stocked-production": 9}


# The shipped examples that use only the seed's facts (README, "The facts file"); the others use facts that
# only the current knowledge (policies/editions/docs-2026-08) declares.
SEED_EXAMPLES = ["adatum-mixed.json", "contoso.yaml", "fabrikam-finance-later.yaml", "fabrikam-services.yaml",
                 "litware-small.yaml", "northwind-pma.yaml", "tailspin-psa.yaml"]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir())


@pytest.mark.parametrize(
    ("example", "knowledge"),
    [*((e, "built-in") for e in SEED_EXAMPLES), *((e, "current") for e in EXAMPLES)],
)
def test_every_shipped_example_evaluates_identically_on_both_engines(
    kb: KnowledgeBase, current_kb: KnowledgeBase, example: str, knowledge: str
) -> None:
    base = kb if knowledge == "built-in" else current_kb
    facts = load_facts(base, str(ROOT / "examples" / example))
    durable = decision_json(evaluation.evaluate(base, facts, engine="durable"))
    reference = decision_json(evaluation.evaluate(base, facts, engine="reference"))
    assert durable.pop("engine") == "durable" and reference.pop("engine") == "reference"
    assert durable == reference
    assert durable["trace"]


# Over the built-ins alone, each fact of the current knowledge names the edition that declares it.
EDITION_HINT = (
    " (podeploy's knowledge of 2026-08, 'docs-2026-08', declares it: leave out --as-of, or add --pack docs-2026-08"
    " or 'packs: [docs-2026-08]' to the facts file)"
)
UNKNOWN_LEDGER = "unknown-fact: 'ledger' is not a known fact" + EDITION_HINT
UNKNOWN_READY = "unknown-fact: 'process_change_ready' is not a known fact" + EDITION_HINT
CURRENT_EXAMPLES = {
    "coho-stocked.yaml": [f"5:1: {UNKNOWN_LEDGER}", f"9:1: {UNKNOWN_READY}"],
    "fourth-coffee-eto.yaml": [f"4:1: {UNKNOWN_LEDGER}", f"8:1: {UNKNOWN_READY}"],
    "lucerne-receipts.yaml": [f"4:1: {UNKNOWN_LEDGER}", f"8:1: {UNKNOWN_READY}"],
    "northwind-modern.yaml": [
        f"6:1: {UNKNOWN_LEDGER}",
        "7:1: unknown-fact: 'finance_version' is not a known fact" + EDITION_HINT,
        f"10:1: {UNKNOWN_READY}",
    ],
    "relecloud-finance.yaml": [f"4:1: {UNKNOWN_LEDGER}", f"8:1: {UNKNOWN_READY}",
                               "9:87: unknown-capability: 'intercompany-invoicing' is not a capability "
                               "(did you mean 'customer-facing-invoicing'?)"],
    "wingtip-sap.yaml": [f"5:1: {UNKNOWN_LEDGER}", f"9:1: {UNKNOWN_READY}"],
}


def test_the_examples_are_the_seed_ones_and_the_current_ones() -> None:
    assert sorted([*SEED_EXAMPLES, *CURRENT_EXAMPLES]) == EXAMPLES


@pytest.mark.parametrize(("example", "problems"), CURRENT_EXAMPLES.items())
def test_examples_of_the_current_knowledge_are_refused_by_the_built_ins_alone(
    kb: KnowledgeBase, example: str, problems: list[str]
) -> None:
    from podeploy.engine import BadInput

    path = str(ROOT / "examples" / example)
    with pytest.raises(BadInput) as refused:
        load_facts(kb, path)
    assert [str(p) for p in refused.value.problems] == [f"{path}:{problem}" for problem in problems]


def test_two_deployments_for_one_entity_are_flagged_not_hidden(kb: KnowledgeBase, tmp_path: Path) -> None:
    (tmp_path / "conflict.yaml").write_text(
        "policy: conflict\n"
        "description: A contradictory rule.\n"
        "rules:\n"
        "  - id: always-stocked\n"
        "    description: Everyone gets stocked.\n"
        "    when:\n"
        "      - entity: {name: $e}\n"
        "    then:\n"
        "      - deployment: {entity: $e, type: stocked-production}\n"
        '    explanation: "{e} gets stocked."\n'
    )
    layered = load_knowledge_base([str(tmp_path)])
    result = evaluate(layered, "customer: F\n")
    assert result["entities"][0]["deployment"] == "lite"
    conflict = result["warnings"][0]
    assert conflict["code"] == "conflicting-deployments"
    assert conflict["message"] == (
        "The policies conclude more than one deployment type for F (lite, stocked-production); Lite deployment - "
        "deal to proforma invoicing, the lightest, is shown. Fix the policies so that one rule decides."
    )


@pytest.mark.parametrize("name", ["customer", "entity", "deployment-type", "capability", "offers"])
def test_a_fact_cannot_take_the_name_of_a_predicate_every_knowledge_base_has(name: str, tmp_path: Path) -> None:
    from podeploy.engine import BadInput

    (tmp_path / "clash.yaml").write_text(
        "policy: clash\n"
        "description: A fact named like a built-in predicate.\n"
        "facts:\n"
        f"  - id: {name}\n"
        "    type: boolean\n"
        "    scope: customer\n"
        "    description: Clashes.\n"
        "    question: Does it clash?\n",
        encoding="utf-8",
    )
    with pytest.raises(BadInput) as refused:
        load_knowledge_base([str(tmp_path)])
    reason = ("is part of every facts file and cannot be declared" if name == "customer"
              else "names a predicate every knowledge base has; give the fact another id")
    assert [str(p) for p in refused.value.problems] == [f"{tmp_path}/clash.yaml:4:5: reserved-name: '{name}' {reason}"]
