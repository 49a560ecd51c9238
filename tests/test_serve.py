"""`podeploy serve`: the workshop in a browser. HTTP-level tests of its routes and its security, and a
workshop run in a real headless Chromium."""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Browser, find_chromium
from click.testing import CliRunner
from podeploy.cli.main import cli
from podeploy.engine import load_knowledge_base
from podeploy.engine.facts.answers import read_answers
from podeploy.engine.facts.questions import ABSENT
from podeploy.engine.io.loader import load_document
from podeploy.engine.policy.knowledge import KnowledgeBase
from podeploy.engine.policy.layers import edition_dirs
from podeploy.engine.tools.webapp import WebApp, address, make_server
from podeploy.engine.tools.workshop import Workshop

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = ROOT / "examples" / "contoso.yaml"
ARTIFACTS = Path(os.environ.get("PODEPLOY_TEST_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base(edition_dirs())


class Served:
    """A running app and a client that talks to it as its own pages do."""

    def __init__(self, app: WebApp) -> None:
        self.app = app
        self.server = make_server(app)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{app.port}"
        self.cookie = f"{app.cookie_name}={app.token}"

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.app.port, timeout=60)
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        sent = {"Cookie": self.cookie, "Origin": self.base, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers={k: v for k, v in sent.items() if v})
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text

    def post(self, path: str, **form: str) -> str:
        status, headers, _ = self.request("POST", path, {"token": self.app.token, **form})
        assert status == 303, (path, status)
        _, _, page = self.request("GET", headers["location"])
        return page

    def page(self, path: str = "/") -> str:
        status, _, text = self.request("GET", path)
        assert status == 200
        return text

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(kb: KnowledgeBase, tmp_path: Path) -> Iterator[Served]:
    running = Served(WebApp(kb, Workshop(kb, "New customer"), facts_path=None, folder=str(tmp_path)))
    yield running
    running.close()


def visible_text(page: str) -> str:
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def question_key(page: str) -> str:
    found = re.search(r'name="question" value="([^"]+)"', page)
    assert found is not None, visible_text(page)[:500]
    return found.group(1)


# -- security ------------------------------------------------------------------------------------------------


def test_the_printed_address_sets_the_token_cookie_and_drops_the_token_from_the_address(served: Served) -> None:
    status, headers, _ = served.request("GET", "/?token=" + served.app.token, headers={"Cookie": ""})
    assert status == 303
    assert headers["location"] == "/"
    assert headers["set-cookie"] == f"{served.app.cookie_name}={served.app.token}; Path=/; HttpOnly; SameSite=Strict"
    assert address(served.app) == f"http://127.0.0.1:{served.app.port}/?token={served.app.token}"


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"Cookie": ""}, 403, "Open the address podeploy serve printed (it holds the token).\n"),
        ({"Cookie": "x=1"}, 403, "Open the address podeploy serve printed (it holds the token).\n"),
        ({"Host": "attacker.example:80"}, 421, "This server answers only at its own address.\n"),
    ],
    ids=["no-token", "wrong-cookie", "dns-rebinding"],
)
def test_a_request_without_the_token_or_for_another_host_is_refused(
    served: Served, headers: dict[str, str], status: int, message: str
) -> None:
    got, _, text = served.request("GET", "/", headers=headers)
    assert (got, text) == (status, message)


@pytest.mark.parametrize(
    ("form_token", "origin"),
    [(None, None), ("wrong", None), (None, "http://attacker.example")],
    ids=["no-form-token", "wrong-form-token", "cross-site"],
)
def test_a_change_from_another_page_is_refused_and_changes_nothing(
    served: Served, form_token: str | None, origin: str | None
) -> None:
    before = served.app.workshop.facts_text()
    form = {"name": "Attacker Ltd", "token": served.app.token if form_token is None else form_token}
    if form_token is None and origin is None:
        del form["token"]
    headers = {"Origin": origin} if origin else {}
    status, _, text = served.request("POST", "/customer", form, headers)
    assert (status, text) == (403, "A change must come from a page of this workshop.\n")
    assert served.app.workshop.facts_text() == before


def test_the_server_binds_to_the_loopback_address_only(served: Served) -> None:
    assert served.server.server_address[0] == "127.0.0.1"


@pytest.mark.parametrize(
    "path", ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd", "/facts.yaml/../../x"]
)
def test_a_path_outside_the_app_is_not_found_and_nothing_is_read(served: Served, path: str) -> None:
    status, _, text = served.request("GET", path)
    assert (status, text) == (404, "No such page.\n")


def test_a_loaded_file_name_never_becomes_a_path_it_writes(served: Served, tmp_path: Path) -> None:
    served.post("/load", text="customer: Acme\n", name="../../outside.yaml")
    served.post("/save")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acme.facts.yaml"]
    assert not (tmp_path.parent.parent / "outside.yaml").exists()


# -- the workshop --------------------------------------------------------------------------------------------


def test_a_bad_answer_shows_a_located_message_not_an_error_page(served: Served) -> None:
    served.post("/customer", name="Contoso")
    key = next(q.key for q in served.app.workshop.session.questions if q.kind == "version")
    page = served.post("/answer", question=key, value="ten")
    assert "Problem: answer: bad-value:" in visible_text(page)
    assert key not in served.app.workshop.session.answers


@pytest.mark.parametrize(
    ("path", "form", "message"),
    [
        ("/customer", {"name": " "}, "customer: bad-value: a customer name of 1 to 200 characters"),
        ("/entity/rename", {"entity": "7", "name": "X"}, "entity: unknown-entity: there is no legal entity 8"),
        ("/entity/remove", {"entity": "x"}, "entity: bad-value: a legal entity is chosen by its number"),
        ("/answer", {"question": "nope", "answer": "y"}, "question: unknown-question: no such question"),
        ("/load", {"text": "customer: [\n"}, "<loaded>:2:1: yaml-syntax:"),
        (
            "/load",
            {"text": "customer: Acme\nbudgett: small\n"},
            "<loaded>:2:1: unknown-fact: 'budgett' is not a known fact (did you mean 'budget'?)",
        ),
    ],
    ids=["empty-name", "no-such-entity", "not-a-number", "no-such-question", "bad-yaml", "unknown-fact"],
)
def test_every_bad_input_is_a_located_message_on_the_page(
    served: Served, path: str, form: dict[str, str], message: str
) -> None:
    before = served.app.workshop.facts_text()
    page = served.post(path, **form)
    assert f"Problem: {message}" in visible_text(page)
    assert served.app.workshop.facts_text() == before


def test_legal_entities_are_added_renamed_and_removed_keeping_their_answers(served: Served) -> None:
    served.post("/customer", name="Contoso")
    served.post("/entity/add", name="Contoso US")
    served.post("/entity/add", name="Contoso UK")
    workshop = served.app.workshop
    key = next(q.key for q in workshop.session.questions if q.fact == "ledger" and q.entity == 1)
    served.post("/answer", question=key, answer="other-erp")
    page = served.post("/entity/rename", entity="1", name="Contoso Robotics UK")
    assert "Contoso Robotics UK" in visible_text(page)
    served.post("/entity/remove", entity="0")
    assert served.app.workshop.entity_names == ["Contoso Robotics UK"]
    assert "  ledger: other-erp\n" in served.app.workshop.facts_text()


def test_save_writes_a_facts_file_that_evaluate_reads_and_load_reads_it_back(served: Served, tmp_path: Path) -> None:
    served.post("/customer", name="Litware")
    key = question_key(served.page())
    served.post("/answer", question=key, answer="?")
    page = served.post("/save")
    saved = tmp_path / "litware.facts.yaml"
    assert f"Saved {saved}." in visible_text(page)
    result = CliRunner().invoke(cli, ["evaluate", str(saved), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["workshop"]["dont_know"] == 1
    served.post("/customer", name="Someone else")
    page = served.post("/load", text=saved.read_text(), name="litware.facts.yaml")
    assert "Loaded the facts of Litware." in visible_text(page)
    assert served.app.workshop.session.answers[key] is ABSENT


def test_save_never_overwrites_a_file_it_did_not_write(served: Served, tmp_path: Path) -> None:
    (tmp_path / "contoso.facts.yaml").write_text("customer: Someone's own file\n")
    served.post("/customer", name="Contoso")
    page = served.post("/save")
    assert "exists: contoso.facts.yaml already exists" in visible_text(page)
    assert (tmp_path / "contoso.facts.yaml").read_text() == "customer: Someone's own file\n"


def test_what_if_in_the_explain_view_speaks_business_words(served: Served) -> None:
    served.post("/customer", name="Fabrikam")
    page = visible_text(served.post("/whatif", entity="0", change="add", what="production-orders"))
    assert "If every legal entity needs production orders" in page
    assert "Fabrikam moves from Project Operations Core to Project Operations for manufacturing." in page
    assert "stocked-production" not in page.split("What if", 1)[1].split("Needs")[0]
    page = visible_text(served.post("/whatif", entity="0", change="set", what="budget=small"))
    assert "If the answer to \u201cIs the customer's budget for the project system small, medium or large?\u201d is" \
        " small" in page
    assert "New: " in page


def test_the_smallest_change_to_get_a_type_speaks_business_words(served: Served) -> None:
    served.post("/customer", name="Fabrikam")
    page = visible_text(served.post("/whatif", entity="0", change="target", what="resource-non-stocked"))
    assert "The smallest changes that make Project Operations Integrated with ERP the recommendation" in page
    assert "each of 1 change" in page
    assert "Fabrikam moves from Project Operations Core to Project Operations Integrated with ERP." in page
    assert "resource-non-stocked" not in page.split("What if", 1)[1].split("Needs")[0]


def test_the_knowledge_view_names_the_layers_and_the_capability_matrix(served: Served) -> None:
    text = visible_text(served.page("/knowledge"))
    assert "built-in , as of 2023-11" in text
    assert "docs-2026-08 , as of 2026-08" in text
    assert "Production orders" in text


def test_the_report_downloads_as_the_customer_report(served: Served) -> None:
    served.post("/customer", name="Contoso")
    status, headers, page = served.request("GET", "/report.html")
    assert status == 200
    assert "<title>" in page and "Contoso" in page
    status, headers, text = served.request("GET", "/facts.yaml")
    assert headers["content-disposition"] == 'attachment; filename="contoso.facts.yaml"'
    assert "customer: Contoso\n" in text


def test_the_report_downloads_as_a_pdf_printed_by_headless_chromium(served: Served) -> None:
    if find_chromium() is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    served.post("/customer", name="Contoso")
    connection = http.client.HTTPConnection("127.0.0.1", served.app.port, timeout=300)
    connection.request("GET", "/report.pdf", headers={"Cookie": served.cookie})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/pdf"
    assert response.getheader("Content-Disposition") == 'attachment; filename="contoso-report.pdf"'
    assert body.startswith(b"%PDF")


def test_serve_refuses_standard_input_and_a_missing_folder_with_a_located_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "-"])
    refused = "FACTS:1:1: bad-value: serve reads and writes a facts file: give its path\n"
    assert (result.exit_code, result.stderr) == (2, refused)
    missing = str(tmp_path / "nowhere" / "x.yaml")
    result = CliRunner().invoke(cli, ["serve", missing])
    assert (result.exit_code, result.stderr) == (2, f"{missing}:1:1: not-found: no such folder for the facts file\n")


# -- in a browser --------------------------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    opened = Browser(executable)
    yield opened
    opened.close()


@pytest.mark.slow
def test_a_workshop_for_contoso_in_a_browser(kb: KnowledgeBase, tmp_path: Path, browser: Browser) -> None:
    """From an empty customer to the seed's recommendation for Contoso: don't know, back, explain, what-if, save."""
    target = tmp_path / "contoso.yaml"
    running = Served(WebApp(kb, Workshop(kb, "New customer"), facts_path=str(target), folder=str(tmp_path)))
    try:
        answers = read_answers(kb, load_document(str(CONTOSO)))
        browser.open(address(running.app))
        assert browser.js("location.pathname") == "/"
        browser.js("document.querySelector('form[action=\"/customer\"] input[name=name]').value = 'Contoso'")
        browser.click("form[action='/customer'] button")
        for name in answers.entities:
            field = "document.querySelector('form[action=\"/entity/add\"] input[name=name]')"
            browser.js(f"{field}.value = {json.dumps(name)}")
            browser.click("form[action='/entity/add'] button")
        assert browser.js("Array.from(document.querySelectorAll('ol.entities input[name=name]')).map(e => e.value)") \
            == answers.entities
        first = True
        for step in range(200):
            if step == 8:
                browser.screenshot(ARTIFACTS / "serve-contoso-question.png")
            if browser.js("document.querySelector('form.answer') === null"):
                break
            key = browser.js("document.querySelector('form.answer input[name=question]').value")
            if first:  # don't know, then back (by the keys a consultant presses): the question comes again
                browser.press("?")
                assert browser.js("document.querySelector('form.answer input[name=question]').value") != key
                browser.press("<")
                assert browser.js("document.querySelector('form.answer input[name=question]').value") == key
                first = False
            question = running.app.workshop.question(key)
            value = answers.lookup(question)
            if value is ABSENT:
                browser.click("form.answer button[value='?']")
            elif question.kind in ("yes-no", "boolean"):
                browser.click(f"form.answer button[value='{'y' if value else 'n'}']")
            elif question.kind == "choice":
                browser.click(f"form.answer button[value='{value}']")
            else:
                browser.js(f"document.querySelector('form.answer input[name=value]').value = {json.dumps(str(value))}")
                browser.click("form.answer button:not([value])")
        assert "Nothing left to ask can change the advice." in browser.text()
        advice = browser.text("section.advice")
        assert "Project Operations for manufacturing" in advice  # the US manufacturing entity
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.screenshot(ARTIFACTS / "serve-contoso-workshop.png")

        browser.click("a[href='/explain?entity=0']")
        explain = browser.text()
        assert "Why this type" in explain
        assert "Why not Project Operations Core" in explain
        assert browser.js("document.querySelectorAll('main a[href^=\"https://learn.microsoft.com/\"]').length") > 0
        browser.screenshot(ARTIFACTS / "serve-contoso-explain.png")
        # Flip a requirement: dropping production orders moves the US entity off manufacturing.
        browser.click("form[action='/whatif'] input[name=what][value='production-orders'] ~ button")
        moved = browser.text("div.whatif")
        assert moved.startswith("If Contoso Manufacturing United States no longer needs production orders")
        assert "Contoso Manufacturing United States moves from Project Operations for manufacturing to" in moved
        browser.js("document.getElementById('whatif').scrollIntoView()")
        browser.screenshot(ARTIFACTS / "serve-contoso-whatif.png")

        browser.click("a[href='/knowledge']")
        assert "Capabilities of each type" in browser.text()
        browser.screenshot(ARTIFACTS / "serve-knowledge.png")
        report = browser.js("fetch('/report.html').then(r => r.status + ' ' + r.headers.get('Content-Type'))")
        assert report == "200 text/html; charset=utf-8"
        browser.open(f"{running.base}/report.html")
        assert "Project Operations deployment plan" in browser.text("h1")
        assert "Contoso Manufacturing United States" in browser.text()
        browser.screenshot(ARTIFACTS / "serve-report.png")

        browser.open(f"{running.base}/")
        browser.click("form[action='/save'] button")
        assert f"Saved {target}." in browser.text()
    finally:
        running.close()
    saved = CliRunner().invoke(cli, ["evaluate", str(target), "--format", "json"])
    seed = CliRunner().invoke(cli, ["evaluate", str(CONTOSO), "--format", "json"])
    assert saved.exit_code == seed.exit_code == 0
    assert [(e["name"], e["deployment"]) for e in json.loads(saved.stdout)["entities"]] == [
        (e["name"], e["deployment"]) for e in json.loads(seed.stdout)["entities"]
    ]
