"""`podeploy test [PATH ...]`: run policy tests (*.test.yaml) and report each case, rule coverage and a summary."""

from __future__ import annotations

from collections.abc import Sequence

import click
from podeploy.cli.boundary import Command
from podeploy.cli.options import as_of_option, color_option, engine_option, terminal_style
from podeploy.engine.tools.policytest.running import run_tests
from podeploy.engine.tools.policytest.text import coverage_lines, minimum_text, result_lines


@click.command("test", cls=Command)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option(
    "--coverage",
    "show_coverage",
    is_flag=True,
    help="Show the rules covered: each fired in one case and did not fire in another; name those that never "
    "fired and those that always did.",
)
@click.option(
    "--coverage-min",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    default=None,
    help="Fail (exit status 1) when rule coverage is below PCT percent; implies --coverage.",
)
@click.option(
    "--pack",
    "packs",
    multiple=True,
    metavar="NAME",
    help="A policy pack shipped with podeploy, e.g. 2025-update; repeatable. Without PATH, runs the pack's own tests.",
)
@as_of_option
@engine_option
@color_option
def test(
    paths: Sequence[str],
    show_coverage: bool,
    coverage_min: float | None,
    packs: Sequence[str],
    as_of: str | None,
    engine: str,
    color: bool | None,
) -> int:
    """Run policy tests: the shipped ones when no PATH is given.

    Without PATH: the built-in tests on the built-ins alone, then each shipped edition's tests (up to
    --as-of) over the layers before it. PATH is a folder of policies with its *.test.yaml files, or
    one *.test.yaml file; it is loaded as a layer on top of the shipped knowledge (and any --pack),
    and its tests are run. Exit status: 0 all
    passed, 1 a case failed (or coverage is below --coverage-min), 2 bad input.
    """
    report = run_tests(paths, packs=packs, engine=engine, as_of=as_of)
    style = terminal_style(color=color)
    for result in report.cases:
        lines = result_lines(result)
        word, rest = lines[0].split(" ", 1)
        colour = "green" if result.passed else "red"
        click.echo(f"{style(word, fg=colour, bold=True)} {rest}", color=color)
        for line in lines[1:]:
            click.echo(line)
    below = coverage_min is not None and report.coverage.below(coverage_min)
    if show_coverage or coverage_min is not None:
        click.echo("")
        for line in coverage_lines(report.coverage):
            click.echo(line)
    if below:
        assert coverage_min is not None
        click.echo(style(minimum_text(report.coverage, coverage_min), fg="red", bold=True), color=color)
    click.echo(report.summary())
    return 0 if report.ok and not below else 1
