"""Documents to hand to a customer (Markdown, self-contained HTML) and the derivation graph (Graphviz DOT, Mermaid).

Everything is read from a Decision: the plan per legal entity, the capability x type matrix with the entity's
needs and gaps, warnings and notes, the derivation behind each recommendation, every reason against each other
type, and the sources cited by the rules that fired. Nothing here reasons; it only lays out the trace.

The renderers return text without a final newline (like those of render.py, for click.echo); write_output
writes a file atomically and ends it with one newline.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import re
import secrets
import stat
from collections.abc import Iterable

from .decision import Decision, EntityDecision, Notice
from .derivation import Firing
from .errors import PodeployError
from .model import Fact, Layer
from .openquestions import of_decision
from .records import record
from .render import COARSE_NOTE, absent_conditions, capabilities_table, could_change_text, deciding_step

TITLE = "Project Operations deployment plan"

# -- what the documents show, computed once for both formats ------------------------------------------------------


@record
class Reason:
    """One reason against a type (or for the chosen one): the firing's explanation and the rule behind it."""

    text: str
    rule: str | None = None
    location: str | None = None
    source: str | None = None
    layer: str | None = None
    step: int | None = None


@record
class Step:
    """One firing in an entity's derivation."""

    number: int
    firing: Firing

    @property
    def rule(self) -> str:
        return self.firing.clause.rule.id


@record
class MatrixRow:
    capability: str
    name: str
    needed: bool
    gap: bool
    offered: tuple[bool, ...]


def _roles(decision: Decision, role: str) -> set[str]:
    return {pid for pid, pred in decision.kb.predicates.items() if pred.role == role}


def deployment_facts(decision: Decision, entity: EntityDecision) -> list[Fact]:
    """The deployment conclusions behind the entity's recommended type."""
    return [
        fact
        for pid in sorted(_roles(decision, "deployment"))
        for fact in decision.store.of(pid)
        if fact.get("entity") == entity.name and fact.get("type") == entity.deployment
    ]


def derivation(decision: Decision, facts: Iterable[Fact]) -> tuple[list[Step], list[Fact]]:
    """Every firing the facts rest on (in trace order) and the given facts at the leaves (in order of first use)."""
    steps: set[int] = set()
    leaves: dict[Fact, Fact] = {}
    pending = list(facts)
    while pending:
        fact = pending.pop()
        number = decision.step_of(fact)
        if number is None:
            leaves.setdefault(fact, fact)
            continue
        if number in steps:
            continue
        steps.add(number)
        firing = decision.trace[number]
        pending.extend(reversed(firing.matched + firing.counted))
    ordered = [Step(n, decision.trace[n]) for n in sorted(steps)]
    given: list[Fact] = []
    for step in ordered:
        for fact in step.firing.matched + step.firing.counted:
            if fact in leaves and fact not in given:
                given.append(fact)
    given.extend(f for f in leaves if f not in given)
    return ordered, given


def _reason(number: int, firing: Firing) -> Reason:
    rule = firing.clause.rule
    return Reason(firing.explanation, rule.id, str(rule.location), rule.source, rule.layer, number)


def why_not_all(decision: Decision, entity: EntityDecision) -> list[tuple[str, list[Reason]]]:
    """For each type not chosen (lightest first), every reason against it.

    A reason is a firing that concluded a why-not fact about this entity and type; a type with none was
    open but not preferred, and gets the explanation render.why_not gives of the preference.
    """
    against = _roles(decision, "why-not")
    result: list[tuple[str, list[Reason]]] = []
    for dtype in decision.kb.types_by_rank():
        if dtype.id == entity.deployment:
            continue
        reasons: list[Reason] = []
        seen: set[tuple[str, str]] = set()
        for number, firing in enumerate(decision.trace):
            if not any(
                c.predicate in against and c.get("entity") == entity.name and c.get("type") == dtype.id
                for c in firing.conclusions
            ):
                continue
            key = (firing.clause.rule.id, firing.explanation)
            if key not in seen:
                seen.add(key)
                reasons.append(_reason(number, firing))
        if not reasons:
            reasons.append(_preferred(decision, entity))
        result.append((dtype.id, reasons))
    return result


def _preferred(decision: Decision, entity: EntityDecision) -> Reason:
    """Why an open type lost to the recommended one: the rule that chose it (as render.why_not words it)."""
    step = deciding_step(decision, entity)
    if step is not None:
        firing = decision.trace[step]
        reason = _reason(step, firing)
        return Reason(
            f"{entity.deployment} was preferred: {firing.explanation}",
            reason.rule,
            reason.location,
            reason.source,
            reason.layer,
            step,
        )
    return Reason("no rule concluded a deployment for this entity")


def matrix(decision: Decision, entity: EntityDecision) -> tuple[list[str], list[MatrixRow]]:
    """The capability x type matrix (types lightest first) with this entity's needs and gaps marked."""
    header, rows = capabilities_table(decision.kb)
    types = header[1:]
    needs = set(entity.needs)
    gaps = set(entity.gaps)
    out = []
    for row in rows:
        cap = row[0]
        capability = decision.kb.capabilities.get(cap)
        out.append(
            MatrixRow(
                cap,
                capability.name if capability is not None else cap,
                cap in needs,
                cap in gaps,
                tuple(cell == "yes" for cell in row[1:]),
            )
        )
    return types, out


def sources(decision: Decision) -> tuple[list[tuple[str, list[str], int]], list[str]]:
    """(source, the rules citing it in order of first firing, how many firings) for every source cited by a
    rule that fired, sorted by source; and the rules that fired citing none."""
    cited: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    uncited: list[str] = []
    for firing in decision.trace:
        rule = firing.clause.rule
        if not rule.source:
            if rule.id not in uncited:
                uncited.append(rule.id)
            continue
        rules = cited.setdefault(rule.source, [])
        if rule.id not in rules:
            rules.append(rule.id)
        counts[rule.source] = counts.get(rule.source, 0) + 1
    return [(s, cited[s], counts[s]) for s in sorted(cited)], uncited


def _notice_rule(decision: Decision, notice: Notice) -> Reason | None:
    if not notice.steps:
        return None
    return _reason(notice.steps[0], decision.trace[notice.steps[0]])


def _type_name(decision: Decision, type_id: str | None) -> str | None:
    return decision.kb.type_name(type_id) if type_id is not None and type_id in decision.kb.types else None


def _given_location(fact: Fact) -> str:
    return str(fact.origin) if fact.origin is not None else "given"


def _notice_about(notice: Notice) -> list[tuple[str, str]]:
    about = []
    if notice.entity is not None:
        about.append(("entity", notice.entity))
    for key in ("type", "capability", "about"):
        value = notice.fact.get(key)
        if value is not None:
            about.append((key, str(value)))
    return about


def _layer_text(layer: Layer) -> str:
    date = f"as of {layer.as_of}" if layer.as_of else "undated"
    return f"{layer.name}, {date}" + (f": {layer.title}" if layer.title else "")


def _version() -> str:
    try:
        from podeploy import __version__
    except ImportError:  # pragma: no cover - the engine used without its package
        return "podeploy"
    return f"podeploy {__version__}"


# -- Markdown --------------------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&~#!])")


def md_text(value: object) -> str:
    """Text for Markdown: one line, every character Markdown or HTML could read as markup backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def md_code(value: object, in_table: bool = False) -> str:
    """A code span holding value literally, whatever backticks it contains; pipes escaped inside tables (GFM)."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ")):
        text = f" {text} "
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def _md_reason(reason: Reason) -> str:
    text = md_text(reason.text)
    if reason.rule is None:
        return text
    where = [f"rule {md_code(reason.rule)}"]
    if reason.location:
        where.append(md_code(reason.location))
    if reason.layer and reason.layer != "built-in":
        where.append(f"layer {md_code(reason.layer)}")
    if reason.source:
        where.append(f"source {md_code(reason.source)}")
    return f"{text} ({', '.join(where)})"


def report_markdown(decision: Decision) -> str:
    """The plan as a Markdown document (GitHub-flavoured tables)."""
    kb = decision.kb
    lines: list[str] = [f"# {TITLE}: {md_text(decision.customer)}", ""]
    lines.append(f"- Customer: {md_text(decision.customer)}")
    lines.append(f"- Facts: {md_code(decision.facts.source)}")
    deployments = ", ".join(md_code(d) for d in decision.deployments) or "none"
    lines.append(f"- Deployments on the environment: {deployments}")
    lines.append(
        f"- Evaluated by: {md_text(_version())}, engine {md_code(decision.engine)}, {len(decision.trace)} rule firings"
    )
    lines.append("- Knowledge used:")
    for layer in kb.layers:
        lines.append(f"  - {md_text(_layer_text(layer))}")
    lines.append("")
    open_ = of_decision(decision)
    if open_.questions:
        lines += ["## Open questions", "", "Answers to these could still change the advice:", ""]
        for q in open_.questions:
            lines.append(f"- {md_text(q.question)} (could change: {md_text(could_change_text(q.could_change))})")
        if not open_.exact:
            lines.append("- (found by sampling the possible answers: there may be others)")
        if open_.coarse:
            lines.append(f"- ({COARSE_NOTE})")
        lines.append("")

    lines += [
        "## Plan",
        "",
        "| Legal entity | Deployment type | Name | Gaps | Status |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entity in decision.entities:
        name = _type_name(decision, entity.deployment)
        lines.append(
            "| "
            + " | ".join(
                [
                    md_text(entity.name),
                    md_code(entity.deployment, True) if entity.deployment else "no deployment type fits",
                    md_text(name) if name else "-",
                    ", ".join(md_code(g, True) for g in entity.gaps) or "none",
                    "provisional" if entity.name in open_.provisional else "settled",
                ]
            )
            + " |"
        )
    lines.append("")

    lines += ["## Capabilities", ""]
    lines.append(
        "For each legal entity: which deployment type offers which capability (yes or -), the capabilities the "
        "entity needs, and the needs its recommended type leaves as gaps."
    )
    for entity in decision.entities:
        types, rows = matrix(decision, entity)
        lines += ["", f"### {md_text(entity.name)}", ""]
        heads = [md_code(t, True) + (" (recommended)" if t == entity.deployment else "") for t in types]
        lines.append("| Capability | Needed | " + " | ".join(heads) + " |")
        lines.append("| --- | --- | " + " | ".join("---" for _ in types) + " |")
        for row in rows:
            needed = "**gap**" if row.gap else ("needed" if row.needed else "")
            cells = ["yes" if offered else "-" for offered in row.offered]
            lines.append(
                f"| {md_code(row.capability, True)} {md_text(row.name)} | {needed} | " + " | ".join(cells) + " |"
            )
    lines.append("")

    for title, notices in (("Warnings", decision.warnings), ("Notes", decision.notes)):
        lines += [f"## {title}", ""]
        if not notices:
            lines += ["None.", ""]
            continue
        for notice in notices:
            about = "".join(f", {key} {md_text(value)}" for key, value in _notice_about(notice))
            rule = _notice_rule(decision, notice)
            cited = ""
            if rule is not None:
                cited = f" (rule {md_code(rule.rule)}" + (f", source {md_code(rule.source)})" if rule.source else ")")
            lines.append(f"- **{md_text(notice.code)}**{about}: {md_text(notice.message)}{cited}")
        lines.append("")

    lines += ["## Why", ""]
    for index, entity in enumerate(decision.entities):
        if index:
            lines.append("")
        chosen = md_code(entity.deployment) if entity.deployment else "no deployment type fits"
        lines += [f"### {md_text(entity.name)}: {chosen}", ""]
        lines.append("Needs: " + (", ".join(md_code(n) for n in entity.needs) or "none") + ".")
        if entity.gaps:
            lines.append("Gaps: " + ", ".join(md_code(g) for g in entity.gaps) + ".")
        lines.append("")
        steps, given = derivation(decision, deployment_facts(decision, entity))
        if steps:
            lines += ["How the recommendation was derived:", ""]
            for n, step in enumerate(steps, 1):
                lines.append(f"{n}. Step {step.number}: {_md_reason(_reason(step.number, step.firing))}")
                for text in absent_conditions(step.firing):
                    lines.append(f"   - absent: {md_code(text)}")
            lines += ["", "Facts it rests on:", ""]
            for fact in given:
                lines.append(f"- {md_code(fact)} at {md_code(_given_location(fact))}")
        else:
            lines.append("No rule concluded a deployment for this legal entity.")
        lines += ["", "Why not the other types:", ""]
        for type_id, reasons in why_not_all(decision, entity):
            lines.append(f"- Not {md_code(type_id)} ({md_text(kb.type_name(type_id))}):")
            for reason in reasons:
                lines.append(f"  - {_md_reason(reason)}")
    lines.append("")

    lines += ["## Sources", ""]
    by_source, uncited = sources(decision)
    if not by_source:
        lines.append("No rule that fired cites a source.")
    for source, rules, count in by_source:
        firings = f"{count} firing{'s' if count != 1 else ''}"
        lines.append(f"- {md_code(source)}: cited by {', '.join(md_code(r) for r in rules)} ({firings})")
    if uncited:
        lines += ["", "Rules that fired without citing a source: " + ", ".join(md_code(r) for r in uncited)]
    return "\n".join(lines)


# -- HTML -----------------------------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_CSS = """
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6675; --line: #d5dbe3; --accent: #0b5cad;
  --chosen: #e7f1fb; --gap: #fbe4e4; --gap-ink: #9b1c1c; --need: #fff6d6; }
* { box-sizing: border-box; }
body { font-family: "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); margin: 0 auto;
  max-width: 70rem; padding: 1.5rem 2rem 3rem; line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.7rem; margin: 0 0 .75rem; color: var(--accent); }
h2 { font-size: 1.3rem; border-bottom: 2px solid var(--accent); padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { font-size: 1.08rem; margin: 1.6rem 0 .5rem; }
h4 { font-size: .98rem; margin: 1rem 0 .35rem; }
code { font-family: Consolas, "DejaVu Sans Mono", monospace; font-size: .9em; background: #f2f4f7;
  padding: 0 .2em; border-radius: 3px; overflow-wrap: anywhere; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
nav.toc ol { display: flex; flex-wrap: wrap; gap: .25rem 1.25rem; padding: 0; list-style: none; }
nav.toc a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #eef2f6; }
table.matrix td.cell, table.matrix th.type { text-align: center; }
table.plan td code { white-space: nowrap; }
table.matrix .recommended { background: var(--chosen); }
table.matrix th.type.recommended { border-bottom: 3px solid var(--accent); }
table.matrix tr.needed td.need { background: var(--need); font-weight: 600; }
table.matrix tr.gap td.need, table.matrix tr.gap td.cell.recommended { background: var(--gap); color: var(--gap-ink);
  font-weight: 700; }
table.matrix td.no { color: var(--muted); }
.capname { color: var(--muted); }
.legend { color: var(--muted); font-size: .9rem; }
ul.notices li { margin-bottom: .4rem; }
.code { font-weight: 700; }
.warning .code { color: #8a4b00; }
.note .code { color: var(--accent); }
.cite { color: var(--muted); font-size: .88rem; }
ol.steps li { margin-bottom: .45rem; }
ul.absent { margin: .15rem 0 0; color: var(--muted); font-size: .9rem; }
ul.whynot > li { margin-bottom: .5rem; }
.none { color: var(--muted); font-style: italic; }
article.entity { border-left: 3px solid var(--line); padding-left: 1rem; margin-bottom: 1.5rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .85rem; border-top: 1px solid var(--line);
  padding-top: .5rem; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav.toc { display: none; }
  section.part { break-before: page; page-break-before: always; }
  article.entity, .matrix-block { break-inside: avoid; page-break-inside: avoid; }
  tr, li { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _html_reason(reason: Reason) -> str:
    text = _e(reason.text)
    if reason.rule is None:
        return text
    parts = [f"rule <code>{_e(reason.rule)}</code>"]
    if reason.location:
        parts.append(f"<code>{_e(reason.location)}</code>")
    if reason.layer and reason.layer != "built-in":
        parts.append(f"layer <code>{_e(reason.layer)}</code>")
    if reason.source:
        parts.append(f"source <code>{_e(reason.source)}</code>")
    return f'{text} <span class="cite">({", ".join(parts)})</span>'


def report_html(decision: Decision) -> str:
    """The plan as one self-contained HTML file: inline CSS, no scripts, no external resources, printable."""
    kb = decision.kb
    customer = _e(decision.customer)
    open_ = of_decision(decision)
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing but the inline style may load or run, whatever a viewer does with the file.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f'<meta name="generator" content="{_e(_version())}">',
        f"<title>{TITLE} — {customer}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{TITLE}: {customer}</h1>",
        '<dl class="meta">',
        f"<dt>Customer</dt><dd>{customer}</dd>",
        f"<dt>Facts</dt><dd><code>{_e(decision.facts.source)}</code></dd>",
        "<dt>Deployments on the environment</dt><dd>"
        + (", ".join(f"<code>{_e(d)}</code>" for d in decision.deployments) or "none")
        + "</dd>",
        f"<dt>Evaluated by</dt><dd>{_e(_version())}, engine <code>{_e(decision.engine)}</code>, "
        f"{len(decision.trace)} rule firings</dd>",
        "<dt>Knowledge used</dt><dd><ul>" + "".join(f"<li>{_e(_layer_text(layer))}</li>" for layer in kb.layers)
        + "</ul></dd>",
        "</dl>",
        "</header>",
        '<nav class="toc" aria-label="Contents"><ol>',
        *(['<li><a href="#open-questions">Open questions</a></li>'] if open_.questions else []),
        '<li><a href="#plan">Plan</a></li>',
        '<li><a href="#capabilities">Capabilities</a></li>',
        '<li><a href="#warnings-notes">Warnings and notes</a></li>',
        '<li><a href="#why">Why</a></li>',
        '<li><a href="#sources">Sources</a></li>',
        "</ol></nav>",
    ]

    if open_.questions:
        out += [
            '<section id="open-questions">',
            "<h2>Open questions</h2>",
            "<p>Answers to these could still change the advice:</p>",
            "<ul>",
        ]
        for q in open_.questions:
            changes = _e(could_change_text(q.could_change))
            out.append(f'<li>{_e(q.question)} <span class="changes">(could change: {changes})</span></li>')
        if not open_.exact:
            out.append("<li>(found by sampling the possible answers: there may be others)</li>")
        if open_.coarse:
            out.append(f"<li>({_e(COARSE_NOTE)})</li>")
        out += ["</ul>", "</section>"]
    out += [
        '<section id="plan">',
        "<h2>Plan</h2>",
        '<table class="plan">',
        '<thead><tr><th scope="col">Legal entity</th><th scope="col">Deployment type</th>'
        '<th scope="col">Name</th><th scope="col">Gaps</th><th scope="col">Status</th></tr></thead>',
        "<tbody>",
    ]
    for index, entity in enumerate(decision.entities):
        name = _type_name(decision, entity.deployment)
        chosen = (
            f"<code>{_e(entity.deployment)}</code>"
            if entity.deployment
            else '<span class="none">no deployment type fits</span>'
        )
        gaps = ", ".join(f"<code>{_e(g)}</code>" for g in entity.gaps) or '<span class="none">none</span>'
        out.append(
            f'<tr class="entity" data-entity="{_e(entity.name)}"><th scope="row">'
            f'<a href="#entity-{index + 1}">{_e(entity.name)}</a></th>'
            f"<td>{chosen}</td><td>{_e(name) if name else '-'}</td><td>{gaps}</td>"
            f"<td>{'provisional' if entity.name in open_.provisional else 'settled'}</td></tr>"
        )
    out += ["</tbody>", "</table>", "</section>"]

    out += [
        '<section id="capabilities" class="part">',
        "<h2>Capabilities</h2>",
        '<p class="legend">For each legal entity: which deployment type offers which capability (✓ offered, – not '
        "offered), the capabilities the entity needs, and the needs its recommended type leaves as gaps. The "
        "recommended type's column is shaded.</p>",
    ]
    for entity in decision.entities:
        types, rows = matrix(decision, entity)
        out += [
            '<div class="matrix-block">',
            f"<h3>{_e(entity.name)}</h3>",
            f'<table class="matrix" data-entity="{_e(entity.name)}">',
            '<thead><tr><th scope="col">Capability</th><th scope="col">Needed</th>'
            + "".join(
                f'<th scope="col" class="type{" recommended" if t == entity.deployment else ""}" '
                f'title="{_e(kb.type_name(t))}"><code>{_e(t)}</code>'
                + ("<br>recommended" if t == entity.deployment else "")
                + "</th>"
                for t in types
            )
            + "</tr></thead>",
            "<tbody>",
        ]
        for row in rows:
            classes = "gap" if row.gap else ("needed" if row.needed else "other")
            need = "gap" if row.gap else ("needed" if row.needed else "")
            cells = "".join(
                f'<td class="cell {"yes" if offered else "no"}{" recommended" if t == entity.deployment else ""}">'
                f"{'✓' if offered else '–'}</td>"
                for t, offered in zip(types, row.offered, strict=True)
            )
            out.append(
                f'<tr class="{classes}" data-capability="{_e(row.capability)}"><th scope="row">'
                f'<code>{_e(row.capability)}</code> <span class="capname">{_e(row.name)}</span></th>'
                f'<td class="need">{need}</td>{cells}</tr>'
            )
        out += ["</tbody>", "</table>", "</div>"]
    out.append("</section>")

    out += ['<section id="warnings-notes" class="part">', "<h2>Warnings and notes</h2>"]
    for title, kind, notices in (("Warnings", "warning", decision.warnings), ("Notes", "note", decision.notes)):
        out.append(f"<h3>{title}</h3>")
        if not notices:
            out.append('<p class="none">None.</p>')
            continue
        out.append(f'<ul class="notices {kind}s">')
        for notice in notices:
            about = "".join(f", {_e(key)} <strong>{_e(value)}</strong>" for key, value in _notice_about(notice))
            rule = _notice_rule(decision, notice)
            cite = ""
            if rule is not None:
                cite = (
                    f' <span class="cite">(rule <code>{_e(rule.rule)}</code>'
                    + (f", source <code>{_e(rule.source)}</code>)" if rule.source else ")")
                    + "</span>"
                )
            out.append(
                f'<li class="{kind}"><span class="code">{_e(notice.code)}</span>{about}: {_e(notice.message)}{cite}'
                "</li>"
            )
        out.append("</ul>")
    out.append("</section>")

    out += ['<section id="why" class="part">', "<h2>Why</h2>"]
    for index, entity in enumerate(decision.entities):
        chosen = f"<code>{_e(entity.deployment)}</code>" if entity.deployment else "no deployment type fits"
        out += [
            f'<article class="entity" id="entity-{index + 1}" data-entity="{_e(entity.name)}">',
            f"<h3>{_e(entity.name)}: {chosen}</h3>",
            '<p class="needs">Needs: ' + (", ".join(f"<code>{_e(n)}</code>" for n in entity.needs) or "none") + ".</p>",
        ]
        if entity.gaps:
            out.append('<p class="gaps">Gaps: ' + ", ".join(f"<code>{_e(g)}</code>" for g in entity.gaps) + ".</p>")
        steps, given = derivation(decision, deployment_facts(decision, entity))
        if steps:
            out += ["<h4>How the recommendation was derived</h4>", '<ol class="steps">']
            for step in steps:
                absent = absent_conditions(step.firing)
                inner = (
                    '<ul class="absent">' + "".join(f"<li>absent: <code>{_e(a)}</code></li>" for a in absent) + "</ul>"
                    if absent
                    else ""
                )
                out.append(f"<li>Step {step.number}: {_html_reason(_reason(step.number, step.firing))}{inner}</li>")
            out += ["</ol>", "<h4>Facts it rests on</h4>", '<ul class="given">']
            out += [f"<li><code>{_e(f)}</code> at <code>{_e(_given_location(f))}</code></li>" for f in given]
            out.append("</ul>")
        else:
            out.append('<p class="none">No rule concluded a deployment for this legal entity.</p>')
        out += ["<h4>Why not the other types</h4>", '<ul class="whynot">']
        for type_id, reasons in why_not_all(decision, entity):
            out.append(f'<li data-type="{_e(type_id)}">Not <code>{_e(type_id)}</code> ({_e(kb.type_name(type_id))}):')
            out.append("<ul>" + "".join(f"<li>{_html_reason(r)}</li>" for r in reasons) + "</ul></li>")
        out += ["</ul>", "</article>"]
    out.append("</section>")

    cited, uncited = sources(decision)
    out += ['<section id="sources" class="part">', "<h2>Sources</h2>"]
    if cited:
        out.append('<ul class="sources">')
        for source, rules, count in cited:
            out.append(
                f"<li><code>{_e(source)}</code>: cited by "
                + ", ".join(f"<code>{_e(r)}</code>" for r in rules)
                + f" ({count} firing{'s' if count != 1 else ''})</li>"
            )
        out.append("</ul>")
    else:
        out.append('<p class="none">No rule that fired cites a source.</p>')
    if uncited:
        listed = ", ".join(f"<code>{_e(r)}</code>" for r in uncited)
        out.append(f"<p>Rules that fired without citing a source: {listed}</p>")
    out += [
        "</section>",
        f"<footer>Generated by {_e(_version())} from <code>{_e(decision.facts.source)}</code>. Every conclusion "
        "above is traced to the facts given and the rules, with their sources, that drew it.</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out)


# -- the derivation graph ---------------------------------------------------------------------------------------------


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
                detail = _given_location(fact)
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


# -- writing ----------------------------------------------------------------------------------------------------------


def write_output(text: str, path: str | os.PathLike[str]) -> None:
    """Write text (ending it with one newline) to path atomically.

    The text goes to a new file in the same folder, flushed to disk, then os.replace puts it in place: a crash
    leaves either the old file whole or the new one whole, never part of one, and no temporary file behind. A
    replaced file keeps its permission bits; a new one gets the usual ones (0666 less the umask).
    """
    target = os.fspath(path)
    folder = os.path.dirname(target) or "."
    data = (text if text.endswith("\n") else text + "\n").encode("utf-8")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise PodeployError(f"cannot write {target}: {exc.strerror or exc}") from exc
    temp = ""
    try:
        for _ in range(100):
            temp = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 collisions of 48 random bits
            raise FileExistsError(temp)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if mode is not None:
                os.chmod(temp, mode)
            os.replace(temp, target)
            temp = ""
        finally:
            if temp:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
    except OSError as exc:
        raise PodeployError(f"cannot write {target}: {exc.strerror or exc}") from exc
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
