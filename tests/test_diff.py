"""podeploy diff: which customers' decisions change between two policy sets, and which rules made it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from click.testing import CliRunner
from podeploy.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

MEDIUM_IS_SMALL = (Path(__file__).parent / "fixtures" / "stricter-budget.yaml").read_text()


def customers(tmp_path: Path) -> Path:
    folder = tmp_path / "customers"
    folder.mkdir()
    (folder / "a-medium.yaml").write_text("customer: Medium Co\nbudget: medium\nplans_finance: true\n")
    (folder / "b-large.yaml").write_text("customer: Large Co\nbudget: large\nplans_finance: true\n")
    return folder


def knowledge_lines(base_as_of: str | None = None, new_as_of: str | None = None, *new_layers: str) -> list[str]:
    """The two lines a diff starts with: the knowledge of each side (the layers as `evaluate` names them)."""
    from podeploy.engine.explain.render import knowledge_text
    from podeploy.engine.policy.layers import edition_dirs
    from podeploy.engine.policy.loading import load_knowledge_base

    base = knowledge_text(load_knowledge_base(edition_dirs(base_as_of)))
    new = knowledge_text(load_knowledge_base([*edition_dirs(new_as_of), *new_layers]))
    return [f"Base k{base[1:]}", f"New k{new[1:]}"]


def test_a_diff_says_which_knowledge_each_side_used(tmp_path: Path) -> None:
    folder = customers(tmp_path)
    result = CliRunner().invoke(cli, ["diff", "--base-as-of", "2023-11", str(folder)])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Base knowledge: built-in, as of 2023-11 (The seeds, read literally")
    assert "docs-2026-08" not in lines[0]
    assert lines[1].startswith("New knowledge: built-in, as of 2023-11") and "; docs-2026-08, as of 2026-08" in lines[1]
    as_json = CliRunner().invoke(cli, ["diff", "--base-as-of", "2023-11", str(folder), "--format", "json"])
    data = json.loads(as_json.stdout)
    assert [k["layer"] for k in data["knowledge"]["base"]] == ["built-in"]
    assert [k["layer"] for k in data["knowledge"]["new"]] == ["built-in", "docs-2026-08"]


def test_diff_reports_only_the_customers_that_change_with_the_rule_behind_it(tmp_path: Path) -> None:
    layer = tmp_path / "partner"
    layer.mkdir()
    (layer / "budget.yaml").write_text(textwrap.dedent(MEDIUM_IS_SMALL))
    folder = customers(tmp_path)
    result = CliRunner().invoke(cli, ["diff", "--policies", str(layer), str(folder)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "\n".join(knowledge_lines(None, None, str(layer))) + "\n" + (
        f"{folder}/a-medium.yaml (Medium Co):\n"
        "  warning low-fit added\n"
        f"  because rule small-budget ({layer}/budget.yaml:4:5, layer partner) now fires\n"
        f"{folder}/b-large.yaml (Large Co): unchanged\n"
        "1 of 2 customers change (1 difference).\n"
    )


def test_diff_against_a_base_layer_shows_what_goes_away(tmp_path: Path) -> None:
    layer = tmp_path / "partner"
    layer.mkdir()
    (layer / "budget.yaml").write_text(textwrap.dedent(MEDIUM_IS_SMALL))
    folder = customers(tmp_path)
    result = CliRunner().invoke(cli, ["diff", "--base", str(layer), str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["changed"], data["total"]) == (1, 2)
    first = data["customers"][0]
    assert (first["differences"], data["differences"]) == (1, 1)
    assert first["changes"] == [
        {"what": "warning", "entity": None, "before": "low-fit", "after": "absent", "conclusion": {"code": "low-fit"}}
    ]
    assert first["rules"] == [
        {
            "rule": "small-budget",
            "location": f"{layer}/budget.yaml:4:5",
            "layer": "partner",
            "fires_only_under": "base",
            "bindings": [{}],
            "unchanged": False,
        }
    ]


# The shipped examples that use only the seeds' facts and capabilities (README, "The facts file").
SEED_EXAMPLES = [
    "adatum-mixed.json",
    "contoso.yaml",
    "fabrikam-finance-later.yaml",
    "fabrikam-services.yaml",
    "litware-small.yaml",
    "northwind-pma.yaml",
    "tailspin-psa.yaml",
]


def seed_examples(tmp_path: Path) -> Path:
    folder = tmp_path / "examples"
    folder.mkdir()
    for name in SEED_EXAMPLES:
        (folder / name).write_text((EXAMPLES / name).read_text())
    return folder


PROMOTED_SEED = (
    "entity-promoted (type: resource-non-stocked): {0} would fit lite on its own, but Adatum Factory needs "
    "stocked-production, which runs on Dynamics 365 Finance; legal entities share one environment, so {0} takes "
    "resource-non-stocked. (rule lite-joins-finance-environment)"
)
PROMOTED_EDITION = (
    "entity-promoted (type: resource-non-stocked): {0} would fit Project Operations Core on its own, but another "
    "legal entity needs stocked-production on Dynamics 365 Finance; as Finance keeps or may keep its books too, it "
    "joins the Finance-connected environment on Integrated with ERP rather than a Core environment of its own. "
    "(rule lite-joins-finance-environment)"
)
LITE_IS_FINAL_SEED = (
    "lite-is-final: {0} gets lite; there is no out-of-box migration from lite to a Finance-based type, so if "
    "Dynamics 365 Finance may come later, choose resource-non-stocked now. (rule lite-is-final)"
)
LITE_IS_FINAL_EDITION = (
    "lite-is-final: {0} starts on Project Operations Core, and Microsoft supports no move from Core to Integrated "
    "with ERP: if Dynamics 365 Finance may keep its books later, start on Integrated with ERP now. (rule lite-is-final)"
)
SEED_TOOL, PLANNER = "Project for the web", "Planner (premium plans, the former Project for the web)"
SEED_TOOLS = "Project Online (Project Web App) or Project for the web"
SMALL_BUDGET = (
    "low-fit: With a small budget Project Operations may be the wrong tool: it is a full ERP-class product and pays "
    "off only when implemented across the whole service lifecycle. Try {0} on its own first. (rule small-budget)"
)
LOW_MATURITY = (
    "low-fit: With a low project-management maturity Project Operations may be too big a step; start with {0} and "
    "come back to it later. (rule low-pm-maturity)"
)


SHARED_SEED = ("shared-environment: Stocked/production order and resource/non-stocked legal entities share one "
               "environment: the scenario is chosen per legal entity in Dynamics 365 Finance, not per environment. "
               "(rule stocked-and-non-stocked-share-environment)")
SHARED_EDITION = ("shared-environment: Legal entities on Project Operations for manufacturing and on Project "
                  "Operations Integrated with ERP share one environment: the scenario is chosen per legal entity in "
                  "Dynamics 365 Finance, not per environment. (rule stocked-and-non-stocked-share-environment)")


def test_diff_of_the_edition_over_the_seed_examples(tmp_path: Path) -> None:
    """The former 2025-update pack is the docs-2026-08 edition: over the seeds alone, what it changes."""
    folder = seed_examples(tmp_path)
    result = CliRunner().invoke(
        cli, ["diff", "--as-of", "2023-11", "--pack", "2025-update", str(folder), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["changed"], data["differences"], data["total"]) == (6, 31, 7)
    changed = {
        Path(c["file"]).name: [(x["what"], x["entity"], x["before"], x["after"]) for x in c["changes"]]
        for c in data["customers"]
        if c["changed"]
    }
    factory, design, services = "Adatum Factory", "Adatum Design", "Adatum Services"
    us, uk = "Contoso Manufacturing United States", "Contoso Robotics United Kingdom"
    assert changed == {
        # The manufacturing type has project quotations; a WBS is built in Project for the web on Integrated.
        "adatum-mixed.json": [
            ("gaps", factory, "project-sales", "none"),
            ("gaps", design, "wbs-planning", "none"),
            ("warning", factory, "capability-gap (type: stocked-production, capability: project-sales)", "absent"),
            ("warning", design, "capability-gap (type: resource-non-stocked, capability: wbs-planning)", "absent"),
            ("warning wording", design, PROMOTED_SEED.format(design), PROMOTED_EDITION.format(design)),
            ("warning wording", services, PROMOTED_SEED.format(services), PROMOTED_EDITION.format(services)),
            ("note", design, "absent", "finance-required"),
            ("note", factory, "absent", "finance-required"),
            ("note", services, "absent", "finance-required"),
            ("note", design, "absent", "project-for-the-web-limits"),
            ("note wording", None, SHARED_SEED, SHARED_EDITION),
        ],
        # Finance runs there too: the region's note now also asks to check Finance's availability.
        "contoso.yaml": [
            ("note", us, "absent", "finance-required"),
            ("note", uk, "absent", "finance-required"),
            ("note reason", None, "absent", f"region-availability (about: united-states): {us} runs on Dynamics 365 "
             "Finance: check in the same report that Finance, not only Project Operations, is offered in "
             "united-states. (rule finance-available-in-region)"),
            ("note reason", None, "absent", f"region-availability (about: united-kingdom): {uk} runs on Dynamics 365 "
             "Finance: check in the same report that Finance, not only Project Operations, is offered in "
             "united-kingdom. (rule finance-available-in-region)"),
            ("note wording", None, SHARED_SEED, SHARED_EDITION),  # today's product names
        ],
        # The edition rewords what the seeds said; each reworded sentence is a difference.
        "fabrikam-services.yaml": [("note wording", "Fabrikam Consulting", LITE_IS_FINAL_SEED.format(
            "Fabrikam Consulting"), LITE_IS_FINAL_EDITION.format("Fabrikam Consulting"))],
        "litware-small.yaml": [
            ("warning wording", None, SMALL_BUDGET.format(SEED_TOOL), SMALL_BUDGET.format(PLANNER)),
            ("warning wording", None, LOW_MATURITY.format(SEED_TOOLS), LOW_MATURITY.format(PLANNER)),
            ("note", None, "absent", "project-online-retired"),
            ("note wording", "Litware", LITE_IS_FINAL_SEED.format("Litware"), LITE_IS_FINAL_EDITION.format("Litware")),
        ],
        # The advisory entity moves through the modern architecture: not "no migration".
        "northwind-pma.yaml": [
            ("warning", "Northwind Manufacturing", "absent", "finance-pma-continue"),
            ("warning", "Northwind Advisory", "absent", "pma-modern-architecture (type: resource-non-stocked)"),
            ("warning", None, "finance-pma-continue", "absent"),
            ("warning", "Northwind Advisory", "no-migration-path (type: resource-non-stocked)", "absent"),
            ("note wording", None, SHARED_SEED, SHARED_EDITION),
        ],
        # Core covers Tailspin: the upgrade, per legal entity, with the end of life and the 3.x path.
        "tailspin-psa.yaml": [
            ("warning", "Tailspin Toys", "absent", "psa-upgrade"),
            ("warning", None, "psa-upgrade", "absent"),
            ("note", "Tailspin Toys", "absent", "lite-is-final"),
            ("note", "Tailspin Toys", "absent", "psa-end-of-life"),
            ("note", "Tailspin Toys", "absent", "psa-version-path"),
        ],
    }
    litware = next(c for c in data["customers"] if c["file"].endswith("litware-small.yaml"))
    assert next(r for r in litware["rules"] if r["rule"] == "project-online-retires") == {
        "rule": "project-online-retires",
        "location": "policies/editions/docs-2026-08/fit.yaml:47:5",
        "layer": "docs-2026-08",
        "fires_only_under": "new",
        "bindings": [{}],
        "unchanged": False,
    }
    # The same comparison, as the README puts it: the shipped knowledge against its 2023-11 state.
    base_as_of = CliRunner().invoke(cli, ["diff", "--base-as-of", "2023-11", str(folder), "--format", "json"])
    assert (base_as_of.exit_code, base_as_of.stdout) == (0, result.stdout)


def test_the_pack_over_the_default_knowledge_changes_nothing(tmp_path: Path) -> None:
    """The edition is loaded by default; naming it again as a pack loads it once."""
    folder = seed_examples(tmp_path)
    result = CliRunner().invoke(cli, ["diff", "--pack", "2025-update", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "0 of 7 customers change."


def test_deployment_changes_are_shown_before_and_after(tmp_path: Path) -> None:
    folder = tmp_path / "customers"
    folder.mkdir()
    (folder / "w.yaml").write_text("customer: W\nrequirements: [stocked-inventory]\nfinance_version: 10.0.46\n")
    result = CliRunner().invoke(cli, ["diff", "--as-of", "2023-11", "--pack", "2025-update", str(folder)])
    assert result.exit_code == 0, result.output
    edition = "policies/editions/docs-2026-08/stocked-products.yaml"
    books, environment = "policies/editions/docs-2026-08/books.yaml", "policies/editions/docs-2026-08/environment.yaml"
    assert result.stdout.splitlines() == [
        *knowledge_lines("2023-11"),
        f"{folder}/w.yaml (W):",
        "  W: deployment stocked-production -> resource-non-stocked",
        "  W: note finance-required added",
        "  W: note stocked-products-feature added",
        # The rules of the layer that differs first, each with what it matched...
        f"  because rule stocked-products-in-integrated ({edition}:32:5, layer docs-2026-08) now fires for entity: W",
        f"  because rule production-needs-stocked ({books}:65:5, layer docs-2026-08) now fires for "
        "capability: stocked-inventory, entity: W, type: lite",
        f"  because rule finance-environment ({environment}:10:5, layer docs-2026-08) now fires for "
        "finance_type: resource-non-stocked, other: W",
        f"  because rule finance-is-the-erp ({books}:134:5, layer docs-2026-08) now fires for "
        "entity: W, type: resource-non-stocked",
        f"  because rule environment-runs-type ({environment}:45:5, layer docs-2026-08) now fires for "
        "entity: W, type: resource-non-stocked",
        f"  because rule stocked-products-need-feature-flags ({edition}:67:5, layer docs-2026-08) now fires for "
        "entity: W",
        "  because rule type-lacks-capability (policies/choosing.yaml:9:5, layer built-in) no longer fires for "
        "capability: stocked-inventory, entity: W, type: resource-non-stocked",
        "  because rule production-needs-stocked (policies/choosing.yaml:21:5, layer built-in) no longer fires for "
        "capability: stocked-inventory, entity: W, type: lite; capability: stocked-inventory, entity: W, "
        "type: resource-non-stocked",
        # ... then the built-in rules that only follow from them.
        "  and, as a consequence, rules the same on both sides:",
        "    rule type-still-open (policies/choosing.yaml:52:5, layer built-in) now fires for "
        "entity: W, missing: 0, rank: 2, type: resource-non-stocked",
        "    rule lightest-covering-type (policies/choosing.yaml:69:5, layer built-in) now fires for "
        "entity: W, rank: 2, type: resource-non-stocked",
        "    rule entity-keeps-its-fit (policies/environment.yaml:29:5, layer built-in) now fires for "
        "entity: W, type: resource-non-stocked",
        "    rule lightest-covering-type (policies/choosing.yaml:69:5, layer built-in) no longer fires for "
        "entity: W, rank: 3, type: stocked-production",
        "    rule entity-keeps-its-fit (policies/environment.yaml:29:5, layer built-in) no longer fires for "
        "entity: W, type: stocked-production",
        "1 of 1 customers change (3 differences).",
    ]


def test_facts_only_the_new_side_declares_are_ignored_on_the_base_side(tmp_path: Path) -> None:
    folder = tmp_path / "customers"
    folder.mkdir()
    (folder / "wingtip-sap.yaml").write_text((EXAMPLES / "wingtip-sap.yaml").read_text())
    result = CliRunner().invoke(cli, ["diff", "--base-as-of", "2023-11", str(folder)])
    assert result.exit_code == 0, result.output
    # Books that stay in SAP: Core, with invoicing and revenue recognition left to that system.
    assert result.stdout.splitlines()[:6] == [
        *knowledge_lines("2023-11"),
        f"{folder}/wingtip-sap.yaml (Wingtip Toys):",
        "  Wingtip Toys: deployment resource-non-stocked -> lite",
        "  Wingtip Toys: gaps none -> customer-facing-invoicing, revenue-recognition",
        "  Wingtip Toys: warning ledger-outside-finance (capability: customer-facing-invoicing) added",
    ]
    assert result.stdout.splitlines()[-1] == "1 of 1 customers change (4 differences)."


def test_a_bad_facts_file_is_reported_and_the_rest_still_diffed(tmp_path: Path) -> None:
    folder = customers(tmp_path)
    (folder / "c-bad.yaml").write_text("customer: Bad\nbudget: tiny\n")
    result = CliRunner().invoke(cli, ["diff", str(folder)])
    assert result.exit_code == 2
    assert result.stdout.splitlines()[-3:] == [
        f"{folder}/c-bad.yaml: not evaluated",
        f"  {folder}/c-bad.yaml:2:9: unknown-value: 'tiny' is not a value of 'budget' (one of: small, medium, large)",
        "0 of 3 customers change; 1 could not be evaluated.",
    ]


REWORDED_BOOKS = """\
policy: our-books
description: Our own words for what another ERP has to provide.
rules:
  - id: needs-left-to-other-books
    overrides: needs-left-to-other-books
    description: A need left to the other books is a gap, warned about in our practice's words.
    source: our practice's playbook (2026-11), section 4
    when:
      - deployment: {entity: $entity, type: $type}
      - lacks: {entity: $entity, type: $type, capability: $capability}
      - books-outside-finance: {entity: $entity}
    then:
      - gap: {entity: $entity, capability: $capability}
      - warning: {code: ledger-outside-finance, entity: $entity, capability: $capability}
    explanation: "{entity} needs {capability}: the other ERP has to provide it."
"""


FIRED_FOR_BOTH = (
    "capability: revenue-recognition, entity: A1, type: lite; capability: revenue-recognition, entity: A2, type: lite"
)


def two_books_customers(tmp_path: Path) -> Path:
    folder = tmp_path / "customers"
    folder.mkdir()
    (folder / "a-two-entities.yaml").write_text(
        "customer: A\nledger: other-erp\nrequirements: [revenue-recognition]\n"
        "legal_entities:\n  - {name: A1}\n  - {name: A2}\n"
    )
    (folder / "b-plain.yaml").write_text("customer: B\n")
    return folder


def test_a_layer_that_rewords_a_warning_changes_each_customer_it_reaches(tmp_path: Path) -> None:
    """The same rule id, the same conclusions, other words: what the customer reads changes, once per warning."""
    layer = tmp_path / "ours"
    layer.mkdir()
    (layer / "books.yaml").write_text(REWORDED_BOOKS)
    folder = two_books_customers(tmp_path)
    result = CliRunner().invoke(cli, ["diff", "--policies", str(layer), str(folder)])
    assert result.exit_code == 0, result.output
    shipped = (
        "needs revenue-recognition, which only the Finance-based types offer; its books stay outside Dynamics 365 "
        "Finance, so that system has to provide it, with Project Operations Core handing over the project actuals."
    )
    edition = "policies/editions/docs-2026-08/books.yaml:101:5, layer docs-2026-08"
    assert result.stdout.splitlines()[2:] == [
        f"{folder}/a-two-entities.yaml (A):",
        "  A1: warning ledger-outside-finance (capability: revenue-recognition) now says: A1 needs revenue-recognition:"
        f" the other ERP has to provide it. (rule needs-left-to-other-books); it said: A1 {shipped}",
        "  A2: warning ledger-outside-finance (capability: revenue-recognition) now says: A2 needs revenue-recognition:"
        f" the other ERP has to provide it. (rule needs-left-to-other-books); it said: A2 {shipped}",
        f"  because rule needs-left-to-other-books ({layer}/books.yaml:4:5, layer ours) now fires for "
        + FIRED_FOR_BOTH,
        f"  because rule needs-left-to-other-books ({edition}) no longer fires for "
        + FIRED_FOR_BOTH,
        f"{folder}/b-plain.yaml (B): unchanged",
        "1 of 2 customers change (2 differences).",
    ]


def test_each_warning_a_layer_adds_is_its_own_difference_with_its_whole_conclusion(tmp_path: Path) -> None:
    layer = tmp_path / "ours"
    layer.mkdir()
    (layer / "books.yaml").write_text(REWORDED_BOOKS.replace("capability: $capability}\n    explanation",
                                                             "capability: $capability, type: $type}\n    explanation"))
    folder = two_books_customers(tmp_path)
    result = CliRunner().invoke(cli, ["diff", "--policies", str(layer), str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["changed"], data["differences"], data["total"]) == (1, 4, 2)
    first = data["customers"][0]
    assert [(c["what"], c["entity"], c["before"], c["after"]) for c in first["changes"]] == [
        ("warning", "A1", "absent", "ledger-outside-finance (type: lite, capability: revenue-recognition)"),
        ("warning", "A2", "absent", "ledger-outside-finance (type: lite, capability: revenue-recognition)"),
        ("warning", "A1", "ledger-outside-finance (capability: revenue-recognition)", "absent"),
        ("warning", "A2", "ledger-outside-finance (capability: revenue-recognition)", "absent"),
    ]
    assert first["changes"][0]["conclusion"] == {
        "code": "ledger-outside-finance", "entity": "A1", "type": "lite", "capability": "revenue-recognition"
    }
    assert [(r["rule"], r["layer"], r["fires_only_under"], r["bindings"], r["unchanged"]) for r in first["rules"]] == [
        ("needs-left-to-other-books", "ours", "new", [
            {"capability": "revenue-recognition", "entity": "A1", "type": "lite"},
            {"capability": "revenue-recognition", "entity": "A2", "type": "lite"},
        ], False),
        ("needs-left-to-other-books", "docs-2026-08", "base", [
            {"capability": "revenue-recognition", "entity": "A1", "type": "lite"},
            {"capability": "revenue-recognition", "entity": "A2", "type": "lite"},
        ], False),
    ]
