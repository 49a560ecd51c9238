"""Honest unknowns: a fact left out is unknown, not "no"; what could still change the advice is said.

Open questions are found with the questionnaire's analysis: a fact is open when some answer to it (with
some answers to the other open facts) changes a legal entity's deployment or adds or removes a warning.
These tests pin the open questions of customers a consultant meets, compare the analysis with brute
force over every answer, and check that it does not depend on the process it runs in.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from podeploy.cli.main import cli
from podeploy.engine import load_knowledge_base
from podeploy.engine.analysis.openquestions import open_questions
from podeploy.engine.evaluation import evaluate as evaluation
from podeploy.engine.facts.reading import read_facts
from podeploy.engine.io.loader import parse_document
from podeploy.engine.policy.layers import edition_dirs

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SETTLED = {"existing_solution": "none", "budget": "large", "pm_maturity": "high", "process_change_ready": True}


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def evaluate(facts: dict[str, Any], *options: str) -> dict[str, Any]:
    result = invoke("evaluate", "-", "--format", "json", *options, input=json.dumps(facts))
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def asked(data: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(q["fact"], q.get("entity")) for q in data["open_questions"]]


def test_a_customer_name_alone_is_not_a_confident_recommendation() -> None:
    data = evaluate({"customer": "Nameonly"})
    assert data["entities"][0]["deployment"] == "lite"
    assert data["entities"][0]["provisional"] is True
    assert data["open_questions_complete"] is True
    # The requirements come first, then what could change the deployment, then what could change a
    # warning: every fact the rules carry to the advice is open.
    assert asked(data) == [
        ("requirements", None),
        ("plans_finance", None),
        ("existing_solution", None),
        ("ledger", None),
        ("finance_version", None),
        ("budget", None),
        ("pm_maturity", None),
        ("process_change_ready", None),
        ("region", None),
    ]
    assert data["open_questions"][0] == {
        "fact": "requirements",
        "question": "Which Project Operations capabilities does the customer need?",
        "could_change": [
            "deployment",
            "capability-gap",
            "entity-promoted",
            "finance-pma-continue",
            "inventory-reservation-version",
            "item-requirements-version",
            "ledger-outside-finance",
            "no-migration-path",
            "pma-modern-architecture",
            "psa-upgrade",
            "receipt-ocr-unavailable",
        ],
    }
    text = invoke("evaluate", "-", input='{"customer": "Nameonly"}').stdout
    assert "Open questions that could change this advice:\n  - Which Project Operations capabilities" in text
    assert "  Nameonly  lite  (Project Operations Core)  provisional\n" in text


def test_a_customer_who_answered_everything_that_matters_has_no_open_question() -> None:
    facts = {"customer": "Relecloud", "ledger": "dynamics-365-finance", **SETTLED,
             "requirements": ["project-sales", "customer-facing-invoicing"]}
    data = evaluate(facts)
    assert data["open_questions"] == []
    assert data["open_questions_complete"] is True
    assert data["entities"][0]["provisional"] is False
    text = invoke("evaluate", "-", input=json.dumps(facts)).stdout
    assert "Open questions" not in text and "provisional" not in text


def test_the_books_are_asked_when_they_decide_the_type() -> None:
    data = evaluate({"customer": "Relecloud", **SETTLED, "requirements": ["customer-facing-invoicing"]})
    assert data["open_questions"] == [
        {
            "fact": "ledger",
            "question": "After go-live, which system keeps the books (ledger, receivables, tax) - Dynamics 365 "
            "Finance, another ERP, or none?",
            "could_change": ["deployment", "ledger-outside-finance"],
        }
    ]
    assert data["entities"][0]["provisional"] is True


@pytest.mark.parametrize(
    ("requirements", "region_open"),
    [(["receipt-ocr", "full-expense"], True), (["full-expense"], False)],
    ids=["receipt-scanning-needed", "no-receipt-scanning"],
)
def test_the_region_is_open_only_where_receipt_scanning_makes_it_matter(
    requirements: list[str], region_open: bool
) -> None:
    data = evaluate({"customer": "Lucerne", "ledger": "dynamics-365-finance", **SETTLED, "requirements": requirements})
    assert asked(data) == ([("region", None)] if region_open else [])
    if region_open:
        assert data["open_questions"][0]["could_change"] == ["receipt-ocr-unavailable"]
        # A warning, not the deployment: the recommendation itself is settled.
        assert data["entities"][0]["provisional"] is False


def test_a_warning_already_raised_needs_no_more_reasons() -> None:
    # A small budget raises low-fit: maturity and readiness can no longer add or remove it.
    data = evaluate({"customer": "Litware", "ledger": "other-erp", "existing_solution": "none", "budget": "small",
                     "requirements": ["time-tracking"]})
    assert asked(data) == []


def test_open_questions_are_per_legal_entity_and_mark_only_the_entities_they_can_move() -> None:
    data = evaluate({
        "customer": "Contoso",
        **SETTLED,
        "requirements": ["customer-facing-invoicing"],
        "legal_entities": [{"name": "Contoso US"}, {"name": "Contoso Brazil", "ledger": "other-erp"}],
    })
    assert asked(data) == [("ledger", "Contoso US")]
    assert data["open_questions"][0]["question"].startswith("Contoso US: After go-live, which system keeps")
    assert {e["name"]: e["provisional"] for e in data["entities"]} == {"Contoso US": True, "Contoso Brazil": False}


def test_asked_and_unknown_stays_open_and_a_given_fact_cannot_also_be_unknown() -> None:
    facts = {"customer": "Relecloud", "ledger": "dynamics-365-finance", **SETTLED,
             "requirements": ["project-sales"], "unknown": ["budget"]}
    del facts["budget"]
    assert asked(evaluate(facts)) == [("budget", None)]
    facts["budget"] = "large"
    result = invoke("evaluate", "-", input=json.dumps(facts))
    assert result.exit_code == 2
    assert result.stderr == "<stdin>:1:190: contradiction: 'budget' is given here and also listed as unknown\n"


def test_a_capability_asked_and_not_known_is_open_while_the_rest_of_the_list_is_complete() -> None:
    facts = {"customer": "Lucerne", "ledger": "dynamics-365-finance", "region": "brazil", **SETTLED,
             "requirements": ["full-expense"], "unknown": ["receipt-ocr"]}
    data = evaluate(facts)
    assert asked(data) == [("requirements", None)]
    assert data["open_questions"][0]["could_change"] == ["receipt-ocr-unavailable"]


def test_under_the_seeds_the_defaults_answer_what_the_seeds_defaulted() -> None:
    data = evaluate({"customer": "Fabrikam", "budget": "medium", "pm_maturity": "high",
                     "requirements": ["time-tracking", "proforma-invoicing"]}, "--as-of", "2023-11")
    # existing_solution and plans_finance have the seeds' defaults, yet their answer could still change the advice.
    assert asked(data) == [("existing_solution", None), ("plans_finance", None)]
    contoso = invoke("evaluate", str(EXAMPLES / "contoso.yaml"), "--format", "json", "--as-of", "2023-11")
    assert json.loads(contoso.stdout)["open_questions"] == []


# -- exactness --------------------------------------------------------------------------------------------

BRUTE = {
    "ledger": ["dynamics-365-finance", "other-erp", "none", None],
    "existing_solution": ["none", "project-service-automation", "finance-project-management", "lite", None],
    "finance_version": ["10.0.42", "10.0.44", "10.0.46", None],
    "region": ["japan", "germany", None],
    "budget": ["small", "large", None],
}


def advice_of(kb: Any, facts: dict[str, Any]) -> tuple[Any, ...]:
    facts_input = read_facts(kb, parse_document(json.dumps(facts), "brute.json"))
    decision = evaluation.evaluate(kb, facts_input, engine="reference")
    return (tuple(e.deployment for e in decision.entities), frozenset(n.fact for n in decision.warnings))


@pytest.mark.parametrize(
    "requirements",
    [["customer-facing-invoicing"], ["stocked-inventory", "receipt-ocr"], ["project-for-the-web-planning", "grants"]],
)
def test_open_questions_match_brute_force_over_every_answer(requirements: list[str]) -> None:
    """A fact is open exactly when two answers to it, the other open facts answered alike, advise differently."""
    kb = load_knowledge_base(edition_dirs())
    base = {"customer": "Woodgrove", "requirements": requirements, "pm_maturity": "high", "process_change_ready": True,
            "plans_finance": False}
    facts = read_facts(kb, parse_document(json.dumps(base), "base.json"))
    found = {q.fact for q in open_questions(kb, facts).questions}
    names = list(BRUTE)
    outcomes: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for combo in itertools.product(*(BRUTE[n] for n in names)):
        doc = dict(base)
        doc.update({n: v for n, v in zip(names, combo, strict=True) if v is not None})
        outcomes[combo] = advice_of(kb, doc)
    truly = set()
    for i, name in enumerate(names):
        for combo, got in outcomes.items():
            for other in BRUTE[name]:
                if outcomes[(*combo[:i], other, *combo[i + 1 :])] != got:
                    truly.add(name)
    assert found == truly


def test_open_questions_come_in_the_same_order_in_every_process(tmp_path: Path) -> None:
    facts = tmp_path / "adatum.json"
    entities = [
        {"name": "Factory", "requirements": ["production-orders"]},
        {"name": "Services", "requirements": ["time-tracking"]},
    ]
    facts.write_text(json.dumps({"customer": "Adatum", "legal_entities": entities}))
    seen = set()
    for seed in ("0", "1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-m", "podeploy", "evaluate", str(facts), "--format", "json"],
                             capture_output=True, text=True, env=env, check=True)
        seen.add(json.dumps(json.loads(run.stdout)["open_questions"]))
    assert len(seen) == 1
