"""Helpers more than one test module uses (the fixtures built on them are in conftest.py)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from click.testing import CliRunner, Result
from podeploy.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
# The summary line of a customer with stocked and non-stocked legal entities (the seed's Contoso).
ON_BOTH_TYPES = (
    "Deployments on the environment: Project Operations Integrated with ERP (resource-non-stocked),"
    " Project Operations for manufacturing (stocked-production)"
)


def fuzz_harness() -> ModuleType:
    """fuzz/harness.py, loaded once however many test modules ask for it."""
    spec = importlib.util.spec_from_file_location("podeploy_fuzz_harness", ROOT / "fuzz" / "harness.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


class Builds:
    """How many knowledge bases were built from their policy files (each one merged and checked once)."""

    def __init__(self) -> None:
        self.count = 0


# -- the command line -----------------------------------------------------------------------------


def invoke(args: list[str], stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli, args, input=stdin)


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def assert_bad_input(result: Result, expected: list[str]) -> None:
    """Exit 2, exactly the expected problem lines on stderr, nothing on stdout, no traceback."""
    assert_no_traceback(result)
    assert result.stderr.splitlines() == expected
    assert result.stdout == ""
    assert result.exit_code == 2


# -- building small knowledge bases --------------------------------------------------------------


def fact_decl(fid: str, kind: str, scope: str = "entity", **extra: Any) -> dict[str, Any]:
    return {"id": fid, "type": kind, "scope": scope, "description": f"The {fid}.", "question": f"{fid}?", **extra}


def predicate(pid: str, **fields: str) -> dict[str, Any]:
    return {"id": pid, "description": f"{pid}.", "fields": {name: {"type": kind} for name, kind in fields.items()}}


def rule(rid: str, when: list[Any], then: list[Any], explanation: str = "Because.") -> dict[str, Any]:
    return {"id": rid, "description": f"Rule {rid}.", "when": when, "then": then, "explanation": explanation}


def policy(name: str, *, facts: Sequence[Any] = (), predicates: Sequence[Any] = (),
           rules: Sequence[Any] = ()) -> dict[str, Any]:
    doc: dict[str, Any] = {"policy": name, "description": f"The {name} policy."}
    if facts:
        doc["facts"] = list(facts)
    if predicates:
        doc["predicates"] = list(predicates)
    if rules:
        doc["rules"] = list(rules)
    return doc


def write_policies(directory: Path, *policies: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(policies):
        (directory / f"{i:02d}-{doc['policy']}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return directory


HIT = predicate("hit", entity="string", why="string")
TIER = fact_decl("tier", "choice", values=["a", "b"])


# -- rule shapes at durable-rules' C limits ----------------------------------------------------------

SIZE_AND_TIER = [fact_decl("size", "number"), TIER]  # the facts most shapes below test


def identical(n: int) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """n rules with the very same condition: n patterns share one test chain (BETA_LIST_LENGTH)."""
    rules = [rule(f"r{i}", [{"tier": {"entity": "$e", "value": "a"}}], [{"hit": {"entity": "$e", "why": f"r{i}"}}])
             for i in range(n)]
    facts = {"customer": "C", "tier": "a"}
    return [policy("identical", facts=SIZE_AND_TIER, predicates=[HIT], rules=rules)], facts, {"hit": n}


def children(n: int) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """n rules testing one field against n values: n tests under one node (NEXT_BUCKET_LENGTH)."""
    rules = [rule(f"r{i}", [{"size": {"entity": "$e", "value": i}}], [{"hit": {"entity": "$e", "why": f"r{i}"}}])
             for i in range(n)]
    facts = {"customer": "C", "legal_entities": [{"name": "A", "size": 0}, {"name": "B", "size": n - 1},
                                                 {"name": "D", "size": n}]}
    return [policy("children", facts=SIZE_AND_TIER, predicates=[HIT], rules=rules)], facts, {"hit": 2}


def stack(n: int) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """n rules joining size facts to a variable: n join tests one fact passes (MAX_STACK_SIZE)."""
    rules = [rule(f"r{i}", [{"tier": {"entity": "$e", "value": "$t"}}, {"size": {"entity": "$e"}}],
                  [{"hit": {"entity": "$e", "why": f"r{i}"}}]) for i in range(n)]
    facts = {"customer": "C", "legal_entities": [{"name": "A", "size": 1, "tier": "a"}, {"name": "B", "size": 2}]}
    return [policy("stack", facts=SIZE_AND_TIER, predicates=[HIT], rules=rules)], facts, {"hit": n}


def frames(n: int) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """One rule matching n facts at once: n + 1 frames with the stage (MAX_MESSAGE_FRAMES)."""
    flags = [fact_decl(f"f{i:02d}", "boolean", "customer") for i in range(n)]
    rules = [rule("wide", [{f"f{i:02d}": True} for i in range(n)], [{"hit": {"entity": "C", "why": "wide"}}])]
    facts = {"customer": "C", **{f"f{i:02d}": True for i in range(n)}}
    return [policy("frames", facts=flags, predicates=[HIT], rules=rules)], facts, {"hit": 1}


def actions(n: int) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """n clauses (+ a seed clause, + podeploy's start and catch-all): n + 3 engine rules (MAX_ACTIONS)."""
    values = [f"v{i}" for i in range(64)]
    rules = [rule("seed", [{"customer": {"name": "$c"}}], [{"pair": {"x": "v0", "y": "v5"}}])]
    done = 0
    while done < n:
        i, width = len(rules) - 1, min(64, n - done)
        rules.append(rule(f"r{i}", [{"any": [{"pair": {"x": values[i], "y": values[j]}} for j in range(width)]}],
                          [{"hit": {"entity": "C", "why": f"r{i}"}}]))
        done += width
    pair = predicate("pair", x="string", y="string")
    return [policy("actions", predicates=[HIT, pair], rules=rules)], {"customer": "C"}, {"hit": 1, "pair": 1}


def sequence(n: int) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """One condition joining n fields to a variable: n + 2 expressions (MAX_SEQUENCE_EXPRESSIONS)."""
    wide = predicate("wide", **{f"n{i:02d}": "number" for i in range(n)})
    rules = [rule("seed", [{"customer": {"name": "$c"}}], [{"wide": {f"n{i:02d}": 1 for i in range(n)}}]),
             rule("long", [{"size": {"entity": "$e", "value": "$s"}},
                           {"wide": {f"n{i:02d}": "$s" for i in range(n)}}],
                  [{"hit": {"entity": "$e", "why": "long"}}])]
    facts = {"customer": "C", "legal_entities": [{"name": "A", "size": 1}, {"name": "B", "size": 2}]}
    return [policy("sequence", facts=SIZE_AND_TIER, predicates=[HIT, wide], rules=rules)], facts, {"hit": 1}


LIMITS = {
    # shape: (builder, the largest size durable-rules takes, what the refusal says)
    "identical conditions": (identical, 255, "256 conditions test exactly the same thing as rule 'r0'; "
                                             "durable-rules takes at most 255"),
    "tests under one node": (children, 511, "512 different tests follow one another at the same point as in rule "
                                            "'r0'; durable-rules takes at most 511"),
    "tests one fact passes": (stack, 63, "a fact can pass 65 tests at once on the way to rule 'r0'; "
                                         "durable-rules takes at most 64"),
    "facts one rule matches": (frames, 15, "rule 'wide' matches 16 facts at once; durable-rules takes at most 15"),
    "rules in a ruleset": (actions, 4093, "the knowledge base compiles to 4097 engine rules; "
                                          "durable-rules takes at most 4096"),
    "variables in one condition": (sequence, 29, "rule 'long' compares 30 variables in one condition; "
                                                 "durable-rules takes at most 29"),
}
