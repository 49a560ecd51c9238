"""docs/authoring.md is run as written: its files are written, its commands run, their output compared.

Set PODEPLOY_REGENERATE_DOCS=1 to rewrite the outputs in the document from a run instead.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from podeploy.cli.main import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "authoring.md"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def run_document(text: str, workdir: Path) -> tuple[str, list[str]]:
    """Run every block of the tutorial in order; return the document with actual outputs, and mismatches."""
    mismatches: list[str] = []
    pieces: list[str] = []
    last = 0
    for block in FENCE.finditer(text):
        info, body = block["info"], block["body"]
        title = re.search(r'title="([^"]+)"', info)
        if info.startswith("yaml") and title:
            path = workdir / title.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
        if not info.startswith("console"):
            continue
        rebuilt: list[str] = []
        for command, expected in _commands(body):
            actual = _run(command, workdir)
            if actual != expected:
                mismatches.append(f"$ {command}\n--- expected\n{expected}--- actual\n{actual}")
            rebuilt.append(f"$ {command}\n{actual}")
        pieces.append(text[last : block.start("body")])
        pieces.append("".join(rebuilt))
        last = block.end("body")
    pieces.append(text[last:])
    return "".join(pieces), mismatches


def _commands(body: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for line in body.splitlines(keepends=True):
        if line.startswith("$ "):
            found.append((line[2:].strip(), ""))
        elif found:
            command, output = found[-1]
            found[-1] = (command, output + line)
    return found


def _run(command: str, workdir: Path) -> str:
    words = shlex.split(command)
    assert words[0] == "podeploy", command
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        result = CliRunner().invoke(cli, words[1:])
    finally:
        os.chdir(cwd)
    return result.stdout + result.stderr


def test_every_command_of_the_authoring_tutorial_prints_what_it_shows(tmp_path: Path) -> None:
    text = DOC.read_text()
    updated, mismatches = run_document(text, tmp_path)
    if os.environ.get("PODEPLOY_REGENERATE_DOCS"):
        DOC.write_text(updated)
        pytest.skip("docs/authoring.md rewritten from a run")
    assert not mismatches, "\n\n".join(mismatches)
    assert "OUTPUT" not in text


def test_the_tutorial_shows_the_default_knowledge() -> None:
    """No command of the tutorial picks older knowledge; what it shows is what a consultant gets today."""
    blocks = [block["body"] for block in FENCE.finditer(DOC.read_text()) if block["info"].startswith("console")]
    commands = [command for body in blocks for command, _ in _commands(body)]
    assert len(commands) == 9
    assert not [command for command in commands if "--as-of" in command or "--pack" in command]
    shown = DOC.read_text()
    assert "\nKnowledge: built-in, as of 2023-11 (" in shown
    assert "; docs-2026-08, as of 2026-08 (" in shown


def test_the_tutorials_misspelt_fact_gives_the_error_it_shows(tmp_path: Path) -> None:
    text = DOC.read_text()
    run_document(text, tmp_path)
    policy = tmp_path / "my-policies" / "field-service.yaml"
    policy.write_text(policy.read_text().replace("- field_service: true", "- field-servise: true"))
    shown = re.search(r"```text\n(my-policies/field-service.yaml:[^\n]+)\n```", text)
    assert shown is not None
    assert _run("podeploy validate my-policies", tmp_path) == shown.group(1) + "\n"


def _reference() -> str:
    text = DOC.read_text()
    return text[text.index("## 11. Reference") :]


def _keys(schema: dict[str, object]) -> set[str]:
    """Every property name a schema (and its definitions) allows."""
    found: set[str] = set()
    for part in [schema, *dict(schema.get("$defs", {})).values()]:  # type: ignore[call-overload]
        found.update(dict(part.get("properties", {})))
    return found


@pytest.mark.parametrize("name", ["policy.schema.json", "policy-test.schema.json"])
def test_the_reference_names_every_key_of_the_file_formats(name: str) -> None:
    import json

    schema = json.loads((DOC.parent.parent / "schemas" / name).read_text())
    reference = _reference()
    assert sorted(key for key in _keys(schema) if f"`{key}`" not in reference) == []


def test_the_reference_names_every_predicate_of_the_shipped_knowledge_with_its_fields_and_role() -> None:
    from podeploy.engine import load_knowledge_base
    from podeploy.engine.policy.layers import edition_dirs

    kb = load_knowledge_base(edition_dirs())
    table = _reference().split("### The predicates every knowledge base has")[1].split("###")[0]
    lines = [row for row in table.splitlines() if row.startswith("| `")]
    rows = {row.split("|")[1].strip().strip("`"): row.split("|")[2:4] for row in lines}
    for pid, predicate in kb.predicates.items():
        if pid in kb.facts:
            continue  # a fact of the vocabulary: described by its declaration
        assert pid in rows, pid
        fields, role = rows[pid]
        assert [f.strip().strip("`?") for f in fields.split(",")] == list(predicate.fields), pid
        assert role.strip() == (predicate.role or ""), pid
