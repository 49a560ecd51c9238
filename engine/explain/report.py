"""Documents to hand to a customer (Markdown, self-contained HTML, PDF) and the derivation graph (DOT, Mermaid).

The report is the customer's decision, laid out from a Plan (plan.py): page one the decision, then
each legal entity's reasons, then an appendix with the capability matrix, each derivation step by
step and the sources as titled links. Nothing here reasons; it only lays the plan out.

The renderers return text without a final newline (like those of render.py, for click.echo);
io.outputs.write_file writes a file whole and ends a text with one newline.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable

from ..evaluation.decision import Decision
from ..model.terms import Fact
from ..records import record
from .brand import Brand
from .plan import Plan, Said, plan
from .queries import Citation

TITLE = "Project Operations deployment plan"


def _fit_heading(p: Plan) -> str:
    return "First: is Project Operations the right tool?" if p.fit_warning else "Is Project Operations the right tool?"


def _status(entity_provisional: bool) -> str:
    return "Provisional" if entity_provisional else "Settled"


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


def _md_url(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def _md_cite(c: Citation) -> str:
    label = md_text(c.label)
    return f"[{label}]({_md_url(c.url)})" if c.url else label


def _md_said(said: Said, *, audit: bool = False) -> str:
    text = md_text(said.text)
    cites = "; ".join(_md_cite(c) for c in said.cites)
    if cites:
        text += f" *(Source: {cites})*"
    if audit and said.rule:
        text += f" — rule {md_code(said.rule)} at {md_code(said.location)}"
    return text


def report_markdown(
    decision: Decision, *, date: str | None = None, brand: Brand | None = None, paper: str = "a4"
) -> str:
    """The plan as a Markdown document (GitHub-flavoured tables)."""
    p = plan(decision, date=date, brand=brand, paper=paper)
    lines: list[str] = [f"# {TITLE}: {md_text(p.customer)}", ""]
    prepared = f"Prepared for **{md_text(p.customer)}** on {p.date}"
    if p.brand is not None:
        prepared += f" by {md_text(p.brand.firm)}"
        if p.brand.contact:
            prepared += f" ({md_text(p.brand.contact)})"
    lines += [prepared + ".", ""]
    if p.workshop:
        lines += [md_text(p.workshop), ""]
    if p.fit:
        lines += [f"## {_fit_heading(p)}", ""]
        lines += ["\n>\n".join(f"> {_md_said(s)}" for s in p.fit), ""]
    lines += ["## Recommendation", "", "| Legal entity | Deployment type | Status |", "| --- | --- | --- |"]
    for e in p.entities:
        chosen = md_text(e.type_name) if e.type_name else "No deployment type fits"
        if e.seed_name:
            chosen += f" (in 2023: {md_text(e.seed_name)})"
        lines.append(f"| {md_text(e.name)} | {chosen} | {_status(e.provisional)} |")
    if any(e.provisional for e in p.entities):
        lines += ["", "Provisional: an open question below could still change it."]
    lines += ["", "### Environments to provision", ""]
    lines += [f"- {md_text(env.text)} {md_text(', '.join(env.entities))}." for env in p.environments]
    lines += ["", "### Before you commit", ""]
    lines += [f"- {_md_said(s)}" for s in p.traps] or ["- Nothing stands in the way of this plan."]
    lines += ["", "### Open questions", ""]
    if p.questions:
        for q in p.questions:
            lines.append(f"- {md_text(q.text)} (could change {md_text(q.changes)})")
        if p.questions_note:
            lines.append(f"- ({md_text(p.questions_note)})")
    else:
        lines.append("- None: no unanswered question can change this advice.")
    lines += ["", "### Next steps", ""]
    for group in p.next_steps:
        lines += [f"**{md_text(group.heading)}**", ""]
        lines += [f"{n}. {_md_said(s)}" for n, s in enumerate(group.steps, 1)]
        lines.append("")
    lines.append(f"*Based on: {md_text('; '.join(p.knowledge))}.*")
    lines.append("")

    for e in p.entities:
        heading = e.type_name or "no deployment type fits"
        lines += [f"## {md_text(e.name)}: {md_text(heading)}", ""]
        lines.append("Needs: " + (md_text(", ".join(e.needs)) or "nothing beyond the shared needs") + ".")
        lines.append("")
        if e.type_name:
            lines += [f"### Why {md_text(e.type_name)}", ""]
            for type_name, reasons in e.lighter:
                lines.append(f"- Not {md_text(type_name)}:")
                lines += [f"  - {_md_said(s)}" for s in reasons] or ["  - (no reason recorded)"]
            lines += [f"- {_md_said(s)}" for s in e.chosen]
            lines.append("")
        if e.heavier:
            lines += ["### Why not the other types", ""]
            for type_name, reasons in e.heavier:
                lines.append(f"- Not {md_text(type_name)}:")
                lines += [f"  - {_md_said(s)}" for s in reasons]
            lines.append("")
        if e.gaps:
            lines += ["### Gaps", "", f"{md_text(', '.join(e.gaps))}.", ""]
            lines += [f"- {_md_said(s)}" for s in e.gap_notes]
            lines.append("")
        if e.notes:
            lines += ["### Notes", ""]
            lines += [f"- {_md_said(s)}" for s in e.notes]
            lines.append("")
    if p.other_notes:
        lines += ["## Notes for the whole customer", ""]
        lines += [f"- {_md_said(s)}" for s in p.other_notes]
        lines.append("")

    lines += ["## Appendix A: capabilities", ""]
    lines.append("| Capability | " + " | ".join(md_text(t) for t in p.types) + " | Needed by |")
    lines.append("| --- | " + " | ".join("---" for _ in p.types) + " | --- |")
    for m in p.matrix:
        cells = ["yes" if o else "-" for o in m.offered]
        needed = ", ".join(md_text(n) + (" (**gap**)" if gap else "") for n, gap in m.needed_by) or "-"
        lines.append(f"| {md_text(m.capability)} | " + " | ".join(cells) + f" | {needed} |")
    lines += ["", "## Appendix B: how each recommendation was derived", ""]
    for d in p.derivations:
        lines += [f"### {md_text(d.entity)}", ""]
        if not d.steps:
            lines += ["No rule concluded a deployment for this legal entity.", ""]
            continue
        lines += [f"{s.number}. {_md_said(s.said, audit=True)}" for s in d.steps]
        lines += ["", "The customer's facts it rests on:", ""]
        lines += [f"- {md_text(text)} ({md_code(where)})" for text, where in d.facts] or ["- none"]
        lines.append("")
    lines += ["## Appendix C: sources", ""]
    for s in p.sources:
        cited = f" — cited by {', '.join(md_code(r) for r in s.rules)}" if s.rules else " — cited in the next steps"
        lines.append(f"- {_md_cite(s.citation)}{cited}")
    lines += ["", f"*Generated by {md_text(p.generator)} from {md_code(p.facts_source)}, engine {md_code(p.engine)}, "
              f"{p.firings} rule firings.*"]
    return "\n".join(lines)


# -- HTML -----------------------------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_CSS = """
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6675; --line: #d5dbe3; --accent: ACCENT;
  --soft: #eef3f8; --gap: #fbe4e4; --gap-ink: #9b1c1c; --warn: #fff4e0; --warn-line: #c77700; }
* { box-sizing: border-box; }
body { font-family: "Segoe UI", "Noto Sans", "DejaVu Sans", Helvetica, Arial, sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 60rem; padding: 1.5rem 2rem 3rem; line-height: 1.4; font-size: 15px;
  hyphens: manual; overflow-wrap: normal; word-break: normal; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; color: var(--accent); }
h2 { font-size: 1.2rem; color: var(--accent); border-bottom: 2px solid var(--accent); padding-bottom: .15rem;
  margin: 1.4rem 0 .5rem; }
h3 { font-size: 1.02rem; margin: 1rem 0 .35rem; }
p, ul, ol { margin: .3rem 0 .6rem; }
li { margin-bottom: .25rem; }
.brand { display: flex; align-items: center; justify-content: space-between; gap: 1rem;
  border-bottom: 1px solid var(--line); padding-bottom: .4rem; margin-bottom: .8rem; color: var(--muted); }
.brand img { max-height: 48px; max-width: 220px; }
.brand .firm { font-weight: 700; color: var(--ink); }
.lede { color: var(--muted); margin-bottom: .8rem; }
.verdict { border: 2px solid var(--warn-line); background: var(--warn); padding: .5rem .9rem; margin: .6rem 0 1rem;
  border-radius: 4px; }
.verdict h2 { border: 0; color: #7a4500; margin: 0 0 .3rem; padding: 0; }
.verdict.fits { border-color: var(--line); background: var(--soft); }
.verdict.fits h2 { color: var(--accent); }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 .8rem; font-size: .95em; }
table.plan th[scope="row"] { width: 32%; }
table.plan td[class^="status"] { width: 14%; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { background: var(--soft); }
td.type strong { display: block; }
.seed, .cite, .muted { color: var(--muted); font-size: .86em; }
.cite a { color: var(--accent); }
.status-provisional { color: #8a4b00; font-weight: 600; }
.status-settled { color: #1d6b35; font-weight: 600; }
code { font-family: Consolas, "DejaVu Sans Mono", monospace; font-size: .88em; }
article.entity { margin-bottom: 1.2rem; }
.notlist > li { margin-bottom: .4rem; }
table.matrix td.cell { text-align: center; width: 9%; }
table.matrix td.gap { color: var(--gap-ink); font-weight: 700; }
table.matrix th.type { text-align: center; }
ol.steps li { margin-bottom: .35rem; }
.next-steps { display: grid; grid-template-columns: repeat(auto-fit, minmax(17rem, 1fr)); gap: 0 1.2rem; }
.next-steps ol { padding-left: 1.3rem; }
.steps-for { margin-bottom: .1rem; }
.appendix h2 { font-size: 1.1rem; }
.appendix { font-size: .92em; }
footer { margin-top: 1.5rem; color: var(--muted); font-size: .82em; border-top: 1px solid var(--line);
  padding-top: .4rem; }
@page { size: PAPER; margin: 11mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 8.8pt; line-height: 1.3; }
  .cite, .seed, .muted { font-size: .82em; }
  h1 { font-size: 17pt; }
  h2 { font-size: 12.5pt; margin-top: 1rem; }
  h3 { font-size: 10.5pt; margin-top: .7rem; }
  section.decision { break-after: page; page-break-after: always; }
  section.part { break-before: page; page-break-before: always; }
  tr, li, .verdict { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

_PAPER_CSS = {"a4": "A4", "letter": "letter"}


def _html_cite(c: Citation, *, short: bool = False) -> str:
    label = _e(c.short if short else c.label)
    return f'<a href="{_e(c.url)}" rel="noreferrer">{label}</a>' if c.url else label


def _html_said(said: Said, *, audit: bool = False, short: bool = False) -> str:
    out = _e(said.text)
    if said.cites:
        cites = "; ".join(_html_cite(c, short=short) for c in said.cites)
        out += f' <span class="cite">(Source: {cites})</span>'
    if audit and said.rule:
        out += f' <span class="cite">— rule <code>{_e(said.rule)}</code> at <code>{_e(said.location)}</code></span>'
    return out


def _html_list(items: Iterable[Said], cls: str = "", *, audit: bool = False, short: bool = False) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<ul{attr}>" + "".join(f"<li>{_html_said(s, audit=audit, short=short)}</li>" for s in items) + "</ul>"


def report_html(
    decision: Decision, *, date: str | None = None, brand: Brand | None = None, paper: str = "a4"
) -> str:
    """The plan as one self-contained HTML file: inline CSS and images, no scripts, nothing loaded, printable."""
    p = plan(decision, date=date, brand=brand, paper=paper)
    customer = _e(p.customer)
    accent = p.brand.accent if p.brand is not None and p.brand.accent else "#0b5cad"
    css = _CSS.replace("ACCENT", accent).replace("PAPER", _PAPER_CSS.get(p.paper, "A4"))
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing but the inline style and embedded images may load or run, whatever a viewer does with the file.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">',
        f'<meta name="generator" content="{_e(p.generator)}">',
        f'<meta name="date" content="{_e(p.date)}">',
        f"<title>{TITLE} — {customer}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
        '<section class="decision" id="decision">',
    ]
    if p.brand is not None:
        logo = f'<img src="{_e(p.brand.logo)}" alt="{_e(p.brand.firm)}">' if p.brand.logo else ""
        contact = f' <span class="contact">{_e(p.brand.contact)}</span>' if p.brand.contact else ""
        out.append(f'<div class="brand"><span><span class="firm">{_e(p.brand.firm)}</span>{contact}</span>{logo}'
                   "</div>")
    prepared = f"Prepared for <strong>{customer}</strong> on <time>{_e(p.date)}</time>"
    if p.brand is not None:
        prepared += f" by {_e(p.brand.firm)}"
    out += [f"<h1>{TITLE}</h1>", f'<p class="lede">{prepared}.</p>']
    if p.workshop:
        out.append(f'<p class="lede workshop">{_e(p.workshop)}</p>')
    if p.fit:
        verdict = "verdict" if p.fit_warning else "verdict fits"
        out += [f'<div class="{verdict}" id="fit" role="note">', f"<h2>{_fit_heading(p)}</h2>"]
        out += [f"<p>{_html_said(s, short=True)}</p>" for s in p.fit]
        out.append("</div>")
    out += [
        '<h2 id="recommendation">Recommendation</h2>',
        '<table class="plan"><thead><tr><th scope="col">Legal entity</th><th scope="col">Deployment type</th>'
        '<th scope="col">Status</th></tr></thead><tbody>',
    ]
    for e in p.entities:
        chosen = f"<strong>{_e(e.type_name)}</strong>" if e.type_name else "<strong>No deployment type fits</strong>"
        if e.seed_name:
            chosen += f'<span class="seed">in 2023: {_e(e.seed_name)}</span>'
        status = "provisional" if e.provisional else "settled"
        out.append(
            f'<tr class="entity" data-entity="{_e(e.name)}" data-type="{_e(e.type_id or "")}">'
            f'<th scope="row">{_e(e.name)}</th><td class="type">{chosen}</td>'
            f'<td class="status-{status}">{_e(_status(e.provisional))}</td></tr>'
        )
    out.append("</tbody></table>")
    if any(e.provisional for e in p.entities):
        out.append('<p class="muted">Provisional: an open question below could still change it.</p>')
    out += ['<h3 id="environments">Environments to provision</h3>', "<ul>"]
    out += [f"<li>{_e(env.text)} {_e(', '.join(env.entities))}.</li>" for env in p.environments]
    out += ["</ul>", '<h3 id="traps">Before you commit</h3>']
    nothing = "<p>Nothing stands in the way of this plan.</p>"
    out.append(_html_list(p.traps, "traps", short=True) if p.traps else nothing)
    out.append('<h3 id="open-questions">Open questions</h3>')
    if p.questions:
        out.append('<ul class="questions">')
        for q in p.questions:
            out.append(f'<li>{_e(q.text)} <span class="muted">(could change {_e(q.changes)})</span></li>')
        if p.questions_note:
            out.append(f'<li class="muted">({_e(p.questions_note)})</li>')
        out.append("</ul>")
    else:
        out.append("<p>None: no unanswered question can change this advice.</p>")
    out += ['<h3 id="next-steps">Next steps</h3>', '<div class="next-steps">']
    for group in p.next_steps:
        steps = "".join(f"<li>{_html_said(s, short=True)}</li>" for s in group.steps)
        out.append(f'<div><p class="steps-for"><strong>{_e(group.heading)}</strong></p><ol class="next">{steps}</ol>'
                   "</div>")
    out.append("</div>")
    out += [
        f'<p class="muted basis">Based on: {_e("; ".join(p.knowledge))}. Generated by {_e(p.generator)} on '
        f"{_e(p.date)} from <code>{_e(p.facts_source)}</code>.</p>",
        "</section>",
    ]

    out += ['<section class="part reasons" id="reasons">']
    for index, e in enumerate(p.entities, 1):
        heading = e.type_name or "no deployment type fits"
        out += [
            f'<article class="entity" id="entity-{index}" data-entity="{_e(e.name)}">',
            f"<h2>{_e(e.name)}: {_e(heading)}</h2>",
            f"<p>Needs: {_e(', '.join(e.needs)) or 'nothing beyond the shared needs'}.</p>",
        ]
        if e.type_name:
            out.append(f"<h3>Why {_e(e.type_name)}</h3>")
            out.append('<ul class="notlist why">')
            for type_name, reasons in e.lighter:
                out.append(f"<li>Not {_e(type_name)}:{_html_list(reasons)}</li>")
            out += [f"<li>{_html_said(s)}</li>" for s in e.chosen]
            out.append("</ul>")
        if e.heavier:
            out.append("<h3>Why not the other types</h3>")
            out.append('<ul class="notlist whynot">')
            for type_name, reasons in e.heavier:
                out.append(f"<li>Not {_e(type_name)}:{_html_list(reasons)}</li>")
            out.append("</ul>")
        if e.gaps:
            out += ["<h3>Gaps</h3>", f"<p>{_e(', '.join(e.gaps))}.</p>"]
            if e.gap_notes:
                out.append(_html_list(e.gap_notes))
        if e.notes:
            out += ["<h3>Notes</h3>", _html_list(e.notes)]
        out.append("</article>")
    if p.other_notes:
        out += ['<article class="customer-notes">', "<h2>Notes for the whole customer</h2>",
                _html_list(p.other_notes), "</article>"]
    out.append("</section>")

    out += [
        '<section class="part appendix" id="appendix">',
        '<h2 id="capabilities">Appendix A: capabilities</h2>',
        '<p class="muted">Which deployment type offers which capability (✓ offered, – not offered), and which legal '
        "entities need it; a gap is a need its recommended type does not offer.</p>",
        '<table class="matrix"><thead><tr><th scope="col">Capability</th>'
        + "".join(f'<th scope="col" class="type">{_e(t)}</th>' for t in p.types)
        + '<th scope="col">Needed by</th></tr></thead><tbody>',
    ]
    for m in p.matrix:
        cells = "".join(f'<td class="cell">{"✓" if o else "–"}</td>' for o in m.offered)
        needed = ", ".join(
            f'<span class="gap">{_e(n)} (gap)</span>' if gap else _e(n) for n, gap in m.needed_by
        ) or '<span class="muted">–</span>'
        cls = "gap" if any(gap for _, gap in m.needed_by) else ("needed" if m.needed_by else "other")
        out.append(f'<tr class="{cls}"><th scope="row">{_e(m.capability)}</th>{cells}<td class="{cls}">{needed}</td>'
                   "</tr>")
    out += ["</tbody></table>", '<h2 id="derivations">Appendix B: how each recommendation was derived</h2>']
    for d in p.derivations:
        out.append(f'<h3 data-entity="{_e(d.entity)}">{_e(d.entity)}</h3>')
        if not d.steps:
            out.append("<p>No rule concluded a deployment for this legal entity.</p>")
            continue
        out.append('<ol class="steps">' + "".join(f"<li>{_html_said(s.said, audit=True)}</li>" for s in d.steps)
                   + "</ol>")
        out.append("<p>The customer's facts it rests on:</p>")
        out.append("<ul class=\"given\">" + ("".join(
            f'<li>{_e(text)} <span class="cite">({_e(where)})</span></li>' for text, where in d.facts
        ) or "<li>none</li>") + "</ul>")
    out += ['<h2 id="sources">Appendix C: sources</h2>', '<ul class="sources">']
    for s in p.sources:
        cited = (' <span class="cite">— cited by ' + ", ".join(f"<code>{_e(r)}</code>" for r in s.rules) + "</span>"
                 if s.rules else ' <span class="cite">— cited in the next steps</span>')
        out.append(f"<li>{_html_cite(s.citation)}{cited}</li>")
    out += [
        "</ul>",
        "</section>",
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
