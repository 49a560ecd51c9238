"""podeploy batch: many facts documents over worker processes, in input order, crashes contained."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from podeploy.cli.batch_command import batch
from podeploy.engine.evaluation.evaluate import evaluate
from podeploy.engine.io.outputs import atomic_file
from podeploy.engine.tools.batch.inputs import BatchInput, expand_inputs, json_lines
from podeploy.engine.tools.batch.pool import death_reason
from podeploy.engine.tools.batch.results import CSV_HEADER

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = ROOT / "examples" / "contoso.yaml"
TYPO_LINE = "{path}:2:16: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)"


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    # The crash hook is read from the environment by the parent; make sure no stray value leaks in.
    base = {"PODEPLOY_TEST_CRASH_ON": "", "PODEPLOY_TEST_CRASH_ATTEMPTS": "", "PODEPLOY_POLICIES": ""}
    return CliRunner().invoke(batch, args, env={**base, **(env or {})}, catch_exceptions=False)


def records(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def customers(tmp_path: Path, count: int) -> list[Path]:
    """Facts files of different sizes (so workers finish out of order), named in sorted order."""
    paths = []
    for i in range(count):
        entities = "".join(
            f"  - name: Entity {j}\n    requirements: [{'production-orders' if j % 2 else 'revenue-recognition'}]\n"
            for j in range(i % 5)
        )
        body = f"customer: Customer {i:02d}\nrequirements: [time-tracking]\n"
        if entities:
            body += "legal_entities:\n" + entities
        path = tmp_path / f"c{i:02d}.yaml"
        path.write_text(body, encoding="utf-8")
        paths.append(path)
    return paths


@pytest.mark.slow
def test_records_come_in_input_order_with_two_workers(tmp_path: Path) -> None:
    paths = customers(tmp_path, 24)
    given = [str(p) for p in reversed(paths[12:])] + [str(tmp_path / "c0*.yaml")]
    result = run([*given, "--jobs", "2"])
    assert result.exit_code == 0, result.stderr
    expected = [str(p) for p in reversed(paths[12:])] + [str(p) for p in paths[:10]]
    got = records(result)
    assert [r["input"] for r in got] == expected
    assert [r["customer"] for r in got] == [f"Customer {Path(p).stem[1:]}" for p in expected]
    assert all(r["status"] == "ok" and r["engine"] == "durable" for r in got)
    assert result.stderr.splitlines()[0].startswith("batch: 22 inputs in ")
    assert result.stderr.splitlines()[0].endswith(": 22 evaluated, 0 bad input, 0 failed")


# The shipped examples that use only the seed's facts (README, "The facts file"); the others need the edition's.
SEED_EXAMPLES = [
    "adatum-mixed.json",
    "contoso.yaml",
    "fabrikam-finance-later.yaml",
    "fabrikam-services.yaml",
    "litware-small.yaml",
    "northwind-pma.yaml",
    "tailspin-psa.yaml",
]


@pytest.mark.parametrize(
    ("args", "edition"),
    [
        pytest.param([], True, id="default"),
        pytest.param(["--pack", "2025-update"], True, id="former-pack-is-the-edition"),
        pytest.param(["--as-of", "2023-11"], False, id="as-of-2023-11"),
        pytest.param(["--as-of", "2023-11", "--pack", "2025-update"], True, id="as-of-2023-11-with-pack"),
    ],
)
def test_a_record_is_the_evaluate_json_without_the_trace(args: list[str], edition: bool) -> None:
    from podeploy.engine import BadInput, load_facts, load_knowledge_base
    from podeploy.engine.explain.render import decision_json
    from podeploy.engine.policy.layers import edition_dirs

    examples = sorted((ROOT / "examples").iterdir())
    result = run([str(ROOT / "examples"), "--jobs", "2", *args])
    kb = load_knowledge_base(edition_dirs() if edition else [])
    expected = []
    for path in examples:
        try:
            data = decision_json(evaluate(kb, load_facts(kb, str(path))))
        except BadInput as exc:
            expected.append({"input": str(path), "status": "bad-input", "errors": exc.lines()})
            continue
        firings = len(data.pop("trace"))
        expected.append({"input": str(path), "status": "ok", **data, "firings": firings})
    got = records(result)
    assert got == expected
    # On the built-ins alone only the seed's examples load; the edition's knowledge loads every example.
    ok = [r for r in got if r["status"] == "ok"]
    assert [Path(r["input"]).name for r in ok] == ([p.name for p in examples] if edition else SEED_EXAMPLES)
    assert result.exit_code == (0 if edition else 2), result.stderr
    layers = ("built-in", "docs-2026-08") if edition else ("built-in",)
    assert {tuple(k["layer"] for k in r["knowledge"]) for r in ok} == {layers}


def test_the_summary_counts_entities_warnings_and_notes() -> None:
    result = run([str(CONTOSO), str(ROOT / "examples" / "adatum-mixed.json"), "--jobs", "1", "--as-of", "2023-11"])
    assert result.stderr.splitlines()[1:] == [
        "  legal entities per deployment type: resource-non-stocked 3, stocked-production 2",
        "  warnings per code: capability-gap 2, entity-promoted 2",
        "  notes per code: region-availability 2, shared-environment 2",
    ]


def test_a_bad_input_among_good_ones_is_reported_and_the_batch_goes_on(tmp_path: Path) -> None:
    good = customers(tmp_path, 3)
    typo = tmp_path / "typo.yaml"
    typo.write_text("customer: Typo\nrequirements: [recipt-ocr]\nbudgett: small\n", encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    result = run([str(good[0]), str(typo), str(missing), str(good[1]), str(good[2]), "--jobs", "2"])
    assert result.exit_code == 2
    got = records(result)
    assert [r["status"] for r in got] == ["ok", "bad-input", "bad-input", "ok", "ok"]
    assert got[1] == {
        "input": str(typo),
        "status": "bad-input",
        "errors": [
            TYPO_LINE.format(path=typo),
            f"{typo}:3:1: unknown-fact: 'budgett' is not a known fact (did you mean 'budget'?)",
        ],
    }
    assert got[2]["errors"] == [f"{missing}:1:1: not-found: no such file"]
    lines = result.stderr.splitlines()
    assert lines[0].endswith(": 3 evaluated, 2 bad input, 0 failed")
    assert lines[-2:] == [
        f"  bad-input: {TYPO_LINE.format(path=typo)}",
        f"  bad-input: {missing}:1:1: not-found: no such file",
    ]


def test_a_crashing_worker_is_retried_once_then_reported(tmp_path: Path) -> None:
    paths = customers(tmp_path, 6)
    result = run([str(p) for p in paths] + ["--jobs", "2"], env={"PODEPLOY_TEST_CRASH_ON": "Customer 02"})
    assert result.exit_code == 1
    got = records(result)
    assert [r["input"] for r in got] == [str(p) for p in paths]
    assert got[2] == {"input": str(paths[2]), "status": "failed", "errors": ["worker died: SIGSEGV"]}
    assert [r["status"] for r in got] == ["ok", "ok", "failed", "ok", "ok", "ok"]
    lines = result.stderr.splitlines()
    assert lines[0].endswith(": 5 evaluated, 0 bad input, 1 failed")
    assert lines[-1] == f"  failed: {paths[2]}: worker died: SIGSEGV"


@pytest.mark.slow
def test_an_input_that_never_ends_is_stopped_at_the_timeout_and_the_batch_goes_on(tmp_path: Path) -> None:
    paths = customers(tmp_path, 3)
    # The timeout is generous (a normal input takes milliseconds, even on a loaded machine); the input
    # that hangs never ends, so only the timeout can end it.
    result = run([str(p) for p in paths] + ["--jobs", "1", "--timeout", "20"],
                 env={"PODEPLOY_TEST_HANG_ON": "Customer 01"})
    assert result.exit_code == 1
    got = records(result)
    assert got[1] == {"input": str(paths[1]), "status": "failed", "errors": ["timed out after 20 s"]}
    assert [r["status"] for r in got] == ["ok", "failed", "ok"]
    assert result.stderr.splitlines()[-1] == f"  failed: {paths[1]}: timed out after 20 s"


def test_an_input_whose_worker_died_once_succeeds_on_its_retry(tmp_path: Path) -> None:
    paths = customers(tmp_path, 4)
    env = {"PODEPLOY_TEST_CRASH_ON": "Customer 01", "PODEPLOY_TEST_CRASH_ATTEMPTS": "1"}
    result = run([str(p) for p in paths] + ["--jobs", "1"], env=env)
    assert result.exit_code == 0, result.stderr
    got = records(result)
    assert [(r["input"], r["status"], r["customer"]) for r in got] == [
        (str(p), "ok", f"Customer {i:02d}") for i, p in enumerate(paths)
    ]


def test_json_lines_input(tmp_path: Path) -> None:
    leads = tmp_path / "leads.jsonl"
    leads.write_text(
        '{"customer": "Alpha", "requirements": ["production-orders"]}\n'
        "\n"
        '{"customer": "Beta",\n'
        '  {"customer": "Gamma", "requirements": ["recipt-ocr"]}\r\n'
        '["not", "facts"]\n'
        '{"customer": "Delta"}',
        encoding="utf-8",
    )
    result = run([str(leads), "--jobs", "2", "--engine", "reference"])
    assert result.exit_code == 2
    got = records(result)
    assert [r["input"] for r in got] == [f"{leads}:{n}" for n in (1, 3, 4, 5, 6)]
    assert got[0]["engine"] == "reference"
    assert [r["status"] for r in got] == ["ok", "bad-input", "bad-input", "bad-input", "ok"]
    assert got[0]["deployments"] == ["stocked-production"]
    assert got[4]["customer"] == "Delta"
    assert got[1]["errors"] == [  # the loader's message, on the file's own lines
        f"{leads}:4:1: yaml-syntax: while parsing a flow node, did not find expected node content "
        "(the bracket opened at line 4, column 1)"
    ]
    assert got[2]["errors"] == [
        f"{leads}:4:42: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)"
    ]
    assert got[3]["errors"] == [
        f"{leads}:5:1: not-json-object: a JSON-lines file holds one JSON object (a facts document) per line"
    ]


def test_csv_output_header_and_rows(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("customer: Typo\nrequirements: [recipt-ocr]\n", encoding="utf-8")
    adatum = ROOT / "examples" / "adatum-mixed.json"
    result = run([str(CONTOSO), str(typo), str(adatum), "--format", "csv", "--jobs", "2", "--as-of", "2023-11"])
    assert result.exit_code == 2
    assert result.stdout.split("\n") == [
        ",".join(CSV_HEADER),
        f"{CONTOSO},ok,Contoso,resource-non-stocked; stocked-production,"
        "Contoso Manufacturing United States=stocked-production; Contoso Robotics United Kingdom=resource-non-stocked"
        ",,,region-availability; shared-environment,",
        f"{typo},bad-input,,,,,,,{TYPO_LINE.format(path=typo)}",
        f"{adatum},ok,Adatum,resource-non-stocked; stocked-production,"
        "Adatum Services=resource-non-stocked; Adatum Factory=stocked-production; Adatum Design=resource-non-stocked,"
        "Adatum Factory=project-sales; Adatum Design=wbs-planning,entity-promoted; capability-gap,shared-environment,",
        "",
    ]


def test_out_file_is_written_atomically(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text("old\n", encoding="utf-8")
    out.chmod(0o640)
    # The knowledge base does not load: nothing is written, the old file stays, no temporary file is left.
    bad_policies = tmp_path / "policies"
    bad_policies.mkdir()
    (bad_policies / "broken.yaml").write_text("policy: broken\nrules: 3\n", encoding="utf-8")
    failed = run([str(CONTOSO), "--out", str(out), "--policies", str(bad_policies)])
    assert failed.exit_code == 2
    assert failed.stderr.startswith(f"{bad_policies / 'broken.yaml'}:")
    assert out.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policies", "results.jsonl"]

    done = run([str(CONTOSO), "--out", str(out), "--jobs", "1"])
    assert done.exit_code == 0
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1] == f"  wrote {out}"
    assert [r["customer"] for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())] == ["Contoso"]
    assert out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policies", "results.jsonl"]


def test_out_must_name_a_file_in_a_folder_that_exists(tmp_path: Path) -> None:
    # The same located problems as evaluate --output and ask --out give (engine/io/outputs.py).
    for out, message in (
        (tmp_path, f"{tmp_path}:1:1: not-a-file: is a directory, not a file"),
        (
            tmp_path / "no" / "x.jsonl",
            f"{tmp_path / 'no' / 'x.jsonl'}:1:1: not-found: no such directory: {tmp_path / 'no'}",
        ),
    ):
        result = run([str(CONTOSO), "--out", str(out)])
        assert result.exit_code == 2
        assert result.stderr == message + "\n"


def test_an_output_cut_short_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt), atomic_file(str(out)) as stream:
        stream.write("half")
        assert out.exists() is False
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    paths = customers(tmp_path, 3)
    result = run([str(p) for p in paths])
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert len(result.stderr.splitlines()) == 4  # the summary only


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    paths = customers(tmp_path, 3)
    code = "import sys; from podeploy.cli.batch_command import batch; batch.main(sys.argv[1:])"
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *map(str, paths), "--jobs", "1"],
            stdout=subprocess.PIPE,
            stderr=slave,
            env={**os.environ, "PODEPLOY_TEST_CRASH_ON": ""},
        )
        os.close(slave)
        out, _ = proc.communicate(timeout=60)
        seen = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert len(out.splitlines()) == 3
    text = seen.decode()
    assert "\r[" in text and "3/3" in text and "/s" in text and "left" in text
    assert "batch: 3 inputs in " in text


def test_inputs_expand_folders_globs_and_json_lines(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    for name in ("b/2.yaml", "b/1.json", "b/notes.txt", "a.yml"):
        (tmp_path / name).write_text("customer: X\n", encoding="utf-8")
    (tmp_path / "b" / "more.jsonl").write_text('{"customer": "Y"}\n\n{"customer": "Z"}\n', encoding="utf-8")
    got = expand_inputs([str(tmp_path / "b"), str(tmp_path / "*.yml"), str(tmp_path / "none-*.yaml")])
    assert [i.label for i in got] == [
        str(tmp_path / "b" / "1.json"),
        str(tmp_path / "b" / "2.yaml"),
        str(tmp_path / "b" / "more.jsonl:1"),
        str(tmp_path / "b" / "more.jsonl:3"),
        str(tmp_path / "a.yml"),
        str(tmp_path / "none-*.yaml"),
    ]
    assert got[-1].problem == f"{tmp_path / 'none-*.yaml'}:1:1: not-found: no file matches this pattern"
    (tmp_path / "nothing").mkdir()
    refused = expand_inputs([str(tmp_path / "nothing"), "-"])
    assert [i.problem for i in refused] == [
        f"{tmp_path / 'nothing'}:1:1: no-facts: folder holds no facts files (*.yaml, *.yml, *.json, *.jsonl)",
        "<stdin>:1:1: not-a-file: batch does not read standard input; name files, folders or a .jsonl file",
    ]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert json_lines(str(empty)) == [
        BatchInput(str(empty), str(empty), problem=f"{empty}:1:1: empty: the JSON-lines file holds no facts documents")
    ]


def test_death_reasons() -> None:
    assert death_reason(-11) == "worker died: SIGSEGV"
    assert death_reason(-9) == "worker died: SIGKILL"
    assert death_reason(3) == "worker died: exit status 3"


def test_a_worker_keeps_nothing_of_the_documents_it_has_read() -> None:
    from podeploy.engine import load_knowledge_base
    from podeploy.engine.io import loader
    from podeploy.engine.tools.batch.worker import evaluate_item

    kb = load_knowledge_base()
    record = evaluate_item(kb, BatchInput(str(CONTOSO), str(CONTOSO)), "durable")
    assert record["status"] == "ok"
    assert not loader._SAFE.constructed_objects


def test_an_input_sent_to_a_worker_that_just_died_goes_back_to_the_queue(tmp_path: Path) -> None:
    """A worker can die between select and the next send: the send fails, nothing is lost or raised."""
    from collections import deque

    from podeploy.engine.tools.batch.pool import _Pool, _Worker

    class DeadEnd:
        def send(self, message: object) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    items = expand_inputs([str(p) for p in customers(tmp_path, 4)])
    pool = _Pool(items, lambda index, record: None, layers=(), engine="durable", jobs=1, crash_hook=None, tick=None)
    pool.todo = deque([0, 1, 2])  # 3 is the input a dead worker's replacement retries first
    fresh = _Worker(process=None, conn=DeadEnd(), ready=True)  # type: ignore[arg-type]
    retrying = _Worker(process=None, conn=DeadEnd(), reserved=deque([3]), ready=True)  # type: ignore[arg-type]
    pool.workers += [fresh, retrying]
    pool._dispatch()
    assert (list(pool.todo), list(fresh.inflight), fresh.ready) == ([0, 1, 2], [], False)
    assert (list(retrying.reserved), list(retrying.inflight), retrying.ready) == ([3], [], False)
    pool._dispatch()  # workers that are not ready get nothing more
    assert (list(pool.todo), list(retrying.reserved)) == ([0, 1, 2], [3])


def test_a_worker_whose_pipe_fails_otherwise_is_stopped_and_blamed_for_nothing(tmp_path: Path) -> None:
    """An error other than a closed pipe may cut a message short: the worker is killed, its input requeued."""
    import errno
    from collections import deque

    from podeploy.engine.tools.batch.pool import _Pool, _Worker

    class Full:
        def send(self, message: object) -> None:
            raise OSError(errno.ENOBUFS, "No buffer space available")

    class Process:
        killed = False

        def kill(self) -> None:
            self.killed = True

    items = expand_inputs([str(p) for p in customers(tmp_path, 2)])
    pool = _Pool(items, lambda index, record: None, layers=(), engine="durable", jobs=1, crash_hook=None, tick=None)
    process = Process()
    worker = _Worker(process=process, conn=Full(), ready=True)  # type: ignore[arg-type]
    pool.workers.append(worker)
    pool._dispatch()
    assert (list(pool.todo), list(worker.inflight), worker.ready, worker.stopped, process.killed) == (
        [0, 1], [], False, True, True)
    assert deque(pool.todo) == deque([0, 1])
