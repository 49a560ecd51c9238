"""The questionnaire's analysis: which question to ask next, and when nothing left can change the recommendation.

A session holds partial answers: customer-wide facts, and per legal entity its own facts and, item by item,
its capability (or choice) lists. The *recommendation* is the deployment types each legal entity gets (the
facts of predicates with role `deployment`). A question is *relevant* while different answers to it give
different recommendations for some way of answering the other open questions (a completion); the session is
done as soon as every completion gives the same recommendation. '?' (don't know) is one of the answers: the
fact is left out, so its default applies (a capability is then not needed).

How that is decided exactly, and fast enough to run between two questions: only the facts in the cone
of the deployment predicates are asked (cone); interchangeable capabilities and values are enumerated as
one (dimensions); each legal entity is evaluated on its own and only its interface meets the others', by
the reference evaluator on the knowledge base cut down to the cone (states).

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
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..facts.questions import Question, Value, question_key
from ..model.terms import Fact
from ..policy.knowledge import KnowledgeBase
from .bounds import Limits, product
from .changes import Change, Changes, varying
from .cone import Cone
from .dimensions import Dim, Dimensions, same
from .relevance import consider, table_parts, table_witness
from .states import WARNING_MARK, Outcome, StateEvaluator


class Answered(Protocol):
    """What the analysis reads of a session: the customer, its legal entities, the questions, the answers so far."""

    customer: str
    answers: dict[str, Value]
    questions: list[Question]

    @property
    def entity_names(self) -> list[str]: ...

    def analysis_names(self, names_matter: bool) -> tuple[str, ...]: ...

    def question(self, key: str) -> Question: ...


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
    """The questionnaire's reasoning over one knowledge base; caches evaluations across sessions.

    Its parts: the cone (what can change the advice), the dimensions of the completions, and the
    evaluation of states; analyse() searches the completions the answers leave open.
    """

    def __init__(self, kb: KnowledgeBase, limits: Limits | None = None, *, warnings: bool = False) -> None:
        self.kb = kb
        self.limits = limits or Limits()
        outcome_preds = sorted(p for p, pred in kb.predicates.items() if pred.role == "deployment")
        # With warnings, the advice is each entity's deployment and every warning: a question matters
        # when its answer can change either.
        roles = ("warning",) if warnings else ()
        warning_preds = sorted(p for p, pred in kb.predicates.items() if pred.role in roles)
        self.cone = Cone(kb, outcome_preds, warning_preds)
        self.dims = Dimensions(kb, self.cone)
        self.evaluator = StateEvaluator(kb, self.cone, self.dims, self.limits)

    def may_matter(self, question: Question) -> bool:
        """Whether the question's fact is one the recommendation can depend on at all (the cone, not inert)."""
        return question.fact in self.cone.predicates and (
            question.item is None or (question.fact, question.item) not in self.dims.inert
        )

    def first_open(self, session: Answered) -> Question | None:
        """The first unanswered question the advice may depend on, in the vocabulary's order."""
        for q in session.questions:
            if q.key not in session.answers and self.may_matter(q):
                return q
        return None

    def unanalysed(self, session: Answered) -> Analysis:
        """For a customer too large to analyse: every unanswered question the advice may depend on is
        open, in the vocabulary's order, and every deployment type is still possible (not exact)."""
        open_ = [q for q in session.questions if q.key not in session.answers and self.may_matter(q)]
        types = sorted(self.kb.types, key=lambda t: (self.kb.types[t].rank, t))
        possible = [list(types) for _ in session.entity_names]
        chosen = open_[0] if open_ else None
        return Analysis({}, possible, chosen is None, chosen, [q.key for q in open_], {}, False, 0, coarse=True)

    def analyse(self, session: Answered, limits: Limits | None = None) -> Analysis:
        """What the session's answers leave open, within the analyzer's limits (or those given)."""
        limits = limits or self.limits
        cone, dims, evaluator = self.cone, self.dims, self.evaluator
        rng = random.Random(20240601)
        start = evaluator.evaluations
        exact = all(d.exact for d in (*dims.customer, *dims.local))
        names = session.analysis_names(cone.names_matter)
        evaluator.customer_name = session.customer if cone.names_matter else "<customer>"
        n = len(names)
        # Customer-wide answers, by dimension.
        c_answers: dict[int, Value] = {}
        for i, dim in enumerate(dims.customer):
            key = question_key(dim.decl.id, dim.item, None)
            if key in session.answers:
                value = session.answers[key]
                if dim.item is not None:
                    c_answers[i] = value is True
                else:
                    c_answers[i] = dims.rep_of(dim, value)
        # Customer-wide facts that no rule combines with an open fact of a legal entity nor with the other
        # groups (budget, maturity) are settled here at a stand-in value, answered or not, and analysed on their
        # own below: their answers multiply nothing else, and answering one leaves every legal entity's
        # evaluations as they were (in the caches).
        open_local = {
            dim.decl.id
            for dim in dims.local
            for e in range(n)
            if any(question_key(dim.decl.id, m, e) not in session.answers for m in (dim.members or (None,)))
        }
        groups, separable = cone.independent([d.decl.id for d in dims.customer], range(len(dims.customer)), open_local)
        answered = dict(c_answers)
        for group in groups:
            for i in group:
                c_answers[i] = dims.customer[i].reps[0][0]
        apart = [i for i, dim in enumerate(dims.local) if dim.decl.id in separable and not dim.is_class]
        completions, sampled = evaluator.customer_completions(c_answers, rng, limits)
        exact = exact and not sampled
        views = {c: dims.view(c) for c, _ in completions}
        distinct_views = sorted(set(views.values()), key=lambda v: sorted(f.key for f in v))
        limit = max(1, limits.solo_evaluations // max(1, len(distinct_views)))
        # Per entity: its states, and the weight of each interface (overall and per answer to each open dimension).
        hist: list[dict[frozenset[Fact], dict[frozenset[Fact], int]]] = []
        cond: list[dict[frozenset[Fact], dict[tuple[int, Any], Counter[frozenset[Fact]]]]] = []
        open_dims: list[list[tuple[int, Dim]]] = []
        all_states: list[list[tuple[tuple[Value, ...], int]]] = []
        all_counts: list[dict[int, tuple[int, int]]] = []
        solo_names = [names[e] if cone.names_matter else "<entity>" for e in range(n)]
        for e in range(n):
            answers_e: dict[int, Value] = {}
            counts: dict[int, tuple[int, int]] = {}
            for i, dim in enumerate(dims.local):
                if dim.is_class:
                    yes = sum(1 for m in dim.members if session.answers.get(question_key(dim.decl.id, m, e)) is True)
                    unanswered = sum(1 for m in dim.members if question_key(dim.decl.id, m, e) not in session.answers)
                    counts[i] = (yes, unanswered)
                else:
                    key = question_key(dim.decl.id, None, e)
                    if key in session.answers:
                        answers_e[i] = dims.rep_of(dim, session.answers[key])
                    elif i in apart:  # analysed on its own below, at a stand-in value here
                        answers_e[i] = dim.reps[0][0]
            # Each entity samples by its own answers: an entity whose answers did not change keeps its states
            # (and their cached evaluations) from one question to the next, and alike entities share them.
            own_rng = random.Random(repr((solo_names[e], limit, sorted(answers_e.items()), sorted(counts.items()))))
            states, sampled = evaluator.local_states(answers_e, counts, limit, own_rng, limits.samples)
            exact = exact and not sampled
            all_states.append(states)
            all_counts.append(counts)
            open_dims.append(
                [
                    (i, dim)
                    for i, dim in enumerate(dims.local)
                    if (dim.is_class and counts[i][1] > 0) or (not dim.is_class and i not in answers_e)
                ]
            )
        pools: dict[frozenset[Fact], list[frozenset[frozenset[Fact]]]] = {}

        def others(e: int, view: frozenset[Fact]) -> frozenset[frozenset[Fact]]:
            """The pools the other entities can make together, in this view (pooled analysis only)."""
            if not cone.pooled:
                return frozenset()
            if n == 1:
                return frozenset({frozenset()})
            if view not in pools:
                made = [
                    frozenset(evaluator.pool_of(view, lkey, solo_names[x]) for lkey, _ in all_states[x])
                    for x in range(n)
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
            return evaluator.solo(view, lkey, solo_names[e], others(e, view))

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
                            rest = weight // evaluator.class_weight(open_, j)
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
            combos, sampled = product([list(hist[e][view].items()) for e in range(n)], share, rng, limits.samples)
            exact = exact and not sampled
            dist: Counter[Outcome] = Counter()
            tables = [given_own[e].setdefault(c, {}) for e in range(n)]
            for interfaces, w in combos:
                outcome = evaluator.joint(c, interfaces, names)
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
        standing_in = [i for group in groups for i in group if i in answered and not same(answered[i], c_answers[i])]
        if standing_in:
            # Answers of the groups set apart were evaluated at stand-in values: what they conclude is the same in
            # every completion (no open fact meets them), so each outcome takes the answers' own conclusions.
            c_std = completions[0][0]
            c_true = tuple(answered[i] if i in standing_in else v for i, v in enumerate(c_std))
            states0 = [all_states[e][0][0] for e in range(n)]
            standin = evaluator.evaluate_states(c_std, states0, names)
            given = evaluator.evaluate_states(c_true, states0, names)
            outcomes = {evaluator.shifted(o, standin, given): w for o, w in outcomes.items()}
        possible = [
            evaluator.lightest_first({t for o in outcomes for t in o[e] if not t.startswith(WARNING_MARK)})
            for e in range(n)
        ]
        done = len(outcomes) <= 1
        share = max(64, share // 16)  # for each witness search

        def differs(
            c: tuple[Value, ...], c2: tuple[Value, ...], pairs: list[set[tuple[Any, Any]]]
        ) -> set[Change] | None:
            """What two recommendations differ in, for a choice of one interface pair per entity, if any."""
            nonlocal exact
            combos, sampled = product(
                [[(p, 1) for p in sorted(ps, key=evaluator.order)] for ps in pairs], share, rng, limits.samples
            )
            exact = exact and not sampled
            for combo, _ in combos:
                first = tuple(a for a, _ in combo)
                second = tuple(b for _, b in combo)
                if first == second and c == c2:
                    continue
                one, other = evaluator.joint(c, first, names), evaluator.joint(c2, second, names)
                if one != other:
                    return varying([Counter({one: 1}), Counter({other: 1})])
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
                            if not same(r, lkey[i]):
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
                            return varying([own[a], own[b]])
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
                    if same(r, c[i]) or c2 not in present:
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
            for i, dim in enumerate(dims.customer):
                order += 1
                if i in c_answers:
                    continue
                parts = [distribution([(c, w) for c, w in completions if same(c[i], rep)]) for rep, _ in dim.reps]
                q = session.question(question_key(dim.decl.id, dim.item, None))
                witness = functools.partial(customer_witness, i, dim)
                best, chosen = consider([q], parts, order, scores, relevant, changes, best, chosen, witness)
            for e in range(n):
                for i, dim in open_dims[e]:
                    order += 1
                    answers_keys = [(i, True), (i, False)] if dim.is_class else [(i, r) for r, _ in dim.reps]
                    parts = [distribution(completions, e, k) for k in answers_keys]
                    if dim.is_class:
                        # The class's unanswered items are interchangeable: asked in vocabulary order.
                        items = [m for m in dim.members if question_key(dim.decl.id, m, e) not in session.answers]
                        qs = [session.question(question_key(dim.decl.id, m, e)) for m in items]
                    else:
                        qs = [session.question(question_key(dim.decl.id, None, e))]
                    best, chosen = consider(
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
            # The group's answers as given; its open facts at each of their values.
            asked = [i for i in group if i not in answered]
            if not asked:
                continue
            before = len(relevant)
            table: dict[tuple[Value, ...], tuple[Outcome, int]] = {}
            for combo in itertools.product(*(dims.customer[i].reps for i in asked)):
                picked: list[Value] = list(c0)
                for i in group:
                    if i in answered:
                        picked[i] = answered[i]
                weight = 1
                for i, (rep, w) in zip(asked, combo, strict=True):
                    picked[i] = rep
                    weight *= w
                table[tuple(r for r, _ in combo)] = (evaluator.evaluate_states(tuple(picked), states0, names), weight)
            for position, i in enumerate(asked):
                dim = dims.customer[i]
                q = session.question(question_key(dim.decl.id, dim.item, None))
                parts = table_parts(table, position, dim)
                witness = functools.partial(table_witness, table, position, dim)
                best, chosen = consider([q], parts, i + 1, scores, relevant, changes, best, chosen, witness)
            if len(relevant) > before:
                done = False
        for e in range(n):
            own = [i for i in apart if question_key(dims.local[i].decl.id, None, e) not in session.answers]
            if not own:
                continue
            before = len(relevant)
            table = {}
            for combo in itertools.product(*(dims.local[i].reps for i in own)):
                state: list[Value] = list(states0[e])
                weight = 1
                for i, (rep, w) in zip(own, combo, strict=True):
                    state[i] = rep
                    weight *= w
                lkeys = [*states0[:e], tuple(state), *states0[e + 1 :]]
                table[tuple(r for r, _ in combo)] = (evaluator.evaluate_states(c0, lkeys, names), weight)
            for position, i in enumerate(own):
                dim = dims.local[i]
                q = session.question(question_key(dim.decl.id, None, e))
                parts = table_parts(table, position, dim)
                witness = functools.partial(table_witness, table, position, dim)
                order = len(dims.customer) + e * len(dims.local) + i + 1
                best, chosen = consider([q], parts, order, scores, relevant, changes, best, chosen, witness)
            if len(relevant) > before:
                done = False
        if not done and chosen is None:
            # Not settled, yet no single answer was seen to matter: only when the completions were sampled.
            chosen = self.first_open(session)
        evaluations = evaluator.evaluations - start
        return Analysis(outcomes, possible, done, chosen, relevant, scores, exact, evaluations, changes)


def _count(value: Value) -> int:
    """A class dimension's value: how many of its items are needed."""
    assert isinstance(value, int) and not isinstance(value, bool)
    return value
