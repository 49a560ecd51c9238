"""podeploy new-policy: a scaffold that validates and tests clean as created, lint naming each text to replace."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from podeploy.cli.main import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_new_policy_writes_a_policy_its_tests_and_the_editor_schemas(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    code, out, err = run("new-policy", "field-service", "--dir", str(folder))
    assert (code, err) == (0, "")
    assert out == (
        f"created {folder}/field-service.yaml\n"
        f"created {folder}/field-service.test.yaml\n"
        f"created {folder}/policy.schema.json\n"
        f"created {folder}/policy-test.schema.json\n"
        f"next: edit {folder}/field-service.yaml, then run 'podeploy lint {folder}' and 'podeploy test {folder}'\n"
    )
    assert (folder / "field-service.yaml").read_text().startswith(
        "# yaml-language-server: $schema=policy.schema.json\npolicy: field-service\n"
    )


def test_the_scaffold_passes_validate_and_test_and_lint_warns_of_each_text_to_replace(tmp_path: Path) -> None:
    folder = str(tmp_path / "mine")
    assert run("new-policy", "field-service", "--dir", folder)[0] == 0
    assert run("validate", folder) == (0, "ok: 1 policy file, 1 rule\n", "")
    code, out, _ = run("lint", folder)
    assert code == 0, out
    assert [line.split(": ")[2] for line in out.splitlines()[:-1]] == ["scaffold-text"] * 7
    assert out.splitlines()[-1] == "0 errors, 7 warnings"
    code, out, _ = run("test", folder, "--coverage-min", "100")
    assert code == 0, out
    assert out.splitlines()[-1] == "2 passed, 0 failed"


def test_the_scaffolded_fact_is_accepted_in_a_facts_file(tmp_path: Path) -> None:
    folder = str(tmp_path / "mine")
    run("new-policy", "field-service", "--dir", folder)
    facts = tmp_path / "customer.yaml"
    facts.write_text("customer: Example\nfield_service: true\n")
    code, out, _ = run("evaluate", str(facts), "--policies", folder)
    assert code == 0
    assert "  - field-service-applies [Example]: Example: field-service applies; say here what the customer" in out


def test_new_policy_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    run("new-policy", "field-service", "--dir", str(folder))
    (folder / "field-service.yaml").write_text("# my work\n")
    code, out, err = run("new-policy", "field-service", "--dir", str(folder))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{folder}/field-service.yaml:1:1: exists: already exists; choose another name or remove it",
        f"{folder}/field-service.test.yaml:1:1: exists: already exists; choose another name or remove it",
    ]
    assert (folder / "field-service.yaml").read_text() == "# my work\n"


@pytest.mark.parametrize("name", ["Field Service", "field_service", "x-", ""])
def test_a_policy_name_must_be_lower_case_words_joined_by_dashes(tmp_path: Path, name: str) -> None:
    code, out, err = run("new-policy", name, "--dir", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == f"{name}:1:1: bad-value: '{name}' is not a policy name: use lower-case words joined by '-'\n"
