"""The commands a consultant types, on the shipped example and on small facts files: exact output, exit 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from podeploy.cli.main import cli

from podeploy import __version__

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = ROOT / "examples" / "contoso.yaml"

WARNING_CODES = {"capability-gap", "entity-promoted", "finance-pma-continue", "psa-upgrade", "no-migration-path",
                 "low-fit"}
DEPLOYMENT_TYPES = ["lite", "resource-non-stocked", "stocked-production"]
LITE = "Lite deployment - deal to proforma invoicing"
RESOURCE = "Project Operations for resource/non-stocked scenarios"
STOCKED = "Project Operations for stocked/production order scenarios"

REGION_NOTE = ("Check Microsoft's geographical availability report (Dynamics 365, Operations Apps, Project Operations) "
               "for {region} before provisioning.")
SHARED_NOTE = ("Stocked/production order and resource/non-stocked legal entities share one environment: the scenario "
               "is chosen per legal entity in Dynamics 365 Finance, not per environment.")
SHARED_NOTE_NOW = ("Legal entities on Project Operations for manufacturing and on Project Operations Integrated with "
                   "ERP share one environment: the scenario is chosen per legal entity in Dynamics 365 Finance, not "
                   "per environment.")
LITE_IS_FINAL = ("{entity} gets " + LITE + "; there is no out-of-box migration from " + LITE
                 + " to a Finance-based type, so if Dynamics 365 Finance may come later, choose " + RESOURCE + " now.")
LACKS = "{entity} needs {capability}, which {type} does not offer."
TAILSPIN_GAP = (f"Tailspin needs project sales on Dynamics 365 Sales, which {STOCKED} does not offer: plan an "
                "extension, a partner solution or a process change for it.")
# Sources are shown by their titles (policies/sources.yaml), never by their file names.
SEED_SECTION = '"Determine your deployment type" (2023-11-06), section "Deployment types"'
TYPE_LACKS_RULE = f"(rule type-lacks-capability, policies/choosing.yaml:9:5, {SEED_SECTION})"
LIGHTEST = "{type} is the lightest deployment type still open that offers everything {entity} needs."
LIGHTER = "{type} is lighter and already offers everything {entity} needs."  # why not a heavier type
LIGHTEST_RULE = f"(rule lightest-covering-type, policies/choosing.yaml:69:5, {SEED_SECTION})"

# The knowledge editions: the seeds alone (--as-of 2023-11), and the default (the seeds + docs-2026-08).
SEED = ("--as-of", "2023-11")
SEED_TITLE = ('The seeds, read literally: Microsoft Learn, "Determine your deployment type" (2023-11-06), and '
              'Advisicon, "What is Dynamics 365 Project Operations?" (2023-09)')
DOCS_TITLE = "Microsoft's Dynamics 365 Project Operations documentation, as read on 2026-08-21"
KNOWLEDGE_SEED = f"Knowledge: built-in, as of 2023-11 ({SEED_TITLE})"
KNOWLEDGE_CURRENT = f"{KNOWLEDGE_SEED}; docs-2026-08, as of 2026-08 ({DOCS_TITLE})"
SEED_KNOWLEDGE_JSON = [{"layer": "built-in", "as_of": "2023-11", "title": SEED_TITLE}]
CURRENT_KNOWLEDGE_JSON = [*SEED_KNOWLEDGE_JSON, {"layer": "docs-2026-08", "as_of": "2026-08", "title": DOCS_TITLE}]
CORE = "Project Operations Core"
INTEGRATED = "Project Operations Integrated with ERP"
MANUFACTURING = "Project Operations for manufacturing"
SEED_NAMES = {"lite": LITE, "resource-non-stocked": RESOURCE, "stocked-production": STOCKED}
NAMES_NOW = {"lite": CORE, "resource-non-stocked": INTEGRATED, "stocked-production": MANUFACTURING}


def deployed(names: dict[str, str], *types: str) -> str:
    """The summary line of the environment's deployments: each type by its name, its id beside it."""
    return "Deployments on the environment: " + ", ".join(f"{names[t]} ({t})" for t in types)


# The seed's questions (policies/vocabulary.yaml), as open questions.
OPEN_QUESTIONS = "Open questions that could change this advice:"
Q_REQUIREMENTS = "Which Project Operations capabilities does the customer need?"
Q_EXISTING = ("Does the customer already run Project Service Automation, Finance's Project management and accounting, "
              "or a Project Operations deployment?")
Q_PLANS_FINANCE = "Will the customer adopt Dynamics 365 Finance later, even if not now?"
Q_BUDGET = "Is the customer's budget for the project system small, medium or large? (could change: warning low-fit)"
Q_MATURITY = ("How mature is the customer's project-management practice (low, medium, high)? "
              "(could change: warning low-fit)")
# The documentation's (policies/editions/docs-2026-08/vocabulary.yaml).
Q_LEDGER = ("After go-live, which system keeps the books (ledger, receivables, tax) - Dynamics 365 Finance, another "
            "ERP, or none?")
Q_READY = ("Is the customer ready to align and improve its processes around Project Operations? "
           "(could change: warning low-fit)")
FINANCE_REQUIRED = ("{type} runs on Dynamics 365 Finance, which becomes the ERP of {entity}, keeping its ledger, "
                    "receivables and tax: the plan includes adopting and licensing Finance (another ERP would mean "
                    "Project Operations Core instead).")
FINANCE_REGION = ("{entity} runs on Dynamics 365 Finance: check in the same report that Finance, not only Project "
                  "Operations, is offered in {region}.")


# Capabilities as a customer reads them (policies/capabilities.yaml).
CAPABILITY = {"customer-facing-invoicing": "customer-facing invoicing", "production-orders": "production orders",
              "project-sales": "project sales on Dynamics 365 Sales"}


def lacks(entity: str, capability: str, type_id: str, names: dict[str, str] = SEED_NAMES) -> str:
    """The explanation of rule type-lacks-capability, in the customer's words."""
    return LACKS.format(entity=entity, capability=CAPABILITY[capability], type=names[type_id])


def lacks_reason(entity: str, capability: str, type_id: str) -> str:
    """The why-not reason of rule type-lacks-capability."""
    return f"{lacks(entity, capability, type_id)} {TYPE_LACKS_RULE}"


def not_line(type_id: str, names: dict[str, str] = SEED_NAMES) -> str:
    """The start of a why-not line of `why`: the type, its name beside it."""
    return f"  not {type_id} ({names[type_id]}): "


# Small facts files, each showing one of the contract's decision rules.
FACTS = {
    "fabrikam-new.yaml": "customer: Fabrikam\n",
    "tailspin-gap.yaml": "customer: Tailspin\nrequirements: [production-orders, project-sales]\n",
    "adatum-promoted.yaml": (
        "customer: Adatum\nlegal_entities:\n  - name: Adatum Services\n  - name: Adatum Factory\n"
        "    requirements: [production-orders]\n"
    ),
    "litware-psa.yaml": (
        "customer: Litware\nexisting_solution: project-service-automation\nrequirements: [customer-facing-invoicing]\n"
    ),
    "northwind-pma.yaml": "customer: Northwind\nexisting_solution: finance-project-management\n",
    "fabrikam-finance-later.yaml": "customer: Fabrikam\nplans_finance: true\n",
    "litware-small.yaml": "customer: Litware\nbudget: small\npm_maturity: low\n",
    "woodgrove-moves.yaml": "customer: Woodgrove\nexisting_solution: lite\nrequirements: [revenue-recognition]\n",
    "adatum.json": (
        '{"customer": "Adatum", "requirements": ["receipt-ocr"],\n'
        ' "legal_entities": [{"name": "Adatum Services", "region": "france"}]}\n'
    ),
}

GOOD_POLICY = """\
policy: consultant-extras
description: A consultant's own checks.
codes:
  - {id: large-budget, kind: note, description: A large budget leaves room for extensions.}
rules:
  - id: large-budget-room
    description: A large budget leaves room for extensions.
    when:
      - budget: large
    then:
      - note: {code: large-budget}
    explanation: With a large budget there is room to extend the deployment.
"""


@pytest.fixture
def facts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding the small facts files, named as in FACTS."""
    for name, text in FACTS.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def ok(*args: str) -> str:
    """Run a command that must succeed silently on stderr; its stdout."""
    result = invoke(*args)
    assert result.stderr == ""
    assert result.exit_code == 0
    return result.stdout


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--format", "json"))


def lines_from(text: str, *starts: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(starts)]


# -- evaluate, text ------------------------------------------------------------------------------------


def test_evaluate_contoso_prints_one_deployment_per_legal_entity() -> None:
    assert ok("evaluate", *SEED, str(CONTOSO)) == "\n".join([
        "Customer: Contoso",
        KNOWLEDGE_SEED,
        deployed(SEED_NAMES, "resource-non-stocked", "stocked-production"),
        "",
        f"  Contoso Manufacturing United States  stocked-production  ({STOCKED})",
        f"  Contoso Robotics United Kingdom      resource-non-stocked  ({RESOURCE})",
        "",
        "Notes:",
        "  - region-availability: " + REGION_NOTE.format(region="the United States"),
        "  - region-availability: " + REGION_NOTE.format(region="the United Kingdom"),
        "  - shared-environment: " + SHARED_NOTE,
        "",
        "24 rule firings; run 'podeploy why' for the reasoning.",
        "",
    ])


def test_evaluate_contoso_on_the_current_knowledge_leaves_the_books_open() -> None:
    us, uk = "Contoso Manufacturing United States", "Contoso Robotics United Kingdom"
    ledger_could_change = "(could change: the deployment, warning ledger-outside-finance)"
    assert ok("evaluate", str(CONTOSO)) == "\n".join([
        "Customer: Contoso",
        KNOWLEDGE_CURRENT,
        deployed(NAMES_NOW, "resource-non-stocked", "stocked-production"),
        "",
        OPEN_QUESTIONS,
        f"  - {us}: {Q_LEDGER} {ledger_could_change}",
        f"  - {uk}: {Q_LEDGER} {ledger_could_change}",
        f"  - {Q_READY}",
        "",
        f"  {us}  stocked-production  ({MANUFACTURING})  provisional",
        f"  {uk}      resource-non-stocked  ({INTEGRATED})  provisional",
        "",
        "Notes:",
        "  - region-availability: " + REGION_NOTE.format(region="the United States") + " "
        + FINANCE_REGION.format(entity=us, region="the United States"),
        "  - region-availability: " + REGION_NOTE.format(region="the United Kingdom") + " "
        + FINANCE_REGION.format(entity=uk, region="the United Kingdom"),
        f"  - finance-required [{us}]: " + FINANCE_REQUIRED.format(type=MANUFACTURING, entity=us),
        f"  - finance-required [{uk}]: " + FINANCE_REQUIRED.format(type=INTEGRATED, entity=uk),
        # Drawn once from the types the environment runs, after each entity's deployment (docs-2026-08).
        "  - shared-environment: " + SHARED_NOTE_NOW,
        "",
        "36 rule firings; run 'podeploy why' for the reasoning.",
        "",
    ])


def test_evaluate_without_legal_entities_names_the_entity_after_the_customer(facts_dir: Path) -> None:
    # No requirements anywhere: they, and every fact that could change the advice, are open questions.
    assert ok("evaluate", *SEED, "fabrikam-new.yaml") == "\n".join([
        "Customer: Fabrikam",
        KNOWLEDGE_SEED,
        deployed(SEED_NAMES, "lite"),
        "",
        OPEN_QUESTIONS,
        f"  - {Q_REQUIREMENTS} (could change: the deployment, warning capability-gap, warning entity-promoted, "
        "warning no-migration-path)",
        f"  - {Q_EXISTING} (could change: the deployment, warning capability-gap, warning entity-promoted, "
        "warning finance-pma-continue, warning no-migration-path, warning psa-upgrade)",
        f"  - {Q_PLANS_FINANCE} (could change: the deployment, warning capability-gap, warning entity-promoted, "
        "warning no-migration-path)",
        f"  - {Q_BUDGET}",
        f"  - {Q_MATURITY}",
        "",
        f"  Fabrikam  lite  ({LITE})  provisional",
        "",
        "Notes:",
        "  - lite-is-final [Fabrikam]: " + LITE_IS_FINAL.format(entity="Fabrikam"),
        "",
        "6 rule firings; run 'podeploy why' for the reasoning.",
        "",
    ])


def test_evaluate_lists_the_gaps_under_the_entity_and_warns_of_each(facts_dir: Path) -> None:
    # The open questions could change warnings only: the entity is not provisional, and they come in the
    # vocabulary's order.
    assert ok("evaluate", *SEED, "tailspin-gap.yaml") == "\n".join([
        "Customer: Tailspin",
        KNOWLEDGE_SEED,
        deployed(SEED_NAMES, "stocked-production"),
        "",
        OPEN_QUESTIONS,
        f"  - {Q_EXISTING} (could change: warning finance-pma-continue, warning no-migration-path, "
        "warning psa-upgrade)",
        f"  - {Q_BUDGET}",
        f"  - {Q_MATURITY}",
        "",
        f"  Tailspin  stocked-production  ({STOCKED})",
        "            gaps: project-sales",
        "",
        "Warnings:",
        "  - capability-gap [Tailspin]: " + TAILSPIN_GAP,
        "",
        "9 rule firings; run 'podeploy why' for the reasoning.",
        "",
    ])


def test_evaluate_says_why_a_lite_entity_is_promoted(facts_dir: Path) -> None:
    # The question that could change a deployment first, then those that could change only a warning.
    assert ok("evaluate", *SEED, "adatum-promoted.yaml") == "\n".join([
        "Customer: Adatum",
        KNOWLEDGE_SEED,
        deployed(SEED_NAMES, "resource-non-stocked", "stocked-production"),
        "",
        OPEN_QUESTIONS,
        f"  - {Q_EXISTING} (could change: the deployment, warning entity-promoted, warning finance-pma-continue, "
        "warning no-migration-path, warning psa-upgrade)",
        f"  - {Q_PLANS_FINANCE} (could change: warning entity-promoted)",
        f"  - {Q_BUDGET}",
        f"  - {Q_MATURITY}",
        "",
        f"  Adatum Services  resource-non-stocked  ({RESOURCE})  provisional",
        f"  Adatum Factory   stocked-production  ({STOCKED})",
        "",
        "Warnings:",
        f"  - entity-promoted [Adatum Services]: Adatum Services would fit {LITE} on its own, but Adatum Factory "
        f"needs {STOCKED}, which runs on Dynamics 365 Finance; legal entities share one environment, so Adatum "
        f"Services takes {RESOURCE}.",
        "",
        "Notes:",
        "  - shared-environment: " + SHARED_NOTE,
        "",
        "13 rule firings; run 'podeploy why' for the reasoning.",
        "",
    ])


def test_evaluate_promotes_a_core_entity_only_while_its_books_may_be_in_finance(facts_dir: Path) -> None:
    # The current knowledge: with the books of each entity unknown, the promotion is provisional.
    text = ok("evaluate", "adatum-promoted.yaml")
    assert lines_from(text, "Knowledge:", "  Adatum", "  - entity-promoted") == [
        KNOWLEDGE_CURRENT,
        f"  Adatum Services  resource-non-stocked  ({INTEGRATED})  provisional",
        f"  Adatum Factory   stocked-production  ({MANUFACTURING})  provisional",
        "  - entity-promoted [Adatum Services]: Adatum Services would fit Project Operations Core on its own, but "
        f"another legal entity needs {MANUFACTURING} on Dynamics 365 Finance; as Finance keeps or may keep its "
        "books too, it joins the Finance-connected environment on Integrated with ERP rather than a Core "
        "environment of its own.",
    ]
    assert lines_from(text, "  - Adatum Services: After go-live") == [
        f"  - Adatum Services: {Q_LEDGER} (could change: the deployment, warning entity-promoted, "
        "warning finance-pma-continue, warning no-migration-path, warning psa-upgrade)",
    ]
    # Once the books of Adatum Services are known to stay in another ERP, it keeps a Core environment of its own.
    (facts_dir / "adatum-books-elsewhere.yaml").write_text(
        FACTS["adatum-promoted.yaml"].replace("  - name: Adatum Services\n",
                                              "  - name: Adatum Services\n    ledger: other-erp\n")
    )
    books_elsewhere = ok_json("evaluate", "adatum-books-elsewhere.yaml")
    assert [(e["name"], e["deployment"]) for e in books_elsewhere["entities"]] == [
        ("Adatum Services", "lite"), ("Adatum Factory", "stocked-production"),
    ]
    assert [w["code"] for w in books_elsewhere["warnings"]] == []
    assert ("separate-core-environment", "Adatum Services") in [
        (n["code"], n.get("entity")) for n in books_elsewhere["notes"]
    ]


@pytest.mark.parametrize("as_of", [SEED, ()], ids=["seed", "current"])
def test_open_questions_come_in_the_same_order_in_every_process(facts_dir: Path, as_of: tuple[str, ...]) -> None:
    # Budget and maturity fall into a group of their own: the groups' order must not follow string hashing.
    outputs = {
        subprocess.run([sys.executable, "-m", "podeploy", "evaluate", *as_of, "adatum-promoted.yaml"],
                       capture_output=True, timeout=60, env={**os.environ, "PYTHONHASHSEED": seed},
                       check=True).stdout.decode()
        for seed in ("0", "1")
    }
    assert len(outputs) == 1, outputs
    [text] = outputs
    assert OPEN_QUESTIONS in text.splitlines()


def test_evaluate_warns_existing_lite_customer_there_is_no_migration(facts_dir: Path) -> None:
    assert ok("evaluate", *SEED, "woodgrove-moves.yaml") == "\n".join([
        "Customer: Woodgrove",
        KNOWLEDGE_SEED,
        deployed(SEED_NAMES, "resource-non-stocked"),
        "",
        OPEN_QUESTIONS,
        f"  - {Q_BUDGET}",
        f"  - {Q_MATURITY}",
        "",
        f"  Woodgrove  resource-non-stocked  ({RESOURCE})",
        "",
        "Warnings:",
        f"  - no-migration-path [Woodgrove]: Woodgrove would move from {LITE} to {RESOURCE}; there is no "
        "out-of-box migration of data between deployment types: budget for custom scripts, mapping and manual work.",
        "",
        "8 rule firings; run 'podeploy why' for the reasoning.",
        "",
    ])


def test_evaluate_output_has_no_colour_codes_when_not_a_terminal() -> None:
    assert "\x1b[" not in ok("evaluate", str(CONTOSO))


# -- evaluate, JSON ------------------------------------------------------------------------------------


def test_evaluate_json_of_contoso_has_customer_deployments_and_entities() -> None:
    data = ok_json("evaluate", *SEED, str(CONTOSO))
    assert data["customer"] == "Contoso"
    assert data["deployments"] == ["resource-non-stocked", "stocked-production"]
    assert [(e["name"], e["deployment"], e["gaps"], e["provisional"]) for e in data["entities"]] == [
        ("Contoso Manufacturing United States", "stocked-production", [], False),
        ("Contoso Robotics United Kingdom", "resource-non-stocked", [], False),
    ]
    assert [e["deployment_name"] for e in data["entities"]] == [STOCKED, RESOURCE]
    assert data["warnings"] == []
    assert [(n["code"], n.get("about")) for n in data["notes"]] == [
        ("region-availability", "united-states"), ("region-availability", "united-kingdom"),
        ("shared-environment", None),
    ]
    assert data["open_questions"] == []
    assert data["open_questions_complete"] is True
    assert data["knowledge"] == SEED_KNOWLEDGE_JSON
    assert data["engine"] == "durable"
    assert len(data["trace"]) == 24


def test_evaluate_json_of_contoso_on_the_current_knowledge_has_open_questions() -> None:
    us, uk = "Contoso Manufacturing United States", "Contoso Robotics United Kingdom"
    data = ok_json("evaluate", str(CONTOSO))
    assert data["deployments"] == ["resource-non-stocked", "stocked-production"]
    assert [(e["name"], e["deployment"], e["deployment_name"], e["gaps"], e["provisional"])
            for e in data["entities"]] == [
        (us, "stocked-production", MANUFACTURING, [], True),
        (uk, "resource-non-stocked", INTEGRATED, [], True),
    ]
    assert data["warnings"] == []
    assert [(n["code"], n.get("entity"), n.get("about"), n["rule"]) for n in data["notes"]] == [
        ("region-availability", None, "united-states", "check-region-availability"),
        ("region-availability", None, "united-kingdom", "check-region-availability"),
        ("finance-required", us, None, "finance-is-the-erp"),
        ("finance-required", uk, None, "finance-is-the-erp"),
        ("shared-environment", None, None, "stocked-and-non-stocked-share-environment"),
    ]
    assert data["open_questions"] == [
        {"fact": "ledger", "entity": us, "question": f"{us}: {Q_LEDGER}",
         "could_change": ["deployment", "ledger-outside-finance"]},
        {"fact": "ledger", "entity": uk, "question": f"{uk}: {Q_LEDGER}",
         "could_change": ["deployment", "ledger-outside-finance"]},
        {"fact": "process_change_ready",
         "question": "Is the customer ready to align and improve its processes around Project Operations?",
         "could_change": ["low-fit"]},
    ]
    assert data["open_questions_complete"] is True
    assert data["knowledge"] == CURRENT_KNOWLEDGE_JSON
    assert len(data["trace"]) == 36


def test_evaluate_json_trace_steps_name_their_rule_and_where_it_is() -> None:
    trace = ok_json("evaluate", *SEED, str(CONTOSO))["trace"]
    assert [step["step"] for step in trace] == list(range(len(trace)))
    first = trace[0]
    assert first["rule"] == "type-lacks-capability"
    assert first["location"] == "policies/choosing.yaml:9:5"
    assert first["layer"] == "built-in"
    assert first["explanation"] == lacks("Contoso Manufacturing United States", "customer-facing-invoicing", "lite")
    assert first["matched"][0] == {
        "fact": "requirements",
        "values": {"entity": "Contoso Manufacturing United States", "value": "customer-facing-invoicing"},
        "location": f"{CONTOSO}:4:16",
    }
    assert first["absent"] == ["offers(type: lite, capability: customer-facing-invoicing)"]
    assert not any("supersedes" in step for step in trace)


def test_evaluate_json_trace_step_of_a_documentation_rule_names_the_seed_rule_it_supersedes(
    facts_dir: Path,
) -> None:
    trace = ok_json("evaluate", "adatum-promoted.yaml")["trace"]
    [step] = [s for s in trace if "supersedes" in s]
    assert (step["rule"], step["location"], step["layer"], step["source"], step["supersedes"]) == (
        "lite-joins-finance-environment",
        "policies/editions/docs-2026-08/environment.yaml:22:5",
        "docs-2026-08",
        "environment/resource-configure-integration-per-legal-entity.md",
        [{"rule": "lite-joins-finance-environment", "source": "000_cd059b2c5f1fbec9.txt#deployment-types"}],
    )
    assert step["concluded"][1] == {"fact": "deployment",
                                    "values": {"entity": "Adatum Services", "type": "resource-non-stocked"}}


# Seed behaviour (--as-of 2023-11): (name, deployment, gaps, provisional) per entity, the warning codes, and the
# facts of the open questions (customer-wide ones with entity None).
JSON_CASES = [
    pytest.param("fabrikam-new.yaml", "Fabrikam", ["lite"], [("Fabrikam", "lite", [], True)], [],
                 ["requirements", "existing_solution", "plans_finance", "budget", "pm_maturity"],
                 id="new-customer-gets-lite"),
    pytest.param("tailspin-gap.yaml", "Tailspin", ["stocked-production"],
                 [("Tailspin", "stocked-production", ["project-sales"], False)], ["capability-gap"],
                 ["existing_solution", "budget", "pm_maturity"],
                 id="production-orders-decide-the-type-and-the-rest-is-a-gap"),
    pytest.param("adatum-promoted.yaml", "Adatum", ["resource-non-stocked", "stocked-production"],
                 [("Adatum Services", "resource-non-stocked", [], True),
                  ("Adatum Factory", "stocked-production", [], False)],
                 ["entity-promoted"], ["existing_solution", "plans_finance", "budget", "pm_maturity"],
                 id="lite-entity-joins-the-finance-environment"),
    pytest.param("litware-psa.yaml", "Litware", ["resource-non-stocked"],
                 [("Litware", "resource-non-stocked", [], False)], ["psa-upgrade"], ["budget", "pm_maturity"],
                 id="psa-customer-is-told-to-upgrade"),
    pytest.param("northwind-pma.yaml", "Northwind", ["stocked-production"],
                 [("Northwind", "stocked-production", [], True)], ["finance-pma-continue"],
                 ["requirements", "plans_finance", "budget", "pm_maturity"],
                 id="pma-customer-keeps-stocked-production"),
    pytest.param("fabrikam-finance-later.yaml", "Fabrikam", ["resource-non-stocked"],
                 [("Fabrikam", "resource-non-stocked", [], True)], [],
                 ["requirements", "existing_solution", "budget", "pm_maturity"], id="finance-later-rules-out-lite"),
    pytest.param("litware-small.yaml", "Litware", ["lite"], [("Litware", "lite", [], True)], ["low-fit"],
                 ["requirements", "existing_solution", "plans_finance"],
                 id="small-budget-and-low-maturity-warn-of-a-low-fit"),
    pytest.param("woodgrove-moves.yaml", "Woodgrove", ["resource-non-stocked"],
                 [("Woodgrove", "resource-non-stocked", [], False)], ["no-migration-path"], ["budget", "pm_maturity"],
                 id="changing-type-warns-there-is-no-migration"),
    pytest.param("adatum.json", "Adatum", ["resource-non-stocked"],
                 [("Adatum Services", "resource-non-stocked", [], True)], [],
                 ["existing_solution", "budget", "pm_maturity"], id="json-facts-file"),
]


@pytest.mark.parametrize(("facts", "customer", "deployments", "entities", "warnings", "open_facts"), JSON_CASES)
def test_evaluate_json_gives_the_decision(
    facts_dir: Path, facts: str, customer: str, deployments: list[str],
    entities: list[tuple[str, str, list[str], bool]], warnings: list[str], open_facts: list[str],
) -> None:
    data = ok_json("evaluate", *SEED, facts)
    assert data["customer"] == customer
    assert data["deployments"] == deployments
    assert [(e["name"], e["deployment"], e["gaps"], e["provisional"]) for e in data["entities"]] == entities
    assert [w["code"] for w in data["warnings"]] == warnings
    assert {w["code"] for w in data["warnings"]} <= WARNING_CODES
    assert data["deployments"] == sorted({e["deployment"] for e in data["entities"]})
    # the seed's facts are customer-wide: no open question names an entity; those that could change a
    # deployment come first, then those that could change only a warning, each in the vocabulary's order
    assert [(q["fact"], q.get("entity")) for q in data["open_questions"]] == [(f, None) for f in open_facts]
    assert data["open_questions_complete"] is True
    assert data["knowledge"] == SEED_KNOWLEDGE_JSON
    assert isinstance(data["trace"], list)
    assert data["trace"]


# The same facts on the current knowledge (the default): (name, deployment, gaps, provisional), warnings, notes.
CURRENT_JSON_CASES = [
    pytest.param("fabrikam-new.yaml", [("Fabrikam", "lite", [], True)], [], ["lite-is-final"],
                 id="new-customer-gets-core"),
    pytest.param("tailspin-gap.yaml", [("Tailspin", "stocked-production", [], True)], [], ["finance-required"],
                 id="project-quotations-count-as-project-sales-on-manufacturing"),
    pytest.param("adatum-promoted.yaml",
                 [("Adatum Services", "resource-non-stocked", [], True),
                  ("Adatum Factory", "stocked-production", [], True)],
                 ["entity-promoted"], ["finance-required", "finance-required", "shared-environment"],
                 id="core-entity-whose-books-may-be-in-finance-joins-the-finance-environment"),
    pytest.param("litware-psa.yaml", [("Litware", "resource-non-stocked", [], True)], ["no-migration-path"],
                 ["psa-end-of-life", "finance-required"], id="psa-upgrades-to-core-only"),
    pytest.param("northwind-pma.yaml", [("Northwind", "stocked-production", [], True)], ["finance-pma-continue"],
                 [], id="pma-customer-keeps-manufacturing"),
    pytest.param("fabrikam-finance-later.yaml", [("Fabrikam", "resource-non-stocked", [], True)], [], [],
                 id="finance-later-rules-out-core"),
    pytest.param("litware-small.yaml", [("Litware", "lite", [], True)], ["low-fit"],
                 ["project-online-retired", "lite-is-final"], id="low-fit-says-project-online-retires"),
    pytest.param("woodgrove-moves.yaml", [("Woodgrove", "resource-non-stocked", [], True)], ["no-migration-path"],
                 ["finance-required"], id="core-to-integrated-has-no-migration"),
    pytest.param("adatum.json", [("Adatum Services", "resource-non-stocked", [], True)], [],
                 ["region-availability", "receipt-ocr-english-only", "finance-required"],
                 id="receipt-ocr-reads-english-only-in-the-eu"),
]


@pytest.mark.parametrize(("facts", "entities", "warnings", "notes"), CURRENT_JSON_CASES)
def test_evaluate_json_gives_the_decision_on_the_current_knowledge(
    facts_dir: Path, facts: str, entities: list[tuple[str, str, list[str], bool]], warnings: list[str],
    notes: list[str],
) -> None:
    data = ok_json("evaluate", facts)
    assert [(e["name"], e["deployment"], e["gaps"], e["provisional"]) for e in data["entities"]] == entities
    assert [w["code"] for w in data["warnings"]] == warnings
    assert [n["code"] for n in data["notes"]] == notes
    assert data["deployments"] == sorted({e["deployment"] for e in data["entities"]})
    assert data["knowledge"] == CURRENT_KNOWLEDGE_JSON
    # every entity is provisional, so some open question could change its deployment
    assert any("deployment" in q["could_change"] for q in data["open_questions"])


def test_evaluate_json_warning_names_its_entity_type_capability_and_rule(facts_dir: Path) -> None:
    [warning] = ok_json("evaluate", *SEED, "tailspin-gap.yaml")["warnings"]
    assert warning == {
        "code": "capability-gap",
        "message": TAILSPIN_GAP,
        "entity": "Tailspin",
        "type": "stocked-production",
        "capability": "project-sales",
        "rule": "gap-in-deployment",
        "source": "000_cd059b2c5f1fbec9.txt#deployment-types",
        "rules": [
            {
                "rule": "gap-in-deployment",
                "location": "policies/environment.yaml:40:5",
                "source": "000_cd059b2c5f1fbec9.txt#deployment-types",
                "citations": [
                    {
                        "cited": "000_cd059b2c5f1fbec9.txt#deployment-types",
                        "title": "Determine your deployment type",
                        "publisher": "Microsoft Learn",
                        "date": "2023-11-06",
                        "section": "Deployment types",
                        "url": "https://learn.microsoft.com/dynamics365/project-operations/environment/"
                        "determine-deployment-type#deployment-types",
                    }
                ],
                "explanation": TAILSPIN_GAP,
            }
        ],
    }


def test_evaluate_json_entity_needs_are_shared_plus_its_own(facts_dir: Path) -> None:
    data = ok_json("evaluate", str(CONTOSO))
    assert [e["needs"] for e in data["entities"]] == [
        ["customer-facing-invoicing", "receipt-ocr", "production-orders", "stocked-inventory"],
        ["customer-facing-invoicing", "receipt-ocr", "revenue-recognition"],
    ]


# -- why ---------------------------------------------------------------------------------------------


def test_why_contoso_starts_each_entity_with_its_deployment() -> None:
    text = ok("why", str(CONTOSO))
    assert text.splitlines()[:5] == [
        "Customer: Contoso",
        KNOWLEDGE_CURRENT,
        "",
        "Contoso Manufacturing United States: stocked-production (Project Operations for manufacturing)",
        "  Decided by what rules out the lighter types:",
    ]
    assert lines_from(text, "Contoso ") == [
        "Contoso Manufacturing United States: stocked-production (Project Operations for manufacturing)",
        "Contoso Robotics United Kingdom: resource-non-stocked (Project Operations Integrated with ERP)",
    ]
    assert lines_from(text, "  deployment(") == [
        "  deployment(entity: Contoso Manufacturing United States, type: stocked-production)",
        "  deployment(entity: Contoso Robotics United Kingdom, type: resource-non-stocked)",
    ]


def test_why_contoso_says_why_each_other_type_was_not_chosen() -> None:
    us, uk = "Contoso Manufacturing United States", "Contoso Robotics United Kingdom"
    assert lines_from(ok("why", *SEED, str(CONTOSO)), "  not ") == [
        not_line("lite") + lacks_reason(us, "customer-facing-invoicing", "lite"),
        not_line("resource-non-stocked") + lacks_reason(us, "production-orders", "resource-non-stocked"),
        not_line("lite") + lacks_reason(uk, "customer-facing-invoicing", "lite"),
        not_line("stocked-production") + f"{LIGHTER.format(type=RESOURCE, entity=uk)} {LIGHTEST_RULE}",
    ]


def test_why_contoso_on_the_current_knowledge_names_the_documentation_rules() -> None:
    # type-lacks-capability is replaced by the documentation's (which counts what a Finance version adds);
    # stocked inventory comes with current Finance, production orders still rule Integrated with ERP out.
    us, uk = "Contoso Manufacturing United States", "Contoso Robotics United Kingdom"
    lacks_rule = f"(rule type-lacks-capability, policies/editions/docs-2026-08/books.yaml:86:5, {SEED_SECTION})"
    assert lines_from(ok("why", str(CONTOSO)), "  not ") == [
        not_line("lite", NAMES_NOW) + f"{lacks(us, 'customer-facing-invoicing', 'lite', NAMES_NOW)} {lacks_rule}",
        not_line("resource-non-stocked", NAMES_NOW)
        + f"{lacks(us, 'production-orders', 'resource-non-stocked', NAMES_NOW)} {lacks_rule}",
        not_line("lite", NAMES_NOW) + f"{lacks(uk, 'customer-facing-invoicing', 'lite', NAMES_NOW)} {lacks_rule}",
        not_line("stocked-production", NAMES_NOW) + f"{LIGHTER.format(type=INTEGRATED, entity=uk)} {LIGHTEST_RULE}",
    ]


def test_why_traces_the_deployment_down_to_the_facts_file() -> None:
    text = ok("why", *SEED, str(CONTOSO))
    assert "    <- step 21: rule entity-keeps-its-fit (policies/environment.yaml:29:5)  " \
           f"[{SEED_SECTION}]" in text.splitlines()
    assert f"              entity(name: Contoso Manufacturing United States)  ({CONTOSO}:11:11)" in text.splitlines()


def test_why_says_finance_later_rules_out_lite(facts_dir: Path) -> None:
    text = ok("why", *SEED, "fabrikam-finance-later.yaml")
    assert text.splitlines()[:5] == [
        "Customer: Fabrikam",
        KNOWLEDGE_SEED,
        "",
        "Fabrikam: resource-non-stocked (Project Operations for resource/non-stocked scenarios)",
        "  Decided by what rules out the lighter types:",
    ]
    assert lines_from(text, "  not ") == [
        not_line("lite") + "The customer plans to adopt Dynamics 365 Finance and there is no supported migration "
        f"from {LITE} to a Finance-based type, so Fabrikam starts on a Finance-based type now. "
        "(rule finance-later-rules-out-lite, "
        'policies/choosing.yaml:37:5, "Determine your deployment type" (2023-11-06), section "Project Operations '
        'for stocked/production order scenarios")',
        not_line("stocked-production") + f"{LIGHTER.format(type=RESOURCE, entity='Fabrikam')} {LIGHTEST_RULE}",
    ]


def test_why_says_finance_later_rules_out_core_on_the_current_knowledge(facts_dir: Path) -> None:
    # The documentation's finance-later-rules-out-lite overrides the seed's, citing the PSA end-of-life FAQ.
    assert lines_from(ok("why", "fabrikam-finance-later.yaml"), "  not lite") == [
        not_line("lite", NAMES_NOW) + "The customer will adopt Dynamics 365 Finance and there is no supported move "
        "from Project Operations Core to Integrated with ERP later, so Fabrikam starts on a Finance-based type now. "
        "(rule finance-later-rules-out-lite, policies/editions/docs-2026-08/books.yaml:46:5, \"Project Service "
        "Automation end of life FAQ\" (2025-07-07))",
    ]


def test_why_for_a_new_customer_says_lite_was_preferred(facts_dir: Path) -> None:
    text = ok("why", *SEED, "fabrikam-new.yaml")
    preferred = f"{LIGHTER.format(type=LITE, entity='Fabrikam')} {LIGHTEST_RULE}"
    assert lines_from(text, "  not ") == [
        not_line("resource-non-stocked") + preferred,
        not_line("stocked-production") + preferred,
    ]
    assert lines_from(text, "Notes:", "  lite-is-final") == ["Notes:", "  lite-is-final [Fabrikam]"]


def test_why_for_a_promoted_entity_says_why_lite_was_not_kept(facts_dir: Path) -> None:
    text = ok("why", *SEED, "adatum-promoted.yaml")
    assert lines_from(text, "Adatum ") == [
        "Adatum Services: resource-non-stocked (Project Operations for resource/non-stocked scenarios)",
        "Adatum Factory: stocked-production (Project Operations for stocked/production order scenarios)",
    ]
    assert lines_from(text, not_line("lite") + "Adatum Services") == [
        not_line("lite") + f"Adatum Services would fit {LITE} on its own, but Adatum Factory needs {STOCKED}, which "
        "runs on Dynamics 365 Finance; legal entities share one environment, so Adatum Services takes "
        f"{RESOURCE}. "
        f"(rule lite-joins-finance-environment, policies/environment.yaml:9:5, {SEED_SECTION})",
    ]
    assert "supersedes" not in text


def test_why_shows_the_seed_rule_a_documentation_rule_supersedes(facts_dir: Path) -> None:
    lines = ok("why", "adatum-promoted.yaml").splitlines()
    assert lines[:3] == ["Customer: Adatum", KNOWLEDGE_CURRENT, ""]
    start = lines.index("  How it was derived:")
    assert lines[start + 2 : start + 4] == [
        "    <- step 17: rule lite-joins-finance-environment (policies/editions/docs-2026-08/environment.yaml:22:5 "
        'in layer docs-2026-08)  ["Configure Project Operations integration per legal entity" (2026-02-27)]',
        f"       supersedes rule lite-joins-finance-environment [{SEED_SECTION}]",
    ]


@pytest.mark.parametrize("as_of", [SEED, ()], ids=["seed", "current"])
def test_why_not_for_a_promoted_entity_does_not_contradict_its_deployment(
    facts_dir: Path, as_of: tuple[str, ...],
) -> None:
    names = SEED_NAMES if as_of else NAMES_NOW
    [line] = lines_from(ok("why", *as_of, "adatum-promoted.yaml"),
                        not_line("stocked-production", names) + names["resource-non-stocked"])
    assert f"{names['lite']} is the lightest" not in line
    assert "rule lite-joins-finance-environment" in line


def test_why_json_has_why_not_for_every_entity_and_other_type() -> None:
    data = ok_json("why", *SEED, str(CONTOSO))
    assert data["customer"] == "Contoso"
    assert data["deployments"] == ["resource-non-stocked", "stocked-production"]
    us, uk = "Contoso Manufacturing United States", "Contoso Robotics United Kingdom"
    assert data["why_not"] == {
        us: [
            {"type": "lite", "reason": lacks_reason(us, "customer-facing-invoicing", "lite")},
            {"type": "resource-non-stocked", "reason": lacks_reason(us, "production-orders", "resource-non-stocked")},
        ],
        uk: [
            {"type": "lite", "reason": lacks_reason(uk, "customer-facing-invoicing", "lite")},
            {"type": "stocked-production",
             "reason": f"{LIGHTER.format(type=RESOURCE, entity=uk)} {LIGHTEST_RULE}"},
        ],
    }


def test_why_json_is_evaluate_json_plus_why_not() -> None:
    why = ok_json("why", str(CONTOSO))
    evaluate = ok_json("evaluate", str(CONTOSO))
    assert set(why) - set(evaluate) == {"why_not"}
    del why["why_not"]
    assert why == evaluate


# -- validate ----------------------------------------------------------------------------------------


def test_validate_without_paths_checks_the_built_in_policies() -> None:
    assert ok("validate", *SEED) == "ok: 7 policy files, 20 rules\n"


def test_validate_without_paths_checks_the_shipped_knowledge_by_default() -> None:
    # the 6 built-in files (20 rules) and the 10 policy files of docs-2026-08 (42 rules)
    assert ok("validate") == "ok: 19 policy files, 64 rules\n"


def test_validate_a_directory_counts_only_the_consultants_policies(tmp_path: Path) -> None:
    (tmp_path / "extras").mkdir()
    (tmp_path / "extras" / "consultant.yaml").write_text(GOOD_POLICY)
    assert ok("validate", str(tmp_path / "extras")) == "ok: 1 policy file, 1 rule\n"


def test_validate_a_single_policy_file(tmp_path: Path) -> None:
    (tmp_path / "consultant.yaml").write_text(GOOD_POLICY)
    assert ok("validate", str(tmp_path / "consultant.yaml")) == "ok: 1 policy file, 1 rule\n"


def test_consultant_policy_adds_its_note_to_the_decision(tmp_path: Path) -> None:
    (tmp_path / "extras").mkdir()
    (tmp_path / "extras" / "consultant.yaml").write_text(GOOD_POLICY)
    (tmp_path / "facts.yaml").write_text("customer: Contoso\nbudget: large\nplans_finance: true\n")
    data = ok_json("evaluate", str(tmp_path / "facts.yaml"), "--policies", str(tmp_path / "extras"))
    [note] = [n for n in data["notes"] if n["code"] == "large-budget"]
    assert note["message"] == "With a large budget there is room to extend the deployment."
    assert note["rule"] == "large-budget-room"
    assert [step["layer"] for step in data["trace"] if step["rule"] == "large-budget-room"] == ["extras"]


# -- capabilities ------------------------------------------------------------------------------------


def test_capabilities_prints_which_type_offers_what() -> None:
    assert ok("capabilities", *SEED) == "\n".join([
        "capability                    lite  resource-non-stocked  stocked-production",
        "project-sales                 yes   yes                   -",
        "project-for-the-web-planning  yes   yes                   -",
        "wbs-planning                  -     -                     yes",
        "multidimensional-pricing      yes   yes                   -",
        "resource-management           yes   yes                   yes",
        "time-tracking                 yes   yes                   yes",
        "basic-expense                 yes   yes                   yes",
        "full-expense                  -     yes                   yes",
        "receipt-ocr                   -     yes                   yes",
        "material-usage                yes   yes                   -",
        "budgeting-forecasting         yes   yes                   -",
        "subcontracting                yes   yes                   -",
        "proforma-invoicing            yes   yes                   yes",
        "customer-facing-invoicing     -     yes                   yes",
        "revenue-recognition           -     yes                   yes",
        "production-orders             -     -                     yes",
        "stocked-inventory             -     -                     yes",
        "",
    ])


def test_capabilities_on_the_current_knowledge_add_what_the_documentation_says() -> None:
    # policies/editions/docs-2026-08/capabilities.yaml: a WBS in every type; Project management and
    # accounting's quotations, forecasts and budgets, purchase orders and item consumption; the nine
    # Finance-era capabilities (investment projects on Integrated with ERP depend on the Finance version, so
    # the fixed matrix has them on manufacturing only).
    assert ok("capabilities") == "\n".join([
        "capability                     lite  resource-non-stocked  stocked-production",
        "project-sales                  yes   yes                   yes",
        "project-for-the-web-planning   yes   yes                   -",
        "wbs-planning                   yes   yes                   yes",
        "multidimensional-pricing       yes   yes                   -",
        "resource-management            yes   yes                   yes",
        "time-tracking                  yes   yes                   yes",
        "basic-expense                  yes   yes                   yes",
        "full-expense                   -     yes                   yes",
        "receipt-ocr                    -     yes                   yes",
        "material-usage                 yes   yes                   yes",
        "budgeting-forecasting          yes   yes                   yes",
        "subcontracting                 yes   yes                   yes",
        "proforma-invoicing             yes   yes                   yes",
        "customer-facing-invoicing      -     yes                   yes",
        "revenue-recognition            -     yes                   yes",
        "production-orders              -     -                     yes",
        "stocked-inventory              -     -                     yes",
        "intercompany-invoicing         -     yes                   yes",
        "sales-tax                      -     yes                   yes",
        "date-effective-exchange-rates  -     yes                   yes",
        "non-project-expenses           -     yes                   yes",
        "expense-reimbursement          -     yes                   yes",
        "investment-projects            -     -                     yes",
        "subscription-billing           -     -                     yes",
        "funding-limits                 -     -                     yes",
        "grants                         -     -                     yes",
        "",
    ])


SEED_CAPABILITIES = [
    "project-sales", "project-for-the-web-planning", "wbs-planning", "multidimensional-pricing",
    "resource-management", "time-tracking", "basic-expense", "full-expense", "receipt-ocr", "material-usage",
    "budgeting-forecasting", "subcontracting", "proforma-invoicing", "customer-facing-invoicing",
    "revenue-recognition", "production-orders", "stocked-inventory",
]


def test_capabilities_json_lists_types_by_rank_and_who_offers_each_capability() -> None:
    data = ok_json("capabilities", *SEED)
    assert data["types"] == [
        {"id": "lite", "name": LITE, "rank": 1},
        {"id": "resource-non-stocked", "name": RESOURCE, "rank": 2},
        {"id": "stocked-production", "name": STOCKED, "rank": 3},
    ]
    offered = {c["id"]: c["offered_by"] for c in data["capabilities"]}
    assert list(offered) == SEED_CAPABILITIES
    assert offered["receipt-ocr"] == ["resource-non-stocked", "stocked-production"]
    assert offered["production-orders"] == ["stocked-production"]
    assert offered["time-tracking"] == DEPLOYMENT_TYPES
    assert offered["project-sales"] == ["lite", "resource-non-stocked"]
    assert offered["wbs-planning"] == ["stocked-production"]
    assert data["capabilities"][8] == {"id": "receipt-ocr", "name": "Receipt scanning (OCR)",
                                       "offered_by": ["resource-non-stocked", "stocked-production"]}


def test_capabilities_json_on_the_current_knowledge() -> None:
    data = ok_json("capabilities")
    # the types by their current names (policies/editions/docs-2026-08/renames.yaml)
    assert data["types"] == [
        {"id": "lite", "name": CORE, "rank": 1},
        {"id": "resource-non-stocked", "name": INTEGRATED, "rank": 2},
        {"id": "stocked-production", "name": MANUFACTURING, "rank": 3},
    ]
    offered = {c["id"]: c["offered_by"] for c in data["capabilities"]}
    assert list(offered) == [
        *SEED_CAPABILITIES, "intercompany-invoicing", "sales-tax", "date-effective-exchange-rates",
        "non-project-expenses", "expense-reimbursement", "investment-projects", "subscription-billing",
        "funding-limits", "grants",
    ]
    assert offered["wbs-planning"] == DEPLOYMENT_TYPES
    assert offered["project-sales"] == DEPLOYMENT_TYPES
    assert offered["sales-tax"] == ["resource-non-stocked", "stocked-production"]
    assert offered["grants"] == ["stocked-production"]
    assert data["capabilities"][-1] == {"id": "grants", "name": "Grants", "offered_by": ["stocked-production"]}


# -- version, module, engines --------------------------------------------------------------------------


def test_python_m_podeploy_prints_the_version() -> None:
    done = subprocess.run([sys.executable, "-m", "podeploy", "--version"], capture_output=True, timeout=60)
    assert done.stderr == b""
    assert done.stdout.decode() == f"podeploy, version {__version__}\n"
    assert done.returncode == 0


def test_python_m_podeploy_evaluates_like_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "podeploy", "evaluate", str(CONTOSO)], capture_output=True,
                          timeout=60)
    assert done.stderr == b""
    assert done.returncode == 0
    assert done.stdout.decode() == ok("evaluate", str(CONTOSO))


def test_version_option_prints_the_version() -> None:
    assert ok("--version") == "podeploy, version 0.1.0\n"


@pytest.mark.parametrize("facts", [str(CONTOSO), *FACTS])
@pytest.mark.parametrize("command", ["evaluate", "why"])
def test_reference_engine_gives_the_same_json_as_durable(facts_dir: Path, command: str, facts: str) -> None:
    durable = ok_json(command, facts, "--engine", "durable")
    reference = ok_json(command, facts, "--engine", "reference")
    assert durable.pop("engine") == "durable"
    assert reference.pop("engine") == "reference"
    assert reference == durable


@pytest.mark.parametrize("facts", [str(CONTOSO), *FACTS])
def test_reference_engine_gives_the_same_text_as_durable(facts_dir: Path, facts: str) -> None:
    assert ok("evaluate", facts, "--engine", "reference") == ok("evaluate", facts, "--engine", "durable")
    assert ok("why", facts, "--engine", "reference") == ok("why", facts, "--engine", "durable")


HELP_IMPORTS = (
    "import sys\n"
    "from podeploy.cli.main import cli\n"
    "cli.main(['--help'], standalone_mode=False)\n"
    "print(' '.join(sorted(m for m in sys.modules if m.startswith('podeploy.'))))\n"
)


def test_help_imports_none_of_the_engine_beyond_its_errors() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True, timeout=120)
    modules = done.stdout.splitlines()[-1].split()
    assert [m for m in modules if m.startswith(("podeploy.engine.", "podeploy.cli."))] == [
        "podeploy.cli.boundary", "podeploy.cli.main", "podeploy.cli.options", "podeploy.engine.errors",
        "podeploy.engine.evaluation",
        "podeploy.engine.evaluation.engines", "podeploy.engine.records",
    ]


def test_the_help_listing_says_what_each_lazily_loaded_command_says_of_itself() -> None:
    import click
    from podeploy.cli.main import LAZY_COMMANDS, LAZY_HELP

    assert sorted(LAZY_HELP) == sorted(LAZY_COMMANDS)
    context = click.Context(cli)
    for name, text in LAZY_HELP.items():
        command = cli.get_command(context, name)
        assert command is not None and command.help is not None
        assert " ".join(command.help.split("\n\n")[0].split()) == text, name


def test_the_readmes_quick_start_shows_what_evaluate_prints_for_contoso() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("The first prints:\n\n```text\n", 1)[1].split("```", 1)[0]
    assert ok("evaluate", str(CONTOSO)) == shown


def test_every_command_stands_behind_the_one_error_boundary() -> None:
    from podeploy.cli.boundary import Command

    ctx = click.Context(cli)
    outside = [n for n in cli.list_commands(ctx) if not isinstance(cli.get_command(ctx, n), Command)]
    assert outside == []
    # ... and no command turns podeploy's errors into output on its own.
    catching = [p.name for p in (ROOT / "cli").glob("*.py") if p.name != "boundary.py"
                and "except PodeployError" in p.read_text(encoding="utf-8")]
    assert catching == []

