"""Batch evaluation: many facts documents over worker processes, results in input order, crashes contained.

durable-rules never releases the GIL and can crash the process, so each worker is a process of its
own (the 'forkserver' start method where there is one, else 'spawn') that loads the knowledge base
once and evaluates one input at a time. A worker that dies loses nothing: the input it was on is
retried once in a fresh worker, then reported as failed, and the batch goes on.

    items = expand_inputs(["customers/", "more/*.yaml", "leads.jsonl"])
    summary = run_batch(items, write=print_record, jobs=4)
    sys.exit(summary.exit_code)
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import multiprocessing
import os
import re
import selectors
import signal
import stat
import sys
import time
import types
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import IO, Any

from ..errors import BadInput, EngineError, Location, PodeployError, Problem
from ..evaluation.evaluate import evaluate
from ..io.outputs import StatusLine
from ..records import record

Record = dict[str, Any]

JSONL_SUFFIX = ".jsonl"
FOLDER_SUFFIXES = (".yaml", ".yml", ".json", JSONL_SUFFIX)
MAX_LINE_BYTES = 4 * 1024 * 1024  # one JSON-lines document: the limit of one facts file
PREFETCH = 2  # inputs handed to a worker before it answers: keeps it busy, bounds what a death requeues
MAX_START_DEATHS = 3  # workers dying before their first input: the batch stops instead of looping
_LINE_IN_MESSAGE = re.compile(r"\bline (\d+)")
CSV_HEADER = ("input", "status", "customer", "deployments", "entities", "gaps", "warnings", "notes", "errors")
CRASH_ENV = "PODEPLOY_TEST_CRASH_ON"  # tests only: a worker kills itself (SIGSEGV) on this customer
CRASH_ATTEMPTS_ENV = "PODEPLOY_TEST_CRASH_ATTEMPTS"  # tests only: ... on its first N attempts (default: all)
HANG_ENV = "PODEPLOY_TEST_HANG_ON"  # tests only: a worker never finishes this customer
DEFAULT_TIMEOUT = 600.0  # seconds one input may take in a worker before it is stopped and reported


@record
class BatchInput:
    """One facts document of a batch: a file, or one line of a JSON-lines file."""

    label: str  # how records and messages name it: the path, or path:line for a JSON-lines document
    path: str
    line: int = 0  # 1-based line in a JSON-lines file; 0 for a whole file
    offset: int = 0
    length: int = 0
    problem: str | None = None  # found while expanding the inputs: reported without a worker

    @property
    def is_line(self) -> bool:
        return self.line > 0


@record
class CrashHook:
    """Test-only: make the worker evaluating `customer` die with SIGSEGV, on its first `attempts` attempts
    (or, with hang, never finish it)."""

    customer: str
    attempts: int | None = None
    hang: bool = False

    @staticmethod
    def from_env(environ: Mapping[str, str] = os.environ) -> CrashHook | None:
        if environ.get(HANG_ENV):
            return CrashHook(environ[HANG_ENV], hang=True)
        customer = environ.get(CRASH_ENV)
        if not customer:
            return None
        attempts = environ.get(CRASH_ATTEMPTS_ENV, "")
        return CrashHook(customer, int(attempts) if attempts.isdigit() else None)


# -- inputs ------------------------------------------------------------------------------------


def expand_inputs(inputs: Sequence[str]) -> list[BatchInput]:
    """Facts documents named by files, folders (searched, sorted), globs and JSON-lines files, in order."""
    items: list[BatchInput] = []
    for given in inputs:
        if given == "-":
            message = "batch does not read standard input; name files, folders or a .jsonl file"
            items.append(BatchInput(given, given, problem=_problem("not-a-file", message, "<stdin>")))
        elif os.path.isdir(given):
            found = _walk(given)
            if not found:
                message = f"folder holds no facts files ({', '.join('*' + s for s in FOLDER_SUFFIXES)})"
                items.append(BatchInput(given, given, problem=_problem("no-facts", message, given)))
            items.extend(_file_inputs(found))
        elif not os.path.exists(given) and glob.has_magic(given):
            matches = sorted(glob.glob(given, recursive=True))
            if not matches:
                items.append(
                    BatchInput(given, given, problem=_problem("not-found", "no file matches this pattern", given))
                )
            for match in matches:
                items.extend(_file_inputs(_walk(match) if os.path.isdir(match) else [match]))
        else:
            items.extend(_file_inputs([given]))
    return items


def _walk(folder: str) -> list[str]:
    """The facts files below a folder, sorted; batch's own JSON-lines records are not inputs."""
    found: list[str] = []
    for base, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(base, name)
            if name.endswith(FOLDER_SUFFIXES) and not (name.endswith(JSONL_SUFFIX) and _is_batch_output(path)):
                found.append(path)
    return found


def _is_batch_output(path: str) -> bool:
    """Does this JSON-lines file hold batch records (an earlier `batch --out` into the same folder)?"""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            first = handle.readline(65536)
        data = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "input" in data and data.get("status") in ("ok", "bad-input", "failed")


def _file_inputs(paths: Sequence[str]) -> Iterator[BatchInput]:
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            info = None
        if info is not None and not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            # A pipe or a device can be read once at most, and a pipe no one writes to never ends.
            message = "batch reads regular files only; this is a pipe, a device or a socket"
            yield BatchInput(path, path, problem=_problem("not-a-file", message, path))
        elif path.endswith(JSONL_SUFFIX):
            yield from json_lines(path)
        else:
            yield BatchInput(path, path)


def json_lines(path: str) -> list[BatchInput]:
    """One input per non-blank line of a JSON-lines file (its offset and length: workers read it)."""
    items: list[BatchInput] = []
    try:
        with open(path, "rb") as handle:
            offset = 0
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    body = raw.rstrip(b"\r\n")
                    items.append(BatchInput(f"{path}:{number}", path, number, offset, len(body)))
                offset += len(raw)
    except FileNotFoundError:
        return [BatchInput(path, path, problem=_problem("not-found", "no such file", path))]
    except OSError as exc:
        return [BatchInput(path, path, problem=_problem("unreadable", exc.strerror or str(exc), path))]
    if not items:
        return [BatchInput(path, path, problem=_problem("empty", "the JSON-lines file holds no facts documents", path))]
    return items


def _problem(code: str, message: str, path: str) -> str:
    return str(Problem(code, message, Location(path)))


def read_line_document(item: BatchInput, handle: IO[bytes]) -> Any:
    """The Document of one JSON-lines input, its locations on the file's own lines."""
    from ..io.loader import parse_document

    where = Location(item.path, item.line, 1)
    if item.length > MAX_LINE_BYTES:
        raise BadInput([Problem("too-large", f"line is {item.length} bytes; the limit is {MAX_LINE_BYTES}", where)])
    handle.seek(item.offset)
    raw = handle.read(item.length)
    if b"\x00" in raw:
        raise BadInput([Problem("binary-file", "line holds NUL bytes; expected a JSON object", where)])
    try:
        text = raw.decode("utf-8-sig" if item.offset == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        column = len(raw[: exc.start].decode("utf-8", "replace")) + 1
        where = Location(item.path, item.line, column)
        raise BadInput([Problem("encoding", f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", where)]) from None
    if not text.lstrip().startswith("{"):
        raise BadInput(
            [Problem("not-json-object", "a JSON-lines file holds one JSON object (a facts document) per line", where)]
        )
    shift = item.line - 1
    try:
        doc = parse_document(text, item.path)
    except BadInput as exc:
        raise BadInput([_shifted_problem(p, item.path, shift) for p in exc.problems]) from None
    doc.marks = {k: _shifted(v, item.path, shift) for k, v in doc.marks.items()}
    doc.key_marks = {k: _shifted(v, item.path, shift) for k, v in doc.key_marks.items()}
    return doc


def _shifted(location: Location, path: str, lines: int) -> Location:
    if location.file != path:
        return location
    return Location(location.file, location.line + lines, location.column)


def _shifted_problem(problem: Problem, path: str, lines: int) -> Problem:
    """A parse problem moved to the file's own lines: its location and any 'line N' its message names."""
    message = _LINE_IN_MESSAGE.sub(lambda m: f"line {int(m.group(1)) + lines}", problem.message)
    return Problem(problem.code, message, _shifted(problem.location, path, lines))


# -- one evaluation (in a worker) ----------------------------------------------------------------


def evaluate_item(
    kb: Any,
    item: BatchInput,
    engine: str,
    handles: dict[str, IO[bytes]] | None = None,
    crash: Callable[[str], None] | None = None,
    layers: Sequence[str] = (),
) -> Record:
    """The record of one input: its result, or its located problems. Never raises.

    `layers` are the folders kb was loaded from: an input that names layers of its own (`packs:`,
    `policies:`) is evaluated over them as well.
    """
    from ..facts.reading import read_facts
    from ..io.loader import load_document

    try:
        if item.is_line:
            if handles is None:
                with open(item.path, "rb") as handle:
                    doc = read_line_document(item, handle)
            else:
                if item.path not in handles:  # a file's lines come one after another: keep one file open
                    for previous in handles.values():
                        previous.close()
                    handles.clear()
                    handles[item.path] = open(item.path, "rb")  # noqa: SIM115 - kept open for the next lines
                doc = read_line_document(item, handles[item.path])
        else:
            doc = load_document(item.path)
        kb, engine = _knowledge_for(kb, layers, doc, engine)
        facts = read_facts(kb, doc)
        if crash is not None:
            crash(facts.customer)
        decision = evaluate(kb, facts, engine=engine)
    except BadInput as exc:
        return {"input": item.label, "status": "bad-input", "errors": exc.lines()}
    except PodeployError as exc:
        return {"input": item.label, "status": "failed", "errors": [str(exc)]}
    except OSError as exc:
        where = Location(item.path, item.line or 1, 1)
        return {"input": item.label, "status": "bad-input", "errors": [str(Problem("unreadable", str(exc), where))]}
    except Exception as exc:  # a bug: the record says so, the batch goes on
        return {"input": item.label, "status": "failed", "errors": [f"internal error: {type(exc).__name__}: {exc}"]}
    return {"input": item.label, "status": "ok", **decision_record(decision)}


def _knowledge_for(kb: Any, layers: Sequence[str], doc: Any, engine: str) -> tuple[Any, str]:
    """The knowledge base (and engine) for a document that may name layers of its own."""
    from ..facts.layers import LAYER_KEYS, with_named_layers

    if not isinstance(doc.value, dict) or not any(key in doc.value for key in LAYER_KEYS):
        return kb, engine
    from ..evaluation.evaluate import engine_for
    from ..policy.loading import load_knowledge_base

    own = load_knowledge_base(with_named_layers(layers, doc))
    return own, ("reference" if engine == "reference" else engine_for(own, "auto", note=False))


def decision_record(decision: Any) -> Record:
    """`evaluate --format json` without the trace (the costliest part to build), and the number of firings."""
    from ..explain.render import decision_summary

    return {**decision_summary(decision), "firings": len(decision.trace)}


def _worker_main(
    conn: Connection, cwd: str, layers: list[str], engine: str, crash_hook: CrashHook | None
) -> None:  # pragma: no cover - runs in the worker processes
    """A worker: load the knowledge base once, then evaluate inputs until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # and SIGTERM ends a worker at once, without a word
    os.chdir(cwd)
    from ..policy.loading import load_knowledge_base

    try:
        kb = load_knowledge_base(layers)
        note: str | None = None
        if engine == "durable":
            from ..evaluation.rete import network_for

            network_for(kb)
        elif engine == "auto":  # durable-rules, unless the policies are past one of its limits
            from ..evaluation.evaluate import engine_refusal, fallback_note

            refusal = engine_refusal(kb)
            engine = "durable" if refusal is None else "reference"
            note = None if refusal is None else fallback_note(refusal)
    except PodeployError as exc:
        conn.send(("error", exc.lines(), exc.exit_code))
        return
    conn.send(("ready", note))
    handles: dict[str, IO[bytes]] = {}
    attempt = 0

    def crash(customer: str) -> None:
        if crash_hook is None or customer != crash_hook.customer:
            return
        if crash_hook.attempts is not None and attempt > crash_hook.attempts:
            return
        while crash_hook.hang:
            time.sleep(3600)
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file from a simulated crash
        os.kill(os.getpid(), signal.SIGSEGV)

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        index, item, attempt = task
        conn.send(("done", index, evaluate_item(kb, item, engine, handles, crash if crash_hook else None, layers)))
    for handle in handles.values():
        handle.close()


# -- the pool --------------------------------------------------------------------------------------


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
            ["podeploy.engine.tools.batch", "podeploy.engine.evaluation.evaluate", "podeploy.engine.explain.render"]
        )
    return ctx


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start workers without re-running the __main__ module in them: they need nothing from it.

    multiprocessing re-imports the main script in every spawned (or forkserver) child; a script
    without an `if __name__ == "__main__"` guard would start a batch of its own there, and any
    script costs its imports again. The workers' target lives in this module, so hide __main__.
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
        process = self.ctx.Process(target=_worker_main, args=(theirs, *self.args), daemon=True, name="podeploy-batch")
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


@dataclass(slots=True)
class BatchSummary:
    """What a batch did: counts per status, per deployment type, per warning and note code; what failed."""

    total: int = 0
    evaluated: int = 0
    bad_input: int = 0
    failed: int = 0
    deployments: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (input, status, first error line)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 all evaluated; 1 an input failed (a worker died twice on it); 2 some inputs were bad input."""
        if self.failed:
            return 1
        return 2 if self.bad_input else 0

    def add(self, record: Record) -> None:
        self.total += 1
        status = record["status"]
        if status == "ok":
            self.evaluated += 1
            for entity in record["entities"]:
                self.deployments[entity["deployment"] or "none fits"] += 1
            self.warnings.update(w["code"] for w in record["warnings"])
            self.notes.update(n["code"] for n in record["notes"])
            return
        if status == "bad-input":
            self.bad_input += 1
        else:
            self.failed += 1
        errors = record.get("errors") or ["no detail"]
        self.problems.append((record["input"], status, errors[0]))

    def lines(self, *, limit: int = 20) -> list[str]:
        rate = f" in {self.seconds:.1f} s ({self.total / self.seconds:.0f}/s)" if self.seconds > 0 else ""
        out = [
            f"batch: {self.total} input{'s' if self.total != 1 else ''}{rate}: {self.evaluated} evaluated, "
            f"{self.bad_input} bad input, {self.failed} failed"
        ]

        def counted(counter: Counter[str]) -> str:
            return ", ".join(f"{key} {n}" for key, n in sorted(counter.items())) or "none"

        out.append(f"  legal entities per deployment type: {counted(self.deployments)}")
        out.append(f"  warnings per code: {counted(self.warnings)}")
        out.append(f"  notes per code: {counted(self.notes)}")
        for label, status, error in self.problems[:limit]:
            detail = error if error.startswith(label) else f"{label}: {error}"
            out.append(f"  {status}: {detail}")
        if len(self.problems) > limit:
            out.append(f"  ... and {len(self.problems) - limit} more (see the records)")
        return out


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
    from ..evaluation.evaluate import resolve_engine

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


# -- output ----------------------------------------------------------------------------------------


def record_json(record: Record) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def record_row(record: Record) -> list[str]:
    """The CSV row of a record (see CSV_HEADER): lists joined with '; ', errors one per line.

    In the list columns a '\\', ';' or '=' inside a name is escaped with a backslash, so that
    'name=type; name=type' always reads back one way; and a cell that a spreadsheet would take for a
    formula (it begins with =, +, -, @, a tab or a carriage return) begins with a ' instead, as OWASP
    recommends against CSV injection.
    """
    if record["status"] != "ok":
        cells = [record["input"], record["status"], "", "", "", "", "", "", "\n".join(record.get("errors", []))]
        return [_cell(c) for c in cells]
    entities = "; ".join(f"{_item(e['name'])}={e['deployment'] or ''}" for e in record["entities"])
    gaps = "; ".join(f"{_item(e['name'])}={gap}" for e in record["entities"] for gap in e["gaps"])
    warnings = "; ".join(dict.fromkeys(w["code"] for w in record["warnings"]))
    notes = "; ".join(dict.fromkeys(n["code"] for n in record["notes"]))
    cells = [
        record["input"],
        "ok",
        record["customer"],
        "; ".join(record["deployments"]),
        entities,
        gaps,
        warnings,
        notes,
        "",
    ]
    return [_cell(c) for c in cells]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _item(name: str) -> str:
    return name.replace("\\", "\\\\").replace(";", "\\;").replace("=", "\\=")


class RecordWriter:
    """Writes records as JSON lines or CSV (a header first) to a text stream, one line per record."""

    def __init__(self, stream: IO[str], fmt: str) -> None:
        self.stream = stream
        self.fmt = fmt
        self.csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(CSV_HEADER)

    def __call__(self, record: Record) -> None:
        if self.csv is not None:
            self.csv.writerow(record_row(record))
        else:
            self.stream.write(record_json(record) + "\n")


class ProgressBar(StatusLine):
    """A one-line progress bar on a terminal: count, rate, time left. Redrawn at most ten times a second."""

    def __init__(self, stream: IO[str] = sys.stderr, width: int = 30) -> None:
        super().__init__(stream)
        self.width = width
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate > 0 else 0.0
        filled = int(self.width * done / total) if total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        eta = f"{int(left) // 60}:{int(left) % 60:02d} left" if done else "--:-- left"
        self.draw(f"[{bar}] {done}/{total}  {rate:.0f}/s  {eta}", last=done >= total)
