"""A facts file and the policy layers it needs: named in the file (`packs:`, `policies:`), or hinted at
when a fact is unknown."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from podeploy.cli.main import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

LAYER = """\
policy: intercompany
description: Legal entities that invoice each other.
facts:
  - id: intercompany
    type: boolean
    description: The legal entities invoice each other.
    question: Do the legal entities invoice each other?
codes:
  - id: intercompany-setup
    kind: warning
    description: Intercompany invoicing needs its own setup.
rules:
  - id: intercompany-on-core
    description: Intercompany invoicing on Project Operations Core.
    source: our practice's intercompany playbook
    when:
      - intercompany: true
      - deployment: {entity: $entity, type: lite}
    then:
      - warning: {code: intercompany-setup, entity: $entity}
    explanation: "{entity} invoices other legal entities: plan intercompany invoicing outside Project Operations Core."
"""

FACTS = """\
customer: Acme
intercompany: true
requirements: [time-tracking]
"""


@pytest.fixture
def workshop(tmp_path: Path) -> Iterator[Path]:
    """A consultant's folder: a layer in contoso-layer/, customers' facts files in customers/; the cwd."""
    (tmp_path / "contoso-layer").mkdir()
    (tmp_path / "contoso-layer" / "intercompany.yaml").write_text(LAYER)
    (tmp_path / "customers").mkdir()
    (tmp_path / "customers" / "acme.yaml").write_text(FACTS)
    before = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_an_unknown_fact_names_the_layer_nearby_that_declares_it_and_how_to_load_it(workshop: Path) -> None:
    code, out, err = run("evaluate", "customers/acme.yaml")
    assert (code, out) == (2, "")
    assert err == (
        "customers/acme.yaml:2:1: unknown-fact: 'intercompany' is not a known fact (the policy layer in "
        "'../contoso-layer' declares it: load it with --policies contoso-layer, or add "
        "'policies: [../contoso-layer]' to the facts file)\n"
    )


def test_the_hint_follows_the_command_line_that_the_consultant_typed(workshop: Path) -> None:
    os.chdir(workshop / "customers")
    code, _, err = run("evaluate", "acme.yaml")
    assert code == 2
    assert "load it with --policies ../contoso-layer, or add 'policies: [../contoso-layer]'" in err


def test_a_fact_of_the_knowledge_left_out_by_as_of_says_which_edition_declares_it() -> None:
    code, _, err = run("evaluate", "--as-of", "2023-11", str(EXAMPLES / "northwind-modern.yaml"))
    assert code == 2
    assert err.splitlines()[0] == (
        f"{EXAMPLES / 'northwind-modern.yaml'}:6:1: unknown-fact: 'ledger' is not a known fact (podeploy's "
        "knowledge of 2026-08, 'docs-2026-08', declares it: leave out --as-of, or add --pack docs-2026-08 or "
        "'packs: [docs-2026-08]' to the facts file)"
    )


def test_an_unknown_fact_that_no_layer_declares_gets_no_hint(workshop: Path) -> None:
    (workshop / "customers" / "acme.yaml").write_text("customer: Acme\nnowhere_declared: true\n")
    code, _, err = run("evaluate", "customers/acme.yaml")
    assert (code, err) == (2, "customers/acme.yaml:2:1: unknown-fact: 'nowhere_declared' is not a known fact\n")


def test_a_facts_file_that_names_its_layer_is_evaluated_as_sent(workshop: Path) -> None:
    (workshop / "customers" / "acme.yaml").write_text("policies: [../contoso-layer]\n" + FACTS)
    code, out, err = run("evaluate", "customers/acme.yaml", "--format", "json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert [(w["code"], w["entity"]) for w in result["warnings"]] == [("intercompany-setup", "Acme")]
    assert "contoso-layer" in [layer["layer"] for layer in result["knowledge"]]


@pytest.mark.parametrize(
    "command",
    [
        ["why", "customers/acme.yaml"],
        ["what-if", "customers/acme.yaml", "--set", "intercompany=false"],
        ["batch", "customers", "--format", "jsonl"],
    ],
    ids=["why", "what-if", "batch"],
)
def test_every_command_that_reads_a_facts_file_loads_the_layers_it_names(workshop: Path, command: list[str]) -> None:
    (workshop / "customers" / "acme.yaml").write_text("policies: [../contoso-layer]\n" + FACTS)
    code, out, _ = run(*command)
    assert code == 0
    assert "intercompany" in out


def test_a_facts_file_may_name_the_edition_it_needs_even_under_an_earlier_as_of() -> None:
    text = (EXAMPLES / "northwind-modern.yaml").read_text()
    assert CliRunner().invoke(cli, ["evaluate", "--as-of", "2023-11", "-"], input=text).exit_code == 2
    result = CliRunner().invoke(cli, ["evaluate", "--as-of", "2023-11", "-"], input="packs: [docs-2026-08]\n" + text)
    assert (result.exit_code, result.stderr) == (0, "")
    assert "docs-2026-08" in result.stdout


@pytest.mark.parametrize(
    ("named", "message"),
    [
        (
            "packs: [docs-2026]",
            "customers/acme.yaml:1:9: unknown-pack: no pack named 'docs-2026' (did you mean 'docs-2026-08'?) "
            "(packs: 2025-update, docs-2026-08)",
        ),
        (
            "policies: [../no-such-layer]",
            "customers/acme.yaml:1:12: not-found: no policy folder or file '../no-such-layer' beside this file "
            "(looked for {root}/no-such-layer)",
        ),
        (
            "policies: [/etc]",
            "customers/acme.yaml:1:12: bad-value: '/etc' is an absolute path; name the layer relative to this "
            "file's folder, so that the file and its layer travel together",
        ),
        (
            "policies: ../contoso-layer",
            "customers/acme.yaml:1:11: wrong-type: policies: expected a list, got '../contoso-layer' (text)",
        ),
    ],
    ids=["unknown-pack", "missing-folder", "absolute-path", "not-a-list"],
)
def test_a_layer_named_wrongly_is_a_located_problem_of_the_facts_file(
    workshop: Path, named: str, message: str
) -> None:
    (workshop / "customers" / "acme.yaml").write_text(named + "\n" + FACTS)
    code, out, err = run("evaluate", "customers/acme.yaml")
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == message.format(root=os.path.realpath(workshop))


def test_ask_records_the_layers_it_ran_with_relative_to_the_file_it_writes(workshop: Path) -> None:
    (workshop / "answers.yaml").write_text(FACTS)
    code, _, _ = run(
        "ask", "--answers", "answers.yaml", "--policies", "contoso-layer", "--pack", "docs-2026-08",
        "--out", "customers/asked.yaml",
    )
    assert code == 0
    written = (workshop / "customers" / "asked.yaml").read_text().splitlines()
    assert written[1:4] == ["customer: Acme", "packs: [docs-2026-08]", "policies: [../contoso-layer]"]
    code, out, err = run("evaluate", "customers/asked.yaml")
    assert (code, err) == (0, "")
    assert "intercompany-setup [Acme]" in out


def test_a_policy_cannot_declare_a_fact_named_like_a_facts_file_key(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        textwrap.dedent(
            """\
            policy: bad
            description: Declares a reserved name.
            facts:
              - id: policies
                type: boolean
                description: Shadows the facts file's own key.
                question: Is it?
            """
        )
    )
    code, _, err = run("validate", str(tmp_path))
    assert code == 2
    assert "reserved-name: 'policies' is part of every facts file and cannot be declared" in err



def test_diff_compares_the_layers_its_command_line_names_not_those_a_facts_file_names(workshop: Path) -> None:
    (workshop / "customers" / "acme.yaml").write_text("policies: [../contoso-layer]\n" + FACTS)
    code, out, _ = run("diff", "--base", "contoso-layer", "--policies", "contoso-layer", "customers")
    assert code == 0
    assert out.splitlines()[-1] == "0 of 1 customers change."


def test_every_layer_nearby_that_declares_the_fact_is_named(workshop: Path) -> None:
    (workshop / "contoso-layer-old").mkdir()
    (workshop / "contoso-layer-old" / "intercompany.yaml").write_text(LAYER)
    code, _, err = run("evaluate", "customers/acme.yaml")
    assert code == 2
    assert err == (
        "customers/acme.yaml:2:1: unknown-fact: 'intercompany' is not a known fact (the policy layers in "
        "'../contoso-layer' and '../contoso-layer-old' declare it: load the one you mean with --policies, or name "
        "it under 'policies:' in the facts file)\n"
    )


def test_diff_says_it_loads_only_its_own_layers_when_the_file_names_the_one_that_declares_a_fact(
    workshop: Path,
) -> None:
    (workshop / "customers" / "acme.yaml").write_text("policies: [../contoso-layer]\n" + FACTS)
    code, out, _ = run("diff", "customers")
    assert code == 2  # a facts file that could not be evaluated
    assert (
        "customers/acme.yaml:3:1: unknown-fact: 'intercompany' is not a known fact (the policy layer in "
        "'../contoso-layer', which this facts file names, declares it; this command loads only the layers its "
        "command line names: add --policies contoso-layer)"
    ) in out


def test_a_missing_layer_folder_suggests_the_one_beside_it(workshop: Path) -> None:
    (workshop / "customers" / "acme.yaml").write_text("policies: [../contoso-layr]\n" + FACTS)
    code, _, err = run("evaluate", "customers/acme.yaml")
    assert code == 2
    assert err.splitlines()[0].endswith("(did you mean '../contoso-layer'?)")


def test_a_named_layer_is_shown_in_the_trace_as_the_command_line_would_show_it(workshop: Path) -> None:
    (workshop / "customers" / "acme.yaml").write_text("policies: [../contoso-layer]\n" + FACTS)
    code, out, _ = run("why", "customers/acme.yaml")
    assert code == 0
    assert "rule intercompany-on-core (contoso-layer/intercompany.yaml:13:5 in layer contoso-layer)" in out


ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("policies/choosing.test.yaml", "this looks like a policy test file; run it with 'podeploy test FILE'"),
        ("policies/choosing.yaml", "this looks like a policy file; load it with --policies FILE"),
    ],
    ids=["a-test-file", "a-policy-file"],
)
def test_a_test_or_policy_file_given_as_facts_says_what_it_looks_like(path: str, says: str) -> None:
    code, out, err = run("evaluate", str(ROOT / path))
    assert (code, out) == (2, "")
    assert err == f"{ROOT / path}:2:1: missing-key: 'customer' is required: {says}\n"
