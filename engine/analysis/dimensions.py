"""The dimensions of the completions: the ways of answering the open questions that the rules tell apart.

Symmetry: capabilities offered by the same deployment types and named by no rule are interchangeable
(permuting them maps the knowledge base onto itself), so an entity's open capabilities are enumerated as
*how many of each class* (weighted by binomial counts), not as subsets. Values of a fact that no rule
tells apart (same literal tests passed, never bound to a variable) are one value. A list item
(capability) is *inert*, never asked, when every rule condition it could match needs vocabulary facts
that fail for it (a capability every type offers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..facts.questions import ABSENT, Absent, Value
from ..model.fact_types import fact_type
from ..model.terms import (
    Atom,
    Clause,
    Fact,
    FactDecl,
    FieldPattern,
    Rule,
    Scalar,
    Var,
    make_fact,
    normal_number,
)
from ..policy.knowledge import KnowledgeBase
from ..records import record
from .cone import Cone, atoms, clause_atoms


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


class Dimensions:
    """The customer-wide and per-entity dimensions of one cone, and the facts a completion stands for."""

    def __init__(self, kb: KnowledgeBase, cone: Cone) -> None:
        self.kb = kb
        self.cone = cone
        self.inert = self._inert_items()
        self.customer = self._customer_dims()
        self.local = self._local_dims()
        self._facts: dict[tuple[str, tuple[Value, ...]], list[Fact]] = {}

    def _value_atoms(self, decl: FactDecl) -> list[Atom]:
        return [a for r in self.cone.rules for a in atoms(r) if a.predicate == decl.id]

    def _bound(self, decl: FactDecl) -> bool:
        """Is the fact's value compared with a variable, or bound to one that the rule uses, in the cone?

        A variable used only in a rule's explanation does not tell values apart: values that pass the
        same literal tests then give the same advice, worded differently.
        """
        for rule in self.cone.rules:
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
        fact = None if value is ABSENT else make_fact(decl.id, {"value": ground_value(decl, value)})  # type: ignore[arg-type]
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
        for rule in self.cone.rules:
            for clause in rule.clauses:
                for atom in (*clause.positives, *clause.negatives, *(c.atom for c in clause.counts)):
                    if atom.predicate == decl.id:
                        found.append((rule, clause, atom))
        return found

    def _scalar_dim(self, decl: FactDecl) -> Dim:
        bound = self._bound(decl)
        kind = fact_type(decl)
        finite = kind.values(decl, ()) is not None  # a choice or a yes/no: every value is a candidate
        values = kind.told_apart(decl, ()) if finite else self._literal_reps(decl)
        candidates: list[tuple[Value, int]] = [(v, 1) for v in values]
        exact = finite or not bound
        if decl.default is None:
            candidates.append((ABSENT, 1))
        grouped: dict[tuple[Any, ...], list[tuple[Value, int]]] = {}
        for value, weight in candidates:
            grouped.setdefault(self._signature(decl, value), []).append((value, weight))
        # A choice's weight is how many of its values a representative stands for; an open-ended fact's
        # representatives (ranges between the literals rules test) weigh one each.
        counted = finite
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
        return fact_type(decl).told_apart(decl, found)

    def _customer_dims(self) -> list[Dim]:
        dims: list[Dim] = []
        for decl in self.kb.facts.values():
            if decl.scope != "customer" or decl.id not in self.cone.predicates:
                continue
            if decl.is_list:
                items = fact_type(decl).items(decl, self.kb.capabilities)
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
        capability_lists = [d for d in kb.capability_lists() if d.id in self.cone.predicates]
        symmetric = len(capability_lists) == 1 and capability_lists[0].scope == "entity"
        dims: list[Dim] = []
        for decl in kb.facts.values():
            if decl.scope != "entity" or decl.id not in self.cone.predicates:
                continue
            if not decl.is_list:
                dims.append(self._scalar_dim(decl))
                continue
            groups: dict[Any, list[str]] = {}
            if decl.type == "capability-list":
                for cap in kb.capabilities:
                    if (decl.id, cap) in self.inert:
                        continue
                    named = cap in self.cone.literals or not symmetric
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
            if not decl.is_list or decl.id not in self.cone.predicates:
                continue
            items = fact_type(decl).items(decl, kb.capabilities)
            for item in items:
                values: dict[str, Scalar] = {"value": item}
                if decl.scope == "entity":
                    values["entity"] = "entity"
                fact = make_fact(decl.id, values)
                if not any(self._usable(rule, fact, vocabulary) for rule in self.cone.rules):
                    inert.add((decl.id, item))
        return inert

    def _usable(self, rule: Rule, fact: Fact, vocabulary: set[str]) -> bool:
        for clause in rule.clauses:
            for kind, atom in clause_atoms(clause):
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

    def rep_of(self, dim: Dim, value: Value) -> Value:
        """The representative value standing for an answer."""
        for r, _ in dim.reps:
            if same(r, value):
                return r
        if dim.classes:  # values grouped by the literal tests they pass: the answer's group
            signature = self._signature(dim.decl, value)
            for (r, _), sig in zip(dim.reps, dim.classes, strict=True):
                if sig == signature:
                    return r
        return value  # an open-ended fact compared with variables: evaluated as answered

    def customer_facts(self, c: tuple[Value, ...]) -> list[Fact]:
        facts: list[Fact] = []
        for dim, value in zip(self.customer, c, strict=True):
            facts.extend(self.dim_facts(dim, value))
        return facts

    def local_facts(self, name: str, lkey: tuple[Value, ...]) -> list[Fact]:
        found = self._facts.get((name, lkey))
        if found is None:
            found = [make_fact("entity", {"name": name})]
            for dim, value in zip(self.local, lkey, strict=True):
                found.extend(self.dim_facts(dim, value, name))
            self._facts[(name, lkey)] = found
        return found

    def dim_facts(self, dim: Dim, value: Value, entity: str | None = None) -> list[Fact]:
        """The facts one dimension's value stands for: customer-wide, or of the entity named."""
        decl = dim.decl
        scope = {} if entity is None else {"entity": entity}
        if dim.is_class:
            assert isinstance(value, int)
            return [make_fact(decl.id, {**scope, "value": item}) for item in dim.members[:value]]
        if dim.item is not None:
            return [make_fact(decl.id, {**scope, "value": dim.item})] if value is True else []
        if value is ABSENT:
            if decl.default is None:
                return []
            value = decl.default
        assert not isinstance(value, Absent)
        return [make_fact(decl.id, {**scope, "value": ground_value(decl, value)})]

    def view(self, c: tuple[Value, ...]) -> frozenset[Fact]:
        """The customer-wide facts the local rules can see: those matching a condition of theirs."""
        return frozenset(f for f in self.customer_facts(c) if any(_atom_may_match(a, f) for a in self.cone.solo_atoms))


def _used_beyond(rule: Rule, clause: Clause, atom: Atom, name: str) -> bool:
    """Is the variable used by the clause other than in this atom, or by a conclusion (the explanation aside)?"""
    for other in (*clause.positives, *clause.negatives, *(c.atom for c in clause.counts)):
        if other is not atom and name in other.variables():
            return True
    return any(isinstance(v, Var) and v.name == name for c in rule.conclusions for _, v in c.values)


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


def same(a: Any, b: Any) -> bool:
    """Equal and of one type (True is not 1)."""
    return a is b or (type(a) is type(b) and a == b)


def ground_value(decl: FactDecl, value: Scalar) -> Scalar:
    return normal_number(fact_type(decl).ground(value))
