"""The podeploy command: parse arguments, call the engine, render. No reasoning lives here."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click
from podeploy.cli.boundary import Command
from podeploy.cli.options import (
    as_of_option,
    color_option,
    engine_option,
    layers_options,
    policy_layers,
    terminal_style,
)
from podeploy.engine import BadInput, Location, Problem
from podeploy.engine.errors import did_you_mean

from podeploy import __version__


def _style(output: str | None, color: bool | None = None) -> Any:
    """Terminal colours for standard output (unless NO_COLOR or --no-color), plain text for a file."""
    from podeploy.engine.explain.render import plain

    return terminal_style(color=color) if output is None else plain


# Commands that live in modules of their own, imported only when used: start-up stays short. `--help` lists
# them with the first sentence of their help, given here so that listing them imports none of them (a test
# checks that each says what the command's own help says).
LAZY_COMMANDS = {
    "ask": ("podeploy.cli.ask_command", "ask"),
    "batch": ("podeploy.cli.batch_command", "batch"),
    "lint": ("podeploy.cli.lint_command", "lint"),
    "serve": ("podeploy.cli.serve_command", "serve"),
    "test": ("podeploy.cli.test_command", "test"),
    "what-if": ("podeploy.cli.whatif_command", "what_if"),
}
LAZY_HELP = {
    "ask": "Ask only what can still change each legal entity's deployment type, then write the facts and recommend.",
    "batch": "Evaluate many facts documents: files, folders, globs, or JSON-lines files (.jsonl, one document a "
    "line).",
    "lint": "Check policy files for mistakes the schema cannot see (the shipped knowledge when no PATH is given).",
    "serve": "Run the workshop in a browser: the next question, the live advice, why and what-if, the report.",
    "test": "Run policy tests: the shipped ones when no PATH is given.",
    "what-if": "The smallest changes to FACTS that make --target TYPE the recommendation, or the effect of given "
    "changes.",
}


class _Group(click.Group):
    """podeploy's commands, the ones in modules of their own imported only when used."""

    command_class = Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of --help, without importing the commands that live in modules of their own."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is None and name in LAZY_HELP:
                rows.append((name, click.Command(name, help=LAZY_HELP[name]).get_short_help_str(limit)))
                continue
            command = command or self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, name = LAZY_COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="podeploy")
def cli() -> None:
    """Recommend a Dynamics 365 Project Operations deployment type, per legal entity, and explain why."""


output_option = click.option(
    "--output",
    metavar="FILE",
    help="Write to FILE (replaced whole, never left half-written) instead of standard output.",
)


def _emit(
    text: str | bytes, output: str | None, facts: str | None = None, kb: Any = None, color: bool | None = None
) -> None:
    """Print text (or write bytes), or write it to --output: never over an input of the run, a link, a folder or a
    device. `color` True keeps the colours even where standard output is not a terminal (--color)."""
    if output is None:
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
            sys.stdout.buffer.flush()
        else:
            click.echo(text, color=color)
        return
    from podeploy.engine.io.outputs import output_kind, write_file

    inputs = [facts or "", *(f.path for f in kb.files)] if kb is not None else [facts or ""]
    output_kind(output, inputs)  # refuses a link, a folder or an input of the run before anything is written
    write_file(output, text)


@cli.command()
@click.argument("facts", metavar="FACTS")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "html", "pdf"]),
    default="text",
    show_default=True,
    help="markdown, html and pdf give the report to hand to the customer (pdf is printed by headless Chromium).",
)
@output_option
@click.option(
    "--brand",
    metavar="FILE",
    envvar="PODEPLOY_BRAND",
    help="Put a firm's name, logo and contact on the report: a YAML file with firm, logo, contact, accent "
    "(or set PODEPLOY_BRAND).",
)
@click.option(
    "--paper",
    type=click.Choice(["a4", "letter"]),  # the sizes the report's print stylesheet knows
    default="a4",
    show_default=True,
    help="The paper size the report prints on.",
)
@click.option("--date", "report_date", metavar="YYYY-MM-DD", help="The report's date. Default: today.")
@color_option
@layers_options
@engine_option
@click.pass_context
def evaluate(
    ctx: click.Context,
    facts: str,
    fmt: str,
    output: str | None,
    brand: str | None,
    paper: str,
    report_date: str | None,
    color: bool | None,
    policy_dirs: Sequence[str],
    packs: Sequence[str],
    as_of: str | None,
    engine: str,
) -> None:
    """Recommend a deployment type for each legal entity in FACTS (a YAML or JSON file, or - for stdin)."""
    from podeploy.engine.explain import render
    from podeploy.engine.explain.plan import check_date

    report_date = check_date(report_date)  # a bad --date fails before any work
    if fmt == "pdf" and output is None and sys.stdout.isatty():
        raise click.UsageError("a PDF is not for a terminal: give --output FILE (or redirect standard output)")
    branding = None
    if brand and fmt in ("markdown", "html", "pdf"):
        from podeploy.engine.explain.brand import load_brand

        branding = load_brand(brand)
    from podeploy.engine.evaluation import evaluate as evaluation
    from podeploy.engine.facts import reading as facts_files
    from podeploy.engine.facts.layers import load_for_facts

    kb, doc = load_for_facts(policy_layers(policy_dirs, packs, as_of), facts)
    decision = evaluation.evaluate(kb, facts_files.read_facts(kb, doc), engine=engine)
    if fmt == "json":
        text = render.dumps(render.decision_json(decision))
    elif fmt in ("markdown", "html", "pdf"):
        from podeploy.engine.explain.html_report import report_html
        from podeploy.engine.explain.markdown import report_markdown

        render_report = report_markdown if fmt == "markdown" else report_html
        text = render_report(decision, date=report_date, brand=branding, paper=paper)
        if fmt == "pdf":
            from podeploy.engine.explain.pdf import html_to_pdf
            from podeploy.engine.io.outputs import output_kind

            if output is not None:  # checked before Chromium runs: a bad --output fails at once
                output_kind(output, [facts, *(f.path for f in kb.files)])
            _emit(html_to_pdf(text), output, facts, kb)
            return
    else:
        text = render.decision_text(decision, _style(output, color))
    _emit(text, output, facts, kb, color)


@cli.command()
@click.argument("facts", metavar="FACTS")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "dot", "mermaid"]),
    default="text",
    show_default=True,
    help="dot and mermaid draw the derivation graph.",
)
@output_option
@click.option("--not", "not_type", metavar="TYPE", help="Every reason TYPE was not recommended.")
@click.option("--entity", metavar="NAME", help="Only this legal entity.")
@color_option
@layers_options
@engine_option
def why(
    facts: str,
    fmt: str,
    output: str | None,
    not_type: str | None,
    entity: str | None,
    color: bool | None,
    policy_dirs: Sequence[str],
    packs: Sequence[str],
    as_of: str | None,
    engine: str,
) -> None:
    """Explain each entity's recommendation down to the facts, and why each other type was not chosen.

    With --not TYPE: every reason TYPE was not recommended, per entity (or for --entity NAME).
    """
    from podeploy.engine.evaluation import evaluate as evaluation
    from podeploy.engine.explain import render
    from podeploy.engine.facts import reading as facts_files
    from podeploy.engine.facts.layers import load_for_facts

    kb, doc = load_for_facts(policy_layers(policy_dirs, packs, as_of), facts)
    decision = evaluation.evaluate(kb, facts_files.read_facts(kb, doc), engine=engine)
    if entity is not None and entity not in {e.name for e in decision.entities}:
        names = [e.name for e in decision.entities]
        raise BadInput(
            [
                Problem(
                    "unknown-entity", f"no legal entity '{entity}'{did_you_mean(entity, names)}", Location("--entity")
                )
            ]
        )
    if not_type is not None:
        if not_type not in kb.types:
            raise BadInput(
                [
                    Problem(
                        "unknown-type",
                        f"'{not_type}' is not a deployment type{did_you_mean(not_type, kb.types)}",
                        Location("--not"),
                    )
                ]
            )
        if fmt == "json":
            _emit(render.dumps(render.why_not_type_json(decision, not_type, entity)), output, facts, kb)
        else:
            _emit(render.why_not_type_text(decision, not_type, entity, _style(output, color)), output, facts, kb, color)
        return
    if fmt == "json":
        data = render.decision_json(decision)
        data["why_not"] = {
            e.name: [{"type": t, "reason": r} for t, r in render.why_not(decision, e)] for e in decision.entities
        }
        _emit(render.dumps(data), output, facts, kb)
    elif fmt in ("dot", "mermaid"):
        from podeploy.engine.explain.graph import derivation_dot, derivation_mermaid

        _emit(derivation_dot(decision) if fmt == "dot" else derivation_mermaid(decision), output, facts, kb)
    else:
        _emit(render.why_text(decision, _style(output, color)), output, facts, kb, color)


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@as_of_option
def validate(paths: Sequence[str], as_of: str | None) -> None:
    """Validate policy files (the shipped knowledge when no PATH is given), reporting every problem.

    PATHs are loaded over the shipped knowledge: the built-ins and the editions (up to --as-of).
    """
    from podeploy.engine.errors import BadInput
    from podeploy.engine.evaluation.evaluate import engine_limit
    from podeploy.engine.evaluation.rete import check_network
    from podeploy.engine.policy.layers import edition_dirs, shipped_layer
    from podeploy.engine.policy.loading import load_knowledge_base

    kb = load_knowledge_base([*edition_dirs(as_of), *paths])
    try:
        check_network(kb)
    except BadInput as exc:
        click.echo(
            f"note: durable-rules cannot run these policies ({engine_limit(exc)}); podeploy runs them on the"
            " reference evaluator, with the same results (--engine durable refuses them)",
            err=True,
        )
    files = [f for f in kb.files if not shipped_layer(f.layer)] if paths else kb.files
    rules = sum(len(f.rules) for f in files)
    click.echo(f"ok: {len(files)} policy file{'s' if len(files) != 1 else ''}, {rules} rule{'s' if rules != 1 else ''}")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@layers_options
def capabilities(fmt: str, policy_dirs: Sequence[str], packs: Sequence[str], as_of: str | None) -> None:
    """Show which deployment type offers which capability."""
    from podeploy.engine.explain import render
    from podeploy.engine.policy.loading import load_knowledge_base

    kb = load_knowledge_base(policy_layers(policy_dirs, packs, as_of))
    header, rows = render.capabilities_table(kb)
    if fmt == "json":
        types = header[1:]
        data = {
            "types": [{"id": t.id, "name": kb.type_name(t.id), "rank": t.rank} for t in kb.types_by_rank()],
            "capabilities": [
                {
                    "id": row[0],
                    "name": kb.capabilities[row[0]].name,
                    "offered_by": [t for t, cell in zip(types, row[1:], strict=True) if cell == "yes"],
                }
                for row in rows
            ],
        }
        click.echo(render.dumps(data))
    else:
        click.echo(render.table_text(header, rows))


@cli.command()
@click.argument("facts_paths", nargs=-1, required=True, metavar="FACTS_DIR...")
@click.option("--base", "base_dirs", multiple=True, metavar="DIR", help="The policy layers to compare against.")
@click.option(
    "--base-as-of",
    metavar="YYYY-MM",
    default=None,
    help="The shipped knowledge of the base side, as it stood then (default: as --as-of).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@layers_options
@engine_option
def diff(
    facts_paths: Sequence[str],
    base_dirs: Sequence[str],
    base_as_of: str | None,
    fmt: str,
    policy_dirs: Sequence[str],
    packs: Sequence[str],
    as_of: str | None,
    engine: str,
) -> int:
    """Which customers' recommendations, gaps or warnings change from the --base policies to the new ones.

    Both sides load the shipped knowledge (the built-ins and the editions up to --as-of; the base up
    to --base-as-of); --base adds its folders, --policies and --pack the new ones.
    """
    from podeploy.engine.explain import render
    from podeploy.engine.policy.layers import edition_dirs
    from podeploy.engine.policy.loading import load_knowledge_base
    from podeploy.engine.tools.diffing import diff_decisions, diff_json, diff_text

    base = load_knowledge_base([*edition_dirs(base_as_of or as_of), *base_dirs])
    new = load_knowledge_base(policy_layers(policy_dirs, packs, as_of))
    diffs = diff_decisions(base, new, facts_paths, engine=engine)
    if fmt == "json":
        knowledge = {"base": render.knowledge_json(base), "new": render.knowledge_json(new)}
        click.echo(render.dumps({**diff_json(diffs), "knowledge": knowledge}))
    else:
        base_line, new_line = render.knowledge_text(base), render.knowledge_text(new)
        click.echo(f"Base {base_line[0].lower()}{base_line[1:]}\nNew {new_line[0].lower()}{new_line[1:]}")
        click.echo(diff_text(diffs))
    return 2 if any(d.problems for d in diffs) else 0


# The JSON outputs whose shapes podeploy publishes: `podeploy schema NAME` prints schemas/NAME.schema.json.
OUTPUT_SCHEMAS = ("output", "why", "what-if", "batch")


@cli.command()
@click.argument("which", type=click.Choice(["policy", "facts", "test", *OUTPUT_SCHEMAS]))
@layers_options
def schema(which: str, policy_dirs: Sequence[str], packs: Sequence[str], as_of: str | None) -> None:
    """Print a JSON Schema: of policy files, of facts files for the loaded policies, of policy test files, or of
    what evaluate (output), why, what-if and batch print with --format json (jsonl for batch)."""
    from podeploy.engine.explain import render
    from podeploy.engine.facts.schema import facts_schema
    from podeploy.engine.policy.loading import load_knowledge_base
    from podeploy.engine.policy.schema_errors import policy_schema

    if which in OUTPUT_SCHEMAS:
        import json

        from podeploy.engine.io import shipped

        click.echo(render.dumps(json.loads(shipped.read_text(shipped.SCHEMAS, f"{which}.schema.json"))))
    elif which == "policy":
        click.echo(render.dumps(policy_schema()))
    elif which == "test":
        from podeploy.engine.tools.policytest.reading import test_schema

        click.echo(render.dumps(test_schema()))
    else:
        click.echo(render.dumps(facts_schema(load_knowledge_base(policy_layers(policy_dirs, packs, as_of)))))


@cli.command("new-policy")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    default="policies",
    show_default=True,
    metavar="DIR",
    help="The folder to write the policy, its tests and the editor schemas to.",
)
def new_policy(name: str, directory: str) -> None:
    """Scaffold a policy file NAME.yaml and its test file, ready for lint and test."""
    from podeploy.engine.tools.scaffold import new_policy as scaffold

    made = scaffold(name, directory)
    for path in (made.policy, made.tests, *made.schemas):
        click.echo(f"created {path}")
    click.echo(f"next: edit {made.policy}, then run 'podeploy lint {directory}' and 'podeploy test {directory}'")


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="podeploy")
