"""Fuzzing: whatever a consultant hands podeploy, it answers with a result or with located problems.

Five strategies (fuzz/harness.py) draw facts and policy files: arbitrary bytes, YAML documents
Hypothesis builds and `yaml.safe_dump` writes, raw text of YAML syntax, and the shipped examples
and policy layers after structure-aware mutations. Every case must end in exit 0 with a result or
exit 2 with nothing on standard output and every standard-error line `file:line:column: code:
message`; never a traceback, a crash, a hang or exit 1. No input file may change, and a result
must be the same on the reference evaluator. The budget is fixed and derandomized, so the suite
runs the same cases every time; `python fuzz/run.py --examples 20000` runs more.

Each strategy runs in a forked child: a crash or hang fails its test with the case it was on,
instead of taking the test run down.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("podeploy_fuzz_harness", ROOT / "fuzz" / "harness.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


harness = _harness()

# Cases per strategy in the suite; fuzz/run.py takes a larger budget from the command line.
BUDGET = {"raw-bytes": 200, "yaml-documents": 150, "yaml-text": 200, "mutated-facts": 200, "mutated-policies": 60}

# Outcomes each strategy must reach within its budget: it explores past the first check it meets.
REACHED = {
    "raw-bytes": {"bad-input:encoding", "bad-input:binary-file", "bad-input:yaml-syntax", "bad-input:wrong-type"},
    "yaml-documents": {"result", "bad-input:wrong-type", "bad-input:missing-key", "bad-input:bad-value"},
    "yaml-text": {"result", "bad-input:yaml-syntax", "bad-input:wrong-type", "bad-input:empty"},
    "mutated-facts": {"result", "bad-input:unknown-fact", "bad-input:duplicate-key", "bad-input:unknown-capability",
                      "bad-input:wrong-type", "bad-input:missing-key"},
    "mutated-policies": {"result", "bad-input:duplicate-key", "bad-input:wrong-type", "bad-input:missing-key"},
}


@pytest.fixture(autouse=True)
def shipped_inputs_stay_as_they_were(tmp_path_factory: pytest.TempPathFactory,
                                     monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test leaves the shipped examples and policies as they were (and caches knowledge bases apart)."""
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(tmp_path_factory.mktemp("kb-cache")))
    before = harness.repository_inputs()
    yield
    assert harness.repository_inputs() == before


def fuzz_in_child(strategy: str, examples: int, folder: Path, in_subprocess: int = 0) -> dict[str, Any]:
    current = folder / "current-case.txt"
    result: dict[str, Any] = harness.in_child(
        lambda: harness.fuzz(strategy, examples, folder, in_subprocess=in_subprocess, current=current),
        timeout=300,
        current=current,
    )
    return result


@pytest.mark.parametrize("strategy", list(BUDGET))
def test_every_fuzzed_input_ends_in_a_result_or_located_problems(strategy: str, tmp_path: Path) -> None:
    result = fuzz_in_child(strategy, BUDGET[strategy], tmp_path)
    outcomes = result["outcomes"]
    assert result["cases"] == BUDGET[strategy]
    assert sum(outcomes.values()) == BUDGET[strategy]
    assert REACHED[strategy] <= set(outcomes)
    assert {o for o in outcomes if not o.startswith(("result", "bad-input:"))} <= {
        f"known-bug:{name}" for name in harness.KNOWN_BUGS
    }
    assert result["failures"] == []
    assert result["differential"] >= 1  # results in JSON were evaluated again on the reference evaluator, alike


@pytest.mark.parametrize("strategy", list(BUDGET))
def test_a_fresh_process_ends_each_sampled_case_as_the_in_process_run_does(strategy: str, tmp_path: Path) -> None:
    result = fuzz_in_child(strategy, 30, tmp_path, in_subprocess=2)  # the 15th and the 30th case
    assert result["cases"] == 30
    assert result["subprocess"] == 2
    assert sum(result["outcomes"].values()) == 30


def test_the_fuzz_script_runs_its_budget_and_prints_the_counts() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "run.py"), "--examples", "40", "--strategies", "yaml-text,mutated-facts",
         "--seed", "1", "--jobs", "2", "--subprocess", "1"],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["cases"] == 80
    assert summary["fresh_processes"] == 2
    assert summary["broken"] == 0
    assert summary["results"] + summary["bad_input"] + summary["known_bugs"] == 80
    assert "yaml-text: 40 cases: " in done.stdout
    assert "mutated-facts: 40 cases: " in done.stdout
