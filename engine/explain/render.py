"""Rendering decisions for people (text, the why-tree) and for scripts (JSON)."""

from __future__ import annotations

import json
from typing import Any

from ..evaluation.decision import Decision, EntityDecision
from ..evaluation.derivation import Firing
from ..evaluation.wording import business_explanation, type_with_id
from ..model.terms import Atom, Fact, Rule, Var, show_value
from ..policy.knowledge import KnowledgeBase
from .queries import (
    citations_json,
    cited_text,
    deciding_reasons,
    deciding_step,
    deployment_facts,
    notice_firings,
    notice_steps,
    reasons_against,
)

Style = Any  # a callable like click.style, or plain()


def plain(text: str, **_: Any) -> str:
    return text


def display_width(text: str) -> int:
    """The columns text takes in a terminal: two for a wide (East Asian) character, none for a combining mark."""
    if text.isascii():
        return len(text)
    import unicodedata

    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """text padded with spaces to width terminal columns (str.ljust counts characters, not columns)."""
    return text + " " * max(0, width - display_width(text))


def counted(n: int, word: str) -> str:
    """'1 rule', '2 rules'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _location(fact: Fact) -> str | None:
    return str(fact.origin) if fact.origin is not None else None


def absent_conditions(firing: Firing) -> list[str]:
    """The 'not' conditions of a firing with its bindings filled in: what had to be absent."""
    bindings = dict(firing.bindings)
    return [_atom_text(atom, bindings) for atom in firing.clause.clause.negatives]


def _atom_text(atom: Atom, bindings: dict[str, Any]) -> str:
    parts = []
    for fp in atom.fields:
        if fp.bind is not None and fp.bind.name in bindings and not fp.tests:
            parts.append(f"{fp.field}: {show_value(bindings[fp.bind.name])}")
        for test in fp.tests:
            operand = test.operand
            if isinstance(operand, Var):
                operand = bindings.get(operand.name, str(operand))
            if isinstance(operand, tuple):
                shown = "[" + ", ".join(map(show_value, operand)) + "]"
            else:
                shown = show_value(operand)
            op = "" if test.op == "eq" else f"{test.op} "
            parts.append(f"{fp.field}: {op}{shown}")
    return f"{atom.predicate}({', '.join(parts)})"


def rule_location(firing: Firing) -> str:
    return str(firing.clause.rule.location)


# -- JSON --------------------------------------------------------------------------------------


def trace_json(decision: Decision) -> list[dict[str, Any]]:
    steps = []
    for number, firing in enumerate(decision.trace):
        rule = firing.clause.rule
        steps.append(
            {
                "step": number,
                **_rule_json(decision.kb, rule),
                **_supersedes_json(decision.kb, rule.id),
                "explanation": business_explanation(decision.kb, firing),
                "matched": [_fact_json(decision, f) for f in firing.matched],
                "absent": absent_conditions(firing),
                "counted": [_fact_json(decision, f) for f in firing.counted],
                "concluded": [{"fact": f.predicate, "values": f.as_dict()} for f in firing.conclusions],
            }
        )
    return steps


def _rule_json(kb: KnowledgeBase, rule: Rule) -> dict[str, Any]:
    """A rule as every JSON output names it: id, place, layer and what it cites."""
    return {
        "rule": rule.id,
        "location": str(rule.location),
        "layer": rule.layer,
        "source": rule.source,
        "citations": citations_json(kb, rule.source),
    }


def _supersedes_json(kb: KnowledgeBase, rule_id: str) -> dict[str, Any]:
    """`supersedes`, for a step whose rule corrects an earlier statement (absent otherwise)."""
    found = kb.superseded.get(rule_id)
    if not found:
        return {}
    return {"supersedes": [{"rule": s.rule, "source": s.source} if s.rule else {"source": s.source} for s in found]}


def _fact_json(decision: Decision, fact: Fact) -> dict[str, Any]:
    data: dict[str, Any] = {"fact": fact.predicate, "values": fact.as_dict()}
    step = decision.step_of(fact)
    if step is not None:
        data["step"] = step
    elif fact.origin is not None:
        data["location"] = str(fact.origin)
    return data


def decision_summary(decision: Decision) -> dict[str, Any]:
    """The decision as `evaluate --format json` gives it, without the trace."""
    kb = decision.kb

    def notice(n: Any) -> dict[str, Any]:
        first = decision.trace[n.steps[0]] if n.steps else None
        data: dict[str, Any] = {"code": n.code, "message": n.message}
        if n.entity is not None:
            data["entity"] = n.entity
        for key in ("type", "capability", "about"):
            if n.fact.get(key) is not None:
                data[key] = n.fact.get(key)
        if first is not None:
            data["rule"] = first.clause.rule.id
            data["source"] = first.clause.rule.source
            # A message several rules concluded keeps each rule, with its own sentence and source.
            data["rules"] = [
                {
                    "rule": f.clause.rule.id,
                    "location": str(f.clause.rule.location),
                    "source": f.clause.rule.source,
                    "citations": citations_json(kb, f.clause.rule.source),
                    "explanation": business_explanation(kb, f),
                }
                for f in notice_firings(decision, n)
            ]
        return data

    from ..analysis.openquestions import of_decision

    open_ = of_decision(decision)
    return {
        "customer": decision.customer,
        "deployments": decision.deployments,
        "entities": [
            {
                "name": e.name,
                "deployment": e.deployment,
                "deployment_name": kb.type_name(e.deployment) if e.deployment in kb.types else None,
                "provisional": e.name in open_.provisional,
                "gaps": e.gaps,
                "needs": e.needs,
            }
            for e in decision.entities
        ],
        "warnings": [notice(n) for n in decision.warnings],
        "notes": [notice(n) for n in decision.notes],
        "open_questions": [q.as_json() for q in open_.questions],
        "open_questions_complete": open_.exact,
        "knowledge": knowledge_json(kb),
        **({"workshop": decision.facts.workshop.as_json()} if decision.facts.workshop is not None else {}),
        "engine": decision.engine,
    }


def knowledge_json(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """The layers of knowledge a result rests on, each with its date and what it encodes."""
    return [{"layer": layer.name, "as_of": layer.as_of, "title": layer.title} for layer in kb.layers]


def knowledge_text(kb: KnowledgeBase) -> str:
    """'Knowledge: ...' for people: each layer with its date."""
    parts = []
    for layer in kb.layers:
        date = f"as of {layer.as_of}" if layer.as_of else "undated"
        parts.append(f"{layer.name}, {date}" + (f" ({layer.title})" if layer.title else ""))
    return "Knowledge: " + "; ".join(parts)


def decision_json(decision: Decision) -> dict[str, Any]:
    """The decision as `evaluate --format json` gives it: the summary and the whole trace."""
    return {**decision_summary(decision), "trace": trace_json(decision)}


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


# -- text --------------------------------------------------------------------------------------


def decision_text(decision: Decision, style: Style = plain) -> str:
    from ..analysis.openquestions import of_decision

    kb = decision.kb
    open_ = of_decision(decision)
    lines = [style(f"Customer: {decision.customer}", bold=True), knowledge_text(kb)]
    if decision.facts.workshop is not None:
        lines.append(decision.facts.workshop.text())
    names = ", ".join(type_with_id(kb, t) for t in decision.deployments) or "none"
    lines.append(f"Deployments on the environment: {names}")
    if open_.questions:
        lines.append("")
        lines.append(style("Open questions that could change this advice:", bold=True))
        for q in open_.questions:
            lines.append(f"  - {q.question} (could change: {could_change_text(q.could_change)})")
        if not open_.exact:
            lines.append("  (found by sampling the possible answers: there may be others)")
        if open_.coarse:
            lines.append(f"  ({COARSE_NOTE})")
    lines.append("")
    width = max((display_width(e.name) for e in decision.entities), default=0)
    for entity in decision.entities:
        chosen = entity.deployment or "no deployment type fits"
        label = f"  ({kb.type_name(entity.deployment)})" if entity.deployment in kb.types else ""
        mark = f"  {style('provisional', fg='yellow')}" if entity.name in open_.provisional else ""
        lines.append(f"  {pad(entity.name, width)}  {style(chosen, fg='green', bold=True)}{label}{mark}")
        if entity.gaps:
            lines.append(f"  {''.ljust(width)}  gaps: {', '.join(entity.gaps)}")
    for title, notices, colour in (("Warnings", decision.warnings, "yellow"), ("Notes", decision.notes, "cyan")):
        if not notices:
            continue
        lines.append("")
        lines.append(style(f"{title}:", bold=True))
        for n in notices:
            about = f" [{n.entity}]" if n.entity else ""
            lines.append(f"  - {style(n.code, fg=colour)}{about}: {n.message}")
    lines.append("")
    lines.append(f"{len(decision.trace)} rule firings; run 'podeploy why' for the reasoning.")
    return "\n".join(lines)


def could_change_text(could_change: tuple[str, ...]) -> str:
    """'the deployment, warning low-fit' for people."""
    return ", ".join("the deployment" if c == "deployment" else f"warning {c}" for c in could_change)


def why_text(decision: Decision, style: Style = plain) -> str:
    """The why-trace: for each entity, its deployment down to the facts, and why each other type was not chosen."""
    lines: list[str] = [style(f"Customer: {decision.customer}", bold=True), knowledge_text(decision.kb)]
    shown: dict[Fact, int] = {}
    for entity in decision.entities:
        lines.append("")
        named = f" ({decision.kb.type_name(entity.deployment)})" if entity.deployment in decision.kb.types else ""
        lines.append(style(f"{entity.name}: {entity.deployment or 'no deployment type fits'}{named}", bold=True))
        lines.extend(_deciding_lines(decision, entity, style))
        deployed = deployment_facts(decision, entity)
        if deployed:
            lines.append("  How it was derived:")
        for fact in deployed:
            _explain_fact(decision, fact, 1, lines, shown, style)
        for type_id, reason in why_not(decision, entity):
            lines.append(f"  not {style(type_id, bold=True)} ({decision.kb.type_name(type_id)}): {reason}")
    for title, notices in (("Warnings", decision.warnings), ("Notes", decision.notes)):
        if not notices:
            continue
        lines.append("")
        lines.append(style(f"{title}:", bold=True))
        for n in notices:
            lines.append(f"  {n.code}{f' [{n.entity}]' if n.entity else ''}")
            _explain_fact(decision, n.fact, 2, lines, shown, style)
            # A message concluded by several rules: each further rule, with its own sentence and source.
            for step in notice_steps(decision, n)[1:]:
                firing = decision.trace[step]
                rule = firing.clause.rule
                source = f"  [{cited_text(decision.kb, rule.source)}]" if rule.source else ""
                lines.append(f"      and {style('<-', fg='blue')} step {step}: rule {style(rule.id, bold=True)} "
                             f"({rule.location}){source}")
                lines.append(f"           {business_explanation(decision.kb, firing)}")
    return "\n".join(lines)


def _deciding_lines(decision: Decision, entity: EntityDecision, style: Style) -> list[str]:
    """What decided the entity's type, first: what it needs that rules out each lighter type, in business words."""
    kb = decision.kb
    lines: list[str] = []
    deciding = deciding_reasons(decision, entity)
    for type_id, firings in deciding:
        if not firings:
            continue
        if not lines:
            lines.append("  Decided by what rules out the lighter types:")
        lines.append(f"    not {style(type_id, bold=True)} ({kb.type_name(type_id)}):")
        for firing in firings:
            rule = firing.clause.rule
            source = f"; {cited_text(kb, rule.source)}" if rule.source else ""
            lines.append(f"      - {business_explanation(kb, firing)}  (rule {rule.id}, {rule.location}{source})")
    step = deciding_step(decision, entity)
    shown = {id(f) for _, firings in deciding for f in firings}
    if step is not None and id(decision.trace[step]) not in shown:
        firing = decision.trace[step]
        rule = firing.clause.rule
        lines.append(f"  Chosen: {business_explanation(kb, firing)}  (rule {rule.id}, {rule.location})")
    return lines


def _explain_fact(
    decision: Decision, fact: Fact, depth: int, lines: list[str], shown: dict[Fact, int], style: Style
) -> None:
    pad = "  " * depth
    step = decision.step_of(fact)
    if step is None:
        where = f"  ({fact.origin})" if fact.origin is not None else ""
        lines.append(f"{pad}{fact}{where}")
        return
    if fact in shown:
        lines.append(f"{pad}{fact}  (step {step}, explained above)")
        return
    shown[fact] = step
    firing = decision.trace[step]
    rule = firing.clause.rule
    source = f"  [{cited_text(decision.kb, rule.source)}]" if rule.source else ""
    layer = f" in layer {rule.layer}" if rule.layer != "built-in" else ""
    lines.append(f"{pad}{fact}")
    arrow = style("<-", fg="blue")
    lines.append(f"{pad}  {arrow} step {step}: rule {style(rule.id, bold=True)} ({rule.location}{layer}){source}")
    for superseded in decision.kb.superseded.get(rule.id, ()):
        what = f"rule {superseded.rule} " if superseded.rule else ""
        lines.append(f"{pad}     supersedes {what}[{cited_text(decision.kb, superseded.source)}]")
    lines.append(f"{pad}     {business_explanation(decision.kb, firing)}")
    for matched in firing.matched:
        _explain_fact(decision, matched, depth + 2, lines, shown, style)
    for text in absent_conditions(firing):
        lines.append(f"{pad}    absent: {text}")
    if firing.clause.clause.counts:
        counted = ", ".join(str(f) for f in firing.counted) or "none"
        lines.append(f"{pad}    counted: {counted}")


COARSE_NOTE = (
    "too many legal entities to try every answer: each unanswered fact the rules read on the way to the advice"
    " is listed; some may change nothing here"
)


def _cited(kb: KnowledgeBase, firing: Firing) -> str:
    rule = firing.clause.rule
    source = f", {cited_text(kb, rule.source)})" if rule.source else ")"
    return f"{business_explanation(kb, firing)} (rule {rule.id}, {rule.location}{source}"


def why_not(decision: Decision, entity: EntityDecision) -> list[tuple[str, str]]:
    """For each type not chosen for the entity, the first recorded reason against it."""
    reasons: list[tuple[str, str]] = []
    for dtype in decision.kb.types_by_rank():
        if dtype.id == entity.deployment:
            continue
        found = reasons_against(decision, entity, dtype.id)
        reasons.append((dtype.id, _cited(decision.kb, found[0]) if found else _preferred(decision, entity, dtype.id)))
    return reasons


def why_not_type_json(decision: Decision, type_id: str, entity_name: str | None = None) -> dict[str, Any]:
    """Every reason type_id was not recommended, per entity, with the customer's facts behind each."""
    entities = []
    for entity in decision.entities:
        if entity_name is not None and entity.name != entity_name:
            continue
        reasons = []
        if entity.deployment != type_id:
            for firing in reasons_against(decision, entity, type_id):
                rule = firing.clause.rule
                reasons.append(
                    {
                        **_rule_json(decision.kb, rule),
                        "explanation": business_explanation(decision.kb, firing),
                        "facts": [_fact_json(decision, f) for f in _given_behind(decision, firing)],
                    }
                )
            if not reasons:
                reasons.append({"rule": None, "explanation": _preferred(decision, entity, type_id)})
        entities.append(
            {
                "name": entity.name,
                "deployment": entity.deployment,
                "recommended": entity.deployment == type_id,
                "reasons": reasons,
            }
        )
    return {
        "customer": decision.customer,
        "type": type_id,
        "entities": entities,
        "knowledge": knowledge_json(decision.kb),
    }


def _given_behind(decision: Decision, firing: Firing) -> list[Fact]:
    """The customer's own facts (from the facts file) a firing rests on, directly or through conclusions."""
    seen: set[Fact] = set()
    found: list[Fact] = []
    pending = list(firing.matched)
    while pending:
        fact = pending.pop(0)
        if fact in seen:
            continue
        seen.add(fact)
        step = decision.step_of(fact)
        if step is not None:
            pending.extend(decision.trace[step].matched)
        elif fact.predicate in decision.kb.facts and fact.origin is not None:
            found.append(fact)
    return found


def why_not_type_text(decision: Decision, type_id: str, entity_name: str | None = None, style: Style = plain) -> str:
    data = why_not_type_json(decision, type_id, entity_name)
    lines = [
        style(f"Why not {type_id} ({decision.kb.type_name(type_id)}) for {decision.customer}?", bold=True),
        knowledge_text(decision.kb),
    ]
    for entity in data["entities"]:
        lines.append("")
        kb = decision.kb
        if entity["recommended"]:
            lines.append(f"{entity['name']}: {kb.type_name(type_id)} is its recommendation.")
            continue
        gets = kb.type_name(entity["deployment"]) if entity["deployment"] in kb.types else "no type"
        lines.append(style(f"{entity['name']} (gets {gets}):", bold=True))
        for number, reason in enumerate(entity["reasons"], 1):
            if reason["rule"] is None:
                lines.append(f"  {number}. {reason['explanation']}")
                continue
            lines.append(f"  {number}. {reason['explanation']}")
            where = f"rule {reason['rule']} ({reason['location']})" + (
                f" [{cited_text(decision.kb, reason['source'])}]" if reason["source"] else ""
            )
            lines.append(f"     {where}")
            for fact in reason["facts"]:
                values = ", ".join(f"{k}: {show_value(v)}" for k, v in fact["values"].items())
                lines.append(f"     customer's fact: {fact['fact']}({values}) at {fact['location']}")
    return "\n".join(lines)


def _preferred(decision: Decision, entity: EntityDecision, type_id: str) -> str:
    """Why a type no rule ruled out was not chosen: the type chosen is lighter (cited by the step that chose it)."""
    step = deciding_step(decision, entity)
    if step is None:
        return "no rule concluded a deployment for this entity"
    kb = decision.kb
    firing = decision.trace[step]
    rule = firing.clause.rule
    source = f", {cited_text(kb, rule.source)})" if rule.source else ")"
    chosen = kb.type_name(entity.deployment) if entity.deployment else "another type"
    if entity.deployment in kb.types and type_id in kb.types and kb.types[type_id].rank > kb.types[
        entity.deployment
    ].rank:
        offers = "already offers everything" if not entity.gaps else "misses no more of what"
        said = f"{chosen} is lighter and {offers} {entity.name} needs."
    else:
        said = f"{chosen} was preferred: {business_explanation(kb, firing)}"
    return f"{said} (rule {rule.id}, {rule.location}{source}"


def capabilities_table(kb: KnowledgeBase) -> tuple[list[str], list[list[str]]]:
    types = kb.types_by_rank()
    header = ["capability", *[t.id for t in types]]
    rows = []
    for cap in kb.capabilities.values():
        rows.append([cap.id, *["yes" if cap.id in kb.offered(t.id) else "-" for t in types]])
    return header, rows


def table_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(display_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(pad(h, w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        out.append("  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)
