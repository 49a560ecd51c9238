"""Explanations that lead with the reason: why first says what decided a type, a warning keeps every rule behind it,
what-if says what it takes away from a warning, and text follows the terminal's conventions (NO_COLOR, --color,
wide characters)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from podeploy.cli.main import cli
from podeploy.engine.explain.render import display_width, pad

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ESC = "\x1b["


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def on_a_terminal(*args: str, env: dict[str, str] | None = None) -> str:
    """What podeploy prints to a terminal (a pseudo-terminal here), as the terminal receives it."""
    master, slave = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "podeploy", *args], stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        cwd=ROOT, env=environment,
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


# -- why leads with the deciding facts ---------------------------------------------------------------------------


def test_why_says_first_what_rules_out_the_lighter_types() -> None:
    status, out, _ = run("why", str(EXAMPLES / "adatum-mixed.json"))
    assert status == 0
    lines = out.splitlines()
    start = lines.index("Adatum Factory: stocked-production (Project Operations for manufacturing)")
    assert lines[start + 1 : start + 4] == [
        "  Decided by what rules out the lighter types:",
        "    not lite (Project Operations Core):",
        "      - Adatum Factory needs production orders, which Project Operations Core does not offer.  (rule "
        "type-lacks-capability, policies/editions/docs-2026-08/books.yaml:86:5; \"Determine your deployment type\" "
        '(2023-11-06), section "Deployment types")',
    ]
    decided = lines[start : lines.index("  How it was derived:", start)]
    assert "    not resource-non-stocked (Project Operations Integrated with ERP):" in decided
    assert decided[-1] == (
        "  Chosen: Project Operations for manufacturing is the lightest deployment type still open that offers "
        "everything Adatum Factory needs.  (rule lightest-covering-type, policies/choosing.yaml:69:5)"
    )


def test_a_lightest_type_is_decided_by_the_rule_that_chose_it() -> None:
    _, out, _ = run("why", "-", input="customer: Fabrikam\n")
    lines = out.splitlines()
    assert lines[3:5] == [
        "Fabrikam: lite (Project Operations Core)",
        "  Chosen: Project Operations Core is the lightest deployment type still open that offers everything "
        "Fabrikam needs.  (rule lightest-covering-type, policies/choosing.yaml:69:5)",
    ]


# -- a warning concluded by two rules keeps both ---------------------------------------------------------------


def test_a_merged_warning_keeps_both_rules_and_both_sources() -> None:
    _, out, _ = run("evaluate", "examples/litware-small.yaml", "--format", "json")
    [low_fit] = [w for w in json.loads(out)["warnings"] if w["code"] == "low-fit"]
    assert [(r["rule"], r["source"], r["explanation"].split(" Project Operations ")[0]) for r in low_fit["rules"]] == [
        ("small-budget", "003_93bb5cf298cac590.txt#what-project-operations-is-not", "With a small budget"),
        (
            "low-pm-maturity",
            "003_93bb5cf298cac590.txt#recommendations-on-when-to-use-project-operations",
            "With a low project-management maturity",
        ),
    ]
    assert [c["section"] for r in low_fit["rules"] for c in r["citations"]] == [
        "What Project Operations is not",
        "Recommendations on when to use Project Operations",
    ]
    _, why, _ = run("why", "examples/litware-small.yaml")
    lines = why.splitlines()
    at = lines.index("  low-fit")
    rules = [line.strip() for line in lines[at:] if "rule small-budget (" in line or "rule low-pm-maturity (" in line]
    assert rules[0].startswith("<- step ") and "rule small-budget (policies/" in rules[0]
    assert rules[1].startswith("and <- step ") and "rule low-pm-maturity (policies/editions/docs-2026-08/" in rules[1]


def test_what_if_says_what_it_removes_from_a_warning() -> None:
    status, out, _ = run("what-if", "examples/litware-small.yaml", "--set", "budget=large")
    assert status == 0
    assert out.splitlines()[-2:] == [
        "What else changes:",
        "  warning low-fit no longer says: With a small budget Project Operations may be the wrong tool: it is a "
        "full ERP-class product and pays off only when implemented across the whole service lifecycle. Try Planner "
        "(premium plans, the former Project for the web) on its own first. (rule small-budget)",
    ]
    _, both, _ = run("what-if", "examples/litware-small.yaml", "--set", "budget=large", "--set", "pm_maturity=high")
    assert both.splitlines()[-3:] == [
        "What else changes:",
        "  warning low-fit removed",
        "  note project-online-retired removed",
    ]


def test_diff_tells_two_warnings_of_one_code_apart(tmp_path: Path) -> None:
    folder = tmp_path / "customers"
    folder.mkdir()
    (folder / "w.yaml").write_text("customer: W\nledger: other-erp\nrequirements: [customer-facing-invoicing, "
                                   "revenue-recognition]\n")
    status, out, _ = run("diff", "--base-as-of", "2023-11", str(folder))
    assert status == 0
    added = [line for line in out.splitlines() if "ledger-outside-finance" in line]
    assert added == [
        "  W: warning ledger-outside-finance (capability: customer-facing-invoicing) added",
        "  W: warning ledger-outside-finance (capability: revenue-recognition) added",
    ]


# -- colour and width ------------------------------------------------------------------------------------------


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    assert ESC in on_a_terminal("evaluate", "examples/contoso.yaml")
    assert ESC not in on_a_terminal("evaluate", "examples/contoso.yaml", env={"NO_COLOR": "1"})
    assert ESC not in on_a_terminal("evaluate", "examples/contoso.yaml", "--no-color")
    assert ESC in on_a_terminal("evaluate", "examples/contoso.yaml", "--color", env={"NO_COLOR": "1"})
    # An empty NO_COLOR is unset (no-color.org).
    assert ESC in on_a_terminal("why", "examples/contoso.yaml", env={"NO_COLOR": ""})


@pytest.mark.parametrize("command", ["evaluate", "why"])
def test_color_forces_colour_into_a_pipe(command: str) -> None:
    _, plain, _ = run(command, "examples/contoso.yaml")
    _, coloured, _ = run(command, "examples/contoso.yaml", "--color")
    assert ESC not in plain and ESC in coloured


def test_wide_characters_keep_the_columns_aligned() -> None:
    assert display_width("東京製作所") == 10 and display_width("Cafe\u0301") == 4 and display_width("abc") == 3
    assert pad("東京", 6) == "東京  "
    facts = (
        "customer: Contoso Japan\nbudget: medium\npm_maturity: high\nlegal_entities:\n"
        "  - name: 東京製作所\n    requirements: [production-orders]\n"
        "  - name: Osaka Services KK\n    requirements: [customer-facing-invoicing]\n"
    )
    _, out, _ = run("evaluate", "-", "--as-of", "2023-11", input=facts)
    rows = [line for line in out.splitlines() if "stocked-production  (" in line or "resource-non-stocked  (" in line]
    assert rows == [
        "  東京製作所         stocked-production  (Project Operations for stocked/production order scenarios)",
        "  Osaka Services KK  resource-non-stocked  (Project Operations for resource/non-stocked scenarios)"
        "  provisional",
    ]
    # The type starts in the same terminal column on both rows, though the first name has fewer characters.
    starts = [display_width(row[: row.index(t)]) for row, t in zip(rows, ["stocked", "resource"], strict=True)]
    assert starts == [21, 21]
