"""What an answer can change: each entity's deployment and each warning whose odds differ between its answers."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .states import WARNING_MARK, Outcome

Change = tuple[Any, ...]


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


def varying(parts: list[Counter[Outcome]]) -> set[Change]:
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
