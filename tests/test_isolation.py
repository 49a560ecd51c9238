"""Isolation and nothing lost: one customer's evaluation never depends on who was evaluated before it.

Two thousand generated customers (legal entity names shared between them, the same name with other
needs, every fact and value) evaluated one after another in one process give, byte for byte, the
JSON that a fresh `python -m podeploy evaluate --as-of 2023-11` gives for each (checked on a sample of
30, one fresh process each), in whatever order they are evaluated. (The customers use the seed's facts
and are evaluated on the built-in knowledge alone, which is what `--as-of 2023-11` loads.) Nothing
depends on the process's hash seed. Within one customer, an entity's recommendation
depends on the other entities only through the rules that say so. `podeploy batch --as-of 2023-11 --jobs 2` gives
the same records. No run modifies an input, and an output file is written whole or not at all.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from helpers import fuzz_harness
from podeploy.cli.main import cli
from podeploy.engine import load_facts, load_knowledge_base
from podeploy.engine.errors import PodeployError
from podeploy.engine.evaluation import rete
from podeploy.engine.evaluation.evaluate import evaluate
from podeploy.engine.explain.render import decision_json, dumps
from podeploy.engine.io.outputs import write_file

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = ROOT / "examples" / "contoso.yaml"
CUSTOMERS = 2000
FRESH = 30


harness = fuzz_harness()


@pytest.fixture(autouse=True)
def shipped_inputs_stay_as_they_were(tmp_path_factory: pytest.TempPathFactory,
                                     monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test leaves the shipped examples and policies as they were (and caches knowledge bases apart)."""
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(tmp_path_factory.mktemp("kb-cache")))
    before = harness.repository_inputs()
    yield
    assert harness.repository_inputs() == before


# -- two thousand customers ---------------------------------------------------------------------------------

KB = load_knowledge_base()
CAPABILITIES = sorted(KB.capabilities)
CHOICES = {fact: list(decl.values) for fact, decl in KB.facts.items() if decl.values}
# Entity names many customers share, so that a fact left behind by one customer would land on another's entity.
SHARED_NAMES = ["Operations", "Contoso", "UK", "Manufacturing", "Services", "HQ"]


def customer(rng: random.Random, number: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"customer": rng.choice([f"Customer {number:04d}", "Contoso", "Operations"])}
    if rng.random() < 0.7:
        doc["requirements"] = rng.sample(CAPABILITIES, rng.randint(0, 5))
    for fact in ("existing_solution", "budget", "pm_maturity", "region"):
        if rng.random() < 0.5:
            doc[fact] = rng.choice(CHOICES[fact])
    if rng.random() < 0.4:
        doc["plans_finance"] = rng.random() < 0.5
    names = rng.sample(SHARED_NAMES, rng.randint(0, 2)) + [f"Entity {number}-{i}" for i in range(rng.randint(0, 1))]
    entities = []
    for name in names:
        entity: dict[str, Any] = {"name": name}
        if rng.random() < 0.8:
            entity["requirements"] = rng.sample(CAPABILITIES, rng.randint(0, 4))
        if rng.random() < 0.3:
            entity["region"] = rng.choice(CHOICES["region"])
        entities.append(entity)
    if entities:
        doc["legal_entities"] = entities
    return doc


@pytest.fixture(scope="module")
def customers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CUSTOMERS facts files, YAML and JSON, named c0000.yaml ... in one folder."""
    folder = tmp_path_factory.mktemp("customers")
    rng = random.Random(6)
    for number in range(CUSTOMERS):
        doc = customer(rng, number)
        if number % 5 == 0:
            (folder / f"c{number:04d}.json").write_text(json.dumps(doc, indent=1), "utf-8")
        else:
            (folder / f"c{number:04d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return folder


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def evaluate_in_order(order: list[str]) -> dict[str, str]:
    """`evaluate --format json` of each file, in the order given, on one knowledge base in this process."""
    kb = load_knowledge_base()
    return {name: dumps(decision_json(evaluate(kb, load_facts(kb, name)))) + "\n" for name in order}


@pytest.fixture(scope="module")
def in_one_process(customers: Path) -> dict[str, dict[str, str]]:
    """Every customer evaluated forwards, backwards and shuffled, each order in a process of its own."""
    files = names(customers)
    shuffled = list(files)
    random.Random(7).shuffle(shuffled)
    orders = {"forwards": files, "backwards": files[::-1], "shuffled": shuffled}
    before = digests(customers)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(customers)
        patch.setenv("PODEPLOY_CACHE_DIR", str(customers.parent / "kb-cache"))
        results: dict[str, dict[str, str]] = harness.in_children(
            {label: (lambda order=order: evaluate_in_order(order)) for label, order in orders.items()}, timeout=600
        )
    assert digests(customers) == before
    return results


def test_the_generated_customers_cover_every_value_and_share_entity_names(customers: Path) -> None:
    docs = [json.loads(p.read_text()) if p.suffix == ".json" else yaml.safe_load(p.read_text())
            for p in sorted(customers.iterdir())]
    assert len(docs) == CUSTOMERS
    for fact, values in CHOICES.items():
        seen = {d.get(fact) for d in docs} | {e.get(fact) for d in docs for e in d.get("legal_entities", [])}
        assert set(values) <= seen, fact
    entity_names = [e["name"] for d in docs for e in d.get("legal_entities", [])]
    assert {n: entity_names.count(n) > 300 for n in SHARED_NAMES} == dict.fromkeys(SHARED_NAMES, True)


@pytest.mark.slow
def test_two_thousand_customers_evaluate_alike_in_any_order_in_one_process(
        in_one_process: dict[str, dict[str, str]]) -> None:
    forwards = in_one_process["forwards"]
    assert len(forwards) == CUSTOMERS
    assert in_one_process["backwards"] == forwards
    assert in_one_process["shuffled"] == forwards
    deployments = {json.loads(text)["deployments"][0] for text in forwards.values()}
    assert deployments == {"lite", "resource-non-stocked", "stocked-production"}


@pytest.mark.slow
def test_a_fresh_process_per_customer_gives_the_same_bytes(customers: Path,
                                                           in_one_process: dict[str, dict[str, str]]) -> None:
    sample = names(customers)[:: CUSTOMERS // FRESH][:FRESH]
    assert len(sample) == FRESH
    env = {k: v for k, v in os.environ.items() if k not in ("PODEPLOY_DEBUG", "PODEPLOY_POLICIES")}
    fresh: dict[str, bytes] = {}
    for pair in (sample[i:i + 2] for i in range(0, FRESH, 2)):  # two processes at a time, one per customer
        runs = {name: subprocess.Popen([sys.executable, "-m", "podeploy", "evaluate", name, "--format", "json",
                                        "--as-of", "2023-11"],
                                       cwd=customers, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
                for name in pair}
        for name, run in runs.items():
            out, err = run.communicate(timeout=120)
            assert (run.returncode, err) == (0, b""), err
            fresh[name] = out
    assert fresh == {name: in_one_process["forwards"][name].encode("utf-8") for name in sample}


@pytest.mark.parametrize("knowledge", [["--as-of", "2023-11"], []], ids=["as-of-2023-11", "default"])
@pytest.mark.parametrize("example", ["adatum-mixed.json", "fabrikam-finance-later.yaml", "tailspin-psa.yaml"])
def test_the_json_does_not_depend_on_the_process_s_hash_seed(example: str, knowledge: list[str]) -> None:
    """Python salts the hash of every string per process (PYTHONHASHSEED): no output may follow a set's order.

    These three leave several seed facts unanswered (their open questions fall into groups the analysis
    takes one after another); among seeds 1, 5, 7 and 8 each meets the groups' facts in more than one order.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PODEPLOY_DEBUG", "PODEPLOY_POLICIES")}
    outputs = set()
    for seed in ("1", "5", "7", "8"):
        done = subprocess.run(
            [sys.executable, "-m", "podeploy", "evaluate", str(ROOT / "examples" / example), "--format", "json",
             *knowledge],
            capture_output=True, timeout=120, check=False, env={**env, "PYTHONHASHSEED": seed},
        )
        assert (done.returncode, done.stderr) == (0, b""), done.stderr
        outputs.add(done.stdout)
    assert len(outputs) == 1, [json.loads(o)["open_questions"] for o in outputs]


def test_an_entity_gets_the_same_plan_beside_two_hundred_others_as_on_its_own(tmp_path: Path) -> None:
    """With Lite ruled out no entity is promoted for another's sake: each entity's plan is its own."""
    rng = random.Random(8)
    entities = [{"name": f"Entity {i:03d}", "requirements": rng.sample(CAPABILITIES, rng.randint(0, 5)),
                 "region": rng.choice(CHOICES["region"])} for i in range(200)]
    together = evaluate(KB, _facts(tmp_path, "all", {"customer": "C", "plans_finance": True,
                                                      "legal_entities": entities}))
    alone = [evaluate(KB, _facts(tmp_path, str(i), {"customer": "C", "plans_finance": True, "legal_entities": [e]}))
             for i, e in enumerate(entities)]
    plans = [(e.name, e.deployment, e.gaps, e.needs) for e in together.entities]
    assert plans == [(d.entities[0].name, d.entities[0].deployment, d.entities[0].gaps, d.entities[0].needs)
                     for d in alone]
    assert {p[1] for p in plans} == {"resource-non-stocked", "stocked-production"}


def _facts(folder: Path, name: str, doc: dict[str, Any]) -> Any:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return load_facts(KB, str(path))


@pytest.mark.slow
def test_batch_with_two_workers_gives_the_records_of_one_process(customers: Path,
                                                                 in_one_process: dict[str, dict[str, str]],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(customers)
    result = CliRunner().invoke(cli, ["batch", "--as-of", "2023-11", "--jobs", "2", *names(customers)],
                                env={"PODEPLOY_POLICIES": "", "PODEPLOY_TEST_CRASH_ON": ""})
    assert result.exit_code == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["input"] for r in records] == names(customers)
    for record in records:
        expected = json.loads(in_one_process["forwards"][record["input"]])
        assert record["status"] == "ok"
        assert record["firings"] == len(expected["trace"])
        assert {k: record[k] for k in ("customer", "deployments", "entities", "warnings", "notes", "engine")} == {
            k: expected[k] for k in ("customer", "deployments", "entities", "warnings", "notes", "engine")}


@pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")
def test_loading_the_same_policies_again_registers_nothing_more_with_the_engine() -> None:
    """durable-rules cannot unregister a ruleset: a reload of the same files reuses the first registration.

    (Policies that changed are registered anew, about 1.1 MB each time: see docs/reliability.md.)
    """
    def registered() -> tuple[int, int]:
        host = rete._get_host()
        return len(host.actions), len(host._ruleset_list)

    def load_and_evaluate() -> None:
        kb = load_knowledge_base()
        evaluate(kb, load_facts(kb, str(CONTOSO)), engine="durable")

    load_and_evaluate()
    gc.collect()
    before = registered()
    for _ in range(3):
        load_and_evaluate()
    gc.collect()
    assert registered() == before


# -- nothing lost ---------------------------------------------------------------------------------------------


class _CutShort:
    """A file opened for writing that takes half of what it is given, then fails as `failure` says."""

    def __init__(self, real: Any, failure: BaseException) -> None:
        self.real = real
        self.failure = failure

    def write(self, data: bytes) -> int:
        self.real.write(data[: len(data) // 2])
        self.real.flush()
        raise self.failure

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def __enter__(self) -> _CutShort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()


def cut_writes_short(monkeypatch: pytest.MonkeyPatch, failure: BaseException) -> None:
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _CutShort(real_fdopen(fd, *a, **k), failure))


OLD_PLAN = "<p>the plan the consultant already sent</p>\n"


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        pytest.param(OSError(28, "No space left on device"), PodeployError, id="disk-full"),
        pytest.param(KeyboardInterrupt(), KeyboardInterrupt, id="interrupted"),
        pytest.param(SystemExit(1), SystemExit, id="exiting"),
    ],
)
def test_a_write_cut_short_leaves_the_old_file_whole_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException, raised: type) -> None:
    target = tmp_path / "plan.html"
    target.write_text(OLD_PLAN, "utf-8")
    cut_writes_short(monkeypatch, failure)
    with pytest.raises(raised):
        write_file(target, "<p>new plan</p>" * 10_000)
    monkeypatch.undo()
    assert target.read_text("utf-8") == OLD_PLAN
    assert os.listdir(tmp_path) == ["plan.html"]


def test_a_write_cut_short_leaves_no_file_where_there_was_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cut_writes_short(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_file(tmp_path / "plan.html", "<p>new plan</p>")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("failure", "code", "message"),
    [
        pytest.param(OSError(28, "No space left on device"), 1,
                     "podeploy: error: cannot write plan.html: No space left on device\n", id="disk-full"),
        pytest.param(KeyboardInterrupt(), 130, "podeploy: interrupted\n", id="interrupted"),
    ],
)
@pytest.mark.parametrize("command", [["evaluate", "--format", "html"], ["why", "--format", "dot"]],
                         ids=["evaluate", "why"])
def test_a_report_cut_short_on_the_command_line_leaves_the_old_report_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], failure: BaseException, code: int,
        message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.html").write_text(OLD_PLAN, "utf-8")
    before = CONTOSO.read_bytes()
    cut_writes_short(monkeypatch, failure)
    result = CliRunner().invoke(cli, [command[0], str(CONTOSO), *command[1:], "--output", "plan.html"])
    monkeypatch.undo()
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", message)
    assert (tmp_path / "plan.html").read_text("utf-8") == OLD_PLAN
    assert os.listdir(tmp_path) == ["plan.html"]
    assert CONTOSO.read_bytes() == before


def test_a_writer_killed_before_the_rename_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """SIGKILL cannot be cleaned up after: the new text may stay behind in a hidden temporary file, whole,
    but the target holds the old text until the rename."""
    target = tmp_path / "plan.html"
    target.write_text(OLD_PLAN, "utf-8")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write, and wait to be killed just before the rename
        os.close(read)

        def stall(fd: int) -> None:
            os.write(write, b"x")
            time.sleep(60)

        os.fsync = stall  # type: ignore[assignment]
        try:
            write_file(target, "<p>new plan</p>")
        finally:
            os._exit(1)
    os.close(write)
    try:
        with os.fdopen(read, "rb") as pipe:
            assert pipe.read(1) == b"x"  # the new text is written and flushed; the rename is next
    finally:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    assert os.WTERMSIG(status) == signal.SIGKILL
    assert target.read_text("utf-8") == OLD_PLAN
    [leftover] = [p for p in tmp_path.iterdir() if p.name != "plan.html"]
    assert leftover.name.startswith(".plan.html.") and leftover.name.endswith(".tmp")
    assert leftover.read_text("utf-8") == "<p>new plan</p>\n"


def test_an_output_that_names_the_facts_file_never_replaces_the_facts(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "contoso.yaml").write_bytes(CONTOSO.read_bytes())
    CliRunner().invoke(cli, ["evaluate", "contoso.yaml", "--output", "contoso.yaml"])
    assert (tmp_path / "contoso.yaml").read_bytes() == CONTOSO.read_bytes()


@pytest.mark.slow
def test_evaluating_every_example_every_way_leaves_the_examples_as_they_were(tmp_path: Path) -> None:
    examples = sorted(p for p in (ROOT / "examples").iterdir() if p.is_file())
    before = {p: p.read_bytes() for p in examples}
    runner = CliRunner()
    for path in examples:
        for args in (["evaluate"], ["evaluate", "--format", "json"], ["why"], ["evaluate", "--format", "markdown"],
                     ["why", "--format", "mermaid"], ["why", "--not", "lite"]):
            result = runner.invoke(cli, [args[0], str(path), *args[1:]])
            assert result.exit_code == 0, result.stderr
    result = runner.invoke(cli, ["what-if", str(CONTOSO), "--target", "stocked-production"])
    assert result.exit_code == 0, result.stderr
    assert {p: p.read_bytes() for p in examples} == before
