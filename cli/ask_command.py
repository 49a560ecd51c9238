"""`podeploy ask`: the questionnaire. Asks only what can still change a legal entity's deployment, writes the facts.

On a terminal it converses: the customer's name, its legal entities, then one question at a time, each one
whose answer can still change some entity's recommendation, until nothing left can (see
podeploy.engine.analysis.search). `?` leaves a fact unknown (its default applies), `<` goes back one question.
Piped standard input gives the answers one per line, in the order the questions come; `--answers FILE`
gives them as a YAML map. The facts file goes to --out (written atomically) or to standard output.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click
from podeploy.cli.boundary import Command
from podeploy.cli.options import (
    color_option,
    layers_options,
    named_by_command,
    policy_layers,
    promise_output,
    terminal_style,
)
from podeploy.engine.analysis.bounds import CONVERSATION
from podeploy.engine.analysis.inquiry import analyzer_for
from podeploy.engine.errors import CONTROL, BadInput, Location, Problem
from podeploy.engine.evaluation.engines import ENGINES
from podeploy.engine.evaluation.evaluate import evaluate
from podeploy.engine.explain import render
from podeploy.engine.facts.answers import BACK_WORDS, Answers, parse_answer, read_answers
from podeploy.engine.facts.questions import ABSENT, Value
from podeploy.engine.facts.reading import read_facts
from podeploy.engine.io.loader import load_document, parse_document
from podeploy.engine.model.fact_types import NO_WORDS, YES_WORDS
from podeploy.engine.policy.knowledge import KnowledgeBase
from podeploy.engine.policy.loading import load_knowledge_base
from podeploy.engine.tools.session import Session
from podeploy.engine.tools.workshop import facts_text

STDIN = "<stdin>"
MAX_ANSWER = 10_000  # characters in one piped answer


class _Input:
    """Where answers come from: a person at a terminal, or lines of standard input (located, for errors)."""

    def __init__(self, interactive: bool, err: bool) -> None:
        self.interactive = interactive
        self.err = err
        self.line = 0
        self.ended = False

    def read(self, prompt: str) -> str | None:
        """One answer, or None once standard input has ended."""
        if self.ended:
            return None
        if self.interactive:
            text: str = click.prompt(prompt, default="", show_default=False, err=self.err, prompt_suffix=" ")
            return text
        click.echo(prompt + " ", nl=False, err=self.err)
        line = sys.stdin.readline(MAX_ANSWER + 1)  # bounded: /dev/zero has no line end
        if len(line.rstrip("\r\n")) > MAX_ANSWER:
            click.echo("", err=self.err)  # end the prompt's line
            where = Location(STDIN, self.line + 1, 1)
            raise BadInput([Problem("too-long", f"an answer of more than {MAX_ANSWER} characters", where)])
        if not line:
            self.ended = True
            click.echo("", err=self.err)
            return None
        self.line += 1
        text = line.rstrip("\r\n")
        click.echo(text, err=self.err)
        return text

    def refuse(self, message: str, question: str) -> None:
        """A bad answer: asked again on a terminal; from standard input, an error at its line."""
        if self.interactive:
            click.echo(f"  {message}", err=self.err)
            return
        raise BadInput([Problem("bad-answer", f"{message} (answering: {question})", Location(STDIN, self.line, 1))])


def _is_back(text: str) -> bool:
    return text.strip().lower() in BACK_WORDS


def _possible_text(session: Session) -> str:
    """The deployment types each legal entity may still get, by the names the knowledge gives them."""
    kb = session.analyzer.kb
    pairs = session.still_possible()
    shown = [(name, ", ".join(kb.type_name(t) for t in types) or "no recommendation") for name, types in pairs]
    if len(shown) == 1:
        return f"Still possible: {shown[0][1]}"
    return "Still possible: " + "; ".join(f"{name}: {types}" for name, types in shown)


def _converse(kb: KnowledgeBase, source: _Input) -> Session:
    """The setup (customer, legal entities) and the questions, with going back, until nothing can change."""
    analyzer = analyzer_for(kb, CONVERSATION)
    err = source.err
    customer: str | None = None
    several: bool | None = None
    names: list[str] = []
    names_done = False
    history: list[str] = []  # the setup steps taken, to go back through; answers are the session's
    session: Session | None = None
    shown = ""
    sampled_said = False
    while True:
        if customer is None:
            text = source.read("Customer name:")
            if text is None:
                raise BadInput(
                    [Problem("no-customer", "standard input ended before the customer's name", Location(STDIN))]
                )
            if _is_back(text):
                click.echo("  Nothing to go back to.", err=err)
            elif not text.strip() or len(text.strip()) > 200 or CONTROL.search(text):
                source.refuse(
                    "the customer's name is needed (at most 200 characters, no control characters)", "Customer name"
                )
            else:
                customer = text.strip()
                history.append("customer")
            continue
        if several is None:
            text = source.read("Does the customer have several legal entities? [y/n]")
            if text is None:
                several = False
                history.append("several")
            elif _is_back(text):
                history.pop()
                customer = None
            elif text.strip().lower() in (*YES_WORDS, *NO_WORDS, "?", ""):
                several = text.strip().lower() in YES_WORDS
                history.append("several")
            else:
                source.refuse("answer y (yes) or n (no)", "several legal entities")
            continue
        if several and not names_done:
            number = len(names) + 1
            ending = " (empty line when done)" if number > 2 else ""
            text = source.read(f"Name of legal entity {number}{ending}:")
            if text is None:
                names_done = True
                if not names:
                    several = False
                history.append("names-done")
            elif _is_back(text):
                step = history.pop()
                if step == "entity":
                    names.pop()
                else:
                    several = None
            elif not text.strip():
                if number > 2:
                    names_done = True
                    history.append("names-done")
                else:
                    source.refuse("name at least two legal entities (or < to go back)", "legal entity name")
            elif text.strip() in names or len(text.strip()) > 200 or CONTROL.search(text):
                source.refuse(
                    "each legal entity needs its own name (at most 200 characters, no control characters)",
                    "legal entity name",
                )
            else:
                names.append(text.strip())
                history.append("entity")
            continue
        if session is None:
            session = Session(analyzer, customer, names if several else [])
            if source.interactive:
                session.before_thorough = lambda: click.echo(
                    "  (checking every remaining possibility before saying that nothing can change the advice...)",
                    err=err,
                )
            # The first analysis weighs every answer still possible: say so before the pause.
            click.echo("  (working out which questions can still change the advice...)", err=err)
        analysis = session.analysis()
        if not analysis.exact and not sampled_said:
            if analysis.coarse:
                click.echo(
                    f"  (more than {analyzer.limits.exact_entities} legal entities: every question that can matter"
                    " is asked, in order)",
                    err=err,
                )
            else:
                click.echo("  (too many possibilities to check them all: the analysis samples them)", err=err)
            sampled_said = True
        possible = _possible_text(session)
        if possible != shown:
            click.echo(possible, err=err)
            shown = possible
        question = session.next_question()
        if question is None:
            if not source.interactive or not session.asked:
                return session
            # On a terminal, a last chance to correct the answer that settled it.
            text = source.read("Nothing left to ask can change it. Enter to finish, or < to go back:")
            if text is None or not _is_back(text):
                return session
            session.back()
            continue
        if source.ended:
            session.pass_over(question)
            continue
        text = source.read(f"{question.text} {question.hint}")
        if text is None:
            click.echo("  (standard input ended: the remaining questions are left unanswered)", err=err)
            session.pass_over(question)
            continue
        if _is_back(text):
            if session.asked:
                session.back()
            elif history:  # back into the setup
                step = history.pop()
                session = None
                if step == "names-done":
                    names_done = False
                elif step == "several":
                    several = None
            else:
                click.echo("  Nothing to go back to.", err=err)
            continue
        try:
            value = parse_answer(question, text)
        except ValueError as exc:
            source.refuse(str(exc), question.text)
            continue
        session.answer(question, value)


def _from_answers(kb: KnowledgeBase, answers: Answers, err: bool) -> Session:
    """A session answered from an answers file: each question asked gets its answer there, or '?'."""
    session = Session(analyzer_for(kb, CONVERSATION), answers.customer, answers.entities)
    shown = ""
    while True:
        possible = _possible_text(session)
        if possible != shown:
            click.echo(possible, err=err)
            shown = possible
        question = session.next_question()
        if question is None:
            return session
        value = answers.lookup(question)
        click.echo(f"{question.text} {question.hint} {_shown(value)}", err=err)
        session.answer(question, value)


def _shown(value: Value) -> str:
    if value is ABSENT:
        return "?"
    if isinstance(value, bool):
        return "y" if value else "n"
    return str(value)


def _check_out(path: str, force: bool, inputs: Sequence[str] = ()) -> None:
    """Refuse early what the final write would refuse: an existing file without --force, a missing folder, a
    link, a folder, an input of the run. A device or pipe is written as it is."""
    from podeploy.engine.io.outputs import REGULAR, already_exists, output_kind

    if output_kind(path, inputs, option="--out") == REGULAR and os.path.lexists(path) and not force:
        raise already_exists(path)


@click.command("ask", cls=Command)
@click.option(
    "--out",
    "out",
    metavar="FACTS",
    default=None,
    help="Write the facts file here (atomically); without it the facts go to standard output.",
)
@click.option("--force", is_flag=True, help="Overwrite the --out file if it exists.")
@click.option(
    "--answers",
    "answers_path",
    metavar="FILE",
    default=None,
    help="Answer from a YAML map (customer, facts, capabilities as yes/no or a requirements list, "
    "legal_entities) instead of asking; what it leaves out is taken as unknown.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="auto",
    show_default=True,
    help="The engine of the final recommendation (the questions are chosen with the reference evaluator).",
)
@click.option(
    "--by",
    metavar="NAME",
    default=None,
    help="Who runs the workshop: recorded in the facts file with each question asked, the answer and when.",
)
@color_option
@layers_options
@click.pass_context
def ask(
    ctx: click.Context,
    out: str | None,
    force: bool,
    answers_path: str | None,
    by: str | None,
    color: bool | None,
    policy_dirs: Sequence[str],
    packs: Sequence[str],
    as_of: str | None,
    engine: str,
) -> None:
    """Ask only what can still change each legal entity's deployment type, then write the facts and recommend.

    On a terminal: one question at a time; ? for don't know, < to go back. Piped standard input: one answer
    per line, in the order the questions come. Conversation goes to standard error when the facts go to
    standard output (no --out), to standard output otherwise.
    """
    promise_output(ctx, out)
    named = named_by_command(policy_dirs, packs, out)
    _ask(ctx, out, force, answers_path, policy_layers(policy_dirs, packs, as_of), engine, color, by, named)


def _ask(
    ctx: click.Context,
    out: str | None,
    force: bool,
    answers_path: str | None,
    layers: Sequence[str],
    engine: str,
    color: bool | None = None,
    by: str | None = None,
    named: dict[str, list[str]] | None = None,
) -> None:
    err = out is None
    if out is not None:
        from podeploy.engine.policy.layers import policy_paths_in

        _check_out(out, force, [answers_path or "", *(p for d in layers for p in policy_paths_in(d))])
    if by is not None and (not by.strip() or len(by) > 200 or CONTROL.search(by)):
        raise BadInput([Problem("bad-value", "a name of at most 200 characters, without control characters",
                                Location("--by"))])
    interactive = answers_path is None and sys.stdin.isatty()
    if interactive:  # at once, before the knowledge loads: the consultant sees the workshop has begun
        click.echo("Answer each question; ? if you don't know, < to go back one question.", err=err)
    kb = load_knowledge_base(layers)
    extra: dict[str, Value] = {}
    if answers_path is not None:
        answers = read_answers(kb, load_document(answers_path))
        session = _from_answers(kb, answers, err)
        extra = answers.values
    else:
        session = _converse(kb, _Input(sys.stdin.isatty(), err))
    document = session.document(extra)
    if named:  # the layers the workshop ran with, so that the file is evaluated as it was written
        customer = {"customer": document.pop("customer")} if "customer" in document else {}
        document = {**customer, **named, **document}
    document["workshop"] = session.workshop(by)  # who was asked what, the answer given and when
    text = facts_text(document)
    facts = read_facts(kb, parse_document(text, out or "<stdout>"))
    decision = evaluate(kb, facts, engine=engine)
    if out is not None:
        from podeploy.engine.io.outputs import write_file

        write_file(out, text, overwrite=force)
        promise_output(ctx, None)
        click.echo(f"Wrote {out}.", err=err)
    else:
        click.echo(text, nl=False)
    universe = sum(1 for q in session.questions)
    asked = sum(1 for key in session.asked if key not in session.passed)
    click.echo(
        f"{asked} question{'' if asked == 1 else 's'} asked, of {universe} this customer could be asked "
        f"({len(kb.facts)} facts and {len(kb.capabilities)} capabilities in the vocabulary).",
        err=err,
    )
    style = terminal_style(sys.stderr if err else sys.stdout, color=color)
    click.echo("", err=err)
    click.echo(render.decision_text(decision, style), err=err, color=color)
