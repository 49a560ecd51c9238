"""The one place where what goes wrong becomes output and an exit status.

Every podeploy command is a `Command`: its callback returns its exit status (or None for 0) and raises
`PodeployError` for what it cannot do; the error knows its exit status and its lines (as click's
ClickException does), and is shown here. Everything else is classified here, once: a reader that went away (`| head`),
Ctrl-C and SIGTERM, a full disk, and a bug (one line, details with PODEPLOY_DEBUG=1).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import click
from podeploy.cli.options import UNWRITTEN
from podeploy.engine.errors import DISK_FULL, PodeployError, visible


class Command(click.Command):
    """A click command behind podeploy's error boundary, whose callback returns its exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        with boundary(ctx):
            status = super().invoke(ctx)
        if isinstance(status, int) and not isinstance(status, bool):
            ctx.exit(status)
        return status


def _reader_gone() -> bool:
    """Has the reader of standard output or error gone away? poll reports an error (Linux) or a
    hang-up (other systems, sockets) on a pipe whose reader closed."""
    try:
        import select

        poller = select.poll()
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                poller.register(stream.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll here, or no usable stream: assume it went away
        return True


@contextlib.contextmanager
def boundary(ctx: click.Context) -> Iterator[None]:
    try:
        yield
    except PodeployError as exc:
        for line in exc.lines():
            click.echo(line, err=True)
        ctx.exit(exc.exit_code)
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except BrokenPipeError as exc:
        if not _reader_gone():  # a pipe of podeploy's own broke: a bug, not `| head`
            if os.environ.get("PODEPLOY_DEBUG"):  # click would swallow it as EPIPE: print it here
                import traceback

                traceback.print_exc()
            else:
                click.echo(f"podeploy: internal error: BrokenPipeError: {exc} (set PODEPLOY_DEBUG=1 for details)",
                           err=True)
            ctx.exit(1)
        # The reader went away (| head): stop quietly, as other command-line tools do, unless a
        # file the command was asked to write is still unwritten: then the status says so.
        unwritten = ctx.meta.get(UNWRITTEN)
        if unwritten is not None:
            with contextlib.suppress(OSError, ValueError):
                click.echo(f"podeploy: {visible(unwritten)} was not written: standard output's reader went away",
                           err=True)
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                os.dup2(devnull, stream.fileno())
        ctx.exit(0 if unwritten is None else 1)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (raised as Terminated by the console entry)
        from podeploy.console import Terminated

        terminated = isinstance(exc, Terminated)
        with contextlib.suppress(OSError, ValueError):
            click.echo(f"podeploy: {'terminated' if terminated else 'interrupted'}", err=True)
        ctx.exit(143 if terminated else 130)
    except Exception as exc:  # a bug: say so in one line, with the details only on request
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:  # not a bug: nowhere to write
            click.echo(f"podeploy: cannot write the output: {exc.strerror}", err=True)
            ctx.exit(1)
        if os.environ.get("PODEPLOY_DEBUG"):
            raise
        click.echo(f"podeploy: internal error: {type(exc).__name__}: {exc} (set PODEPLOY_DEBUG=1 for details)",
                   err=True)
        ctx.exit(1)
