"""The derivation graph of a decision, in Graphviz DOT and as a Mermaid flowchart (`podeploy why --format`).

A node per fact the trace touches (the customer's given facts, and each conclusion with the rule and
step that drew it), an edge from each fact a firing matched or counted to each fact it concluded,
labelled with the rule. Every label holds its text literally, whatever characters the facts hold.

The renderers return text without a final newline (like those of render.py, for click.echo).
"""

from __future__ import annotations

import hashlib
import re

from ..evaluation.decision import Decision
from ..model.terms import Fact
from ..records import record


@record
class Node:
    id: str
    fact: Fact
    given: bool
    detail: str  # file:line:column of a given fact, or the rule (and step) that concluded it
    role: str | None


@record
class Edge:
    source: str
    target: str
    rule: str
    counted: bool


def node_id(fact: Fact) -> str:
    """A stable identifier, safe in DOT and Mermaid: a digest of the fact's content."""
    return "n" + hashlib.sha256(fact.key.encode("utf-8")).hexdigest()[:16]


def derivation_graph(decision: Decision) -> tuple[list[Node], list[Edge]]:
    """Every fact the trace touches (in order of first appearance) and an edge from each fact a firing matched
    (or counted) to each fact it concluded, labelled with the rule."""
    roles = {pid: pred.role for pid, pred in decision.kb.predicates.items()}
    nodes: dict[Fact, Node] = {}

    def add(fact: Fact) -> str:
        if fact not in nodes:
            step = decision.step_of(fact)
            if step is None:
                detail = str(fact.origin) if fact.origin is not None else "given"
            else:
                steps = decision.concluded_by.get(fact, [step])
                detail = f"rule {decision.trace[step].clause.rule.id} (step {step}"
                detail += f", +{len(steps) - 1} more)" if len(steps) > 1 else ")"
            nodes[fact] = Node(node_id(fact), fact, step is None, detail, roles.get(fact.predicate))
        return nodes[fact].id

    edges: dict[tuple[str, str, str, bool], Edge] = {}
    for firing in decision.trace:
        rule = firing.clause.rule.id
        sources_ = [(add(f), False) for f in firing.matched] + [(add(f), True) for f in firing.counted]
        for fact in firing.conclusions:
            target = add(fact)
            for source, counted in sources_:
                edges.setdefault((source, target, rule, counted), Edge(source, target, rule, counted))
    return list(nodes.values()), list(edges.values())


_COLOURS = {"deployment": "#cdeccd", "gap": "#f8d0d0", "warning": "#fbe7b5", "note": "#d4e6f7", "why-not": "#eeeeee"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def dot_string(text: str) -> str:
    """A DOT double-quoted string holding text literally (control characters become spaces)."""
    text = _CONTROL.sub(" ", text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def derivation_dot(decision: Decision) -> str:
    """The derivation graph in Graphviz DOT."""
    nodes, edges = derivation_graph(decision)
    title = dot_string(f"Derivation: {decision.customer}")
    lines = [
        "digraph derivation {",
        f"  graph [rankdir=LR, labelloc=t, fontname=Helvetica, label={title}];",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname=Helvetica, fontsize=10];',
        '  edge [fontname=Helvetica, fontsize=9, color="#5b6675"];',
    ]
    for node in nodes:
        # "\n" between the escaped parts is DOT's own line break.
        label = dot_string(str(node.fact))[:-1] + "\\n" + dot_string(node.detail)[1:]
        attrs = [f"label={label}"]
        if node.given:
            attrs += ["shape=note", 'fillcolor="#f2f4f7"']
        elif node.role in _COLOURS:
            attrs.append(f'fillcolor="{_COLOURS[node.role]}"')
        lines.append(f"  {node.id} [{', '.join(attrs)}];")
    for edge in edges:
        attrs = [f"label={dot_string(edge.rule + (' (counted)' if edge.counted else ''))}"]
        if edge.counted:
            attrs.append("style=dashed")
        lines.append(f"  {edge.source} -> {edge.target} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines)


_MERMAID_ENTITIES = {'"': "#34;", "#": "#35;", "&": "#38;", "<": "#60;", ">": "#62;", "`": "#96;"}


def mermaid_string(text: str) -> str:
    """A Mermaid quoted label holding text literally: markup characters as Mermaid entity codes."""
    text = _CONTROL.sub(" ", text)
    return '"' + "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in text) + '"'


def derivation_mermaid(decision: Decision) -> str:
    """The derivation graph as a Mermaid flowchart."""
    nodes, edges = derivation_graph(decision)
    lines = ["flowchart LR"]
    for node in nodes:
        label = mermaid_string(str(node.fact))[:-1] + "<br/>" + mermaid_string(node.detail)[1:]
        lines.append(f"  {node.id}[{label}]")
    for edge in edges:
        arrow = "-.->" if edge.counted else "-->"
        text = edge.rule + (" (counted)" if edge.counted else "")
        lines.append(f"  {edge.source} {arrow}|{mermaid_string(text)}| {edge.target}")
    lines.append("  classDef given fill:#f2f4f7,stroke:#8a94a3")
    classes: dict[str, list[str]] = {}
    for node in nodes:
        if node.given:
            classes.setdefault("given", []).append(node.id)
        elif node.role in _COLOURS:
            classes.setdefault(_class_name(node.role), []).append(node.id)
    for role, colour in _COLOURS.items():
        if _class_name(role) in classes:
            lines.append(f"  classDef {_class_name(role)} fill:{colour},stroke:#8a94a3")
    for name, ids in classes.items():
        lines.append(f"  class {','.join(ids)} {name}")
    return "\n".join(lines)


def _class_name(role: str | None) -> str:
    return "role_" + re.sub(r"[^A-Za-z0-9]", "_", role or "")
