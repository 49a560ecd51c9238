"""Fuzzing: whatever a consultant hands podeploy, it answers with a result or with located problems.

Eight strategies (fuzz/harness.py) draw facts and policy files: arbitrary bytes, YAML documents
Hypothesis builds and `yaml.safe_dump` writes, raw text of YAML syntax, the shipped examples
and policy layers after structure-aware mutations, layers whose facts and fields have generated
names (groups whose durable-rules property hashes collide among them), control and invisible
characters in names and policy texts, and pipes, folders, links, sockets, /dev/null and empty
files wherever a command reads or writes a file. Every case must end in exit 0 with a result or
exit 2 with nothing on standard output and every standard-error line `file:line:column: code:
message`; never a traceback, a crash, a hang or exit 1. No input file may change, and a result
must be the same on the reference evaluator. The budget is fixed and derandomized, so the suite
runs the same cases every time; `python fuzz/run.py --examples 20000` runs more.

Each strategy runs in a forked child: a crash or hang fails its test with the case it was on,
instead of taking the test run down.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import fuzz_harness

ROOT = Path(__file__).resolve().parent.parent


harness = fuzz_harness()


def harness_engine_available() -> bool:
    from podeploy.engine.evaluation import rete

    return bool(rete.available())


# Cases per strategy in the suite; fuzz/run.py takes a larger budget from the command line.
BUDGET = {"raw-bytes": 200, "yaml-documents": 150, "yaml-text": 200, "mutated-facts": 200, "mutated-policies": 60,
          "field-names": 60, "control-characters": 120, "non-regular-files": 20}
# Cases of the fresh-process test (two of them also in a fresh process): fewer where every case is a real
# process already.
SAMPLED = {strategy: 30 for strategy in BUDGET} | {"non-regular-files": 4}
# Results in which the case's own policy rules fired (the layer's fields reached the engine and back).
MARKED = {"field-names": BUDGET["field-names"] // 3, "control-characters": 1}

# Outcomes each strategy must reach within its budget: it explores past the first check it meets.
REACHED = {
    "raw-bytes": {"bad-input:encoding", "bad-input:binary-file", "bad-input:yaml-syntax", "bad-input:wrong-type"},
    "yaml-documents": {"result", "bad-input:wrong-type", "bad-input:missing-key", "bad-input:bad-value"},
    "yaml-text": {"result", "bad-input:yaml-syntax", "bad-input:wrong-type", "bad-input:empty"},
    "mutated-facts": {"result", "bad-input:unknown-fact", "bad-input:duplicate-key", "bad-input:unknown-capability",
                      "bad-input:wrong-type", "bad-input:missing-key"},
    "mutated-policies": {"result", "bad-input:duplicate-key", "bad-input:wrong-type", "bad-input:missing-key"},
    "field-names": {"result"},
    "control-characters": {"result", "bad-input:control-character", "bad-input:yaml-syntax",
                           "bad-input:unknown-capability"},
    "non-regular-files": {"result", "bad-input:not-a-file", "bad-input:not-found", "bad-input:empty"},
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
@pytest.mark.slow
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
    assert result["marked"] >= MARKED.get(strategy, 0)


@pytest.mark.parametrize("strategy", list(BUDGET))
@pytest.mark.slow
def test_a_fresh_process_ends_each_sampled_case_as_the_in_process_run_does(strategy: str, tmp_path: Path) -> None:
    cases = SAMPLED[strategy]
    result = fuzz_in_child(strategy, cases, tmp_path, in_subprocess=2)  # the middle and the last case
    assert result["cases"] == cases
    assert result["subprocess"] == 2
    assert sum(result["outcomes"].values()) == cases


def test_the_colliding_names_collide_as_durable_rules_hashes_them() -> None:
    from podeploy.engine.evaluation.rete import property_hash

    for prefix, group in harness.COLLIDING:
        assert len({property_hash(prefix + name) for name in group}) == 1, group
        assert len({property_hash(prefix + name + "x-1") for name in group}) == 1, group  # and with a suffix
    assert property_hash("p_aa2pda") == property_hash("p_aajvlo")  # the red team's pair
    assert property_hash("wt3babr6") == property_hash("id") and property_hash("p_oev1adnf") == property_hash("id")
    assert property_hash("dztqaehl") == property_hash("k") and property_hash("p_j3brablj") == property_hash("k")


def _old_engine_names(strategy: str, examples: int, folder: Path) -> dict[str, Any]:
    """The fuzzing run with podeploy's former engine names, p_<field>, which the engine took as they were, and
    only the names that collide as those."""
    from podeploy.engine.evaluation import rete

    vars(harness)["COLLIDING"] = tuple(group for group in harness.COLLIDING if group[0] == "p_")  # in this child

    def old(kb: Any) -> dict[str, str]:
        fields = sorted({name for pred in kb.predicates.values() for name in pred.fields} | {"n", "b"})
        return {name: f"p_{name}" for name in fields}

    rete.property_names = old
    result: dict[str, Any] = harness.fuzz(strategy, examples, folder, keep_going=True)
    return result


@pytest.mark.skipif(not harness_engine_available(), reason="durable-rules cannot be imported on this Python")
def test_the_field_names_strategy_finds_the_red_teams_collisions_under_the_old_engine_names(tmp_path: Path) -> None:
    result = harness.in_child(lambda: _old_engine_names("field-names", 10, tmp_path), timeout=300,
                              current=tmp_path / "current-case.txt")
    assert result["outcomes"].get("broken", 0) >= 1
    assert {f.splitlines()[0] for f in result["failures"]} == {"durable-rules and the reference evaluator disagree"}


def test_the_control_character_contract_refuses_raw_controls_on_either_stream() -> None:
    case = harness.Case("control-characters", "f.yaml", b"", no_controls=True)
    harness.no_raw_controls(case, "tab\tline\nzero\u200bwidth", "")
    for raw in ("\x1b]0;title\x07", "\x1b[2J", "\r", "\x00", "\x7f", "\x85", "\x9b"):
        with pytest.raises(harness.ContractBroken):
            harness.no_raw_controls(case, "", f"f.yaml:1:1: bad-value: {raw}")


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


def test_the_file_runner_sees_a_hang_a_file_left_behind_and_a_pipe_replaced(tmp_path: Path) -> None:
    contoso = {"contoso.yaml": harness.CONTOSO.read_bytes()}
    cases = {  # what a program does in the case's folder: what the runner must say
        "import time; time.sleep(3600)": "hung for 2 s",
        "open('.out.tmp', 'w').write('{}')": r"left behind: \['.out.tmp: absent -> file'\]",
        "import os; os.remove('out'); open('out', 'w').write('{}')": r"\['out: fifo -> file'\]",
        "import os; os.remove('link'); os.symlink('contoso.yaml', 'link')": r"\['link: link -> link'\]",
        "open('contoso.yaml', 'a').write('#')": r"\['contoso.yaml: file -> file'\]",
    }
    for n, (code, said) in enumerate(cases.items()):
        case = harness.Case("non-regular-files", "contoso.yaml", b"", argv=("evaluate", "contoso.yaml"), files=contoso,
                            special=(harness.Special("out", "fifo", drain=True),
                                     harness.Special("link", "link", target="nowhere")))
        with pytest.raises(harness.ContractBroken, match=said):
            # The hang is a hang however fast the machine; the others get a minute to start Python.
            timeout = 2 if "sleep" in code else 60
            harness.run_files(case, tmp_path / str(n), timeout=timeout, program=(sys.executable, "-c", code))
