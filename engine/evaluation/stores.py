"""The facts of one compiled evaluation, indexed for its joins: by predicate and by (predicate, field, value)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from ..model.terms import Fact, Scalar

EMPTY: list[Fact] = []  # no facts: what a lookup of an absent key finds (never added to)
# An index key: (predicate, field, the value's class, value). True == 1 in Python; matching keeps them
# apart, and so must the index. Numbers are normalised (a whole float is an int) before they reach a
# store, so an int and a float are never equal.
Key = tuple[str, str, type, Any]


# A fact's values by field and its index keys, made once per compiled knowledge base for every fact its
# runs meet (a run adds the same conclusions again and again from what it remembers); read-only.
Known = dict[Fact, tuple[dict[str, Scalar], tuple[Key, ...]]]
KNOWN_SIZE = 200_000


class Index:
    """Facts by predicate and by (predicate, field, value)."""

    __slots__ = ("by_key", "by_predicate", "known", "values")

    def __init__(self, known: Known | None = None) -> None:
        self.by_predicate: dict[str, list[Fact]] = {}
        self.by_key: dict[Key, list[Fact]] = {}
        self.values: dict[Fact, dict[str, Scalar]] = {}
        self.known = known

    def add(self, fact: Fact) -> bool:
        if fact in self.values:
            return False
        known = self.known
        entry = None if known is None else known.get(fact)
        if entry is None:
            predicate = fact.predicate
            entry = (dict(fact.values), tuple((predicate, n, v.__class__, v) for n, v in fact.values))
            if known is not None and len(known) < KNOWN_SIZE:
                known[fact] = entry
        values, keys = entry
        self.values[fact] = values
        self.by_predicate.setdefault(fact.predicate, []).append(fact)
        by_key = self.by_key
        for key in keys:
            by_key.setdefault(key, []).append(fact)
        return True


class Store:
    """The facts of one evaluation: the vocabulary's (shared, read-only) and this run's."""

    __slots__ = ("base", "own")

    def __init__(self, base: Index, known: Known | None = None) -> None:
        self.base = base
        self.own = Index(known)

    def add(self, fact: Fact) -> bool:
        if fact in self.base.values:
            return False
        return self.own.add(fact)

    def of(self, predicate: str) -> list[Fact]:
        return [*self.base.by_predicate.get(predicate, ()), *self.own.by_predicate.get(predicate, ())]

    def count(self, predicate: str) -> int:
        return len(self.base.by_predicate.get(predicate, ())) + len(self.own.by_predicate.get(predicate, ()))

    def count_own(self) -> int:
        return len(self.own.values)

    def values_of(self, fact: Fact) -> dict[str, Scalar]:
        found = self.own.values.get(fact)
        return found if found is not None else self.base.values[fact]

    def lookup(self, predicate: str, keys: list[tuple[str, Any]]) -> Iterable[Fact]:
        """The facts of predicate with every value keys give: the smallest of their index entries."""
        if not keys:
            return itertools.chain(self.base.by_predicate.get(predicate, ()), self.own.by_predicate.get(predicate, ()))
        best: tuple[list[Fact], list[Fact]] | None = None
        size = -1
        base, own = self.base.by_key, self.own.by_key
        for field, value in keys:
            k = (predicate, field, value.__class__, value)
            found = (base.get(k, EMPTY), own.get(k, EMPTY))
            n = len(found[0]) + len(found[1])
            if best is None or n < size:
                best, size = found, n
                if n == 0:
                    break
        assert best is not None
        return itertools.chain(*best)
