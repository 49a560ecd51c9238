"""The `podeploy` console command: one process runs one command, then leaves at once.

A command is short-lived, so two costs of a Python process buy it nothing: the cycle collector
running while modules load (it walks every object created so far, again and again), and the
interpreter's tear-down at exit (every module and object freed one by one, about as long as
evaluating a customer). Collection is paused while podeploy loads, and the process ends with
os._exit once the functions registered with atexit have run and the output is flushed. Under a
tracer or profiler, which write their results after the command, the normal exit runs.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import os
import signal
import sys
import types
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    gc.disable()
    from podeploy.cli.main import cli

    gc.freeze()  # what loading created lives as long as the process: never walk it again
    gc.enable()
    signal.signal(signal.SIGTERM, _terminated)
    closed = _ClosedOutput() if sys.stdout is None else None  # started with `>&-`
    if closed is not None:
        sys.stdout = closed
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="podeploy")
    except SystemExit as exc:
        code = exit_status(exc.code)
    else:
        code = 0
    if closed is not None and closed.lost:  # as `cat` and `ls` do: output that went nowhere is a failure
        if sys.stderr is not None:
            print("podeploy: cannot write the output: standard output is closed", file=sys.stderr)
        code = code or 1
    # What a normal exit runs first, atexit's functions (logging's flush, worker processes joined,
    # finalizers, coverage's data), runs here too; what follows it, freeing every object, is skipped.
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_functions is None or sys.gettrace() is not None or sys.getprofile() is not None:
        sys.exit(code)  # another Python, or a tracer or profiler that writes its results after the command
    run_exit_functions()
    os._exit(flushed(code))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that it ends as Ctrl-C does: temporary files removed,
    worker processes stopped, exit status 143."""


def _terminated(signum: int, frame: types.FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
    raise Terminated


class _ClosedOutput(io.TextIOBase):
    """Standard output when the process started without one: what is written is counted as lost."""

    lost = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self.lost = True
        return len(text)

    def isatty(self) -> bool:
        return False


def exit_status(code: object) -> int:
    """SystemExit's code as a process status: a message is printed and means failure, as Python does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    if sys.stderr is not None:
        print(code, file=sys.stderr)
    return 1


def flushed(code: int) -> int:
    """Flush standard output and error. A reader that went away (| head) is not an error; a
    write that fails (a full disk) is, as it would be at a normal exit."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with the stream closed: nothing was written to it
            continue
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # reader gone, or stream closed
            pass
        except OSError as exc:
            with contextlib.suppress(OSError, ValueError):
                os.write(2, f"podeploy: cannot write the output: {exc.strerror or exc}\n".encode())
            code = code or 1
    return code
