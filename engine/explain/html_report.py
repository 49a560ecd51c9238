"""The customer's deployment plan as one self-contained HTML file: inline CSS and images, no scripts, printable.

The same plan (plan.py) as the Markdown report: page one the decision (on a page of its own when
printed), then each legal entity's reasons, then an appendix with the capability matrix, each
derivation step by step and the sources as titled links. The page is built from HTML values
(markup.py), so every value from the facts, the knowledge or a brand file is escaped on its way in.
pdf.py prints this page.

The renderer returns text without a final newline (like those of render.py, for click.echo).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..evaluation.decision import Decision
from .brand import Brand
from .markup import HTML, escape
from .plan import TITLE, Plan, Said, fit_heading, plan, status_word
from .queries import Citation

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


def html_cite(c: Citation, *, short: bool = False) -> HTML:
    """A source as a titled link (its short title when short), or its title alone when it has no address."""
    label = c.short if short else c.label
    return HTML('<a href="{}" rel="noreferrer">{}</a>').format(c.url, label) if c.url else escape(label)


def html_said(said: Said, *, audit: bool = False, short: bool = False) -> HTML:
    """A statement with its sources; with audit, the rule that said it and where that rule is written."""
    out = escape(said.text)
    if said.cites:
        cites = HTML("; ").join(html_cite(c, short=short) for c in said.cites)
        out += HTML(' <span class="cite">(Source: {})</span>').format(cites)
    if audit and said.rule:
        out += HTML(' <span class="cite">— rule <code>{}</code> at <code>{}</code></span>').format(
            said.rule, said.location
        )
    return out


def html_list(items: Iterable[Said], cls: str = "", *, audit: bool = False, short: bool = False) -> HTML:
    """Statements as a bulleted list."""
    attr = HTML(' class="{}"').format(cls) if cls else ""
    said = HTML("").join(HTML("<li>{}</li>").format(html_said(s, audit=audit, short=short)) for s in items)
    return HTML("<ul{}>{}</ul>").format(attr, said)


def report_html(
    decision: Decision, *, date: str | None = None, brand: Brand | None = None, paper: str = "a4"
) -> str:
    """The plan as one self-contained HTML file: inline CSS and images, no scripts, nothing loaded, printable."""
    p = plan(decision, date=date, brand=brand, paper=paper)
    out = _decision_page(p) + _reasons(p) + _appendix(p) + [HTML("</body>"), HTML("</html>")]
    return str(HTML("\n").join(out))


def _decision_page(p: Plan) -> list[HTML]:
    """The document's head and page one: the decision."""
    accent = p.brand.accent if p.brand is not None and p.brand.accent else "#0b5cad"
    # The style sheet is this module's own; a brand's accent is #RRGGBB (its schema allows nothing else).
    css = HTML(_CSS.replace("ACCENT", accent).replace("PAPER", _PAPER_CSS.get(p.paper, "A4")))
    out: list[HTML] = [
        HTML("<!DOCTYPE html>"),
        HTML('<html lang="en">'),
        HTML("<head>"),
        HTML('<meta charset="utf-8">'),
        HTML('<meta name="viewport" content="width=device-width, initial-scale=1">'),
        # Nothing but the inline style and embedded images may load or run, whatever a viewer does with the file.
        HTML("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
             'img-src data:">'),
        HTML('<meta name="generator" content="{}">').format(p.generator),
        HTML('<meta name="date" content="{}">').format(p.date),
        HTML("<title>{} — {}</title>").format(TITLE, p.customer),
        HTML("<style>{}</style>").format(css),
        HTML("</head>"),
        HTML("<body>"),
        HTML('<section class="decision" id="decision">'),
    ]
    if p.brand is not None:
        logo = HTML('<img src="{}" alt="{}">').format(p.brand.logo, p.brand.firm) if p.brand.logo else ""
        contact = HTML(' <span class="contact">{}</span>').format(p.brand.contact) if p.brand.contact else ""
        out.append(HTML('<div class="brand"><span><span class="firm">{}</span>{}</span>{}</div>').format(
            p.brand.firm, contact, logo
        ))
    prepared = HTML("Prepared for <strong>{}</strong> on <time>{}</time>").format(p.customer, p.date)
    if p.brand is not None:
        prepared += HTML(" by {}").format(p.brand.firm)
    out += [HTML("<h1>{}</h1>").format(TITLE), HTML('<p class="lede">{}.</p>').format(prepared)]
    if p.workshop:
        out.append(HTML('<p class="lede workshop">{}</p>').format(p.workshop))
    if p.fit:
        verdict = "verdict" if p.fit_warning else "verdict fits"
        out += [HTML('<div class="{}" id="fit" role="note">').format(verdict),
                HTML("<h2>{}</h2>").format(fit_heading(p))]
        out += [HTML("<p>{}</p>").format(html_said(s, short=True)) for s in p.fit]
        out.append(HTML("</div>"))
    out += [
        HTML('<h2 id="recommendation">Recommendation</h2>'),
        HTML('<table class="plan"><thead><tr><th scope="col">Legal entity</th><th scope="col">Deployment type</th>'
             '<th scope="col">Status</th></tr></thead><tbody>'),
    ]
    for e in p.entities:
        chosen = HTML("<strong>{}</strong>").format(e.type_name or "No deployment type fits")
        if e.seed_name:
            chosen += HTML('<span class="seed">in 2023: {}</span>').format(e.seed_name)
        out.append(HTML(
            '<tr class="entity" data-entity="{name}" data-type="{type}"><th scope="row">{name}</th>'
            '<td class="type">{chosen}</td><td class="status-{status}">{word}</td></tr>'
        ).format(name=e.name, type=e.type_id or "", chosen=chosen, status="provisional" if e.provisional else "settled",
                 word=status_word(e.provisional)))
    out.append(HTML("</tbody></table>"))
    if any(e.provisional for e in p.entities):
        out.append(HTML('<p class="muted">Provisional: an open question below could still change it.</p>'))
    out += [HTML('<h3 id="environments">Environments to provision</h3>'), HTML("<ul>")]
    out += [HTML("<li>{} {}.</li>").format(env.text, ", ".join(env.entities)) for env in p.environments]
    out += [HTML("</ul>"), HTML('<h3 id="traps">Before you commit</h3>')]
    nothing = HTML("<p>Nothing stands in the way of this plan.</p>")
    out.append(html_list(p.traps, "traps", short=True) if p.traps else nothing)
    out.append(HTML('<h3 id="open-questions">Open questions</h3>'))
    if p.questions:
        out.append(HTML('<ul class="questions">'))
        for q in p.questions:
            out.append(HTML('<li>{} <span class="muted">(could change {})</span></li>').format(q.text, q.changes))
        if p.questions_note:
            out.append(HTML('<li class="muted">({})</li>').format(p.questions_note))
        out.append(HTML("</ul>"))
    else:
        out.append(HTML("<p>None: no unanswered question can change this advice.</p>"))
    out += [HTML('<h3 id="next-steps">Next steps</h3>'), HTML('<div class="next-steps">')]
    for group in p.next_steps:
        steps = HTML("").join(HTML("<li>{}</li>").format(html_said(s, short=True)) for s in group.steps)
        out.append(HTML('<div><p class="steps-for"><strong>{}</strong></p><ol class="next">{}</ol></div>').format(
            group.heading, steps
        ))
    out.append(HTML("</div>"))
    out += [
        HTML('<p class="muted basis">Based on: {}. Prepared with {} on {}.</p>').format(
            "; ".join(p.knowledge), p.generator, p.date
        ),
        HTML("</section>"),
    ]
    return out


def _reasons(p: Plan) -> list[HTML]:
    """Each legal entity's reasons: why its type, why not the others, its gaps and notes."""
    out = [HTML('<section class="part reasons" id="reasons">')]
    for index, e in enumerate(p.entities, 1):
        out += [
            HTML('<article class="entity" id="entity-{}" data-entity="{}">').format(index, e.name),
            HTML("<h2>{}: {}</h2>").format(e.name, e.type_name or "no deployment type fits"),
            HTML("<p>Needs: {}.</p>").format(", ".join(e.needs) or "nothing beyond the shared needs"),
        ]
        if e.type_name:
            out.append(HTML("<h3>Why {}</h3>").format(e.type_name))
            out.append(HTML('<ul class="notlist why">'))
            for type_name, reasons in e.lighter:
                out.append(HTML("<li>Not {}:{}</li>").format(type_name, html_list(reasons)))
            out += [HTML("<li>{}</li>").format(html_said(s)) for s in e.chosen]
            out.append(HTML("</ul>"))
        if e.heavier:
            out.append(HTML("<h3>Why not the other types</h3>"))
            out.append(HTML('<ul class="notlist whynot">'))
            for type_name, reasons in e.heavier:
                out.append(HTML("<li>Not {}:{}</li>").format(type_name, html_list(reasons)))
            out.append(HTML("</ul>"))
        if e.gaps:
            out += [HTML("<h3>Gaps</h3>"), HTML("<p>{}.</p>").format(", ".join(e.gaps))]
            if e.gap_notes:
                out.append(html_list(e.gap_notes))
        if e.notes:
            out += [HTML("<h3>Notes</h3>"), html_list(e.notes)]
        out.append(HTML("</article>"))
    if p.other_notes:
        out += [HTML('<article class="customer-notes">'), HTML("<h2>Notes for the whole customer</h2>"),
                html_list(p.other_notes), HTML("</article>")]
    out.append(HTML("</section>"))
    return out


def _appendix(p: Plan) -> list[HTML]:
    """The appendix: the capability matrix, each derivation step by step, the sources."""
    types = HTML("").join(HTML('<th scope="col" class="type">{}</th>').format(t) for t in p.types)
    out = [
        HTML('<section class="part appendix" id="appendix">'),
        HTML('<h2 id="capabilities">Appendix A: capabilities</h2>'),
        HTML('<p class="muted">Which deployment type offers which capability (✓ offered, – not offered), and which '
             "legal entities need it; a gap is a need its recommended type does not offer.</p>"),
        HTML('<table class="matrix"><thead><tr><th scope="col">Capability</th>{}<th scope="col">Needed by</th></tr>'
             "</thead><tbody>").format(types),
    ]
    for m in p.matrix:
        cells = HTML("").join(HTML('<td class="cell">{}</td>').format("✓" if o else "–") for o in m.offered)
        needed = HTML(", ").join(
            HTML('<span class="gap">{} (gap)</span>').format(n) if gap else n for n, gap in m.needed_by
        ) or HTML('<span class="muted">–</span>')
        cls = "gap" if any(gap for _, gap in m.needed_by) else ("needed" if m.needed_by else "other")
        out.append(HTML('<tr class="{cls}"><th scope="row">{}</th>{}<td class="{cls}">{}</td></tr>').format(
            m.capability, cells, needed, cls=cls
        ))
    out += [HTML("</tbody></table>"), HTML('<h2 id="derivations">Appendix B: how each recommendation was derived</h2>')]
    for d in p.derivations:
        out.append(HTML('<h3 data-entity="{0}">{0}</h3>').format(d.entity))
        if not d.steps:
            out.append(HTML("<p>No rule concluded a deployment for this legal entity.</p>"))
            continue
        steps = HTML("").join(HTML("<li>{}</li>").format(html_said(s.said, audit=True)) for s in d.steps)
        out.append(HTML('<ol class="steps">{}</ol>').format(steps))
        out.append(HTML("<p>The customer's facts it rests on:</p>"))
        given = HTML("").join(
            HTML('<li>{} <span class="cite">({})</span></li>').format(text, where) for text, where in d.facts
        ) or HTML("<li>none</li>")
        out.append(HTML('<ul class="given">{}</ul>').format(given))
    out += [HTML('<h2 id="sources">Appendix C: sources</h2>'), HTML('<ul class="sources">')]
    for s in p.sources:
        rules = HTML(", ").join(HTML("<code>{}</code>").format(r) for r in s.rules)
        cited = (HTML(' <span class="cite">— cited by {}</span>').format(rules) if s.rules
                 else HTML(' <span class="cite">— cited in the next steps</span>'))
        out.append(HTML("<li>{}{}</li>").format(html_cite(s.citation), cited))
    # The file the facts were read from is the consultant's audit trail, not the customer's page one.
    out += [HTML("</ul>"), HTML('<p class="muted">Generated by {} from <code>{}</code>, engine <code>{}</code>, '
                                '{} rule firings.</p>').format(p.generator, p.facts_source, p.engine, p.firings),
            HTML("</section>")]
    return out
