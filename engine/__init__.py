"""podeploy's engine: policies in, explained deployment decisions out.

kb = load_knowledge_base()
decision = kb.evaluate(load_facts(kb, "examples/contoso.yaml"))
"""

from __future__ import annotations

from .decision import Decision, EntityDecision, Notice
from .errors import BadInput, EngineError, Location, PodeployError, Problem
from .facts import FactsInput, facts_schema, load_facts
from .knowledge import KnowledgeBase, load_knowledge_base

__all__ = [
    "BadInput",
    "Decision",
    "EngineError",
    "EntityDecision",
    "FactsInput",
    "KnowledgeBase",
    "Location",
    "Notice",
    "PodeployError",
    "Problem",
    "facts_schema",
    "load_facts",
    "load_knowledge_base",
]
