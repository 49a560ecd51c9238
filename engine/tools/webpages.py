"""The pages of `podeploy serve`, as HTML: the workshop, why this advice (with what-if), the knowledge.

Each page is rendered from the same engine calls the CLI makes (the questionnaire's next question,
`evaluate`'s decision, the report's plan, what-if's answers) and says it in the customer's words;
webapp.py serves them. Pages are built from HTML values (explain/markup.py), so every value from the
facts, the knowledge or a form is escaped on its way in. Each form carries the launch's token, which
the server checks on every change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import BadInput, Location, PodeployError, Problem
from ..explain.markup import HTML
from ..explain.queries import notice_words
from ..model.fact_types import fact_type
from ..model.terms import show_value
from ..policy.knowledge import KnowledgeBase
from .workshop import Workshop

# The form fields a problem can be located at: the page names the field rather than a file.
FIELDS = ("answer", "customer", "legal entity", "entity", "name", "question", "change", "save", "load")


def at_field(what: str) -> Location:
    """Where a problem with a form's field is: at that field."""
    return Location(what)


def problem_lines(exc: PodeployError) -> list[str]:
    """A problem as the page shows it: located in its file (file:line:column), or at the form's field."""
    if not isinstance(exc, BadInput):
        return exc.lines()
    return [
        f"{p.location.file}: {p.code}: {p.message}" if p.location.file in FIELDS else str(p) for p in exc.problems
    ]


def layout(title: str, customer: str, content: HTML, flash: Iterable[tuple[str, str]]) -> HTML:
    """A whole page: the views' navigation, the messages to show once (kind, text), then the content."""
    shown = HTML("").join(
        HTML('<p class="flash error" role="alert"><strong>Problem:</strong> {}</p>').format(text) if kind == "error"
        else HTML('<p class="flash" role="status">{}</p>').format(text)
        for kind, text in flash
    )
    nav = HTML(
        '<nav aria-label="Views"><a href="/">Workshop</a> <a href="/explain?entity=0">Why this advice</a> '
        '<a href="/knowledge">Knowledge</a> <a href="/report.html">Report</a> '
        '<a href="/report.pdf">Report (PDF)</a> <a href="/facts.yaml">Download facts</a></nav>'
    )
    return HTML(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; style-src 'unsafe-inline'; "
        "img-src 'self' data:\">"
        "<title>{} · {} · podeploy</title><style>{}</style></head>"
        "<body><header><p class=\"product\">podeploy workshop</p>{}</header><main id=\"main\">{}"
        "{}</main><script src=\"/app.js\"></script></body></html>"
    ).format(title, customer, _CSS, nav, shown, content)


class Pages:
    """The views of one launch over its knowledge base; their forms carry the launch's token."""

    def __init__(self, kb: KnowledgeBase, token: str) -> None:
        self.kb = kb
        self.token = token

    def form(self, action: str, inner: HTML, cls: str = "") -> HTML:
        attr = HTML(' class="{}"').format(cls) if cls else ""
        return HTML('<form method="post" action="{}"{}><input type="hidden" name="token" value="{}">{}</form>').format(
            action, attr, self.token, inner
        )

    def workshop(self, w: Workshop, save_name: str) -> HTML:
        """The workshop: the next question, the advice so far, the customer and its legal entities, the file."""
        decision = w.decision()
        possible = dict(w.possible())
        entities = HTML("").join(
            HTML("<li>{}{}</li>").format(
                self.form("/entity/rename", _entity_rename(i, name), "inline"),
                self.form("/entity/remove", _hidden("entity", i) + HTML("<button>Remove</button>"), "inline"),
            )
            for i, name in enumerate(w.entities)
        )
        people = (
            HTML("<section aria-labelledby=\"customer-h\"><h2 id=\"customer-h\">Customer</h2>")
            + self.form("/customer", HTML('<label>Customer name <input name="name" required maxlength="200" '
                                          'value="{}"></label> <button>Rename</button>').format(w.customer))
            + HTML("<h3>Legal entities</h3>")
            + (HTML("<ol class=\"entities\">{}</ol>").format(entities) if entities else
               HTML("<p>One legal entity, named after the customer. Add them if there are several.</p>"))
            + self.form("/entity/add", HTML('<label>New legal entity <input name="name" required maxlength="200">'
                                            "</label> <button>Add</button>"))
            + HTML("</section>")
        )
        question = w.next_question()
        if question is None:
            ask = (HTML("<p class=\"done\"><strong>Nothing left to ask can change the advice.</strong></p>")
                   + self.form("/back", HTML("<button>Back</button>")))
        else:
            yes_no = "y yes, n no, " if question.kind in ("yes-no", "boolean") else ""
            ask = (HTML("<p class=\"question\" id=\"question-text\">{}</p>").format(question.text)
                   + HTML("<p class=\"keys\">Keys: {}? don't know, &lt; back.</p>").format(yes_no)
                   + self.form("/answer", _hidden("question", question.key) + _answer_controls(question), "answer")
                   + self.form("/back", HTML("<button>Back</button>")))
        remaining = w.open_questions()
        rows = HTML("").join(
            HTML("<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td><a href=\"/explain?entity={}\">Why</a></td>"
                 "</tr>").format(
                e.name,
                self.kb.type_name(e.deployment) if e.deployment else "none",
                "provisional: answers can still change it" if len(possible.get(e.name, [])) > 1 else "settled",
                i,
            )
            for i, e in enumerate(decision.entities)
        )
        warnings = HTML("").join(HTML("<li>{}</li>").format(notice_words(decision, n)) for n in decision.warnings)
        advice = (
            HTML("<section aria-labelledby=\"advice-h\" class=\"advice\"><h2 id=\"advice-h\">Advice so far</h2>"
                 "<table><thead><tr><th scope=\"col\">Legal entity</th><th scope=\"col\">Deployment</th>"
                 "<th scope=\"col\">Status</th><th scope=\"col\">Explain</th></tr></thead><tbody>{}</tbody></table>"
                 "<p class=\"remaining\">{} question{} can still change something. {} answered.</p>").format(
                rows, remaining, "" if remaining == 1 else "s", w.asked
            )
            + (HTML("<h3>Warnings</h3><ul class=\"warnings\">{}</ul>").format(warnings) if warnings
               else HTML("<p>No warnings.</p>"))
            + HTML("</section>")
        )
        files = (
            HTML("<section aria-labelledby=\"files-h\"><h2 id=\"files-h\">Facts file</h2>")
            + self.form("/save", HTML("<button>Save {}</button>").format(save_name))
            + self.form("/load", HTML('<label>Load a facts file <input type="file" id="load-file" accept=".yaml,.yml,'
                                      '.json"></label><input type="hidden" name="name" id="load-name">'
                                      '<label class="paste">or paste it <textarea name="text" id="load-text" rows="4">'
                                      "</textarea></label> <button>Load</button>"), "load")
            + HTML("</section>")
        )
        return HTML("<h1>{}</h1><div class=\"columns\"><section aria-labelledby=\"ask-h\" class=\"ask\">"
                    "<h2 id=\"ask-h\">Next question</h2>{}</section>{}</div>{}{}").format(
            w.customer, ask, advice, people, files
        )

    def explain(self, w: Workshop, index: int, whatif: HTML | None) -> HTML:
        """Why this advice for one legal entity, and the what-if controls (with the last what-if's answer)."""
        from ..explain.html_report import html_list
        from ..explain.plan import plan

        decision = w.decision()
        shown = plan(decision)
        if not 0 <= index < len(shown.entities):
            raise BadInput([Problem("unknown-entity", f"there is no legal entity {index + 1}", at_field("entity"))])
        e = shown.entities[index]
        picker = HTML(" ").join(
            HTML('<a href="/explain?entity={}"{}>{}</a>').format(
                i, HTML(" aria-current=page") if i == index else "", x.name
            )
            for i, x in enumerate(shown.entities)
        )
        parts = [HTML("<h1>Why {} for {}</h1><p>{}</p>").format(e.type_name or "no deployment", e.name, picker)]
        if e.chosen:
            parts.append(HTML("<h2>Why this type</h2>") + html_list(e.chosen))
        for name, reasons in e.lighter:
            parts.append(HTML("<h3>Why not {}</h3>").format(name) + html_list(reasons))
        for name, reasons in e.heavier:
            parts.append(HTML("<h3>Why not {}</h3>").format(name) + html_list(reasons))
        if e.gaps:
            gaps = HTML("").join(HTML("<li>{}</li>").format(g) for g in e.gaps)
            parts.append(HTML("<h2>Gaps</h2><ul>{}</ul>").format(gaps) + html_list(e.gap_notes))
        needs = set(decision.entities[index].needs)
        toggles = HTML("").join(
            self.form("/whatif", _hidden("entity", index) + _hidden("back_to", f"/explain?entity={index}")
                      + _hidden("change", "drop" if c.id in needs else "add") + _hidden("what", c.id)
                      + HTML("<button>{} {}</button>").format("Drop" if c.id in needs else "Add", c.name), "inline")
            for c in self.kb.capabilities.values()
        )
        targets = HTML("").join(
            self.form("/whatif", _hidden("entity", index) + _hidden("back_to", f"/explain?entity={index}")
                      + _hidden("change", "target") + _hidden("what", t)
                      + HTML("<button>Smallest change to get {}</button>").format(self.kb.type_name(t)), "inline")
            for t in self.kb.types if t != decision.entities[index].deployment
        )
        facts = HTML("").join(
            HTML("<option value=\"{id}={value}\">{id} = {label}</option>").format(
                id=d.id, value=show_value(v), label=d.label(show_value(v)) or show_value(v)
            )
            for d in self.kb.facts.values() if not d.is_list
            for v in fact_type(d).values(d, ()) or ()  # a fact with a few values: each of them
        )
        setter = self.form("/whatif", _hidden("entity", index) + _hidden("back_to", f"/explain?entity={index}")
                           + _hidden("change", "set") + HTML('<label>Change a fact <select name="what">{}</select>'
                                                             "</label> <button>Try it</button>").format(facts))
        parts.append(HTML(
            "<section id=\"whatif\" aria-labelledby=\"whatif-h\"><h2 id=\"whatif-h\">What if</h2>"
            "<p>Try a change: the workshop's answers stay as they are.</p>"
            "{}<h3>Needs</h3><div class=\"toggles\">{}</div><h3>Facts</h3>{}"
            "<h3>Another type</h3><div class=\"toggles\">{}</div></section>"
        ).format(whatif or "", toggles, setter, targets))
        return HTML("").join(parts)

    def knowledge(self) -> HTML:
        """The knowledge this advice uses: its layers, and the capabilities of each type."""
        from ..explain.render import capabilities_table, knowledge_json

        layers = HTML("").join(
            HTML("<li><strong>{}</strong>, as of {}{}</li>").format(
                k["layer"], k.get("as_of") or "undated", ": " + k["title"] if k.get("title") else ""
            )
            for k in knowledge_json(self.kb)
        )
        header, rows = capabilities_table(self.kb)
        head = HTML("<th scope=\"col\">Capability</th>") + HTML("").join(
            HTML("<th scope=\"col\">{}</th>").format(self.kb.type_name(h)) for h in header[1:]
        )
        capabilities = self.kb.capabilities
        body = HTML("").join(
            HTML("<tr><th scope=\"row\">{}</th>{}</tr>").format(
                capabilities[row[0]].name if row[0] in capabilities else row[0],
                HTML("").join(HTML("<td>{}</td>").format("offered" if c == "yes" else "not offered") for c in row[1:]),
            )
            for row in rows
        )
        return HTML("<h1>The knowledge this advice uses</h1><ul>{}</ul><h2>Capabilities of each type</h2>"
                    "<table class=\"matrix\"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>").format(
            layers, head, body
        )


def _hidden(name: str, value: object) -> HTML:
    return HTML('<input type="hidden" name="{}" value="{}">').format(name, value)


def _entity_rename(index: int, name: str) -> HTML:
    return _hidden("entity", index) + HTML('<label>Legal entity {} <input name="name" required maxlength="200" '
                                           'value="{}"></label> <button>Rename</button>').format(index + 1, name)


def _answer_controls(question: Any) -> HTML:
    if question.kind in ("yes-no", "boolean"):
        choices: Iterable[tuple[str, str]] = (("y", "Yes"), ("n", "No"))
    elif question.kind == "choice":
        choices = ((c, c) for c in question.choices)
    else:
        return HTML('<label>Answer <input name="value" autofocus required> <span class="muted">{}</span></label> '
                    '<button>Answer</button> <button name="answer" value="?" formnovalidate>Don\'t know</button>'
                    ).format(question.hint)
    buttons = HTML("").join(
        HTML('<button name="answer" value="{}">{}</button> ').format(v, label) for v, label in choices
    )
    return buttons + HTML('<button name="answer" value="?">Don\'t know</button>')


# -- what-if's answers -------------------------------------------------------------------------------------------


def _change_words(kb: KnowledgeBase, change: Any) -> str:
    """A what-if change as the customer reads it: 'Contoso US needs production orders'."""
    who = change.entity or "every legal entity"
    if change.kind in ("add", "drop") and change.fact in {d.id for d in kb.capability_lists()}:
        needs = "needs" if change.kind == "add" else "no longer needs"
        return f"{who} {needs} {kb.capability_words(str(change.value))}"
    decl = kb.facts.get(change.fact)
    if decl is None:
        return str(change)
    value = change.value
    shown = ("yes" if value else "no") if isinstance(value, bool) else (decl.label(str(value)) or str(value))
    for_whom = f" (for {change.entity})" if change.entity else ""
    return f"the answer to \u201c{decl.question}\u201d is {shown}{for_whom}"


def applied_html(kb: KnowledgeBase, applied: Any) -> HTML:
    """What-if's answer in the customer's words: each legal entity's type before and after, and what else changes."""
    return _outcome_html(kb, applied.original, applied.outcome)


def search_html(kb: KnowledgeBase, result: Any) -> HTML:
    """The smallest changes that make a type the recommendation, each in the customer's words."""
    wanted = kb.type_name(result.target)
    if not result.solutions:
        return HTML("<div class=\"whatif\" role=\"status\"><h3>No change of up to {} answers makes {} the "
                    "recommendation</h3><p>{}</p></div>").format(result.max_changes, wanted, result.message)
    shown = result.solutions[:10]
    more = len(result.solutions) - len(shown)
    return (
        HTML("<div class=\"whatif\" role=\"status\"><h3>The smallest changes that make {} the recommendation</h3>"
             "<p>{} way{}, each of {} change{}").format(
            wanted, len(result.solutions), "" if len(result.solutions) == 1 else "s",
            len(shown[0].changes), "" if len(shown[0].changes) == 1 else "s",
        )
        + (HTML(" (the first {} shown)").format(len(shown)) if more else "") + HTML(".</p>")
        + HTML("").join(_outcome_html(kb, result.original, outcome, nested=True) for outcome in shown)
        + HTML("</div>")
    )


def _outcome_html(kb: KnowledgeBase, original: Any, outcome: Any, *, nested: bool = False) -> HTML:
    changes = "; and ".join(_change_words(kb, c) for c in outcome.changes)
    items = []
    for e in outcome.entities:
        before = kb.type_name(e.before) if e.before else "no deployment"
        after = kb.type_name(e.after) if e.after else "no deployment"
        if e.before == e.after:
            text = HTML("<strong>{}</strong> stays on {}.").format(e.name, after)
        else:
            text = HTML("<strong>{}</strong> moves from {} to {}.").format(e.name, before, after)
            if e.no_longer:
                text += HTML(" {}").format(e.no_longer)
            if e.decided_by is not None:
                text += HTML(" {}").format(e.decided_by.explanation)
        if e.gaps:
            names = [kb.capabilities[g].name if g in kb.capabilities else g for g in e.gaps]
            text += HTML(" Still missing: {}.").format(", ".join(names))
        items.append(HTML("<li>{}</li>").format(text))
    tag = "section" if nested else "div"
    attrs = HTML(' class="option"') if nested else HTML(' class="whatif" role="status"')
    out = [HTML("<{}{}><h3>If {}</h3><ul>{}</ul>").format(tag, attrs, changes, HTML("").join(items))]
    for title, before, after in (
        ("Warnings", original.warnings, outcome.decision.warnings),
        ("Notes", original.notes, outcome.decision.notes),
    ):
        had = {n.fact: n for n in before}
        has = {n.fact: n for n in after}
        lines = [HTML("<li>New: {}</li>").format(notice_words(outcome.decision, has[f])) for f in has if f not in had]
        lines += [HTML("<li>No longer: {}</li>").format(notice_words(original, had[f])) for f in had if f not in has]
        if lines:
            out.append(HTML("<h4>{}</h4><ul>{}</ul>").format(title, HTML("").join(lines)))
    if len(out) == 1:
        out.append(HTML("<p>Nothing else changes.</p>"))
    return HTML("").join(out) + HTML("</{}>").format(tag)


_CSS = HTML("""
:root { --ink: #111; --muted: #444; --line: #888; --accent: #0b4f8a; --soft: #eef3f8; }
* { box-sizing: border-box; }
body { font-family: "Segoe UI", "Noto Sans", "DejaVu Sans", Arial, sans-serif; font-size: 20px; line-height: 1.45;
  color: var(--ink); margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem; }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: baseline; border-bottom: 2px solid var(--accent); }
.product { font-weight: 700; margin: .3rem 0; }
nav a { margin-right: .8rem; }
a { color: var(--accent); }
a:focus, button:focus, input:focus, select:focus, textarea:focus { outline: 3px solid #f0a000; outline-offset: 2px; }
h1 { font-size: 1.7rem; margin: .8rem 0 .4rem; }
h2 { font-size: 1.3rem; margin: 1rem 0 .4rem; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(24rem, 1fr)); gap: 1.5rem; }
.question { font-size: 1.3rem; font-weight: 600; }
button { font: inherit; padding: .35rem .9rem; margin: .15rem 0; border: 2px solid var(--accent); background: #fff;
  color: var(--accent); border-radius: 6px; cursor: pointer; }
button:hover { background: var(--soft); }
input, select, textarea { font: inherit; padding: .25rem .4rem; border: 2px solid var(--line); border-radius: 4px; }
textarea { width: 100%; font-family: monospace; font-size: .8em; }
form.inline { display: inline-block; margin: 0 .4rem .3rem 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { background: var(--soft); }
.flash { padding: .5rem .8rem; border: 2px solid var(--line); border-radius: 6px; }
.flash.error { border-color: #9b1c1c; }
.cite { color: var(--muted); font-size: .85em; }
pre.whatif, div.whatif { white-space: pre-wrap; background: var(--soft); padding: .6rem; border-radius: 6px; }
pre.whatif { font-size: .8em; }
div.whatif { white-space: normal; border: 2px solid var(--accent); }
.toggles { display: flex; flex-wrap: wrap; }
.keys { color: var(--muted); font-size: .8em; }
""")

# The page's only script: keys answer the question (y, n, ? and < as in `podeploy ask`), and a chosen file is
# read into the load form's text box (no upload of binary form data).
SCRIPT = """
(function () {
  var keys = {"y": "y", "n": "n", "?": "?"};
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) { return; }
    var button = null;
    if (keys[event.key]) {
      button = document.querySelector("form.answer button[value='" + keys[event.key] + "']");
    } else if (event.key === "<") {
      button = document.querySelector("form[action='/back'] button");
    }
    if (button) { event.preventDefault(); button.click(); }
  });
})();
(function () {
  var input = document.getElementById("load-file");
  if (!input) { return; }
  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    if (!file) { return; }
    var reader = new FileReader();
    reader.onload = function () {
      document.getElementById("load-text").value = reader.result;
      document.getElementById("load-name").value = file.name;
    };
    reader.readAsText(file);
  });
})();
"""
