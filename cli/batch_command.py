"""`podeploy batch INPUT...`: evaluate many facts documents on worker processes, one record per input."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO

import click
from podeploy.cli.boundary import Command
from podeploy.cli.options import engine_option, layers_options, policy_layers, promise_output


@click.command("batch", cls=Command)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "--out",
    "out",
    metavar="FILE",
    default=None,
    help="Write the records to FILE (it appears only once complete) instead of standard output.",
)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Worker processes, at most one per CPU this process may use.  [default: the number of CPUs]",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=600,
    show_default=True,
    metavar="SECONDS",
    help="Stop an input that runs longer in its worker and report it as failed; 0: no limit.",
)
@layers_options
@engine_option
@click.pass_context
def batch(
    ctx: click.Context,
    inputs: Sequence[str],
    out: str | None,
    fmt: str,
    jobs: int | None,
    timeout: float,
    policy_dirs: Sequence[str],
    packs: Sequence[str],
    as_of: str | None,
    engine: str,
) -> int:
    """Evaluate many facts documents: files, folders, globs, or JSON-lines files (.jsonl, one document a line).

    One record per input, in input order: its result (customer, deployments, entities, warnings,
    notes) or its errors (one located line each). One bad input does not stop the batch; an input
    whose worker process dies is retried once in a fresh worker, then reported as failed; one that
    runs past --timeout is stopped and reported as failed. A summary
    goes to standard error, with a progress bar on a terminal.

    Exit status: 0 every input evaluated, 2 some inputs were bad input, 1 an input failed.
    """
    from podeploy.engine.tools.batch.inputs import expand_inputs
    from podeploy.engine.tools.batch.pool import run_batch, usable_cpus
    from podeploy.engine.tools.batch.results import BatchSummary, ProgressBar, RecordWriter
    from podeploy.engine.tools.batch.worker import CrashHook

    layers = policy_layers(policy_dirs, packs, as_of)
    items = expand_inputs(inputs)
    kind = None
    if out is not None:  # never over an input of the run: a facts file, a JSON-lines file, a policy file
        from podeploy.engine.io.outputs import output_kind
        from podeploy.engine.policy.layers import policy_paths_in

        sources = [*dict.fromkeys(item.path for item in items), *(p for d in layers for p in policy_paths_in(d))]
        kind = output_kind(out, sources, option="--out")
    if jobs is not None and jobs > usable_cpus():  # more workers than CPUs only wait on each other
        click.echo(f"batch: --jobs {jobs} is more than the {usable_cpus()} CPUs here; running {usable_cpus()}",
                   err=True)
    bar = ProgressBar(sys.stderr) if sys.stderr is not None and sys.stderr.isatty() else None

    def evaluate_into(stream: IO[str]) -> BatchSummary:
        writer = RecordWriter(stream, fmt)

        def write(record: dict[str, object]) -> None:
            if bar is not None and stream.isatty():  # records and the bar share the terminal
                bar.clear()
            writer(record)

        try:
            summary = run_batch(
                items,
                write,
                layers=layers,
                engine=engine,
                jobs=jobs,
                progress=bar,
                crash_hook=CrashHook.from_env(),
                timeout=timeout,
            )
        finally:
            if bar is not None:
                bar.clear()
        return summary

    # The summary comes once the records are where they were asked to go: a reader of standard
    # error that goes away cannot leave the --out file unwritten.
    promise_output(ctx, out)
    if out is None:
        summary = evaluate_into(sys.stdout)
        sys.stdout.flush()
    elif kind == "in-place":  # a device or a pipe: written as it is
        with open(out, "w", encoding="utf-8", newline="") as device:
            summary = evaluate_into(device)
    else:
        from podeploy.engine.io.outputs import atomic_file, cannot_write

        try:
            with atomic_file(out) as stream:
                summary = evaluate_into(stream)
        except OSError as exc:
            raise cannot_write(out, exc) from None
    promise_output(ctx, None)
    for line in summary.lines():
        click.echo(line, err=True)
    if out is not None and kind != "in-place":
        click.echo(f"  wrote {out}", err=True)
    code = summary.exit_code
    return code
