"""The customer's deployment plan (Markdown, HTML, PDF) and the derivation graph (DOT, Mermaid):
engine/explain/markdown.py, html_report.py, pdf.py and graph.py, and writing them (report.py).

The plan is read as the customer reads it: page one is the decision (fit first when Project Operations may be the
wrong tool, the recommendation with today's product names and the seed's beside them, environments, traps, open
questions, next steps), then each legal entity's reasons, then the appendix. Sources are titled links, never file
names; no engine notation reaches the customer's text.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import stat
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from podeploy.cli.main import cli
from podeploy.engine import BadInput, Decision, KnowledgeBase, PodeployError, load_facts, load_knowledge_base
from podeploy.engine.evaluation.evaluate import evaluate
from podeploy.engine.explain import graph, html_report, markdown
from podeploy.engine.explain.brand import Brand, load_brand
from podeploy.engine.explain.markup import HTML, escape
from podeploy.engine.explain.plan import plan as plan_of
from podeploy.engine.explain.queries import citation, citations
from podeploy.engine.io.outputs import write_file
from podeploy.engine.policy.layers import edition_dirs

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATE = "2026-12-01"
US = "Contoso Manufacturing United States"
UK = "Contoso Robotics United Kingdom"
STOCKED = "Project Operations for stocked/production order scenarios"
RESOURCE = "Project Operations for resource/non-stocked scenarios"
MANUFACTURING = "Project Operations for manufacturing"
INTEGRATED = "Project Operations Integrated with ERP"
CORE = "Project Operations Core"
SEED_ARTICLE = "https://learn.microsoft.com/dynamics365/project-operations/environment/determine-deployment-type"
EVIL_CUSTOMER = "<script>alert(1)</script> & Co"
EVIL_ENTITY = 'Evil "quoted" | pipe `tick` #hash \\ back <b>x</b> & end'
EVIL_FACTS = """\
customer: "<script>alert(1)</script> & Co"
requirements: [customer-facing-invoicing]
legal_entities:
  - name: 'Evil "quoted" | pipe `tick` #hash \\ back <b>x</b> & end'
    requirements: [production-orders]
  - name: "Plain [link](http://example.com) *star* _under_ ; end --> x"
"""
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".json"))
# The examples that use only the seed's facts (README, "The facts file"): they load on the built-ins alone.
SEED_EXAMPLE_FILES = [
    "adatum-mixed.json",
    "contoso.yaml",
    "fabrikam-finance-later.yaml",
    "fabrikam-services.yaml",
    "litware-small.yaml",
    "northwind-pma.yaml",
    "tailspin-psa.yaml",
]
# Every example on the knowledge it is written for: the seeds' seven on the built-ins, and all of them on the
# built-ins and the docs-2026-08 edition (podeploy's default knowledge).
EXAMPLES_ON_KNOWLEDGE = [
    *(pytest.param("kb", name, id=f"seeds-{name}") for name in SEED_EXAMPLE_FILES),
    *(pytest.param("edition_kb", name, id=f"docs-2026-08-{name}") for name in EXAMPLE_FILES),
]
# What the customer must never read: file names of sources, facts as the engine writes them, fact ids.
ENGINE_NOTATION = re.compile(
    r"000_cd059b2c5f1fbec9|003_93bb5cf298cac590|\.txt\b|\b[a-z-]+/[A-Za-z0-9_.-]+\.md\b|\(entity: |absent: "
    r"|\bcandidate\(|\bplans_finance\b|\bpm_maturity\b|\bexisting_solution\b|\bfinance_version\b"
)
TYPE_IDS = re.compile(r"(?<![\w/-])(lite|resource-non-stocked|stocked-production)(?![\w-])")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture(scope="module")
def edition_kb() -> KnowledgeBase:
    return load_knowledge_base(edition_dirs())


def decide(kb: KnowledgeBase, path: Path | str) -> Decision:
    decision = evaluate(kb, load_facts(kb, str(path)))
    assert isinstance(decision, Decision)
    return decision


@pytest.fixture(scope="module")
def contoso(kb: KnowledgeBase) -> Decision:
    return decide(kb, "examples/contoso.yaml")


@pytest.fixture(scope="module")
def contoso_now(edition_kb: KnowledgeBase) -> Decision:
    return decide(edition_kb, "examples/contoso.yaml")


@pytest.fixture(scope="module")
def adatum(kb: KnowledgeBase) -> Decision:
    return decide(kb, "examples/adatum-mixed.json")


@pytest.fixture(scope="module")
def evil(kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Decision:
    path = tmp_path_factory.mktemp("evil") / "evil.yaml"
    path.write_text(EVIL_FACTS, encoding="utf-8")
    return decide(kb, path)


@pytest.fixture(autouse=True)
def _from_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # facts files are named relative to the repository, as a consultant would


def section(markdown: str, heading: str) -> list[str]:
    """The lines under a Markdown heading, up to the next heading of the same or a higher level."""
    lines = markdown.splitlines()
    level = len(heading) - len(heading.lstrip("#"))
    start = lines.index(heading) + 1
    end = next(
        (i for i in range(start, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i])),
        len(lines),
    )
    return lines[start:end]


def customer_text(markdown: str) -> str:
    """What the customer reads before the appendix, without link targets and code spans."""
    body = markdown.split("\n## Appendix A")[0]
    body = re.sub(r"\]\([^)]*\)", "]", body)
    return re.sub(r"`[^`]*`", "", body)


# -- Markdown -----------------------------------------------------------------------------------------------------


def test_page_one_of_contoso_on_the_seeds(contoso: Decision) -> None:
    md = markdown.report_markdown(contoso, date=DATE)
    lines = md.splitlines()
    assert lines[:22] == [
        "# Project Operations deployment plan: Contoso",
        "",
        f"Prepared for **Contoso** on {DATE}.",
        "",
        "## Recommendation",
        "",
        "| Legal entity | Deployment type | Status |",
        "| --- | --- | --- |",
        f"| {US} | {STOCKED} | Settled |",
        f"| {UK} | {RESOURCE} | Settled |",
        "",
        "### Environments to provision",
        "",
        f"- Dynamics 365 Finance with Project Operations ({RESOURCE} and {STOCKED}), shared by {US}, {UK}.",
        "",
        "### Before you commit",
        "",
        "- Settle each legal entity's type before go-live: there is no out-of-box migration of data between "
        "deployment types; moving later takes custom scripts, mapping and manual work. *(Source: [Microsoft Learn, "
        '"Determine your deployment type" (2023-11-06), section "Project Operations for stocked/production order '
        f'scenarios"]({SEED_ARTICLE}#pma))*',
        "",
        "### Open questions",
        "",
        "- None: no unanswered question can change this advice.",
    ]
    assert not md.endswith("\n")


def test_page_one_names_todays_products_with_the_seed_names_beside_them(contoso_now: Decision) -> None:
    md = markdown.report_markdown(contoso_now, date=DATE)
    assert section(md, "## Recommendation")[:5] == [
        "",
        "| Legal entity | Deployment type | Status |",
        "| --- | --- | --- |",
        f"| {US} | {MANUFACTURING} (in 2023: {STOCKED}) | Provisional |",
        f"| {UK} | {INTEGRATED} (in 2023: {RESOURCE}) | Provisional |",
    ]
    assert "Provisional: an open question below could still change it." in md.splitlines()
    books = (
        "After go-live, which system keeps the books (ledger, receivables, tax) - Dynamics 365 Finance, another ERP,"
        f" or none? (for {US}, {UK}) (could change the recommendation)"
    )
    assert section(md, "### Open questions") == [
        "",
        f"- {books}",
        "- Is the customer ready to align and improve its processes around Project Operations? (could change the "
        "advice: Project Operations may be the wrong tool for this customer)",
        "",
    ]
    based = md.splitlines()[md.splitlines().index("### Next steps") :]
    assert next(line for line in based if line.startswith("*Based on:")) == (
        '*Based on: The seeds, read literally: Microsoft Learn, "Determine your deployment type" (2023-11-06), and '
        'Advisicon, "What is Dynamics 365 Project Operations?" (2023-09) (as of 2023-11); Microsoft\'s Dynamics 365 '
        "Project Operations documentation, as read on 2026-08-21 (as of 2026-08).*"
    )


def test_next_steps_say_where_each_type_is_provisioned_and_what_it_needs(contoso_now: Decision) -> None:
    steps = section(markdown.report_markdown(contoso_now, date=DATE), "### Next steps")
    assert steps[1] == f"**{INTEGRATED} ({UK})**"
    assert steps[3].startswith(
        "1. License and provision Dynamics 365 Finance; new customers create it in the Power Platform admin center"
    )
    assert steps[4].startswith(
        "2. Install Project Operations in the Dataverse environment linked to Finance and connect the two with "
        "dual-write; the Dataverse currency must be the same as Finance's. *(Source: [Microsoft Learn, \"Manually "
        'deploy the Project Operations Dataverse app with dual-write support" (2026-02-27)]'
        "(https://learn.microsoft.com/dynamics365/project-operations/environment/resource-manual-deploy-dataverse-"
        "dualwrite))*"
    )
    assert f"**{MANUFACTURING} ({US})**" in steps
    core = section(markdown.report_markdown(decide(contoso_now.kb, "examples/litware-small.yaml")), "### Next steps")
    assert core[1] == f"**{CORE} (Litware)**"
    assert "Create a Dataverse environment in the Power Platform admin center" in core[3]


def test_the_fit_verdict_comes_first_with_each_rule_and_source_apart(edition_kb: KnowledgeBase) -> None:
    md = markdown.report_markdown(decide(edition_kb, "examples/litware-small.yaml"), date=DATE)
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## First: is Project Operations the right tool?", "## Recommendation"]
    verdict = section(md, "## First: is Project Operations the right tool?")
    # The merged low-fit warning keeps both its rules: each sentence with its own source.
    assert [line for line in verdict if line.startswith("> ")] == [
        "> With a small budget Project Operations may be the wrong tool: it is a full ERP-class product and pays off "
        "only when implemented across the whole service lifecycle. Try Planner (premium plans, the former Project "
        'for the web) on its own first. *(Source: Advisicon (partner blog), "What is Dynamics 365 Project '
        'Operations?" (2023-09), section "What Project Operations is not")*',
        "> With a low project-management maturity Project Operations may be too big a step; start with Planner "
        "(premium plans, the former Project for the web) and come back to it later. *(Source: Advisicon (partner "
        'blog), "What is Dynamics 365 Project Operations?" (2023-09), section "Recommendations on when to use '
        'Project Operations")*',
        "> Project Online retires on 2026-09-30: the lighter starting points are Planner (premium plans, the former "
        "Project for the web), and Teams or SharePoint lists. *(Source: Microsoft, \"Project Online retires on "
        "2026-09-30 (the notice on Microsoft's Project Online pages)\")*",
    ]


def test_why_leads_with_the_needs_that_rule_out_the_lighter_types(edition_kb: KnowledgeBase) -> None:
    md = markdown.report_markdown(decide(edition_kb, "examples/adatum-mixed.json"), date=DATE)
    why = section(md, f"### Why {MANUFACTURING}")
    stocked = "https://learn.microsoft.com/dynamics365/project-operations/procurement/enable-stocked-products-integrated"
    # The need that rules Core out reads once, as the verdict, citing both rules' documents.
    assert why[1:3] == [
        f"- Not {CORE}:",
        f"  - Adatum Factory needs production orders, which decides the type: {CORE} does not offer it, so {CORE} "
        'is ruled out. *(Source: [Microsoft Learn, "Managed stocked products for Project Operations integrated '
        f'deployments" (2025-11-07)]({stocked}); [Microsoft Learn, "Determine your deployment type" (2023-11-06), '
        f'section "Deployment types"]({SEED_ARTICLE}#deployment-types))*',
    ]
    assert why[3] == f"- Not {INTEGRATED}:"
    assert why[-2].startswith(f"- {MANUFACTURING} is the lightest deployment type still open")


def test_why_not_lists_every_reason_against_a_heavier_type(contoso: Decision) -> None:
    md = markdown.report_markdown(contoso, date=DATE)
    why_not = section(md, "## " + UK + ": " + RESOURCE)
    start = why_not.index("### Why not the other types")
    assert why_not[start + 2 : start + 4] == [
        f"- Not {STOCKED}:",
        f"  - {RESOURCE} is lighter and already offers what is needed. *(Source: [Microsoft Learn, \"Determine your "
        f'deployment type" (2023-11-06), section "Deployment types"]({SEED_ARTICLE}#deployment-types))*',
    ]


def test_gaps_are_named_in_business_words_with_what_fills_them(adatum: Decision) -> None:
    factory = section(markdown.report_markdown(adatum, date=DATE), f"## Adatum Factory: {STOCKED}")
    gaps = factory[factory.index("### Gaps") :]
    assert gaps[:5] == [
        "### Gaps",
        "",
        "Project sales on Dynamics 365 Sales.",
        "",
        f"- Adatum Factory needs project sales on Dynamics 365 Sales, which {STOCKED} does not offer: plan an "
        "extension, a partner solution or a process change for it. *(Source: [Microsoft Learn, \"Determine your "
        f'deployment type" (2023-11-06), section "Deployment types"]({SEED_ARTICLE}#deployment-types))*',
    ]


@pytest.mark.parametrize(("knowledge", "name"), EXAMPLES_ON_KNOWLEDGE)
def test_no_file_names_or_engine_notation_reach_the_customer(
    knowledge: str, name: str, request: pytest.FixtureRequest
) -> None:
    kb: KnowledgeBase = request.getfixturevalue(knowledge)
    decision = decide(kb, EXAMPLES / name)
    md, page = markdown.report_markdown(decision, date=DATE), html_report.report_html(decision, date=DATE)
    assert not ENGINE_NOTATION.findall(md.replace(decision.facts.source, ""))
    text = " ".join(parse(page).text).replace(decision.facts.source, "")
    assert not ENGINE_NOTATION.findall(text)
    # Types by their names: no type id before the appendix (where the derivation names its rules).
    assert not TYPE_IDS.findall(customer_text(md))
    for firing in decision.trace:  # every source a rule that fired cites is a titled link or text as written
        for c in citations(kb, firing.clause.rule.source):
            assert c.title is not None, c.text
            if c.url:
                assert f'<a href="{c.url}" rel="noreferrer">' in page


def test_every_shipped_source_has_a_title_and_a_date(edition_kb: KnowledgeBase) -> None:
    kb = edition_kb
    cited = {r.source for r in kb.rules} | {t.source for t in kb.types.values()}
    cited |= {s.source for steps in kb.next_steps.values() for s in steps}
    cited |= {d.source for d in kb.facts.values() if getattr(d, "source", None)}
    parts = {p.strip().split("#")[0] for source in cited if source for p in source.split(";")}
    untitled = sorted(p for p in parts if p not in kb.sources and citation(kb, p).url)
    assert untitled == []
    for entry in kb.sources.values():
        if entry.publisher == "Microsoft Learn":
            assert entry.date and re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry.date), entry.id
        if entry.id.endswith(".md"):
            assert entry.url == "https://learn.microsoft.com/dynamics365/project-operations/" + entry.id[:-3]


def test_a_citation_names_the_document_and_its_section() -> None:
    kb = load_knowledge_base(edition_dirs())
    seed = citation(kb, "000_cd059b2c5f1fbec9.txt#pma")
    assert seed.label == (
        'Microsoft Learn, "Determine your deployment type" (2023-11-06), section "Project Operations for '
        'stocked/production order scenarios"'
    )
    assert seed.url == f"{SEED_ARTICLE}#pma"
    docs = citation(kb, "psa/psa-eol-faq.md")
    assert (docs.title, docs.date, docs.url) == (
        "Project Service Automation end of life FAQ",
        "2025-07-07",
        "https://learn.microsoft.com/dynamics365/project-operations/psa/psa-eol-faq",
    )
    # A Learn article podeploy has no title for still links to its address; a consultant's text shows as written.
    unknown = citation(kb, "time/enable-time-entry-agent.md")
    assert unknown.url == "https://learn.microsoft.com/dynamics365/project-operations/time/enable-time-entry-agent"
    assert citation(kb, "Our delivery playbook, chapter 3").label == "Our delivery playbook, chapter 3"
    assert [c.title for c in citations(kb, "procurement/enable-item-requirement-forecast.md; x.md")] == [
        "Manage Item Requirements with Project Item Forecasts",
        None,
    ]


def test_a_consultants_document_links_to_a_section_only_where_its_entry_declares_it(tmp_path: Path) -> None:
    (tmp_path / "playbook.yaml").write_text(
        'policy: playbook\nas_of: "2026-11"\ndescription: Our playbook.\nsources:\n'
        "  - id: playbook\n    title: Delivery playbook\n    url: https://intranet.fabrikam.example/playbook.pdf\n"
        "    sections: {field-service: Field Service projects}\n"
    )
    kb = load_knowledge_base([*edition_dirs(), tmp_path])
    declared = citation(kb, "playbook#field-service")
    assert (declared.url, declared.section) == (
        "https://intranet.fabrikam.example/playbook.pdf#field-service",
        "Field Service projects",
    )
    undeclared = citation(kb, "playbook#chapter-3")  # a PDF has no such anchor: the link goes to the document
    assert (undeclared.url, undeclared.label) == (
        "https://intranet.fabrikam.example/playbook.pdf",
        '"Delivery playbook", section "Chapter 3"',
    )
    # Microsoft Learn makes an anchor of every heading, declared or not.
    learn = citation(kb, "000_cd059b2c5f1fbec9.txt#deployment-regions-and-languages")
    assert learn.url == f"{SEED_ARTICLE}#deployment-regions-and-languages"


def test_a_web_address_cited_as_a_source_is_a_link_to_it(edition_kb: KnowledgeBase) -> None:
    address = "https://intranet.fabrikam.example/playbook#field-service"
    cited = citation(edition_kb, address)
    assert (cited.label, cited.url) == (address, address)
    assert markdown._md_cite(cited) == "[https://intranet.fabrikam.example/playbook\\#field-service](" + address + ")"
    assert citation(edition_kb, "see https://example.com").url is None  # text that holds an address stays text


def test_appendix_holds_the_matrix_the_derivation_and_titled_sources(contoso_now: Decision) -> None:
    md = markdown.report_markdown(contoso_now, date=DATE)
    matrix = section(md, "## Appendix A: capabilities")
    assert matrix[1] == f"| Capability | {CORE} | {INTEGRATED} | {MANUFACTURING} | Needed by |"
    rows = [line for line in matrix if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(contoso_now.kb.capabilities)
    assert f"| Production orders | - | - | yes | {US} |" in rows
    assert f"| Receipt scanning (OCR) | - | yes | yes | {US}, {UK} |" in rows
    derived = section(md, "### " + US)
    assert derived[1].startswith(f"1. {MANUFACTURING} is open for {US} and misses 0 of its needs.")
    assert derived[1].endswith(" — rule `type-still-open` at `policies/choosing.yaml:52:5`")
    assert f"- {US} needs production orders (`examples/contoso.yaml:13:20`)" in derived
    sources = section(md, "## Appendix C: sources")
    assert (
        f'- [Microsoft Learn, "Determine your deployment type" (2023-11-06)]({SEED_ARTICLE}) — cited by '
        "`check-region-availability`, `type-lacks-capability`"
    ) in "\n".join(sources)
    assert not [line for line in sources if line.startswith("- ") and "](https://" not in line]


def test_markdown_escapes_what_the_facts_hold(evil: Decision) -> None:
    md = markdown.report_markdown(evil, date=DATE)
    assert md.splitlines()[0] == r"# Project Operations deployment plan: \<script\>alert(1)\</script\> \& Co"
    prose = re.sub(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)", "", md)  # code spans show their text as it is
    assert "<" not in prose.replace("\\<", "")
    assert "&" not in prose.replace("\\&", "")
    row = next(line for line in section(md, "## Recommendation") if line.startswith("| Evil"))
    # A pipe in a name is escaped, so the row keeps its three cells.
    assert len(re.split(r"(?<!\\)\|", row)) == 5
    assert row.endswith(f" | {STOCKED} | Settled |")
    assert r'Evil "quoted" \| pipe \`tick\` \#hash \\ back \<b\>x\</b\> \& end' in row
    assert r"Plain \[link\](http://example.com) \*star\* \_under\_ ; end --\> x" in md


def test_md_code_holds_backticks_and_pipes() -> None:
    assert markdown.md_code("a`b") == "``a`b``"
    assert markdown.md_code("`x`") == "`` `x` ``"
    assert markdown.md_code("a|b", in_table=True) == r"`a\|b`"


def test_a_bad_report_date_is_refused_before_any_work() -> None:
    result = CliRunner().invoke(cli, ["evaluate", "examples/contoso.yaml", "--format", "html", "--date", "2026-13-01"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "--date:1:1: bad-value: '2026-13-01' is not a date like 2026-12-01 (YYYY-MM-DD)\n"


# -- HTML ---------------------------------------------------------------------------------------------------------

BLOCKS = {"p", "li", "td", "th", "tr", "h1", "h2", "h3", "div", "section", "article", "ul", "ol", "span", "br"}
VOID = {"meta", "br", "hr", "img", "link", "input", "col", "wbr", "source", "area", "base", "embed", "track"}


class Page(HTMLParser):
    """Tags, their nesting, attributes, text per element, and anything that could load or run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.counts: dict[str, int] = {}
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self.styles = ""
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.text.append(" ")
        self.counts[tag] = self.counts.get(tag, 0) + 1
        self.attrs.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        if tag in ("title", "style"):
            self._in = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.text.append(" ")
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "style":
            self.styles += data
        else:
            self.text.append(data)

    def joined(self) -> str:
        """The text as a reader sees it: words of one line together, blocks apart."""
        return " ".join("".join(self.text).split())


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, parser.stack
    return parser


def assert_self_contained(page: Page) -> None:
    """Nothing loads or runs: no scripts, frames or styles from elsewhere; images only embedded; links only to
    published documents (opened by the reader, never fetched by the page) or within the page."""
    for tag in ("script", "link", "iframe", "object", "embed", "base", "form"):
        assert page.counts.get(tag, 0) == 0, tag
    for tag, attrs in page.attrs:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "srcset", "action", "xlink:href", "poster", "data"):
                assert tag == "img" and name == "src" and value is not None and value.startswith("data:image/"), (
                    tag, name, value
                )
            if name == "href":
                assert value is not None and (value.startswith("#") or value.startswith("https://")), (tag, value)
    assert "@import" not in page.styles and "url(" not in page.styles


def test_html_structure(contoso_now: Decision) -> None:
    text = html_report.report_html(contoso_now, date=DATE)
    assert text.startswith("<!DOCTYPE html>\n<html")
    page = parse(text)
    assert page.counts["html"] == page.counts["head"] == page.counts["body"] == page.counts["title"] == 1
    assert page.title == "Project Operations deployment plan — Contoso"
    assert page.counts["style"] == 1
    assert_self_contained(page)
    assert "default-src 'none'; style-src 'unsafe-inline'; img-src data:" in text
    assert "@page { size: A4;" in page.styles and "break-after: page" in page.styles
    ids = [a.get("id") for _, a in page.attrs if a.get("id")]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in ("decision", "reasons", "appendix")] == ["decision", "reasons", "appendix"]
    rows = [(a.get("data-entity"), a.get("data-type")) for t, a in page.attrs if t == "tr" and a.get("data-entity")]
    assert rows == [(US, "stocked-production"), (UK, "resource-non-stocked")]
    body = page.joined()
    assert body.startswith(f"Project Operations deployment plan Prepared for Contoso on {DATE}. ")
    assert (
        f"Recommendation Legal entity Deployment type Status {US} {MANUFACTURING} in 2023: {STOCKED} Provisional "
        f"{UK} {INTEGRATED} in 2023: {RESOURCE} Provisional Provisional: an open question below could still change "
        f"it. Environments to provision Dynamics 365 Finance with Project Operations ({INTEGRATED} and "
        f"{MANUFACTURING}), shared by {US}, {UK}. Before you commit"
    ) in body
    assert next(a.get("href") for t, a in page.attrs if t == "a") == SEED_ARTICLE


def test_html_shows_a_fit_verdict_before_the_recommendation(edition_kb: KnowledgeBase) -> None:
    page = parse(html_report.report_html(decide(edition_kb, "examples/litware-small.yaml"), date=DATE))
    body = page.joined()
    assert body.index("First: is Project Operations the right tool?") < body.index("Recommendation Legal entity")
    assert [a.get("class") for t, a in page.attrs if t == "div" and a.get("id") == "fit"] == ["verdict"]


def test_html_escapes_what_the_facts_hold(evil: Decision) -> None:
    text = html_report.report_html(evil, date=DATE)
    assert "<script" not in text.lower() and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in text
    page = parse(text)
    assert EVIL_CUSTOMER in page.title
    assert_self_contained(page)
    assert [a["data-entity"] for t, a in page.attrs if t == "article" and "data-entity" in a] == [
        e.name for e in evil.entities
    ]
    assert EVIL_ENTITY in [e.name for e in evil.entities]



def test_html_escapes_whatever_is_put_into_it_and_leaves_html_as_it_is() -> None:
    value = "<b>O'Neil</b> & \"Sons\""
    assert HTML("<td>{}</td>").format(value) == "<td>" + html.escape(value, quote=True) + "</td>"
    assert HTML("<p>") + value == "<p>" + html.escape(value)
    assert HTML(", ").join(["<i>", HTML("<i>")]) == "&lt;i&gt;, <i>"
    assert HTML("<li>{}</li>").format(HTML("<em>already HTML</em>")) == "<li><em>already HTML</em></li>"
    assert escape(escape(value)) == escape(value)

@pytest.mark.parametrize(("knowledge", "name"), EXAMPLES_ON_KNOWLEDGE)
def test_every_type_not_recommended_has_its_reason_in_the_plan(
    knowledge: str, name: str, request: pytest.FixtureRequest
) -> None:
    # A legal entity promoted to share a Finance environment is decided by the step that promotes it: the
    # heavier type still says why not (the recommended one is lighter), never a heading with nothing under it.
    kb: KnowledgeBase = request.getfixturevalue(knowledge)
    decision = decide(kb, EXAMPLES / name)
    for entity in plan_of(decision, date=DATE).entities:
        if entity.type_id is None:
            continue
        others = [*entity.lighter, *entity.heavier]
        assert [t for t, _ in others] == [kb.type_name(t.id) for t in kb.types_by_rank() if t.id != entity.type_id]
        assert [t for t, reasons in others if not reasons] == [], entity.name
        assert all(said.text and said.rule for _, reasons in others for said in reasons)


@pytest.mark.parametrize(("knowledge", "name"), EXAMPLES_ON_KNOWLEDGE)
def test_html_of_every_example_parses(knowledge: str, name: str, request: pytest.FixtureRequest) -> None:
    kb: KnowledgeBase = request.getfixturevalue(knowledge)
    decision = decide(kb, EXAMPLES / name)
    page = parse(html_report.report_html(decision, date=DATE))
    assert_self_contained(page)
    assert decision.customer in page.title
    assert [a["data-entity"] for t, a in page.attrs if t == "article" and "data-entity" in a] == [
        e.name for e in decision.entities
    ]


def test_the_paper_size_is_the_print_stylesheets(contoso: Decision) -> None:
    assert "@page { size: letter;" in html_report.report_html(contoso, date=DATE, paper="letter")
    assert "@page { size: A4;" in html_report.report_html(contoso, date=DATE)


# -- the consultant's brand ------------------------------------------------------------------------------------------

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def brand_file(tmp_path: Path, text: str, logo: bytes | None = PNG) -> Path:
    if logo is not None:
        (tmp_path / "logo.png").write_bytes(logo)
    path = tmp_path / "brand.yaml"
    path.write_text(text)
    return path


def test_a_brand_puts_the_firms_name_logo_and_colour_on_the_report(contoso: Decision, tmp_path: Path) -> None:
    path = brand_file(tmp_path, "firm: Fabrikam Advisory\nlogo: logo.png\ncontact: Ana Díaz, +34 600 000 000\n"
                      "accent: '#2d6a4f'\n")
    brand = load_brand(str(path))
    assert brand == Brand("Fabrikam Advisory", "Ana Díaz, +34 600 000 000", "#2d6a4f",
                          "data:image/png;base64," + base64.b64encode(PNG).decode())
    text = html_report.report_html(contoso, date=DATE, brand=brand)
    page = parse(text)
    assert_self_contained(page)
    assert [a.get("src", "")[:22] for t, a in page.attrs if t == "img"] == ["data:image/png;base64,"]
    assert page.joined().startswith(f"Fabrikam Advisory Ana Díaz, +34 600 000 000 Project Operations deployment plan "
                                    f"Prepared for Contoso on {DATE} by Fabrikam Advisory.")
    assert "--accent: #2d6a4f;" in page.styles
    md = markdown.report_markdown(contoso, date=DATE, brand=brand)
    assert md.splitlines()[2] == f"Prepared for **Contoso** on {DATE} by Fabrikam Advisory (Ana Díaz, +34 600 000 000)."


def test_the_brand_comes_from_the_environment_too(tmp_path: Path) -> None:
    path = brand_file(tmp_path, "firm: Fabrikam Advisory\n", logo=None)
    result = CliRunner(env={"PODEPLOY_BRAND": str(path)}).invoke(
        cli, ["evaluate", "examples/contoso.yaml", "--format", "markdown", "--date", DATE]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2] == f"Prepared for **Contoso** on {DATE} by Fabrikam Advisory."


@pytest.mark.parametrize(
    ("text", "logo", "error"),
    [
        ("firm: X\ncolour: red\n", PNG, "brand.yaml:2:1: unknown-key"),
        ("firm: X\naccent: red\n", PNG, "brand.yaml:2:9: bad-value"),
        ("logo: logo.png\n", PNG, "brand.yaml:1:1: missing-key"),
        ("firm: X\nlogo: logo.png\n", b"GIF89a...", "brand.yaml:2:7: bad-logo: logo "),
        ("firm: X\nlogo: nowhere.png\n", None, "brand.yaml:2:7: bad-logo: logo "),
        ("firm: X\nlogo: logo.png\n", b"\x89PNG\r\n\x1a\n" + b"0" * (512 * 1024), "brand.yaml:2:7: bad-logo: logo "),
        ("- firm\n", None, "brand.yaml:1:1: wrong-type"),
    ],
    ids=["unknown key", "bad colour", "no firm", "not an image", "missing logo", "huge logo", "not a mapping"],
)
def test_a_bad_brand_file_is_one_located_line_and_nothing_written(
    tmp_path: Path, text: str, logo: bytes | None, error: str
) -> None:
    path = brand_file(tmp_path, text, logo)
    out = tmp_path / "plan.html"
    result = CliRunner().invoke(
        cli, ["evaluate", "examples/contoso.yaml", "--format", "html", "--brand", str(path), "--output", str(out)]
    )
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{tmp_path}/{error}"), line
    assert not out.exists()


def test_a_logo_that_is_not_a_regular_file_is_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "logo.png")  # opening it would wait for a writer
    path = brand_file(tmp_path, "firm: X\nlogo: logo.png\n", logo=None)
    result = CliRunner().invoke(cli, ["evaluate", "examples/contoso.yaml", "--format", "html", "--brand", str(path)])
    assert result.exit_code == 2
    assert result.stderr.endswith("bad-logo: logo " + str(tmp_path / "logo.png") + ": not a regular file\n")


# -- derivation graphs --------------------------------------------------------------------------------------------

DOT_STRING = r'"(?:[^"\\]|\\.)*"'
DOT_ATTRS = rf"\[(?:[a-z]+=(?:{DOT_STRING}|[A-Za-z0-9.,]+)(?:, )?)+\]"
DOT_NODE = re.compile(rf"^  (n[0-9a-f]{{16}}) {DOT_ATTRS};$")
DOT_EDGE = re.compile(rf"^  (n[0-9a-f]{{16}}) -> (n[0-9a-f]{{16}}) {DOT_ATTRS};$")
MERMAID_STRING = r'"[^"\n]*"'
MERMAID_NODE = re.compile(rf"^  (n[0-9a-f]{{16}})\[{MERMAID_STRING}\]$")
MERMAID_EDGE = re.compile(rf"^  (n[0-9a-f]{{16}}) (?:-->|-\.->)\|{MERMAID_STRING}\| (n[0-9a-f]{{16}})$")
MERMAID_STYLE = re.compile(
    r"^  (classDef [a-z_]+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6}|class n[0-9a-f]{16}(,n[0-9a-f]{16})* [a-z_]+)$"
)


def expected_edges(decision: Decision) -> set[tuple[str, str, str]]:
    return {
        (graph.node_id(m), graph.node_id(c), f.clause.rule.id)
        for f in decision.trace
        for c in f.conclusions
        for m in f.matched + f.counted
    }


def check_dot(text: str) -> tuple[set[str], set[tuple[str, str]]]:
    lines = text.splitlines()
    assert lines[0] == "digraph derivation {" and lines[-1] == "}"
    assert all(line.startswith(("  graph [", "  node [", "  edge [")) for line in lines[1:4])
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for line in lines[4:-1]:
        node, edge = DOT_NODE.match(line), DOT_EDGE.match(line)
        assert node or edge, line
        if node:
            nodes.add(node.group(1))
        elif edge:
            assert edge.group(1) in nodes and edge.group(2) in nodes, line
            edges.add((edge.group(1), edge.group(2)))
    return nodes, edges


def check_mermaid(text: str) -> tuple[set[str], set[tuple[str, str]]]:
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for line in lines[1:]:
        node, edge = MERMAID_NODE.match(line), MERMAID_EDGE.match(line)
        assert node or edge or MERMAID_STYLE.match(line), line
        if node:
            nodes.add(node.group(1))
        elif edge:
            assert edge.group(1) in nodes and edge.group(2) in nodes, line
            edges.add((edge.group(1), edge.group(2)))
    return nodes, edges


def test_dot_graph_of_contoso(contoso: Decision) -> None:
    text = graph.derivation_dot(contoso)
    nodes, edges = check_dot(text)
    assert edges == {(a, b) for a, b, _ in expected_edges(contoso)}
    deployment = graph.node_id(next(f for f in contoso.store.of("deployment") if f.get("entity") == US))
    assert f"  {deployment} [label=\"deployment(entity: {US}, type: stocked-production)\\nrule entity-keeps-its-fit " \
        "(step 21)\", fillcolor=\"#cdeccd\"];" in text.splitlines()
    assert f'label="entity(name: {US})\\nexamples/contoso.yaml:11:11", shape=note' in text
    assert '[label="type-lacks-capability"];' in text
    assert len(nodes) == len({f for firing in contoso.trace for f in firing.matched + firing.conclusions})


def test_mermaid_graph_of_contoso(contoso: Decision) -> None:
    text = graph.derivation_mermaid(contoso)
    nodes, edges = check_mermaid(text)
    assert edges == {(a, b) for a, b, _ in expected_edges(contoso)}
    assert nodes == check_dot(graph.derivation_dot(contoso))[0]
    deployment = graph.node_id(next(f for f in contoso.store.of("deployment") if f.get("entity") == UK))
    assert (f'  {deployment}["deployment(entity: {UK}, type: resource-non-stocked)<br/>rule entity-keeps-its-fit '
            '(step 22)"]') in text.splitlines()
    assert '-->|"entity-keeps-its-fit"|' in text


def test_graph_ids_are_stable(kb: KnowledgeBase) -> None:
    first = decide(kb, "examples/adatum-mixed.json")
    again = decide(kb, "examples/adatum-mixed.json")
    assert graph.derivation_dot(first) == graph.derivation_dot(again)
    assert graph.derivation_mermaid(first) == graph.derivation_mermaid(again)
    reference = evaluate(kb, load_facts(kb, "examples/adatum-mixed.json"), engine="reference")
    assert graph.derivation_mermaid(reference) == graph.derivation_mermaid(first)


def test_graphs_escape_labels(evil: Decision) -> None:
    dot = graph.derivation_dot(evil)
    check_dot(dot)
    assert 'label="Derivation: <script>alert(1)</script> & Co"' in dot
    assert r'Evil \"quoted\" | pipe `tick` #hash \\ back <b>x</b> & end' in dot
    mermaid = graph.derivation_mermaid(evil)
    check_mermaid(mermaid)
    assert "Evil #34;quoted#34; | pipe #96;tick#96; #35;hash \\ back #60;b#62;x#60;/b#62; #38; end" in mermaid
    assert "<b>" not in mermaid and "<script" not in mermaid
    assert graph.dot_string('a"b\\c\nd') == '"a\\"b\\\\c d"'
    assert graph.mermaid_string('a"b#c') == '"a#34;b#35;c"'


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
@pytest.mark.parametrize("which", ["contoso", "adatum", "evil"])
def test_dot_accepts_the_graph(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    decision: Decision = request.getfixturevalue(which)
    done = subprocess.run(
        ["dot", "-Tsvg"], input=graph.derivation_dot(decision), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not done.stderr.strip(), done.stderr
    assert "<svg" in done.stdout and "</svg>" in done.stdout


# -- writing ------------------------------------------------------------------------------------------------------


def test_write_file_creates_a_file_ending_in_one_newline(tmp_path: Path) -> None:
    target = tmp_path / "plan.md"
    write_file(target, "# plan")
    assert target.read_bytes() == b"# plan\n"
    write_file(str(target), "é\n")
    assert target.read_text(encoding="utf-8") == "é\n"
    assert os.listdir(tmp_path) == ["plan.md"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600


def test_write_file_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "plan.html"
    target.write_text("x" * 100_000, encoding="utf-8")
    target.chmod(0o640)
    inode = target.stat().st_ino
    write_file(target, "<p>short</p>")
    assert target.read_text(encoding="utf-8") == "<p>short</p>\n"
    assert target.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["plan.html"]


def test_write_file_leaves_the_old_file_whole_when_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "plan.md"
    target.write_text("old plan\n", encoding="utf-8")

    def crash(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(PodeployError, match=r"cannot write .*plan\.md: No space left on device"):
        write_file(target, "new plan " * 10_000)
    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(PodeployError):
        write_file(target, "new plan")
    assert target.read_text(encoding="utf-8") == "old plan\n"
    assert os.listdir(tmp_path) == ["plan.md"]


def test_write_file_to_a_missing_folder_is_bad_input_located_at_the_path(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "plan.md"
    with pytest.raises(BadInput) as raised:
        write_file(target, "x")
    assert raised.value.lines() == [f"{target}:1:1: unwritable: No such file or directory"]
    assert os.listdir(tmp_path) == []



# -- the plan in a browser, and as a PDF --------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
# Screenshots of the rendered plan, kept for people to look at (CI keeps the folder as an artefact).
ARTIFACTS = Path(os.environ.get("PODEPLOY_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False, env=env)


needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} is not installed (Debian: apt-get install chromium); the HTML is not rendered in a browser",
)


def pdf_pages(data: bytes) -> int:
    assert data.startswith(b"%PDF")
    return len(re.findall(rb"/Type\s*/Page\b", data))


def printed(tmp_path: Path, html_text: str, name: str) -> bytes:
    page, pdf = tmp_path / f"{name}.html", tmp_path / f"{name}.pdf"
    write_file(page, html_text)
    done = chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    return pdf.read_bytes()


def only(html_text: str, *keep: str) -> str:
    """The report with only the named sections (decision, reasons, appendix)."""
    for name in ("reasons", "appendix"):
        if name not in keep:
            html_text = re.sub(rf'<section class="part {name}".*?</section>\n', "", html_text, flags=re.S)
    return html_text


@needs_chromium
def test_chromium_renders_page_one(contoso_now: Decision, tmp_path: Path) -> None:
    page = tmp_path / "contoso.html"
    write_file(page, html_report.report_html(contoso_now, date=DATE))
    done = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout.replace("<!DOCTYPE html>", ""))
    assert dom.title == "Project Operations deployment plan — Contoso"
    text = dom.joined()
    assert f"{US} {MANUFACTURING} in 2023: {STOCKED} Provisional" in text
    assert f"{UK} {INTEGRATED} in 2023: {RESOURCE} Provisional" in text
    assert "000_cd059b2c5f1fbec9" not in text and ".md" not in text


def test_page_one_names_no_file_and_the_appendix_names_the_facts_file(contoso_now: Decision) -> None:
    page = html_report.report_html(contoso_now, date=DATE)
    first = page[page.index('<section class="decision"') : page.index("</section>")]
    assert "contoso.yaml" not in first and ".yaml" not in first
    assert "Prepared with podeploy" in first
    appendix = page[page.index('<section class="part appendix"') :]
    assert f"from <code>{contoso_now.facts.source}</code>" in appendix


@needs_chromium
def test_chromium_runs_nothing_from_the_facts(evil: Decision, tmp_path: Path) -> None:
    page = tmp_path / "evil.html"
    write_file(page, html_report.report_html(evil, date=DATE))
    done = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout)
    assert dom.counts.get("script", 0) == 0 and dom.counts.get("b", 0) == 0
    assert EVIL_CUSTOMER in dom.title
    assert EVIL_ENTITY in " ".join(dom.text)


@needs_chromium
@pytest.mark.parametrize("name", ["contoso.yaml", "northwind-pma.yaml", "litware-small.yaml"])
@pytest.mark.parametrize("paper", ["a4", "letter"])
@pytest.mark.slow
def test_page_one_stands_alone_and_the_plan_fits_in_three_pages(
    edition_kb: KnowledgeBase, tmp_path: Path, name: str, paper: str
) -> None:
    text = html_report.report_html(decide(edition_kb, EXAMPLES / name), date=DATE, paper=paper)
    decision_only = printed(tmp_path, only(text), "decision")
    assert pdf_pages(decision_only) == 1
    width, height = {"a4": (595, 842), "letter": (612, 792)}[paper]
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([0-9.]+)\s+([0-9.]+)\s*\]", decision_only)
    assert box is not None and (round(float(box[1])), round(float(box[2]))) == (width, height)
    assert pdf_pages(printed(tmp_path, only(text, "reasons"), "plan")) <= 3
    whole = pdf_pages(printed(tmp_path, text, "whole"))
    # The appendix starts on a page of its own.
    assert whole > pdf_pages(printed(tmp_path, only(text, "reasons"), "again"))


@needs_chromium
@pytest.mark.parametrize("name", ["contoso.yaml", "adatum-mixed.json", "litware-small.yaml"])
def test_chromium_screenshot_of_page_one(edition_kb: KnowledgeBase, tmp_path: Path, name: str) -> None:
    text = only(html_report.report_html(decide(edition_kb, EXAMPLES / name), date=DATE))
    # Print styles on screen, at the width of an A4 page: what page one looks like on paper.
    page = tmp_path / "page-one.html"
    write_file(page, text.replace("@media print", "@media all"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / f"report-{Path(name).stem}-page-one.png"
    done = chromium(tmp_path, f"--screenshot={png}", "--window-size=794,1123", "--hide-scrollbars", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@needs_chromium
def test_evaluate_writes_the_pdf(tmp_path: Path) -> None:
    out = tmp_path / "contoso.pdf"
    result = CliRunner().invoke(
        cli, ["evaluate", "examples/contoso.yaml", "--format", "pdf", "--paper", "letter", "--output", str(out)]
    )
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    data = out.read_bytes()
    assert pdf_pages(data) >= 3
    assert b"/MediaBox [0 0 612 792]" in data
    shutil.copy(out, ARTIFACTS / "report-contoso-letter.pdf") if ARTIFACTS.is_dir() else None


def test_without_chromium_the_pdf_is_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "contoso.pdf"
    result = CliRunner(env={"PODEPLOY_CHROMIUM": str(tmp_path / "no-chromium")}).invoke(
        cli, ["evaluate", "examples/contoso.yaml", "--format", "pdf", "--output", str(out)]
    )
    assert result.exit_code == 1
    assert result.stderr == f"podeploy: error: PODEPLOY_CHROMIUM={tmp_path}/no-chromium is not an executable file\n"
    assert not out.exists()




# -- a consultant's layer: its own sources and next steps --------------------------------------------------------


def test_a_layer_titles_its_own_sources_and_replaces_a_types_next_steps(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "playbook.yaml").write_text(
        "policy: playbook\ndescription: Our playbook.\n"
        "sources:\n  - {id: playbook-2026, title: Delivery playbook, publisher: Fabrikam Advisory, date: '2026-11',\n"
        "     sections: {core: Core projects}}\n"
        "next_steps:\n"
        "  - {type: lite, step: Book the Core kick-off with our delivery team., source: playbook-2026#core}\n"
    )
    kb = load_knowledge_base([*edition_dirs(), str(layer)])
    assert citation(kb, "playbook-2026#core").label == (
        'Fabrikam Advisory, "Delivery playbook" (2026-11), section "Core projects"'
    )
    md = markdown.report_markdown(decide(kb, "examples/litware-small.yaml"), date=DATE)
    assert section(md, "### Next steps")[1:4] == [
        f"**{CORE} (Litware)**",
        "",
        '1. Book the Core kick-off with our delivery team. *(Source: Fabrikam Advisory, "Delivery playbook" (2026-11), '
        'section "Core projects")*',
    ]


def test_next_steps_for_an_unknown_type_are_a_located_error(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "steps.yaml").write_text(
        "policy: steps\ndescription: Steps.\nnext_steps:\n  - {type: lites, step: Go., source: here}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(layer)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"{layer}/steps.yaml:4:5: unknown-type: 'lites' is not a deployment type (did you mean 'lite'?)\n"
    )


def test_the_customers_facts_read_as_sentences(edition_kb: KnowledgeBase) -> None:
    md = markdown.report_markdown(decide(edition_kb, "examples/northwind-pma.yaml"), date=DATE)
    derived = section(md, "### Northwind Manufacturing")
    assert derived[derived.index("The customer's facts it rests on:") + 2 :][:3] == [
        "- Northwind Manufacturing needs customer-facing invoicing (`examples/northwind-pma.yaml:6:68`)",
        "- Northwind Manufacturing needs production orders (`examples/northwind-pma.yaml:6:49`)",
        "- Northwind Manufacturing: What the customer, or this legal entity, runs today for projects: Project "
        "management and accounting in Dynamics 365 Finance (`examples/northwind-pma.yaml:3:20`)",
    ]


def test_a_pdf_to_a_missing_folder_fails_before_chromium_runs(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "plan.pdf"
    # A Chromium that would fail: the error is the folder's, so Chromium never ran.
    result = CliRunner(env={"PODEPLOY_CHROMIUM": "/bin/false"}).invoke(
        cli, ["evaluate", "examples/contoso.yaml", "--format", "pdf", "--output", str(out)]
    )
    assert result.exit_code == 2
    assert result.stderr == f"{out}:1:1: not-found: no such directory: {tmp_path / 'missing'}\n"


def test_a_deployment_that_names_no_type_is_reported_as_no_fit(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "odd.yaml").write_text(
        "policy: odd\ndescription: A deployment that names no deployment type.\nrules:\n  - id: odd-deployment\n"
        "    description: The entity keeps what it runs.\n    source: here\n    when:\n"
        "      - existing_solution: {entity: $entity, value: $v}\n    then:\n"
        "      - deployment: {entity: $entity, type: $v}\n    explanation: '{entity} keeps {v}.'\n"
    )
    facts = tmp_path / "odd-customer.yaml"
    facts.write_text("customer: Odd\nexisting_solution: none\n")
    for fmt in ("markdown", "html"):
        result = CliRunner().invoke(cli, ["evaluate", str(facts), "--policies", str(layer), "--format", fmt])
        assert result.exit_code == 0, result.output
        assert "No deployment type fits" in result.stdout


@pytest.mark.parametrize("date", ["20261201", "2026-12-1", "2026-02-30", "today"])
def test_the_report_date_is_a_calendar_day_written_yyyy_mm_dd(date: str) -> None:
    result = CliRunner().invoke(cli, ["evaluate", "examples/contoso.yaml", "--format", "markdown", "--date", date])
    assert result.exit_code == 2
    assert result.stderr == f"--date:1:1: bad-value: '{date}' is not a date like 2026-12-01 (YYYY-MM-DD)\n"


def test_choice_values_read_as_their_labels(edition_kb: KnowledgeBase) -> None:
    md = markdown.report_markdown(decide(edition_kb, "examples/lucerne-receipts.yaml"), date=DATE)
    assert "it does not read receipts from New Zealand and Microsoft does not plan to extend it there" in md
    assert "new-zealand" not in customer_text(md)
    contoso = markdown.report_markdown(decide(edition_kb, "examples/contoso.yaml"), date=DATE)
    assert "availability report (Dynamics 365, Operations Apps, Project Operations) for the United Kingdom" in contoso


def test_a_label_for_a_value_a_fact_does_not_have_is_a_located_error(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "facts.yaml").write_text(
        "policy: facts\ndescription: A fact.\nfacts:\n  - id: hosting\n    type: choice\n    values: [cloud, on-site]\n"
        "    labels: {cloud: Microsoft's cloud, onsite: On site}\n    description: Where it runs.\n"
        "    question: Where does it run?\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(layer)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"{layer}/facts.yaml:7:40: bad-value: fact 'hosting': a label for 'onsite', which is not one of its values\n"
    )


def test_a_customers_fact_reads_as_what_it_is_not_its_whole_description(edition_kb: KnowledgeBase) -> None:
    from podeploy.engine.explain.queries import fact_words
    from podeploy.engine.model.terms import make_fact

    ledger = make_fact("ledger", {"entity": "Adventure Works Factory", "value": "dynamics-365-finance"}, None)
    assert fact_words(edition_kb, ledger) == (
        "Adventure Works Factory: The system that keeps the legal entity's general ledger, receivables and tax "
        "after go-live: Dynamics 365 Finance"
    )


def test_a_derivation_that_rests_on_none_of_the_customers_facts_says_none(
    edition_kb: KnowledgeBase, tmp_path: Path
) -> None:
    facts = tmp_path / "bare.yaml"
    facts.write_text("customer: Bare\n")
    page = html_report.report_html(decide(edition_kb, facts))
    given = page.split('<h2 id="derivations">')[1].split('<h2 id="sources">')[0]
    assert '<ul class="given"></ul>' not in given
    assert '<ul class="given"><li>none</li></ul>' in given


def test_a_legal_entity_that_joins_the_finance_environment_rests_on_the_need_that_brought_finance(
    edition_kb: KnowledgeBase,
) -> None:
    # Adatum Services would fit Core on its own: what it rests on is the factory's need for production
    # orders (which brings Finance), then its own needs, every one of which the type offers; never "none".
    md = markdown.report_markdown(decide(edition_kb, "examples/adatum-mixed.json"), date=DATE)
    derived = section(md, "### Adatum Services")
    assert derived[derived.index("The customer's facts it rests on:") + 2 : -1] == [
        "- Adatum Factory needs production orders (`examples/adatum-mixed.json:6:49`)",
        "- Adatum Services needs time tracking (`examples/adatum-mixed.json:3:20`)",
        "- Adatum Services needs project sales on Dynamics 365 Sales (`examples/adatum-mixed.json:5:50`)",
    ]


def test_environments_name_the_types_as_the_knowledge_used_names_them(kb: KnowledgeBase) -> None:
    # On the seeds alone, the type without Finance is the seed's Lite deployment, not today's Core; a single
    # legal entity is provisioned for, not shared by.
    md = markdown.report_markdown(decide(kb, EXAMPLES / "litware-small.yaml"), date=DATE)
    assert section(md, "### Environments to provision")[1:2] == [
        "- Lite deployment - deal to proforma invoicing (Dataverse only), for Litware.",
    ]
    md = markdown.report_markdown(decide(kb, EXAMPLES / "fabrikam-finance-later.yaml"), date=DATE)
    assert section(md, "### Environments to provision")[1:2] == [
        "- Dynamics 365 Finance with Project Operations (Project Operations for resource/non-stocked scenarios),"
        " for Fabrikam Consulting.",
    ]
