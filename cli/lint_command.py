"""`podeploy lint [PATH]...`: semantic checks of policy files, one located line per finding."""

from __future__ import annotations

from collections.abc import Sequence

import click
from podeploy.cli.boundary import Command
from podeploy.cli.options import as_of_option
from podeploy.engine.explain import render
from podeploy.engine.tools.lint.report import LintReport
from podeploy.engine.tools.lint.run import lint as lint_policies


def report_text(report: LintReport, *, verbose: bool = False) -> str:
    """One line per finding, `file:line:column: severity: code: message`, then the counts."""
    lines = [str(f) for f in report.shown(verbose=verbose)]
    summary = f"{render.counted(report.errors, 'error')}, {render.counted(report.warnings, 'warning')}"
    if verbose:
        summary += f", {report.infos} info"
    lines.append(summary)
    return "\n".join(lines)


def report_json(report: LintReport, *, verbose: bool = False) -> str:
    data = {
        "findings": [f.as_json() for f in report.shown(verbose=verbose)],
        "errors": report.errors,
        "warnings": report.warnings,
    }
    return render.dumps(data)


@click.command("lint", cls=Command)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--all",
    "include_all",
    is_flag=True,
    help="Also report findings located outside the given paths (in the built-ins they are layered over).",
)
@click.option("--verbose", "-v", is_flag=True, help="Also show info findings, such as rules replaced on purpose.")
@as_of_option
@click.pass_context
def lint(
    ctx: click.Context, paths: Sequence[str], fmt: str, include_all: bool, verbose: bool, as_of: str | None
) -> int:
    """Check policy files for mistakes the schema cannot see (the shipped knowledge when no PATH is given).

    Each finding has a code, a severity (error, warning or info) and a location. The exit status is 2
    when anything is an error, 0 otherwise.
    """
    report = lint_policies(paths, include_all=include_all, as_of=as_of)
    if fmt == "json":
        click.echo(report_json(report, verbose=verbose))
    else:
        click.echo(report_text(report, verbose=verbose))
    return 2 if report.errors else 0
