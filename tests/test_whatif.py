"""podeploy what-if: the smallest changes that make a deployment type the recommendation, and the reverse."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from podeploy.cli.main import _Group
from podeploy.cli.whatif_command import what_if
from podeploy.engine import BadInput, KnowledgeBase, load_knowledge_base
from podeploy.engine.evaluation.evaluate import evaluate
from podeploy.engine.facts.reading import read_facts
from podeploy.engine.io.loader import Document, load_document, parse_document
from podeploy.engine.policy.layers import edition_dirs
from podeploy.engine.tools.whatif.changes import Change, FactsEditor, apart
from podeploy.engine.tools.whatif.searching import (
    Symmetry,
    change_sets,
    combinations_count,
    deciding_facts,
    search,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FABRIKAM = str(EXAMPLES / "fabrikam-services.yaml")
CONTOSO = str(EXAMPLES / "contoso.yaml")

# Needs receipt OCR and plans Finance: Lite takes two changes, one of each.
WINGTIP = "customer: Wingtip\nrequirements: [time-tracking, receipt-ocr]\nplans_finance: true\n"
# A plant on stocked/production moves a studio that Lite would serve onto resource/non-stocked.
PROSEWARE = (
    "customer: Proseware\n"
    "legal_entities:\n"
    "  - name: Proseware Plant\n"
    "    requirements: [production-orders]\n"
    "  - name: Proseware Studio\n"
    "    requirements: [time-tracking]\n"
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


# The seed's types, as what-if names them.
LITE = "Lite deployment - deal to proforma invoicing (lite)"
STOCKED = "Project Operations for stocked/production order scenarios (stocked-production)"
RESOURCE = "Project Operations for resource/non-stocked scenarios (resource-non-stocked)"
SEED_KNOWLEDGE = (
    'Knowledge: built-in, as of 2023-11 (The seeds, read literally: Microsoft Learn, "Determine your deployment'
    ' type" (2023-11-06), and Advisicon, "What is Dynamics 365 Project Operations?" (2023-09))'
)


def run(*args: str) -> Any:
    group = _Group(commands={"what-if": what_if})
    return CliRunner().invoke(group, ["what-if", *args])


def write(tmp_path: Path, text: str, name: str = "facts.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def texts(changes: tuple[Change, ...]) -> list[str]:
    return [str(c) for c in changes]


def test_a_lite_customer_becomes_resource_non_stocked_with_any_one_of_five_changes(kb: KnowledgeBase) -> None:
    result = search(kb, load_document(FABRIKAM), "resource-non-stocked")
    assert [texts(s.changes) for s in result.solutions] == [
        ["add full-expense"],
        ["add receipt-ocr"],
        ["add customer-facing-invoicing"],
        ["add revenue-recognition"],
        ["set plans_finance=true"],
    ]
    assert result.size == 1
    assert (result.searched_up_to, result.sets, result.evaluations, result.stopped) == (1, 24, 9, None)
    assert result.left_out == {"budget": "no-effect", "pm_maturity": "no-effect", "region": "no-effect"}
    finance = result.solutions[-1].entities[0]
    assert (finance.before, finance.after, finance.gaps) == ("lite", "resource-non-stocked", [])
    assert finance.decided_by is not None
    assert (finance.decided_by.rule, finance.decided_by.location) == (
        "lightest-covering-type",
        "policies/choosing.yaml:69:5",
    )
    assert finance.no_longer is not None and "(rule finance-later-rules-out-lite, policies/choosing.yaml:37:5" in (
        finance.no_longer
    )


def test_search_text_shows_each_set_its_outcome_and_the_rule_that_now_decides() -> None:
    result = run(FABRIKAM, "--target", "stocked-production", "--engine", "reference", "--as-of", "2023-11")
    assert result.exit_code == 0, result.output
    because = (
        "decided by step 7: rule best-partial-fit (policies/choosing.yaml:83:5): No open deployment type offers"
        " everything Fabrikam Consulting needs; Project Operations for stocked/production order scenarios misses"
        " the fewest (2), so it is the best partial fit."
    )
    # In business words, with the source by its title: never a file name.
    lacks = (
        "which Lite deployment - deal to proforma invoicing does not offer. (rule type-lacks-capability,"
        ' policies/choosing.yaml:9:5; "Determine your deployment type" (2023-11-06), section "Deployment types")'
    )
    assert result.stdout == "\n".join(
        [
            "What makes Project Operations for stocked/production order scenarios (stocked-production) the"
            " recommendation for every legal entity of Fabrikam Consulting? (1 legal entity: Fabrikam Consulting)",
            SEED_KNOWLEDGE,
            "Now: Fabrikam Consulting: Lite deployment - deal to proforma invoicing (lite)",
            "23 possible single changes (not changed: budget, pm_maturity, region cannot change a deployment).",
            "Exact: 1 change is the fewest; searched all sets of up to 1 change (24 sets, 9 evaluations).",
            "2 smallest sets of 1 change:",
            "",
            " 1. add production-orders",
            f"    Fabrikam Consulting: {LITE} -> {STOCKED}",
            "      gaps: project-for-the-web-planning, project-sales",
            f"      {because}",
            f"      not {LITE}: Fabrikam Consulting needs production orders, {lacks}",
            "",
            " 2. add stocked-inventory",
            f"    Fabrikam Consulting: {LITE} -> {STOCKED}",
            "      gaps: project-for-the-web-planning, project-sales",
            f"      {because}",
            f"      not {LITE}: Fabrikam Consulting needs stocked materials with inventory, {lacks}",
            "",
        ]
    )


def test_search_json_shape() -> None:
    result = run(
        FABRIKAM, "--target", "resource-non-stocked", "--format", "json", "--engine", "reference", "--as-of", "2023-11"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "search"
    assert (data["target"], data["entity"], data["scope"], data["entities"]) == (
        "resource-non-stocked",
        None,
        "every-entity",
        ["Fabrikam Consulting"],
    )
    assert data["before"] == [{"name": "Fabrikam Consulting", "deployment": "lite"}]
    assert data["search"] == {
        "candidates": 23,
        "left_out": [
            {"fact": "budget", "reason": "no-effect"},
            {"fact": "pm_maturity", "reason": "no-effect"},
            {"fact": "region", "reason": "no-effect"},
        ],
        "max_changes": 3,
        "budget": 20000,
        "searched_up_to": 1,
        "sets": 24,
        "evaluations": 9,
        "found": True,
        "minimal": True,
        "stopped": None,
        "message": "exact: 1 change is the fewest; searched all sets of up to 1 change (24 sets, 9 evaluations)",
    }
    first = data["solutions"][0]
    assert first["size"] == 1
    assert first["changes"] == [
        {"kind": "add", "fact": "requirements", "value": "full-expense", "entity": None, "text": "add full-expense"}
    ]
    assert first["deployments"] == ["resource-non-stocked"]
    entity = first["entities"][0]
    assert entity["decided_by"]["rule"] == "lightest-covering-type"
    assert set(entity["decided_by"]) == {"step", "rule", "location", "layer", "source", "explanation"}
    assert {
        "what": "deployment",
        "entity": "Fabrikam Consulting",
        "before": "lite",
        "after": "resource-non-stocked",
    } in (first["differences"])
    assert [s["changes"][0]["text"] for s in data["solutions"]][-1] == "set plans_finance=true"
    assert data["engine"] == "reference"


# -- minimality, by brute force -------------------------------------------------------------------


def _single_entity_candidates(kb: KnowledgeBase, value: dict[str, Any]) -> list[Change]:
    """Every change to a facts file without legal entities, written out independently of the module."""
    have = value.get("requirements", [])
    out = [Change("drop", "requirements", c) for c in have]
    out += [Change("add", "requirements", c) for c in kb.capabilities if c not in have]
    for fid in ("existing_solution", "plans_finance", "budget", "pm_maturity", "region"):
        decl = kb.facts[fid]
        now = value.get(fid, decl.default)
        options: list[Any] = [False, True] if decl.type == "boolean" else list(decl.values)
        out += [Change("set", fid, v, None) for v in options if v != now or now is None]
    return out


def _edited(value: dict[str, Any], changes: tuple[Change, ...]) -> dict[str, Any]:
    edited = dict(value)
    for c in changes:
        if c.kind == "set":
            edited[c.fact] = c.value
        elif c.kind == "add":
            edited[c.fact] = [*edited.get(c.fact, []), c.value]
        else:
            edited[c.fact] = [v for v in edited[c.fact] if v != c.value]
    return edited


def _brute_force(kb: KnowledgeBase, doc: Document, target: str, up_to: int) -> dict[int, list[list[str]]]:
    """Every set of at most up_to changes (one per slot) that works, by size."""
    candidates = _single_entity_candidates(kb, doc.value)
    assert sorted(map(str, candidates)) == sorted(map(str, FactsEditor(kb, doc).candidates()))
    works: dict[int, list[list[str]]] = {}
    for size in range(up_to + 1):
        for combo in itertools.combinations(candidates, size):
            if len({c.slot for c in combo}) < size:
                continue
            facts = read_facts(kb, Document(doc.name, _edited(doc.value, combo)))
            decision = evaluate(kb, facts, engine="reference")
            if all(e.deployment == target for e in decision.entities):
                works.setdefault(size, []).append(sorted(map(str, combo)))
    return {size: sorted(sets) for size, sets in works.items()}


def test_one_change_is_minimal_by_brute_force_over_every_set_of_up_to_two(kb: KnowledgeBase) -> None:
    doc = parse_document(
        "customer: Fabrikam Consulting\nrequirements: [project-sales, time-tracking, proforma-invoicing]\n", "f.yaml"
    )
    result = search(kb, doc, "resource-non-stocked")
    found = sorted(sorted(texts(s.changes)) for s in result.solutions)
    every = _brute_force(kb, doc, "resource-non-stocked", 2)
    assert min(every) == 1
    assert found == every[1]
    assert found == [
        ["add customer-facing-invoicing"],
        ["add full-expense"],
        ["add receipt-ocr"],
        ["add revenue-recognition"],
        ["set plans_finance=true"],
    ]


def test_two_changes_are_minimal_by_brute_force_over_every_set_of_up_to_two(kb: KnowledgeBase) -> None:
    doc = parse_document(WINGTIP, "wingtip.yaml")
    result = search(kb, doc, "lite")
    assert [texts(s.changes) for s in result.solutions] == [["drop receipt-ocr", "set plans_finance=false"]]
    assert result.message == (
        "exact: 2 changes are the fewest; searched all sets of up to 2 changes (267 sets, 39 evaluations)"
    )
    # Every set of up to two changes of every fact, region, budget and pm_maturity included.
    assert _brute_force(kb, doc, "lite", 2) == {2: [["drop receipt-ocr", "set plans_finance=false"]]}


def test_the_facts_left_out_cannot_change_a_deployment(kb: KnowledgeBase) -> None:
    assert deciding_facts(kb) == {"requirements", "existing_solution", "plans_finance"}
    doc = load_document(CONTOSO)
    editor = FactsEditor(kb, doc)
    before = [e.deployment for e in evaluate(kb, editor.original, engine="reference").entities]
    left_out = [c for c in editor.candidates() if c.fact not in deciding_facts(kb)]
    # budget and pm_maturity: the two other values; region: 27 other values at the top level and for the
    # entity with its own, 28 for the entity without one (setting it pins the entity's region).
    assert len(left_out) == 2 + 2 + 27 + 27 + 28
    for change in left_out:
        after = evaluate(kb, editor.facts((change,)), engine="reference")
        assert [e.deployment for e in after.entities] == before, change


def test_change_sets_hold_one_change_per_slot_and_are_counted_exactly(kb: KnowledgeBase) -> None:
    candidates = FactsEditor(kb, load_document(CONTOSO)).candidates()
    for size in (1, 2):
        assert combinations_count(candidates, size) == sum(1 for _ in change_sets(candidates, size))
    assert combinations_count(candidates, 3) == sum(
        1 for combo in itertools.combinations(candidates, 3) if len({c.slot for c in combo}) == 3
    )


# -- entities -------------------------------------------------------------------------------------


def test_every_entity_or_one_entity_is_said_and_side_effects_on_others_are_shown(tmp_path: Path) -> None:
    facts = write(tmp_path, PROSEWARE)
    every = run(facts, "--target", "lite", "--engine", "reference", "--as-of", "2023-11")
    assert every.exit_code == 0, every.output
    lines = every.stdout.splitlines()
    assert lines[0] == (
        "What makes Lite deployment - deal to proforma invoicing (lite) the recommendation for every legal entity"
        " of Proseware? (2 legal entities: Proseware Plant, Proseware Studio)"
    )
    assert lines[1] == SEED_KNOWLEDGE
    assert lines[2] == (
        "Now: Proseware Plant: Project Operations for stocked/production order scenarios (stocked-production);"
        " Proseware Studio: Project Operations for resource/non-stocked scenarios (resource-non-stocked)"
    )
    assert " 1. drop production-orders from Proseware Plant" in lines
    assert f"    Proseware Studio: {RESOURCE} -> {LITE}" in lines

    one = run(
        facts, "--target", "lite", "--entity", "Proseware Studio", "--format", "json", "--engine", "reference",
        "--as-of", "2023-11",
    )
    assert one.exit_code == 0, one.output
    data = json.loads(one.stdout)
    assert (data["entity"], data["scope"], data["entities"]) == ("Proseware Studio", "entity", ["Proseware Studio"])
    assert [[c["text"] for c in s["changes"]] for s in data["solutions"]] == [
        ["drop production-orders from Proseware Plant"]
    ]
    shown = {e["name"]: (e["target"], e["before"], e["after"]) for e in data["solutions"][0]["entities"]}
    assert shown == {
        "Proseware Plant": (False, "stocked-production", "lite"),
        "Proseware Studio": (True, "resource-non-stocked", "lite"),
    }
    text = run(
        facts, "--target", "lite", "--entity", "Proseware Studio", "--engine", "reference", "--as-of", "2023-11"
    ).stdout
    assert text.splitlines()[0] == (
        "What makes Lite deployment - deal to proforma invoicing (lite) the recommendation for Proseware Studio?"
        " (a legal entity of Proseware; the others may change)"
    )


def test_entity_level_changes_are_offered_for_listed_entities(kb: KnowledgeBase) -> None:
    candidates = [str(c) for c in FactsEditor(kb, parse_document(PROSEWARE, "p.yaml")).candidates()]
    assert candidates[:3] == [
        "drop production-orders from Proseware Plant",
        "drop time-tracking from Proseware Studio",
        "add project-sales",
    ]
    assert "add production-orders to Proseware Studio" in candidates
    assert "add production-orders to Proseware Plant" not in candidates
    assert "set region=france for Proseware Plant" in candidates
    assert "set existing_solution=none" not in candidates


def test_solutions_are_confirmed_and_traced_on_the_requested_engine() -> None:
    durable = run(FABRIKAM, "--target", "resource-non-stocked", "--format", "json", "--engine", "durable")
    reference = run(FABRIKAM, "--target", "resource-non-stocked", "--format", "json", "--engine", "reference")
    assert durable.exit_code == reference.exit_code == 0, durable.output + reference.output
    left, right = json.loads(durable.stdout), json.loads(reference.stdout)
    assert (left["engine"], right["engine"]) == ("durable", "reference")
    assert left["solutions"] == right["solutions"]


def test_already_recommended_needs_no_change() -> None:
    result = run(FABRIKAM, "--target", "lite", "--engine", "reference")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "Already the recommendation: no change is needed; searched all sets of up to 0 changes (1 set, 1 evaluation)."
    )


# -- the bound ------------------------------------------------------------------------------------


def test_max_changes_stops_the_search_and_says_so() -> None:
    result = run(CONTOSO, "--target", "lite", "--max-changes", "1", "--engine", "reference", "--as-of", "2023-11")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-2:] == [
        "Searched all sets of up to 1 change (58 sets, 20 evaluations); no set found;"
        " a set of more than 1 change may exist (--max-changes is 1).",
        "No set of changes found.",
    ]


def test_the_budget_stops_before_a_size_it_cannot_finish(kb: KnowledgeBase) -> None:
    result = search(kb, load_document(CONTOSO), "lite", budget=1000)
    assert (result.searched_up_to, result.sets, result.stopped, result.solutions) == (1, 58, "budget", [])
    assert result.message == (
        "searched all sets of up to 1 change (58 sets, 20 evaluations); no set found; a set of more than 1 change"
        " may exist (the 1586 sets of 2 changes would take the search past its budget of 1000 sets)"
    )
    searched = run(CONTOSO, "--target", "lite", "--budget", "1000", "--format", "json", "--as-of", "2023-11")
    data = json.loads(searched.stdout)
    assert (data["search"]["found"], data["search"]["stopped"], data["solutions"]) == (False, "budget", [])


# -- the reverse: given changes -------------------------------------------------------------------


def test_drop_shows_the_new_recommendation_and_what_changed() -> None:
    result = run(
        CONTOSO, "--drop", "production-orders", "--drop", "stocked-inventory", "--engine", "reference",
        "--as-of", "2023-11",
    )
    assert result.exit_code == 0, result.output
    decided = (
        "rule lightest-covering-type (policies/choosing.yaml:69:5): Project Operations for resource/non-stocked"
        " scenarios is the lightest"
    )
    assert result.stdout == "\n".join(
        [
            "What if, for Contoso: drop production-orders from Contoso Manufacturing United States;"
            " drop stocked-inventory from Contoso Manufacturing United States",
            SEED_KNOWLEDGE,
            "Deployments on the environment: Project Operations for resource/non-stocked scenarios"
            " (resource-non-stocked), Project Operations for stocked/production order scenarios (stocked-production)"
            " -> Project Operations for resource/non-stocked scenarios (resource-non-stocked)",
            "",
            f"  Contoso Manufacturing United States: {STOCKED} -> {RESOURCE}",
            f"    decided by step 13: {decided} deployment type still open that offers everything Contoso"
            " Manufacturing United States needs.",
            f"  Contoso Robotics United Kingdom: {RESOURCE} (unchanged)",
            f"    decided by step 14: {decided} deployment type still open that offers everything Contoso Robotics"
            " United Kingdom needs.",
            "",
            "What else changes:",
            "  note shared-environment removed",
            "",
        ]
    )


def test_add_and_set_in_json(tmp_path: Path) -> None:
    result = run(
        FABRIKAM, "--add", "receipt-ocr", "--set", "budget=small", "--format", "json", "--engine", "reference",
        "--as-of", "2023-11",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "apply"
    assert [c["text"] for c in data["changes"]] == ["add receipt-ocr", "set budget=small"]
    assert data["deployments"] == {"before": ["lite"], "after": ["resource-non-stocked"]}
    assert data["differences"] == [
        {"what": "deployment", "entity": "Fabrikam Consulting", "before": "lite", "after": "resource-non-stocked"},
        {"what": "warning", "entity": None, "before": "absent", "after": "low-fit"},
        {"what": "note", "entity": "Fabrikam Consulting", "before": "lite-is-final", "after": "absent"},
    ]
    assert [w["code"] for w in data["warnings"]] == ["low-fit"]
    entity = data["entities"][0]
    assert entity["no_longer"] == (
        "Fabrikam Consulting needs receipt scanning (OCR), which Lite deployment - deal to proforma invoicing does"
        ' not offer. (rule type-lacks-capability, policies/choosing.yaml:9:5; "Determine your deployment type"'
        ' (2023-11-06), section "Deployment types")'
    )


def test_entity_scoped_changes(tmp_path: Path) -> None:
    facts = write(tmp_path, PROSEWARE)
    result = run(facts, "--entity", "Proseware Plant", "--drop", "production-orders", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["changes"][0]["entity"] == "Proseware Plant"
    assert data["deployments"]["after"] == ["lite"]
    added = run(facts, "--entity", "Proseware Studio", "--add", "receipt-ocr", "--set", "region=france")
    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines()[0] == (
        "What if, for Proseware: add receipt-ocr to Proseware Studio; set region=france for Proseware Studio"
    )


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (
            ["--target", "lte", "--entity", "Contoso Robotics"],
            [
                "--target:1:1: unknown-type: 'lte' is not a deployment type (did you mean 'lite'?)"
                " (types: lite, resource-non-stocked, stocked-production)",
                "--entity:1:1: unknown-entity: 'Contoso Robotics' is not a legal entity of Contoso (did you mean"
                " 'Contoso Robotics United Kingdom'?) (legal entities: Contoso Manufacturing United States,"
                " Contoso Robotics United Kingdom)",
            ],
        ),
        (
            ["--drop", "recipt-ocr", "--add", "full-expens", "--set", "budgett=small"],
            [
                "--drop:1:1: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)",
                "--add:1:1: unknown-capability: 'full-expens' is not a capability (did you mean 'full-expense'?)",
                "--set:1:1: unknown-fact: 'budgett' is not a known fact (did you mean 'budget'?)",
            ],
        ),
        (
            ["--set", "region=frnce", "--set", "plans_finance=maybe", "--set", "requirements=x"],
            [
                "--set:1:1: unknown-value: 'frnce' is not a value of 'region' (did you mean 'france'?)",
                "--set:1:1: wrong-type: plans_finance: expected true or false, got 'maybe'",
                "--set:1:1: wrong-type: 'requirements' is a list; change it with --add and --drop, not --set",
            ],
        ),
        (
            ["--drop", "wbs-planning", "--add", "receipt-ocr", "--set", "budget=medium"],
            [
                "--drop:1:1: not-needed: no legal entity of Contoso needs 'wbs-planning'",
                "--add:1:1: already-needed: Contoso Manufacturing United States and Contoso Robotics United Kingdom"
                " already need 'receipt-ocr'",
                "--set:1:1: no-change: budget is already medium",
            ],
        ),
        (
            ["--entity", "Contoso Robotics United Kingdom", "--drop", "receipt-ocr"],
            [
                "--drop:1:1: shared-requirement: 'receipt-ocr' is needed by every legal entity (top level), not by"
                " Contoso Robotics United Kingdom alone; drop it without --entity"
            ],
        ),
        (
            ["--target", "lite", "--drop", "receipt-ocr"],
            ["--target:1:1: conflicting-options: give --target to search, or --drop/--add/--set to apply, not both"],
        ),
        (
            ["--set", "region=france", "--set", "region=spain", "--drop", "receipt-ocr", "--drop", "receipt-ocr"],
            [
                "--drop:1:1: conflicting-changes: 'drop receipt-ocr' is given twice",
                "--set:1:1: conflicting-changes: set region=france and set region=spain change the same fact; give one",
            ],
        ),
        (
            [],
            ["--target:1:1: missing-option: give --target TYPE to search, or --drop, --add or --set to apply changes"],
        ),
    ],
)
def test_bad_input_exits_2_with_one_located_line_per_problem(args: list[str], lines: list[str]) -> None:
    result = run(CONTOSO, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == lines


def test_bad_facts_file_is_reported_as_everywhere(tmp_path: Path) -> None:
    facts = write(tmp_path, "customer: X\nrequirements: [recipt-ocr]\n")
    result = run(facts, "--target", "lite")
    assert result.exit_code == 2
    assert result.stderr == (
        f"{facts}:2:16: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)\n"
    )


def test_the_search_api_raises_bad_input(kb: KnowledgeBase) -> None:
    with pytest.raises(BadInput) as caught:
        search(kb, load_document(FABRIKAM), "stocked")
    assert [p.code for p in caught.value.problems] == ["unknown-type"]


def test_the_command_is_named_what_if() -> None:
    assert isinstance(what_if, click.Command)
    assert what_if.name == "what-if"


# -- number, version and text facts ------------------------------------------------------------------

# The docs-2026-08 edition (which absorbed the former 2025-update pack), loaded over the built-ins.
EDITION = str(ROOT / "policies" / "editions" / "docs-2026-08")
# Needs project sales (not on stocked/production) and stocked products (on resource/non-stocked from
# Finance 10.0.44 in the edition's stocked-products.yaml); Finance 10.0.40 is too old for them.
WOODGROVE = (
    "customer: Woodgrove\n"
    "finance_version: 10.0.40\n"
    "legal_entities:\n"
    "  - name: Woodgrove Services\n"
    "    requirements: [project-sales, stocked-inventory, customer-facing-invoicing]\n"
)

OPEN_FACTS = """\
policy: open-facts
description: Facts with no finite set of values, tested against literals.
facts:
  - {id: headcount, type: integer, minimum: 0, scope: entity, description: People., question: How many?}
  - {id: margin, type: number, scope: customer, description: Margin., question: What margin?}
  - {id: erp, type: text, scope: customer, description: ERP., question: Which ERP?}
  - {id: since, type: version, scope: customer, description: A version., question: Which version?}
predicates:
  - id: sized
    description: An entity of some size.
    fields: {entity: {type: string, domain: entity}}
  - id: flag
    description: Something the customer's facts show.
    fields: {why: {type: string}}
rules:
  - id: big
    description: Big entities.
    when: [{headcount: {entity: $e, value: {gt: 50}}}, {headcount: {entity: $e, value: {lte: 200}}}]
    then: [{sized: {entity: $e}}]
    explanation: "{e} is sized."
  - id: exactly
    description: One headcount.
    when: [{headcount: {entity: $e, value: 1}}]
    then: [{sized: {entity: $e}}]
    explanation: "{e} is sized."
  - id: thin
    description: Thin margins.
    when: [{margin: {lt: 0.2}}, {since: {gte: "10.1.0"}}]
    then: [{flag: {why: thin}}]
    explanation: Thin.
  - id: erp
    description: Known ERPs.
    when: [{erp: {in: [sap, oracle]}}, {not: {erp: netsuite}}]
    then: [{flag: {why: known}}]
    explanation: Known.
"""


def test_open_values_are_the_literals_and_one_value_per_stretch_between_them(tmp_path: Path) -> None:
    from podeploy.engine.tools.whatif.changes import open_values

    (tmp_path / "open.yaml").write_text(OPEN_FACTS, encoding="utf-8")
    kb = load_knowledge_base([str(tmp_path)], builtin=False)
    # headcount is tested eq 1, gt 50, lte 200. Tried: the literals, then 0 (below), 2, 51 and 201 (above).
    # 0 and 2 pass the same tests as 50, 51 the same as 200: one of each kind is kept, the literal.
    assert open_values(kb, kb.facts["headcount"]) == [1, 50, 200, 201]
    assert open_values(kb, kb.facts["margin"]) == [-0.8, 0.2]  # below the threshold, and at it
    assert open_values(kb, kb.facts["erp"]) == ["netsuite", "oracle"]  # sap passes the tests oracle passes
    assert open_values(kb, kb.facts["since"]) == ["10.0.999", "10.1.0"]


def test_the_values_rules_tell_apart_keep_to_whole_numbers_and_to_the_facts_bounds() -> None:
    from podeploy.engine.model.fact_types import fact_type
    from podeploy.engine.model.terms import FactDecl, Location

    def decl(kind: str, minimum: float | None = None, maximum: float | None = None) -> FactDecl:
        return FactDecl("f", kind, (), None, "customer", "F.", "F?", None, minimum, maximum, Location("p.yaml", 1, 1))

    whole = decl("integer", minimum=0, maximum=10)
    # A whole fact tested against 2.5 meets it at 2 and 3; the stretch below 0 is outside the bounds.
    assert fact_type(whole).told_apart(whole, [2.5]) == [1, 2, 3, 4]
    assert fact_type(whole).told_apart(whole, [0]) == [0, 1]
    # A threshold below the bounds still leaves the values within them one stand-in, the bound itself.
    margin = decl("number", minimum=0)
    assert fact_type(margin).told_apart(margin, [-5]) == [0]
    assert fact_type(margin).told_apart(margin, [0.1, 0.3]) == [0, 0.1, 0.2, 0.3, 1.3]
    # Not tested against any literal: one value stands for all in the analysis, none for what-if to try.
    assert fact_type(margin).told_apart(margin, []) == [0, 1]
    assert fact_type(margin).told_apart(margin, [], other=False) == []
    text = decl("text")
    assert fact_type(text).told_apart(text, ["other", "sap"]) == ["other", "sap", "other+"]
    assert fact_type(text).told_apart(text, ["sap"], other=False) == ["sap"]


def test_the_edition_s_finance_version_is_tried_below_and_at_each_threshold() -> None:
    from podeploy.engine.policy.layers import pack_path
    from podeploy.engine.tools.whatif.changes import open_values

    assert pack_path("2025-update") == EDITION  # the former pack's name still names the edition
    kb = load_knowledge_base([EDITION])
    # The edition tests finance_version lt 10.0.43 (modern architecture), gte 10.0.44 (stocked products on
    # Integrated with ERP), lt 10.0.46 (item requirements, reservations) and gte 10.0.47 (investment
    # projects): one value below them all, then each threshold (10.0.45 and above 10.0.47 pass the same
    # tests as 10.0.44 and 10.0.47).
    assert open_values(kb, kb.facts["finance_version"]) == ["10.0.42", "10.0.43", "10.0.44", "10.0.46", "10.0.47"]


def test_what_if_finds_an_upgrade_of_finance_among_the_smallest_changes(tmp_path: Path) -> None:
    kb = load_knowledge_base([EDITION])
    result = search(kb, load_document(write(tmp_path, WOODGROVE)), "resource-non-stocked")
    # finance_version is decided per legal entity in the edition: the customer-wide value or the entity's own.
    assert [[str(c) for c in s.changes] for s in result.solutions] == [
        ["drop stocked-inventory from Woodgrove Services"],
        ["set finance_version=10.0.44"],
        ["set finance_version=10.0.46"],
        ["set finance_version=10.0.47"],
        ["set finance_version=10.0.44 for Woodgrove Services"],
        ["set finance_version=10.0.46 for Woodgrove Services"],
        ["set finance_version=10.0.47 for Woodgrove Services"],
    ]
    assert "finance_version" not in result.left_out
    # Minimal: nothing smaller works (no change at all), and each is a single change.
    assert result.original.entities[0].deployment == "stocked-production"
    assert result.message == (
        "exact: 1 change is the fewest; searched all sets of up to 1 change (83 sets, 20 evaluations)"
    )
    # Below 10.0.46, stocked products on Integrated with ERP come without item requirements and reservations.
    moved = ("deployment", "Woodgrove Services", "stocked-production", "resource-non-stocked")
    feature = ("note", "Woodgrove Services", "absent", "stocked-products-feature")
    # The note that Finance becomes the ERP stays, and names the new type: a change of its wording.
    reworded = ("note wording", "Woodgrove Services")
    differences = {
        str(s.changes[0]): [
            (d.what, d.entity) if d.what.endswith(" wording") else (d.what, d.entity, d.before, d.after)
            for d in s.differences
        ]
        for s in result.solutions
    }
    assert differences["drop stocked-inventory from Woodgrove Services"] == [moved, reworded]
    for version in ("10.0.44", "10.0.44 for Woodgrove Services"):
        assert differences[f"set finance_version={version}"] == [
            moved,
            ("warning", "Woodgrove Services", "absent", "inventory-reservation-version"),
            ("warning", "Woodgrove Services", "absent", "item-requirements-version"),
            feature,
            reworded,
        ]
    for version in ("10.0.46", "10.0.47", "10.0.46 for Woodgrove Services", "10.0.47 for Woodgrove Services"):
        assert differences[f"set finance_version={version}"] == [moved, feature, reworded]
    wording = next(d for d in result.solutions[0].differences if d.what == "note wording")
    assert wording.before.startswith("finance-required: stocked-production runs on Dynamics 365 Finance")
    assert wording.after.startswith("finance-required: resource-non-stocked runs on Dynamics 365 Finance")
    # The command loads the edition by default; the seeds alone have no finance_version.
    facts = write(tmp_path, WOODGROVE)
    default = run(facts, "--target", "resource-non-stocked", "--format", "json", "--engine", "reference")
    assert default.exit_code == 0, default.output
    assert [[c["text"] for c in s["changes"]] for s in json.loads(default.stdout)["solutions"]] == [
        [str(c) for c in s.changes] for s in result.solutions
    ]
    seeds = run(facts, "--target", "resource-non-stocked", "--as-of", "2023-11")
    assert (seeds.exit_code, seeds.stdout) == (2, "")
    assert seeds.stderr == (
        f"{facts}:2:1: unknown-fact: 'finance_version' is not a known fact (podeploy's knowledge of 2026-08, "
        "'docs-2026-08', declares it: leave out --as-of, or add --pack docs-2026-08 or 'packs: [docs-2026-08]' "
        "to the facts file)\n"
    )


def test_a_new_customer_with_no_finance_version_is_taken_to_be_on_the_current_release(tmp_path: Path) -> None:
    kb = load_knowledge_base([EDITION])
    unversioned = WOODGROVE.replace("finance_version: 10.0.40\n", "")
    result = search(kb, load_document(write(tmp_path, unversioned)), "resource-non-stocked")
    assert result.message == (
        "already the recommendation: no change is needed; searched all sets of up to 0 changes (1 set, 1 evaluation)"
    )
    assert [s.changes for s in result.solutions] == [()]
    assert [n.code for n in result.original.notes if n.entity == "Woodgrove Services"] == [
        "finance-required",
        "stocked-products-feature",
        "finance-version-assumed",
    ]
    assert not [w for w in result.original.warnings if w.code.endswith("-version")]
    # On the seeds alone there is no Finance version to go by: stocked inventory takes the manufacturing type.
    seeds = load_knowledge_base()
    decision = evaluate(seeds, read_facts(seeds, load_document(write(tmp_path, unversioned))), engine="reference")
    assert [e.deployment for e in decision.entities] == ["stocked-production"]


@pytest.mark.slow
def test_a_number_compared_only_with_other_facts_is_left_out_and_named(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "sizes.yaml").write_text(
        "policy: sizes\n"
        "description: The biggest entity cannot be Lite.\n"
        "facts:\n"
        "  - {id: size, type: number, scope: entity, description: Size., question: How big?}\n"
        "rules:\n"
        "  - id: biggest\n"
        "    description: The biggest entity is too big for Lite.\n"
        "    source: a test\n"
        "    when:\n"
        "      - size: {entity: $e, value: $s}\n"
        "      - not: {size: {entity: {ne: $e}, value: {gt: $s}}}\n"
        "    then: [{excluded: {entity: $e, type: lite}}]\n"
        "    explanation: '{e} is the biggest.'\n",
        encoding="utf-8",
    )
    kb = load_knowledge_base([str(policies)])
    facts = write(tmp_path, "customer: C\nlegal_entities:\n  - {name: A, size: 1}\n  - {name: B, size: 2}\n")
    result = search(kb, load_document(facts), "lite", entity="B")
    assert result.left_out["size"] == "open-value"
    assert "size is compared with no value a rule names" in run(facts, "--target", "lite", "--entity", "B",
                                                                "--policies", str(policies)).output


# -- progress ---------------------------------------------------------------------------------------------


def test_the_search_reports_its_progress_set_by_set_for_each_size(kb: KnowledgeBase) -> None:
    calls: list[tuple[int, int, int]] = []
    result = search(kb, load_document(CONTOSO), "lite", progress=lambda *step: calls.append(step))
    sizes = sorted({size for size, _, _ in calls})
    assert sizes == list(range(1, result.searched_up_to + 1))
    for size in sizes:
        mine = [(done, total) for s, done, total in calls if s == size]
        total = mine[0][1]
        assert mine == [(done, total) for done in range(1, total + 1)]  # every set, in order, the last one too
    assert sum(total for s, _, total in {(s, 0, t) for s, _, t in calls}) == result.sets - 1  # and () first


def test_the_progress_line_waits_a_second_then_counts_and_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import time

    from podeploy.cli.whatif_command import SearchProgress

    monkeypatch.setattr(time, "monotonic", lambda: 100.0)  # a clock that stands still: no test of speed
    quiet = SearchProgress(io.StringIO())
    quiet(1, 1, 10)  # within the first second: nothing
    assert quiet.stream.getvalue() == ""  # type: ignore[attr-defined]
    stream = io.StringIO()
    shown = SearchProgress(stream, after=0)
    shown(2, 1234, 5000)
    shown(2, 1235, 5000)  # throttled: a tenth of a second between updates
    shown(2, 5000, 5000)  # but the last set is always shown
    shown.clear()
    assert stream.getvalue() == (
        "\r  (trying sets of 2 changes: 1,234 of 5,000)\x1b[K\r  (trying sets of 2 changes: 5,000 of 5,000)\x1b[K"
        "\r\x1b[K"
    )


def _without_symmetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every set evaluated as it is: no change taken for inert, no capability or value for another."""
    monkeypatch.setattr(Symmetry, "is_inert", lambda self, change: False)
    monkeypatch.setattr(Symmetry, "canonical", lambda self, changes: changes)


@pytest.mark.parametrize(
    ("edition", "name", "target", "solutions"),
    [
        pytest.param(False, "adatum-mixed.json", "resource-non-stocked", 17, id="seeds-adatum"),
        pytest.param(True, "northwind-pma.yaml", "lite", 24, id="docs-northwind", marks=pytest.mark.slow),
    ],
)
def test_sets_the_rules_cannot_tell_apart_are_evaluated_once_and_find_every_smallest_set(
    monkeypatch: pytest.MonkeyPatch, edition: bool, name: str, target: str, solutions: int
) -> None:
    # A capability every type offers changes nothing; interchangeable capabilities listed in the same places,
    # and values no rule tells apart, give the same deployments: the search finds the same sets, every one of
    # them, with a fraction of the evaluations of trying each set as it is.
    kb = load_knowledge_base(edition_dirs()) if edition else load_knowledge_base()
    doc = load_document(str(EXAMPLES / name))
    found = search(kb, doc, target, max_changes=2)
    with monkeypatch.context() as m:
        _without_symmetry(m)
        every = search(load_knowledge_base(edition_dirs()) if edition else load_knowledge_base(), doc, target,
                       max_changes=2)
    assert found.size == every.size == 2
    assert sorted([str(c) for c in s.changes] for s in found.solutions) == sorted(
        [str(c) for c in s.changes] for s in every.solutions
    )
    assert len(found.solutions) == solutions
    assert found.sets == every.sets
    assert found.evaluations * 4 < every.evaluations


def test_the_facts_of_changes_read_apart_are_those_the_document_gives(kb: KnowledgeBase) -> None:
    # ground() puts a set of changes no fact reads together from each change's own facts (read from the
    # document cut down to the changed fact); they are exactly the facts of the document with all of them
    # made, for every change of the seed's Contoso, every pair (those read together are read from the
    # document) and triples of them.
    editor = FactsEditor(kb, load_document(CONTOSO))
    every = editor.candidates()
    pairs = [p for p in itertools.combinations(every, 2) if p[0].slot != p[1].slot]
    assert sum(apart(*p) for p in pairs) > 5_000 and sum(not apart(*p) for p in pairs) > 50
    triples = [t for t in itertools.combinations(every[::7], 3) if len({c.slot for c in t}) == 3]
    assert len(triples) > 1_000
    for combo in (*((c,) for c in every), *pairs, *triples):
        assert frozenset(editor.ground(combo)) == frozenset(editor.facts(combo).ground), combo


def test_dropping_a_need_listed_both_shared_and_own_drops_it_from_both_places(kb: KnowledgeBase) -> None:
    # Each drop alone leaves Works with the need (the other list still has it): put together from what each
    # takes away, the pair would keep it. Such a pair is read from the document.
    doc = parse_document(
        "customer: Fabrikam\nrequirements: [production-orders]\nlegal_entities:\n"
        "  - name: Works\n    requirements: [production-orders]\n  - name: Services\n", "f.yaml"
    )
    editor = FactsEditor(kb, doc)
    pair = (Change("drop", "requirements", "production-orders"),
            Change("drop", "requirements", "production-orders", "Works"))
    assert not apart(*pair)
    needs = {(f.get("entity"), f.get("value")) for f in editor.ground(pair) if f.predicate == "requirements"}
    assert needs == set()
    alone = {(f.get("entity"), f.get("value")) for f in editor.ground(pair[:1]) if f.predicate == "requirements"}
    assert alone == {("Works", "production-orders")}
