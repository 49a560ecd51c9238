"""`podeploy what-if FACTS`: the smallest changes that make a deployment type the recommendation, or the reverse.

Search (`--target TYPE`): every smallest set of changes to FACTS under which TYPE is the
recommendation for `--entity NAME`, or for every legal entity when no entity is given. A change is:
drop a requirement (top level, or a legal entity's own), add one (any capability, top level or to a
listed legal entity), or give a choice or boolean fact another allowed value (`existing_solution`,
`plans_finance`, `budget`, `pm_maturity`, `region`, and any choice or boolean fact a layer declares;
a number, version or text fact takes the values that make a difference to the rules: see
engine/tools/whatif/changes.py `open_values`). The search is breadth-first over the number of
changes and exact: it evaluates every set of 1 change, then every set of 2, ..., and stops at the
first size that works, so every set it returns is minimal. It never evaluates part of a size: before
a size whose sets would take it past `--budget` sets (default 20,000) or past
`--max-changes` (default 3), it stops and says "searched all sets of up to K changes (S sets,
N evaluations); no set found; a set of more than K changes may exist (...)". Sets are evaluated on
the reference evaluator (same semantics as durable-rules); each set returned is evaluated again on
`--engine` for the steps it shows.

Apply (`--drop CAPABILITY`, `--add CAPABILITY`, `--set FACT=VALUE`, each repeatable): the
recommendation under those changes and what changes against the original. Without `--entity`,
`--drop` removes the capability wherever it is written, `--add` adds it at the top level and
`--set` sets the top-level value; with `--entity`, they edit that legal entity's own entry
(customer-wide facts are always set at the top level).

Unknown types, entities, capabilities, facts or values are bad input (exit status 2), located at
the option (`--target: unknown-type: ...`).

JSON of a search (`--format json`)::

    {"mode": "search", "customer": "Fabrikam Consulting", "target": "resource-non-stocked",
     "entity": null,                       # the --entity given, or null
     "scope": "every-entity",              # or "entity"
     "entities": ["Fabrikam Consulting"],  # the legal entities that must get the target
     "before": [{"name": "...", "deployment": "lite"}],
     "search": {"candidates": 53, "max_changes": 3, "budget": 20000, "searched_up_to": 1,
                "sets": 54, "evaluations": 54, "found": true, "minimal": true,
                "stopped": null,           # or "max-changes" | "budget" | "exhausted" (when none found)
                "message": "minimal: no set of fewer than 1 changes works (...)"},
     "solutions": [                        # by size, then in the candidates' order
       {"size": 1,
        "changes": [{"kind": "add", "fact": "requirements", "value": "receipt-ocr", "entity": null,
                     "text": "add receipt-ocr"}],     # kind: drop | add | set
        "deployments": ["resource-non-stocked"],
        "entities": [{"name": "...", "target": true, "before": "lite", "after": "resource-non-stocked",
                      "gaps": [],
                      "decided_by": {"step": 7, "rule": "lightest-covering-type",
                                     "location": "policies/choosing.yaml:68:5", "layer": "built-in",
                                     "source": "...", "explanation": "..."},
                      "no_longer": "why the former type is no longer recommended, or null"}],
        "differences": [{"what": "deployment", "entity": "...", "before": "lite",
                         "after": "resource-non-stocked"}]}],   # what: deployment | gaps | warning | note
     "engine": "durable"}

JSON of apply::

    {"mode": "apply", "customer": "...", "changes": [<change>, ...],
     "deployments": {"before": [...], "after": [...]},
     "entities": [<entity as in a solution; target is false>],
     "differences": [<difference>, ...],
     "warnings": [{"code": "...", "message": "...", "entity": "..."}], "notes": [...],
     "engine": "durable"}
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import click
from podeploy.cli.boundary import Command
from podeploy.cli.options import engine_option, layers_options, policy_layers
from podeploy.engine.errors import BadInput, Location, Problem
from podeploy.engine.explain import render
from podeploy.engine.facts.layers import load_for_facts
from podeploy.engine.io.outputs import StatusLine
from podeploy.engine.tools.whatif.answer import apply_text, search_text
from podeploy.engine.tools.whatif.applying import apply
from podeploy.engine.tools.whatif.searching import DEFAULT_BUDGET, DEFAULT_MAX_CHANGES, search


class SearchProgress(StatusLine):
    """A progress line on a terminal, once a search has run for a second: which size, how many sets."""

    def __init__(self, stream: TextIO, *, after: float = 1.0) -> None:
        super().__init__(stream)
        self.start = time.monotonic()
        self.after = after

    def __call__(self, size: int, done: int, total: int) -> None:
        if time.monotonic() - self.start < self.after:
            return
        noun = "change" if size == 1 else "changes"
        self.draw(f"  (trying sets of {size} {noun}: {done:,} of {total:,})", last=done >= total)


@click.command("what-if", cls=Command)
@click.argument("facts", metavar="FACTS")
@click.option("--target", metavar="TYPE", help="Search for the smallest changes that make TYPE the recommendation.")
@click.option("--entity", metavar="NAME", help="The legal entity to move (default: every legal entity).")
@click.option("--drop", "drops", multiple=True, metavar="CAPABILITY", help="Apply: drop a requirement; repeatable.")
@click.option("--add", "adds", multiple=True, metavar="CAPABILITY", help="Apply: add a requirement; repeatable.")
@click.option("--set", "sets", multiple=True, metavar="FACT=VALUE", help="Apply: set a fact; repeatable.")
@click.option(
    "--max-changes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_CHANGES,
    show_default=True,
    help="The largest set of changes the search tries.",
)
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=DEFAULT_BUDGET,
    show_default=True,
    help="The most change sets the search evaluates; it stops before a size that would pass it.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@layers_options
@engine_option
def what_if(
    facts: str,
    target: str | None,
    entity: str | None,
    drops: Sequence[str],
    adds: Sequence[str],
    sets: Sequence[str],
    max_changes: int,
    budget: int,
    fmt: str,
    policy_dirs: Sequence[str],
    packs: Sequence[str],
    as_of: str | None,
    engine: str,
) -> None:
    """The smallest changes to FACTS that make --target TYPE the recommendation, or the effect of given changes."""
    applying = bool(drops or adds or sets)
    if target is not None and applying:
        raise BadInput(
            [
                Problem(
                    "conflicting-options",
                    "give --target to search, or --drop/--add/--set to apply, not both",
                    Location("--target"),
                )
            ]
        )
    if target is None and not applying:
        raise BadInput(
            [
                Problem(
                    "missing-option",
                    "give --target TYPE to search, or --drop, --add or --set to apply changes",
                    Location("--target"),
                )
            ]
        )
    kb, doc = load_for_facts(policy_layers(policy_dirs, packs, as_of), facts)
    if target is not None:
        shown = SearchProgress(sys.stderr) if sys.stderr is not None and sys.stderr.isatty() else None
        try:
            result = search(
                kb, doc, target, entity=entity, engine=engine, max_changes=max_changes, budget=budget,
                progress=shown,
            )
        finally:
            if shown is not None:
                shown.clear()
        click.echo(_with_knowledge(kb, result.as_json(), search_text(result), fmt))
    else:
        applied = apply(kb, doc, drops=drops, adds=adds, sets=sets, entity=entity, engine=engine)
        click.echo(_with_knowledge(kb, applied.as_json(), apply_text(applied), fmt))


def _with_knowledge(kb: Any, data: dict[str, Any], text: str, fmt: str) -> str:
    """The output, saying which knowledge it rests on: a `knowledge` key, or a line after the first."""
    if fmt == "json":
        return render.dumps({**data, "knowledge": render.knowledge_json(kb)})
    first, _, rest = text.partition("\n")
    return f"{first}\n{render.knowledge_text(kb)}" + (f"\n{rest}" if rest else "")
