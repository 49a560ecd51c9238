"""The benchmark script's measuring children, on a few inputs: they run, and what they report adds up."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> Any:
    spec = importlib.util.spec_from_file_location("podeploy_benchmarks", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def facts_dir(bench: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("facts")
    bench.generate_facts(folder, 30)
    return folder


def test_the_profile_covers_an_evaluation_by_stage(bench: Any, facts_dir: Path) -> None:
    shares = bench.child_profile(str(facts_dir), "30")["shares"]
    assert list(shares) == [*bench.STAGES, "the rest (driver loop, sessions, stage facts)"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert all(0 <= share < 1 for share in shares.values())
    assert shares["durable-rules (its Python host and C engine)"] > 0


def test_the_raw_replay_runs_on_a_knowledge_base_split_into_rulesets(bench: Any, facts_dir: Path,
                                                                      tmp_path: Path) -> None:
    policies = tmp_path / "synthetic"
    bench.generate_policies(policies, 400)  # past one ruleset's size: split
    result = bench.child_synthetic(str(policies), str(facts_dir), "10")
    assert result["rulesets"] > 1
    assert result["count"] == 10
    assert result["raw"] > 0 and result["durable"] > 0 and result["reference"] > 0


def test_the_what_if_child_times_a_search_beside_one_evaluation(bench: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "WHAT_IF", (("fabrikam-services.yaml", "resource-non-stocked", None),
                                           (bench.THREE_CHANGES[0], "lite", "2023-11")))
    found = bench.child_whatif()["searches"]
    assert [(f["example"], f["target"], f["size"], f["sets"], f["stopped"]) for f in found] == [
        ("fabrikam-services.yaml", "resource-non-stocked", 1, 41, None),
        (bench.THREE_CHANGES[0], "lite", 3, 1848, None),
    ]
    assert all(f["seconds"] > 0 and f["evaluation"] > 0 for f in found)


def test_the_hand_written_decision_is_the_seeds_recommendation(bench: Any, facts_dir: Path) -> None:
    # The analysis goal's baseline must decide what the rules decide: every generated input, every seed example.
    from podeploy.cli.options import policy_layers
    from podeploy.engine import BadInput, load_facts, load_knowledge_base
    from podeploy.engine.evaluation.evaluate import evaluate

    kb = load_knowledge_base(policy_layers([], as_of="2023-11"))
    compared = 0
    for path in sorted((ROOT / "examples").iterdir()):
        try:
            facts = load_facts(kb, str(path))
        except BadInput:  # the current edition's facts: the seed's knowledge does not read them
            continue
        decision = evaluate(kb, facts, engine="reference")
        assert bench.hand_decision(kb, facts) == {e.name: e.deployment for e in decision.entities}, path.name
        compared += 1
    assert compared == 7
    found = bench.child_analysis(str(facts_dir), "30")
    assert (found["inputs"], found["disagreements"]) == (30, 0)
    assert found["hand"] > 0 and found["compiled"] > 0 and found["reference"] > 0
    # What each analysis is divided by: a what-if's sets, its answers evaluated again and the file as it is;
    # the open questions' engine runs.
    assert [(a.get("sets"), a.get("answers"), a["evaluations"]) for a in found["analyses"]] == [
        (197, 12, 210), (None, None, 12), (191, 1, 193), (None, None, 1)]


def test_the_hostile_input_child_refuses_each_shape_at_each_size(bench: Any, monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setattr(bench, "HOSTILE_SIZES", (2_000, 20_000))
    files = bench.child_hostile(str(tmp_path))["files"]
    assert [(f["shape"], f["size"], f["code"]) for f in files] == [
        ("block-sequences", 2_000, "too-deep"), ("block-sequences", 20_000, "too-deep"),
        ("flow-lists", 2_000, "too-deep"), ("flow-lists", 20_000, "too-deep"),
        ("open-json-string", 2_000, "yaml-syntax"), ("open-json-string", 20_000, "yaml-syntax"),
    ]
    assert all(f["seconds"] > 0 and f["bytes"] > 2 * f["size"] for f in files)
