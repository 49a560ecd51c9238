"""`podeploy ask`, the questionnaire: it asks only what can still change the advice, and stops when nothing can.

The analysis comes in two modes: deployments only (`analyzer_for(kb, warnings=False)`: a question matters
when it can change a deployment) and the advice (the default, which `ask` uses: a deployment or a warning).
Both are checked against brute force (every completion of the open questions evaluated with the reference
evaluator, as `podeploy evaluate` would), on the built-ins, the current documentation edition and a policy
that exercises the generic paths; the seed examples measure how few questions it asks; the command is
driven through piped standard input, an answers file and a pseudo-terminal.
"""

from __future__ import annotations

import itertools
import json
import os
import pty
import random
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers import ON_BOTH_TYPES
from podeploy.cli.ask_command import ask
from podeploy.cli.main import cli
from podeploy.engine import BadInput, KnowledgeBase, load_facts, load_knowledge_base
from podeploy.engine.analysis.bounds import CONVERSATION, THOROUGH, Limits
from podeploy.engine.analysis.inquiry import analyzer_for
from podeploy.engine.analysis.search import Analyzer
from podeploy.engine.evaluation.evaluate import evaluate
from podeploy.engine.facts.answers import parse_answer, read_answers
from podeploy.engine.facts.questions import ABSENT, Question, Value
from podeploy.engine.facts.reading import read_facts
from podeploy.engine.io.loader import load_document, parse_document
from podeploy.engine.io.outputs import write_file
from podeploy.engine.policy.layers import edition_dirs
from podeploy.engine.tools.session import Session, facts_document

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EDITION = tuple(edition_dirs())
SEED = ["--as-of", "2023-11"]

# Questions asked on each seed example, answered from the example itself (measured; an upper bound here).
SEED_QUESTIONS = {
    "adatum-mixed.json": 9,
    "contoso.yaml": 5,
    "fabrikam-finance-later.yaml": 5,
    "fabrikam-services.yaml": 9,
    "litware-small.yaml": 9,
    "northwind-pma.yaml": 6,
    "tailspin-psa.yaml": 9,
}

# A policy for the generic paths: an integer fact, an entity choice-list counted by a rule, and a rule that
# joins two entities on a capability (so most of the built-in chain is no longer local to one entity).
GENERIC_POLICY = """\
policy: ask-generic
description: Exercises the questionnaire on facts and rules the built-ins do not have.
facts:
  - id: headcount
    type: integer
    description: People working on projects.
    question: How many people work on projects?
  - id: channels
    type: choice-list
    scope: entity
    values: [web, phone, partner, retail]
    description: The sales channels of a legal entity.
    question: Which sales channels does the customer use?
predicates:
  - id: channel-count
    description: How many sales channels a legal entity uses.
    fields:
      entity: {type: string, domain: entity}
      n: {type: number}
rules:
  - id: big-firm-skips-lite
    description: A big firm does not start on Lite.
    when:
      - headcount: {gte: 500}
      - entity: {name: $entity}
    then:
      - excluded: {entity: $entity, type: lite}
    explanation: "{entity} is part of a big firm."
  - id: count-channels
    description: Counts the sales channels of a legal entity.
    when:
      - entity: {name: $entity}
      - count:
          channels: {entity: $entity}
        as: $n
    then:
      - channel-count: {entity: $entity, n: $n}
    explanation: "{entity} uses {n} sales channels."
  - id: many-channels-skip-lite
    description: Many sales channels need Finance.
    when:
      - channel-count: {entity: $entity, n: {gte: 3}}
    then:
      - excluded: {entity: $entity, type: lite}
    explanation: "{entity} sells through many channels."
  - id: partner-channel-skips-resource
    description: Partner sales need stocked inventory.
    when:
      - channels: {entity: $entity, value: partner}
    then:
      - excluded: {entity: $entity, type: resource-non-stocked}
    explanation: "{entity} sells through partners."
  - id: shared-subcontracting-skips-lite
    description: Two entities subcontracting together share Finance.
    when:
      - requirements: {entity: $entity, value: subcontracting}
      - requirements: {entity: $other, value: subcontracting}
    then:
      - excluded: {entity: $entity, type: lite}
    explanation: "{entity} subcontracts with {other}."
"""


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture(scope="module")
def analyzer(kb: KnowledgeBase) -> Analyzer:
    """The deployment-only analysis of the built-ins."""
    return analyzer_for(kb, warnings=False)


# -- what the analysis knows from the rules alone ------------------------------------------------------


def test_only_facts_that_can_reach_a_deployment_are_ever_asked(analyzer: Analyzer) -> None:
    assert {"requirements", "existing_solution", "plans_finance"} <= analyzer.cone.predicates
    assert not {"budget", "pm_maturity", "region"} & analyzer.cone.predicates  # they only bear on warnings and notes
    # Capabilities every type offers can never change a deployment: never asked.
    assert {item for _, item in analyzer.dims.inert} == {
        "resource-management",
        "time-tracking",
        "basic-expense",
        "proforma-invoicing",
    }
    # Entities meet only through their fit (a Lite entity joins a Finance-based environment).
    assert analyzer.cone.interface == ["fit"]


def test_interchangeable_capabilities_are_enumerated_by_count(analyzer: Analyzer) -> None:
    classes = [d.members for d in analyzer.dims.local if d.is_class]
    assert ("full-expense", "receipt-ocr", "customer-facing-invoicing", "revenue-recognition") in classes
    assert ("production-orders",) in classes  # named by a rule: on its own
    assert ("stocked-inventory",) in classes


# -- question counts on the seed examples ---------------------------------------------------------------


def run_from_answers(kb: KnowledgeBase, path: Path, *, warnings: bool = False) -> tuple[Session, list[str]]:
    answers = read_answers(kb, load_document(str(path)))
    session = Session(analyzer_for(kb, warnings=warnings), answers.customer, answers.entities)
    while (question := session.next_question()) is not None:
        session.answer(question, answers.lookup(question))
    return session, list(session.asked)


def deployments(kb: KnowledgeBase, doc: dict[str, Any]) -> list[str | None]:
    decision = evaluate(kb, read_facts(kb, parse_document(json.dumps(doc), "asked.json")), engine="reference")
    return [e.deployment for e in decision.entities]


def test_seed_examples_get_their_recommendation_from_fewer_questions(kb: KnowledgeBase) -> None:
    vocabulary = len(kb.facts) + len(kb.capabilities)
    report = []
    for name, most in SEED_QUESTIONS.items():
        session, asked = run_from_answers(kb, EXAMPLES / name)
        assert session.analysis().exact
        full = evaluate(kb, load_facts(kb, str(EXAMPLES / name)), engine="reference")
        # Only what was asked is written, and it gives every entity the deployment the full facts give.
        assert deployments(kb, session.document()) == [e.deployment for e in full.entities], name
        assert len(asked) <= most, (name, asked)
        assert len(asked) < vocabulary
        report.append(f"{name}: {len(asked)} of {len(session.questions)} questions ({vocabulary} facts+capabilities)")
    print("\n".join(report))


def test_contoso_is_settled_by_five_questions(kb: KnowledgeBase) -> None:
    _, asked = run_from_answers(kb, EXAMPLES / "contoso.yaml")
    assert asked == [
        "requirements:production-orders@0",
        "requirements:production-orders@1",
        "requirements:stocked-inventory@1",
        "requirements:wbs-planning@1",
        "existing_solution",
    ]


# -- the analysis against brute force -------------------------------------------------------------------


def domain(question: Question) -> list[Value]:
    """Answers brute force tries for a question (every one for yes/no, booleans and short choices)."""
    if question.kind == "yes-no":
        return [True, False]
    if question.kind == "boolean":
        return [True, False, ABSENT]
    if question.kind == "choice":
        return [*question.choices[:6], ABSENT]
    if question.kind == "version":
        return ["10.0.40", "10.0.43", "10.0.44", "10.0.45", "10.0.46", ABSENT]
    if question.kind == "integer":
        return [0, 499, 500, 10_000, ABSENT]
    raise AssertionError(question.kind)


def outcome_of(kb: KnowledgeBase, session: Session, answers: dict[str, Value]) -> tuple[Any, ...]:
    """The deployments (and, when the analysis counts them, the warnings) that `evaluate` gives."""
    doc = facts_document(kb, session.customer, session.entities, session.questions, answers)
    decision = evaluate(kb, read_facts(kb, parse_document(json.dumps(doc), "asked.json")), engine="reference")
    found: tuple[Any, ...] = tuple(e.deployment for e in decision.entities)
    if session.analyzer.cone.warning_preds:
        found += (frozenset(n.fact for n in decision.warnings),)
    return found


def random_states(kb: KnowledgeBase, session: Session, rng: random.Random, count: int) -> Iterator[list[str]]:
    """Random full answers with a few questions left open (at most 96 completions): the open keys."""
    analyzer = session.analyzer
    for _ in range(count):
        session.clear()
        for q in session.questions:
            values = domain(q)
            weights = [1 if v is True else 4 for v in values] if q.kind == "yes-no" else None
            session.answer(q, rng.choices(values, weights=weights)[0])
        mattering = [q for q in session.questions if analyzer.may_matter(q)]
        others = [q for q in session.questions if not analyzer.may_matter(q)]
        open_: list[Question] = []
        size = 1
        for q in [*rng.sample(mattering, len(mattering)), *rng.sample(others, 2)]:
            if size * len(domain(q)) <= 96 and len(open_) < 7:
                open_.append(q)
                size *= len(domain(q))
        for q in open_:
            session.forget(q)
        yield [q.key for q in open_]


def check_against_brute_force(kb: KnowledgeBase, session: Session, open_keys: list[str]) -> None:
    analysis = session.analysis()
    assert analysis.exact
    questions = [session.question(k) for k in open_keys]
    outcomes: dict[tuple[Value, ...], tuple[str | None, ...]] = {}
    for combo in itertools.product(*(domain(q) for q in questions)):
        outcomes[combo] = outcome_of(kb, session, {**session.answers, **dict(zip(open_keys, combo, strict=True))})
    seen = set(outcomes.values())
    assert analysis.done == (len(seen) == 1), (open_keys, seen)
    n = len(session.entity_names)
    lightest = {
        tuple(next((t for t in types if not t.startswith("!")), None) for types in o[:n]) for o in analysis.outcomes
    }
    assert lightest == {o[:n] for o in seen}
    truly = set()
    for i, q in enumerate(questions):
        for combo, got in outcomes.items():
            for other in domain(q):
                changed = (*combo[:i], other, *combo[i + 1 :])
                if outcomes[changed] != got:
                    truly.add(q.key)
    assert set(analysis.relevant) == truly
    assert truly <= {k for k in open_keys if session.analyzer.may_matter(session.question(k))}
    if not analysis.done:
        assert analysis.next is not None and analysis.next.key in truly
    else:
        assert analysis.next is None and not truly


@pytest.mark.parametrize(
    ("layers", "entities", "warnings", "seed"),
    [
        pytest.param((), [], False, 1, id="built-ins-one-entity"),
        pytest.param((), ["Works", "Services"], False, 2, id="built-ins-two-entities"),
        pytest.param((), ["Works", "Services"], True, 3, id="built-ins-advice-two-entities"),
        pytest.param(EDITION, [], True, 6, id="edition-advice-one-entity"),
        pytest.param(EDITION, ["Works", "Services"], True, 7, id="edition-advice-two-entities"),
        pytest.param(EDITION, ["Works", "Services", "Design"], True, 8, id="edition-advice-three-entities"),
    ],
)
@pytest.mark.slow
def test_analysis_matches_brute_force(layers: tuple[str, ...], entities: list[str], warnings: bool, seed: int) -> None:
    kb = load_knowledge_base(list(layers))
    session = Session(analyzer_for(kb, warnings=warnings), "Woodgrove", entities)
    for open_keys in random_states(kb, session, random.Random(seed), 6):
        check_against_brute_force(kb, session, open_keys)


def test_analysis_matches_brute_force_on_generic_facts_and_cross_entity_rules(tmp_path: Path) -> None:
    (tmp_path / "generic.yaml").write_text(GENERIC_POLICY)
    kb = load_knowledge_base([str(tmp_path)])
    analyzer = analyzer_for(kb, warnings=False)
    assert {"headcount", "channels"} <= analyzer.cone.predicates
    assert analyzer.cone.classes["excluded"] == "cross"  # joined across entities by shared subcontracting
    classes = [d.members for d in analyzer.dims.local if d.is_class and d.decl.id == "channels"]
    assert sorted(classes) == [("partner",), ("web", "phone", "retail")]
    session = Session(analyzer, "Woodgrove", ["Works", "Services"])
    for open_keys in random_states(kb, session, random.Random(4), 5):
        check_against_brute_force(kb, session, open_keys)


def test_relevance_found_by_witnesses_alone_matches_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    # Answers that leave the odds unchanged but still matter are found by looking for two completions that
    # differ only in that answer: force that path for every question.
    monkeypatch.setattr("podeploy.engine.analysis.relevance._differ", lambda parts: False)
    kb = load_knowledge_base()
    session = Session(Analyzer(kb), "Woodgrove", ["Works", "Services"])
    for open_keys in random_states(kb, session, random.Random(5), 4):
        check_against_brute_force(kb, session, open_keys)
    session = Session(Analyzer(kb, warnings=True), "Woodgrove", ["Works", "Services"])
    for open_keys in random_states(kb, session, random.Random(9), 4):
        check_against_brute_force(kb, session, open_keys)


def test_a_fresh_customer_is_not_done_and_everything_in_the_cone_is_open(analyzer: Analyzer) -> None:
    analysis = Session(analyzer, "Fabrikam").analysis()
    assert not analysis.done and analysis.exact
    assert analysis.possible == [["lite", "resource-non-stocked", "stocked-production"]]
    assert analysis.next is not None and analysis.next.key == "requirements:production-orders@0"


def test_going_back_forgets_the_last_answer(analyzer: Analyzer) -> None:
    session = Session(analyzer, "Fabrikam")
    first = session.next_question()
    assert first is not None
    session.answer(first, True)
    assert session.still_possible() == [("Fabrikam", ["stocked-production"])]
    assert session.done
    assert session.back() == first
    assert session.next_question() == first and not session.done


def test_answers_are_parsed_by_kind(analyzer: Analyzer) -> None:
    questions = {q.key: q for q in Session(analyzer, "X").questions}
    assert parse_answer(questions["requirements:receipt-ocr@0"], " Y ") is True
    assert parse_answer(questions["plans_finance"], "no") is False
    assert parse_answer(questions["plans_finance"], "?") is ABSENT
    assert parse_answer(questions["existing_solution"], "finance") == "finance-project-management"
    assert parse_answer(questions["existing_solution"], "3") == "finance-project-management"
    assert questions["requirements:receipt-ocr@0"].text == "Does the customer need receipt scanning (OCR)?"
    with pytest.raises(ValueError, match="one of none"):
        parse_answer(questions["existing_solution"], "sap")
    with pytest.raises(ValueError, match="y \\(yes\\)"):
        parse_answer(questions["plans_finance"], "perhaps")


def test_a_number_answer_keeps_within_the_facts_declared_bounds(tmp_path: Path) -> None:
    (tmp_path / "sizes.yaml").write_text(
        "policy: sizes\ndescription: Bounded numbers.\nfacts:\n"
        "  - id: project_managers\n    type: integer\n    minimum: 1\n    maximum: 50\n"
        "    description: Project managers.\n    question: How many project managers?\n"
        "  - id: margin\n    type: number\n    minimum: 0\n"
        "    description: Target margin.\n    question: What margin is targeted?\n"
    )
    kb = load_knowledge_base([*edition_dirs(), tmp_path])
    questions = {q.key: q for q in Session(analyzer_for(kb), "X").questions}
    managers, margin = questions["project_managers"], questions["margin"]
    assert managers.hint == "[a whole number from 1 to 50, or ?]"
    assert margin.hint == "[a number of at least 0, or ?]"
    assert questions["plans_finance"].bounds is None
    assert parse_answer(managers, "50") == 50
    assert parse_answer(margin, "0.25") == 0.25
    for answer in ("0", "51"):
        with pytest.raises(ValueError, match=r"^answer a whole number from 1 to 50, or \?$"):
            parse_answer(managers, answer)
    with pytest.raises(ValueError, match=r"^answer a number of at least 0, or \?$"):
        parse_answer(margin, "-1")


# -- the command: piped standard input, answers files, --out ----------------------------------------------


def answer_lines(kb: KnowledgeBase, facts: Path) -> list[str]:
    """The lines a script pipes in to answer like a facts file (setup, then each question in order, as `ask`
    chooses them: the advice analysis within a conversation's bounds)."""
    answers = read_answers(kb, load_document(str(facts)))
    lines = [answers.customer]
    lines += ["y", *answers.entities, ""] if answers.entities else ["n"]
    session = Session(analyzer_for(kb, CONVERSATION), answers.customer, answers.entities)
    while (question := session.next_question()) is not None:
        value = answers.lookup(question)
        session.answer(question, value)
        lines.append("?" if value is ABSENT else ("y" if value is True else "n" if value is False else str(value)))
    return lines


def run_ask(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(ask, list(args), input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def advice(kb: KnowledgeBase, doc: dict[str, Any]) -> tuple[list[str | None], set[Any]]:
    """The deployments and the warnings `evaluate` gives a facts document."""
    decision = evaluate(kb, read_facts(kb, parse_document(json.dumps(doc), "asked.json")), engine="reference")
    return [e.deployment for e in decision.entities], {n.fact for n in decision.warnings}


@pytest.mark.slow
def test_piped_answers_write_facts_that_evaluate_like_the_example(kb: KnowledgeBase, tmp_path: Path) -> None:
    lines = answer_lines(kb, EXAMPLES / "contoso.yaml")
    # name, several?, two names and the empty line, then the questions: also the capabilities a gap
    # (a warning) could hang on, once the deployments are settled.
    assert len(lines) == 2 + 3 + 16
    result = run_ask(*SEED, input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    doc = parse_document(result.stdout, "stdout.yaml").value
    assert doc["legal_entities"][0]["requirements"] == ["production-orders"]
    full = load_document(str(EXAMPLES / "contoso.yaml")).value
    assert advice(kb, doc) == advice(kb, full)
    assert advice(kb, doc)[0] == ["stocked-production", "resource-non-stocked"]
    assert "16 questions asked, of 40 this customer could be asked (6 facts and 17 capabilities" in result.stderr
    assert ("Deployments on the environment: Project Operations for resource/non-stocked scenarios "
            "(resource-non-stocked), Project Operations for stocked/production order scenarios (stocked-production)"
            ) in result.stderr
    assert ("Still possible: Contoso Manufacturing United States: Project Operations for stocked/production order"
            " scenarios; ") in result.stderr


FIRST_QUESTION = (
    "Does the customer already run Project Service Automation, Finance's Project management and accounting, or a "
    "Project Operations deployment?"
)


def test_piped_back_and_dont_know(kb: KnowledgeBase) -> None:
    # The first question (what the customer runs): none; back from the next question, none again; then
    # don't know to everything: each "don't know" is recorded, so the facts file says what was asked.
    result = run_ask(*SEED, input="Fabrikam\nn\nnone\n<\nnone\n" + "?\n" * 30)
    assert result.exit_code == 0, result.stderr
    doc = parse_document(result.stdout, "stdout.yaml").value
    # The record of the workshop: each question asked, of whom, the answer and when; "don't know" said as such.
    workshop = doc.pop("workshop")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", workshop["date"])
    assert [(a["question"], a["of"], a["answer"]) for a in workshop["answers"]][:2] == [
        (FIRST_QUESTION, "Fabrikam", "none"),
        ("Does the customer need project planning with a work breakdown structure?", "Fabrikam", "don't know"),
    ]
    assert len(workshop["answers"]) == 1 + len(doc["unknown"])
    assert all(workshop["date"] <= a["at"] for a in workshop["answers"])
    assert doc == {
        "customer": "Fabrikam",
        "existing_solution": "none",
        "unknown": [
            "plans_finance",
            "budget",
            "pm_maturity",
            "wbs-planning",
            "full-expense",
            "receipt-ocr",
            "customer-facing-invoicing",
            "revenue-recognition",
            "production-orders",
            "stocked-inventory",
        ],
    }
    assert result.stderr.count(f"{FIRST_QUESTION} [none/") == 2
    assert "Does the customer need project planning with a work breakdown structure? [y/n/?] <" in result.stderr
    assert deployments(kb, doc) == ["lite"]
    facts = read_facts(kb, parse_document(result.stdout, "stdout.yaml"))
    assert ("budget", None) in facts.unknown and ("receipt-ocr", None) in facts.unknown


def test_piped_input_that_ends_leaves_the_rest_unknown(kb: KnowledgeBase) -> None:
    result = run_ask(*SEED, input="Fabrikam\nn\nnone\n")
    assert result.exit_code == 0, result.stderr
    assert "standard input ended" in result.stderr
    doc = parse_document(result.stdout, "stdout.yaml").value
    # Questions passed over when the input ended were never answered: not recorded as "don't know".
    assert [a["answer"] for a in doc.pop("workshop")["answers"]] == ["none"]
    assert doc == {"customer": "Fabrikam", "existing_solution": "none"}
    assert deployments(kb, doc) == ["lite"]
    assert "1 question asked, of 22" in result.stderr


def test_a_bad_piped_answer_is_located_and_exits_2() -> None:
    result = run_ask(*SEED, input="Fabrikam\nn\nmaybe\n")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "<stdin>:3:1: bad-answer: answer one of none, project-service-automation, finance-project-management, lite, "
        f"resource-non-stocked, stocked-production (or its number, or ?) (answering: {FIRST_QUESTION})"
    )


def test_no_customer_on_empty_input_exits_2() -> None:
    result = run_ask(input="")
    assert result.exit_code == 2
    assert "<stdin>:1:1: no-customer: standard input ended before the customer's name" in result.stderr


@pytest.mark.slow
def test_answers_file_keeps_what_it_gives_and_asks_the_rest_as_unknown(kb: KnowledgeBase, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        "customer: Contoso\nbudget: small\nreceipt-ocr: yes\nlegal_entities:\n"
        "  - name: Works\n    production-orders: yes\n  - name: Services\n    requirements: [revenue-recognition]\n"
    )
    out = tmp_path / "facts.yaml"
    result = run_ask(*SEED, "--answers", str(answers), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert f"Wrote {out}." in result.stdout
    assert "Does Works need production orders? [y/n/?] y" in result.stdout
    facts = load_facts(kb, str(out))
    assert facts.values["budget"] == "small"
    assert [e.values["requirements"] for e in facts.entities] == [
        ["receipt-ocr", "production-orders"],
        ["receipt-ocr", "revenue-recognition"],
    ]
    decision = evaluate(kb, facts, engine="reference")
    assert [e.deployment for e in decision.entities] == ["stocked-production", "resource-non-stocked"]
    assert "low-fit" in result.stdout  # budget was given, so its warning stays
    # What the answers file left open and was asked is recorded as unknown, where it was asked.
    assert ("existing_solution", None) in facts.unknown
    assert ("project-sales", "Works") in facts.unknown
    assert load_document(str(out)).value["unknown"] == ["existing_solution", "plans_finance"]


def test_an_answers_file_with_unknowns_resumes_without_asking_them_again(kb: KnowledgeBase, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("customer: Fabrikam\nexisting_solution: none\nunknown: [plans_finance, budget]\n")
    result = run_ask(*SEED, "--answers", str(answers))
    assert result.exit_code == 0, result.stderr
    assert "Will the customer adopt Dynamics 365 Finance later, even if not now? [y/n/?] ?" in result.stderr
    doc = parse_document(result.stdout, "stdout.yaml").value
    assert doc["unknown"][:2] == ["plans_finance", "budget"]


def test_an_unknown_that_is_not_a_fact_is_located(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("customer: Fabrikam\nunknown: [budgett]\n")
    result = run_ask(*SEED, "--answers", str(answers))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{answers}:2:11: unknown-fact: 'budgett' is not a fact or capability that can be unknown here"
        " (did you mean 'budget'?)"
    ]


def test_bad_answers_file_gives_located_lines_and_exit_2(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        "customer: Contoso\nbudgett: small\nreceipt-ocr: maybe\nlegal_entities:\n"
        "  - name: Works\n    requirements: [recipt-ocr]\n    plans_finance: true\n"
    )
    result = run_ask(*SEED, "--answers", str(answers))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{answers}:2:1: unknown-fact: 'budgett' is not a known fact or capability (did you mean 'budget'?)",
        f"{answers}:3:14: wrong-type: receipt-ocr: expected yes, no or '?'",
        f"{answers}:6:20: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)",
        f"{answers}:7:5: unknown-fact: 'plans_finance' is a customer-wide fact: set it at the top level",
    ]


def test_out_is_never_overwritten_without_force(tmp_path: Path) -> None:
    out = tmp_path / "facts.yaml"
    out.write_text("keep me\n")
    result = run_ask(*SEED, "--out", str(out), input="Fabrikam\nn\n")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{out}:1:1: exists: already exists; pass --force to overwrite it"
    assert out.read_text() == "keep me\n"
    result = run_ask(*SEED, "--out", str(out), "--force", input="Fabrikam\nn\n")
    assert result.exit_code == 0, result.stderr
    assert out.read_text().startswith("# Facts for 'podeploy evaluate'")
    assert [p.name for p in tmp_path.iterdir()] == ["facts.yaml"]  # no temporary file left behind


def test_atomic_write_refuses_a_file_created_meanwhile(tmp_path: Path) -> None:
    out = tmp_path / "facts.yaml"
    write_file(str(out), "customer: A\n", overwrite=False)
    with pytest.raises(BadInput, match="already exists"):
        write_file(str(out), "customer: B\n", overwrite=False)
    assert out.read_text() == "customer: A\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts.yaml"]


def test_written_facts_are_accepted_by_evaluate(tmp_path: Path) -> None:
    from podeploy.cli.main import cli

    out = tmp_path / "facts.yaml"
    assert run_ask("--answers", str(EXAMPLES / "northwind-pma.yaml"), "--out", str(out)).exit_code == 0
    result = CliRunner().invoke(cli, ["evaluate", str(out)])
    assert result.exit_code == 0, result.stderr
    assert ON_BOTH_TYPES in result.stdout


# -- a real session on a pseudo-terminal ---------------------------------------------------------------------


class Terminal:
    """A child process on a pseudo-terminal: wait for text, type a line. Killed if a test fails half-way."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "COLUMNS": "200"}
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env)
        os.close(slave)
        self.seen = ""

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)

    def expect(self, *texts: str, timeout: float = 120.0) -> tuple[str, str]:
        """Wait until one of texts appears; (the text, everything up to and including it)."""
        deadline = time.monotonic() + timeout
        while True:
            hits = [(self.seen.find(t), t) for t in texts if t in self.seen]
            if hits:
                at, text = min(hits)
                before, self.seen = self.seen[: at + len(text)], self.seen[at + len(text) :]
                return text, before
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {texts!r}; got:\n{self.seen[-2000:]}")
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # the child has closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"ended before {texts!r}; got:\n{self.seen[-2000:]}")
            self.seen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def wait(self) -> int:
        return self.process.wait(timeout=20)


def ask_argv() -> list[str]:
    """`python -m podeploy ask` once the command is registered; the command object itself before that."""
    from podeploy.cli.main import cli

    if "ask" in cli.commands:
        return [sys.executable, "-m", "podeploy", "ask"]
    return [sys.executable, "-c", "from podeploy.cli.ask_command import ask; ask()"]


def reply_to(question: str) -> str:
    """Tailspin's answers, by what the question asks."""
    if "Finance later" in question:
        return "?"
    if "already run" in question:
        return "none"
    if "budget" in question:
        return "medium"
    if "mature" in question:
        return "high"
    return "y" if "receipt scanning" in question else "n"


def test_a_session_on_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "tailspin.yaml"
    with Terminal([*ask_argv(), *SEED, "--out", str(out)], tmp_path) as term:
        term.expect("? if you don't know, < to go back")
        term.expect("Customer name:")
        term.send("Tailspin")
        term.expect("several legal entities? [y/n]")
        term.send("n")
        term.expect("Still possible: Lite deployment - deal to proforma invoicing, Project Operations for"
                    " resource/non-stocked scenarios, Project Operations for stocked/production order scenarios")

        def first_question() -> None:
            term.expect(f"{FIRST_QUESTION} [none/")
            term.expect("/?]")

        first_question()
        term.send("maybe")
        term.expect("answer one of none, project-service-automation")
        first_question()
        term.send("none")
        term.expect("[y/n/?]", "/?]")
        term.send("<")  # a slip: back to the first question
        first_question()
        term.send("none")
        asked = 1
        went_back = False
        while True:
            found, before = term.expect("[y/n/?]", "/?]", "Enter to finish")
            if found == "Enter to finish":
                if went_back:
                    break
                term.send("<")  # a last look at the answer that settled it, then the same answer again
                went_back = True
                asked -= 1
                continue
            asked += 1
            term.send(reply_to(before.splitlines()[-1]))
            assert asked < 25
        term.send("")
        term.expect("Wrote")
        _, summary = term.expect("Deployments on the environment: Project Operations for resource/non-stocked")
        assert f"{asked} questions asked" in summary
        assert term.wait() == 0
    facts = load_document(str(out)).value
    assert facts["customer"] == "Tailspin"
    assert facts["requirements"] == ["receipt-ocr"]
    assert facts["budget"] == "medium" and facts["pm_maturity"] == "high"
    assert "plans_finance" in facts["unknown"]  # don't know: recorded as asked and not known
    assert asked < len(load_knowledge_base().facts) + 17


# -- the workshop record --------------------------------------------------------------------------------------

WORKSHOP_FACTS = """\
customer: Contoso
existing_solution: none
unknown: [budget]
workshop:
  date: '2026-12-02T09:30:00Z'
  by: Ana Díaz
  answers:
  - {question: Does the customer already run ...?, of: Contoso, answer: none, at: '2026-12-02T09:31:00Z'}
  - {question: "Is the customer's budget small, medium or large?", of: Contoso, answer: don't know,
     at: '2026-12-02T09:32:10Z'}
"""


def test_the_facts_file_records_who_ran_the_workshop_and_each_answer_with_its_time(kb: KnowledgeBase) -> None:
    result = run_ask(*SEED, "--by", "Ana Díaz", input="Fabrikam\nn\nnone\nn\n")
    assert result.exit_code == 0, result.stderr
    workshop = parse_document(result.stdout, "stdout.yaml").value["workshop"]
    assert workshop["by"] == "Ana Díaz"
    assert [(a["of"], a["answer"]) for a in workshop["answers"]] == [("Fabrikam", "none"), ("Fabrikam", "no")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a["at"]) for a in workshop["answers"])
    # The file, as written, evaluates: the record is part of the facts file's schema.
    assert read_facts(kb, parse_document(result.stdout, "stdout.yaml")).workshop is not None


def test_evaluate_and_the_report_say_which_workshop_the_facts_come_from(tmp_path: Path) -> None:
    path = tmp_path / "contoso.yaml"
    path.write_text(WORKSHOP_FACTS)
    line = 'Workshop of 2026-12-02 (run by Ana Díaz): 2 questions answered, 1 of them "don\'t know".'
    text = CliRunner().invoke(cli, ["evaluate", str(path)])
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[2] == line
    data = json.loads(CliRunner().invoke(cli, ["evaluate", str(path), "--format", "json"]).stdout)
    assert data["workshop"] == {"date": "2026-12-02T09:30:00Z", "by": "Ana Díaz", "answers": 2, "dont_know": 1}
    md = CliRunner().invoke(cli, ["evaluate", str(path), "--format", "markdown"]).stdout
    assert md.splitlines()[4] == line
    assert "workshop" not in json.loads(CliRunner().invoke(cli, ["evaluate", str(EXAMPLES / "contoso.yaml"),
                                                                 "--format", "json"]).stdout)


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("workshop: {date: yesterday}\n", "f.yaml:2:18: bad-value: workshop.date: 'yesterday' is not a date like "
         "2026-12-02 or 2026-12-02T09:30:00Z"),
        ("workshop: {date: '2026-12-02', answers: [{question: q, of: Contoso}]}\n", "f.yaml:2:42: missing-key"),
        ("workshop: {date: '2026-12-02', room: 4}\n", "f.yaml:2:32: unknown-key: 'room' is not part of a workshop "
         "record (it holds answers, by, date)"),
    ],
)
def test_a_bad_workshop_record_is_located(tmp_path: Path, record: str, error: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("customer: Contoso\n" + record)
    result = CliRunner().invoke(cli, ["evaluate", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{tmp_path}/{error}"), result.stderr


@pytest.mark.parametrize(("length", "ok"), [(2600, True), (3001, False)])
def test_the_record_holds_a_long_question_as_it_was_asked(kb: KnowledgeBase, length: int, ok: bool) -> None:
    # A policy's question may run to 2,000 characters, asked of a legal entity by name: ask's own file must load.
    question = "q" * length
    text = (
        "customer: Contoso\nworkshop:\n  date: '2026-12-02'\n  answers:\n"
        f"  - {{question: {question}, of: A, answer: 'no'}}\n"
    )
    if ok:
        assert read_facts(kb, parse_document(text, "f.yaml")).workshop is not None
    else:
        with pytest.raises(BadInput, match=r"workshop\.answers\.0\.question: longer than 3000 characters"):
            read_facts(kb, parse_document(text, "f.yaml"))


# -- a sample chooses the next question; it never ends the questionnaire ----------------------------------------


@pytest.mark.parametrize("example", ["relecloud-finance.yaml", "contoso.yaml", "northwind-pma.yaml"])
@pytest.mark.slow
def test_a_sampled_conversation_ends_only_once_every_possibility_is_checked(
    example: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the bracket's proof (tested in test_settled.py), which would settle it first.
    monkeypatch.setattr("podeploy.engine.analysis.inquiry.settled", lambda analyzer, session: None)
    kb = load_knowledge_base(EDITION)
    answers = read_answers(kb, load_document(str(EXAMPLES / example)))
    # Bounds so small that every analysis until the last is a sample.
    tiny = Analyzer(kb, Limits(solo_evaluations=2, tuples=2, samples=2), warnings=True)
    session = Session(tiny, answers.customer, answers.entities)
    thorough: list[int] = []
    session.before_thorough = lambda: thorough.append(len(session.answers))
    assert not session.analysis().exact
    while (question := session.next_question()) is not None:
        session.answer(question, answers.lookup(question))
    last = session.analysis()
    assert last.exact and last.done and last.relevant == []
    # Each thorough check was announced first (a terminal says so), the last one with every answer in.
    assert thorough and thorough[-1] == len(session.answers)
    # A fresh thorough analysis of the same answers finds nothing left that could change the advice.
    fresh = Analyzer(kb, THOROUGH, warnings=True).analyse(session)
    assert (fresh.exact, fresh.done, fresh.relevant) == (True, True, [])
    assert set(fresh.outcomes) == set(last.outcomes)


@pytest.mark.parametrize("name", ["adatum-mixed.json", "contoso.yaml", "northwind-pma.yaml"])
def test_what_is_still_possible_only_narrows_as_answers_come_in(kb: KnowledgeBase, name: str) -> None:
    # A sampled analysis can miss a type some answers would still give (Adatum on the seeds: Lite vanished
    # after "don't know" and came back two answers later); what ask shows as still possible is what the
    # bracket allows, so an answer never brings a type back, and the last step shows the recommendation.
    answers = read_answers(kb, load_document(str(EXAMPLES / name)))
    session = Session(analyzer_for(kb, CONVERSATION), answers.customer, answers.entities)
    before = [set(types) for _, types in session.still_possible()]
    while (question := session.next_question()) is not None:
        session.answer(question, answers.lookup(question))
        now = [set(types) for _, types in session.still_possible()]
        assert all(n <= b for n, b in zip(now, before, strict=True)), question.key
        before = now
    decision = evaluate(kb, load_facts(kb, str(EXAMPLES / name)), engine="reference")
    assert [sorted(types) for types in before] == [[e.deployment] for e in decision.entities]
