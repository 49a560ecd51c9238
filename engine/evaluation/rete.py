"""The knowledge base compiled onto durable-rules, with every known pitfall of the engine fenced off.

What this module guarantees, whatever the policies and facts hold:
- every fact carries an explicit, session-unique `id` (no hash collisions, no duplicates);
- values are type-tagged before they reach the engine, so its loose comparisons never mix types;
- a catch-all pattern consumes every fact, so none is "not handled";
- a start rule fires in every session before anything else, so a session is never deleted untouched;
- one session at a time in each ruleset, deleted before the next is made;
- no background timer threads (`Host._run` is disabled);
- exceptions in actions are recorded and raised after the assert, never swallowed;
- rule shapes are checked against the engine's C limits before registering (see `limits`);
- rulesets are registered under new names, once per set of policy files in a process
  (durable-rules cannot unregister one: see `network_for`).
"""

from __future__ import annotations

import itertools
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineError, Location
from ..model.terms import Fact
from ..policy.knowledge import IDENTITY, CompiledClause, Derived, KnowledgeBase
from .derivation import FactStore, Firing, complete, holds_absent, rebind, vocabulary_store
from .limits import EngineLimit, check_limits
from .patterns import STAGE, STAGE_BUCKET, Patterns, encode

NEVER = "__never"
SHARD_SIZE = 200  # engine rules per ruleset once a knowledge base is split (see Network)
_names = itertools.count(1)
_host_lock = threading.Lock()
_host: Any = None


def available() -> bool:
    try:
        import durable.engine  # noqa: F401
    except Exception:  # ImportError, or the extension failing to load on a newer Python
        return False
    return True


# The properties durable-rules reads of every fact, besides its fields.
FIXED_PROPERTIES = ("id", "sid", "k")


def property_hash(name: str) -> int:
    """The hash durable-rules finds a fact's property by (fnv1Hash32 in its state.c, over C chars)."""
    value = 2166136261
    for byte in name.encode("utf-8"):
        value ^= byte - 256 if byte > 127 else byte  # a char is signed there
        value &= 0xFFFFFFFF
        value = (value * 16777619) & 0xFFFFFFFF
    return value


def property_names(kb: KnowledgeBase) -> dict[str, str]:
    """The engine's name for each field name: p0, p1, ... so that no name a policy writes reaches it.

    durable-rules tells a fact's properties apart by a 32-bit hash of their names alone: two field
    names with one hash would become one property (p_aa2pda and p_aajvlo do). The engine therefore
    sees only podeploy's own names, which are checked here to hash apart.
    """
    fields = sorted({name for pred in kb.predicates.values() for name in pred.fields} | {"n", "b"})
    names = {field: f"p{i}" for i, field in enumerate(fields)}
    seen: dict[int, str] = {}
    for name in (*FIXED_PROPERTIES, *names.values()):
        other = seen.setdefault(property_hash(name), name)
        if other != name:
            location = kb.files[0].location if kb.files else Location("<policies>")
            raise EngineLimit(
                f"durable-rules would take the properties '{other}' and '{name}' for one (their hashes collide);"
                " the knowledge base has too many field names for the engine: run it with --engine reference",
                location,
            )
    return names


def engine_fact(fact: Fact, fid: str, sid: str, names: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"id": fid, "sid": sid, "k": fact.predicate}
    for name, value in fact.values:
        data[names[name]] = encode(value)
    return data


@dataclass(slots=True)
class _Session:
    sid: str
    ids: dict[str, Fact] = field(default_factory=dict)
    pending: list[tuple[CompiledClause, tuple[Fact, ...]]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    started: bool = False


def _get_host() -> Any:
    global _host
    if _host is None:
        import durable.engine

        class _Host(durable.engine.Host):  # type: ignore[misc]
            """A host without timer threads whose actions are looked up in the networks registered here."""

            def __init__(self) -> None:
                self.actions: dict[str, Any] = {}
                super().__init__()

            def _run(self) -> None:  # no self-rescheduling dispatch threads
                return None

            def get_action(self, action_name: str) -> Any:
                return self.actions[action_name]

        _host = _Host()
    return _host


class Network:
    """A knowledge base registered with durable-rules: one ruleset, or several once it is large.

    durable-rules sets up state for every node of a ruleset in every session (state.c), so a
    session's cost grows with the ruleset, relevant rules or not. A knowledge base of more
    than SHARD_SIZE engine rules is therefore split: clauses that any customer may need form
    the core, and every other clause joins the rulesets of the customer fact it needs (of the
    facts its conditions require, the one fewest clauses use). An evaluation opens a session
    only in the core and in the rulesets of facts the customer gave; every session gets the
    facts its clauses read, and what one concludes reaches the others, stratum by stratum.
    """

    def __init__(self, kb: KnowledgeBase, *, register: bool = True, shard_size: int = SHARD_SIZE) -> None:
        self.kb = kb
        self.names = property_names(kb)
        self.patterns = Patterns(kb, self.names)
        parts = self.patterns.partition(shard_size)
        self.rulesets = [Ruleset(self, positions, trigger) for positions, trigger in parts]
        for ruleset in self.rulesets:
            check_limits(kb, ruleset.definition)
        if not register:
            return
        # The vocabulary's facts open every session: indexed and encoded once, here.
        self.vocabulary = vocabulary_store(kb)
        with _host_lock:
            host = _get_host()
            for ruleset in self.rulesets:
                ruleset.register(host, self.vocabulary)
        self.host = host

    @property
    def name(self) -> str:
        """The name of the first (core) ruleset."""
        return self.rulesets[0].name

    # -- evaluation ----------------------------------------------------------------------------

    def run(self, given: list[Fact]) -> tuple[FactStore, list[Firing]]:
        """Evaluate the given facts together with the vocabulary's."""
        present = {fact.predicate for fact in given}
        in_use = [r for r in self.rulesets if r.trigger is None or r.trigger in present]
        with _host_lock:
            store = self.vocabulary.copy()
            sessions: list[tuple[Ruleset, _Session]] = []
            try:
                for ruleset in in_use:
                    sessions.append((ruleset, ruleset.open()))
                fresh = [f for f in given if store.add(f)]
                for ruleset, session in sessions:
                    ruleset.send(session, fresh, ruleset.vocabulary_for(session))
                return store, self._chain(sessions, store)
            finally:
                for ruleset, session in sessions:
                    ruleset.close(session)

    def _chain(self, sessions: list[tuple[Ruleset, _Session]], store: FactStore) -> list[Firing]:
        firings: dict[tuple[int, tuple[Fact, ...]], Firing] = {}
        for stratum in range(1, self.kb.strata + 1):
            for ruleset, session in sessions:
                ruleset.stage(session, stratum)
            while True:
                pending = [item for _, session in sessions for item in session.pending]
                if not pending:
                    break
                for _, session in sessions:
                    session.pending = []
                new: list[Fact] = []
                for clause, matched in pending:
                    key = (clause.position, matched)
                    if key in firings:
                        raise EngineError(f"rule '{clause.rule.id}' fired twice on the same facts")
                    compares_here, negated_here = self.patterns.checked_here[clause.position]
                    bindings = rebind(clause, matched, strict=not compares_here)
                    if bindings is None or not holds_absent(negated_here, store, bindings, matched):
                        continue
                    firing = complete(self.kb, clause, matched, bindings, store)
                    firings[key] = firing
                    new.extend(f for f in firing.conclusions if store.add(f))
                for ruleset, session in sessions:
                    ruleset.send(session, new)
        for ruleset, session in sessions:
            ruleset.check(session)
        return list(firings.values())


class Ruleset:
    """Some (or all) of a knowledge base's clauses, registered as one durable-rules ruleset."""

    def __init__(self, network: Network, positions: list[int], trigger: str | None) -> None:
        self.network = network
        self.name = f"podeploy{next(_names)}"
        self.positions = positions
        self.trigger = trigger  # in use when the customer gives this fact; None: always
        self.active: _Session | None = None
        self._sessions = itertools.count(1)
        clauses = [network.kb.clauses[p] for p in positions]
        self.reads = {a.predicate for c in clauses for a in (*c.clause.positives, *c.clause.negatives)}
        self.definition = self._definition()

    def _definition(self) -> dict[str, Any]:
        """The data-defined ruleset: one durable rule per clause (per value of a positive 'in' list)."""
        rules: dict[str, Any] = {
            "start": {
                "all": [{"m": {"$and": [{"k": STAGE}, {self.network.names["n"]: encode(0)}]}}],
                "run": f"{self.name}.start",
            },
            "consume-all": {"all": [{"m": {"$ex": {"k": 1}}}, {"n": {"k": NEVER}}], "run": f"{self.name}.never"},
        }
        self.buckets: dict[int, set[int]] = {}
        in_stratum: dict[int, int] = {}
        for position in self.positions:
            clause = self.network.kb.clauses[position]
            seat = in_stratum.get(clause.stratum, 0)
            bucket = seat // STAGE_BUCKET
            variants = self.network.patterns.variants(clause, position, bucket)
            if (seat + len(variants) - 1) // STAGE_BUCKET != bucket:  # keep a clause's variants in one bucket
                bucket += 1
                seat = bucket * STAGE_BUCKET
                variants = self.network.patterns.variants(clause, position, bucket)
            in_stratum[clause.stratum] = seat + len(variants)
            self.buckets.setdefault(clause.stratum, set()).add(bucket)
            for v, patterns in enumerate(variants):
                rules[f"c{position}v{v}"] = {"all": patterns, "run": f"{self.name}.c{position}"}
        return rules

    def register(self, host: Any, vocabulary: FactStore) -> None:
        first = 2  # the stage fact that starts a session is 1
        read = [fact for fact in vocabulary.order if fact.predicate in self.reads]
        self.vocabulary_ids = {str(n): fact for n, fact in enumerate(read, first)}
        names = self.network.names
        self.vocabulary_payload = [engine_fact(fact, fid, "", names) for fid, fact in self.vocabulary_ids.items()]
        for action, fn in self._actions().items():
            host.actions[action] = fn
        try:
            # register_rulesets deletes each rule's "run" (durable/engine.py Ruleset): hand it copies of the rules.
            host.register_rulesets({self.name: {name: dict(rule) for name, rule in self.definition.items()}})
        except Exception as exc:
            raise EngineError(f"durable-rules refused the compiled rules: {exc}") from None
        self.host = host

    def _actions(self) -> dict[str, Any]:
        actions: dict[str, Any] = {
            f"{self.name}.start": self._on_start,
            f"{self.name}.never": self._on_start,
        }
        for position in self.positions:
            actions[f"{self.name}.c{position}"] = self._action(self.network.kb.clauses[position])
        return actions

    def _on_start(self, c: Any) -> None:
        if self.active is not None:
            self.active.started = True

    def _action(self, clause: CompiledClause) -> Any:
        count = len(clause.clause.positives)

        def fire(c: Any) -> None:
            session = self.active
            if session is None:
                return
            try:
                message = c._m
                matched = tuple(session.ids[message[f"a{j}"]["id"]] for j in range(count))
                session.pending.append((clause, matched))
            except BaseException as exc:  # recorded and raised by the driver, never lost
                session.errors.append(exc)

        return fire

    # -- sessions ------------------------------------------------------------------------------

    def open(self) -> _Session:
        """A new session, started: its start rule has fired."""
        session = _Session(f"s{next(self._sessions)}")
        self.active = session
        self._assert(session, [Fact(STAGE, (("n", 0),))])
        if not session.started:
            raise EngineError("durable-rules did not start the session")
        return session

    def vocabulary_for(self, session: _Session) -> list[dict[str, Any]]:
        """The vocabulary's facts this ruleset reads, encoded for the session (they follow the start fact)."""
        session.ids.update(self.vocabulary_ids)
        return [{**data, "sid": session.sid} for data in self.vocabulary_payload]

    def send(self, session: _Session, facts: list[Fact], batch: list[dict[str, Any]] | None = None) -> None:
        """Assert the facts this ruleset reads (after batch, already encoded and numbered)."""
        self._assert(session, [f for f in facts if f.predicate in self.reads], batch)

    def stage(self, session: _Session, stratum: int) -> None:
        """Open a stratum: its clauses may fire from now on."""
        buckets = sorted(self.buckets.get(stratum, ()))
        self._assert(session, [Fact(STAGE, (("b", b), ("n", stratum))) for b in buckets])

    def check(self, session: _Session) -> None:
        state = self.host.get_state(self.name, session.sid)
        if isinstance(state, dict) and state.get("exception"):
            raise EngineError(f"a rule action failed inside durable-rules: {state['exception']}")

    def close(self, session: _Session) -> None:
        if self.active is session:
            self.active = None
        if session.started:
            self.host.delete_state(self.name, session.sid)

    def _assert(self, session: _Session, facts: list[Fact], batch: list[dict[str, Any]] | None = None) -> None:
        batch = batch or []
        for fact in facts:
            fid = str(len(session.ids) + 1)
            session.ids[fid] = fact
            batch.append(engine_fact(fact, fid, session.sid, self.network.names))
        if not batch:
            return
        try:
            if len(batch) == 1:
                self.host.assert_fact(self.name, batch[0])
            else:
                self.host.assert_facts(self.name, batch)
        except Exception as exc:
            raise EngineError(f"durable-rules failed: {getattr(exc, 'message', None) or exc}") from None
        if session.errors:
            error = session.errors[0]
            raise EngineError(f"a rule action failed: {type(error).__name__}: {error}") from None


def check_network(kb: KnowledgeBase, *, shard_size: int = SHARD_SIZE) -> None:
    """Compile the knowledge base for durable-rules and check it against the engine's limits, without registering."""
    Network(kb, register=False, shard_size=shard_size)


_networks: dict[str, Network] = {}
_networks_lock = threading.Lock()


def network_for(kb: KnowledgeBase) -> Network:
    """The knowledge base's network, compiled and registered on first use.

    durable-rules cannot unregister a ruleset, so a process that loads the same policies again
    (a service reloading them, say) reuses the network of the first load: knowledge bases read
    from the same files by the same code share a key (cache.cached) and are alike.
    """
    return kb.derived(NETWORK, lambda: _shared_network(kb))


# The knowledge base's network (tests put a network split differently in its place).
NETWORK: Derived[Network] = Derived("rete")


def _shared_network(kb: KnowledgeBase) -> Network:
    key = kb.recall(IDENTITY)
    with _networks_lock:
        network = _networks.get(key) if key is not None else None
        if network is None:
            network = Network(kb)
            if key is not None:
                _networks[key] = network
    return network


def warn_unavailable() -> None:
    if not getattr(warn_unavailable, "done", False):
        warn_unavailable.done = True  # type: ignore[attr-defined]
        version = ".".join(map(str, sys.version_info[:2]))
        print(
            f"podeploy: durable-rules cannot be imported on Python {version}; using the reference evaluator",
            file=sys.stderr,
        )
