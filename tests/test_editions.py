"""Knowledge editions: the seeds' literal reading one flag away, Microsoft's current documentation by default.

The default advice is checked against what the documentation says (domain cases written from its
statements, on both engines), `--as-of` selects the knowledge as it stood, every output names the
knowledge it used, and a rule that corrects a seed statement says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from podeploy.cli.main import cli
from podeploy.engine import load_knowledge_base
from podeploy.engine.evaluation.evaluate import evaluate
from podeploy.engine.policy.layers import BUILTIN_AS_OF, edition_dirs, editions, pack_path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SEED_EXAMPLES = [
    "adatum-mixed.json",
    "contoso.yaml",
    "fabrikam-finance-later.yaml",
    "fabrikam-services.yaml",
    "litware-small.yaml",
    "northwind-pma.yaml",
    "tailspin-psa.yaml",
]


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def evaluate_json(facts: dict[str, Any], *options: str) -> dict[str, Any]:
    result = invoke("evaluate", "-", "--format", "json", *options, input=json.dumps(facts))
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# -- editions and --as-of ------------------------------------------------------------------------------


def test_one_edition_ships_dated_by_its_folder_and_its_files() -> None:
    assert [(name, dated) for name, dated, _ in editions()] == [("docs-2026-08", "2026-08")]
    for _, dated, folder in editions():
        for path in Path(folder).glob("*.yaml"):
            if path.name.endswith(".test.yaml"):
                continue
            assert yaml.safe_load(path.read_text())["as_of"] == dated, path
    for path in (ROOT / "policies").glob("*.yaml"):
        if not path.name.endswith(".test.yaml"):
            assert yaml.safe_load(path.read_text())["as_of"] == BUILTIN_AS_OF, path


@pytest.mark.parametrize(
    ("as_of", "layers"),
    [
        pytest.param(None, ["built-in", "docs-2026-08"], id="default-newest"),
        pytest.param("2023-11", ["built-in"], id="seeds-alone"),
        pytest.param("2026-07", ["built-in"], id="before-the-documentation-edition"),
        pytest.param("2026-08", ["built-in", "docs-2026-08"], id="from-its-month"),
        pytest.param("2030-01", ["built-in", "docs-2026-08"], id="later"),
    ],
)
def test_as_of_selects_the_knowledge_as_it_stood(as_of: str | None, layers: list[str]) -> None:
    options = [] if as_of is None else ["--as-of", as_of]
    data = evaluate_json({"customer": "Fabrikam"}, *options)
    assert [k["layer"] for k in data["knowledge"]] == layers
    assert [k["as_of"] for k in data["knowledge"]] == ["2023-11", "2026-08"][: len(layers)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2023-13", "'2023-13' is not a month like 2023-11 (YYYY-MM)"),
        ("2023-11-06", "'2023-11-06' is not a month like 2023-11 (YYYY-MM)"),
        ("last year", "'last year' is not a month like 2023-11 (YYYY-MM)"),
        ("2023-10", "podeploy's knowledge begins with its built-in policies of 2023-11; choose 2023-11 or later"),
    ],
)
def test_a_bad_as_of_is_bad_input(value: str, message: str) -> None:
    for command in (["evaluate", str(EXAMPLES / "contoso.yaml")], ["test"], ["validate"], ["lint"]):
        result = invoke(*command, "--as-of", value)
        assert result.exit_code == 2, command
        assert result.stdout == ""
        assert result.stderr == f"--as-of:1:1: bad-value: {message}\n"


def test_every_command_that_evaluates_takes_as_of() -> None:
    for command in ("evaluate", "why", "what-if", "ask", "batch", "diff", "test", "validate", "lint", "capabilities",
                    "schema"):
        result = invoke(command, "--help")
        assert "--as-of YYYY-MM" in result.stdout, command


def test_the_former_2025_pack_names_the_edition_and_loads_it_once() -> None:
    assert pack_path("2025-update") == edition_dirs()[0]
    plain = evaluate_json({"customer": "Relecloud", "ledger": "dynamics-365-finance"})
    named = evaluate_json({"customer": "Relecloud", "ledger": "dynamics-365-finance"}, "--pack", "2025-update")
    assert named["knowledge"] == plain["knowledge"]
    assert named["trace"] == plain["trace"]
    seeds_and_pack = evaluate_json({"customer": "Relecloud"}, "--as-of", "2023-11", "--pack", "2025-update")
    assert [k["layer"] for k in seeds_and_pack["knowledge"]] == ["built-in", "docs-2026-08"]


@pytest.mark.parametrize("name", SEED_EXAMPLES)
def test_as_of_2023_11_is_the_built_ins_alone(name: str) -> None:
    """The seeds' literal reading, one flag away: the same decision as the built-in knowledge base."""
    from podeploy.engine import load_facts
    from podeploy.engine.explain.render import decision_json

    kb = load_knowledge_base()
    library = decision_json(evaluate(kb, load_facts(kb, str(EXAMPLES / name))))
    result = invoke("evaluate", str(EXAMPLES / name), "--format", "json", "--as-of", "2023-11")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == library


def test_a_fact_of_the_documentation_is_unknown_to_the_seeds() -> None:
    result = invoke("evaluate", str(EXAMPLES / "wingtip-sap.yaml"), "--as-of", "2023-11")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"{EXAMPLES / 'wingtip-sap.yaml'}:5:1: unknown-fact: 'ledger' is not a known fact (podeploy's knowledge of "
        "2026-08, 'docs-2026-08', declares it: leave out --as-of, or add --pack docs-2026-08 or "
        "'packs: [docs-2026-08]' to the facts file)"
    )


# -- every output names its knowledge --------------------------------------------------------------------


def test_text_json_why_and_reports_name_the_knowledge_and_its_dates() -> None:
    contoso = str(EXAMPLES / "contoso.yaml")
    line = (
        'Knowledge: built-in, as of 2023-11 (The seeds, read literally: Microsoft Learn, "Determine your deployment '
        'type" (2023-11-06), and Advisicon, "What is Dynamics 365 Project Operations?" (2023-09)); docs-2026-08, '
        "as of 2026-08 (Microsoft's Dynamics 365 Project Operations documentation, as read on 2026-08-21)"
    )
    assert invoke("evaluate", contoso).stdout.splitlines()[1] == line
    assert invoke("why", contoso).stdout.splitlines()[1] == line
    assert invoke("why", contoso, "--not", "lite").stdout.splitlines()[1] == line
    assert json.loads(invoke("why", contoso, "--not", "lite", "--format", "json").stdout)["knowledge"] == [
        {"layer": "built-in", "as_of": "2023-11", "title": re.sub(r"^.*\((The seeds.*)\); docs.*$", r"\1", line)},
        {
            "layer": "docs-2026-08",
            "as_of": "2026-08",
            "title": "Microsoft's Dynamics 365 Project Operations documentation, as read on 2026-08-21",
        },
    ]
    markdown = invoke("evaluate", contoso, "--format", "markdown").stdout
    based_on = (
        'Based on: The seeds, read literally: Microsoft Learn, "Determine your deployment type" (2023-11-06), and '
        'Advisicon, "What is Dynamics 365 Project Operations?" (2023-09) (as of 2023-11); Microsoft\'s Dynamics 365 '
        "Project Operations documentation, as read on 2026-08-21 (as of 2026-08)."
    )
    assert f"*{based_on}*" in markdown.replace("\\", "")
    html = invoke("evaluate", contoso, "--format", "html").stdout
    assert based_on.replace('"', "&quot;").replace("'", "&#x27;") in html
    batch = invoke("batch", contoso, "--jobs", "1")
    assert json.loads(batch.stdout.splitlines()[0])["knowledge"][1]["layer"] == "docs-2026-08"


def test_a_rule_that_corrects_a_seed_statement_says_so_and_cites_both() -> None:
    data = evaluate_json({"customer": "Litware", "pm_maturity": "low"})
    step = next(s for s in data["trace"] if s["rule"] == "low-pm-maturity")
    assert step["layer"] == "docs-2026-08"
    assert step["location"] == "policies/editions/docs-2026-08/fit.yaml:34:5"
    seed_line = "003_93bb5cf298cac590.txt#recommendations-on-when-to-use-project-operations"
    assert step["supersedes"] == [{"rule": "low-pm-maturity", "source": seed_line}]
    assert "Planner" in step["explanation"] and "Project Online" not in step["explanation"]
    why = invoke("why", "-", input=json.dumps({"customer": "Litware", "pm_maturity": "low"})).stdout
    titled = (
        '"What is Dynamics 365 Project Operations?" (2023-09), section "Recommendations on when to use Project '
        'Operations"'
    )
    assert f"     supersedes rule low-pm-maturity [{titled}]" in why
    seeds = evaluate_json({"customer": "Litware", "pm_maturity": "low"}, "--as-of", "2023-11")
    step = next(s for s in seeds["trace"] if s["rule"] == "low-pm-maturity")
    assert "supersedes" not in step and "Project Online" in step["explanation"]


def test_a_superseded_seed_line_is_cited_as_written() -> None:
    facts = {
        "customer": "Northwind",
        "existing_solution": "finance-project-management",
        "requirements": ["project-for-the-web-planning", "customer-facing-invoicing"],
    }
    data = evaluate_json(facts)
    step = next(s for s in data["trace"] if s["rule"] == "pma-moves-to-modern-architecture")
    assert step["source"] == "prod-pma/move-to-modern-architecture.md"
    assert step["supersedes"] == [{"source": "000_cd059b2c5f1fbec9.txt#pma"}]


# -- supersedes and fact overrides in a consultant's layer -----------------------------------------------


def write(folder: Path, text: str) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "layer.yaml").write_text(text)
    return str(folder)


def test_supersedes_names_an_earlier_rule_or_cites_a_line(tmp_path: Path) -> None:
    layer = write(
        tmp_path / "partner",
        "policy: partner\ndescription: Partner view.\n"
        "codes:\n  - {id: partner-note, kind: note, description: A note.}\n"
        "rules:\n  - id: partner-rule\n    description: A rule.\n    source: our playbook\n"
        "    supersedes: [lite-is-fnal, 000_cd059b2c5f1fbec9.txt#lite]\n"
        "    when:\n      - budget: small\n    then:\n      - note: {code: partner-note}\n    explanation: Small.\n",
    )
    result = invoke("validate", layer)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{layer}/layer.yaml:6:5: unknown-rule: supersedes 'lite-is-fnal', which is not a rule of an earlier layer"
        " (did you mean 'lite-is-final'?) (or cite the superseded line, as 000_cd059b2c5f1fbec9.txt#pma)\n"
    )
    (Path(layer) / "layer.yaml").write_text(
        (Path(layer) / "layer.yaml").read_text().replace("lite-is-fnal", "lite-is-final")
    )
    assert invoke("validate", layer).stdout == "ok: 1 policy file, 1 rule\n"
    data = evaluate_json({"customer": "Litware", "budget": "small"}, "--policies", layer)
    step = next(s for s in data["trace"] if s["rule"] == "partner-rule")
    assert step["supersedes"] == [
        {"rule": "lite-is-final", "source": "psa/psa-eol-faq.md"},
        {"source": "000_cd059b2c5f1fbec9.txt#lite"},
    ]


def test_a_layer_replaces_a_fact_only_when_it_says_so(tmp_path: Path) -> None:
    fact = (
        "  - id: budget\n    type: choice\n    values: [small, medium, large, huge]\n    description: Budget.\n"
        "    question: Budget?\n"
    )
    quiet = write(tmp_path / "quiet", f"policy: quiet\ndescription: Replaces a fact.\nfacts:\n{fact}")
    result = invoke("validate", quiet)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{quiet}/layer.yaml:4:5: duplicate-id: fact 'budget' is already declared at policies/vocabulary.yaml:31:5;"
        " to replace it, add 'overrides: budget'\n"
    )
    head = "description: Replaces a fact.\nfacts:\n"
    wrong = write(tmp_path / "wrong", f"policy: wrong\n{head}{fact}    overrides: region\n")
    assert invoke("validate", wrong).stderr == (
        f"{wrong}/layer.yaml:4:5: bad-value: fact 'budget' overrides 'region': a replacement keeps the id it replaces\n"
    )
    good = write(tmp_path / "good", f"policy: good\n{head}{fact}    overrides: budget\n")
    schema = json.loads(invoke("schema", "facts", "--policies", good).stdout)
    assert schema["properties"]["budget"]["enum"] == ["small", "medium", "large", "huge"]


# -- what the default advice gets right, from the documentation's own statements -------------------------

Case = tuple[dict[str, Any], dict[str, str], list[tuple[str, str | None]]]

DOMAIN: dict[str, Case] = {
    "a Finance customer with Core-sized needs gets Integrated with ERP": (
        {"customer": "Relecloud", "ledger": "dynamics-365-finance", "requirements": ["project-sales", "time-tracking"]},
        {"Relecloud": "resource-non-stocked"},
        [],
    ),
    "books in SAP mean Core, invoicing left to SAP": (
        {"customer": "Wingtip", "ledger": "other-erp", "requirements": ["customer-facing-invoicing"]},
        {"Wingtip": "lite"},
        [("ledger-outside-finance", "Wingtip")],
    ),
    "intercompany, sales tax and date-effective rates need Finance": (
        {
            "customer": "Proseware",
            "requirements": ["intercompany-invoicing", "sales-tax", "date-effective-exchange-rates"],
        },
        {"Proseware": "resource-non-stocked"},
        [],
    ),
    "a services firm with a WBS stays on Core": (
        {"customer": "Margie", "requirements": ["wbs-planning", "time-tracking"]},
        {"Margie": "lite"},
        [],
    ),
    "an engineer-to-order manufacturer has no gaps": (
        {"customer": "Fourth Coffee", "requirements": ["production-orders", "stocked-inventory", "project-sales",
                                                       "budgeting-forecasting", "subcontracting", "material-usage"]},
        {"Fourth Coffee": "stocked-production"},
        [],
    ),
    "a Finance PMA entity needing Dataverse moves through the modern architecture": (
        {"customer": "Northwind", "existing_solution": "finance-project-management",
         "requirements": ["project-sales", "project-for-the-web-planning"]},
        {"Northwind": "resource-non-stocked"},
        [("pma-modern-architecture", "Northwind")],
    ),
    "a PSA customer needing Finance gets one coherent warning": (
        {"customer": "Tailspin", "existing_solution": "project-service-automation",
         "requirements": ["customer-facing-invoicing"]},
        {"Tailspin": "resource-non-stocked"},
        [("no-migration-path", "Tailspin")],
    ),
    "a PSA customer that Core covers is told of the upgrade": (
        {"customer": "Tailspin", "existing_solution": "project-service-automation", "requirements": ["time-tracking"]},
        {"Tailspin": "lite"},
        [("psa-upgrade", "Tailspin")],
    ),
    "receipt OCR is flagged for Brazil and New Zealand, not the UK": (
        {"customer": "Lucerne", "requirements": ["receipt-ocr", "full-expense"],
         "legal_entities": [{"name": "Brazil", "region": "brazil"}, {"name": "NZ", "region": "new-zealand"},
                            {"name": "UK", "region": "united-kingdom"}]},
        {"Brazil": "resource-non-stocked", "NZ": "resource-non-stocked", "UK": "resource-non-stocked"},
        [("receipt-ocr-unavailable", "Brazil"), ("receipt-ocr-unavailable", "NZ")],
    ),
    "stocked items without production orders fit Integrated with ERP on current Finance": (
        {"customer": "Coho", "requirements": ["stocked-inventory", "customer-facing-invoicing"]},
        {"Coho": "resource-non-stocked"},
        [],
    ),
    "grants need the manufacturing type": (
        {"customer": "Lamna", "requirements": ["grants", "time-tracking"]},
        {"Lamna": "stocked-production"},
        [],
    ),
    "an entity with books elsewhere keeps its own Core environment": (
        {"customer": "Adatum", "legal_entities": [
            {"name": "Factory", "requirements": ["production-orders"]},
            {"name": "Services", "ledger": "other-erp", "requirements": ["time-tracking"]}]},
        {"Factory": "stocked-production", "Services": "lite"},
        [],
    ),
    "a new legal entity of a Core customer is not warned about migrating": (
        {"customer": "Fabrikam", "existing_solution": "lite", "legal_entities": [
            {"name": "Consulting", "requirements": ["time-tracking"]},
            {"name": "Finance Services", "existing_solution": "none", "requirements": ["customer-facing-invoicing"]}]},
        {"Consulting": "lite", "Finance Services": "resource-non-stocked"},
        [],
    ),
    "a customer not ready to change its processes may have the wrong tool": (
        {"customer": "Litware", "process_change_ready": False, "requirements": ["time-tracking"]},
        {"Litware": "lite"},
        [("low-fit", None)],
    ),
}


@pytest.mark.parametrize("engine", ["durable", "reference"])
@pytest.mark.parametrize("name", list(DOMAIN))
def test_the_default_advice_follows_the_documentation(name: str, engine: str) -> None:
    facts, expected, warnings = DOMAIN[name]
    data = evaluate_json(facts, "--engine", engine)
    assert {e["name"]: e["deployment"] for e in data["entities"]} == expected
    assert sorted((w["code"], w.get("entity")) for w in data["warnings"]) == sorted(warnings)


def test_a_ledger_outside_finance_leaves_each_need_to_that_system() -> None:
    data = evaluate_json({"customer": "Wingtip", "ledger": "other-erp",
                          "requirements": ["customer-facing-invoicing", "revenue-recognition"]})
    assert data["entities"][0]["gaps"] == ["customer-facing-invoicing", "revenue-recognition"]
    assert [(w["code"], w["capability"]) for w in data["warnings"]] == [
        ("ledger-outside-finance", "customer-facing-invoicing"),
        ("ledger-outside-finance", "revenue-recognition"),
    ]
