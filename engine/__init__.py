"""podeploy's engine: policies in, explained deployment decisions out.

kb = load_knowledge_base()
decision = evaluate(kb, load_facts(kb, "examples/contoso.yaml"))

The names below are imported on first use, so that a command that loads no knowledge base (`--help`,
`--version`) imports none of the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import BadInput, EngineError, Location, PodeployError, Problem

if TYPE_CHECKING:
    from .evaluation.decision import Decision, EntityDecision, Notice
    from .evaluation.evaluate import evaluate
    from .facts.reading import FactsInput, load_facts
    from .facts.schema import facts_schema
    from .policy.knowledge import KnowledgeBase
    from .policy.loading import load_knowledge_base

# Where each public name lives.
_HOMES = {
    "Decision": "evaluation.decision",
    "EntityDecision": "evaluation.decision",
    "Notice": "evaluation.decision",
    "evaluate": "evaluation.evaluate",
    "FactsInput": "facts.reading",
    "facts_schema": "facts.schema",
    "load_facts": "facts.reading",
    "KnowledgeBase": "policy.knowledge",
    "load_knowledge_base": "policy.loading",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        try:  # a submodule: podeploy.engine.explain.render
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


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
    "evaluate",
    "facts_schema",
    "load_facts",
    "load_knowledge_base",
]
