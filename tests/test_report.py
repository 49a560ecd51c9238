"""The customer documents (Markdown, HTML) and the derivation graph (DOT, Mermaid) of engine/report.py."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from podeploy.engine import Decision, KnowledgeBase, PodeployError, load_facts, load_knowledge_base, render, report
from podeploy.engine.knowledge import edition_dirs

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
US = "Contoso Manufacturing United States"
UK = "Contoso Robotics United Kingdom"
STOCKED = "Project Operations for stocked/production order scenarios"
RESOURCE = "Project Operations for resource/non-stocked scenarios"
SEED = "000_cd059b2c5f1fbec9.txt"
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
SEEDS_KNOWLEDGE = (
    '  - built-in, as of 2023-11: The seeds, read literally: Microsoft Learn, "Determine your deployment type"'
    ' (2023-11-06), and Advisicon, "What is Dynamics 365 Project Operations?" (2023-09)'
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture(scope="module")
def edition_kb() -> KnowledgeBase:
    return load_knowledge_base(edition_dirs())


def decide(kb: KnowledgeBase, path: Path | str) -> Decision:
    decision = kb.evaluate(load_facts(kb, str(path)))
    assert isinstance(decision, Decision)
    return decision


@pytest.fixture(scope="module")
def contoso(kb: KnowledgeBase) -> Decision:
    return decide(kb, "examples/contoso.yaml")


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


# -- Markdown -----------------------------------------------------------------------------------------------------


def test_markdown_plan_names_each_entitys_type_and_its_display_name(contoso: Decision) -> None:
    md = report.report_markdown(contoso)
    lines = md.splitlines()
    assert lines[0] == "# Project Operations deployment plan: Contoso"
    assert "- Customer: Contoso" in lines
    assert "- Facts: `examples/contoso.yaml`" in lines
    assert "- Deployments on the environment: `resource-non-stocked`, `stocked-production`" in lines
    assert lines[lines.index("- Knowledge used:") + 1 :][:2] == [SEEDS_KNOWLEDGE, ""]
    assert "## Open questions" not in lines  # Contoso answers everything the seeds ask
    assert section(md, "## Plan") == [
        "",
        "| Legal entity | Deployment type | Name | Gaps | Status |",
        "| --- | --- | --- | --- | --- |",
        f"| {US} | `stocked-production` | {STOCKED} | none | settled |",
        f"| {UK} | `resource-non-stocked` | {RESOURCE} | none | settled |",
        "",
    ]
    assert not md.endswith("\n")


def test_markdown_matrix_has_a_row_per_capability_with_needs_marked(contoso: Decision, kb: KnowledgeBase) -> None:
    md = report.report_markdown(contoso)
    us = section(md, f"### {US}")
    assert "| Capability | Needed | `lite` | `resource-non-stocked` | `stocked-production` (recommended) |" in us
    rows = [line for line in us if line.startswith("| `")]
    assert len(rows) == len(kb.capabilities)
    assert "| `production-orders` Production orders | needed | - | - | yes |" in rows
    assert "| `receipt-ocr` Receipt scanning (OCR) | needed | - | yes | yes |" in rows
    assert "| `project-sales` Project sales on Dynamics 365 Sales |  | yes | yes | - |" in rows
    uk = section(md, f"### {UK}")
    assert "| Capability | Needed | `lite` | `resource-non-stocked` (recommended) | `stocked-production` |" in uk
    assert "| `production-orders` Production orders |  | - | - | yes |" in uk
    assert "| `revenue-recognition` Revenue recognition | needed | - | yes | yes |" in uk


def test_markdown_marks_gaps_in_plan_matrix_and_warnings(adatum: Decision) -> None:
    md = report.report_markdown(adatum)
    plan = section(md, "## Plan")
    assert f"| Adatum Factory | `stocked-production` | {STOCKED} | `project-sales` | settled |" in plan
    assert f"| Adatum Design | `resource-non-stocked` | {RESOURCE} | `wbs-planning` | settled |" in plan
    factory = section(md, "### Adatum Factory")
    assert "| `project-sales` Project sales on Dynamics 365 Sales | **gap** | yes | yes | - |" in factory
    assert "| `production-orders` Production orders | needed | - | - | yes |" in factory
    warnings = section(md, "## Warnings")
    assert (
        "- **capability-gap**, entity Adatum Factory, type stocked-production, capability project-sales: "
        "Adatum Factory needs project-sales, which stocked-production does not offer: plan an extension, a partner "
        f"solution or a process change for it. (rule `gap-in-deployment`, source `{SEED}#deployment-types`)"
    ) in warnings
    assert sum(line.startswith("- **entity-promoted**") for line in warnings) == 2
    assert "Gaps: `project-sales`." in section(md, "### Adatum Factory: `stocked-production`")


def test_markdown_open_questions_say_what_each_answer_could_change(adatum: Decision) -> None:
    md = report.report_markdown(adatum)
    # Adatum leaves out existing_solution, plans_finance, budget and pm_maturity: none could change a deployment.
    assert section(md, "## Open questions") == [
        "",
        "Answers to these could still change the advice:",
        "",
        "- Does the customer already run Project Service Automation, Finance's Project management and accounting,"
        " or a Project Operations deployment? (could change: warning finance-pma-continue, warning"
        " no-migration-path, warning psa-upgrade)",
        "- Will the customer adopt Dynamics 365 Finance later, even if not now? (could change: warning"
        " entity-promoted)",
        "- Is the customer's budget for the project system small, medium or large? (could change: warning low-fit)",
        "- How mature is the customer's project-management practice (low, medium, high)? (could change: warning"
        " low-fit)",
        "",
    ]
    lines = md.splitlines()
    assert lines.index("## Open questions") < lines.index("## Plan")


def test_markdown_notes_and_empty_warnings(contoso: Decision) -> None:
    md = report.report_markdown(contoso)
    assert section(md, "## Warnings") == ["", "None.", ""]
    notes = section(md, "## Notes")
    assert (
        "- **shared-environment**: Stocked/production order and resource/non-stocked legal entities share one "
        "environment: the scenario is chosen per legal entity in Dynamics 365 Finance, not per environment. "
        f"(rule `stocked-and-non-stocked-share-environment`, source `{SEED}#deployment-types`)"
    ) in notes
    assert sum(line.startswith("- **region-availability**, about united-") for line in notes) == 2


def test_markdown_why_derivation_summary(contoso: Decision) -> None:
    why = section(report.report_markdown(contoso), f"### {US}: `stocked-production`")
    rule = f"`policies/environment.yaml:29:5`, source `{SEED}#deployment-types`"
    assert "Needs: `customer-facing-invoicing`, `receipt-ocr`, `production-orders`, `stocked-inventory`." in why
    assert why[why.index("How the recommendation was derived:") + 2].startswith(
        f"1. Step 15: stocked-production is open for {US} and misses 0 of its needs. (rule `type-still-open`"
    )
    assert f"3. Step 21: {US} gets stocked-production. (rule `entity-keeps-its-fit`, {rule})" in why
    assert f"   - absent: `promoted(entity: {US})`" in why
    assert f"- `entity(name: {US})` at `examples/contoso.yaml:11:11`" in why
    assert "- `deployment-type(finance: true, id: stocked-production, rank: 3)` at " \
        "`policies/deployment-types.yaml:24:5`" in why


def test_markdown_why_not_lists_every_reason(contoso: Decision) -> None:
    why = section(report.report_markdown(contoso), f"### {US}: `stocked-production`")
    lite = why.index("- Not `lite` (Lite deployment - deal to proforma invoicing):")
    rns = why.index(f"- Not `resource-non-stocked` ({RESOURCE}):")
    lacks = f"(rule `type-lacks-capability`, `policies/choosing.yaml:9:5`, source `{SEED}#deployment-types`)"
    assert why[lite + 1 : rns] == [
        f"  - {US} needs customer-facing-invoicing, which lite does not offer. {lacks}",
        f"  - {US} needs production-orders, which lite does not offer. {lacks}",
        f"  - {US} needs receipt-ocr, which lite does not offer. {lacks}",
        f"  - {US} needs stocked-inventory, which lite does not offer. {lacks}",
        f"  - {US} needs production-orders; lite has no production orders or stocked inventory, so it is ruled out "
        f"even if it would cover more of the other needs. (rule `production-needs-stocked`, "
        f"`policies/choosing.yaml:21:5`, source `{SEED}#pma`)",
        f"  - {US} needs stocked-inventory; lite has no production orders or stocked inventory, so it is ruled out "
        f"even if it would cover more of the other needs. (rule `production-needs-stocked`, "
        f"`policies/choosing.yaml:21:5`, source `{SEED}#pma`)",
    ]
    uk = section(report.report_markdown(contoso), f"### {UK}: `resource-non-stocked`")
    assert uk[uk.index(f"- Not `stocked-production` ({STOCKED}):") + 1] == (
        f"  - resource-non-stocked was preferred: resource-non-stocked is the lightest deployment type still open "
        f"that offers everything {UK} needs. (rule `lightest-covering-type`, `policies/choosing.yaml:69:5`, "
        f"source `{SEED}#deployment-types`)"
    )


@pytest.mark.parametrize(("knowledge", "name"), EXAMPLES_ON_KNOWLEDGE)
def test_why_not_all_holds_every_why_not_firing_and_agrees_with_render(
    knowledge: str, name: str, request: pytest.FixtureRequest
) -> None:
    kb: KnowledgeBase = request.getfixturevalue(knowledge)
    decision = decide(kb, EXAMPLES / name)
    against = {pid for pid, p in kb.predicates.items() if p.role == "why-not"}
    for entity in decision.entities:
        first = render.why_not(decision, entity)
        every = report.why_not_all(decision, entity)
        assert [t for t, _ in every] == [t for t, _ in first]
        for (type_id, reasons), (_, reason) in zip(every, first, strict=True):
            top = reasons[0]
            shown = top.text if top.rule is None else (
                f"{top.text} (rule {top.rule}, {top.location}" + (f", {top.source})" if top.source else ")")
            )
            assert shown == reason
            firings = [
                (f.clause.rule.id, f.explanation)
                for f in decision.trace
                if any(c.predicate in against and c.get("entity") == entity.name and c.get("type") == type_id
                       for c in f.conclusions)
            ]
            if firings:
                assert [(r.rule, r.text) for r in reasons] == list(dict.fromkeys(firings))


def test_sources_lists_every_source_cited_by_a_fired_rule(contoso: Decision) -> None:
    md = report.report_markdown(contoso)
    assert section(md, "## Sources") == [
        "",
        f"- `{SEED}#deployment-regions`: cited by `check-region-availability` (2 firings)",
        f"- `{SEED}#deployment-types`: cited by `type-lacks-capability`, `type-still-open`, `lightest-covering-type`, "
        "`entity-keeps-its-fit`, `stocked-and-non-stocked-share-environment` (18 firings)",
        f"- `{SEED}#pma`: cited by `production-needs-stocked` (4 firings)",
    ]


@pytest.mark.parametrize(("knowledge", "name"), EXAMPLES_ON_KNOWLEDGE)
def test_every_cited_source_and_entity_is_in_both_documents(
    knowledge: str, name: str, request: pytest.FixtureRequest
) -> None:
    kb: KnowledgeBase = request.getfixturevalue(knowledge)
    decision = decide(kb, EXAMPLES / name)
    md, page = report.report_markdown(decision), report.report_html(decision)
    for firing in decision.trace:
        source = firing.clause.rule.source
        if source:
            assert f"`{source}`" in md and f"<code>{source}</code>" in page
    for entity in decision.entities:
        assert f"### {report.md_text(entity.name)}" in md


def test_renamed_types_show_their_latest_name(edition_kb: KnowledgeBase) -> None:
    md = report.report_markdown(decide(edition_kb, "examples/contoso.yaml"))
    lines = md.splitlines()
    # Where each entity's books are is still open, and the answer could change either entity's deployment.
    assert f"| {US} | `stocked-production` | Project Operations for manufacturing | none | provisional |" in lines
    assert f"| {UK} | `resource-non-stocked` | Project Operations Integrated with ERP | none | provisional |" in lines
    assert "- Not `lite` (Project Operations Core):" in lines
    assert lines[lines.index("- Knowledge used:") + 1 :][:3] == [
        SEEDS_KNOWLEDGE,
        "  - docs-2026-08, as of 2026-08: Microsoft's Dynamics 365 Project Operations documentation, as read on"
        " 2026-08-21",
        "",
    ]
    books = (
        "After go-live, which system keeps the books (ledger, receivables, tax) - Dynamics 365 Finance, another"
        " ERP, or none? (could change: the deployment, warning ledger-outside-finance)"
    )
    assert section(md, "## Open questions")[3:] == [
        f"- {US}: {books}",
        f"- {UK}: {books}",
        "- Is the customer ready to align and improve its processes around Project Operations? (could change:"
        " warning low-fit)",
        "",
    ]


def test_markdown_escapes_what_the_facts_hold(evil: Decision) -> None:
    md = report.report_markdown(evil)
    assert md.splitlines()[0] == r"# Project Operations deployment plan: \<script\>alert(1)\</script\> \& Co"
    prose = re.sub(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)", "", md)  # code spans show their text as it is
    assert "<" not in prose.replace("\\<", "")
    assert "&" not in prose.replace("\\&", "")
    row = next(line for line in section(md, "## Plan") if line.startswith("| Evil"))
    # A pipe in a name is escaped, so the row keeps its five cells.
    assert len(re.split(r"(?<!\\)\|", row)) == 7
    assert row.endswith(f" | `stocked-production` | {STOCKED} | none | settled |")
    assert r'Evil "quoted" \| pipe \`tick\` \#hash \\ back \<b\>x\</b\> \& end' in row
    assert r"Plain \[link\](http://example.com) \*star\* \_under\_ ; end --\> x" in md


def test_md_code_holds_backticks_and_pipes() -> None:
    assert report.md_code("a`b") == "``a`b``"
    assert report.md_code("`x`") == "`` `x` ``"
    assert report.md_code("a|b", in_table=True) == r"`a\|b`"


# -- HTML ---------------------------------------------------------------------------------------------------------

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
        self.matrices: list[dict[str, Any]] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        data = dict(attrs)
        self.attrs.append((tag, data))
        if tag == "table" and "matrix" in (data.get("class") or "").split():
            self.matrices.append({"entity": data.get("data-entity"), "rows": 0, "caps": []})
        if tag == "tr" and self.matrices and "tbody" in self.stack and "table" in self.stack:
            self.matrices[-1]["rows"] += 1
            self.matrices[-1]["caps"].append(data.get("data-capability"))
        if tag not in VOID:
            self.stack.append(tag)
        if tag in ("title", "style"):
            self._in = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
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


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, parser.stack
    return parser


def assert_self_contained(page: Page) -> None:
    for tag in ("script", "link", "img", "iframe", "object", "embed", "base", "form"):
        assert page.counts.get(tag, 0) == 0, tag
    for tag, attrs in page.attrs:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href", "action", "srcset", "xlink:href", "poster", "data"):
                assert value is not None and value.startswith("#"), (tag, name, value)
    assert "@import" not in page.styles and "url(" not in page.styles


def test_html_structure(contoso: Decision, kb: KnowledgeBase) -> None:
    text = report.report_html(contoso)
    assert text.startswith("<!DOCTYPE html>\n<html")
    page = parse(text)
    assert page.counts["html"] == page.counts["head"] == page.counts["body"] == page.counts["title"] == 1
    assert "Contoso" in page.title
    assert page.counts["style"] == 1
    assert_self_contained(page)
    assert "@media print" in page.styles and "page-break-before: always" in page.styles
    ids = [a.get("id") for _, a in page.attrs if a.get("id")]
    assert len(ids) == len(set(ids))
    for section_id in ("plan", "capabilities", "warnings-notes", "why", "sources"):
        assert section_id in ids
    for _, attrs in page.attrs:  # every fragment link lands somewhere
        if attrs.get("href"):
            assert str(attrs["href"])[1:] in ids
    entities = [e.name for e in contoso.entities]
    plan_rows = [a.get("data-entity") for t, a in page.attrs if t == "tr" and "entity" in (a.get("class") or "")]
    assert plan_rows == entities
    articles = [a.get("data-entity") for t, a in page.attrs if t == "article"]
    assert articles == entities
    assert [m["entity"] for m in page.matrices] == entities
    for matrix in page.matrices:
        assert matrix["rows"] == len(kb.capabilities)
        assert matrix["caps"] == list(kb.capabilities)
    body = " ".join(" ".join(page.text).split())
    assert f"{US} stocked-production {STOCKED} none settled" in body
    assert f"{UK} resource-non-stocked {RESOURCE} none settled" in body
    assert f"Knowledge used {SEEDS_KNOWLEDGE.removeprefix('  - ')} Plan Capabilities" in body  # then the contents
    assert "open-questions" not in ids  # Contoso answers everything the seeds ask


def test_html_marks_needs_gaps_and_the_recommended_column(adatum: Decision) -> None:
    page = parse(report.report_html(adatum))
    factory = [a for t, a in page.attrs if t == "tr" and a.get("data-capability")][17:34]
    classes = {a["data-capability"]: a.get("class") for a in factory}
    assert classes["project-sales"] == "gap"
    assert classes["production-orders"] == "needed"
    assert classes["time-tracking"] == "needed"
    assert classes["wbs-planning"] == "other"
    headers = [a.get("class") for t, a in page.attrs if t == "th" and "type" in (a.get("class") or "").split()]
    assert headers[3:6] == ["type", "type", "type recommended"]
    body = " ".join(" ".join(page.text).split())
    assert f"Adatum Factory stocked-production {STOCKED} project-sales settled" in body
    assert (
        "Open questions Answers to these could still change the advice: Does the customer already run Project"
        " Service Automation, Finance's Project management and accounting, or a Project Operations deployment?"
        " (could change: warning finance-pma-continue, warning no-migration-path, warning psa-upgrade)"
        " Will the customer adopt Dynamics 365 Finance later, even if not now? (could change: warning"
        " entity-promoted) Is the customer's budget for the project system small, medium or large? (could change:"
        " warning low-fit) How mature is the customer's project-management practice (low, medium, high)?"
        " (could change: warning low-fit) Plan"
    ) in body


def test_html_escapes_what_the_facts_hold(evil: Decision) -> None:
    text = report.report_html(evil)
    assert "<script" not in text.lower() and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in text
    page = parse(text)
    assert EVIL_CUSTOMER in page.title
    assert_self_contained(page)
    assert [a.get("data-entity") for t, a in page.attrs if t == "article"] == [e.name for e in evil.entities]
    assert EVIL_ENTITY in [e.name for e in evil.entities]
    # The plan's entity links and the contents (open questions, plan, capabilities, warnings and notes, why,
    # sources), no more.
    assert page.counts.get("a", 0) == len(evil.entities) + 6
    assert [a.get("href") for t, a in page.attrs if t == "a"][:6] == [
        "#open-questions", "#plan", "#capabilities", "#warnings-notes", "#why", "#sources"
    ]


@pytest.mark.parametrize(("knowledge", "name"), EXAMPLES_ON_KNOWLEDGE)
def test_html_of_every_example_parses(knowledge: str, name: str, request: pytest.FixtureRequest) -> None:
    kb: KnowledgeBase = request.getfixturevalue(knowledge)
    decision = decide(kb, EXAMPLES / name)
    page = parse(report.report_html(decision))
    assert_self_contained(page)
    assert decision.customer in page.title
    assert len(page.matrices) == len(decision.entities)


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
        (report.node_id(m), report.node_id(c), f.clause.rule.id)
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
    text = report.derivation_dot(contoso)
    nodes, edges = check_dot(text)
    assert edges == {(a, b) for a, b, _ in expected_edges(contoso)}
    deployment = report.node_id(next(f for f in contoso.store.of("deployment") if f.get("entity") == US))
    assert f"  {deployment} [label=\"deployment(entity: {US}, type: stocked-production)\\nrule entity-keeps-its-fit " \
        "(step 21)\", fillcolor=\"#cdeccd\"];" in text.splitlines()
    assert f'label="entity(name: {US})\\nexamples/contoso.yaml:11:11", shape=note' in text
    assert '[label="type-lacks-capability"];' in text
    assert len(nodes) == len({f for firing in contoso.trace for f in firing.matched + firing.conclusions})


def test_mermaid_graph_of_contoso(contoso: Decision) -> None:
    text = report.derivation_mermaid(contoso)
    nodes, edges = check_mermaid(text)
    assert edges == {(a, b) for a, b, _ in expected_edges(contoso)}
    assert nodes == check_dot(report.derivation_dot(contoso))[0]
    deployment = report.node_id(next(f for f in contoso.store.of("deployment") if f.get("entity") == UK))
    assert (f'  {deployment}["deployment(entity: {UK}, type: resource-non-stocked)<br/>rule entity-keeps-its-fit '
            '(step 22)"]') in text.splitlines()
    assert '-->|"entity-keeps-its-fit"|' in text


def test_graph_ids_are_stable(kb: KnowledgeBase) -> None:
    first = decide(kb, "examples/adatum-mixed.json")
    again = decide(kb, "examples/adatum-mixed.json")
    assert report.derivation_dot(first) == report.derivation_dot(again)
    assert report.derivation_mermaid(first) == report.derivation_mermaid(again)
    reference = kb.evaluate(load_facts(kb, "examples/adatum-mixed.json"), engine="reference")
    assert report.derivation_mermaid(reference) == report.derivation_mermaid(first)


def test_graphs_escape_labels(evil: Decision) -> None:
    dot = report.derivation_dot(evil)
    check_dot(dot)
    assert 'label="Derivation: <script>alert(1)</script> & Co"' in dot
    assert r'Evil \"quoted\" | pipe `tick` #hash \\ back <b>x</b> & end' in dot
    mermaid = report.derivation_mermaid(evil)
    check_mermaid(mermaid)
    assert "Evil #34;quoted#34; | pipe #96;tick#96; #35;hash \\ back #60;b#62;x#60;/b#62; #38; end" in mermaid
    assert "<b>" not in mermaid and "<script" not in mermaid
    assert report.dot_string('a"b\\c\nd') == '"a\\"b\\\\c d"'
    assert report.mermaid_string('a"b#c') == '"a#34;b#35;c"'


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
@pytest.mark.parametrize("which", ["contoso", "adatum", "evil"])
def test_dot_accepts_the_graph(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    decision: Decision = request.getfixturevalue(which)
    done = subprocess.run(
        ["dot", "-Tsvg"], input=report.derivation_dot(decision), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not done.stderr.strip(), done.stderr
    assert "<svg" in done.stdout and "</svg>" in done.stdout


# -- writing ------------------------------------------------------------------------------------------------------


def test_write_output_creates_a_file_ending_in_one_newline(tmp_path: Path) -> None:
    target = tmp_path / "plan.md"
    report.write_output("# plan", target)
    assert target.read_bytes() == b"# plan\n"
    report.write_output("é\n", str(target))
    assert target.read_text(encoding="utf-8") == "é\n"
    assert os.listdir(tmp_path) == ["plan.md"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600


def test_write_output_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "plan.html"
    target.write_text("x" * 100_000, encoding="utf-8")
    target.chmod(0o640)
    inode = target.stat().st_ino
    report.write_output("<p>short</p>", target)
    assert target.read_text(encoding="utf-8") == "<p>short</p>\n"
    assert target.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["plan.html"]


def test_write_output_leaves_the_old_file_whole_when_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "plan.md"
    target.write_text("old plan\n", encoding="utf-8")

    def crash(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(PodeployError, match=r"cannot write .*plan\.md: No space left on device"):
        report.write_output("new plan " * 10_000, target)
    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(PodeployError):
        report.write_output("new plan", target)
    assert target.read_text(encoding="utf-8") == "old plan\n"
    assert os.listdir(tmp_path) == ["plan.md"]


def test_write_output_to_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PodeployError, match="cannot write"):
        report.write_output("x", tmp_path / "missing" / "plan.md")
    assert os.listdir(tmp_path) == []


# -- the HTML in a browser ----------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)


needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} is not installed (Debian: apt-get install chromium); the HTML is not rendered in a browser",
)


@needs_chromium
def test_chromium_renders_the_plan(contoso: Decision, tmp_path: Path) -> None:
    page = tmp_path / "contoso.html"
    report.write_output(report.report_html(contoso), page)
    done = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout.replace("<!DOCTYPE html>", ""))
    assert "Contoso" in dom.title
    text = " ".join(" ".join(dom.text).split())
    assert f"{US} stocked-production {STOCKED}" in text
    assert f"{UK} resource-non-stocked {RESOURCE}" in text
    assert f"{US}: stocked-production" in text and f"{UK}: resource-non-stocked" in text
    assert len(dom.matrices) == 2


@needs_chromium
def test_chromium_runs_nothing_from_the_facts(evil: Decision, tmp_path: Path) -> None:
    page = tmp_path / "evil.html"
    report.write_output(report.report_html(evil), page)
    done = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout)
    assert dom.counts.get("script", 0) == 0 and dom.counts.get("b", 0) == 0
    assert EVIL_CUSTOMER in dom.title
    assert EVIL_ENTITY in " ".join(dom.text)


@needs_chromium
def test_chromium_screenshot(adatum: Decision, tmp_path: Path) -> None:
    page = tmp_path / "adatum.html"
    report.write_output(report.report_html(adatum), page)
    png = tmp_path / "adatum.png"
    done = chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,1600", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@needs_chromium
def test_chromium_prints_each_section_on_a_new_page(kb: KnowledgeBase, tmp_path: Path) -> None:
    text = report.report_html(decide(kb, "examples/fabrikam-services.yaml"))
    unbroken = text.replace("break-before: page; page-break-before: always;", "")
    assert unbroken != text

    def pages(html_text: str, name: str) -> int:
        page, pdf = tmp_path / f"{name}.html", tmp_path / f"{name}.pdf"
        report.write_output(html_text, page)
        done = chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
        assert done.returncode == 0, done.stderr[-2000:]
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF")
        return len(re.findall(rb"/Type\s*/Page\b", data))

    broken = pages(text, "report")
    # The header and plan, then capabilities, warnings and notes, why, and sources each from a new page.
    assert broken >= 5
    assert broken > pages(unbroken, "unbroken")
