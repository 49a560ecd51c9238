"""The bounds on the work of one analysis, and the enumeration that samples past them.

Past a bound, combinations are sampled deterministically (weighted, each distinct combination keeping its
true weight) and the analysis says it is not exact.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from typing import Any

from ..records import record


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
# sample only chooses what to ask: it never ends the questionnaire (see Inquiry.analysis).
CONVERSATION = Limits(solo_evaluations=200, tuples=3_000, samples=200)
# The bounds a sampled conversation falls back on before it says that nothing left can change the advice.
THOROUGH = Limits()


def product(
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
    # Each draw is random.choices(options, weights)'s, with the running sums of the weights made once.
    sums: list[tuple[list[int], float, int] | None] = []
    for options in choices:
        running = list(itertools.accumulate(w for _, w in options))
        sums.append((running, running[-1] + 0.0, len(options) - 1) if any(w for _, w in options) else None)
    draw = rng.random
    sample: dict[tuple[Any, ...], int] = {}
    for _ in range(min(limit, draws)):
        picked = []
        for options, summed in zip(choices, sums, strict=True):
            if summed is None:
                picked.append(options[0])
            else:
                running, total, hi = summed
                picked.append(options[bisect.bisect(running, draw() * total, 0, hi)])
        key = tuple(v for v, _ in picked)
        if key not in sample:
            weight = 1
            for _, w in picked:
                weight *= w
            sample[key] = weight
    return list(sample.items()), True
