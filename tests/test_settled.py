"""The bracket's proof that nothing left open can change the advice (engine/analysis/settled.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from podeploy.cli.options import policy_layers
from podeploy.engine import KnowledgeBase, load_facts, load_knowledge_base
from podeploy.engine.analysis.bounds import CONVERSATION, THOROUGH
from podeploy.engine.analysis.inquiry import FIRST_PROOF, Inquiry
from podeploy.engine.analysis.openquestions import session_for
from podeploy.engine.analysis.search import Analyzer
from podeploy.engine.analysis.settled import settled
from podeploy.engine.evaluation.compiled import compiled
from podeploy.engine.facts.answers import read_answers
from podeploy.engine.io.loader import load_document
from podeploy.engine.model.terms import Fact, make_fact
from podeploy.engine.tools.session import Session

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base(policy_layers([]))


def keys(facts: list[Fact]) -> list[str]:
    return sorted(f.key for f in facts)


def test_brackets_hold_what_every_completion_derives_and_what_some_may(kb: KnowledgeBase) -> None:
    # Works needs production orders; whether it also needs Project for the web is open.
    sure = [make_fact("entity", {"name": "Works"}),
            make_fact("requirements", {"entity": "Works", "value": "production-orders"}),
            make_fact("ledger", {"entity": "Works", "value": "dynamics-365-finance"})]
    maybe = make_fact("requirements", {"entity": "Works", "value": "project-for-the-web-planning"})
    low, high = compiled(kb).brackets(sure, [*sure, maybe])
    excluded = ['["excluded",[["entity","Works"],["type","lite"]]]',
                '["excluded",[["entity","Works"],["type","resource-non-stocked"]]]']
    assert keys(low.of("excluded")) == keys(high.of("excluded")) == excluded
    # The number of gaps is 0 or 1 (a count over a maybe): only the upper side has candidates, one per count.
    assert low.of("candidate") == []
    assert keys(high.of("candidate")) == [
        '["candidate",[["entity","Works"],["gaps",0],["rank",3],["type","stocked-production"]]]',
        '["candidate",[["entity","Works"],["gaps",1],["rank",3],["type","stocked-production"]]]',
    ]
    assert low.of("deployment") == []
    assert keys(high.of("deployment")) == ['["deployment",[["entity","Works"],["type","stocked-production"]]]']


def test_a_bracket_too_wide_is_split_until_each_half_is_decided(kb: KnowledgeBase) -> None:
    # The case above, as a session: both answers give stocked-production, which one bracket cannot tell.
    analyzer = Analyzer(kb, THOROUGH, warnings=False)
    session = Inquiry(analyzer, "Works")
    for q in session.questions:
        if q.key != "requirements:project-for-the-web-planning@0" and analyzer.may_matter(q):
            session.answers[q.key] = q.fact == "requirements" and q.item == "production-orders"
    session.answers["ledger@0"] = "dynamics-365-finance"
    proven = settled(analyzer, session)
    assert proven is not None and proven.done and proven.exact
    assert proven.possible == [["stocked-production"]]
    assert proven.evaluations == 3  # the whole, then each half
    assert analyzer.analyse(session).done


def test_an_open_answer_that_matters_is_no_proof(kb: KnowledgeBase) -> None:
    answers = read_answers(kb, load_document(str(EXAMPLES / "contoso.yaml")))
    analyzer = Analyzer(kb, THOROUGH, warnings=True)
    session = Inquiry(analyzer, answers.customer, answers.entities)
    for q in session.questions:
        if q.key != "requirements:production-orders@0":
            session.answers[q.key] = answers.lookup(q)
    assert settled(analyzer, session) is None
    assert not analyzer.analyse(session).done


def test_a_finished_workshop_ends_on_the_proof_not_on_every_completion(kb: KnowledgeBase) -> None:
    # Northwind Modern's last answer used to start a check of about 11,500 evaluations.
    answers = read_answers(kb, load_document(str(EXAMPLES / "northwind-modern.yaml")))
    session = Session(Analyzer(kb, CONVERSATION, warnings=True), answers.customer, answers.entities)
    thorough: list[int] = []
    session.before_thorough = lambda: thorough.append(len(session.answers))
    while (question := session.next_question()) is not None:
        session.answer(question, answers.lookup(question))
    last = session.analysis()
    assert (last.done, last.exact, last.relevant, thorough) == (True, True, [], [])
    assert last.evaluations <= 3
    assert last.possible == [["stocked-production"], ["resource-non-stocked"]]


def test_a_customer_too_large_to_analyse_still_ends_once_settled(kb: KnowledgeBase) -> None:
    # Past four legal entities every question that may matter is asked, in order, unless the proof
    # settles the advice first: here, after the first entity's needs, nothing else can change it.
    names = [f"Plant {i}" for i in range(8)]
    session = Session(Analyzer(kb, CONVERSATION, warnings=False), "Fabrikam", names)
    asked = 0
    while (question := session.next_question()) is not None:
        asked += 1
        value: object = question.fact == "requirements" and question.item == "production-orders"
        if question.kind == "choice":
            value = "dynamics-365-finance" if question.fact == "ledger" else question.choices[0]
        session.answer(question, value if question.kind in ("yes-no", "boolean", "choice") else "?")  # type: ignore[arg-type]
        assert asked < 400
    analysis = session.analysis()
    assert analysis.done and analysis.exact and not analysis.coarse
    assert analysis.possible == [["stocked-production"]] * 8
    assert asked < len([q for q in session.questions if session.analyzer.may_matter(q)])


def agree(kb: KnowledgeBase, example: str, trials: int, seed: int) -> int:
    """Random partial answers to an example: wherever the proof settles it, enumeration agrees. How many it settled."""
    answers = read_answers(kb, load_document(str(EXAMPLES / example)))
    rng = random.Random(seed)
    proved = 0
    for warnings in (True, False):
        analyzer = Analyzer(kb, THOROUGH, warnings=warnings)
        for _ in range(trials):
            session = Inquiry(analyzer, answers.customer, answers.entities)
            share = rng.choice([0.5, 0.8, 0.9, 0.95, 1.0])
            for q in session.questions:
                if rng.random() < share:
                    session.answers[q.key] = answers.lookup(q)
            proof = settled(analyzer, session)
            if proof is not None:
                full = analyzer.analyse(session)
                assert full.done, (example, warnings, sorted(set(session.answers)))
                assert set(full.outcomes) == set(proof.outcomes)
                proved += 1
    return proved


def test_the_proof_agrees_with_enumeration_on_contoso_and_northwind(kb: KnowledgeBase) -> None:
    assert agree(kb, "contoso.yaml", 4, 1) + agree(kb, "northwind-modern.yaml", 4, 2) > 0


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".json")))
def test_the_proof_agrees_with_enumeration_on_every_example(kb: KnowledgeBase, example: str) -> None:
    agree(kb, example, 6, 3)


def test_an_open_question_ends_the_proof_after_its_first_split(kb: KnowledgeBase) -> None:
    # Contoso leaves questions open that can change its advice: the whole proof would try 27 brackets
    # before giving up, three times the analysis that finds them. It stops after the whole and its halves.
    session = session_for(kb, load_facts(kb, str(EXAMPLES / "contoso.yaml")))
    evaluator = session.analyzer.evaluator
    before = evaluator.evaluations
    found = session.analysis()
    assert found.exact and found.relevant
    assert evaluator.evaluations - before - found.evaluations == FIRST_PROOF == 3


def test_a_settled_facts_file_is_proven_by_one_bracket(kb: KnowledgeBase) -> None:
    session = session_for(kb, load_facts(kb, str(EXAMPLES / "northwind-modern.yaml")))
    found = session.analysis()
    assert (found.done, found.exact, found.relevant, found.evaluations) == (True, True, [], 1)


def test_a_proof_cut_short_leaves_the_answer_to_the_exact_analysis(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Works (above) is settled after a split, three brackets: with one allowed, the analysis decides, and
    # says the same as the proof.
    def works(analyzer: Analyzer) -> Inquiry:
        session = Inquiry(analyzer, "Works")
        for q in session.questions:
            if q.key != "requirements:project-for-the-web-planning@0" and analyzer.may_matter(q):
                session.answers[q.key] = q.fact == "requirements" and q.item == "production-orders"
        session.answers["ledger@0"] = "dynamics-365-finance"
        return session

    proven = works(Analyzer(kb, THOROUGH, warnings=False)).analysis()
    monkeypatch.setattr("podeploy.engine.analysis.inquiry.FIRST_PROOF", 1)
    analysed = works(Analyzer(kb, THOROUGH, warnings=False)).analysis()
    # The proof weighs its one outcome 1; the enumeration weighs both answers to the open need (odds 1 : 3).
    assert (proven.evaluations, list(proven.outcomes.values())) == (3, [1])
    assert (analysed.evaluations, list(analysed.outcomes.values())) == (2, [4])
    for found in (proven, analysed):
        assert (found.done, found.exact, found.relevant, found.possible) == (True, True, [], [["stocked-production"]])
