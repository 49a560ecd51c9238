"""The questionnaire: which question to ask next, and when nothing left to ask can change the recommendation.

A session holds partial answers: customer-wide facts, and per legal entity its own facts and, item by item,
its capability (or choice) lists. The *recommendation* is the deployment types each legal entity gets (the
facts of predicates with role `deployment`). A question is *relevant* while different answers to it give
different recommendations for some way of answering the other open questions (a completion); the session is
done as soon as every completion gives the same recommendation. '?' (don't know) is one of the answers: the
fact is left out, so its default applies (a capability is then not needed).

How that is decided exactly, and fast enough to run between two questions:

1. Backward from the rules: only facts in the *cone* of the deployment predicates (read by a rule that
   concludes, transitively, a deployment) can change it; the others (budget, maturity, region for the
   built-ins) are never asked. A list item (capability) is *inert*, never asked, when every rule condition
   it could match needs vocabulary facts that fail for it (a capability every type offers).
2. Symmetry: capabilities offered by the same deployment types and named by no rule are interchangeable
   (permuting them maps the knowledge base onto itself), so an entity's open capabilities are enumerated as
   *how many of each class* (weighted by binomial counts), not as subsets. Values of a fact that no rule
   tells apart (same literal tests passed, never bound to a variable) are one value.
3. Locality: rules that only join one entity's facts (and customer-wide ones) are *local*; what they
   conclude for an entity depends on that entity's answers alone. Each entity's local state is evaluated on
   its own (cached, under a placeholder name), and only its *interface* (what other rules read of it: `fit`
   for the built-ins) feeds the evaluation of all entities together, where entities with the same interface
   are interchangeable. The work grows with the combinations of interfaces, not of the entities' answers.
4. Every evaluation runs the reference evaluator on the knowledge base cut down to the cone: the semantics
   of `podeploy evaluate`.

A question is relevant when its answers change the odds of the recommendations (exact, in integers), or
else when two completions that differ only in its answer are recommended differently (a witness). The next
question is the relevant one whose answer tells most about the recommendation (mutual information, with a
prior that a capability is needed one time in four; ties in vocabulary order): deterministic.

The work is bounded (`Limits`): past a bound, combinations are sampled deterministically and the analysis
says it is not exact (`Analysis.exact`). Each entity's sample is drawn from its own answers, so an entity
whose answers did not change keeps its states, and their cached evaluations, from one question to the
next. A conversation samples early (`CONVERSATION`) to choose the next question quickly; a sampled analysis
that sees nothing left to ask is redone within the thorough bounds before the questionnaire ends, so a
sample never settles the advice.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from ..errors import BadInput, Problem, did_you_mean
from ..evaluation.compiled import compiled
from ..io.loader import Document
from ..model.terms import (
    ASK_ALWAYS,
    VERSION_PATTERN,
    Atom,
    Clause,
    Fact,
    FactDecl,
    FieldPattern,
    Rule,
    Scalar,
    Var,
    compact_json,
    make_fact,
    normal_number,
    show_value,
    version_number,
    version_text,
)
from ..policy.knowledge import KnowledgeBase
from ..records import record


class _Absent:
    """A fact left unanswered ('?', don't know): its default applies, or it stays unknown."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()
Value = Scalar | _Absent
# Per entity, its deployment types (lightest first) and, when warnings count, its warnings ('!' and the
# warning's fields); then one more slot for the customer-wide warnings.
Outcome = tuple[tuple[str, ...], ...]
WARNING_MARK = "!"
ADVICE = "@advice"  # an interface fact of pooled analysis: an entity's advice for one pool
Change = tuple[Any, ...]

UNKNOWN_WORDS = ("?", "dont know", "don't know", "unknown", "not sure", "skip")
BACK_WORDS = ("<", "back")
YES_WORDS = ("y", "yes", "true", "1")
NO_WORDS = ("n", "no", "false", "0")


@record
class Limits:
    """Bounds on the work of one analysis; past them completions are sampled and the analysis is not exact."""

    customer_completions: int = 256
    solo_evaluations: int = 12_000  # local states x customer views evaluated for one entity
    tuples: int = 150_000  # combinations of the entities' interfaces enumerated per analysis
    samples: int = 3_000  # draws, where a bound is passed
    # Past this many legal entities the analysis grows too fast to run (about the square of the
    # entities, for each question): every question that can matter is asked, in the vocabulary's order.
    exact_entities: int = 4
    # Prior odds (yes : no) of a list item (a capability) being needed, used to choose the next question only:
    # a customer needs a few of the capabilities, not half of them.
    item_odds: tuple[int, int] = (1, 3)


# The questionnaire's bounds in a conversation: the next question comes between two sentences, by
# sampling the possibilities once they are too many to try (the analysis then says it is not exact). A
# sample only chooses what to ask: it never ends the questionnaire (see Session.analysis).
CONVERSATION = Limits(solo_evaluations=200, tuples=3_000, samples=200)
# The bounds a sampled conversation falls back on before it says that nothing left can change the advice.
THOROUGH = Limits()


@record
class Question:
    """One question: a scalar fact, or one item (capability or choice) of a list fact; customer-wide or per entity."""

    key: str
    fact: str
    item: str | None
    entity: int | None
    text: str
    kind: str  # yes-no | boolean | choice | integer | number | version | text
    choices: tuple[str, ...] = ()

    @property
    def hint(self) -> str:
        """The answers the question takes, shown after it."""
        if self.kind in ("yes-no", "boolean"):
            return "[y/n/?]"
        if self.kind == "choice":
            return "[" + "/".join(self.choices) + "/?]"
        if self.kind == "version":
            return "[a version like 10.0.44, or ?]"
        if self.kind in ("integer", "number"):
            return f"[{'a whole number' if self.kind == 'integer' else 'a number'}, or ?]"
        return "[text, or ?]"


@record
class Dim:
    """One dimension of the completions: a scalar fact (its representative values) or a class of list items."""

    decl: FactDecl
    item: str | None = None  # a customer-wide list fact's item: a yes/no dimension
    members: tuple[str, ...] = ()  # interchangeable items of an entity's list fact (a class)
    reps: tuple[tuple[Value, int], ...] = ()  # scalar: representative values, each with its weight
    classes: tuple[tuple[Any, ...], ...] = ()  # scalar, when grouped: each representative's literal-test signature
    exact: bool = True

    @property
    def is_class(self) -> bool:
        return bool(self.members)


@dataclass(slots=True)
class Analysis:
    """What the current answers leave open."""

    outcomes: dict[Outcome, int]  # each recommendation still possible, with its weight
    possible: list[list[str]]  # per entity, the deployment types still possible (lightest first)
    done: bool
    next: Question | None
    relevant: list[str]  # keys of the questions whose answer can still change the recommendation
    scores: dict[str, float]  # information (bits) each candidate question's answer gives about it
    exact: bool
    evaluations: int  # engine runs this analysis needed beyond the caches
    # Per relevant question key, what its answer can change: ('deployment', entity index) or
    # ('warning', entity index, the warning's fields as JSON); an index past the entities is customer-wide.
    changes: Mapping[str, set[Change]] = field(default_factory=dict)
    coarse: bool = False  # not analysed (too many legal entities): every question that can matter is open


class Analyzer:
    """The questionnaire's reasoning over one knowledge base; caches evaluations across sessions."""

    def __init__(self, kb: KnowledgeBase, limits: Limits | None = None, *, warnings: bool = False) -> None:
        self.kb = kb
        self.limits = limits or Limits()
        self.outcome_preds = sorted(p for p, pred in kb.predicates.items() if pred.role == "deployment")
        # With warnings, the advice is each entity's deployment and every warning: a question matters
        # when its answer can change either.
        roles = ("warning",) if warnings else ()
        self.warning_preds = sorted(p for p, pred in kb.predicates.items() if pred.role in roles)
        self.ranks = {t.id: t.rank for t in kb.types.values()}
        self._cone()
        self._classify()
        self._dependencies()
        self.inert = self._inert_items()
        self.customer_dims = self._customer_dims()
        self.local_dims = self._local_dims()
        self._solo: dict[tuple[Any, ...], frozenset[Fact]] = {}
        self._alone: dict[tuple[Any, ...], tuple[frozenset[Fact], Outcome, frozenset[Fact]]] = {}
        self._rep: dict[tuple[Any, ...], tuple[Value, ...]] = {}
        self._joint: dict[tuple[Any, ...], Outcome] = {}
        self._orders: dict[Any, str] = {}
        self._local: dict[tuple[str, tuple[Value, ...]], list[Fact]] = {}
        self._interfaces: dict[frozenset[Fact], frozenset[Fact]] = {}
        self.evaluations = 0

    # -- static analysis -------------------------------------------------------------------------

    def _cone(self) -> None:
        kb = self.kb
        reads: dict[str, set[str]] = {}
        for rule in kb.rules:
            for c in rule.conclusions:
                reads.setdefault(c.predicate, set()).update(a.predicate for a in _atoms(rule))
        cone = {*self.outcome_preds, *self.warning_preds}
        todo = list(cone)
        while todo:
            for p in reads.get(todo.pop(), ()):
                if p not in cone:
                    cone.add(p)
                    todo.append(p)
        self.cone = cone
        self.rules = [r for r in kb.rules if any(c.predicate in cone for c in r.conclusions)]
        ids = {r.id for r in self.rules}
        self.cone_kb = replace(
            kb, rules=self.rules, clauses=[c for c in kb.clauses if c.rule.id in ids], engine_cache={}
        )
        literals: set[Scalar] = set()
        for rule in self.rules:
            for atom in _atoms(rule):
                for fp in atom.fields:
                    for t in fp.tests:
                        if isinstance(t.operand, tuple):
                            literals.update(t.operand)
                        elif not isinstance(t.operand, Var):
                            literals.add(t.operand)
            for c in rule.conclusions:
                literals.update(v for _, v in c.values if not isinstance(v, Var))
        self.literals = literals
        self._names_matter = self._names_named()

    def _names_named(self) -> bool:
        """Does a rule name an entity or the customer? Then real names are used, not placeholders."""
        preds = self.kb.predicates
        for rule in self.rules:
            for atom in _atoms(rule):
                pred = preds.get(atom.predicate)
                for fp in atom.fields:
                    decl = pred.fields.get(fp.field) if pred else None
                    naming = atom.predicate == "customer" or (decl is not None and decl.domain == "entity")
                    if naming and any(not isinstance(t.operand, Var) for t in fp.tests):
                        return True
            for c in rule.conclusions:
                pred = preds.get(c.predicate)
                for name, value in c.values:
                    decl = pred.fields.get(name) if pred else None
                    if decl is not None and decl.domain == "entity" and not isinstance(value, Var):
                        return True
        return False

    def _classify(self) -> None:
        """Sort predicates into global (customer-wide), local (one entity's) and cross (several entities')."""
        kb = self.kb
        key: dict[str, str | None] = {}
        cls: dict[str, str] = {}
        for pid, pred in kb.predicates.items():
            entity_fields = [n for n, f in pred.fields.items() if f.domain == "entity"]
            key[pid] = entity_fields[0] if len(entity_fields) == 1 else None
            if pid == "entity":
                cls[pid] = "local"
            elif pid in kb.facts:
                cls[pid] = "local" if kb.facts[pid].scope == "entity" else "global"
            elif not pred.derived:
                cls[pid] = "global"
            else:
                cls[pid] = "global" if not entity_fields else "local"
        derived = {p for p, pred in kb.predicates.items() if pred.derived}
        # Derived predicates start at their lowest possible class and are raised until stable.
        rank = {"global": 0, "local": 1, "cross": 2}
        changed = True
        while changed:
            changed = False
            for rule in self.rules:
                for conclusion in rule.conclusions:
                    if conclusion.predicate not in derived:
                        continue
                    got = self._concluded_class(rule, conclusion.predicate, cls, key)
                    if rank[got] > rank[cls[conclusion.predicate]]:
                        cls[conclusion.predicate] = got
                        changed = True
            for p in derived:
                several = key[p] is None and any(f.domain == "entity" for f in kb.predicates[p].fields.values())
                if several and cls[p] != "cross":
                    cls[p] = "cross"
                    changed = True
        self.classes = cls
        self.entity_key = key
        self.solo_rules = [r for r in self.rules if self._rule_kind(r, cls, key) != "cross"]
        cross_rules = [r for r in self.rules if self._rule_kind(r, cls, key) == "cross"]
        # What an entity's own evaluation passes on: every non-global fact that a cross rule reads or that
        # is an outcome, including facts of cross predicates that local rules conclude (e.g. an exclusion
        # drawn from the entity's own needs, when other rules draw exclusions across entities).
        interface = {a.predicate for r in cross_rules for a in _atoms(r) if cls[a.predicate] != "global"}
        interface.update(p for p in (*self.outcome_preds, *self.warning_preds) if cls.get(p) != "global")
        own = {c.predicate for r in self.solo_rules for c in r.conclusions} | {
            p for p, c in cls.items() if c == "local" and not kb.predicates[p].derived
        }
        interface &= own
        self.interface = sorted(interface)
        ids = {r.id for r in self.solo_rules}
        self.solo_kb = replace(
            kb, rules=self.solo_rules, clauses=[c for c in kb.clauses if c.rule.id in ids], engine_cache={}
        )
        solo_reads = {a.predicate for r in self.solo_rules for a in _atoms(r)}
        self.solo_atoms = [a for r in self.solo_rules for a in _atoms(r) if cls[a.predicate] == "global"]
        self.reads_customer = "customer" in self.cone
        self.customer_in_solo = "customer" in solo_reads
        self.pooled = self._pooled(cls, key)
        if self.pooled:
            # Each entity is evaluated alone with every rule, the pooled facts given: see _pooled.
            self.solo_rules = list(self.rules)
            self.solo_kb = self.cone_kb
            self.solo_atoms = [a for r in self.rules for a in _atoms(r) if cls.get(a.predicate) == "global"]
            self.customer_in_solo = self.reads_customer

    def _pooled(self, cls: Mapping[str, str], key: Mapping[str, str | None]) -> list[str]:
        """The pooled predicates, when legal entities meet only through them; else none.

        A pooled predicate is a customer-wide conclusion that rules draw from one entity's facts at a time
        ("some legal entity needs a Finance-based type"). When every other rule reads one entity (and
        customer-wide facts, pooled ones included), and the rules that pool read nothing that depends on a
        pooled fact, each entity's advice is a function of its own answers, the customer's and the pooled
        facts; and the pooled facts are the union of what each entity contributes on its own. Then an
        entity can be evaluated alone for each set of pooled facts the others can contribute, and no
        evaluation of all entities together is needed.
        """
        kb = self.kb
        self.pool_read: frozenset[str] = frozenset()
        self.pool_read_positively = False
        pooled: set[str] = set()
        for rule in self.rules:
            if self._rule_kind(rule, cls, key) != "local":
                continue
            for c in rule.conclusions:
                pred = kb.predicates[c.predicate]
                if pred.derived and not any(f.domain == "entity" for f in pred.fields.values()):
                    pooled.add(c.predicate)
        if not pooled:
            return []
        as_global = {p: ("global" if p in pooled else c) for p, c in cls.items()}
        # Re-derive the classes with the pooled predicates taken as customer-wide facts.
        derived = {p for p, pred in kb.predicates.items() if pred.derived and p not in pooled}
        base = dict(as_global)
        for p in derived:  # derived predicates start at their lowest possible class, as in _classify
            keyed = any(f.domain == "entity" for f in kb.predicates[p].fields.values())
            base[p] = "local" if keyed else "global"
        rank = {"global": 0, "local": 1, "cross": 2}
        changed = True
        while changed:
            changed = False
            for rule in self.rules:
                for conclusion in rule.conclusions:
                    if conclusion.predicate not in derived:
                        continue
                    got = self._concluded_class(rule, conclusion.predicate, base, key)
                    if rank[got] > rank[base[conclusion.predicate]]:
                        base[conclusion.predicate] = got
                        changed = True
        if any(self._rule_kind(rule, base, key) == "cross" for rule in self.rules):
            return []
        depends = set(pooled)
        changed = True
        while changed:
            changed = False
            for rule in self.rules:
                if any(a.predicate in depends for a in _atoms(rule)):
                    for c in rule.conclusions:
                        if c.predicate not in depends:
                            depends.add(c.predicate)
                            changed = True
        for rule in self.rules:
            pools = any(c.predicate in pooled for c in rule.conclusions)
            if pools and any(a.predicate in depends for a in _atoms(rule)):
                return []
        self.classes = base
        # What the rules that read the pool conclude, and whether they read it only positively: then a
        # pool that adds nothing there at its largest adds nothing at any size (see _pooled_interface).
        readers = [r for r in self.rules if any(a.predicate in pooled for a in _atoms(r))]
        self.pool_read = frozenset(c.predicate for r in readers for c in r.conclusions)
        self.pool_read_positively = all(
            a.predicate not in pooled
            for r in readers
            for c in r.clauses
            for a in (*c.negatives, *(k.atom for k in c.counts))
        )
        return sorted(pooled)

    def _dependencies(self) -> None:
        """Which declared facts each rule of the cone depends on, through the conclusions it reads.

        Conclusions of a predicate with a literal `code` (warnings, notes) are told apart by their code:
        a rule that reads warnings of one code does not depend on the rules concluding another.
        """
        kb = self.kb
        concluded: dict[str, list[tuple[str | None, Rule]]] = {}
        for rule in self.rules:
            for c in rule.conclusions:
                code = dict(c.values).get("code")
                concluded.setdefault(c.predicate, []).append((code if isinstance(code, str) else None, rule))
        deps = {r.id: {a.predicate for a in _atoms(r) if a.predicate in kb.facts} for r in self.rules}
        changed = True
        while changed:
            changed = False
            for rule in self.rules:
                have = deps[rule.id]
                size = len(have)
                for atom in _atoms(rule):
                    code = _code_literal(atom)
                    for made, other in concluded.get(atom.predicate, ()):
                        if code is None or made is None or code == made:
                            have |= deps[other.id]
                changed = changed or len(have) != size
        self.rule_deps = {rid: frozenset(d) for rid, d in deps.items()}
        # Rules that conclude the same fact: their dependencies meet there (a warning two rules can raise).
        self.meeting: list[frozenset[str]] = []
        for made_list in concluded.values():
            for code, _ in made_list:
                together = {r.id for c, r in made_list if code is None or c is None or c == code}
                self.meeting.append(frozenset(together))

    def _independent(self, open_customer: Sequence[int], open_local: set[str]) -> tuple[list[list[int]], set[str]]:
        """What of the open facts can be analysed apart from the rest, exactly.

        Returns the groups of open customer-wide dimensions that no rule combines with an open fact of a
        legal entity nor with another group (budget, maturity), and the open facts of legal entities that
        no rule combines with any other open fact, nor carries from one entity to another (region, when
        only receipt scanning reads it): each entity's answer to them can be tried on its own.
        """
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def union(items: Iterable[str]) -> None:
            first = None
            for item in items:
                if first is None:
                    first = find(item)
                else:
                    parent[find(item)] = first

        customer_facts = {self.customer_dims[i].decl.id for i in open_customer}
        open_facts = customer_facts | open_local
        for fact in sorted(open_facts):
            find(fact)
        for rule in self.rules:
            union(sorted(self.rule_deps[rule.id] & open_facts))
        for together in self.meeting:
            union(sorted(set().union(*(self.rule_deps[r] for r in together)) & open_facts))
        # Facts that reach another entity's advice: through a pooled conclusion, or a rule across entities.
        carried: set[str] = set()
        for rule in self.rules:
            pools = any(c.predicate in self.pooled for c in rule.conclusions)
            if pools or (not self.pooled and self._rule_kind(rule, self.classes, self.entity_key) == "cross"):
                carried |= self.rule_deps[rule.id]
        members: dict[str, set[str]] = {}
        for fact in sorted(open_facts):
            members.setdefault(find(fact), set()).add(fact)
        groups: dict[str, list[int]] = {}
        separable: set[str] = set()
        for root, facts in members.items():
            if facts <= customer_facts:
                groups[root] = [i for i in open_customer if find(self.customer_dims[i].decl.id) == root]
            elif not facts & customer_facts and not facts & carried:
                separable |= facts
        return sorted(groups.values()), separable

    def _rule_kind(self, rule: Rule, cls: Mapping[str, str], key: Mapping[str, str | None]) -> str:
        """global: reads customer-wide facts only; local: anchored on one entity; cross: anything else."""
        atoms = list(_atoms(rule))
        if any(cls[a.predicate] == "cross" for a in atoms):
            return "cross"
        if all(cls[a.predicate] == "global" for a in atoms):
            return "global"
        anchor = self._anchor(rule, cls, key)
        return "local" if anchor is not None else "cross"

    def _anchor(self, rule: Rule, cls: Mapping[str, str], key: Mapping[str, str | None]) -> str | None:
        """The one variable every local condition of the rule binds its entity to, if there is one."""
        names: set[str] = set()
        for clause in rule.clauses:
            bound_positive = set()
            for kind, atom in _clause_atoms(clause):
                if cls[atom.predicate] != "local":
                    continue
                k = key[atom.predicate]
                fps = [fp for fp in atom.fields if fp.field == k]
                if k is None or len(fps) != 1 or fps[0].bind is None or fps[0].tests:
                    return None
                names.add(fps[0].bind.name)
                if kind == "pos":
                    bound_positive.add(fps[0].bind.name)
            if len(names) > 1 or (names and not bound_positive):
                return None
        if len(names) != 1:
            return None
        (name,) = names
        for conclusion in rule.conclusions:
            k = key.get(conclusion.predicate)
            if k is None:
                continue
            value = dict(conclusion.values).get(k)
            if not (isinstance(value, Var) and value.name == name):
                return None
        return name

    def _concluded_class(
        self, rule: Rule, predicate: str, cls: Mapping[str, str], key: Mapping[str, str | None]
    ) -> str:
        kind = self._rule_kind(rule, cls, key)
        has_key = key.get(predicate) is not None
        if kind == "cross":
            return "cross"
        if kind == "global":
            return "cross" if has_key else "global"
        return "local" if has_key else "cross"

    def may_matter(self, question: Question) -> bool:
        """Whether the question's fact is one the recommendation can depend on at all (the cone, not inert)."""
        return question.fact in self.cone and (
            question.item is None or (question.fact, question.item) not in self.inert
        )

    @property
    def names_matter(self) -> bool:
        """Whether a rule names an entity or customer (then names are kept, not replaced by placeholders)."""
        return self._names_matter

    def _value_atoms(self, decl: FactDecl) -> list[Atom]:
        return [a for r in self.rules for a in _atoms(r) if a.predicate == decl.id]

    def _bound(self, decl: FactDecl) -> bool:
        """Is the fact's value compared with a variable, or bound to one that the rule uses, in the cone?

        A variable used only in a rule's explanation does not tell values apart: values that pass the
        same literal tests then give the same advice, worded differently.
        """
        for rule in self.rules:
            for clause in rule.clauses:
                for atom in (*clause.positives, *clause.negatives, *(c.atom for c in clause.counts)):
                    if atom.predicate != decl.id:
                        continue
                    for fp in atom.fields:
                        if fp.field != "value":
                            continue
                        if any(isinstance(t.operand, Var) for t in fp.tests):
                            return True
                        if fp.bind is not None and _used_beyond(rule, clause, atom, fp.bind.name):
                            return True
        return False

    def _signature(self, decl: FactDecl, value: Value) -> tuple[Any, ...]:
        """How the rules see the fact's value: values (or an absent fact) with one signature are interchangeable.

        Per condition on the fact: whether it matches, and the value itself where the rule uses it beyond
        its literal tests (bound to a variable that a conclusion or another condition reads, or compared
        with a variable). A variable only an explanation reads does not tell values apart.
        """
        if value is ABSENT and decl.default is not None:
            value = decl.default
        fact = None if value is ABSENT else make_fact(decl.id, {"value": _ground_value(decl, value)})  # type: ignore[arg-type]
        out: list[Any] = []
        for rule, clause, atom in self._value_conditions(decl):
            if fact is None:
                out.append(False)
                continue
            seen: Any = True
            for fp in atom.fields:
                if fp.field != "value":
                    continue
                literal = FieldPattern(
                    fp.field, None, tuple(t for t in fp.tests if not isinstance(t.operand, Var)), fp.location
                )
                if not _field_matches(literal, fact):
                    seen = False
                    break
                compared = any(isinstance(t.operand, Var) for t in fp.tests)
                if compared or (fp.bind is not None and _used_beyond(rule, clause, atom, fp.bind.name)):
                    seen = ("value", fact.get("value"))
            out.append(seen)
        return tuple(out)

    def _value_conditions(self, decl: FactDecl) -> list[tuple[Rule, Clause, Atom]]:
        """Every condition of the cone's rules on the fact, with its rule and clause."""
        found = []
        for rule in self.rules:
            for clause in rule.clauses:
                for atom in (*clause.positives, *clause.negatives, *(c.atom for c in clause.counts)):
                    if atom.predicate == decl.id:
                        found.append((rule, clause, atom))
        return found

    def _scalar_dim(self, decl: FactDecl) -> Dim:
        bound = self._bound(decl)
        candidates: list[tuple[Value, int]]
        exact = True
        if decl.type == "choice":
            candidates = [(v, 1) for v in decl.values]
        elif decl.type == "boolean":
            candidates = [(True, 1), (False, 1)]
        else:
            candidates = [(v, 1) for v in self._literal_reps(decl)]
            exact = not bound
        if decl.default is None:
            candidates.append((ABSENT, 1))
        grouped: dict[tuple[Any, ...], list[tuple[Value, int]]] = {}
        for value, weight in candidates:
            grouped.setdefault(self._signature(decl, value), []).append((value, weight))
        # A choice's weight is how many of its values a representative stands for; an open-ended fact's
        # representatives (ranges between the literals rules test) weigh one each.
        counted = decl.type in ("choice", "boolean")
        reps = tuple((group[0][0], sum(w for _, w in group) if counted else 1) for group in grouped.values())
        return Dim(decl, reps=reps, classes=tuple(grouped), exact=exact)

    def _literal_reps(self, decl: FactDecl) -> list[Scalar]:
        """Values standing for every way literal tests can treat a number, version or text fact."""
        found: set[Scalar] = set()
        for atom in self._value_atoms(decl):
            for fp in atom.fields:
                if fp.field != "value":
                    continue
                for t in fp.tests:
                    if isinstance(t.operand, tuple):
                        found.update(t.operand)
                    elif not isinstance(t.operand, Var):
                        found.add(t.operand)
        if decl.type == "text":
            texts = sorted(str(v) for v in found if isinstance(v, str))
            other = "other"
            while other in texts:
                other += "+"
            return [*texts, other]
        numbers = sorted({float(v) for v in found if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if decl.type == "version":
            points = sorted({int(v) for v in numbers} | {0})
            reps = {p + d for p in points for d in (-1, 0, 1) if 0 <= p + d <= 999_999_999}
            return [version_text(n) for n in sorted(reps)]
        low = decl.minimum if decl.minimum is not None else -1e9
        high = decl.maximum if decl.maximum is not None else 1e9
        values: set[float] = set(numbers) or {0.0}
        if decl.type == "integer":
            values = {
                v + d for v in {math.floor(n) for n in values} | {math.ceil(n) for n in values} for d in (-1, 0, 1)
            }
        else:
            ordered = sorted(values)
            values |= {(a + b) / 2 for a, b in itertools.pairwise(ordered)}
            values |= {ordered[0] - 1, ordered[-1] + 1}
        kept = sorted({min(max(v, low), high) for v in values})
        if decl.type == "integer":
            return [int(v) for v in kept if float(v).is_integer()]
        return [normal_number(v) for v in kept]

    def _customer_dims(self) -> list[Dim]:
        dims: list[Dim] = []
        for decl in self.kb.facts.values():
            if decl.scope != "customer" or decl.id not in self.cone:
                continue
            if decl.is_list:
                items = list(self.kb.capabilities) if decl.type == "capability-list" else list(decl.values)
                dims.extend(
                    Dim(decl, item=item, reps=((True, 1), (False, 1)))
                    for item in items
                    if (decl.id, item) not in self.inert
                )
            else:
                dims.append(self._scalar_dim(decl))
        return dims

    def _local_dims(self) -> list[Dim]:
        kb = self.kb
        capability_lists = [d for d in kb.facts.values() if d.type == "capability-list" and d.id in self.cone]
        symmetric = len(capability_lists) == 1 and capability_lists[0].scope == "entity"
        dims: list[Dim] = []
        for decl in kb.facts.values():
            if decl.scope != "entity" or decl.id not in self.cone:
                continue
            if not decl.is_list:
                dims.append(self._scalar_dim(decl))
                continue
            groups: dict[Any, list[str]] = {}
            if decl.type == "capability-list":
                for cap in kb.capabilities:
                    if (decl.id, cap) in self.inert:
                        continue
                    named = cap in self.literals or not symmetric
                    signature = (
                        ("named", cap) if named else ("offered", frozenset(t for t in kb.types if cap in kb.offered(t)))
                    )
                    groups.setdefault(signature, []).append(cap)
            else:
                bound = self._bound(decl)
                for value in decl.values:
                    if (decl.id, value) in self.inert:
                        continue
                    signature = ("named", value) if bound else self._signature(replace(decl, default=None), value)
                    groups.setdefault(signature, []).append(value)
            dims.extend(Dim(decl, members=tuple(members)) for members in groups.values())
        return dims

    def _inert_items(self) -> set[tuple[str, str]]:
        """List items that no rule of the cone can ever use: answering them cannot change anything.

        An item is inert when its fact matches no negated or counted condition, and every rule condition it
        matches belongs to a clause that cannot fire with it whatever the customer says: its conditions on
        the vocabulary (deployment types, capabilities, offers: facts fixed by the policies) fail for it.
        Conditions on anything else are assumed to hold, so an item is only called inert when it surely is.
        """
        kb = self.kb
        vocabulary = {f.predicate for f in kb.vocabulary_facts}
        inert: set[tuple[str, str]] = set()
        for decl in kb.facts.values():
            if not decl.is_list or decl.id not in self.cone:
                continue
            items = list(kb.capabilities) if decl.type == "capability-list" else list(decl.values)
            for item in items:
                values: dict[str, Scalar] = {"value": item}
                if decl.scope == "entity":
                    values["entity"] = "entity"
                fact = make_fact(decl.id, values)
                if not any(self._usable(rule, fact, vocabulary) for rule in self.rules):
                    inert.add((decl.id, item))
        return inert

    def _usable(self, rule: Rule, fact: Fact, vocabulary: set[str]) -> bool:
        for clause in rule.clauses:
            for kind, atom in _clause_atoms(clause):
                if atom.predicate != fact.predicate or not _atom_may_match(atom, fact, ignore="entity"):
                    continue
                if kind != "pos" or self._fires_with(clause, atom, fact, vocabulary):
                    return True
        return False

    def _fires_with(self, clause: Any, atom: Atom, fact: Fact, vocabulary: set[str]) -> bool:
        """Can the clause fire with fact in atom, as far as its conditions on the vocabulary tell?"""
        first = _match_relaxed(atom, fact, {}, ignore="entity")  # whichever entity it is
        if first is None:
            return False
        positive = {a.predicate for a in clause.positives}
        others = [a for a in clause.positives if a is not atom and a.predicate in vocabulary]
        negated = [a for a in clause.negatives if a.predicate in vocabulary and a.predicate not in positive]
        facts = self.kb.vocabulary_facts

        def search(i: int, bindings: dict[str, Scalar]) -> bool:
            if i == len(others):
                for neg in negated:
                    if not neg.variables() <= set(bindings):
                        continue  # depends on something else: assume it holds
                    if any(_match_relaxed(neg, f, bindings) is not None for f in facts if f.predicate == neg.predicate):
                        return False
                return True
            for f in facts:
                if f.predicate == others[i].predicate:
                    extended = _match_relaxed(others[i], f, bindings)
                    if extended is not None and search(i + 1, extended):
                        return True
            return False

        return search(0, first)

    # -- facts --------------------------------------------------------------------------------------

    def customer_facts(self, c: tuple[Value, ...]) -> list[Fact]:
        facts: list[Fact] = []
        for dim, value in zip(self.customer_dims, c, strict=True):
            decl = dim.decl
            if dim.item is not None:
                if value is True:
                    facts.append(make_fact(decl.id, {"value": dim.item}))
                continue
            if value is ABSENT:
                if decl.default is None:
                    continue
                value = decl.default
            assert not isinstance(value, _Absent)
            facts.append(make_fact(decl.id, {"value": _ground_value(decl, value)}))
        return facts

    def local_facts(self, name: str, lkey: tuple[Value, ...]) -> list[Fact]:
        found = self._local.get((name, lkey))
        if found is None:
            found = self._local[(name, lkey)] = self._local_facts(name, lkey)
        return found

    def _local_facts(self, name: str, lkey: tuple[Value, ...]) -> list[Fact]:
        facts = [make_fact("entity", {"name": name})]
        for dim, value in zip(self.local_dims, lkey, strict=True):
            decl = dim.decl
            if dim.is_class:
                assert isinstance(value, int)
                facts.extend(make_fact(decl.id, {"entity": name, "value": item}) for item in dim.members[:value])
                continue
            if value is ABSENT:
                if decl.default is None:
                    continue
                value = decl.default
            assert not isinstance(value, _Absent)
            facts.append(make_fact(decl.id, {"entity": name, "value": _ground_value(decl, value)}))
        return facts

    def _view(self, c: tuple[Value, ...]) -> frozenset[Fact]:
        """The customer-wide facts the local rules can see: those matching a condition of theirs."""
        return frozenset(f for f in self.customer_facts(c) if any(_atom_may_match(a, f) for a in self.solo_atoms))

    # -- evaluation -----------------------------------------------------------------------------

    def solo(
        self,
        view: frozenset[Fact],
        lkey: tuple[Value, ...],
        name: str,
        others: frozenset[frozenset[Fact]] = frozenset(),
    ) -> frozenset[Fact]:
        """The interface facts of one entity in a given local state, evaluated on its own.

        With pooled predicates, the interface is what the entity contributes to the pool and, for each
        pool the other entities can contribute (others), the entity's own advice and the customer-wide
        warnings: everything the recommendation needs of it.
        """
        if self.pooled:
            return self._pooled_interface(view, lkey, name, others)
        key = (view, lkey, name, self._customer_name)
        found = self._solo.get(key)
        if found is None:
            given = sorted(view, key=lambda f: f.key)  # the vocabulary's facts are the compiled base
            if self.customer_in_solo:
                given.append(make_fact("customer", {"name": self._customer_name}))
            given.extend(self.local_facts(name, lkey))
            store = compiled(self.solo_kb).run(given)
            self.evaluations += 1
            found = self._canonical(frozenset(f for p in self.interface for f in store.of(p)))
            self._solo[key] = found
            self._rep.setdefault((view, found), lkey)
        return found

    def _canonical(self, interface: frozenset[Fact]) -> frozenset[Fact]:
        """One object per interface: the analysis keys many tables by them, and alike ones then compare at once."""
        return self._interfaces.setdefault(interface, interface)

    def alone(
        self, view: frozenset[Fact], lkey: tuple[Value, ...], name: str, pool: frozenset[Fact]
    ) -> tuple[frozenset[Fact], Outcome, frozenset[Fact]]:
        """One entity evaluated alone with the given pooled facts: what it pools, its advice, and what the
        rules that read the pool concluded."""
        key = (view, lkey, name, self._customer_name, pool)
        found = self._alone.get(key)
        if found is None:
            given = sorted(view, key=lambda f: f.key)
            if self.customer_in_solo:
                given.append(make_fact("customer", {"name": self._customer_name}))
            given.extend(self.local_facts(name, lkey))
            given.extend(sorted(pool, key=lambda f: f.key))
            store = compiled(self.cone_kb).run(given)
            self.evaluations += 1
            contributed = frozenset(f for p in self.pooled for f in store.of(p))
            read = frozenset(f for p in self.pool_read for f in store.of(p))
            found = (contributed, self.outcome_of(store.of, [name]), read)
            self._alone[key] = found
        return found

    def pool_of(self, view: frozenset[Fact], lkey: tuple[Value, ...], name: str) -> frozenset[Fact]:
        """What one entity contributes to the pooled facts on its own."""
        return self.alone(view, lkey, name, frozenset())[0]

    def _pooled_interface(
        self, view: frozenset[Fact], lkey: tuple[Value, ...], name: str, others: frozenset[frozenset[Fact]]
    ) -> frozenset[Fact]:
        key = (view, lkey, name, self._customer_name, others)
        found = self._solo.get(key)
        if found is None:
            own, alone_advice, alone_read = self.alone(view, lkey, name, frozenset())
            parts: set[Fact] = set(own)
            largest = frozenset().union(*others) - own if others else frozenset()
            settled = False
            if largest and self.pool_read_positively:
                # The rules that read the pool read it only positively: if even the largest pool makes them
                # conclude nothing new, no smaller one can, and the advice is the same for every pool.
                settled = self.alone(view, lkey, name, largest)[2] == alone_read
            for other in others or (frozenset(),):
                pool = own | other
                # Pooled facts are read only above the rules that pool them: what the entity pools itself
                # changes nothing when given, so only the others' part is given.
                advice = alone_advice if settled else self.alone(view, lkey, name, pool - own)[1]
                parts.add(
                    Fact(
                        ADVICE,
                        (("advice", json.dumps(advice)), ("pool", json.dumps(sorted(f.key for f in pool)))),
                    )
                )
            found = self._canonical(frozenset(parts))
            self._solo[key] = found
            self._rep.setdefault((view, found), lkey)
        return found

    def evaluate_states(
        self, c: tuple[Value, ...], lkeys: Sequence[tuple[Value, ...]], names: tuple[str, ...]
    ) -> Outcome:
        """The recommendation for a customer completion and one local state per entity, evaluated together."""
        key = ("states", c, tuple(lkeys), names, self._customer_name)
        found = self._joint.get(key)
        if found is None:
            given = self.customer_facts(c)
            if self.reads_customer:
                given.append(make_fact("customer", {"name": self._customer_name}))
            for name, lkey in zip(names, lkeys, strict=True):
                given.extend(self.local_facts(name, lkey))
            store = compiled(self.cone_kb).run(given)
            self.evaluations += 1
            found = self.outcome_of(store.of, names)
            self._joint[key] = found
        return found

    def _pooled_joint(self, interfaces: tuple[frozenset[Fact], ...]) -> Outcome | None:
        """The recommendation from pooled interfaces, or None when one lacks the pool they make together."""
        pool = frozenset(f for interface in interfaces for f in interface if f.predicate != ADVICE)
        wanted = json.dumps(sorted(f.key for f in pool))
        slots: list[tuple[str, ...]] = []
        wide: tuple[str, ...] = ()
        for interface in interfaces:
            found = (f.get("advice") for f in interface if f.predicate == ADVICE and f.get("pool") == wanted)
            advice = next(found, None)
            if advice is None:
                return None
            own, wide = json.loads(str(advice))[:2] if self.warning_preds else (json.loads(str(advice))[0], [])
            slots.append(tuple(own))
            wide = tuple(wide)
        return (*slots, wide) if self.warning_preds else tuple(slots)

    def _order(self, interface: Any) -> str:
        """A stable sort key for an interface (or a pair of them)."""
        found = self._orders.get(interface)
        if found is None:
            if isinstance(interface, frozenset):
                found = json.dumps(sorted(f.key for f in interface))
            else:
                found = json.dumps([self._order(part) for part in interface])
            self._orders[interface] = found
        return found

    def joint(self, c: tuple[Value, ...], interfaces: tuple[frozenset[Fact], ...], names: tuple[str, ...]) -> Outcome:
        """The recommendation for a customer completion and one interface per entity.

        Unless a rule names entities, they are interchangeable: the entities are evaluated sorted by interface
        and the recommendation is put back in their order, so each multiset of interfaces is evaluated once.
        """
        if not self.names_matter and len(interfaces) > 1:
            order = sorted(range(len(interfaces)), key=lambda i: self._order(interfaces[i]))
            if order != list(range(len(interfaces))):
                sorted_outcome = self._joint_once(c, tuple(interfaces[i] for i in order), names)
                out: list[tuple[str, ...]] = [()] * len(order)
                for position, i in enumerate(order):
                    out[i] = sorted_outcome[position]
                return (*out, *sorted_outcome[len(order) :])
        return self._joint_once(c, interfaces, names)

    def _joint_once(
        self, c: tuple[Value, ...], interfaces: tuple[frozenset[Fact], ...], names: tuple[str, ...]
    ) -> Outcome:
        key = (c, interfaces, names, self._customer_name)
        found = self._joint.get(key)
        if found is None and self.pooled:
            found = self._pooled_joint(interfaces)
            if found is not None:
                self._joint[key] = found
        if found is None:
            view = self._view(c)
            given = self.customer_facts(c)
            if self.reads_customer:
                given.append(make_fact("customer", {"name": self._customer_name}))
            for name, interface in zip(names, interfaces, strict=True):
                given.extend(self.local_facts(name, self._rep[(view, interface)]))
            store = compiled(self.cone_kb).run(given)
            self.evaluations += 1
            found = self.outcome_of(store.of, names)
            self._joint[key] = found
        return found

    def outcome_of(self, facts_of: Any, names: Sequence[str]) -> Outcome:
        rank = self.ranks
        chosen: dict[str, set[str]] = {n: set() for n in names}
        for p in self.outcome_preds:
            for f in facts_of(p):
                entity = f.get("entity")
                if entity in chosen:
                    chosen[entity].add(str(f.get("type")))
        per_entity = [sorted(chosen[n], key=lambda t: (rank.get(t, 0), t)) for n in names]
        if not self.warning_preds:
            return tuple(tuple(types) for types in per_entity)
        warned: dict[str, set[str]] = {n: set() for n in names}
        wide: set[str] = set()
        for p in self.warning_preds:
            for f in facts_of(p):
                entity = f.get("entity")
                text = WARNING_MARK + compact_json(p, tuple((k, v) for k, v in f.values if k != "entity"))
                warned.get(entity, wide).add(text)
        slots = [tuple(types + sorted(warned[n])) for types, n in zip(per_entity, names, strict=True)]
        return (*slots, tuple(sorted(wide)))

    _customer_name = "<customer>"

    # -- completions ----------------------------------------------------------------------------

    def _customer_completions(
        self, answers: Mapping[int, Value], rng: random.Random, limits: Limits
    ) -> tuple[list[tuple[tuple[Value, ...], int]], bool]:
        choices = [[(answers[i], 1)] if i in answers else list(dim.reps) for i, dim in enumerate(self.customer_dims)]
        return _product(choices, limits.customer_completions, rng, limits.samples)

    def local_states(
        self,
        answers: Mapping[int, Value],
        counts: Mapping[int, tuple[int, int]],
        limit: int,
        rng: random.Random,
        samples: int | None = None,
    ) -> tuple[list[tuple[tuple[Value, ...], int]], bool]:
        """An entity's local states consistent with its answers: scalar values and class counts, weighted."""
        choices: list[list[tuple[Value, int]]] = []
        for i, dim in enumerate(self.local_dims):
            if dim.is_class:
                yes, open_ = counts.get(i, (0, len(dim.members)))
                choices.append([(yes + j, self._class_weight(open_, j)) for j in range(open_ + 1)])
            elif i in answers:
                choices.append([(answers[i], 1)])
            else:
                choices.append(list(dim.reps))
        return _product(choices, limit, rng, self.limits.samples if samples is None else samples)

    def _class_weight(self, open_: int, j: int) -> int:
        """How many ways (weighted by the prior odds of a yes) j of open_ interchangeable items are needed."""
        yes, no = self.limits.item_odds
        return int(math.comb(open_, j) * pow(yes, j) * pow(no, open_ - j))

    def rep_of(self, dim: Dim, value: Value) -> Value:
        """The representative value standing for an answer."""
        for r, _ in dim.reps:
            if _same(r, value):
                return r
        if dim.classes:  # values grouped by the literal tests they pass: the answer's group
            signature = self._signature(dim.decl, value)
            for (r, _), sig in zip(dim.reps, dim.classes, strict=True):
                if sig == signature:
                    return r
        return value  # an open-ended fact compared with variables: evaluated as answered

    # -- the analysis ---------------------------------------------------------------------------

    def unanalysed(self, session: Session) -> Analysis:
        """For a customer too large to analyse: every unanswered question the advice may depend on is
        open, in the vocabulary's order, and every deployment type is still possible (not exact)."""
        open_ = [q for q in session.questions if q.key not in session.answers and self.may_matter(q)]
        types = sorted(self.kb.types, key=lambda t: (self.kb.types[t].rank, t))
        possible = [list(types) for _ in session.entity_names]
        chosen = open_[0] if open_ else None
        return Analysis({}, possible, chosen is None, chosen, [q.key for q in open_], {}, False, 0, coarse=True)

    def analyse(self, session: Session, limits: Limits | None = None) -> Analysis:
        """What the session's answers leave open, within the analyzer's limits (or those given)."""
        limits = limits or self.limits
        rng = random.Random(20240601)
        start = self.evaluations
        exact = all(d.exact for d in (*self.customer_dims, *self.local_dims))
        names = session.analysis_names(self.names_matter)
        self._customer_name = session.customer if self.names_matter else "<customer>"
        n = len(names)
        # Customer-wide answers, by dimension.
        c_answers: dict[int, Value] = {}
        for i, dim in enumerate(self.customer_dims):
            key = _key(dim.decl.id, dim.item, None)
            if key in session.answers:
                value = session.answers[key]
                if dim.item is not None:
                    c_answers[i] = value is True
                else:
                    c_answers[i] = self.rep_of(dim, value)
        # Open customer-wide facts that no rule combines with the rest (budget, maturity) are settled
        # here at a stand-in value and analysed on their own below: their answers multiply nothing else.
        open_local = {
            dim.decl.id
            for dim in self.local_dims
            for e in range(n)
            if any(_key(dim.decl.id, m, e) not in session.answers for m in (dim.members or (None,)))
        }
        groups, separable = self._independent(
            [i for i in range(len(self.customer_dims)) if i not in c_answers], open_local
        )
        for group in groups:
            for i in group:
                c_answers[i] = self.customer_dims[i].reps[0][0]
        apart = [i for i, dim in enumerate(self.local_dims) if dim.decl.id in separable and not dim.is_class]
        completions, sampled = self._customer_completions(c_answers, rng, limits)
        exact = exact and not sampled
        views = {c: self._view(c) for c, _ in completions}
        distinct_views = sorted(set(views.values()), key=lambda v: sorted(f.key for f in v))
        limit = max(1, limits.solo_evaluations // max(1, len(distinct_views)))
        # Per entity: its states, and the weight of each interface (overall and per answer to each open dimension).
        hist: list[dict[frozenset[Fact], dict[frozenset[Fact], int]]] = []
        cond: list[dict[frozenset[Fact], dict[tuple[int, Any], Counter[frozenset[Fact]]]]] = []
        open_dims: list[list[tuple[int, Dim]]] = []
        all_states: list[list[tuple[tuple[Value, ...], int]]] = []
        all_counts: list[dict[int, tuple[int, int]]] = []
        solo_names = [names[e] if self.names_matter else "<entity>" for e in range(n)]
        for e in range(n):
            answers_e: dict[int, Value] = {}
            counts: dict[int, tuple[int, int]] = {}
            for i, dim in enumerate(self.local_dims):
                if dim.is_class:
                    yes = sum(1 for m in dim.members if session.answers.get(_key(dim.decl.id, m, e)) is True)
                    unanswered = sum(1 for m in dim.members if _key(dim.decl.id, m, e) not in session.answers)
                    counts[i] = (yes, unanswered)
                else:
                    key = _key(dim.decl.id, None, e)
                    if key in session.answers:
                        answers_e[i] = self.rep_of(dim, session.answers[key])
                    elif i in apart:  # analysed on its own below, at a stand-in value here
                        answers_e[i] = dim.reps[0][0]
            # Each entity samples by its own answers: an entity whose answers did not change keeps its states
            # (and their cached evaluations) from one question to the next, and alike entities share them.
            own_rng = random.Random(repr((solo_names[e], limit, sorted(answers_e.items()), sorted(counts.items()))))
            states, sampled = self.local_states(answers_e, counts, limit, own_rng, limits.samples)
            exact = exact and not sampled
            all_states.append(states)
            all_counts.append(counts)
            open_dims.append(
                [
                    (i, dim)
                    for i, dim in enumerate(self.local_dims)
                    if (dim.is_class and counts[i][1] > 0) or (not dim.is_class and i not in answers_e)
                ]
            )
        pools: dict[frozenset[Fact], list[frozenset[frozenset[Fact]]]] = {}

        def others(e: int, view: frozenset[Fact]) -> frozenset[frozenset[Fact]]:
            """The pools the other entities can make together, in this view (pooled analysis only)."""
            if not self.pooled:
                return frozenset()
            if n == 1:
                return frozenset({frozenset()})
            if view not in pools:
                made = [
                    frozenset(self.pool_of(view, lkey, solo_names[x]) for lkey, _ in all_states[x]) for x in range(n)
                ]
                empty: frozenset[frozenset[Fact]] = frozenset({frozenset()})
                before, after = [empty], [empty] * (n + 1)
                for x in range(n):
                    before.append(frozenset(a | b for a in before[-1] for b in made[x]))
                for x in reversed(range(n)):
                    after[x] = frozenset(a | b for a in after[x + 1] for b in made[x])
                pools[view] = [frozenset(a | b for a in before[x] for b in after[x + 1]) for x in range(n)]
            return pools[view][e]

        def iface(view: frozenset[Fact], lkey: tuple[Value, ...], e: int) -> frozenset[Fact]:
            return self.solo(view, lkey, solo_names[e], others(e, view))

        for e in range(n):
            states, counts, opened = all_states[e], all_counts[e], open_dims[e]
            h: dict[frozenset[Fact], dict[frozenset[Fact], int]] = {}
            ch: dict[frozenset[Fact], dict[tuple[int, Any], Counter[frozenset[Fact]]]] = {}
            for view in distinct_views:
                hv: Counter[frozenset[Fact]] = Counter()
                cv: dict[tuple[int, Any], Counter[frozenset[Fact]]] = {}
                for lkey, weight in states:
                    interface = iface(view, lkey, e)
                    hv[interface] += weight
                    for i, dim in opened:
                        if dim.is_class:
                            yes, open_ = counts[i]
                            j = _count(lkey[i]) - yes
                            rest = weight // self._class_weight(open_, j)
                            odds = self.limits.item_odds[0] ** j * self.limits.item_odds[1] ** (open_ - j)
                            if j > 0:
                                cv.setdefault((i, True), Counter())[interface] += (
                                    rest * odds * math.comb(open_ - 1, j - 1)
                                )
                            if j < open_:
                                cv.setdefault((i, False), Counter())[interface] += rest * odds * math.comb(open_ - 1, j)
                        else:
                            cv.setdefault((i, lkey[i]), Counter())[interface] += weight
                h[view] = dict(hv)
                ch[view] = cv
            hist.append(h)
            cond.append(ch)

        # One pass over the combinations of the entities' interfaces (bounded; sampled past the bound) gives,
        # per customer completion, the weight of each recommendation, and per entity and interface of its own,
        # the weight of each recommendation summed over the other entities: every question's odds follow.
        share = max(64, limits.tuples // max(1, len(completions)))
        by_c: dict[tuple[Value, ...], Counter[Outcome]] = {}
        given_own: list[dict[tuple[Value, ...], dict[frozenset[Fact], Counter[Outcome]]]] = [{} for _ in range(n)]
        for c, _ in completions:
            view = views[c]
            combos, sampled = _product([list(hist[e][view].items()) for e in range(n)], share, rng, limits.samples)
            exact = exact and not sampled
            dist: Counter[Outcome] = Counter()
            tables = [given_own[e].setdefault(c, {}) for e in range(n)]
            for interfaces, w in combos:
                outcome = self.joint(c, interfaces, names)
                dist[outcome] += w
                for e in range(n):
                    tables[e].setdefault(interfaces[e], Counter())[outcome] += w // hist[e][view][interfaces[e]]
            by_c[c] = dist

        def distribution(
            cs: Iterable[tuple[tuple[Value, ...], int]],
            replace_at: int | None = None,
            key: tuple[int, Any] | None = None,
        ) -> Counter[Outcome]:
            """The weight of each recommendation over the completions cs, or with one entity's answer fixed."""
            total: Counter[Outcome] = Counter()
            for c, wc in cs:
                if replace_at is None or key is None:
                    for outcome, w in by_c[c].items():
                        total[outcome] += wc * w
                    continue
                own = given_own[replace_at][c]
                for interface, weight in cond[replace_at][views[c]].get(key, Counter()).items():
                    for outcome, w in own.get(interface, Counter()).items():
                        total[outcome] += wc * weight * w
            return total

        base = distribution(completions)
        outcomes = {o: w for o, w in base.items() if w > 0}
        possible = [
            sorted(
                {t for o in outcomes for t in o[e] if not t.startswith(WARNING_MARK)},
                key=lambda t: (self.kb.types[t].rank if t in self.kb.types else 0, t),
            )
            for e in range(n)
        ]
        done = len(outcomes) <= 1
        share = max(64, share // 16)  # for each witness search

        def differs(
            c: tuple[Value, ...], c2: tuple[Value, ...], pairs: list[set[tuple[Any, Any]]]
        ) -> set[Change] | None:
            """What two recommendations differ in, for a choice of one interface pair per entity, if any."""
            nonlocal exact
            combos, sampled = _product(
                [[(p, 1) for p in sorted(ps, key=self._order)] for ps in pairs], share, rng, limits.samples
            )
            exact = exact and not sampled
            for combo, _ in combos:
                first = tuple(a for a, _ in combo)
                second = tuple(b for _, b in combo)
                if first == second and c == c2:
                    continue
                one, other = self.joint(c, first, names), self.joint(c2, second, names)
                if one != other:
                    return _varying([Counter({one: 1}), Counter({other: 1})])
            return None

        def entity_witness(e: int, i: int, dim: Dim) -> set[Change] | None:
            """Two completions differing only in this entity's answer on dimension i, with two recommendations."""
            for view in distinct_views:
                changed: set[tuple[Any, Any]] = set()
                for lkey, _ in all_states[e]:
                    if dim.is_class:
                        yes, open_ = all_counts[e][i]
                        if _count(lkey[i]) - yes < open_:
                            other = (*lkey[:i], _count(lkey[i]) + 1, *lkey[i + 1 :])
                            changed.add((iface(view, other, e), iface(view, lkey, e)))
                    else:
                        for r, _ in dim.reps:
                            if not _same(r, lkey[i]):
                                other = (*lkey[:i], r, *lkey[i + 1 :])
                                changed.add((iface(view, lkey, e), iface(view, other, e)))
                changed = {(a, b) for a, b in changed if a != b}
                if not changed:
                    continue
                for c, _ in completions:
                    if views[c] != view:
                        continue
                    own = given_own[e][c]
                    # Different odds over the same others: surely two recommendations somewhere.
                    for a, b in changed:
                        if a in own and b in own and own[a] != own[b]:
                            return _varying([own[a], own[b]])
                    pairs = [changed if x == e else {(k, k) for k in hist[x][view]} for x in range(n)]
                    found = differs(c, c, pairs)
                    if found is not None:
                        return found
            return None

        def customer_witness(i: int, dim: Dim) -> set[Change] | None:
            """Two completions differing only in this customer-wide answer, with two recommendations."""
            present = {c for c, _ in completions}
            for c, _ in completions:
                for r, _ in dim.reps:
                    c2 = (*c[:i], r, *c[i + 1 :])
                    if _same(r, c[i]) or c2 not in present:
                        continue
                    pairs = [
                        {
                            (iface(views[c], s, e), iface(views[c2], s, e))
                            for s, _ in all_states[e]
                        }
                        for e in range(n)
                    ]
                    found = differs(c, c2, pairs)
                    if found is not None:
                        return found
            return None

        scores: dict[str, float] = {}
        changes = Changes()
        relevant: list[str] = []
        best: tuple[float, int] | None = None
        chosen: Question | None = None
        if not done:
            order = 0
            for i, dim in enumerate(self.customer_dims):
                order += 1
                if i in c_answers:
                    continue
                parts = [distribution([(c, w) for c, w in completions if _same(c[i], rep)]) for rep, _ in dim.reps]
                q = session.question(_key(dim.decl.id, dim.item, None))
                witness = functools.partial(customer_witness, i, dim)
                best, chosen = _consider([q], parts, order, scores, relevant, changes, best, chosen, witness)
            for e in range(n):
                for i, dim in open_dims[e]:
                    order += 1
                    answers_keys = [(i, True), (i, False)] if dim.is_class else [(i, r) for r, _ in dim.reps]
                    parts = [distribution(completions, e, k) for k in answers_keys]
                    if dim.is_class:
                        # The class's unanswered items are interchangeable: asked in vocabulary order.
                        items = [m for m in dim.members if _key(dim.decl.id, m, e) not in session.answers]
                        qs = [session.question(_key(dim.decl.id, m, e)) for m in items]
                    else:
                        qs = [session.question(_key(dim.decl.id, None, e))]
                    best, chosen = _consider(
                        qs,
                        parts,
                        order,
                        scores,
                        relevant,
                        changes,
                        best,
                        chosen,
                        functools.partial(entity_witness, e, i, dim),
                    )
        # The groups set apart: every combination of their answers, the rest at stand-in values.
        c0 = completions[0][0]
        states0 = [all_states[e][0][0] for e in range(n)]
        for group in groups:
            before = len(relevant)
            table: dict[tuple[Value, ...], tuple[Outcome, int]] = {}
            for combo in itertools.product(*(self.customer_dims[i].reps for i in group)):
                picked: list[Value] = list(c0)
                weight = 1
                for i, (rep, w) in zip(group, combo, strict=True):
                    picked[i] = rep
                    weight *= w
                table[tuple(r for r, _ in combo)] = (self.evaluate_states(tuple(picked), states0, names), weight)
            for position, i in enumerate(group):
                dim = self.customer_dims[i]
                q = session.question(_key(dim.decl.id, dim.item, None))
                parts = _table_parts(table, position, dim)
                witness = functools.partial(_table_witness, table, position, dim)
                best, chosen = _consider([q], parts, i + 1, scores, relevant, changes, best, chosen, witness)
            if len(relevant) > before:
                done = False
        for e in range(n):
            own = [i for i in apart if _key(self.local_dims[i].decl.id, None, e) not in session.answers]
            if not own:
                continue
            before = len(relevant)
            table = {}
            for combo in itertools.product(*(self.local_dims[i].reps for i in own)):
                state: list[Value] = list(states0[e])
                weight = 1
                for i, (rep, w) in zip(own, combo, strict=True):
                    state[i] = rep
                    weight *= w
                lkeys = [*states0[:e], tuple(state), *states0[e + 1 :]]
                table[tuple(r for r, _ in combo)] = (self.evaluate_states(c0, lkeys, names), weight)
            for position, i in enumerate(own):
                dim = self.local_dims[i]
                q = session.question(_key(dim.decl.id, None, e))
                parts = _table_parts(table, position, dim)
                witness = functools.partial(_table_witness, table, position, dim)
                order = len(self.customer_dims) + e * len(self.local_dims) + i + 1
                best, chosen = _consider([q], parts, order, scores, relevant, changes, best, chosen, witness)
            if len(relevant) > before:
                done = False
        if not done and chosen is None:
            # Not settled, yet no single answer was seen to matter: only when the completions were sampled.
            chosen = session.first_open(self)
        return Analysis(outcomes, possible, done, chosen, relevant, scores, exact, self.evaluations - start, changes)


class Changes(Mapping[str, set[Change]]):
    """Per relevant question, what its answer can change; each worked out when first read, once.

    A conversation reads none of them (it only needs the next question); the open questions read all."""

    def __init__(self) -> None:
        self._found: dict[str, set[Change] | Callable[[], set[Change]]] = {}

    def put(self, key: str, changed: set[Change] | Callable[[], set[Change]]) -> None:
        self._found[key] = changed

    def __getitem__(self, key: str) -> set[Change]:
        found = self._found[key]
        if callable(found):
            found = self._found[key] = found()
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._found)

    def __len__(self) -> int:
        return len(self._found)


def _consider(
    questions: list[Question],
    parts: list[Counter[Outcome]],
    order: int,
    scores: dict[str, float],
    relevant: list[str],
    changes: Changes,
    best: tuple[float, int] | None,
    chosen: Question | None,
    witness: Callable[[], set[Change] | None],
) -> tuple[tuple[float, int] | None, Question | None]:
    """Record interchangeable questions as relevant when their answer can change the recommendation; the best so far.

    Answers that change the odds of the recommendations surely can change one; otherwise a witness is looked for:
    two completions that differ only in this answer and are recommended differently. What the answer can change
    (each entity's deployment, each warning) is recorded with it.
    """
    parts = [p for p in parts if sum(p.values()) > 0]
    changed: set[Change] | Callable[[], set[Change]] | None
    if _differ(parts):
        score = round(_information(parts), 12)
        changed = functools.partial(_varying, parts)  # worked out only if asked for (the open questions)
    else:
        changed = witness()
        if changed is None:
            return best, chosen
        score = 0.0
    for q in questions:
        relevant.append(q.key)
        scores[q.key] = score
        changes.put(q.key, changed)
    if best is None or (score, -order) > best:
        return (score, -order), questions[0]
    return best, chosen


def _table_parts(
    table: Mapping[tuple[Value, ...], tuple[Outcome, int]], position: int, dim: Dim
) -> list[Counter[Outcome]]:
    """The weight of each recommendation in an enumerated table, per answer to one of its dimensions."""
    parts: list[Counter[Outcome]] = []
    for rep, _ in dim.reps:
        part: Counter[Outcome] = Counter()
        for values, (outcome, w) in table.items():
            if _same(values[position], rep):
                part[outcome] += w
        parts.append(part)
    return parts


def _table_witness(
    table: Mapping[tuple[Value, ...], tuple[Outcome, int]], position: int, dim: Dim
) -> set[Change] | None:
    """Two entries of an enumerated table that differ only in one answer and give two recommendations."""
    for values, (outcome, _) in table.items():
        for rep, _ in dim.reps:
            other = (*values[:position], rep, *values[position + 1 :])
            found = table.get(other)
            if found is not None and found[0] != outcome:
                return _varying([Counter({outcome: 1}), Counter({found[0]: 1})])
    return None


def _varying(parts: list[Counter[Outcome]]) -> set[Change]:
    """What differs between the answers: each part of the recommendation whose odds differ, exact in integers.

    A part is ('deployment', entity index) or ('warning', entity index or None, the warning's fields). When
    the odds of every part agree (only their combinations differ), every part that is not always there counts.
    """
    marginals: list[Counter[Change]] = []
    totals: list[int] = []
    for part in parts:
        counts: Counter[Change] = Counter()
        for outcome, weight in part.items():
            for item in _parts_of(outcome):
                counts[item] += weight
        marginals.append(counts)
        totals.append(sum(part.values()))
    items = set().union(*marginals) if marginals else set()
    weighed = list(zip(marginals, totals, strict=True))
    first, first_total = weighed[0] if weighed else (Counter(), 0)
    found = {item for item in items if any(m.get(item, 0) * first_total != first.get(item, 0) * t for m, t in weighed)}
    if not found:
        found = {item for item in items if any(m.get(item, 0) != t for m, t in weighed)}
    return {("deployment", item[1]) if item[0] == "type" else item for item in found}


@functools.lru_cache(maxsize=65_536)
def _parts_of(outcome: Outcome) -> frozenset[Change]:
    """Each entity's deployment types and each warning of a recommendation (few recommendations recur often)."""
    out: set[Change] = set()
    for e, slot in enumerate(outcome):
        for entry in slot:
            if entry.startswith(WARNING_MARK):
                out.add(("warning", e, entry[len(WARNING_MARK) :]))
            else:
                out.add(("type", e, entry))
    return frozenset(out)


def _differ(parts: list[Counter[Outcome]]) -> bool:
    """Do the answers give different distributions of recommendations? Exact, in integers."""
    if len(parts) < 2:
        return False
    first = parts[0]
    total_first = sum(first.values())
    for other in parts[1:]:
        total = sum(other.values())
        for outcome in set(first) | set(other):
            if first.get(outcome, 0) * total != other.get(outcome, 0) * total_first:
                return True
    return False


def _entropy(counts: Iterable[int]) -> float:
    values = [c for c in counts if c > 0]
    total = sum(values)
    return -sum(c / total * math.log2(c / total) for c in values) if total else 0.0


def _information(parts: list[Counter[Outcome]]) -> float:
    """Mutual information (bits) between the answer and the recommendation."""
    merged: Counter[Outcome] = Counter()
    for p in parts:
        merged.update(p)
    total = sum(merged.values())
    return _entropy(merged.values()) - sum(sum(p.values()) / total * _entropy(p.values()) for p in parts)


def _product(
    choices: Sequence[Sequence[tuple[Any, int]]], limit: int, rng: random.Random, draws: int = 3_000
) -> tuple[list[tuple[tuple[Any, ...], int]], bool]:
    """Every combination with the product of its weights; past limit, a deterministic weighted sample."""
    size = 1
    for options in choices:
        size *= len(options)
        if size > limit:
            break
    if size <= limit:
        out = []
        for combo in itertools.product(*choices):
            weight = 1
            for _, w in combo:
                weight *= w
            out.append((tuple(v for v, _ in combo), weight))
        return out, False
    # A sample drawn by weight; each distinct combination keeps its true weight (exact over the sample).
    sample: dict[tuple[Any, ...], int] = {}
    for _ in range(min(limit, draws)):
        picked = []
        for options in choices:
            weights = [w for _, w in options]
            picked.append(rng.choices(options, weights=weights)[0] if any(weights) else options[0])
        key = tuple(v for v, _ in picked)
        if key not in sample:
            weight = 1
            for _, w in picked:
                weight *= w
            sample[key] = weight
    return list(sample.items()), True


def _code_literal(atom: Atom) -> str | None:
    """The code an atom asks for (`warning: {code: low-fit}`), if it names one."""
    for fp in atom.fields:
        if fp.field == "code":
            for t in fp.tests:
                if t.op == "eq" and isinstance(t.operand, str):
                    return t.operand
    return None


def _used_beyond(rule: Rule, clause: Clause, atom: Atom, name: str) -> bool:
    """Is the variable used by the clause other than in this atom, or by a conclusion (the explanation aside)?"""
    for other in (*clause.positives, *clause.negatives, *(c.atom for c in clause.counts)):
        if other is not atom and name in other.variables():
            return True
    return any(isinstance(v, Var) and v.name == name for c in rule.conclusions for _, v in c.values)


def _atoms(rule: Rule) -> Iterator[Atom]:
    for clause in rule.clauses:
        for _, atom in _clause_atoms(clause):
            yield atom


def _clause_atoms(clause: Any) -> Iterator[tuple[str, Atom]]:
    for atom in clause.positives:
        yield "pos", atom
    for atom in clause.negatives:
        yield "not", atom
    for count in clause.counts:
        yield "count", count.atom


def _field_matches(fp: FieldPattern, fact: Fact) -> bool:
    from ..evaluation.derivation import match_field

    return match_field(fp, fact, {})


def _atom_may_match(atom: Atom, fact: Fact, ignore: str | None = None) -> bool:
    """Can the fact match the atom, whatever the atom's variables are bound to (and field ignore holds)?"""
    if atom.predicate != fact.predicate:
        return False
    for fp in atom.fields:
        if fp.field == ignore:
            continue
        literal = FieldPattern(
            fp.field, None, tuple(t for t in fp.tests if not isinstance(t.operand, Var)), fp.location
        )
        if not _field_matches(literal, fact):
            return False
    return True


def _match_relaxed(
    atom: Atom, fact: Fact, bindings: Mapping[str, Scalar], ignore: str | None = None
) -> dict[str, Scalar] | None:
    """match_atom, leaving out tests against variables not bound yet (they are assumed to pass), and field ignore."""
    from ..evaluation.derivation import match_atom

    fields = tuple(
        FieldPattern(
            fp.field,
            fp.bind,
            tuple(t for t in fp.tests if not isinstance(t.operand, Var) or t.operand.name in bindings),
            fp.location,
        )
        for fp in atom.fields
        if fp.field != ignore
    )
    return match_atom(Atom(atom.predicate, fields, atom.location), fact, dict(bindings))


def _count(value: Value) -> int:
    """A class dimension's value: how many of its items are needed."""
    assert isinstance(value, int) and not isinstance(value, bool)
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal and of one type (True is not 1)."""
    return a is b or (type(a) is type(b) and a == b)


def _ground_value(decl: FactDecl, value: Scalar) -> Scalar:
    if decl.type == "version" and isinstance(value, str):
        return version_number(value)
    return normal_number(value)


def _key(fact: str, item: str | None, entity: int | None) -> str:
    key = fact if item is None else f"{fact}:{item}"
    return key if entity is None else f"{key}@{entity}"


# -- sessions ---------------------------------------------------------------------------------------


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def all_questions(kb: KnowledgeBase, customer: str, entities: Sequence[str]) -> list[Question]:
    """Every question the vocabulary can ask of this customer and its legal entities, in vocabulary order."""
    several = len(entities) > 0
    names = list(entities) if several else [customer]
    out: list[Question] = []
    for decl in kb.facts.values():
        if decl.scope == "customer":
            out.extend(_questions_for(kb, decl, None, "the customer", ""))
    for decl in kb.facts.values():
        if decl.scope == "entity":
            for e, name in enumerate(names):
                who = name if several else "the customer"
                prefix = f"{name}: " if several else ""
                out.extend(_questions_for(kb, decl, e, who, prefix))
    return out


def _questions_for(kb: KnowledgeBase, decl: FactDecl, entity: int | None, who: str, prefix: str) -> list[Question]:
    if not decl.is_list:
        kind = decl.type if decl.type in ("boolean", "choice", "integer", "number", "version") else "text"
        return [
            Question(
                _key(decl.id, None, entity), decl.id, None, entity, prefix + decl.question, kind, tuple(decl.values)
            )
        ]
    out = []
    if decl.type == "capability-list":
        items = [(c.id, c.name) for c in kb.capabilities.values()]
    else:
        items = [(v, v) for v in decl.values]
    for item, label in items:
        if decl.type == "capability-list" and "need" in decl.question:
            text = f"Does {who} need {_lower_first(label)}?"
        else:
            text = f"{prefix}{decl.question.rstrip('?')}: {label}?"
        out.append(Question(_key(decl.id, item, entity), decl.id, item, entity, text, "yes-no"))
    return out


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def answer_text(question: Question, value: Value) -> str:
    """An answer as the workshop record gives it: yes, no, don't know, or the value."""
    if value is ABSENT:
        return "don't know"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return show_value(value)


@dataclass(slots=True)
class Session:
    """One customer's answers so far; asks the analyzer what to ask next."""

    analyzer: Analyzer
    customer: str
    entities: list[str] = field(default_factory=list)  # empty: one legal entity, named after the customer
    answers: dict[str, Value] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    passed: set[str] = field(default_factory=set)  # questions passed over, not answered
    answered_at: dict[str, str] = field(default_factory=dict)  # when each answer was given (UTC, ISO 8601)
    started: str = ""  # when the workshop began (UTC, ISO 8601)
    _by_key: dict[str, Question] = field(default_factory=dict)
    _analysis: Analysis | None = None
    # Called before a sampled analysis that saw nothing left to ask is redone within the thorough
    # bounds (the one step that can take seconds): a terminal says what it is doing.
    before_thorough: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.questions = all_questions(self.analyzer.kb, self.customer, self.entities)
        self._by_key = {q.key: q for q in self.questions}
        self.started = self.started or _now()

    @property
    def entity_names(self) -> list[str]:
        return list(self.entities) if self.entities else [self.customer]

    def analysis_names(self, names_matter: bool) -> tuple[str, ...]:
        if names_matter:
            return tuple(self.entity_names)
        return tuple(f"<entity {i + 1}>" for i in range(len(self.entity_names)))

    def question(self, key: str) -> Question:
        return self._by_key[key]

    def first_open(self, analyzer: Analyzer) -> Question | None:
        for q in self.questions:
            if q.key not in self.answers and analyzer.may_matter(q):
                return q
        return None

    def analysis(self) -> Analysis:
        if self._analysis is None:
            if len(self.entity_names) > self.analyzer.limits.exact_entities:
                self._analysis = self.analyzer.unanalysed(self)
            else:
                found = self.analyzer.analyse(self)
                if not found.exact and found.next is None and self.analyzer.limits != THOROUGH:
                    # A sample saw nothing left that could change the advice: before saying so, every
                    # possibility is tried, within the thorough bounds.
                    if self.before_thorough is not None:
                        self.before_thorough()
                    found = self.analyzer.analyse(self, THOROUGH)
                self._analysis = found
        return self._analysis

    def next_question(self) -> Question | None:
        """The question to ask now, or None when nothing left to ask can change the recommendation and every
        question of a fact declared `ask: always` has been asked."""
        found = self.analysis().next
        return found if found is not None else self.always_open()

    def always_open(self) -> Question | None:
        """The first question not yet asked of a fact its policy asks in every workshop (`ask: always`)."""
        facts = self.analyzer.kb.facts
        for q in self.questions:
            if q.key not in self.answers and facts[q.fact].ask == ASK_ALWAYS:
                return q
        return None

    @property
    def done(self) -> bool:
        return self.analysis().done and self.always_open() is None

    def answer(self, question: Question | str, value: Value) -> None:
        key = question if isinstance(question, str) else question.key
        if key not in self._by_key:
            raise KeyError(key)
        if key in self.answers:
            self.asked.remove(key)
        self.answers[key] = value
        self.asked.append(key)
        self.passed.discard(key)
        self.answered_at[key] = _now()
        self._analysis = None

    def workshop(self, by: str | None = None) -> dict[str, Any]:
        """The record of the workshop: when it began, who ran it, and each question asked, of whom, the answer
        given ("yes", "no", "don't know", a value) and when, in the order they were answered."""
        record: dict[str, Any] = {"date": self.started}
        if by:
            record["by"] = by
        answers = []
        for key in self.asked:
            if key in self.passed:
                continue
            q = self._by_key[key]
            answers.append(
                {
                    "question": q.text,
                    "of": self.entity_names[q.entity] if q.entity is not None else self.customer,
                    "answer": answer_text(q, self.answers[key]),
                    "at": self.answered_at.get(key, self.started),
                }
            )
        record["answers"] = answers
        return record

    def back(self) -> Question | None:
        """Forget the last answer; the question it answered, to ask again."""
        if not self.asked:
            return None
        key = self.asked.pop()
        del self.answers[key]
        self.passed.discard(key)
        self._analysis = None
        return self._by_key[key]

    def forget(self, question: Question | str) -> None:
        """Take back one answer, wherever it was given."""
        key = question if isinstance(question, str) else question.key
        if key in self.answers:
            del self.answers[key]
            self.asked.remove(key)
            self.passed.discard(key)
            self._analysis = None

    def clear(self) -> None:
        """Take back every answer."""
        self.answers.clear()
        self.asked.clear()
        self.passed.clear()
        self._analysis = None

    def still_possible(self) -> list[tuple[str, list[str]]]:
        return list(zip(self.entity_names, self.analysis().possible, strict=True))

    def document(self, extra: Mapping[str, Value] | None = None) -> dict[str, Any]:
        """The facts file for the answers (and extra answers, e.g. given but never asked).

        Questions passed over without an answer (standard input ended) are left out, not recorded as
        "don't know".
        """
        answers = {**(extra or {}), **{k: v for k, v in self.answers.items() if k not in self.passed}}
        return facts_document(self.analyzer.kb, self.customer, self.entities, self.questions, answers)

    def pass_over(self, question: Question | str) -> None:
        """Leave a question unanswered, moving on (standard input ended): it is not a "don't know"."""
        key = question if isinstance(question, str) else question.key
        self.answer(key, ABSENT)
        self.passed.add(key)


def facts_document(
    kb: KnowledgeBase,
    customer: str,
    entities: Sequence[str],
    questions: Sequence[Question],
    answers: Mapping[str, Value],
) -> dict[str, Any]:
    """A facts document (as `podeploy evaluate` reads it) holding the answers.

    It records what was answered explicitly: a list fact whose items were asked is written even when
    empty (nothing needed is an answer), and the facts and capabilities answered "don't know" are listed
    under `unknown`, so that evaluating it, or resuming the questionnaire on it, knows what was asked.
    Questions never asked are left out.
    """
    doc: dict[str, Any] = {"customer": customer}
    own: list[dict[str, Any]] = [{"name": name} for name in entities] if entities else [doc]
    for q in questions:
        if q.key not in answers:
            continue
        value = answers[q.key]
        target = doc if q.entity is None else own[q.entity]
        if value is ABSENT:
            name = q.item if q.item is not None else q.fact
            if name not in target.setdefault("unknown", []):
                target["unknown"].append(name)
            continue
        if q.item is not None:
            listed = target.setdefault(q.fact, [])
            if value is True:
                listed.append(q.item)
        else:
            target[q.fact] = value
    for target in {id(t): t for t in (doc, *own)}.values():  # 'unknown' after the facts it sits beside
        if "unknown" in target:
            target["unknown"] = target.pop("unknown")
    if entities:
        doc["legal_entities"] = own
    return doc


def parse_answer(question: Question, text: str) -> Value:
    """An answer typed for a question; ValueError with a message saying what is expected."""
    raw = text.strip()
    lowered = raw.lower()
    if lowered in UNKNOWN_WORDS:
        return ABSENT
    if question.kind in ("yes-no", "boolean"):
        if lowered in YES_WORDS:
            return True
        if lowered in NO_WORDS:
            return False
        raise ValueError("answer y (yes), n (no) or ? (don't know)")
    if question.kind == "choice":
        return _choice(question.choices, raw)
    if question.kind in ("integer", "number"):
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"answer {'a whole number' if question.kind == 'integer' else 'a number'}, or ?") from None
        if not math.isfinite(number) or abs(number) > 1e9:
            raise ValueError("answer a number between -1000000000 and 1000000000")
        if question.kind == "integer":
            if not number.is_integer():
                raise ValueError("answer a whole number, or ?")
            return int(number)
        return normal_number(number)
    if question.kind == "version":
        if not re.match(VERSION_PATTERN, raw):
            raise ValueError("answer a version like 10.0.44, or ?")
        return raw
    if not raw or len(raw) > 200:
        raise ValueError("answer some text (at most 200 characters), or ?")
    return raw


def _choice(choices: Sequence[str], raw: str) -> str:
    lowered = raw.lower()
    for c in choices:
        if c.lower() == lowered:
            return c
    if raw.isdigit() and 1 <= int(raw) <= len(choices):
        return choices[int(raw) - 1]
    starting = [c for c in choices if c.lower().startswith(lowered)] if lowered else []
    if len(starting) == 1:
        return starting[0]
    raise ValueError(f"answer one of {', '.join(choices)} (or its number, or ?){did_you_mean(raw, choices)}")


# -- answers files ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Answers:
    """A non-interactive session's answers: the customer, its legal entities and an answer per question key."""

    customer: str
    entities: list[str]
    values: dict[str, Value]

    def lookup(self, question: Question) -> Value:
        return self.values.get(question.key, ABSENT)


def read_answers(kb: KnowledgeBase, doc: Document) -> Answers:
    """An answers file: a facts file whose capabilities may also be keys with yes/no. Located problems."""
    problems: list[Problem] = []
    value = doc.value
    if not isinstance(value, dict):
        raise BadInput(
            [Problem("wrong-type", "an answers file is a mapping (customer: ..., facts, capabilities)", doc.where(()))]
        )
    cap_fact = _capability_fact(kb)
    customer = value.get("customer")
    if not isinstance(customer, str) or not customer.strip() or len(customer) > 200:
        where = doc.where(("customer",)) if "customer" in value else doc.where(())
        problems.append(
            Problem(
                "missing-key" if "customer" not in value else "bad-value",
                "'customer' is required: the customer's name (text)",
                where,
            )
        )
        customer = "customer"
    customer = customer.strip()
    listed = value.get("legal_entities") or []
    entities: list[str] = []
    if not isinstance(listed, list):
        problems.append(Problem("wrong-type", "legal_entities: expected a list", doc.where(("legal_entities",))))
        listed = []
    for i, item in enumerate(listed):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            problems.append(
                Problem("bad-value", "each legal entity needs a 'name' (text)", doc.where(("legal_entities", i)))
            )
            name = f"entity {i + 1}"
        name = name.strip()
        if name in entities:
            problems.append(
                Problem(
                    "duplicate-entity",
                    f"legal entity '{name}' is listed twice",
                    doc.where(("legal_entities", i, "name")),
                )
            )
            name = f"{name} ({i + 1})"
        entities.append(name)
    questions = all_questions(kb, customer, entities)
    shared = _section(kb, doc, value, (), "customer", cap_fact, problems)
    owns = [
        _section(kb, doc, item, ("legal_entities", i), "entity", cap_fact, problems) if isinstance(item, dict) else {}
        for i, item in enumerate(listed)
    ]
    if problems:
        raise BadInput(sorted(problems, key=lambda p: (p.location, p.code)))
    values: dict[str, Value] = {}
    for q in questions:
        sections = [shared] if q.entity is None or not entities else [owns[q.entity], shared]
        got = _answer_in(q, sections)
        if got is not None:
            values[q.key] = got
    return Answers(customer, entities, values)


def _capability_fact(kb: KnowledgeBase) -> str | None:
    lists = [d.id for d in kb.facts.values() if d.type == "capability-list"]
    if "requirements" in lists:
        return "requirements"
    return lists[0] if len(lists) == 1 else None


def _answer_in(q: Question, sections: Sequence[Mapping[Any, Any]]) -> Value | None:
    """The answer the sections (an entity's own, then the top level) give a question, or None when they say nothing.

    A list item: a yes/no key decides (the entity's own first); else it is needed when a list names it (lists add
    up, as in facts files), not needed when there is a list that does not.
    """
    if q.item is None:
        for section in sections:
            if q.fact in section:
                return section[q.fact]  # type: ignore[no-any-return]
        return None
    for section in sections:
        said = section.get(("item", q.fact, q.item))
        if said is not None:
            return said  # type: ignore[no-any-return]
    lists = [section[q.fact] for section in sections if isinstance(section.get(q.fact), list)]
    if not lists:
        return None
    return any(q.item in listed for listed in lists)


def _section(
    kb: KnowledgeBase,
    doc: Document,
    mapping: dict[str, Any],
    path: tuple[str | int, ...],
    scope: str,
    cap_fact: str | None,
    problems: list[Problem],
) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    reserved = ("customer", "legal_entities", "workshop") if scope == "customer" else ("name",)
    for key, raw in mapping.items():
        where = doc.where((*path, key))
        if key in reserved:
            continue
        if key == "unknown":
            _unknown_answers(kb, doc, raw, (*path, key), scope, cap_fact, out, problems)
            continue
        if key in kb.facts:
            decl = kb.facts[key]
            if scope == "entity" and decl.scope != "entity":
                problems.append(
                    Problem(
                        "unknown-fact",
                        f"'{key}' is a customer-wide fact: set it at the top level",
                        doc.where((*path, key), key=True),
                    )
                )
                continue
            if isinstance(raw, str) and raw.strip().lower() in UNKNOWN_WORDS:
                out[key] = ABSENT
                continue
            checked = _check_value(kb, decl, raw, doc, (*path, key), problems)
            if checked is not None:
                out[key] = checked
            continue
        if key in kb.capabilities and cap_fact is not None:
            if isinstance(raw, bool):
                out[("item", cap_fact, key)] = raw
            elif isinstance(raw, str) and raw.strip().lower() in UNKNOWN_WORDS:
                out[("item", cap_fact, key)] = ABSENT
            else:
                problems.append(Problem("wrong-type", f"{key}: expected yes, no or '?'", where))
            continue
        known = [*kb.facts, *kb.capabilities, *reserved]
        problems.append(
            Problem(
                "unknown-fact",
                f"'{key}' is not a known fact or capability{did_you_mean(str(key), known)}",
                doc.where((*path, key), key=True),
            )
        )
    return out


def _unknown_answers(
    kb: KnowledgeBase,
    doc: Document,
    raw: Any,
    path: tuple[str | int, ...],
    scope: str,
    cap_fact: str | None,
    out: dict[Any, Any],
    problems: list[Problem],
) -> None:
    """`unknown: [fact or capability, ...]`: each was asked and answered "don't know"."""
    if not isinstance(raw, list):
        problems.append(Problem("wrong-type", "unknown: expected a list of facts and capabilities", doc.where(path)))
        return
    for i, item in enumerate(raw):
        decl = kb.facts.get(item) if isinstance(item, str) else None
        if decl is not None and (scope == "customer" or decl.scope == "entity"):
            out[item] = ABSENT
        elif isinstance(item, str) and item in kb.capabilities and cap_fact is not None:
            out[("item", cap_fact, item)] = ABSENT
        else:
            known = [*kb.facts, *kb.capabilities]
            problems.append(
                Problem(
                    "unknown-fact",
                    f"'{item}' is not a fact or capability that can be unknown here{did_you_mean(str(item), known)}",
                    doc.where((*path, i)),
                )
            )


def _check_value(
    kb: KnowledgeBase, decl: FactDecl, raw: Any, doc: Document, path: tuple[str | int, ...], problems: list[Problem]
) -> Any:
    where = doc.where(path)
    if decl.is_list:
        if not isinstance(raw, list):
            problems.append(Problem("wrong-type", f"{decl.id}: expected a list", where))
            return None
        allowed = list(kb.capabilities) if decl.type == "capability-list" else list(decl.values)
        out = []
        for i, item in enumerate(raw):
            if not isinstance(item, str) or item not in allowed:
                what = "capability" if decl.type == "capability-list" else f"value of '{decl.id}'"
                problems.append(
                    Problem(
                        "unknown-capability" if decl.type == "capability-list" else "unknown-value",
                        f"{item!r} is not a {what}{did_you_mean(str(item), allowed)}",
                        doc.where((*path, i)),
                    )
                )
            elif item not in out:
                out.append(item)
        return out
    kind = decl.type
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        problems.append(Problem("wrong-type", f"{decl.id}: expected true or false", where))
        return None
    if kind == "choice":
        if isinstance(raw, str) and raw in decl.values:
            return raw
        problems.append(
            Problem(
                "unknown-value",
                f"{raw!r} is not a value of '{decl.id}'"
                f"{did_you_mean(str(raw), decl.values) or ' (one of: ' + ', '.join(decl.values) + ')'}",
                where,
            )
        )
        return None
    if kind in ("integer", "number"):
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool) and abs(raw) <= 1e9
        if ok and kind == "integer" and not float(raw).is_integer():
            ok = False
        if ok and decl.minimum is not None and raw < decl.minimum:
            ok = False
        if ok and decl.maximum is not None and raw > decl.maximum:
            ok = False
        if ok:
            return normal_number(raw)
        problems.append(
            Problem(
                "wrong-type",
                f"{decl.id}: expected {'a whole number' if kind == 'integer' else 'a number'} within its bounds",
                where,
            )
        )
        return None
    if kind == "version":
        if isinstance(raw, str) and re.match(VERSION_PATTERN, raw):
            return raw
        problems.append(Problem("bad-value", f"{decl.id}: expected a version like 10.0.44 (quoted text)", where))
        return None
    if isinstance(raw, str) and raw.strip() and len(raw) <= 200:
        return raw
    problems.append(Problem("wrong-type", f"{decl.id}: expected text (at most 200 characters)", where))
    return None


_SHARED: dict[str, Analyzer] = {}
_SHARED_MAX = 8


def _fingerprint(kb: KnowledgeBase) -> str:
    """What the analysis depends on, as text: two loads of the same policies share their analyzer."""
    parts = (
        kb.rules,
        [c.name for c in kb.clauses],
        kb.strata,
        list(kb.facts.values()),
        kb.vocabulary_facts,
        sorted((p, repr(pred)) for p, pred in kb.predicates.items()),
        list(kb.types.values()),
        list(kb.capabilities.values()),
        kb.offers,
    )
    return repr(parts)


def analyzer_for(kb: KnowledgeBase, limits: Limits | None = None, *, warnings: bool = True) -> Analyzer:
    """The knowledge base's analyzer, made once per set of policies so that its caches are shared.

    With warnings (the default), a question matters when its answer can change a deployment or a
    warning; without, only when it can change a deployment.
    """
    key = f"podeploy.questionnaire.{'advice' if warnings else 'deployments'}"
    found = kb.engine_cache.get(key)
    if isinstance(found, Analyzer) and (limits is None or found.limits == limits):
        return found
    fingerprint = f"{limits!r}|{warnings}|{_fingerprint(kb)}"
    made = _SHARED.get(fingerprint)
    if made is None:
        made = Analyzer(kb, limits, warnings=warnings)
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.pop(next(iter(_SHARED)))
        _SHARED[fingerprint] = made
    kb.engine_cache[key] = made
    return made


__all__ = [
    "ABSENT",
    "Analysis",
    "Analyzer",
    "Answers",
    "Limits",
    "Question",
    "Session",
    "all_questions",
    "analyzer_for",
    "facts_document",
    "parse_answer",
    "read_answers",
]
