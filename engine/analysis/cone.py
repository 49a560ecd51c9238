"""What can change the advice: the cone of the deployment (and warning) predicates, and how rules join entities.

Backward from the rules: only facts in the *cone* of the deployment predicates (read by a rule that
concludes, transitively, a deployment) can change it; the others (budget, maturity, region for the
built-ins) are never asked. Locality: rules that only join one entity's facts (and customer-wide ones) are
*local*; what they conclude for an entity depends on that entity's answers alone, and only its *interface*
(what other rules read of it: `fit` for the built-ins) reaches the others. When legal entities meet only
through customer-wide conclusions drawn from one entity at a time, those are *pooled*.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..model.terms import Atom, Rule, Scalar, Var
from ..policy.knowledge import KnowledgeBase


class Cone:
    """The rules of the advice and the facts they read, classified: built once per knowledge base."""

    def __init__(self, kb: KnowledgeBase, outcome_preds: list[str], warning_preds: list[str]) -> None:
        self.kb = kb
        self.outcome_preds = outcome_preds
        self.warning_preds = warning_preds
        self._cone()
        self._classify()
        self._dependencies()

    @property
    def names_matter(self) -> bool:
        """Whether a rule names an entity or customer (then names are kept, not replaced by placeholders)."""
        return self._names_matter

    def _cone(self) -> None:
        kb = self.kb
        reads: dict[str, set[str]] = {}
        for rule in kb.rules:
            for c in rule.conclusions:
                reads.setdefault(c.predicate, set()).update(a.predicate for a in atoms(rule))
        cone = {*self.outcome_preds, *self.warning_preds}
        todo = list(cone)
        while todo:
            for p in reads.get(todo.pop(), ()):
                if p not in cone:
                    cone.add(p)
                    todo.append(p)
        self.predicates = cone
        self.rules = [r for r in kb.rules if any(c.predicate in cone for c in r.conclusions)]
        ids = {r.id for r in self.rules}
        self.cone_kb = replace(
            kb, rules=self.rules, clauses=[c for c in kb.clauses if c.rule.id in ids], memo={}
        )
        literals: set[Scalar] = set()
        for rule in self.rules:
            for atom in atoms(rule):
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
            for atom in atoms(rule):
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
        interface = {a.predicate for r in cross_rules for a in atoms(r) if cls[a.predicate] != "global"}
        interface.update(p for p in (*self.outcome_preds, *self.warning_preds) if cls.get(p) != "global")
        own = {c.predicate for r in self.solo_rules for c in r.conclusions} | {
            p for p, c in cls.items() if c == "local" and not kb.predicates[p].derived
        }
        interface &= own
        self.interface = sorted(interface)
        ids = {r.id for r in self.solo_rules}
        self.solo_kb = replace(
            kb, rules=self.solo_rules, clauses=[c for c in kb.clauses if c.rule.id in ids], memo={}
        )
        solo_reads = {a.predicate for r in self.solo_rules for a in atoms(r)}
        self.solo_atoms = [a for r in self.solo_rules for a in atoms(r) if cls[a.predicate] == "global"]
        self.reads_customer = "customer" in self.predicates
        self.customer_in_solo = "customer" in solo_reads
        self.pooled = self._pooled(cls, key)
        if self.pooled:
            # Each entity is evaluated alone with every rule, the pooled facts given: see _pooled.
            self.solo_rules = list(self.rules)
            self.solo_kb = self.cone_kb
            self.solo_atoms = [a for r in self.rules for a in atoms(r) if cls.get(a.predicate) == "global"]
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
                if any(a.predicate in depends for a in atoms(rule)):
                    for c in rule.conclusions:
                        if c.predicate not in depends:
                            depends.add(c.predicate)
                            changed = True
        for rule in self.rules:
            pools = any(c.predicate in pooled for c in rule.conclusions)
            if pools and any(a.predicate in depends for a in atoms(rule)):
                return []
        self.classes = base
        # What the rules that read the pool conclude, and whether they read it only positively: then a
        # pool that adds nothing there at its largest adds nothing at any size (see _pooled_interface).
        readers = [r for r in self.rules if any(a.predicate in pooled for a in atoms(r))]
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
        deps = {r.id: {a.predicate for a in atoms(r) if a.predicate in kb.facts} for r in self.rules}
        changed = True
        while changed:
            changed = False
            for rule in self.rules:
                have = deps[rule.id]
                size = len(have)
                for atom in atoms(rule):
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

    def independent(
        self, fact_of: Sequence[str], open_customer: Sequence[int], open_local: set[str]
    ) -> tuple[list[list[int]], set[str]]:
        """What of the open facts can be analysed apart from the rest, exactly.

        Returns the groups of open customer-wide dimensions that no rule combines with an open fact of a
        legal entity nor with another group (budget, maturity), and the open facts of legal entities that
        no rule combines with any other open fact, nor carries from one entity to another (region, when
        only receipt scanning reads it): each entity's answer to them can be tried on its own. fact_of
        names the fact of each customer-wide dimension, by index.
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

        customer_facts = {fact_of[i] for i in open_customer}
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
                groups[root] = [i for i in open_customer if find(fact_of[i]) == root]
            elif not facts & customer_facts and not facts & carried:
                separable |= facts
        return sorted(groups.values()), separable

    def _rule_kind(self, rule: Rule, cls: Mapping[str, str], key: Mapping[str, str | None]) -> str:
        """global: reads customer-wide facts only; local: anchored on one entity; cross: anything else."""
        read = list(atoms(rule))
        if any(cls[a.predicate] == "cross" for a in read):
            return "cross"
        if all(cls[a.predicate] == "global" for a in read):
            return "global"
        anchor = self._anchor(rule, cls, key)
        return "local" if anchor is not None else "cross"

    def _anchor(self, rule: Rule, cls: Mapping[str, str], key: Mapping[str, str | None]) -> str | None:
        """The one variable every local condition of the rule binds its entity to, if there is one."""
        names: set[str] = set()
        for clause in rule.clauses:
            bound_positive = set()
            for kind, atom in clause_atoms(clause):
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


def _code_literal(atom: Atom) -> str | None:
    """The code an atom asks for (`warning: {code: low-fit}`), if it names one."""
    for fp in atom.fields:
        if fp.field == "code":
            for t in fp.tests:
                if t.op == "eq" and isinstance(t.operand, str):
                    return t.operand
    return None


def atoms(rule: Rule) -> Iterator[Atom]:
    for clause in rule.clauses:
        for _, atom in clause_atoms(clause):
            yield atom


def clause_atoms(clause: Any) -> Iterator[tuple[str, Atom]]:
    for atom in clause.positives:
        yield "pos", atom
    for atom in clause.negatives:
        yield "not", atom
    for count in clause.counts:
        yield "count", count.atom
