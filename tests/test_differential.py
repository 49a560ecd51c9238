"""Differential tests: the durable-rules network, the reference evaluator and the compiled evaluator decide alike.

Random small policy sets (deployment types, capabilities, facts of every kind, derived
predicates, rules with joins, `not`, `any`, `count ... as`, comparisons, `in`/`not_in`,
conclusions feeding later strata and recursion within one) are written to YAML, loaded like
any other policy directory and evaluated on both engines against random facts documents.
Both must derive the same facts, give the same trace and render the same decision.

The generator is type-correct by construction, so every policy set it draws must load, and it
checks that the cases it drew reached every feature. It includes the shapes on which the engines
once disagreed (two conditions on one predicate, a `not` over what a condition matched, joins
between 2 and 2.0, text with spaces and quotes); the tests at the end pin each of those down on
its own, and `tests/corpus/differential/` holds hand-picked cases replayed on both engines.
"""

from __future__ import annotations

import collections
import functools
import itertools
import json
import os
import random
import select
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podeploy.engine.errors import CONTROL, BadInput, EngineError
from podeploy.engine.evaluation import rete
from podeploy.engine.evaluation.compiled import compiled
from podeploy.engine.evaluation.decision import Decision
from podeploy.engine.evaluation.evaluate import evaluate
from podeploy.engine.explain.render import decision_json, trace_json
from podeploy.engine.facts.reading import FactsInput, read_facts
from podeploy.engine.io.loader import parse_document
from podeploy.engine.model.terms import Fact
from podeploy.engine.policy.knowledge import Derived, KnowledgeBase
from podeploy.engine.policy.loading import load_knowledge_base

pytestmark = pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")

CORPUS = Path(__file__).resolve().parent / "corpus" / "differential"

FIXED = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- isolation -----------------------------------------------------------------------------------
# durable-rules 2.0.28 crashes at random on comparisons of two facts with ne/lt/gt
# (jruizgit/rules#381; the engine layer now checks those in Python), and a process that ran them
# could crash later, elsewhere. Every test here that evaluates on durable-rules runs in a forked
# child: a crash fails that test, naming the signal, instead of killing the whole test run, and no
# test inherits the heap another one left behind.


def isolated(test: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        in_child(lambda: test(*args, **kwargs))

    return run


def in_child(body: Callable[[], None], timeout: float = 300) -> None:
    """Run body in a forked child; re-raise its failure, or fail on its crash or hang."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running anything of pytest's
        os.close(read)
        status, report = 0, b""
        try:
            body()
        except BaseException:
            status, report = 1, traceback.format_exc().encode("utf-8", "replace")
        with os.fdopen(write, "wb") as out:
            out.write(report)
        os._exit(status)
    os.close(write)
    chunks, deadline = [], time.monotonic() + timeout
    with os.fdopen(read, "rb", buffering=0) as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"the test hung for {timeout} s (killed)")
            chunk = pipe.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise AssertionError(f"the test's process died of {name}: durable-rules crashed")
    if os.WEXITSTATUS(status) != 0:
        raise AssertionError("in the test's child process:\n" + b"".join(chunks).decode("utf-8", "replace"))


# -- the vocabulary random policies draw from ----------------------------------------------------
# Small pools, so that conditions match; text with a space or a quote (which durable-rules once
# ordered by its JSON form) and numbers the engine once misread (2.0 against 2, 1e-05).

TYPES = {"lite": (1, False), "standard": (2, True), "stocked": (3, True)}
CAPABILITIES = ("invoicing", "inventory", "ocr", "time")
CHOICES = ("a", "b", "c")
TEXTS = ("a", "a b", "Cust", 'q"uote', "é")
NUMBERS = (-2, 0, 1, 2, 2.0, 3, 1.5, 0.00001, 10, 999999999.5)
ENTITIES = ("Cust", "North Wind", "south", "Zed-1", "Zed-1 b")
CODES = {"heads-up": "warning", "fyi": "note"}

TYPE_OF = {
    "entity": "string", "type": "string", "cap": "string", "code": "string", "choice": "string",
    "text": "string", "customer": "string", "number": "number", "bool": "boolean",
}
DECLARED_DOMAIN = {"entity": "entity", "type": "deployment-type", "cap": "capability", "code": "code"}

# Derived predicates in level order: a rule concluding the i-th may match the first i+1 positively
# and negate or count only the first i, so every generated policy set is stratifiable.
DERIVED: list[tuple[str, str | None, dict[str, str]]] = [
    ("p1", None, {"entity": "entity", "type": "type"}),
    ("p2", None, {"entity": "entity", "cap": "cap", "n": "number"}),
    ("p3", None, {"a": "entity", "b": "entity"}),
    ("p4", None, {"entity": "entity", "ok": "bool"}),
    ("deployment", "deployment", {"entity": "entity", "type": "type"}),
    ("gap", "gap", {"entity": "entity", "capability": "cap"}),
    ("warning", "warning", {"code": "code", "entity": "entity?", "n": "number?"}),
    ("note", "note", {"code": "code", "about": "text?"}),
]


def _key(spec: str) -> str:
    return spec.rstrip("?")


class Vocabulary:
    """What one generated policy set declares, and the signatures rules can match."""

    def __init__(self, types: list[str], capabilities: list[str], scopes: dict[str, str]) -> None:
        self.types = types
        self.capabilities = capabilities
        self.scopes = scopes
        self.given: dict[str, dict[str, str]] = {
            "customer": {"name": "customer"},
            "entity": {"name": "entity"},
            "deployment-type": {"id": "type", "rank": "number", "finance": "bool"},
            "capability": {"id": "cap"},
            "offers": {"type": "type", "capability": "cap"},
        }
        values = {"tier": "choice", "flag": "bool", "size": "number", "needs": "cap", "label": "text",
                  "tags": "choice"}
        for fact, key in values.items():
            self.given[fact] = {"value": key} if scopes[fact] == "customer" else {"entity": "entity", "value": key}
        self.derived = {pid: fields for pid, _, fields in DERIVED}

    def signature(self, predicate: str) -> dict[str, str]:
        return self.given.get(predicate) or self.derived[predicate]

    def pool(self, key: str) -> tuple[Any, ...]:
        return {
            "entity": ENTITIES, "type": tuple(self.types), "cap": tuple(self.capabilities), "code": tuple(CODES),
            "choice": CHOICES, "text": TEXTS, "customer": ("Cust", "Other"), "number": NUMBERS,
            "bool": (True, False),
        }[key]


def vocabulary_policy(vocab: Vocabulary, offers: dict[str, list[str]], defaults: dict[str, Any]) -> dict[str, Any]:
    def fact(fid: str, kind: str, **extra: Any) -> dict[str, Any]:
        decl = {"id": fid, "type": kind, "scope": vocab.scopes[fid], "description": f"The {fid}.",
                "question": f"What is the {fid}?", **extra}
        if fid in defaults:
            decl["default"] = defaults[fid]
        return decl

    predicates = []
    for pid, role, fields in DERIVED:
        declared: dict[str, Any] = {}
        for name, spec in fields.items():
            field: dict[str, Any] = {"type": TYPE_OF[_key(spec)]}
            if _key(spec) in DECLARED_DOMAIN:
                field["domain"] = DECLARED_DOMAIN[_key(spec)]
            if spec.endswith("?"):
                field["optional"] = True
            declared[name] = field
        predicate: dict[str, Any] = {"id": pid, "description": f"Derived {pid}.", "fields": declared}
        if role:
            predicate["role"] = role
        predicates.append(predicate)
    return {
        "policy": "vocab",
        "description": "Generated vocabulary.",
        "deployment_types": [
            {"id": t, "name": t.title(), "rank": TYPES[t][0], "finance": TYPES[t][1], "source": "seed.txt#types"}
            for t in vocab.types
        ],
        "capabilities": [{"id": c, "name": c.title()} for c in vocab.capabilities],
        "offers": [{"type": t, "capabilities": caps, "source": "seed.txt#offers"}
                   for t, caps in offers.items() if caps],
        "facts": [
            fact("tier", "choice", values=list(CHOICES)),
            fact("flag", "boolean"),
            fact("size", "number"),
            fact("needs", "capability-list"),
            fact("label", "text"),
            fact("tags", "choice-list", values=list(CHOICES)),
        ],
        "predicates": predicates,
        "codes": [{"id": c, "kind": k, "description": f"Code {c}."} for c, k in CODES.items()],
    }


class RuleMaker:
    """Draws one well-typed rule: every variable bound before it is compared, in a type that fits."""

    MAX_IN_FIELDS = 2  # 'in' lists on positive atoms per clause: at most 3 x 3 engine rules

    def __init__(self, draw: Any, vocab: Vocabulary, rid: str, level: int, concluded: set[str]) -> None:
        self.draw = draw
        self.vocab = vocab
        self.rid = rid
        self.level = level
        self.concluded = concluded  # derived predicates earlier rules conclude: worth matching
        self.names = (f"v{i}" for i in itertools.count())
        self.env: dict[str, str] = {}  # variable -> domain key, bound by positive atoms
        self.counts: list[str] = []  # count variables: numbers usable in conclusions only
        self.in_fields = 0

    # -- atoms ------------------------------------------------------------------------------------

    def literal(self, key: str) -> Any:
        return self.draw(st.sampled_from(self.vocab.pool(key)))

    def literals(self, key: str) -> list[Any]:
        chosen: list[Any] = self.draw(st.lists(st.sampled_from(self.vocab.pool(key)), min_size=1, max_size=3,
                                               unique=True))
        return chosen

    def same_type(self, key: str, env: dict[str, str]) -> list[str]:
        return [v for v, k in env.items() if TYPE_OF[k] == TYPE_OF[key]]

    def joinable(self, key: str, env: dict[str, str]) -> list[str]:
        """Variables a field can be compared with: mostly those of its own domain, which can match."""
        same_domain = [v for v, k in env.items() if k == key]
        if same_domain and self.draw(st.integers(0, 3)) > 0:
            return same_domain
        return self.same_type(key, env)

    def spec(self, key: str, mode: str, env: dict[str, str], binds: dict[str, str], allow_in: bool) -> Any:
        """One field's pattern: a new variable, a join, a literal or a dict of tests."""
        joinable = self.joinable(key, env)
        options = ["literal", "tests", "tests"]
        if mode == "positive":
            options += ["bind", "bind", "bind"]
        if joinable:
            options += ["join", "join"] + (["join", "join", "join"] if mode == "negative" else [])
        kind = self.draw(st.sampled_from(options))
        if kind == "bind":
            name = next(self.names)
            binds[name] = key
            return f"${name}"
        if kind == "join":
            return "$" + self.draw(st.sampled_from(joinable))
        if kind == "literal":
            return self.literal(key)
        ops = ["ne", "not_in", "eq"] + (["in", "in"] if allow_in else [])
        if TYPE_OF[key] == "number":  # only numbers are ordered
            ops += ["lt", "gt", "lte", "gte"]
        tests: dict[str, Any] = {}
        for op in self.draw(st.lists(st.sampled_from(ops), min_size=1, max_size=1 + (self.draw(st.integers(0, 4)) == 0),
                                     unique=True)):
            if op in ("in", "not_in"):
                tests[op] = self.literals(key)
            elif joinable and self.draw(st.booleans()):
                tests[op] = "$" + self.draw(st.sampled_from(joinable))
            else:
                tests[op] = self.literal(key)
        if mode == "positive" and self.draw(st.booleans()):
            name = next(self.names)
            binds[name] = key
            tests["as"] = f"${name}"
        return tests

    def atom(self, predicate: str, mode: str, env: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        fields = self.vocab.signature(predicate)
        binds: dict[str, str] = {}
        body: dict[str, Any] = {}
        keep = 4 if mode == "negative" else 3  # a negation constrains more fields: it blocks less
        for name in [name for name in sorted(fields) if self.draw(st.integers(1, keep)) > 1]:
            key = _key(fields[name])
            allow_in = mode in ("negative", "count") or self.in_fields < self.MAX_IN_FIELDS
            spec = self.spec(key, mode, env, binds, allow_in)
            if isinstance(spec, dict) and "in" in spec and mode in ("positive", "branch"):
                self.in_fields += 1
            body[name] = spec
        if set(body) == {"value"} and "entity" not in fields and self.draw(st.booleans()):
            return {predicate: body["value"]}, binds  # the short form: `flag: true`
        return {predicate: body}, binds

    def choose(self, allowed: list[str], own: str | None = None, live_odds: int = 2) -> str:
        """A predicate to match: often one an earlier rule concludes, or the rule's own (recursion)."""
        derived = [p for p in allowed if p in self.vocab.derived]
        if own in derived and self.draw(st.integers(0, 2)) == 0:
            return own
        live = [p for p in derived if p in self.concluded]
        if live and self.draw(st.integers(1, live_odds)) > 1:
            found: str = self.draw(st.sampled_from(live))
            return found
        chosen: str = self.draw(st.sampled_from(derived if derived and self.draw(st.booleans()) else allowed))
        return chosen

    # -- the rule ---------------------------------------------------------------------------------

    def rule(self) -> dict[str, Any]:
        level = self.level
        derived = [pid for pid, _, _ in DERIVED]
        given = list(self.vocab.given)
        positive_preds = given + derived[: level + 1]
        negative_preds = given + derived[:level]
        conditions: list[dict[str, Any]] = []
        matched: list[str] = []
        for _ in range(self.draw(st.sampled_from([0, 1, 1, 2, 2, 2, 3]))):
            predicate = self.choose(positive_preds, own=derived[level])
            # Joins compare with variables of earlier conditions only: the engine cannot compare
            # two fields of one fact, and the checker refuses it.
            condition, binds = self.atom(predicate, "positive", dict(self.env))
            self.env.update(binds)
            conditions.append(condition)
            matched.append(predicate)
        others: list[dict[str, Any]] = []
        for _ in range(self.draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
            atom, _ = self.atom(self.choose(negative_preds), "negative", self.env)
            others.append({"not": atom})
        if self.draw(st.integers(0, 2)) == 0:  # a count lifts the rule above what it counts, and never blocks it
            # Counting a derived predicate the rule also matches puts the rule in a later stratum
            # than the facts it matches: a chain across strata.
            lower = [p for p in matched if p in negative_preds and p in self.vocab.derived]
            predicate = self.draw(st.sampled_from(lower)) if lower and self.draw(st.booleans()) else self.choose(
                negative_preds, live_odds=4)
            atom, _ = self.atom(predicate, "count", self.env)
            name = f"n{len(self.counts)}"
            self.counts.append(name)
            others.append({"count": atom, "as": f"${name}"})
        for item in others:
            conditions.insert(self.draw(st.integers(0, len(conditions))), item)
        if self.draw(st.integers(0, 2)) == 0:
            conditions.append(self.any_condition(positive_preds, negative_preds))
        if not conditions:
            conditions.append({"customer": {"name": "$" + self.bind("customer")}})
        then = [self.conclusion(derived[level])]
        if level + 1 < len(derived) and self.draw(st.integers(0, 3)) == 0:
            then.append(self.conclusion(self.draw(st.sampled_from(derived[level + 1:]))))
        self.concluded.update(next(iter(c)) for c in then)
        return {
            "id": self.rid,
            "description": f"Generated rule {self.rid}.",
            "source": "seed.txt#rules",
            "when": conditions,
            "then": then,
            "explanation": self.explanation(),
        }

    def bind(self, key: str) -> str:
        name = next(self.names)
        self.env[name] = key
        return name

    def any_condition(self, positive_preds: list[str], negative_preds: list[str]) -> dict[str, Any]:
        """'any' of two or three cases that bind nothing new, so every clause binds the same variables."""
        branches = []
        for _ in range(self.draw(st.integers(2, 3))):
            kind = self.draw(st.sampled_from(["positive", "not", "all"]))
            parts = []
            if kind in ("positive", "all"):
                parts.append(self.atom(self.choose(positive_preds), "branch", self.env)[0])
            if kind in ("not", "all"):
                parts.append({"not": self.atom(self.choose(negative_preds), "negative", self.env)[0]})
            branches.append(parts[0] if len(parts) == 1 else {"all": parts})
        return {"any": branches}

    def conclusion(self, predicate: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in self.vocab.derived[predicate].items():
            if spec.endswith("?") and self.draw(st.booleans()):
                continue
            key = _key(spec)
            candidates = self.same_type(key, self.env) + (self.counts if TYPE_OF[key] == "number" else [])
            if candidates and self.draw(st.integers(0, 3)) > 0:
                values[name] = "$" + self.draw(st.sampled_from(candidates))
            else:
                values[name] = self.literal(key)
        return {predicate: values}

    def explanation(self) -> str:
        names = sorted(self.env) + self.counts
        shown = self.draw(st.lists(st.sampled_from(names), max_size=2, unique=True)) if names else []
        text = f"Rule {self.rid} holds"
        if shown:
            text += " for " + " and ".join(f"{{{n}}}" for n in shown)
        if self.draw(st.integers(0, 4)) == 0:
            text += " {{verbatim}}"
        return text + "."


@st.composite
def policy_sets(draw: Any) -> tuple[Vocabulary, list[dict[str, Any]]]:
    types = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=3, unique=True))
    capabilities = draw(st.lists(st.sampled_from(CAPABILITIES), min_size=1, max_size=4, unique=True))
    scopes = {
        "tier": draw(st.sampled_from(["customer", "entity"])),
        "flag": draw(st.sampled_from(["customer", "entity"])),
        "size": "entity", "needs": "entity", "label": "entity", "tags": "customer",
    }
    vocab = Vocabulary(types, capabilities, scopes)
    offers = {t: draw(st.lists(st.sampled_from(capabilities), unique=True, max_size=len(capabilities))) for t in types}
    defaults: dict[str, Any] = {}
    if draw(st.booleans()):
        defaults["tier"] = draw(st.sampled_from(CHOICES))
    if draw(st.booleans()):
        defaults["flag"] = draw(st.booleans())
    # Rules are drawn lightest level first, so that later ones can match what earlier ones conclude.
    levels = sorted(draw(st.lists(st.integers(0, len(DERIVED) - 1), min_size=3, max_size=8)))
    concluded: set[str] = set()
    rules = [RuleMaker(draw, vocab, f"r{i}", level, concluded).rule() for i, level in enumerate(levels)]
    policies = [vocabulary_policy(vocab, offers, defaults),
                {"policy": "rules", "description": "Generated rules.", "rules": rules}]
    return vocab, policies


@st.composite
def facts_documents(draw: Any, vocab: Vocabulary) -> dict[str, Any]:
    def value(fid: str) -> Any:
        return {
            "tier": st.sampled_from(CHOICES),
            "flag": st.booleans(),
            "size": st.sampled_from(NUMBERS),
            "needs": st.lists(st.sampled_from(vocab.capabilities), unique=True, max_size=3),
            "label": st.sampled_from(TEXTS),
            "tags": st.lists(st.sampled_from(CHOICES), unique=True, max_size=3),
        }[fid]

    doc: dict[str, Any] = {"customer": "Cust"}
    for fid in ("tier", "flag", "size", "needs", "label", "tags"):
        if draw(st.integers(0, 4)) > 0:
            doc[fid] = draw(value(fid))
    entities = []
    for name in draw(st.lists(st.sampled_from(ENTITIES), unique=True, max_size=3)):
        entity: dict[str, Any] = {"name": name}
        for fid, scope in vocab.scopes.items():
            if scope == "entity" and draw(st.integers(0, 3)) > 0:
                entity[fid] = draw(value(fid))
        entities.append(entity)
    if entities:
        doc["legal_entities"] = entities
    return doc


# -- running both engines ------------------------------------------------------------------------


def load_policies(policies: list[dict[str, Any]], directory: Path) -> KnowledgeBase:
    directory.mkdir(parents=True, exist_ok=True)
    for i, policy in enumerate(policies):
        (directory / f"{i:02d}-{policy['policy']}.yaml").write_text(
            yaml.safe_dump(policy, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_knowledge_base([str(directory)], builtin=False)


def read_facts_text(kb: KnowledgeBase, text: str) -> FactsInput:
    return read_facts(kb, parse_document(text, "facts.yaml"))


def outcome(decision: Decision) -> dict[str, Any]:
    rendered = decision_json(decision)
    del rendered["engine"]
    return {
        "derived": sorted(f.key for f in decision.store.order),
        "trace": trace_json(decision),
        "decision": rendered,
    }


SPLIT: Derived[rete.Network] = Derived("split network")


def evaluate_split(kb: KnowledgeBase, facts: FactsInput) -> Decision:
    """Evaluate on durable-rules with the knowledge base split into as many rulesets as it can be (one
    clause each, grouped by the customer fact it needs), as very large knowledge bases are."""
    split = kb.derived(SPLIT, lambda: rete.Network(kb, shard_size=1))
    whole = kb.recall(rete.NETWORK)
    kb.remember(rete.NETWORK, split)
    try:
        return evaluate(kb, facts, engine="durable")
    finally:
        if whole is None:
            del kb.memo[rete.NETWORK]
        else:
            kb.remember(rete.NETWORK, whole)


def assert_engines_agree(kb: KnowledgeBase, facts: FactsInput) -> Decision:
    durable = evaluate(kb, facts, engine="durable")
    reference = evaluate(kb, facts, engine="reference")
    split = evaluate_split(kb, facts)
    assert (durable.engine, reference.engine, split.engine) == ("durable", "reference", "durable")
    theirs = outcome(reference)
    for ours in (outcome(durable), outcome(split)):
        assert ours["derived"] == theirs["derived"]
        assert ours["trace"] == theirs["trace"]
        assert ours["decision"] == theirs["decision"]
    # The compiled evaluator the analyses search with derives the same facts, without a trace.
    fast = compiled(kb).run(facts.ground)
    assert set(fast.own.values) | set(fast.base.values) == set(reference.store.order)
    return reference


FEATURES = ("strata", "not", "count", "any", "join", "in", "compare", "recursion", "chained", "deployment", "notice")


def _features(kb: KnowledgeBase, decision: Decision) -> set[str]:
    """What a case exercised, so the suite can check that the generator reaches every feature."""
    found = set()
    if kb.strata >= 2:
        found.add("strata")
    concluded_in: dict[Any, int] = {}
    for firing in decision.trace:
        for fact in firing.conclusions:
            concluded_in.setdefault(fact, firing.clause.stratum)
    for firing in decision.trace:
        found.add("firing")
        clause = firing.clause.clause
        if clause.negatives:
            found.add("not")
        if clause.counts:
            found.add("count")
        if len(firing.clause.rule.clauses) > 1:
            found.add("any")
        if len(clause.positives) >= 2:
            found.add("join")
        ops = {t.op for a in (*clause.positives, *clause.negatives) for fp in a.fields for t in fp.tests}
        if ops & {"in", "not_in"}:
            found.add("in")
        if ops & {"lt", "gt", "lte", "gte", "ne"}:
            found.add("compare")
        if any(concluded_in.get(m) == firing.clause.stratum for m in firing.matched):
            found.add("recursion")
        if any(concluded_in.get(m, 0) and concluded_in[m] < firing.clause.stratum for m in firing.matched):
            found.add("chained")
    if decision.entities and any(e.deployment for e in decision.entities):
        found.add("deployment")
    if decision.warnings or decision.notes:
        found.add("notice")
    return found


@isolated
@pytest.mark.slow
def test_the_engines_agree_on_random_policy_sets() -> None:
    stats: collections.Counter[str] = collections.Counter()

    @FIXED
    @given(data=st.data())
    def check(data: Any) -> None:
        vocab, policies = data.draw(policy_sets(), label="policies")
        stats["policy sets"] += 1
        with tempfile.TemporaryDirectory() as tmp:
            try:
                kb = load_policies(policies, Path(tmp))
            except BadInput as exc:  # the generator is type-correct by construction: a bug in it or the checker
                shown = yaml.safe_dump(policies)
                raise AssertionError(f"a generated policy set did not load: {exc}\n{shown}") from None
        stats["loaded"] += 1
        for _ in range(data.draw(st.integers(2, 4), label="documents")):
            doc = data.draw(facts_documents(vocab), label="facts")
            facts = read_facts_text(kb, yaml.safe_dump(doc, sort_keys=False))
            decision = assert_engines_agree(kb, facts)
            stats["evaluations"] += 1
            stats.update(_features(kb, decision))

    check()
    assert stats["loaded"] == stats["policy sets"] >= 100
    # The generator must reach what it is for. Hypothesis draws differently from version to
    # version, so one feature may go unexercised in a run; the corpus covers them all as well.
    assert stats["firing"] >= stats["evaluations"] // 3, dict(stats)
    missing = [f for f in FEATURES if stats[f] == 0]
    assert len(missing) <= 1, f"no generated case exercised {missing}: {dict(stats)}"


# -- text equality over arbitrary strings --------------------------------------------------------

TEXT_POLICY = {
    "policy": "text",
    "description": "Equality on free text: literals, joins, in and not_in.",
    "facts": [
        {"id": "label", "type": "text", "scope": "entity", "description": "A label.", "question": "Label?"},
        {"id": "alias", "type": "text", "scope": "entity", "description": "An alias.", "question": "Alias?"},
    ],
    "predicates": [
        {"id": "same", "description": "Two entities share a label.",
         "fields": {"a": {"type": "string", "domain": "entity"}, "b": {"type": "string", "domain": "entity"}}},
        {"id": "named", "description": "A label that is also someone's alias.",
         "fields": {"entity": {"type": "string", "domain": "entity"}, "label": {"type": "string"}}},
        {"id": "odd", "description": "A label nobody else has.",
         "fields": {"entity": {"type": "string", "domain": "entity"}}},
    ],
    "rules": [
        {"id": "shared-label", "description": "Two entities with one label.",
         "when": [{"label": {"entity": "$a", "value": "$l"}},
                  {"label": {"entity": {"ne": "$a", "as": "$b"}, "value": "$l"}}],
         "then": [{"same": {"a": "$a", "b": "$b"}}], "explanation": "{a} and {b} share {l}."},
        {"id": "label-is-alias", "description": "A label that is an alias.",
         "when": [{"label": {"entity": "$e", "value": "$l"}}, {"alias": {"value": "$l"}}],
         "then": [{"named": {"entity": "$e", "label": "$l"}}], "explanation": "{l} names {e}."},
        {"id": "unique-label", "description": "A label nobody else has.",
         "when": [{"label": {"entity": "$e", "value": "$l"}},
                  {"not": {"label": {"entity": {"ne": "$e"}, "value": "$l"}}},
                  {"not": {"alias": {"entity": "$e", "value": {"in": ["a b", "q\"uote", "tab\there"]}}}}],
         "then": [{"odd": {"entity": "$e"}}], "explanation": "{e} alone has {l}."},
        {"id": "label-listed", "description": "Labels in a list.",
         "when": [{"label": {"entity": "$e", "value": {"in": ["a b", "q\"uote", "back\\slash", "é"], "as": "$l"}}},
                  {"alias": {"entity": "$e", "value": {"not_in": ["a b", "q\"uote"]}}}],
         "then": [{"named": {"entity": "$e", "label": "$l"}}], "explanation": "{e} is listed."},
    ],
}

# Text a facts file may hold: no control characters (they are refused as bad input, tests/test_red_team.py).
FREE_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Co", "Cn")), min_size=1,
                    max_size=12).filter(lambda s: s.strip() == s and not s.startswith("$") and not CONTROL.search(s))
TRICKY_TEXT = st.sampled_from(["a b", "q\"uote", "back\\slash", "two  spaces", "é", "e\u0301", "\U0001F600", "1",
                               "true", "s:1", "b:1"])


@pytest.fixture(scope="module")
def text_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    return load_policies([TEXT_POLICY], tmp_path_factory.mktemp("text"))


@isolated
def test_the_engines_agree_on_equality_over_free_text(text_kb: KnowledgeBase) -> None:
    """Equality, 'in' and 'not_in' on any text agree (ordering is for numbers only)."""

    @FIXED
    @given(st.lists(st.tuples(FREE_TEXT | TRICKY_TEXT, FREE_TEXT | TRICKY_TEXT), min_size=1, max_size=5))
    def check(rows: list[tuple[str, str]]) -> None:
        doc = {"customer": "Cust",
               "legal_entities": [{"name": f"E{i}", "label": label, "alias": alias}
                                  for i, (label, alias) in enumerate(rows)]}
        assert_engines_agree(text_kb, read_facts_text(text_kb, json.dumps(doc, ensure_ascii=False)))

    check()


# -- the saved corpus ----------------------------------------------------------------------------


def corpus_cases() -> list[Any]:
    return [pytest.param(p, id=p.stem) for p in sorted(CORPUS.glob("*.yaml"))]


def test_the_corpus_holds_the_promised_cases() -> None:
    names = {p.stem for p in CORPUS.glob("*.yaml")}
    assert {"transitive-closure-within-a-stratum", "negation-over-a-lower-stratum-with-joins"} <= names


@pytest.mark.parametrize("path", corpus_cases())
@isolated
def test_a_corpus_case_replays_alike_on_both_engines(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    kb = load_policies(case["policies"], tmp_path)
    for document in case["facts"]:
        facts = read_facts_text(kb, yaml.safe_dump(document["facts"], sort_keys=False))
        decision = assert_engines_agree(kb, facts)
        for predicate, expected in document["expect"].items():
            found = sorted(json.dumps(f.as_dict(), sort_keys=True) for f in decision.store.of(predicate))
            assert found == sorted(json.dumps(e, sort_keys=True) for e in expected), predicate
        if "strata" in case:
            assert kb.strata == case["strata"]


# -- where the engines once disagreed ------------------------------------------------------------
# Each of these shapes gave different answers on the two engines (or an EngineError, or a crash);
# they now agree on the semantics below, or the policy is refused when it loads.


def _kb(tmp_path: Path, rules: list[dict[str, Any]], predicates: list[dict[str, Any]],
        facts: list[dict[str, Any]] | None = None) -> KnowledgeBase:
    policy = {"policy": "repro", "description": "A minimal reproducer.", "predicates": predicates, "rules": rules}
    if facts:
        policy["facts"] = facts
    return load_policies([policy], tmp_path)


def _rule(rid: str, when: list[Any], then: list[Any]) -> dict[str, Any]:
    return {"id": rid, "description": "Reproducer.", "when": when, "then": then, "explanation": "Because."}


def _pred(pid: str, **fields: str) -> dict[str, Any]:
    return {"id": pid, "description": "Reproducer.", "fields": {k: {"type": v} for k, v in fields.items()}}


def _fact(fid: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": fid, "type": kind, "scope": "entity", "description": "Reproducer.", "question": "?", **extra}


def _derived(kb: KnowledgeBase, doc: dict[str, Any], predicate: str, engine: str) -> list[str]:
    facts = read_facts_text(kb, yaml.safe_dump(doc))
    return sorted(str(f) for f in evaluate(kb, facts, engine=engine).store.of(predicate))


def _both(kb: KnowledgeBase, doc: dict[str, Any], predicate: str) -> list[str]:
    """What both engines derive for predicate: they must agree."""
    reference = _derived(kb, doc, predicate, "reference")
    try:
        durable = _derived(kb, doc, predicate, "durable")
    except EngineError as exc:
        durable = [f"EngineError: {exc}"]
    assert durable == reference
    return reference


def _refused(tmp_path: Path, rules: list[dict[str, Any]], predicates: list[dict[str, Any]],
             facts: list[dict[str, Any]] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(BadInput) as refused:
        _kb(tmp_path, rules, predicates, facts)
    return [(p.code, p.message) for p in refused.value.problems]


@isolated
def test_one_fact_fills_at_most_one_positive_condition(tmp_path: Path) -> None:
    kb = _kb(tmp_path, [_rule("pairs", [{"entity": {"name": "$a"}}, {"entity": {"name": "$b"}}],
                              [{"pair": {"a": "$a", "b": "$b"}}])], [_pred("pair", a="string", b="string")])
    doc = {"customer": "C", "legal_entities": [{"name": "A"}, {"name": "B"}]}
    assert _both(kb, doc, "pair") == ["pair(a: A, b: B)", "pair(a: B, b: A)"]


@isolated
def test_a_negation_looks_past_the_facts_the_rule_matched(tmp_path: Path) -> None:
    kb = _kb(tmp_path, [
        _rule("alone", [{"size": {"entity": "$e"}}, {"not": {"size": {"entity": "$e"}}}], [{"hit": {"entity": "$e"}}]),
        _rule("largest", [{"size": {"entity": "$e", "value": "$s"}}, {"not": {"size": {"value": {"gte": "$s"}}}}],
              [{"top": {"entity": "$e"}}]),
    ], [_pred("hit", entity="string"), _pred("top", entity="string")], [_fact("size", "number")])
    entities: list[dict[str, Any]] = [{"name": "A", "size": 1}, {"name": "B", "size": 2}, {"name": "D", "size": 2}]
    doc = {"customer": "C", "legal_entities": entities}
    assert _both(kb, doc, "hit") == ["hit(entity: A)", "hit(entity: B)", "hit(entity: D)"]
    assert _both(kb, doc, "top") == []  # B and D tie: each sees the other
    entities[2]["size"] = 0
    assert _both(kb, doc, "top") == ["top(entity: B)"]


@isolated
def test_a_negation_with_in_lists_on_two_fields_negates_each_combination(tmp_path: Path) -> None:
    kb = _kb(tmp_path, [
        _rule("mk", [{"tier": {"entity": "$e", "value": "$t"}}, {"kind": {"entity": "$e", "value": "$k"}}],
              [{"pair": {"a": "$t", "b": "$k"}}]),
        _rule("r", [{"entity": {"name": "$e"}}, {"not": {"pair": {"a": {"in": ["a"]}, "b": {"in": ["b"]}}}}],
              [{"hit": {"entity": "$e"}}]),
    ], [_pred("pair", a="string", b="string"), _pred("hit", entity="string")],
        [_fact("tier", "choice", values=["a", "b"]), _fact("kind", "choice", values=["a", "b"])])
    assert _both(kb, {"customer": "C", "tier": "a", "kind": "a"}, "hit") == ["hit(entity: C)"]
    assert _both(kb, {"customer": "C", "tier": "b", "kind": "b"}, "hit") == ["hit(entity: C)"]
    assert _both(kb, {"customer": "C", "tier": "a", "kind": "b"}, "hit") == []


@isolated
def test_an_integer_joins_the_same_number_written_as_a_float(tmp_path: Path) -> None:
    kb = _kb(tmp_path, [_rule("r", [{"size": {"entity": "$a", "value": "$s"}},
                                    {"size": {"entity": {"ne": "$a"}, "value": "$s"}}],
                              [{"hit": {"entity": "$a"}}])],
             [_pred("hit", entity="string")], [_fact("size", "number")])
    doc = {"customer": "C", "legal_entities": [{"name": "A", "size": 2}, {"name": "B", "size": 2.0},
                                               {"name": "D", "size": 0}, {"name": "E", "size": -0.0}]}
    assert _both(kb, doc, "hit") == ["hit(entity: A)", "hit(entity: B)", "hit(entity: D)", "hit(entity: E)"]


@isolated
def test_small_and_large_numbers_compare_by_value(tmp_path: Path) -> None:
    kb = _kb(tmp_path, [_rule("r", [{"size": {"entity": "$e", "value": {"lt": 1}}}], [{"hit": {"entity": "$e"}}]),
                        _rule("between", [{"size": {"entity": "$e", "value": "$s"}},
                                          {"size": {"entity": {"ne": "$e"}, "value": {"gt": "$s"}}}],
                              [{"below": {"entity": "$e"}}])],
             [_pred("hit", entity="string"), _pred("below", entity="string")], [_fact("size", "number")])
    doc = {"customer": "C", "legal_entities": [
        {"name": "Tiny", "size": 0.00001}, {"name": "Huge", "size": 999999999.5},
        {"name": "Low", "size": -1000000000}, {"name": "Top", "size": 1000000000}]}
    assert _both(kb, doc, "hit") == ["hit(entity: Low)", "hit(entity: Tiny)"]
    assert _both(kb, doc, "below") == ["below(entity: Huge)", "below(entity: Low)", "below(entity: Tiny)"]


def test_numbers_beyond_a_billion_are_refused(tmp_path: Path) -> None:
    kb = _kb(tmp_path, [], [_pred("hit", entity="string")], [_fact("size", "number")])
    with pytest.raises(BadInput) as refused:
        read_facts_text(kb, "customer: C\nsize: 1.0e+16\n")
    assert [(p.code, p.message) for p in refused.value.problems] == [
        ("bad-value", "size: 1e+16 is greater than the maximum of 1000000000")]
    assert _refused(tmp_path / "policy", [_rule("r", [{"size": {"entity": "$e", "value": {"lt": 2000000000}}}],
                                                [{"hit": {"entity": "$e"}}])],
                    [_pred("hit", entity="string")], [_fact("size", "number")]) == [
        ("bad-value", "rules.0.when.0.size.value.lt: 2000000000 is greater than the maximum of 1000000000.0")]


def test_one_variable_twice_in_one_condition_is_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, [_rule("same", [{"pair": {"a": "$x", "b": "$x"}}], [{"hit": {"entity": "$x"}}])],
                    [_pred("pair", a="string", b="string"), _pred("hit", entity="string")]) == [
        ("same-fact-comparison", "$x is bound twice in this condition; two fields of one fact cannot be compared")]


def test_a_repeated_value_in_an_in_list_is_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, [_rule("r", [{"tier": {"entity": "$e", "value": {"in": ["a", "a"]}}}],
                                     [{"hit": {"entity": "$e"}}])],
                    [_pred("hit", entity="string")], [_fact("tier", "choice", values=["a", "b"])]) == [
        ("schema", "rules.0.when.0.tier.value.in: ['a', 'a'] has non-unique elements")]


def test_text_cannot_be_ordered(tmp_path: Path) -> None:
    """durable-rules orders strings by their JSON text ("Contoso UK" before "Contoso"): ordering is for numbers."""
    assert _refused(tmp_path, [_rule("first", [{"entity": {"name": "$e"}}, {"not": {"entity": {"name": {"lt": "$e"}}}}],
                                     [{"hit": {"entity": "$e"}}])], [_pred("hit", entity="string")]) == [
        ("type-mismatch", "'name' holds a string; only numbers can be ordered (lt, lte, gt, gte)")]


@pytest.mark.slow
def test_the_compiled_evaluator_remembers_groups_without_changing_a_conclusion() -> None:
    # Every shipped example, evaluated in turn on one compiled knowledge base (its memory of each clause
    # group's conclusions shared), then again in the reverse order: each derives what the reference does.
    from podeploy.engine import load_facts
    from podeploy.engine.evaluation.derivation import vocabulary_store
    from podeploy.engine.evaluation.reference import run as reference_run
    from podeploy.engine.policy.layers import edition_dirs

    kb = load_knowledge_base(list(edition_dirs()))  # the default knowledge, which every example is written for
    examples = sorted(p for p in (Path(__file__).resolve().parent.parent / "examples").iterdir()
                      if p.suffix in (".yaml", ".json"))
    ground = [load_facts(kb, str(p)).ground for p in examples]
    fast = compiled(kb)
    for facts in [*ground, *reversed(ground)]:
        store = fast.run(facts)
        expected, _ = reference_run(kb, facts, base=vocabulary_store(kb))
        assert set(store.own.values) | set(store.base.values) == set(expected.order)
    assert fast.memo  # the second pass ran on remembered groups
    # And the customers an analysis tries, answer by answer: random states of one to three legal entities.
    from podeploy.engine.analysis.search import Analyzer

    analyzer = Analyzer(kb, warnings=True)
    rng = random.Random(7)
    pooled: list[Fact] = []  # what other entities pooled, given as the analysis gives it (finance-environment)
    for _ in range(400):
        c = tuple(rng.choice([True, False]) if d.item else rng.choice(d.reps)[0] for d in analyzer.dims.customer)
        facts = list(analyzer.dims.customer_facts(c))
        for e in range(rng.randint(1, 3)):
            state = tuple(rng.randint(0, len(d.members)) if d.is_class else rng.choice(d.reps)[0]
                          for d in analyzer.dims.local)
            facts += analyzer.dims.local_facts(f"Entity {e}", state)
        facts += [f for f in pooled if rng.random() < 0.5]
        store = fast.run(facts)
        pooled = [f for p in analyzer.cone.pooled for f in store.of(p)]
        expected, _ = reference_run(kb, facts, base=vocabulary_store(kb))
        assert set(store.own.values) | set(store.base.values) == set(expected.order)


def test_a_group_that_keeps_to_one_legal_entity_is_remembered_per_entity() -> None:
    # type-lacks-capability reads one entity's needs and concludes for that entity: after a change to one
    # legal entity, what the group concluded for the other is reused, and both runs derive what the
    # reference evaluator derives.
    from podeploy.engine.evaluation.compiled import Compiled
    from podeploy.engine.evaluation.derivation import vocabulary_store
    from podeploy.engine.evaluation.reference import run as reference_run
    from podeploy.engine.policy.layers import edition_dirs

    kb = load_knowledge_base(list(edition_dirs()))
    program = Compiled(kb)
    lacks = next(g for s in program.strata for g in s if any(c.rule.id == "type-lacks-capability" for c in g.clauses))
    final = next(g for s in program.strata for g in s if any(c.rule.id == "lite-joins-finance-environment"
                                                               for c in g.clauses))
    assert lacks.keyed is not None and final.keyed is None  # the promotion reads every entity's fit

    def ground(studio: str) -> list[Fact]:
        text = ("customer: C\nlegal_entities:\n  - {name: Plant, requirements: [production-orders]}\n"
                f"  - {{name: Studio, requirements: [{studio}]}}\n")
        return read_facts(kb, parse_document(text, "c.yaml")).ground

    def remembered() -> set[Any]:
        return {key for key in program.memo if key[0] == id(lacks)}

    for needs in ("time-tracking", "receipt-ocr"):
        before = remembered()
        facts = ground(needs)
        store = program.run(facts)
        expected, _ = reference_run(kb, facts, base=vocabulary_store(kb))
        assert set(store.own.values) | set(store.base.values) == set(expected.order)
        assert len(remembered() - before) == (2 if not before else 1)  # the plant's part is remembered
