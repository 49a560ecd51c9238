"""Evaluate a facts document against a knowledge base on the chosen engine."""

from __future__ import annotations

import sys

from ..errors import BadInput, PodeployError
from ..facts.reading import FactsInput
from ..policy.knowledge import Derived, KnowledgeBase
from . import reference, rete
from .compiled import compiled
from .decision import Decision, decide
from .derivation import canonical_order, vocabulary_store
from .engines import ENGINES

__all__ = ["ENGINES", "engine_for", "engine_limit", "engine_refusal", "evaluate", "fallback_note", "resolve_engine"]


def resolve_engine(engine: str) -> str:
    """The engine that will run: 'durable' when durable-rules imports, else 'reference'."""
    if engine == "reference":
        return "reference"
    if rete.available():
        return "durable"
    if engine == "durable":
        raise PodeployError("durable-rules cannot be imported on this Python; use --engine reference")
    rete.warn_unavailable()
    return "reference"


def engine_limit(exc: BadInput) -> str:
    """The first durable-rules limit a refusal names, located; anything else the refusal says is raised again."""
    if any(p.code != "engine-limit" for p in exc.problems):
        raise exc
    first = exc.problems[0]
    return f"{first.location}: {first.message}"


def engine_refusal(kb: KnowledgeBase) -> str | None:
    """Why durable-rules cannot run the knowledge base (its first engine limit, located), or None when it can.

    The network is compiled (and registered) once per knowledge base; a refusal is remembered as well.
    """
    return kb.derived(_REFUSAL, lambda: _refusal(kb))


_REFUSAL: Derived[str | None] = Derived("rete-refused")
_REFUSAL_SAID: Derived[bool] = Derived("rete-refusal-said")


def _refusal(kb: KnowledgeBase) -> str | None:
    try:
        rete.network_for(kb)
    except BadInput as exc:
        return engine_limit(exc)
    return None


def fallback_note(refusal: str) -> str:
    """The one line that says a knowledge base runs on the reference evaluator, and why."""
    return f"podeploy: durable-rules cannot run these policies ({refusal}); using the reference evaluator"


def engine_for(kb: KnowledgeBase, engine: str, *, note: bool = True) -> str:
    """The engine that runs kb: `engine` resolved, where 'auto' falls back on the reference evaluator
    (same semantics) for policies past a durable-rules limit, saying so once on standard error.

    Asked for by name ('durable'), durable-rules refuses such policies with the located limit.
    """
    chosen = resolve_engine(engine)
    if chosen != "durable":
        return chosen
    if engine == "durable":
        rete.network_for(kb)
        return chosen
    refusal = engine_refusal(kb)
    if refusal is None:
        return chosen
    if note and not kb.recall(_REFUSAL_SAID):
        kb.remember(_REFUSAL_SAID, True)
        print(fallback_note(refusal), file=sys.stderr)
    return "reference"


def evaluate(kb: KnowledgeBase, facts: FactsInput, engine: str = "auto") -> Decision:
    chosen = engine_for(kb, engine)
    # Both engines enumerate every match of a rule; durable-rules does it in C, past any check. The
    # compiled evaluator matches alike and cheaply (about 2 ms for a customer of three entities), and
    # refuses a rule whose joins would grow past what one evaluation may do, before either engine starts.
    compiled(kb).run(facts.ground)
    if chosen == "durable":
        store, firings = rete.network_for(kb).run(facts.ground)
    else:
        store, firings = reference.run(kb, facts.ground, base=vocabulary_store(kb))
    trace = canonical_order(firings, [*kb.vocabulary_facts, *facts.ground])
    return decide(kb, facts, chosen, store, trace)
