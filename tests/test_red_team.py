"""Findings of the red team, each pinned: bad input is exit 2 with a located line, never an internal error.

Braces in explanations, ids with a trailing newline, control characters that would act on a terminal
or forge a row, and cells a spreadsheet would run as formulas. (The property-hash collisions of
durable-rules are in tests/test_engine_names.py.)
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from podeploy.cli.main import cli
from podeploy.engine.errors import visible
from podeploy.engine.tools.batch.results import record_row

RULE = """\
policy: partner
description: A partner's rule.
codes:
  - {{id: partner-note, kind: note, description: A note of the partner's.}}
rules:
  - id: {rule_id}
    description: Says something about small budgets.
    source: our playbook
    when:
      - budget: small
    then:
      - note: {{code: partner-note}}
    explanation: {explanation}
"""


def layer(tmp_path: Path, *, explanation: str = '"Small."', rule_id: str = "partner-rule") -> str:
    folder = tmp_path / "partner"
    folder.mkdir(exist_ok=True)
    (folder / "partner.yaml").write_text(RULE.format(explanation=explanation, rule_id=rule_id))
    return str(folder)


def invoke(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.mark.parametrize("explanation", ['"a } b"', '"a { b"', '"{entity"', '"}"'])
@pytest.mark.parametrize("command", ["validate", "lint", "evaluate", "capabilities", "schema"])
def test_a_lone_brace_in_an_explanation_is_located_bad_input(tmp_path: Path, explanation: str, command: str) -> None:
    folder = layer(tmp_path, explanation=explanation)
    args = {
        "validate": ["validate", folder],
        "lint": ["lint", folder],
        "evaluate": ["evaluate", "-", "--policies", folder],
        "capabilities": ["capabilities", "--policies", folder],
        "schema": ["schema", "facts", "--policies", folder],
    }[command]
    result = invoke(*args, input='{"customer": "Litware"}')
    assert result.exit_code == 2
    expected = (
        f"{folder}/partner.yaml:13:18: bad-explanation: rule 'partner-rule': a '{{' or '}}' without its pair in the "
        "explanation; write {{ or }} for a literal brace, {variable} for a value"
    )
    lines = result.stderr.splitlines() if command != "lint" else result.stdout.splitlines()
    assert [line.replace(": error:", ":") for line in lines if "bad-explanation" in line] == [expected]


def test_doubled_braces_are_literal_braces(tmp_path: Path) -> None:
    folder = layer(tmp_path, explanation='"Budget {{small}} for {customer}."'.replace("{customer}", "the customer"))
    result = invoke(
        "evaluate",
        "-",
        "--format",
        "json",
        "--as-of",
        "2023-11",
        "--policies",
        folder,
        input='{"customer": "Litware", "budget": "small"}',
    )
    assert result.exit_code == 0, result.stderr
    note = next(n for n in json.loads(result.stdout)["notes"] if n["code"] == "partner-note")
    assert note["message"] == "Budget {small} for the customer."


def test_an_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    folder = layer(tmp_path, rule_id='"partner-rule\\n"')
    result = invoke("validate", folder)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{folder}/partner.yaml:6:9: bad-value: rules.0.id: 'partner-rule\\n' must be lower-case letters and digits,"
        " starting with a letter, words joined by '-' or '_' (e.g. 'partner-rule')\n"
    )


@pytest.mark.parametrize(
    ("facts", "where", "shown"),
    [
        ('customer: "Acme\\e]0;owned\\a"\n', "1:11", "\\x1b"),
        ('customer: "Acme\\e[2J"\n', "1:11", "\\x1b"),
        ('customer: Acme\nlegal_entities:\n  - name: "A\\nB"\n', "3:11", "\\x0a"),
        ('customer: "Acme \\u202eevil"\n', "1:11", "\\u202e"),
        ('{"customer": "Acme\\u007f"}', "1:14", "\\x7f"),
    ],
    ids=["osc-title", "csi-clear", "newline-in-entity-name", "bidi-override", "delete"],
)
def test_a_control_character_in_a_facts_file_is_refused(facts: str, where: str, shown: str) -> None:
    result = invoke("evaluate", "-", input=facts)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"<stdin>:{where}: control-character: text holds a control character ({shown}); remove it\n"


def test_a_control_character_in_a_policy_text_is_refused_but_line_breaks_stay(tmp_path: Path) -> None:
    folder = layer(tmp_path, explanation='"Small \\e[31m budget."')
    result = invoke("validate", folder)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{folder}/partner.yaml:13:18: control-character: text holds a control character (\\x1b); remove it\n"
    )
    assert invoke("validate", layer(tmp_path, explanation=">\n      Small\n      budget.")).exit_code == 0


def test_control_characters_in_names_shown_in_messages_are_escaped(tmp_path: Path) -> None:
    odd = tmp_path / "odd\x1b]0;x\x07"
    odd.mkdir()
    (odd / "p.yaml").write_text("policy: p\ndescription: Nothing.\nrules: []\nbudgett: 1\n")
    result = invoke("validate", str(odd))
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "odd\\x1b]0;x\\x07/p.yaml:4:1: unknown-key" in result.stderr
    assert visible("a\x1bb\u2066c") == "a\\x1bb\\u2066c"


def test_csv_cells_never_start_a_formula_and_names_read_back_one_way() -> None:
    record = {
        "input": '=HYPERLINK("http://example.com")',
        "status": "ok",
        "customer": "+cmd|' /C calc'!A0",
        "deployments": ["lite"],
        "entities": [
            {"name": "A=B; C", "deployment": "lite", "gaps": ["receipt-ocr"]},
            {"name": "@D\\E", "deployment": "lite", "gaps": []},
        ],
        "warnings": [],
        "notes": [],
    }
    row = record_row(record)
    assert row[0] == '\'=HYPERLINK("http://example.com")'
    assert row[2] == "'+cmd|' /C calc'!A0"
    assert row[4] == "A\\=B\\; C=lite; @D\\\\E=lite"
    assert row[5] == "A\\=B\\; C=receipt-ocr"
    written = io.StringIO()
    csv.writer(written, lineterminator="\n").writerow(row)
    assert next(csv.reader(io.StringIO(written.getvalue()))) == row
    bad = record_row({"input": "-1+1", "status": "bad-input", "errors": ["@x"]})
    assert (bad[0], bad[-1]) == ("'-1+1", "'@x")


# -- outputs: never over an input, a link, a folder or a device ------------------------------------------

CONTOSO = Path(__file__).resolve().parent.parent / "examples" / "contoso.yaml"


def test_output_to_a_device_writes_in_place_and_leaves_the_device(tmp_path: Path) -> None:
    import stat

    result = invoke("evaluate", str(CONTOSO), "--output", "/dev/null")
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)


@pytest.mark.parametrize("command", ["evaluate", "why"])
def test_output_never_replaces_a_link_a_folder_or_an_input(tmp_path: Path, command: str) -> None:
    facts = tmp_path / "contoso.yaml"
    facts.write_text(CONTOSO.read_text())
    link = tmp_path / "link.yaml"
    link.symlink_to(facts)
    policies = tmp_path / "partner"
    policies.mkdir()
    (policies / "p.yaml").write_text("policy: p\ndescription: Nothing.\n")
    cases = {
        str(link): f"{link}:1:1: not-a-file: is a symbolic link; give --output the file it points to",
        str(tmp_path): f"{tmp_path}:1:1: not-a-file: is a directory, not a file",
        str(facts): f"{facts}:1:1: would-overwrite: --output names an input of this run ({facts}); choose another file",
        str(policies / "p.yaml"): (
            f"{policies / 'p.yaml'}:1:1: would-overwrite: --output names an input of this run"
            f" ({policies / 'p.yaml'}); choose another file"
        ),
        "": "--output:1:1: bad-value: --output needs a file name",
        str(tmp_path / "none" / "x.txt"): f"{tmp_path / 'none' / 'x.txt'}:1:1: not-found: no such directory: "
        f"{tmp_path / 'none'}",
    }
    before = {p: p.read_bytes() for p in (facts, policies / "p.yaml")}
    for output, message in cases.items():
        result = invoke(command, str(facts), "--as-of", "2023-11", "--policies", str(policies), "--output", output)
        assert result.exit_code == 2, output
        assert result.stderr == message + "\n"
    assert {p: p.read_bytes() for p in before} == before
    assert link.is_symlink()


def test_batch_out_never_replaces_an_input_and_skips_its_own_records(tmp_path: Path) -> None:
    folder = tmp_path / "customers"
    folder.mkdir()
    (folder / "contoso.yaml").write_text(CONTOSO.read_text())
    result = invoke("batch", str(folder), "--jobs", "1", "--out", str(folder / "contoso.yaml"))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"{folder / 'contoso.yaml'}:1:1: would-overwrite: --out names an input of this run"
        f" ({folder / 'contoso.yaml'}); choose another file"
    )
    out = folder / "results.jsonl"
    for _ in range(2):  # the second run must not read the first one's records as customers
        assert invoke("batch", str(folder), "--jobs", "1", "--out", str(out)).exit_code == 0
        assert [json.loads(line)["input"] for line in out.read_text().splitlines()] == [str(folder / "contoso.yaml")]


# -- pipes and devices where a folder is walked, big files, the cache ------------------------------------


def run_podeploy(*args: str, cwd: Path, stdin_path: str | None = None) -> tuple[int, str, str]:
    """A real process, with a guard against a hang (not a speed limit: a hang never ends)."""
    import subprocess
    import sys

    with open(stdin_path or "/dev/null", "rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "podeploy", *args], cwd=cwd, capture_output=True, text=True, timeout=300, stdin=stdin
        )
    return done.returncode, done.stdout, done.stderr


def test_a_pipe_in_a_walked_folder_is_refused_not_waited_for(tmp_path: Path) -> None:
    import os

    folder = tmp_path / "customers"
    folder.mkdir()
    (folder / "contoso.yaml").write_text(CONTOSO.read_text())
    os.mkfifo(folder / "pipe.yaml")
    code, out, err = run_podeploy("batch", "customers", "--jobs", "1", cwd=tmp_path)
    assert code == 2
    assert json.loads(out.splitlines()[1]) == {
        "input": "customers/pipe.yaml",
        "status": "bad-input",
        "errors": [
            "customers/pipe.yaml:1:1: not-a-file: batch reads regular files only; this is a pipe, a device or a socket"
        ],
    }
    policies = tmp_path / "partner"
    policies.mkdir()
    os.mkfifo(policies / "rules.yaml")
    code, _, err = run_podeploy("validate", "partner", cwd=tmp_path)
    assert code == 2
    assert err == "partner/rules.yaml:1:1: not-a-file: is not a regular file; a policy folder holds files\n"
    code, out, _ = run_podeploy("diff", "--as-of", "2023-11", "customers", cwd=tmp_path)
    assert code == 0 and out.splitlines()[-1] == "0 of 1 customers change."


def test_a_huge_sparse_policy_file_is_refused_from_its_size(tmp_path: Path) -> None:
    folder = tmp_path / "partner"
    folder.mkdir()
    with open(folder / "big.yaml", "wb") as handle:
        handle.truncate(2 * 1024**3)
    result = invoke("validate", str(folder))
    assert result.exit_code == 2
    assert result.stderr == f"{folder}/big.yaml:1:1: too-large: file is 2147483648 bytes; the limit is 4194304\n"


def test_a_cache_entry_copied_under_another_key_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    cache = tmp_path / "cache"
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(cache))
    seeds = json.loads(invoke("evaluate", str(CONTOSO), "--format", "json", "--as-of", "2023-11").stdout)
    current = json.loads(invoke("evaluate", str(CONTOSO), "--format", "json").stdout)
    entries = sorted(cache.glob("kb-*.pickle"), key=os.path.getmtime)
    assert len(entries) == 2
    entries[1].write_bytes(entries[0].read_bytes())  # the seeds' entry under the current knowledge's key
    assert json.loads(invoke("evaluate", str(CONTOSO), "--format", "json").stdout) == current
    assert json.loads(invoke("evaluate", str(CONTOSO), "--format", "json", "--as-of", "2023-11").stdout) == seeds
    stale = cache / ".kb-left-over.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    entries[1].unlink()
    invoke("evaluate", str(CONTOSO), "--format", "json")  # stores an entry again, and prunes
    assert not stale.exists()


def test_new_policy_into_a_file_or_with_a_name_of_two_lines_is_located_bad_input(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    result = invoke("new-policy", "x", "--dir", str(tmp_path / "afile"))
    assert (result.exit_code, result.stderr) == (
        2,
        f"{tmp_path / 'afile'}:1:1: not-a-directory: is a file, not a folder; give --dir a folder\n",
    )
    result = invoke("new-policy", "x\n", "--dir", str(tmp_path / "d"))
    assert result.exit_code == 2
    assert result.stderr.startswith("x\\x0a:1:1: bad-value: ")
    assert not (tmp_path / "d").exists()


def test_ask_reads_a_bounded_line_from_a_stream_without_line_ends(tmp_path: Path) -> None:
    code, out, err = run_podeploy("ask", cwd=tmp_path, stdin_path="/dev/zero")
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == "<stdin>:1:1: too-long: an answer of more than 10000 characters"


def test_legal_entities_whose_names_read_alike_are_refused() -> None:
    facts = (
        'customer: A\nlegal_entities:\n  - name: "Caf\\u00e9"\n  - name: "Cafe\\u0301"\n'
        '  - name: "caf\\u00e9\\u200b"\n  - name: "X"\n  - name: "X"\n'
    )
    result = invoke("evaluate", "-", input=facts)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "<stdin>:4:11: duplicate-entity: legal entity 'Cafe\u0301' reads like 'Caf\u00e9' (line 3); give each a name"
        " of its own",
        "<stdin>:5:11: duplicate-entity: legal entity 'caf\u00e9\\u200b' reads like 'Caf\u00e9' (line 3); give each"
        " a name of its own",
        "<stdin>:7:11: duplicate-entity: legal entity 'X' is listed twice (first at line 6)",
    ]


@pytest.mark.slow
def test_many_values_without_aliases_are_not_called_an_alias_bomb() -> None:
    entities = ",".join(f'{{"name": "e{i}"}}' for i in range(100_000))
    result = invoke("evaluate", "-", input=f'{{"customer": "A", "legal_entities": [{entities}]}}')
    assert result.exit_code == 2
    assert result.stderr.endswith(": too-large: more than 200000 values in one file\n")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("\x7f", "\\x7f"), ("\x9b", "\\x9b"), ("\x85", "\\x85"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")],
    ids=["delete", "csi-c1", "next-line", "line-separator", "paragraph-separator"],
)
def test_a_raw_control_character_in_a_json_string_is_refused_as_its_escape_is(raw: str, shown: str) -> None:
    message = f"<stdin>:1:14: control-character: text holds a control character ({shown}); remove it\n"
    escaped = invoke("evaluate", "-", input=f'{{"customer": "Acme\\u{ord(raw):04x}"}}')
    written = invoke("evaluate", "-", input=f'{{"customer": "Acme{raw}"}}')
    assert (escaped.exit_code, escaped.stdout, escaped.stderr) == (2, "", message)
    assert (written.exit_code, written.stdout, written.stderr) == (2, "", message)


def test_a_raw_delete_outside_a_json_string_stays_a_syntax_error() -> None:
    result = invoke("evaluate", "-", input='{"customer": "Acme" \x7f}')
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("<stdin>:1:1: yaml-syntax: unacceptable character #x007f")


def test_a_json_string_left_open_at_the_end_of_its_line_is_read_as_written() -> None:
    """Only strings JSON reads are rewritten: one left open, full of escaped quotes, stays the syntax error it is."""
    result = invoke("evaluate", "-", input='{"customer": "Acme\x7f' + '\\"' * 1000 + "\n}")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("<stdin>:1:1: yaml-syntax: unacceptable character #x007f")


# -- a reader that goes away, and standard output closed -------------------------------------------


def run_with_reader_gone(args: list[str], *, cwd: Path, stream: str, stdin: bytes = b"") -> tuple[int, bytes]:
    """A real process whose standard output (or error) is a pipe nobody reads any more, as after `| head -1`."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: every write breaks the pipe
    other = subprocess.PIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "podeploy", *args],
            cwd=cwd,
            input=stdin,
            stdout=write_end if stream == "stdout" else other,
            stderr=write_end if stream == "stderr" else other,
            timeout=300,
        )
    finally:
        os.close(write_end)
    return done.returncode, done.stderr if stream == "stdout" else done.stdout


def test_ask_whose_reader_goes_away_before_the_facts_are_written_fails_and_says_so(tmp_path: Path) -> None:
    code, err = run_with_reader_gone(["ask", "--out", "a.yaml"], cwd=tmp_path, stream="stdout", stdin=b"Acme\nn\n")
    assert code == 1
    assert err == b"podeploy: a.yaml was not written: standard output's reader went away\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ask_whose_reader_goes_away_with_the_facts_on_standard_output_stops_quietly(tmp_path: Path) -> None:
    code, err = run_with_reader_gone(["ask"], cwd=tmp_path, stream="stdout", stdin=b"Acme\nn\n")
    assert (code, err.count(b"Traceback")) == (0, 0)


def test_batch_writes_its_out_file_before_a_summary_nobody_reads(tmp_path: Path) -> None:
    contoso = Path(__file__).resolve().parent.parent / "examples" / "contoso.yaml"
    code, out = run_with_reader_gone(
        ["batch", str(contoso), "--out", "r.jsonl", "--jobs", "1"], cwd=tmp_path, stream="stderr"
    )
    assert (code, out) == (0, b"")
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]
    assert json.loads((tmp_path / "r.jsonl").read_text())["status"] == "ok"


# -- SIGTERM ends a run as Ctrl-C does ---------------------------------------------------------------


def _in_session(sid: int) -> list[int]:
    """The processes still alive in a session (the batch, its workers, the forkserver, the resource tracker)."""
    import os

    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    alive.append(int(entry))
            except OSError:
                continue
    return alive


@pytest.mark.parametrize("whom", ["the batch", "its process group"])
def test_sigterm_to_a_batch_writing_out_leaves_nothing_behind(tmp_path: Path, whom: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    many = tmp_path / "many.jsonl"
    many.write_text('{"customer": "Acme", "requirements": ["project-sales"]}\n' * 5000)
    batch = subprocess.Popen(
        [sys.executable, "-m", "podeploy", "batch", "many.jsonl", "--out", "results.jsonl", "--jobs", "2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    while not any(p.name.startswith(".results.jsonl.") for p in tmp_path.iterdir()):  # writing has begun
        assert batch.poll() is None, batch.communicate()
        time.sleep(0.01)
    if whom == "the batch":
        batch.send_signal(signal.SIGTERM)
    else:
        os.killpg(batch.pid, signal.SIGTERM)
    out, err = batch.communicate(timeout=300)
    assert batch.returncode == 143
    assert (out, err.splitlines()[-1:]) == (b"", [b"podeploy: terminated"])
    assert b"Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.jsonl"]
    for _ in range(3000):  # the workers, forkserver and resource tracker leave once the batch is gone
        if not _in_session(batch.pid):
            break
        time.sleep(0.1)
    assert _in_session(batch.pid) == []


# -- bounds on the work of valid inputs ----------------------------------------------------------------

FIVE_NEEDS = """\
policy: boom
description: A rule that joins five of an entity's needs.
codes:
  - {id: boom-note, kind: note, description: Five needs.}
rules:
  - id: five-needs
    description: Joins five needs.
    source: test
    when:
      - requirements: {entity: $entity, value: $a}
      - requirements: {entity: $entity, value: $b}
      - requirements: {entity: $entity, value: $c}
      - requirements: {entity: $entity, value: $d}
      - requirements: {entity: $entity, value: $e}
    then:
      - note: {code: boom-note, entity: $entity, about: $a}
    explanation: "{entity} five."
"""
TWELVE_NEEDS = (
    "customer: Acme\nrequirements: [project-sales, wbs-planning, resource-management, time-tracking, basic-expense,"
    " full-expense, receipt-ocr, material-usage, budgeting-forecasting, subcontracting, proforma-invoicing,"
    " customer-facing-invoicing]\n"
)


@pytest.mark.parametrize("engine", ["durable", "reference"])
def test_a_rule_whose_joins_explode_is_refused_at_the_rule_not_run_out_of_memory(tmp_path: Path, engine: str) -> None:
    (tmp_path / "boom").mkdir()
    (tmp_path / "boom" / "boom.yaml").write_text(FIVE_NEEDS)
    result = invoke("evaluate", "-", "--policies", str(tmp_path / "boom"), "--engine", engine, input=TWELVE_NEEDS)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"{tmp_path}/boom/boom.yaml:6:5: too-much-matching: rule 'five-needs' joins 5 conditions and with this"
        " customer's facts they match more than 114,000 combinations, the limit of one evaluation (it grows with"
        " the facts given); join fewer conditions, or bind them to one another\n"
    )
    # Five needs join into 3,125 combinations: well within the limit, evaluated alike on both engines.
    five = "customer: Acme\nrequirements: [project-sales, wbs-planning, time-tracking, basic-expense, full-expense]\n"
    fine = invoke("evaluate", "-", "--policies", str(tmp_path / "boom"), "--engine", engine, "--format", "json",
                  input=five)
    assert fine.exit_code == 0
    assert [n["about"] for n in json.loads(fine.stdout)["notes"] if n["code"] == "boom-note"] == [
        "basic-expense", "full-expense", "project-sales", "time-tracking", "wbs-planning"
    ]


def test_the_work_budget_grows_with_the_customer_not_its_square() -> None:
    from podeploy.engine.evaluation.limits import work_budget

    assert work_budget(0) == 100_000
    assert work_budget(5_000) == 5_100_000  # 1,000 legal entities of five facts each


def test_batch_jobs_are_capped_at_the_cpus_this_process_may_use(tmp_path: Path) -> None:
    from podeploy.engine.tools.batch.pool import usable_cpus

    contoso = Path(__file__).resolve().parent.parent / "examples" / "contoso.yaml"
    result = invoke("batch", str(contoso), "--jobs", "100000")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == (
        f"batch: --jobs 100000 is more than the {usable_cpus()} CPUs here; running {usable_cpus()}"
    )


def _many_entities(count: int) -> str:
    entities = "".join(f"  - name: E{i}\n    requirements: [project-sales, time-tracking]\n" for i in range(count))
    return f"customer: Acme\nledger: dynamics-365-finance\nlegal_entities:\n{entities}"


def test_open_questions_of_a_customer_too_large_to_analyse_are_listed_by_what_the_rules_reach() -> None:
    from podeploy.engine.explain.render import COARSE_NOTE

    result = invoke("evaluate", "-", input=_many_entities(5))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert f"  ({COARSE_NOTE})" in lines
    assert "  - E4: Does the customer (or this legal entity) already run Project Service Automation, Finance's" \
        " Project management and accounting, or a Project Operations deployment? (could change: the deployment," \
        " warning capability-gap, warning entity-promoted, warning finance-pma-continue, warning" \
        " inventory-reservation-version, warning item-requirements-version, warning ledger-outside-finance," \
        " warning no-migration-path, warning pma-modern-architecture, warning psa-upgrade)" in lines
    four = invoke("evaluate", "-", input=_many_entities(4))
    assert f"  ({COARSE_NOTE})" not in four.stdout.splitlines()  # four legal entities are analysed exactly


def test_ask_on_a_customer_too_large_to_analyse_asks_every_question_that_can_matter(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(_many_entities(30))
    result = invoke("ask", "--answers", str(answers), "--out", str(tmp_path / "facts.yaml"))
    assert result.exit_code == 0, result.stderr
    written = (tmp_path / "facts.yaml").read_text()
    assert written.count("requirements: [project-sales, time-tracking]") == 30
    assert written.count("unknown: [existing_solution, region, finance_version]") == 30


def test_what_if_budget_shrinks_with_the_facts() -> None:
    from podeploy.engine.tools.whatif.searching import DEFAULT_BUDGET, sized_budget

    assert sized_budget(DEFAULT_BUDGET, 20) == DEFAULT_BUDGET  # a one-entity customer keeps the whole budget
    assert sized_budget(DEFAULT_BUDGET, 101) == 3_960  # 20 legal entities
    assert sized_budget(DEFAULT_BUDGET, 501) == 798  # 100 legal entities
    assert sized_budget(DEFAULT_BUDGET, 400_001) == 1  # 100,000 legal entities: the facts as they are
    assert sized_budget(5, 101) == 5


def test_what_if_says_when_the_customers_size_cut_its_budget() -> None:
    facts = "customer: Acme\nlegal_entities:\n" + "".join(
        f"  - name: E{i}\n    requirements: [project-sales, time-tracking]\n" for i in range(100)
    )
    result = invoke("what-if", "-", "--target", "stocked-production", "--format", "json", input=facts)
    assert result.exit_code == 0, result.stderr
    search = json.loads(result.stdout)["search"]
    assert (search["budget"], search["stopped"], search["found"]) == (1_328, "budget", False)


def test_what_if_answers_a_customer_of_sixteen_legal_entities() -> None:
    # 16 legal entities: the budget cut to their size still covers every single change (682 sets).
    needs = ("[project-sales, time-tracking]", "[customer-facing-invoicing, revenue-recognition]",
             "[production-orders, stocked-inventory]")
    facts = "customer: Generated\nledger: dynamics-365-finance\nlegal_entities:\n" + "".join(
        f"  - name: Entity {i + 1}\n    requirements: {needs[i % 3]}\n" for i in range(16)
    )
    result = invoke("what-if", "-", "--target", "lite", "--format", "json", input=facts)
    assert result.exit_code == 0, result.stderr
    search = json.loads(result.stdout)["search"]
    assert (search["budget"], search["stopped"], search["found"], search["sets"]) == (6_153, None, True, 682)


@pytest.mark.slow
def test_the_ask_conversation_says_when_a_customer_is_too_large_to_analyse() -> None:
    five = invoke("ask", input="Acme\ny\nA\nB\nC\nD\nE\n\n")
    assert five.exit_code == 0, five.stderr
    said = "  (more than 4 legal entities: every question that can matter is asked, in order)"
    assert said in five.stderr.splitlines()
    four = invoke("ask", input="Acme\ny\nA\nB\nC\nD\n\n")
    assert four.exit_code == 0, four.stderr
    assert said not in four.stderr.splitlines()
