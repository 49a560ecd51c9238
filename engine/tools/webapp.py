"""`podeploy serve`: the workshop in a browser, served from this machine to this machine.

Built on the standard library's http.server: podeploy serves one consultant's workshop at a time, on
127.0.0.1, so a single-threaded server with a dozen routes needs no web framework, nothing to install
and nothing fetched from the internet. Pages are rendered here from the same engine calls the CLI
makes (the questionnaire's next question, `evaluate`'s decision, the report's plan, what-if); the
only reasoning is theirs.

Security, as a local notebook server does it: a random token per launch, given once in the printed
address and then kept in a same-site cookie; every request must carry it, name this server in its Host
header (no DNS rebinding) and, when it changes something, come from a page of this server (Origin or
Referer) with the token in the form as well (no cross-site POST). The server reads and writes only the
facts file it was given, or files in the folder it was started in.
"""

from __future__ import annotations

import hmac
import html
import http.server
import os
import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from typing import Any

from ..errors import BadInput, Location, PodeployError, Problem
from ..explain.queries import notice_words
from ..io.loader import parse_document
from ..policy.knowledge import KnowledgeBase
from .workshop import Workshop

MAX_BODY = 4 * 1024 * 1024  # a facts file pasted or loaded: the loader's own limit
SLUG = re.compile(r"[^a-z0-9]+")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass
class Page:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _redirect(to: str) -> Page:
    return Page(HTTPStatus.SEE_OTHER, b"", headers={"Location": to})


class WebApp:
    """The routes of the workshop app over one Workshop; `handle` answers one request."""

    def __init__(
        self,
        kb: KnowledgeBase,
        workshop: Workshop,
        *,
        facts_path: str | None,
        folder: str,
        engine: str = "auto",
        token: str | None = None,
    ) -> None:
        self.kb = kb
        self.workshop = workshop
        self.facts_path = facts_path
        self.folder = os.path.realpath(folder)
        self.engine = engine
        self.token = token or secrets.token_urlsafe(24)
        self.port = 0
        self.host = "127.0.0.1"
        self.flash: list[tuple[str, str]] = []  # (kind, message) shown once on the next page
        self.whatif: str | None = None  # the last what-if result, as HTML, for the explain view
        self.saved_to: str | None = facts_path

    # -- security --------------------------------------------------------------------------------------------

    @property
    def cookie_name(self) -> str:
        return f"podeploy-{self.port}"

    def hosts(self) -> set[str]:
        names = {self.host, "127.0.0.1", "localhost"} if self.host in ("127.0.0.1", "localhost") else {self.host}
        return {f"{name}:{self.port}" for name in names} | ({"[::1]:" + str(self.port)} if "::1" in names else set())

    def _authorised(self, headers: Any, query: dict[str, list[str]]) -> bool:
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("Cookie", ""))
        except Exception:  # a malformed cookie header is no cookie
            return False
        given = cookie[self.cookie_name].value if self.cookie_name in cookie else (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _same_origin(self, headers: Any) -> bool:
        allowed = {f"http://{h}" for h in self.hosts()}
        origin = headers.get("Origin")
        if origin is not None:
            return origin in allowed
        referer = headers.get("Referer", "")
        parts = urllib.parse.urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}" in allowed

    # -- requests --------------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Page:
        if headers.get("Host") not in self.hosts():
            return Page(HTTPStatus.MISDIRECTED_REQUEST, b"This server answers only at its own address.\n",
                        "text/plain; charset=utf-8")
        parts = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(parts.query, max_num_fields=20)
        if not self._authorised(headers, query):
            return Page(HTTPStatus.FORBIDDEN, b"Open the address podeploy serve printed (it holds the token).\n",
                        "text/plain; charset=utf-8")
        if method == "GET" and "token" in query:  # the printed address: the token goes into a cookie, out of the URL
            cookie = f"{self.cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            return Page(HTTPStatus.SEE_OTHER, b"", headers={"Location": parts.path or "/", "Set-Cookie": cookie})
        if method == "POST":
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=50)
            if not self._same_origin(headers) or not hmac.compare_digest(
                (form.get("token") or [""])[0].encode(), self.token.encode()
            ):
                return Page(HTTPStatus.FORBIDDEN, b"A change must come from a page of this workshop.\n",
                            "text/plain; charset=utf-8")
            return self._post(parts.path, {k: v[0] for k, v in form.items()})
        if method == "GET":
            return self._get(parts.path, {k: v[0] for k, v in query.items()})
        return Page(HTTPStatus.METHOD_NOT_ALLOWED, b"", headers={"Allow": "GET, POST"})

    def _get(self, path: str, query: dict[str, str]) -> Page:
        try:
            if path == "/":
                return self._html("Workshop", self._workshop_view())
            if path == "/explain":
                return self._html("Why this advice", self._explain_view(_index(query.get("entity", "0"))))
            if path == "/knowledge":
                return self._html("Knowledge", self._knowledge_view())
            if path == "/facts.yaml":
                name = self._file_name()
                return Page(HTTPStatus.OK, self.workshop.facts_text().encode(), "application/yaml; charset=utf-8",
                            {"Content-Disposition": f'attachment; filename="{name}"'})
            if path in ("/report.html", "/report.pdf"):
                return self._report(path.endswith(".pdf"))
            if path == "/app.js":
                return Page(HTTPStatus.OK, _SCRIPT.encode(), "text/javascript; charset=utf-8")
        except PodeployError as exc:
            self.flash.extend(("error", line) for line in _problem_lines(exc))
            return _redirect("/")
        return Page(HTTPStatus.NOT_FOUND, b"No such page.\n", "text/plain; charset=utf-8")

    def _post(self, path: str, form: dict[str, str]) -> Page:
        actions: dict[str, Callable[[dict[str, str]], str]] = {
            "/answer": self._answer,
            "/back": self._back,
            "/customer": lambda f: self._do(lambda: self.workshop.rename_customer(f.get("name", ""))),
            "/entity/add": lambda f: self._do(lambda: self.workshop.add_entity(f.get("name", ""))),
            "/entity/rename": lambda f: self._do(
                lambda: self.workshop.rename_entity(_index(f.get("entity", "")), f.get("name", ""))
            ),
            "/entity/remove": lambda f: self._do(lambda: self.workshop.remove_entity(_index(f.get("entity", "")))),
            "/whatif": self._whatif,
            "/save": self._save,
            "/load": self._load,
        }
        action = actions.get(path)
        if action is None:
            return Page(HTTPStatus.NOT_FOUND, b"No such action.\n", "text/plain; charset=utf-8")
        try:
            return _redirect(action(form))
        except PodeployError as exc:
            self.flash.extend(("error", line) for line in _problem_lines(exc))
            return _redirect(form.get("back_to", "/") if form.get("back_to", "/").startswith("/") else "/")

    def _do(self, change: Callable[[], None]) -> str:
        change()
        return "/"

    def _answer(self, form: dict[str, str]) -> str:
        key = form.get("question", "")
        if form.get("answer") == "?":
            self.workshop.dont_know(key)
        else:
            self.workshop.answer(key, form.get("answer", form.get("value", "")))
        return "/"

    def _back(self, form: dict[str, str]) -> str:
        if self.workshop.back() is None:
            self.flash.append(("info", "Nothing to go back to."))
        return "/"

    def _whatif(self, form: dict[str, str]) -> str:
        from .whatif import apply, search

        entity = _index(form.get("entity", "0"))
        names = self.workshop.entity_names
        if not 0 <= entity < len(names):
            raise BadInput([Problem("unknown-entity", f"there is no legal entity {entity + 1}", _where("entity"))])
        name = names[entity] if self.workshop.entities else None
        doc = parse_document(self.workshop.facts_text(), "<workshop>")
        kind, what = form.get("change", ""), form.get("what", "")
        if kind == "target":
            result = search(self.kb, doc, what, entity=name, engine=self.engine)
            self.whatif = _search_html(self.kb, result)
        else:
            changes = {"add": "adds", "drop": "drops", "set": "sets"}
            if kind not in changes:
                raise BadInput([Problem("bad-value", "a change is add, drop, set or target", _where("change"))])
            applied = apply(self.kb, doc, **{changes[kind]: [what]}, entity=name, engine=self.engine)
            self.whatif = _applied_html(self.kb, applied)
        return f"/explain?entity={entity}#whatif"

    def _file_name(self) -> str:
        if self.facts_path is not None:
            return os.path.basename(self.facts_path)
        slug = SLUG.sub("-", self.workshop.customer.lower()).strip("-") or "customer"
        return f"{slug}.facts.yaml"

    def _save(self, form: dict[str, str]) -> str:
        from ..explain.report import write_output
        from ..io.outputs import write_in_place

        path = self.facts_path or os.path.join(self.folder, self._file_name())
        if self.facts_path is None and os.path.lexists(path) and self.saved_to != path:
            raise BadInput([Problem("exists", f"{os.path.basename(path)} already exists in {self.folder}; podeploy "
                                    "serve does not overwrite a file it did not write", _where("save"))])
        text = self.workshop.facts_text()
        if os.path.exists(path) and not os.path.isfile(path):
            write_in_place(path, text)
        else:
            write_output(text, path)
        self.saved_to = path
        self.flash.append(("info", f"Saved {path}."))
        return "/"

    def _load(self, form: dict[str, str]) -> str:
        text = form.get("text", "")
        if len(text.encode()) > MAX_BODY:
            raise BadInput([Problem("too-large", "the facts file is over 4 MiB", _where("load"))])
        doc = parse_document(text, form.get("name") or "<loaded>")
        self.workshop = Workshop.from_document(self.kb, doc, engine=self.engine)
        self.flash.append(("info", f"Loaded the facts of {self.workshop.customer}."))
        return "/"

    def _report(self, pdf: bool) -> Page:
        from ..explain.html_report import report_html

        page = report_html(self.workshop.decision())
        if not pdf:
            return Page(HTTPStatus.OK, page.encode(), headers={"Content-Disposition": "inline"})
        from ..explain.pdf import html_to_pdf

        slug = self._file_name().split(".")[0]
        return Page(HTTPStatus.OK, html_to_pdf(page), "application/pdf",
                    {"Content-Disposition": f'attachment; filename="{slug}-report.pdf"'})

    # -- views -----------------------------------------------------------------------------------------------

    def _form(self, action: str, inner: str, cls: str = "") -> str:
        attr = f' class="{cls}"' if cls else ""
        return (f'<form method="post" action="{_e(action)}"{attr}>'
                f'<input type="hidden" name="token" value="{_e(self.token)}">{inner}</form>')

    def _html(self, title: str, content: str) -> Page:
        flash = "".join(
            f'<p class="flash error" role="alert"><strong>Problem:</strong> {_e(text)}</p>' if kind == "error"
            else f'<p class="flash" role="status">{_e(text)}</p>'
            for kind, text in self.flash
        )
        self.flash = []
        nav = (
            '<nav aria-label="Views"><a href="/">Workshop</a> <a href="/explain?entity=0">Why this advice</a> '
            '<a href="/knowledge">Knowledge</a> <a href="/report.html">Report</a> '
            '<a href="/report.pdf">Report (PDF)</a> <a href="/facts.yaml">Download facts</a></nav>'
        )
        page = (
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; style-src 'unsafe-inline'; "
            "img-src 'self' data:\">"
            f"<title>{_e(title)} · {_e(self.workshop.customer)} · podeploy</title><style>{_CSS}</style></head>"
            f"<body><header><p class=\"product\">podeploy workshop</p>{nav}</header><main id=\"main\">{flash}"
            f"{content}</main><script src=\"/app.js\"></script></body></html>"
        )
        return Page(HTTPStatus.OK, page.encode())

    def _workshop_view(self) -> str:
        w = self.workshop
        decision = w.decision()
        possible = dict(w.possible())
        entities = "".join(
            f"<li>{self._form('/entity/rename', _entity_rename(i, name), 'inline')}"
            f"{self._form('/entity/remove', _hidden('entity', i) + '<button>Remove</button>', 'inline')}</li>"
            for i, name in enumerate(w.entities)
        )
        people = (
            "<section aria-labelledby=\"customer-h\"><h2 id=\"customer-h\">Customer</h2>"
            + self._form("/customer", '<label>Customer name <input name="name" required maxlength="200" '
                         f'value="{_e(w.customer)}"></label> <button>Rename</button>')
            + "<h3>Legal entities</h3>"
            + (f"<ol class=\"entities\">{entities}</ol>" if entities else
               "<p>One legal entity, named after the customer. Add them if there are several.</p>")
            + self._form("/entity/add", '<label>New legal entity <input name="name" required maxlength="200">'
                         "</label> <button>Add</button>")
            + "</section>"
        )
        question = w.next_question()
        if question is None:
            ask = ("<p class=\"done\"><strong>Nothing left to ask can change the advice.</strong></p>"
                   + self._form("/back", "<button>Back</button>"))
        else:
            yes_no = "y yes, n no, " if question.kind in ("yes-no", "boolean") else ""
            ask = (f"<p class=\"question\" id=\"question-text\">{_e(question.text)}</p>"
                   + f"<p class=\"keys\">Keys: {yes_no}? don't know, &lt; back.</p>"
                   + self._form("/answer", _hidden("question", question.key) + _answer_controls(question), "answer")
                   + self._form("/back", "<button>Back</button>"))
        remaining = w.open_questions()
        rows = "".join(
            f"<tr><th scope=\"row\">{_e(e.name)}</th>"
            f"<td>{_e(self.kb.type_name(e.deployment) if e.deployment else 'none')}"
            f"</td><td>{'provisional: answers can still change it' if len(possible.get(e.name, [])) > 1 else 'settled'}"
            f"</td><td><a href=\"/explain?entity={i}\">Why</a></td></tr>"
            for i, e in enumerate(decision.entities)
        )
        warnings = "".join(f"<li>{_e(notice_words(decision, n))}</li>" for n in decision.warnings)
        advice = (
            "<section aria-labelledby=\"advice-h\" class=\"advice\"><h2 id=\"advice-h\">Advice so far</h2>"
            "<table><thead><tr><th scope=\"col\">Legal entity</th><th scope=\"col\">Deployment</th>"
            f"<th scope=\"col\">Status</th><th scope=\"col\">Explain</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p class=\"remaining\">{remaining} question{'' if remaining == 1 else 's'} can still change something."
            f" {w.asked} answered.</p>"
            + (f"<h3>Warnings</h3><ul class=\"warnings\">{warnings}</ul>" if warnings else "<p>No warnings.</p>")
            + "</section>"
        )
        files = (
            "<section aria-labelledby=\"files-h\"><h2 id=\"files-h\">Facts file</h2>"
            + self._form("/save", f"<button>Save {_e(self.facts_path or self._file_name())}</button>")
            + self._form("/load", '<label>Load a facts file <input type="file" id="load-file" accept=".yaml,.yml,'
                         '.json"></label><input type="hidden" name="name" id="load-name">'
                         '<label class="paste">or paste it <textarea name="text" id="load-text" rows="4">'
                         "</textarea></label> <button>Load</button>", "load")
            + "</section>"
        )
        return (f"<h1>{_e(w.customer)}</h1><div class=\"columns\"><section aria-labelledby=\"ask-h\" class=\"ask\">"
                f"<h2 id=\"ask-h\">Next question</h2>{ask}</section>{advice}</div>{people}{files}")

    def _explain_view(self, index: int) -> str:
        from ..explain.html_report import html_list
        from ..explain.plan import plan

        decision = self.workshop.decision()
        shown = plan(decision)
        if not 0 <= index < len(shown.entities):
            raise BadInput([Problem("unknown-entity", f"there is no legal entity {index + 1}", _where("entity"))])
        e = shown.entities[index]
        picker = " ".join(
            f'<a href="/explain?entity={i}"{" aria-current=page" if i == index else ""}>{_e(x.name)}</a>'
            for i, x in enumerate(shown.entities)
        )
        parts = [f"<h1>Why {_e(e.type_name or 'no deployment')} for {_e(e.name)}</h1><p>{picker}</p>"]
        if e.chosen:
            parts.append("<h2>Why this type</h2>" + str(html_list(e.chosen)))
        for name, reasons in e.lighter:
            parts.append(f"<h3>Why not {_e(name)}</h3>" + str(html_list(reasons)))
        for name, reasons in e.heavier:
            parts.append(f"<h3>Why not {_e(name)}</h3>" + str(html_list(reasons)))
        if e.gaps:
            parts.append("<h2>Gaps</h2><ul>" + "".join(f"<li>{_e(g)}</li>" for g in e.gaps) + "</ul>"
                         + str(html_list(e.gap_notes)))
        needs = set(decision.entities[index].needs)
        toggles = "".join(
            self._form("/whatif", _hidden("entity", index) + _hidden("back_to", f"/explain?entity={index}")
                       + _hidden("change", "drop" if c.id in needs else "add") + _hidden("what", c.id)
                       + f"<button>{'Drop' if c.id in needs else 'Add'} {_e(c.name)}</button>", "inline")
            for c in self.kb.capabilities.values()
        )
        targets = "".join(
            self._form("/whatif", _hidden("entity", index) + _hidden("back_to", f"/explain?entity={index}")
                       + _hidden("change", "target") + _hidden("what", t)
                       + f"<button>Smallest change to get {_e(self.kb.type_name(t))}</button>", "inline")
            for t in self.kb.types if t != decision.entities[index].deployment
        )
        facts = "".join(
            f"<option value=\"{_e(d.id)}={_e(v)}\">{_e(d.id)} = {_e(d.label(v) or v)}</option>"
            for d in self.kb.facts.values() if d.type in ("choice", "boolean") and not d.is_list
            for v in (d.values if d.type == "choice" else ("true", "false"))
        )
        setter = self._form("/whatif", _hidden("entity", index) + _hidden("back_to", f"/explain?entity={index}")
                            + _hidden("change", "set") + f'<label>Change a fact <select name="what">{facts}</select>'
                            "</label> <button>Try it</button>")
        parts.append(
            "<section id=\"whatif\" aria-labelledby=\"whatif-h\"><h2 id=\"whatif-h\">What if</h2>"
            "<p>Try a change: the workshop's answers stay as they are.</p>"
            f"{self.whatif or ''}<h3>Needs</h3><div class=\"toggles\">{toggles}</div><h3>Facts</h3>{setter}"
            f"<h3>Another type</h3><div class=\"toggles\">{targets}</div></section>"
        )
        self.whatif = None
        return "".join(parts)

    def _knowledge_view(self) -> str:
        from ..explain.render import capabilities_table, knowledge_json

        layers = "".join(
            f"<li><strong>{_e(k['layer'])}</strong>, as of {_e(k.get('as_of') or 'undated')}"
            f"{': ' + _e(k['title']) if k.get('title') else ''}</li>"
            for k in knowledge_json(self.kb)
        )
        header, rows = capabilities_table(self.kb)
        head = "<th scope=\"col\">Capability</th>" + "".join(
            f"<th scope=\"col\">{_e(self.kb.type_name(h))}</th>" for h in header[1:]
        )
        capabilities = self.kb.capabilities
        body = "".join(
            f"<tr><th scope=\"row\">{_e(capabilities[row[0]].name if row[0] in capabilities else row[0])}</th>"
            + "".join(f"<td>{'offered' if c == 'yes' else 'not offered'}</td>" for c in row[1:]) + "</tr>"
            for row in rows
        )
        return (f"<h1>The knowledge this advice uses</h1><ul>{layers}</ul><h2>Capabilities of each type</h2>"
                f"<table class=\"matrix\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _problem_lines(exc: PodeployError) -> list[str]:
    """A problem as the page shows it: located in its file (file:line:column), or at the form's field."""
    if not isinstance(exc, BadInput):
        return exc.lines()
    return [
        f"{p.location.file}: {p.code}: {p.message}" if p.location.file in FIELDS else str(p) for p in exc.problems
    ]


FIELDS = ("answer", "customer", "legal entity", "entity", "name", "question", "change", "save", "load")


def _where(what: str) -> Location:
    return Location(what)


def _index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadInput([Problem("bad-value", "a legal entity is chosen by its number", _where("entity"))]) from None


def _hidden(name: str, value: object) -> str:
    return f'<input type="hidden" name="{_e(name)}" value="{_e(value)}">'


def _entity_rename(index: int, name: str) -> str:
    return (_hidden("entity", index) + f'<label>Legal entity {index + 1} <input name="name" required maxlength="200" '
            f'value="{_e(name)}"></label> <button>Rename</button>')


def _answer_controls(question: Any) -> str:
    if question.kind in ("yes-no", "boolean"):
        choices: Iterable[tuple[str, str]] = (("y", "Yes"), ("n", "No"))
    elif question.kind == "choice":
        choices = ((c, c) for c in question.choices)
    else:
        return ('<label>Answer <input name="value" autofocus required></label> <button>Answer</button> '
                '<button name="answer" value="?" formnovalidate>Don\'t know</button>')
    buttons = "".join(f'<button name="answer" value="{_e(v)}">{_e(label)}</button> ' for v, label in choices)
    return buttons + '<button name="answer" value="?">Don\'t know</button>'


def _change_words(kb: KnowledgeBase, change: Any) -> str:
    """A what-if change as the customer reads it: 'Contoso US needs production orders'."""
    who = change.entity or "every legal entity"
    if change.kind in ("add", "drop") and change.fact in kb.facts and kb.facts[change.fact].type == "capability-list":
        name = kb.capabilities[str(change.value)].name if str(change.value) in kb.capabilities else str(change.value)
        return f"{who} {'needs' if change.kind == 'add' else 'no longer needs'} {name[:1].lower() + name[1:]}"
    decl = kb.facts.get(change.fact)
    if decl is None:
        return str(change)
    value = change.value
    shown = ("yes" if value else "no") if isinstance(value, bool) else (decl.label(str(value)) or str(value))
    for_whom = f" (for {change.entity})" if change.entity else ""
    return f"the answer to \u201c{decl.question}\u201d is {shown}{for_whom}"


def _applied_html(kb: KnowledgeBase, applied: Any) -> str:
    """What-if's answer in the customer's words: each legal entity's type before and after, and what else changes."""
    return _outcome_html(kb, applied.original, applied.outcome)


def _search_html(kb: KnowledgeBase, result: Any) -> str:
    """The smallest changes that make a type the recommendation, each in the customer's words."""
    wanted = kb.type_name(result.target)
    if not result.solutions:
        return (f"<div class=\"whatif\" role=\"status\"><h3>No change of up to {result.max_changes} answers makes "
                f"{_e(wanted)} the recommendation</h3><p>{_e(result.message)}</p></div>")
    shown = result.solutions[:10]
    more = len(result.solutions) - len(shown)
    return (
        f"<div class=\"whatif\" role=\"status\"><h3>The smallest changes that make {_e(wanted)} the "
        f"recommendation</h3><p>{len(result.solutions)} way{'' if len(result.solutions) == 1 else 's'}, each of "
        f"{len(shown[0].changes)} change{'' if len(shown[0].changes) == 1 else 's'}"
        + (f" (the first {len(shown)} shown)" if more else "") + ".</p>"
        + "".join(_outcome_html(kb, result.original, outcome, nested=True) for outcome in shown)
        + "</div>"
    )


def _outcome_html(kb: KnowledgeBase, original: Any, outcome: Any, *, nested: bool = False) -> str:
    changes = "; and ".join(_change_words(kb, c) for c in outcome.changes)
    items = []
    for e in outcome.entities:
        before = kb.type_name(e.before) if e.before else "no deployment"
        after = kb.type_name(e.after) if e.after else "no deployment"
        if e.before == e.after:
            text = f"<strong>{_e(e.name)}</strong> stays on {_e(after)}."
        else:
            text = f"<strong>{_e(e.name)}</strong> moves from {_e(before)} to {_e(after)}."
            if e.no_longer:
                text += f" {_e(e.no_longer)}"
            if e.decided_by is not None:
                text += f" {_e(e.decided_by.explanation)}"
        if e.gaps:
            names = [kb.capabilities[g].name if g in kb.capabilities else g for g in e.gaps]
            text += f" Still missing: {_e(', '.join(names))}."
        items.append(f"<li>{text}</li>")
    tag = "section" if nested else "div"
    attrs = ' class="option"' if nested else ' class="whatif" role="status"'
    out = [f"<{tag}{attrs}><h3>If {_e(changes)}</h3><ul>{''.join(items)}</ul>"]
    for title, before, after in (
        ("Warnings", original.warnings, outcome.decision.warnings),
        ("Notes", original.notes, outcome.decision.notes),
    ):
        had = {n.fact: n for n in before}
        has = {n.fact: n for n in after}
        lines = [f"<li>New: {_e(notice_words(outcome.decision, has[f]))}</li>" for f in has if f not in had]
        lines += [f"<li>No longer: {_e(notice_words(original, had[f]))}</li>" for f in had if f not in has]
        if lines:
            out.append(f"<h4>{title}</h4><ul>{''.join(lines)}</ul>")
    if len(out) == 1:
        out.append("<p>Nothing else changes.</p>")
    return "".join(out) + f"</{tag}>"


class _Handler(http.server.BaseHTTPRequestHandler):
    app: WebApp
    server_version = "podeploy"
    sys_version = ""

    def _respond(self, method: str) -> None:
        length = self.headers.get("Content-Length")
        body = b""
        if method == "POST":
            try:
                size = int(length or "0")
            except ValueError:
                size = -1
            if not 0 <= size <= MAX_BODY + 65536:
                self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                return
            body = self.rfile.read(size)
        try:
            page = self.app.handle(method, self.path, self.headers, body)
        except Exception as exc:  # a bug: one line in the page and in the log, never a traceback
            text = f"podeploy: internal error: {type(exc).__name__}: {exc}\n"
            page = Page(HTTPStatus.INTERNAL_SERVER_ERROR, text.encode(), "text/plain; charset=utf-8")
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "same-origin")
        for key, value in page.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(page.body)

    def do_GET(self) -> None:
        self._respond("GET")

    def do_POST(self) -> None:
        self._respond("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the consultant's screen is the browser; requests are not logged


def make_server(app: WebApp, host: str = "127.0.0.1", port: int = 0) -> http.server.HTTPServer:
    """The HTTP server for app, bound (port 0: any free port); app.port and app.host are set from it."""
    handler = type("Handler", (_Handler,), {"app": app})
    server = http.server.HTTPServer((host, port), handler)
    app.host, app.port = host, server.server_address[1]
    return server


def address(app: WebApp) -> str:
    """The address to open: this server, with the launch's token."""
    return f"http://{app.host}:{app.port}/?token={app.token}"


_CSS = """
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
"""

# The page's only script: keys answer the question (y, n, ? and < as in `podeploy ask`), and a chosen file is
# read into the load form's text box (no upload of binary form data).
_SCRIPT = """
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
