"""The customer's deployment plan as a Markdown document (GitHub-flavoured tables).

The same plan (plan.py) as the HTML report, laid out for a repository or a wiki: page one the decision,
then each legal entity's reasons, then the appendix. Every value from the facts or the knowledge is
escaped, so that Markdown (or the HTML a Markdown viewer allows) reads it as text.

The renderer returns text without a final newline (like those of render.py, for click.echo).
"""

from __future__ import annotations

import re

from ..evaluation.decision import Decision
from .brand import Brand
from .plan import TITLE, Said, fit_heading, plan, status_word
from .queries import Citation

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
        lines += [f"## {fit_heading(p)}", ""]
        lines += ["\n>\n".join(f"> {_md_said(s)}" for s in p.fit), ""]
    lines += ["## Recommendation", "", "| Legal entity | Deployment type | Status |", "| --- | --- | --- |"]
    for e in p.entities:
        chosen = md_text(e.type_name) if e.type_name else "No deployment type fits"
        if e.seed_name:
            chosen += f" (in 2023: {md_text(e.seed_name)})"
        lines.append(f"| {md_text(e.name)} | {chosen} | {status_word(e.provisional)} |")
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
