"""The worker pool of a batch: processes that evaluate inputs, results in input order, crashes contained.

A hand-written pool rather than multiprocessing.Pool: it knows which input each worker holds, so a
worker that dies or runs past the timeout costs that input alone. run_batch() runs a batch over it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import selectors
import signal
import sys
import time
import types
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ...errors import EngineError, PodeployError
from .inputs import BatchInput
from .results import BatchSummary, Record
from .worker import CrashHook, worker_main

PREFETCH = 2  # inputs handed to a worker before it answers: keeps it busy, bounds what a death requeues
MAX_START_DEATHS = 3  # workers dying before their first input: the batch stops instead of looping
DEFAULT_TIMEOUT = 600.0  # seconds one input may take in a worker before it is stopped and reported


class WorkersFailed(PodeployError):
    """The workers could not start: the knowledge base did not load, or they died on start."""

    def __init__(self, lines: list[str], exit_code: int) -> None:
        self._lines = lines
        self.exit_code = exit_code
        super().__init__("; ".join(lines))

    def lines(self) -> list[str]:
        return list(self._lines)


def start_method() -> str:
    """'forkserver' where the platform has it (a worker forks from a warm server), else 'spawn'."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _context() -> Any:
    ctx = multiprocessing.get_context(start_method())
    if start_method() == "forkserver":
        # The server imports the engine once; every worker forks from it with the imports done.
        ctx.set_forkserver_preload(
            [
                "podeploy.engine.tools.batch.worker",
                "podeploy.engine.evaluation.evaluate",
                "podeploy.engine.explain.render",
            ]
        )
    return ctx


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start workers without re-running the __main__ module in them: they need nothing from it.

    multiprocessing re-imports the main script in every spawned (or forkserver) child; a script
    without an `if __name__ == "__main__"` guard would start a batch of its own there, and any
    script costs its imports again. The workers' target lives in the engine (worker_main), so hide __main__.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")  # no __file__, no __spec__: nothing to re-run
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"worker died: {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"worker died: signal {-exitcode}"
    return f"worker died: exit status {exitcode}"


@dataclass(slots=True)
class _Worker:
    process: Any
    conn: Connection
    inflight: deque[int] = field(default_factory=deque)
    reserved: deque[int] = field(default_factory=deque)
    ready: bool = False
    served: int = 0  # inputs it answered: a worker that dies before the first died starting
    since: float = 0.0  # when it began the first input it holds
    timed_out: bool = False  # stopped by the pool: its first input took longer than the timeout
    stopped: bool = False  # killed by the pool (its pipe failed): its death is no input's fault


class _Pool:
    def __init__(
        self,
        items: Sequence[BatchInput],
        deliver: Callable[[int, Record], None],
        *,
        layers: Sequence[str],
        engine: str,
        jobs: int,
        crash_hook: CrashHook | None,
        tick: Callable[[], None] | None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.timeout = timeout or None
        self.items = items
        self.deliver = deliver
        self.args = (os.getcwd(), list(layers), engine, crash_hook)
        self.noted = False  # whether a worker's engine note was said
        self.jobs = jobs
        self.tick = tick
        self.todo: deque[int] = deque(i for i, item in enumerate(items) if item.problem is None)
        self.remaining = len(self.todo)
        self.attempts: dict[int, int] = {}
        self.workers: list[_Worker] = []
        self.start_deaths = 0
        self.ctx: Any = None
        self.selector = selectors.DefaultSelector()

    def _start(self, reserved: deque[int] | None = None) -> None:
        if self.ctx is None:
            self.ctx = _context()
        ours, theirs = self.ctx.Pipe(duplex=True)
        process = self.ctx.Process(target=worker_main, args=(theirs, *self.args), daemon=True, name="podeploy-batch")
        with _main_module_hidden():
            process.start()
        theirs.close()
        worker = _Worker(process, ours, reserved=reserved or deque())
        self.workers.append(worker)
        self.selector.register(ours, selectors.EVENT_READ, worker)
        self.selector.register(process.sentinel, selectors.EVENT_READ, worker)

    def run(self) -> None:
        if not self.remaining:
            return
        try:
            for _ in range(min(self.jobs, self.remaining)):
                self._start()
            while self.remaining:
                self._dispatch()
                died: list[_Worker] = []
                for key, _ in self.selector.select(timeout=0.1):
                    w: _Worker = key.data
                    if w in died:
                        continue
                    if key.fileobj is w.conn:
                        if not self._receive(w):
                            died.append(w)
                    else:  # the process ended: what it sent before it died still counts
                        while w.conn.poll() and self._receive(w):
                            pass
                        died.append(w)
                for w in died:
                    self._buried(w)
                self._stop_overdue()
                if self.tick is not None:
                    self.tick()
        finally:
            self._stop()
            self.selector.close()

    def _dispatch(self) -> None:
        for w in self.workers:
            if not w.ready:
                continue
            while len(w.inflight) < PREFETCH and (w.reserved or self.todo):
                queue = w.reserved if w.reserved else self.todo
                index = queue.popleft()
                try:
                    w.conn.send((index, self.items[index], self.attempts.get(index, 0) + 1))
                except OSError as exc:
                    # The input goes back where it came from, and the worker is buried when select
                    # reports its end. A closed pipe: it died since the last look. Any other error
                    # may have cut a message short: the pipe is useless, the worker is stopped.
                    queue.appendleft(index)
                    w.ready = False
                    if not isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                        w.stopped = True
                        w.process.kill()
                    break
                w.inflight.append(index)
                if len(w.inflight) == 1:
                    w.since = time.monotonic()

    def _receive(self, w: _Worker) -> bool:
        """Handle one message from a worker whose pipe is readable; False once its end is closed."""
        try:
            message = w.conn.recv()
        except (EOFError, OSError):
            return False
        if message[0] == "ready":
            w.ready = True
            if message[1] is not None and not self.noted:  # the engine fallback, said once for all workers
                self.noted = True
                print(message[1], file=sys.stderr)
        elif message[0] == "error":
            raise WorkersFailed(message[1], message[2])
        else:
            _, index, record = message
            w.inflight.remove(index)
            w.since = time.monotonic()  # it goes on with the next input it holds
            w.served += 1
            self.remaining -= 1
            self.deliver(index, record)
        return True

    def _stop_overdue(self) -> None:
        """Kill a worker whose input has run past the timeout; it is buried when select reports its end."""
        if self.timeout is None:
            return
        now = time.monotonic()
        for w in self.workers:
            if w.inflight and not w.timed_out and now - w.since > self.timeout:
                w.timed_out = True
                w.process.kill()

    def _buried(self, w: _Worker) -> None:
        """A worker died: requeue what it held, retry the input it was on once in a fresh worker."""
        # Results it sent before dying may still be in the pipe: take them first, so that the
        # input it died on is the first one still in flight.
        with contextlib.suppress(EOFError, OSError):
            while w.conn.poll() and self._receive(w):
                pass
        self.workers.remove(w)
        self.selector.unregister(w.conn)
        self.selector.unregister(w.process.sentinel)
        w.conn.close()
        w.process.join(5)
        if w.process.is_alive():  # its pipe closed but it lingers: make sure it is gone
            w.process.kill()
            w.process.join()
        reason = death_reason(w.process.exitcode)
        retry: deque[int] = deque()
        if w.stopped:  # nothing it held is to blame
            self.todo.extendleft(reversed([*w.inflight, *w.reserved]))
        elif w.timed_out and w.inflight:  # not retried: it would take as long again
            culprit = w.inflight.popleft()
            self.todo.extendleft(reversed([*w.inflight, *w.reserved]))
            self.remaining -= 1
            reason = f"timed out after {self.timeout:g} s"
            self.deliver(culprit, {"input": self.items[culprit].label, "status": "failed", "errors": [reason]})
        elif w.inflight:
            culprit = w.inflight.popleft()
            self.todo.extendleft(reversed([*w.inflight, *w.reserved]))
            self.attempts[culprit] = self.attempts.get(culprit, 0) + 1
            if self.attempts[culprit] >= 2:
                self.remaining -= 1
                self.deliver(culprit, {"input": self.items[culprit].label, "status": "failed", "errors": [reason]})
            else:
                retry.append(culprit)
        else:
            self.todo.extendleft(reversed(w.reserved))
            if not w.served:
                self.start_deaths += 1
                if self.start_deaths > MAX_START_DEATHS:
                    raise EngineError(f"batch workers die as they start ({reason})")
        if self.remaining and (retry or self.todo or not self.workers):
            self._start(retry)

    def _stop(self) -> None:
        for w in self.workers:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(None)
        deadline = time.monotonic() + 2
        for w in self.workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.terminate()
                w.process.join()
            w.conn.close()
        self.workers = []


# -- the batch -------------------------------------------------------------------------------------


def run_batch(
    items: Sequence[BatchInput],
    write: Callable[[Record], None],
    *,
    layers: Sequence[str] = (),
    engine: str = "auto",
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    crash_hook: CrashHook | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> BatchSummary:
    """Evaluate every input on worker processes; `write` gets one record per input, in input order.

    `engine` is 'auto', 'durable' or 'reference' (resolved once, here); `layers` are the policy
    folders over the built-ins, as load_knowledge_base takes them; `progress(done, total)` is
    called as records come in. Raises WorkersFailed when the knowledge base does not load.
    """
    from ...evaluation.evaluate import resolve_engine

    started = time.monotonic()
    summary = BatchSummary()
    chosen = resolve_engine(engine)
    if engine == "auto" and chosen == "durable":
        chosen = "auto"  # each worker falls back on the reference evaluator for policies durable-rules cannot run
    waiting: dict[int, Record] = {}
    next_out = 0

    def flush() -> None:
        nonlocal next_out
        while next_out in waiting:
            record = waiting.pop(next_out)
            summary.add(record)
            write(record)
            next_out += 1

    def deliver(index: int, record: Record) -> None:
        waiting[index] = record
        flush()
        if progress is not None:
            progress(len(waiting) + next_out, len(items))

    for index, item in enumerate(items):
        if item.problem is not None:
            waiting[index] = {"input": item.label, "status": "bad-input", "errors": [item.problem]}
    flush()
    tick = (lambda: progress(len(waiting) + next_out, len(items))) if progress is not None else None
    pool = _Pool(
        items,
        deliver,
        layers=layers,
        engine=chosen,
        jobs=min(jobs, usable_cpus()) if jobs else usable_cpus(),
        crash_hook=crash_hook,
        tick=tick,
        timeout=timeout,
    )
    pool.run()
    flush()
    summary.seconds = time.monotonic() - started
    return summary


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, under a container's or taskset's limit)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
