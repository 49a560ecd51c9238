"""One regression test per durable-rules pitfall: the engine layer keeps each out of reach of input.

The pitfalls are those of the durable-rules 2.0.28 field notes (the shared
`durable-rules-notes.md`): unconsumed facts, swallowed exceptions, fact identity, loose
comparisons, `$nex` patterns, session deletion, live-session and timer-thread limits, one
ruleset name per load, and the C limits past which the engine errs, hangs or crashes.

Whatever could crash or hang the interpreter runs in a subprocess with a timeout; the shapes
past a limit are only compiled and checked (`rete.check_network`), which happens before anything
is registered with the engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import (
    HIT,
    LIMITS,
    SIZE_AND_TIER,
    TIER,
    fact_decl,
    policy,
    predicate,
    rule,
    write_policies,
)
from podeploy.engine.errors import BadInput, EngineError, PodeployError
from podeploy.engine.evaluation import patterns, rete
from podeploy.engine.evaluation.decision import Decision
from podeploy.engine.evaluation.evaluate import evaluate
from podeploy.engine.explain.render import decision_json, trace_json
from podeploy.engine.facts.reading import FactsInput, read_facts
from podeploy.engine.io.loader import parse_document
from podeploy.engine.policy.knowledge import KnowledgeBase
from podeploy.engine.policy.loading import load_knowledge_base

pytestmark = pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")

# -- building small knowledge bases --------------------------------------------------------------


def load(directory: Path, *policies: dict[str, Any]) -> KnowledgeBase:
    return load_knowledge_base([str(write_policies(directory, *policies))], builtin=False)


def facts_of(kb: KnowledgeBase, doc: dict[str, Any]) -> FactsInput:
    return read_facts(kb, parse_document(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), "facts.yaml"))


def derived(decision: Decision, pid: str) -> list[str]:
    return sorted(str(f) for f in decision.store.of(pid))


def outcome(decision: Decision) -> dict[str, Any]:
    rendered = decision_json(decision)
    del rendered["engine"]
    return {"derived": sorted(f.key for f in decision.store.order), "trace": trace_json(decision), "json": rendered}


def tier_kb(directory: Path) -> KnowledgeBase:
    """tier a gives hit(entity, why: tier-a): the smallest knowledge base with a firing rule."""
    return load(directory, policy("tiers", facts=[TIER], predicates=[HIT], rules=[
        rule("tier-a", [{"tier": {"entity": "$e", "value": "a"}}], [{"hit": {"entity": "$e", "why": "tier-a"}}]),
    ]))


TIER_FACTS = {"customer": "C", "legal_entities": [{"name": "A", "tier": "a"}, {"name": "B", "tier": "b"}]}


# -- running what could crash in a subprocess -------------------------------------------------------

DRIVER = textwrap.dedent("""
    import collections, json, sys
    from podeploy.engine import evaluate, load_facts, load_knowledge_base
    from podeploy.engine.explain.render import decision_json, trace_json

    policies, facts_path, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
    kb = load_knowledge_base([policies], builtin=False)
    facts = load_facts(kb, facts_path)
    results, counts = {}, {}
    for engine in ("durable", "reference"):
        for _ in range(repeat if engine == "durable" else 1):
            d = evaluate(kb, facts, engine=engine)
            rendered = decision_json(d)
            del rendered["engine"]
            results[engine] = [sorted(f.key for f in d.store.order), trace_json(d), rendered]
            if engine == "durable":
                counts = collections.Counter(f.predicate for f in d.store.order)
    print(json.dumps({"equal": results["durable"] == results["reference"], "counts": counts}))
""")


def run_isolated(tmp_path: Path, policies: Path, facts: dict[str, Any], *, repeat: int = 1,
                 timeout: float = 60) -> dict[str, Any]:
    """Evaluate on both engines in a fresh interpreter: a crash or a hang fails the test, not the run."""
    facts_path = tmp_path / "facts.yaml"
    facts_path.write_text(yaml.safe_dump(facts, sort_keys=False), "utf-8")
    done = subprocess.run([sys.executable, "-c", DRIVER, str(policies), str(facts_path), str(repeat)],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- 1. a fact no pattern consumes -----------------------------------------------------------------


def test_facts_no_rule_consumes_are_stored_and_the_other_rules_still_fire(tmp_path: Path) -> None:
    kb = load(tmp_path, policy("p", facts=[TIER, fact_decl("note", "text"), fact_decl("vip", "boolean", "customer")],
                               predicates=[HIT], rules=[
        rule("tier-a", [{"tier": {"entity": "$e", "value": "a"}}], [{"hit": {"entity": "$e", "why": "tier-a"}}]),
    ]))
    doc = {"customer": "C", "vip": True, "legal_entities": [
        {"name": "A", "tier": "a", "note": "unused"}, {"name": "B", "tier": "b", "note": "unused too"},
        {"name": "D", "tier": "a", "note": "still unused"}]}
    decision = evaluate(kb, facts_of(kb, doc), engine="durable")
    assert derived(decision, "hit") == ["hit(entity: A, why: tier-a)", "hit(entity: D, why: tier-a)"]
    assert derived(decision, "note") == ["note(entity: A, value: unused)", "note(entity: B, value: unused too)",
                                         "note(entity: D, value: still unused)"]
    assert derived(decision, "vip") == ["vip(value: true)"]
    assert outcome(decision) == outcome(evaluate(kb, facts_of(kb, doc), engine="reference"))


def test_a_knowledge_base_without_rules_evaluates_every_fact_unconsumed(tmp_path: Path) -> None:
    kb = load(tmp_path, policy("vocabulary-only", facts=[TIER]))
    decision = evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable")
    assert decision.trace == []
    assert sorted(f.key for f in decision.store.order) == [
        '["customer",[["name","C"]]]', '["entity",[["name","A"]]]', '["entity",[["name","B"]]]',
        '["tier",[["entity","A"],["value","a"]]]', '["tier",[["entity","B"],["value","b"]]]',
    ]


# -- 2. exceptions inside actions ------------------------------------------------------------------


class _LostFacts(dict):  # type: ignore[type-arg]
    def __getitem__(self, key: str) -> Any:
        raise LookupError(f"fact {key} went missing")


def test_an_exception_inside_a_rule_action_is_raised_as_an_engine_error(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    kb = tier_kb(tmp_path)
    real = rete._Session

    def losing_session(sid: str) -> Any:
        session = real(sid)
        session.ids = _LostFacts()  # the action looks its matched facts up here
        return session

    monkeypatch.setattr(rete, "_Session", losing_session)
    with pytest.raises(EngineError, match=r"^a rule action failed: LookupError: fact \d+ went missing$"):
        evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable")
    monkeypatch.undo()
    # The failed session was deleted: the same network evaluates again.
    assert derived(evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable"), "hit") == ["hit(entity: A, why: tier-a)"]


def test_an_exception_durable_rules_swallows_into_the_session_state_is_raised(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def exploding_action(self: rete.Ruleset, clause: Any) -> Any:
        def fire(c: Any) -> None:
            raise ZeroDivisionError("boom in the action")

        return fire

    monkeypatch.setattr(rete.Ruleset, "_action", exploding_action)
    kb = tier_kb(tmp_path / "broken")  # compiled and registered with the exploding action
    for _ in range(2):
        with pytest.raises(EngineError, match=r"^a rule action failed inside durable-rules: .*boom in the action"):
            evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable")
    monkeypatch.undo()
    fresh = tier_kb(tmp_path / "fresh")
    assert derived(evaluate(fresh, facts_of(fresh, TIER_FACTS), engine="durable"), "hit") == [
        "hit(entity: A, why: tier-a)"]


def test_an_exception_while_completing_a_firing_propagates_and_the_session_is_deleted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = tier_kb(tmp_path)

    def failing_complete(*args: Any) -> Any:
        raise ZeroDivisionError("boom while completing")

    # rete imports complete by name: patching podeploy.engine.evaluation.derivation.complete would not reach it.
    monkeypatch.setattr(rete, "complete", failing_complete)
    with pytest.raises(ZeroDivisionError, match="boom while completing"):
        evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable")
    monkeypatch.undo()
    assert derived(evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable"), "hit") == ["hit(entity: A, why: tier-a)"]


# -- 3. fact identity ----------------------------------------------------------------------------


class _AssertSpy:
    """Records what reaches the host: every fact asserted and every session deleted, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str, str]] = []  # (what, ruleset, sid)
        self.facts: list[dict[str, Any]] = []
        host = rete._get_host()
        real_fact, real_facts, real_delete = host.assert_fact, host.assert_facts, host.delete_state

        def assert_fact(ruleset: str, fact: dict[str, Any], complete: Any = None) -> Any:
            self._saw(ruleset, [fact])
            return real_fact(ruleset, fact)

        def assert_facts(ruleset: str, facts: list[dict[str, Any]], complete: Any = None) -> Any:
            self._saw(ruleset, facts)
            return real_facts(ruleset, facts)

        def delete_state(ruleset: str, sid: str | None = None) -> Any:
            self.events.append(("delete", ruleset, str(sid)))
            return real_delete(ruleset, sid)

        monkeypatch.setattr(host, "assert_fact", assert_fact)
        monkeypatch.setattr(host, "assert_facts", assert_facts)
        monkeypatch.setattr(host, "delete_state", delete_state)

    def _saw(self, ruleset: str, facts: list[dict[str, Any]]) -> None:
        for fact in facts:
            self.events.append(("assert", ruleset, str(fact["sid"])))
            self.facts.append(dict(fact, ruleset=ruleset))


def test_every_fact_reaches_the_engine_with_an_explicit_id_unique_in_its_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = tier_kb(tmp_path)
    spy = _AssertSpy(monkeypatch)
    decision = evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable")
    ids = Counter((f["ruleset"], f["sid"], f["id"]) for f in spy.facts)
    assert all(isinstance(f["id"], str) and f["id"] for f in spy.facts)
    assert max(ids.values()) == 1
    assert len(decision.store) == 6  # customer, 2 entities, 2 tiers, 1 hit
    # Only what some rule reads goes to the engine: the tiers; no rule matches customers, entities or hits.
    assert sorted(f["k"] for f in spy.facts if f["k"] != patterns.STAGE) == ["tier", "tier"]


def test_a_thousand_nearly_identical_facts_all_derive_their_conclusions(tmp_path: Path) -> None:
    kb = load(tmp_path, policy("many", facts=[fact_decl("size", "number"), fact_decl("label", "text")],
                               predicates=[predicate("hit", entity="string", size="number", label="string")], rules=[
        rule("both", [{"size": {"entity": "$e", "value": "$s"}}, {"label": {"entity": "$e", "value": "$l"}}],
             [{"hit": {"entity": "$e", "size": "$s", "label": "$l"}}]),
    ]))
    # Names one character apart, and letters that look alike but are others (Greek, Cyrillic); names
    # that read alike to a person ('e' and 'E', 'é' composed or not) are refused as one entity twice.
    names = [f"E{i:03d}" for i in range(990)] + ["e", "ê", "é", "e-", "e.", "e_", "ë", "E0000", "ε", "Е"]
    rows = [{"name": name, "size": i % 7, "label": f"L{(i * 7919) % 1000}"} for i, name in enumerate(names)]
    decision = evaluate(kb, facts_of(kb, {"customer": "C", "legal_entities": rows}), engine="durable")
    expected = {(r["name"], r["size"], r["label"]) for r in rows}
    assert len(expected) == 1000
    found = {(f.get("entity"), f.get("size"), f.get("label")) for f in decision.store.of("hit")}
    assert found == expected


def test_one_conclusion_concluded_many_times_and_repeated_input_are_asserted_once(tmp_path: Path) -> None:
    kb = load(tmp_path, policy("twice", facts=[fact_decl("needs", "choice-list", values=["x", "y", "z"])],
                               predicates=[predicate("busy", entity="string")], rules=[
        rule("needs-something", [{"needs": {"entity": "$e"}}], [{"busy": {"entity": "$e"}}]),
        rule("is-an-entity", [{"entity": {"name": "$e"}}], [{"busy": {"entity": "$e"}}]),
    ]))
    doc = {"customer": "C", "needs": ["x", "y"], "legal_entities": [{"name": "A", "needs": ["y", "z", "z"]}]}
    decision = evaluate(kb, facts_of(kb, doc), engine="durable")
    assert derived(decision, "busy") == ["busy(entity: A)"]
    assert derived(decision, "needs") == ["needs(entity: A, value: x)", "needs(entity: A, value: y)",
                                          "needs(entity: A, value: z)"]
    assert [f.clause.rule.id for f in decision.trace] == ["needs-something"] * 3 + ["is-an-entity"]
    assert outcome(decision) == outcome(evaluate(kb, facts_of(kb, doc), engine="reference"))


# -- 4. loose comparisons ------------------------------------------------------------------------

LOOKALIKES = policy("lookalikes", facts=[fact_decl("label", "text"), fact_decl("flag", "boolean"),
                                         fact_decl("size", "number")],
                    predicates=[HIT], rules=[
    rule("label-1", [{"label": {"entity": "$e", "value": "1"}}], [{"hit": {"entity": "$e", "why": "label-1"}}]),
    rule("label-true", [{"label": {"entity": "$e", "value": "true"}}],
         [{"hit": {"entity": "$e", "why": "label-true"}}]),
    rule("label-b1", [{"label": {"entity": "$e", "value": "b:1"}}], [{"hit": {"entity": "$e", "why": "label-b1"}}]),
    rule("label-s1", [{"label": {"entity": "$e", "value": "s:1"}}], [{"hit": {"entity": "$e", "why": "label-s1"}}]),
    rule("label-listed", [{"label": {"entity": "$e", "value": {"in": ["1", "true"]}}}],
         [{"hit": {"entity": "$e", "why": "label-listed"}}]),
    rule("label-not-1", [{"label": {"entity": "$e", "value": {"ne": "1"}}}],
         [{"hit": {"entity": "$e", "why": "label-not-1"}}]),
    rule("flag-true", [{"flag": {"entity": "$e", "value": True}}], [{"hit": {"entity": "$e", "why": "flag-true"}}]),
    rule("flag-not-true", [{"flag": {"entity": "$e", "value": {"not_in": [True]}}}],
         [{"hit": {"entity": "$e", "why": "flag-not-true"}}]),
    rule("size-1", [{"size": {"entity": "$e", "value": 1}}], [{"hit": {"entity": "$e", "why": "size-1"}}]),
    rule("size-below-2", [{"size": {"entity": "$e", "value": {"lt": 2}}}],
         [{"hit": {"entity": "$e", "why": "size-below-2"}}]),
])


def test_lookalike_values_of_different_types_never_match_each_other(tmp_path: Path) -> None:
    kb = load(tmp_path, LOOKALIKES)
    doc = {"customer": "C", "legal_entities": [
        {"name": "text-1", "label": "1", "flag": False, "size": 10},
        {"name": "text-true", "label": "true", "flag": True, "size": 1},
        {"name": "text-b1", "label": "b:1", "size": 2},
        {"name": "text-s1", "label": "s:1"},
        {"name": "text-10", "label": "10", "size": 1.5},
    ]}
    decision = evaluate(kb, facts_of(kb, doc), engine="durable")
    hits: dict[str, list[str]] = {}
    for fact in decision.store.of("hit"):
        hits.setdefault(str(fact.get("entity")), []).append(str(fact.get("why")))
    assert {k: sorted(v) for k, v in hits.items()} == {
        "text-1": ["flag-not-true", "label-1", "label-listed"],
        "text-true": ["flag-true", "label-listed", "label-not-1", "label-true", "size-1", "size-below-2"],
        "text-b1": ["label-b1", "label-not-1"],
        "text-s1": ["label-not-1", "label-s1"],
        "text-10": ["label-not-1", "size-below-2"],
    }
    assert outcome(decision) == outcome(evaluate(kb, facts_of(kb, doc), engine="reference"))


def test_values_reach_the_engine_tagged_by_type() -> None:
    lookalikes = ["1", 1, True, "true", "b:1", "s:1", "n:1", 1.5, "1.5", False, 0, "", "b:0", "0", -1, "-1"]
    encoded = [json.dumps(patterns.encode(v)) for v in lookalikes]
    assert len(set(encoded)) == len(lookalikes)  # no two of them can meet in the engine
    assert patterns.encode(2) == patterns.encode(2.0)  # one number, however it is written
    assert patterns.encode(0) == patterns.encode(-0.0)


def test_a_policy_that_compares_values_of_different_types_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as refused:
        load(tmp_path, policy("mixed", facts=[fact_decl("label", "text"), fact_decl("size", "number")],
                              predicates=[HIT], rules=[
            rule("mixed", [{"size": {"entity": "$e", "value": "$s"}}, {"label": {"entity": "$e", "value": "$s"}}],
                 [{"hit": {"entity": "$e", "why": "mixed"}}]),
            rule("text-vs-1", [{"label": {"entity": "$e", "value": 1}}], [{"hit": {"entity": "$e", "why": "one"}}]),
        ]))
    assert sorted((p.code, p.message) for p in refused.value.problems) == [
        ("type-mismatch", "$s holds a number but is compared with a string"),
        ("type-mismatch", "1 is a number; this field holds a string"),
    ]


# -- 5. patterns made only of $nex tests -----------------------------------------------------------


def _operators(node: Any) -> set[str]:
    if isinstance(node, dict):
        return {k for k in node if k.startswith("$")} | {o for v in node.values() for o in _operators(v)}
    if isinstance(node, list):
        return {o for v in node for o in _operators(v)}
    return set()


FEATURES = policy("features", facts=[TIER, fact_decl("size", "number"), fact_decl("flag", "boolean", "customer")],
                  predicates=[HIT, {"id": "marked", "description": "Optional fields.", "fields": {
                      "entity": {"type": "string"}, "why": {"type": "string", "optional": True},
                      "size": {"type": "number", "optional": True}}}], rules=[
    rule("mark", [{"size": {"entity": "$e", "value": {"gt": 1, "as": "$s"}}}],
         [{"marked": {"entity": "$e", "size": "$s", "why": "big"}}]),
    rule("mark-bare", [{"entity": {"name": "$e"}}, {"not": {"size": {"entity": "$e"}}}],
         [{"marked": {"entity": "$e"}}]),
    rule("explained", [{"marked": {"entity": "$e", "why": {"ne": "x"}}}],
         [{"hit": {"entity": "$e", "why": "has-why"}}]),
    rule("sizes", [{"entity": {"name": "$e"}}, {"not": {"marked": {"entity": "$e", "size": {"not_in": [2, 3]}}}},
                   {"count": {"marked": {"size": {"gte": 0}}}, "as": "$n"},
                   {"any": [{"flag": True}, {"not": {"tier": {"entity": "$e", "value": {"in": ["a", "b"]}}}}]}],
         [{"hit": {"entity": "$e", "why": "sizes"}}], "{e} among {n}."),
])


@pytest.mark.parametrize("which", ["built-in", "features"])
def test_no_engine_pattern_is_made_only_of_nex_tests(which: str, tmp_path: Path) -> None:
    kb = load_knowledge_base() if which == "built-in" else load(tmp_path, FEATURES)
    doc: dict[str, Any] = {"customer": "C", "legal_entities": [{"name": "A"}]}
    if which == "features":
        doc["legal_entities"][0]["size"] = 2
    [ruleset] = rete.Network(kb, register=False).rulesets
    definition = ruleset.definition
    patterns = [p for r in definition.values() for p in r["all"]]
    assert "$nex" not in _operators(definition)
    unanchored = []
    for pattern in patterns:
        ((_, expression),) = pattern.items()
        tests = expression.get("$and", [expression])
        if not any(isinstance(t.get("k"), str) for t in tests):
            unanchored.append(tests)
    # Every pattern names its predicate, but the catch-all that consumes every fact.
    assert unanchored == [[{"$ex": {"k": 1}}]]
    assert outcome(evaluate(kb, facts_of(kb, doc), engine="durable")) == outcome(
        evaluate(kb, facts_of(kb, doc), engine="reference"))


def test_the_feature_policy_evaluates_as_the_reference_does(tmp_path: Path) -> None:
    kb = load(tmp_path, FEATURES)
    doc = {"customer": "C", "flag": False, "legal_entities": [
        {"name": "A", "size": 2, "tier": "a"}, {"name": "B", "size": 5}, {"name": "D", "tier": "b"}, {"name": "E"}]}
    decision = evaluate(kb, facts_of(kb, doc), engine="durable")
    assert derived(decision, "hit") == ["hit(entity: A, why: has-why)", "hit(entity: B, why: has-why)",
                                        "hit(entity: E, why: sizes)"]
    assert [n.message for n in decision.notes] == []
    assert [f.explanation for f in decision.trace if f.clause.rule.id == "sizes"] == ["E among 2."]
    assert outcome(decision) == outcome(evaluate(kb, facts_of(kb, doc), engine="reference"))


# -- 6 and 7. session deletion ---------------------------------------------------------------------


def test_sessions_live_one_at_a_time_and_each_is_deleted_before_the_next(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tier_kb(tmp_path / "one"), tier_kb(tmp_path / "two")
    spy = _AssertSpy(monkeypatch)
    for kb in (first, second, first, first, second):
        evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable")
    live: set[tuple[str, str]] = set()
    created: list[tuple[str, str]] = []
    for what, ruleset, sid in spy.events:
        if what == "assert" and (ruleset, sid) not in live:
            assert not live, f"session {ruleset}/{sid} made while {live} is live"
            live.add((ruleset, sid))
            created.append((ruleset, sid))
        elif what == "delete":
            assert live == {(ruleset, sid)}
            live.clear()
    assert not live
    assert [what for what, _, _ in spy.events].count("delete") == len(created) == 5
    assert len(set(created)) == 5


def test_sessions_in_which_no_policy_rule_fires_are_deleted_without_a_crash(tmp_path: Path) -> None:
    never = write_policies(tmp_path / "never", policy("never", facts=[TIER], predicates=[HIT], rules=[
        rule("never", [{"tier": {"entity": "$e", "value": "b"}}], [{"hit": {"entity": "$e", "why": "b"}}])]))
    empty = write_policies(tmp_path / "empty", policy("empty", facts=[TIER]))
    for policies in (never, empty):
        result = run_isolated(tmp_path, policies, {"customer": "C", "tier": "a"}, repeat=5)
        assert result == {"equal": True, "counts": {"customer": 1, "entity": 1, "tier": 1}}


CONCURRENT = textwrap.dedent("""
    import json, threading
    from podeploy.engine import evaluate, load_knowledge_base, load_facts
    from podeploy.engine.explain.render import decision_json

    kbs = [load_knowledge_base(), load_knowledge_base()]
    facts = [load_facts(kb, "examples/contoso.yaml") for kb in kbs]
    def render(kb, f, engine):
        out = decision_json(evaluate(kb, f, engine=engine))
        del out["engine"]
        return out
    expected = render(kbs[0], facts[0], "reference")
    failures = []
    def work(n):
        for i in range(25):
            k = (n + i) % 2
            if render(kbs[k], facts[k], "durable") != expected:
                failures.append((n, i))
    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(json.dumps({"failures": failures}))
""")


def test_threads_evaluating_at_once_take_turns_on_the_engine(tmp_path: Path) -> None:
    """The C extension keeps the GIL and its sessions must not interleave: evaluations take turns."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", CONCURRENT], capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"
    assert json.loads(done.stdout) == {"failures": []}


# -- 8. timer threads ----------------------------------------------------------------------------


def test_no_timer_threads_are_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rete, "_host", None)  # a fresh host, made by this test
    before = set(threading.enumerate())
    kb = tier_kb(tmp_path)
    assert derived(evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable"), "hit") == ["hit(entity: A, why: tier-a)"]
    assert rete._host is not None
    time.sleep(0.3)  # durable-rules' own host would have started its dispatch timers after 0.1 s
    assert set(threading.enumerate()) - before == set()


# -- 9. the live-session limit ---------------------------------------------------------------------


def test_eleven_hundred_evaluations_in_a_row_on_one_knowledge_base(tmp_path: Path) -> None:
    kb = tier_kb(tmp_path)
    facts = facts_of(kb, TIER_FACTS)
    results = Counter(tuple(derived(evaluate(kb, facts, engine="durable"), "hit")) for _ in range(1100))
    assert results == Counter({("hit(entity: A, why: tier-a)",): 1100})


# -- 11. interpreters durable-rules does not import on -------------------------------------------


def test_without_durable_rules_auto_falls_back_to_the_reference_and_durable_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    kb = tier_kb(tmp_path)
    monkeypatch.setattr(rete, "available", lambda: False)
    monkeypatch.setattr(rete.warn_unavailable, "done", False, raising=False)
    decision = evaluate(kb, facts_of(kb, TIER_FACTS), engine="auto")
    assert decision.engine == "reference"
    assert derived(decision, "hit") == ["hit(entity: A, why: tier-a)"]
    assert "using the reference evaluator" in capsys.readouterr().err
    with pytest.raises(PodeployError, match="durable-rules cannot be imported"):
        evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable")


# -- one ruleset per load ------------------------------------------------------------------------


def test_the_same_policies_loaded_twice_share_one_registration_and_both_evaluate(tmp_path: Path) -> None:
    tiers = policy("tiers", facts=[TIER], predicates=[HIT], rules=[
        rule("tier-a", [{"tier": {"entity": "$e", "value": "a"}}], [{"hit": {"entity": "$e", "why": "tier-a"}}])])
    directory = write_policies(tmp_path / "one", tiers)
    first = load_knowledge_base([str(directory)], builtin=False)
    second = load_knowledge_base([str(directory)], builtin=False)
    assert first is not second
    one = evaluate(first, facts_of(first, TIER_FACTS), engine="durable")
    two = evaluate(second, facts_of(second, TIER_FACTS), engine="durable")
    assert outcome(one) == outcome(two)
    assert derived(two, "hit") == ["hit(entity: A, why: tier-a)"]
    assert rete.network_for(first) is rete.network_for(second)  # durable-rules cannot unregister: reuse
    # Other files (here, the same policy under another name) are another knowledge base: registered anew.
    other = load_knowledge_base([str(write_policies(tmp_path / "two", {**tiers, "policy": "tiers-again"}))],
                                builtin=False)
    assert rete.network_for(other).name != rete.network_for(first).name
    assert derived(evaluate(other, facts_of(other, TIER_FACTS), engine="durable"), "hit") == [
        "hit(entity: A, why: tier-a)"]


# -- large knowledge bases are split into rulesets ----------------------------------------------------
# durable-rules sets up state for every node of a ruleset in each session (state.c): a session's cost grows with
# the ruleset. Past rete.SHARD_SIZE engine rules, clauses go to rulesets by the customer fact they need.

SIZE = fact_decl("size", "integer")


def split_kb(directory: Path, extra: int) -> KnowledgeBase:
    """tier-a, and `extra` rules each on one value of size: past SHARD_SIZE, size rules get rulesets of their own."""
    rules = [rule("tier-a", [{"tier": {"entity": "$e", "value": "a"}}], [{"hit": {"entity": "$e", "why": "tier-a"}}])]
    rules += [rule(f"size-{i}", [{"size": {"entity": "$e", "value": i}}], [{"hit": {"entity": "$e", "why": f"{i}"}}])
              for i in range(extra)]
    return load(directory, policy("split", facts=[TIER, SIZE], predicates=[HIT], rules=rules))


def test_a_knowledge_base_past_the_ruleset_size_is_split_by_the_fact_its_rules_need(tmp_path: Path) -> None:
    network = rete.Network(split_kb(tmp_path, 2 * rete.SHARD_SIZE), register=False)
    shape = [(r.trigger, len(r.positions), len(r.definition)) for r in network.rulesets]
    room = rete.SHARD_SIZE - 2
    assert shape == [("size", room, rete.SHARD_SIZE), ("size", room, rete.SHARD_SIZE),
                     ("size", 2 * rete.SHARD_SIZE - 2 * room, 2 * rete.SHARD_SIZE - 2 * room + 2),
                     ("tier", 1, 3)]
    small = rete.Network(split_kb(tmp_path / "small", rete.SHARD_SIZE - 3), register=False)
    assert [(r.trigger, len(r.positions)) for r in small.rulesets] == [(None, rete.SHARD_SIZE - 2)]


def test_a_customer_without_the_fact_opens_no_session_in_its_rulesets(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    kb = split_kb(tmp_path, 2 * rete.SHARD_SIZE)
    network = rete.network_for(kb)
    by_trigger = {r.name: r.trigger for r in network.rulesets}
    spy = _AssertSpy(monkeypatch)
    decision = evaluate(kb, facts_of(kb, TIER_FACTS), engine="durable")
    assert derived(decision, "hit") == ["hit(entity: A, why: tier-a)"]
    assert {by_trigger[ruleset] for _, ruleset, _ in spy.events} == {"tier"}
    sized = {"customer": "C", "legal_entities": [{"name": "A", "tier": "a", "size": 7}, {"name": "B", "size": 399}]}
    spy.events.clear()
    decision = evaluate(kb, facts_of(kb, sized), engine="durable")
    assert derived(decision, "hit") == ["hit(entity: A, why: 7)", "hit(entity: A, why: tier-a)",
                                        "hit(entity: B, why: 399)"]
    assert outcome(decision) == outcome(evaluate(kb, facts_of(kb, sized), engine="reference"))
    assert sorted({by_trigger[r] for _, r, _ in spy.events}) == ["size", "tier"]
    # Every session opened is deleted, each in its own ruleset.
    opened = {(r, sid) for what, r, sid in spy.events if what == "assert"}
    assert {(r, sid) for what, r, sid in spy.events if what == "delete"} == opened


# -- the C limits --------------------------------------------------------------------------------

# Limits that bind one ruleset of many rules: a knowledge base that large is split into rulesets of at
# most rete.SHARD_SIZE engine rules, so they bind only a knowledge base compiled whole (shard_size=UNSPLIT).
LIFTED_BY_SPLITTING = ("identical conditions", "tests under one node", "rules in a ruleset")
UNSPLIT = 1_000_000


@pytest.mark.parametrize("shape", list(LIMITS))
def test_a_rule_shape_past_a_limit_is_refused_before_registering(shape: str, tmp_path: Path) -> None:
    build, largest, message = LIMITS[shape]
    policies, _, _ = build(largest + 1)
    kb = load(tmp_path, *policies)
    with pytest.raises(BadInput) as refused:
        rete.check_network(kb, shard_size=UNSPLIT)
    assert [p.code for p in refused.value.problems] == ["engine-limit"]
    assert message in refused.value.problems[0].message
    assert refused.value.problems[0].location.file.endswith(".yaml")
    assert kb.recall(rete.NETWORK) is None  # nothing was registered


@pytest.mark.parametrize("shape", [s for s in LIMITS if s not in LIFTED_BY_SPLITTING])
def test_a_rule_shape_past_a_limit_is_refused_split_or_not(shape: str, tmp_path: Path) -> None:
    build, largest, message = LIMITS[shape]
    kb = load(tmp_path, *build(largest + 1)[0])
    with pytest.raises(BadInput) as refused:
        rete.check_network(kb)
    assert message in refused.value.problems[0].message


@pytest.mark.parametrize("shape", LIFTED_BY_SPLITTING)
@pytest.mark.slow
def test_a_rule_shape_past_a_ruleset_limit_is_split_and_evaluates_like_the_reference(
        shape: str, tmp_path: Path) -> None:
    build, largest, _ = LIMITS[shape]
    policies, facts, counts = build(largest + 1)
    directory = write_policies(tmp_path / "policies", *policies)
    network = rete.Network(load_knowledge_base([str(directory)], builtin=False), register=False)
    assert len(network.rulesets) > 1
    assert max(len(r.definition) for r in network.rulesets) <= rete.SHARD_SIZE
    result = run_isolated(tmp_path, directory, facts)
    assert result["equal"] is True
    assert {k: result["counts"].get(k, 0) for k in counts} == counts


@pytest.mark.parametrize("shape", list(LIMITS))
def test_a_rule_shape_at_a_limit_evaluates_like_the_reference(shape: str, tmp_path: Path) -> None:
    build, largest, _ = LIMITS[shape]
    policies, facts, counts = build(largest)
    directory = write_policies(tmp_path / "policies", *policies)
    result = run_isolated(tmp_path, directory, facts)  # durable-rules compiles (and checks) it there
    assert result["equal"] is True
    assert {k: result["counts"].get(k, 0) for k in counts} == counts


def _all_exit_cleanly(tmp_path: Path, directory: Path, facts: dict[str, Any], runs: int = 6) -> list[int]:
    """Exit statuses of fresh interpreters evaluating at once: a crash that depends on memory layout shows."""
    facts_path = tmp_path / "facts.yaml"
    facts_path.write_text(yaml.safe_dump(facts), "utf-8")
    started = [subprocess.Popen([sys.executable, "-c", DRIVER, str(directory), str(facts_path), "3"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(runs)]
    return [run.wait(timeout=120) for run in started]


def test_many_rules_comparing_two_facts_with_ne_lt_or_gt_do_not_crash(tmp_path: Path) -> None:
    """Such joins crashed durable-rules at random (jruizgit/rules#381): they are checked in Python."""
    rules = [rule(f"r{i}", [{"size": {"entity": "$e", "value": "$s"}},
                            {"size": {"entity": {"ne": "$e"}, "value": {["gt", "lt", "gte"][i % 3]: "$s"}}}],
                  [{"hit": {"entity": "$e", "why": f"r{i}"}}]) for i in range(63)]
    directory = write_policies(tmp_path / "policies",
                               policy("compare", facts=SIZE_AND_TIER, predicates=[HIT], rules=rules))
    facts = {"customer": "C", "legal_entities": [{"name": "A", "size": 1}, {"name": "B", "size": 2}]}
    assert _all_exit_cleanly(tmp_path, directory, facts) == [0] * 6
    result = run_isolated(tmp_path, directory, facts)
    assert result == {"equal": True, "counts": {"customer": 1, "entity": 2, "size": 2, "hit": 63}}


def test_many_small_rules_with_two_valued_in_lists_are_accepted_and_evaluate(tmp_path: Path) -> None:
    """256 engine rules in one stratum: their stage patterns are spread so no chain holds more than 255."""
    rules = [rule(f"r{i}", [{"tier": {"entity": "$e", "value": {"in": ["a", "b"]}}}],
                  [{"hit": {"entity": "$e", "why": f"r{i}"}}]) for i in range(128)]
    directory = write_policies(tmp_path / "policies", policy("in-lists", facts=[TIER], predicates=[HIT], rules=rules))
    rete.check_network(load_knowledge_base([str(directory)], builtin=False))
    result = run_isolated(tmp_path, directory, TIER_FACTS)
    assert result == {"equal": True, "counts": {"customer": 1, "entity": 2, "tier": 2, "hit": 256}}
