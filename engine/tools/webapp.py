"""`podeploy serve`: the workshop in a browser, served from this machine to this machine.

Built on the standard library's http.server: podeploy serves one consultant's workshop at a time, on
127.0.0.1, so a single-threaded server with a dozen routes needs no web framework, nothing to install
and nothing fetched from the internet. This module answers the requests: the routes, what each change
does to the workshop, and the security checks; webpages.py renders the pages, from the same engine
calls the CLI makes, and the only reasoning is theirs.

Security, as a local notebook server does it: a random token per launch, given once in the printed
address and then kept in a same-site cookie; every request must carry it, name this server in its Host
header (no DNS rebinding) and, when it changes something, come from a page of this server (Origin or
Referer) with the token in the form as well (no cross-site POST). The server reads and writes only the
facts file it was given, or files in the folder it was started in.
"""

from __future__ import annotations

import hmac
import http.server
import os
import re
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from typing import Any

from ..errors import BadInput, PodeployError, Problem
from ..explain.markup import HTML
from ..io.loader import parse_document
from ..policy.knowledge import KnowledgeBase
from .webpages import SCRIPT, Pages, applied_html, at_field, layout, problem_lines, search_html
from .workshop import Workshop

MAX_BODY = 4 * 1024 * 1024  # a facts file pasted or loaded: the loader's own limit
SLUG = re.compile(r"[^a-z0-9]+")


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
        self.whatif: HTML | None = None  # the last what-if result, for the explain view
        self.saved_to: str | None = facts_path
        self.pages = Pages(kb, self.token)

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
                return self._html("Workshop", self.pages.workshop(self.workshop, self.facts_path or self._file_name()))
            if path == "/explain":
                view = self.pages.explain(self.workshop, _index(query.get("entity", "0")), self.whatif)
                self.whatif = None
                return self._html("Why this advice", view)
            if path == "/knowledge":
                return self._html("Knowledge", self.pages.knowledge())
            if path == "/facts.yaml":
                name = self._file_name()
                return Page(HTTPStatus.OK, self.workshop.facts_text().encode(), "application/yaml; charset=utf-8",
                            {"Content-Disposition": f'attachment; filename="{name}"'})
            if path in ("/report.html", "/report.pdf"):
                return self._report(path.endswith(".pdf"))
            if path == "/app.js":
                return Page(HTTPStatus.OK, SCRIPT.encode(), "text/javascript; charset=utf-8")
        except PodeployError as exc:
            self.flash.extend(("error", line) for line in problem_lines(exc))
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
            self.flash.extend(("error", line) for line in problem_lines(exc))
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
        from .whatif.applying import apply
        from .whatif.searching import search

        entity = _index(form.get("entity", "0"))
        names = self.workshop.entity_names
        if not 0 <= entity < len(names):
            raise BadInput([Problem("unknown-entity", f"there is no legal entity {entity + 1}", at_field("entity"))])
        name = names[entity] if self.workshop.entities else None
        doc = parse_document(self.workshop.facts_text(), "<workshop>")
        kind, what = form.get("change", ""), form.get("what", "")
        if kind == "target":
            result = search(self.kb, doc, what, entity=name, engine=self.engine)
            self.whatif = search_html(self.kb, result)
        else:
            changes = {"add": "adds", "drop": "drops", "set": "sets"}
            if kind not in changes:
                raise BadInput([Problem("bad-value", "a change is add, drop, set or target", at_field("change"))])
            applied = apply(self.kb, doc, **{changes[kind]: [what]}, entity=name, engine=self.engine)
            self.whatif = applied_html(self.kb, applied)
        return f"/explain?entity={entity}#whatif"

    def _file_name(self) -> str:
        if self.facts_path is not None:
            return os.path.basename(self.facts_path)
        slug = SLUG.sub("-", self.workshop.customer.lower()).strip("-") or "customer"
        return f"{slug}.facts.yaml"

    def _save(self, form: dict[str, str]) -> str:
        from ..io.outputs import write_file

        path = self.facts_path or os.path.join(self.folder, self._file_name())
        if self.facts_path is None and os.path.lexists(path) and self.saved_to != path:
            raise BadInput([Problem("exists", f"{os.path.basename(path)} already exists in {self.folder}; podeploy "
                                    "serve does not overwrite a file it did not write", at_field("save"))])
        text = self.workshop.facts_text()
        write_file(path, text)
        self.saved_to = path
        self.flash.append(("info", f"Saved {path}."))
        return "/"

    def _load(self, form: dict[str, str]) -> str:
        text = form.get("text", "")
        if len(text.encode()) > MAX_BODY:
            raise BadInput([Problem("too-large", "the facts file is over 4 MiB", at_field("load"))])
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

    def _html(self, title: str, content: HTML) -> Page:
        flash, self.flash = self.flash, []
        return Page(HTTPStatus.OK, layout(title, self.workshop.customer, content, flash).encode())


def _index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadInput([Problem("bad-value", "a legal entity is chosen by its number", at_field("entity"))]) from None


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
