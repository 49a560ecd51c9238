"""An inquiry: one customer's answers so far and what the analysis makes of them; the analyzer it asks.

A conversation samples early (`CONVERSATION`) to choose the next question quickly; a sampled analysis
that sees nothing left to ask is redone within the thorough bounds before the inquiry says so, so a
sample never settles the advice. One analyzer is made per set of policies, so that sessions share its
caches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..facts.questions import Question, Value, all_questions
from ..policy.knowledge import Derived, KnowledgeBase
from .bounds import THOROUGH, Limits
from .search import Analysis, Analyzer
from .settled import possible_at_most, settled

# Up to this many legal entities a customer too large to analyse is bracketed after every answer.
BRACKET_EVERY_STEP = 16
# The brackets a thorough analysis tries before enumerating: the whole space, then its two halves.
FIRST_PROOF = 3


@dataclass(slots=True)
class Inquiry:
    """One customer's answers so far; asks the analyzer what to ask next."""

    analyzer: Analyzer
    customer: str
    entities: list[str] = field(default_factory=list)  # empty: one legal entity, named after the customer
    answers: dict[str, Value] = field(default_factory=dict)
    questions: list[Question] = field(default_factory=list)
    _by_key: dict[str, Question] = field(default_factory=dict)
    _analysis: Analysis | None = None
    # Called before a sampled analysis that saw nothing left to ask is redone within the thorough
    # bounds (the one step that can take seconds): a terminal says what it is doing.
    before_thorough: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.questions = all_questions(self.analyzer.kb, self.customer, self.entities)
        self._by_key = {q.key: q for q in self.questions}

    @property
    def entity_names(self) -> list[str]:
        return list(self.entities) if self.entities else [self.customer]

    def analysis_names(self, names_matter: bool) -> tuple[str, ...]:
        if names_matter:
            return tuple(self.entity_names)
        return tuple(f"<entity {i + 1}>" for i in range(len(self.entity_names)))

    def question(self, key: str) -> Question:
        return self._by_key[key]

    def analysis(self) -> Analysis:
        if self._analysis is None:
            large = len(self.entity_names) > self.analyzer.limits.exact_entities
            if large:
                # Too large to analyse: every question that may matter is asked, in order, unless a
                # bracket proves the advice settled first. A bracket joins every legal entity's maybes
                # with every other's (a quarter of a second at 30 entities), so it is tried unsplit, and
                # past BRACKET_EVERY_STEP legal entities only once no question is left.
                found = self.analyzer.unanalysed(self)
                if found.next is None or len(self.entity_names) <= BRACKET_EVERY_STEP:
                    proven = settled(self.analyzer, self, budget=1)
                    found = found if proven is None else proven
            elif self.analyzer.limits == THOROUGH:
                # A bracket settles a finished workshop at once (or after a split or two); a proof that
                # fails can cost a score of brackets, more than the analysis of a customer with an open
                # question. So the analysis runs after the first brackets, and the whole proof only when
                # the analysis had to sample and saw nothing left that could change the advice.
                proven = settled(self.analyzer, self, budget=FIRST_PROOF)
                if proven is None:
                    found = self.analyzer.analyse(self)
                    if not found.exact and found.next is None:
                        proven = settled(self.analyzer, self)
                found = found if proven is None else proven
            else:
                found = self.analyzer.analyse(self)
                if not found.exact and found.next is None:
                    # A sample saw nothing left that could change the advice: before saying so, it is
                    # proven (settled), or else every possibility is tried, within the thorough bounds.
                    proven = settled(self.analyzer, self)
                    if proven is not None:
                        found = proven
                    else:
                        if self.before_thorough is not None:
                            self.before_thorough()
                        found = self.analyzer.analyse(self, THOROUGH)
            if not found.exact and not found.coarse:
                # A sample may miss a type some answers would still give: what is still possible is then
                # what the bracket allows (never fewer types than the answers can give), not what it saw.
                found.possible = self._at_most(found.possible)
            self._analysis = found
        return self._analysis

    def _at_most(self, sampled: list[list[str]]) -> list[list[str]]:
        allowed = possible_at_most(self.analyzer, self)
        if allowed is None:
            return sampled
        lightest_first = self.analyzer.evaluator.lightest_first
        return [lightest_first(set(seen) | more) for seen, more in zip(sampled, allowed, strict=True)]


# The analyzer a knowledge base last made, with warnings (advice) and without (deployments only).
_ANALYZERS: dict[bool, Derived[Analyzer]] = {True: Derived("analyzer-advice"), False: Derived("analyzer-deployments")}
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
    key = _ANALYZERS[warnings]
    found = kb.recall(key)
    if found is not None and (limits is None or found.limits == limits):
        return found
    fingerprint = f"{limits!r}|{warnings}|{_fingerprint(kb)}"
    made = _SHARED.get(fingerprint)
    if made is None:
        made = Analyzer(kb, limits, warnings=warnings)
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.pop(next(iter(_SHARED)))
        _SHARED[fingerprint] = made
    kb.remember(key, made)
    return made
