"""Evaluate a facts document against a knowledge base on the chosen engine."""

from __future__ import annotations

from . import reference, rete
from .compiled import compiled
from .decision import Decision, decide
from .derivation import canonical_order, vocabulary_store
from .errors import PodeployError
from .facts import FactsInput
from .knowledge import KnowledgeBase

ENGINES = ("auto", "durable", "reference")


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


def evaluate(kb: KnowledgeBase, facts: FactsInput, engine: str = "auto") -> Decision:
    chosen = resolve_engine(engine)
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
