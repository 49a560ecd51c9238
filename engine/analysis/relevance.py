"""Whether an answer can change the recommendation, and how much it tells about it.

A question is relevant when its answers change the odds of the recommendations (exact, in integers), or
else when two completions that differ only in its answer are recommended differently (a witness). Its
score is the mutual information between its answer and the recommendation.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from ..facts.questions import Question, Value
from .changes import Change, Changes, varying
from .dimensions import Dim, same
from .states import Outcome


def consider(
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
        changed = functools.partial(varying, parts)  # worked out only if asked for (the open questions)
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


def table_parts(
    table: Mapping[tuple[Value, ...], tuple[Outcome, int]], position: int, dim: Dim
) -> list[Counter[Outcome]]:
    """The weight of each recommendation in an enumerated table, per answer to one of its dimensions."""
    parts: list[Counter[Outcome]] = []
    for rep, _ in dim.reps:
        part: Counter[Outcome] = Counter()
        for values, (outcome, w) in table.items():
            if same(values[position], rep):
                part[outcome] += w
        parts.append(part)
    return parts


def table_witness(
    table: Mapping[tuple[Value, ...], tuple[Outcome, int]], position: int, dim: Dim
) -> set[Change] | None:
    """Two entries of an enumerated table that differ only in one answer and give two recommendations."""
    for values, (outcome, _) in table.items():
        for rep, _ in dim.reps:
            other = (*values[:position], rep, *values[position + 1 :])
            found = table.get(other)
            if found is not None and found[0] != outcome:
                return varying([Counter({outcome: 1}), Counter({found[0]: 1})])
    return None


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
