"""`ask: always`: a fact a policy wants asked in every workshop, even when no answer changes the advice."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from podeploy.cli.main import cli

LAYER = """\
policy: workshop-extras
description: What our practice records in every workshop.
facts:
  - id: go_live_quarter
    type: choice
    values: [q1, q2, q3, q4]
    description: The quarter the customer means to go live in.
    question: In which quarter does the customer mean to go live?
    {ask}
"""


def ask(tmp_path: Path, ask_line: str) -> tuple[int, str]:
    (tmp_path / "layer").mkdir(exist_ok=True)
    (tmp_path / "layer" / "extras.yaml").write_text(LAYER.format(ask=ask_line))
    (tmp_path / "answers.yaml").write_text("customer: Acme\nrequirements: [time-tracking]\ngo_live_quarter: q3\n")
    result = CliRunner().invoke(
        cli, ["ask", "--answers", str(tmp_path / "answers.yaml"), "--policies", str(tmp_path / "layer")]
    )
    return result.exit_code, result.output


QUESTION = "In which quarter does the customer mean to go live? [q1/q2/q3/q4/?] q3"


def test_a_fact_marked_ask_always_is_asked_although_no_answer_changes_the_advice(tmp_path: Path) -> None:
    code, out = ask(tmp_path, "ask: always")
    assert code == 0
    assert QUESTION in out.splitlines()
    assert "go_live_quarter: q3" in out.splitlines()


@pytest.mark.parametrize("ask_line", ["", "ask: when-it-matters"], ids=["default", "when-it-matters"])
def test_a_fact_no_answer_of_which_changes_the_advice_is_not_asked_by_default(tmp_path: Path, ask_line: str) -> None:
    code, out = ask(tmp_path, ask_line)
    assert code == 0
    assert QUESTION not in out.splitlines()


def test_an_unknown_ask_setting_names_the_choices(tmp_path: Path) -> None:
    (tmp_path / "extras.yaml").write_text(LAYER.format(ask="ask: sometimes"))
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'extras.yaml'}:9:10:" in result.stderr
    assert "'sometimes'" in result.stderr
