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


def test_diff_reports_only_the_customers_that_change_with_the_rule_behind_it(tmp_path: Path) -> None:
    layer = tmp_path / "partner"
    layer.mkdir()
    (layer / "budget.yaml").write_text(textwrap.dedent(MEDIUM_IS_SMALL))
    folder = customers(tmp_path)
    result = CliRunner().invoke(cli, ["diff", "--policies", str(layer), str(folder)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{folder}/a-medium.yaml (Medium Co):\n"
        "  warning low-fit added\n"
        f"  because rule small-budget ({layer}/budget.yaml:4:5, layer partner) now fires\n"
        f"{folder}/b-large.yaml (Large Co): unchanged\n"
        "1 of 2 customers change.\n"
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
    assert first["changes"] == [{"what": "warning", "entity": None, "before": "low-fit", "after": "absent"}]
    assert first["rules"] == [
        {"rule": "small-budget", "location": f"{layer}/budget.yaml:4:5", "layer": "partner", "fires_only_under": "base"}
    ]


def test_diff_of_the_2025_pack_over_the_shipped_examples() -> None:
    result = CliRunner().invoke(cli, ["diff", "--pack", "2025-update", str(EXAMPLES), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    changed = {
        Path(c["file"]).name: [(x["what"], x["after"]) for x in c["changes"]] for c in data["customers"] if c["changed"]
    }
    assert changed == {
        "litware-small.yaml": [("warning", "project-online-retired")],
        "northwind-pma.yaml": [("note", "pma-modern-architecture")],
        "tailspin-psa.yaml": [("note", "psa-end-of-life")],
    }


def test_deployment_changes_are_shown_before_and_after(tmp_path: Path) -> None:
    folder = tmp_path / "customers"
    folder.mkdir()
    (folder / "w.yaml").write_text("customer: W\nrequirements: [stocked-inventory]\nfinance_version: 10.0.46\n")
    result = CliRunner().invoke(cli, ["diff", "--pack", "2025-update", str(folder)])
    assert result.exit_code == 0, result.output
    assert "  W: deployment stocked-production -> resource-non-stocked\n" in result.stdout
    assert "  because rule stocked-products-in-integrated (policies/packs/2025-update/stocked-products.yaml" in (
        result.stdout
    )


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
