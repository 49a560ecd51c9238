"""The knowledge base's clauses as durable-rules patterns: values tagged by type, each clause's conditions as
the engine's expressions (its 'in' lists spread into variants), and the clauses shared out among rulesets."""

from __future__ import annotations

from typing import Any

from ..model.terms import Atom, Scalar, Var
from ..policy.knowledge import CompiledClause, KnowledgeBase
from .derivation import triggers
from .limits import EngineLimit

STAGE = "__stage"
STAGE_BUCKET = 200  # clauses sharing one stage pattern; the engine takes at most 255 on one chain
MAX_VARIANTS = 64

_NUMBER_OFFSET = 10**15
_NUMBER_DIGITS = 16


def encode(value: Scalar) -> Scalar:
    """Tag a value so that the engine compares only like with like.

    Numbers become fixed-width digit strings whose text order is their numeric order: the
    engine mis-compares floats it reads in exponent form (1e-05), tells 2 from 2.0 in joins,
    and crashes on some ordering joins between number fields of one predicate; it compares
    equal-length digit strings correctly.
    """
    if isinstance(value, bool):
        return "b:1" if value else "b:0"
    if isinstance(value, str):
        return "s:" + value
    micro = round(value * 1_000_000) + _NUMBER_OFFSET
    return "n:" + str(micro).zfill(_NUMBER_DIGITS)


class Patterns:
    """The engine patterns of a knowledge base's clauses, compiled once per clause and stage bucket, with the
    comparisons each leaves to be checked after the engine's match."""

    def __init__(self, kb: KnowledgeBase, names: dict[str, str]) -> None:
        self.kb = kb
        self.names = names  # the engine's name for each field (rete.property_names)
        self.optional = {
            (pid, name) for pid, pred in kb.predicates.items() for name, decl in pred.fields.items() if decl.optional
        }
        self.checked_here: dict[int, tuple[bool, tuple[Atom, ...]]] = {}
        self._variants: dict[tuple[int, int], list[list[dict[str, Any]]]] = {}

    def partition(self, shard_size: int) -> list[tuple[list[int], str | None]]:
        """Clause positions per ruleset, each with the customer fact that puts it in use (None: always)."""
        clauses = self.kb.clauses
        sizes = [len(self.variants(clause, position, 0)) for position, clause in enumerate(clauses)]
        room = max(shard_size - 2, 1)  # every ruleset also has its start and catch-all rules
        if sum(sizes) <= room:
            return [(list(range(len(clauses))), None)]
        groups: dict[str | None, list[int]] = {None: []}
        for position, trigger in enumerate(triggers(self.kb)):
            groups.setdefault(trigger, []).append(position)
        parts: list[tuple[list[int], str | None]] = []
        for trigger in [None, *sorted(t for t in groups if t is not None)]:
            chunk: list[int] = []
            size = 0
            for position in groups[trigger]:
                if chunk and size + sizes[position] > room:
                    parts.append((chunk, trigger))
                    chunk, size = [], 0
                chunk.append(position)
                size += sizes[position]
            if chunk:
                parts.append((chunk, trigger))
        return parts or [([], None)]

    def variants(self, clause: CompiledClause, position: int, bucket: int) -> list[list[dict[str, Any]]]:
        """Pattern lists for a clause (see _compile), compiled once per stage bucket."""
        key = (position, bucket)
        if key not in self._variants:
            self._variants[key] = self._compile(clause, position, bucket)
        return self._variants[key]

    def _compile(self, clause: CompiledClause, position: int, bucket: int) -> list[list[dict[str, Any]]]:
        """Pattern lists for a clause; a positive atom's 'in' list spreads into one variant per value.

        Equality joins and literal tests run in the engine. Ordering and inequality comparisons
        between two facts crash durable-rules now and then (measured: a single rule comparing two
        facts of one predicate with 'ne' crashed 4 runs in 30), so they, and any 'not' that needs
        one, are checked here once the engine has matched the rest.
        """
        n, b = self.names["n"], self.names["b"]
        stage = {"s": {"$and": [{"k": STAGE}, {n: encode(clause.stratum)}, {b: encode(bucket)}]}}
        results: list[list[dict[str, Any]]] = [[stage]]
        sources: dict[str, tuple[str, str]] = {}
        compares_here = False
        for j, atom in enumerate(clause.clause.positives):
            alias = f"a{j}"
            options, skipped = self.expressions(atom, sources, alias, spread=True)
            compares_here = compares_here or skipped
            results = [[*r, {alias: o}] for r in results for o in options]
            if len(results) > MAX_VARIANTS:
                raise EngineLimit(
                    f"rule '{clause.rule.id}' spreads into more than {MAX_VARIANTS} engine rules "
                    "through its 'in' lists; shorten them",
                    atom.location,
                )
        negations: list[dict[str, Any]] = []
        negated_here: list[Atom] = []
        for atom in clause.clause.negatives:
            expressions, skipped = self.expressions(atom, sources, None, spread=True)
            if skipped:
                negated_here.append(atom)
                continue
            for expression in expressions:
                negations.append({f"n{len(negations)}$not": expression})
        self.checked_here[position] = (compares_here, tuple(negated_here))
        return [r + negations for r in results]

    def expressions(
        self, atom: Atom, sources: dict[str, tuple[str, str]], alias: str | None, *, spread: bool
    ) -> tuple[list[dict[str, Any]], bool]:
        """Engine expressions for an atom: literal tests first (they share alpha nodes), equality joins last.

        One expression per combination of the atom's 'in' values: alternatives for a positive
        atom, and for a negated one each combination negated on its own ('not (a in A and b in B)'
        holds when no combination is present). Also says whether a comparison with another
        fact was left out, to be checked after the engine's match.
        """
        literal: list[dict[str, Any]] = [{"k": atom.predicate}]
        joins: list[dict[str, Any]] = []
        choices: list[list[dict[str, Any]]] = []
        skipped = False
        for fp in atom.fields:
            key = self.names[fp.field]
            if (atom.predicate, fp.field) in self.optional:
                literal.append({"$ex": {key: 1}})
            for test in fp.tests:
                if test.op == "in":
                    values = dict.fromkeys(encode(v) for v in test.operand)  # type: ignore[union-attr]
                    choices.append([{key: v} for v in values])
                elif isinstance(test.operand, Var):
                    if test.op == "eq":
                        joins.append(self._compare(key, "eq", sources[test.operand.name]))
                    else:
                        skipped = True
                elif test.op == "not_in":
                    literal.extend({"$neq": {key: encode(v)}} for v in test.operand)  # type: ignore[union-attr]
                else:
                    literal.append(self._compare(key, test.op, encode(test.operand)))  # type: ignore[arg-type]
            if fp.bind is not None:
                if fp.bind.name in sources:
                    joins.append(self._compare(key, "eq", sources[fp.bind.name]))
                elif alias is not None:
                    sources[fp.bind.name] = (alias, key)
        combos: list[list[dict[str, Any]]] = [[]]
        for options in choices:
            combos = [[*c, o] for c in combos for o in options]
        return [{"$and": literal + combo + joins} for combo in combos], skipped

    @staticmethod
    def _compare(key: str, op: str, right: Any) -> dict[str, Any]:
        if isinstance(right, tuple):
            right = {right[0]: right[1]}
        if op == "eq":
            return {key: right}
        name = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}[op]
        return {name: {key: right}}
