"""One evaluation of a batch, in a worker process: an input's record, never an exception.

worker_main() is what a worker process runs: it loads the knowledge base once, then evaluates the
inputs the pool sends until told to stop. The crash hook lets tests make a worker die on a chosen
customer.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import IO, Any

from ...errors import BadInput, Location, PodeployError, Problem
from ...evaluation.evaluate import evaluate
from ...records import record
from .inputs import BatchInput, read_line_document
from .results import Record

CRASH_ENV = "PODEPLOY_TEST_CRASH_ON"  # tests only: a worker kills itself (SIGSEGV) on this customer
CRASH_ATTEMPTS_ENV = "PODEPLOY_TEST_CRASH_ATTEMPTS"  # tests only: ... on its first N attempts (default: all)
HANG_ENV = "PODEPLOY_TEST_HANG_ON"  # tests only: a worker never finishes this customer


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
    from ...facts.reading import read_facts
    from ...io.loader import load_document

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
    from ...facts.layers import LAYER_KEYS, with_named_layers

    if not isinstance(doc.value, dict) or not any(key in doc.value for key in LAYER_KEYS):
        return kb, engine
    from ...evaluation.evaluate import engine_for
    from ...policy.loading import load_knowledge_base

    own = load_knowledge_base(with_named_layers(layers, doc))
    return own, ("reference" if engine == "reference" else engine_for(own, "auto", note=False))


def decision_record(decision: Any) -> Record:
    """`evaluate --format json` without the trace (the costliest part to build), and the number of firings."""
    from ...explain.render import decision_summary

    return {**decision_summary(decision), "firings": len(decision.trace)}


def worker_main(
    conn: Connection, cwd: str, layers: list[str], engine: str, crash_hook: CrashHook | None
) -> None:  # pragma: no cover - runs in the worker processes
    """A worker: load the knowledge base once, then evaluate inputs until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # and SIGTERM ends a worker at once, without a word
    os.chdir(cwd)
    from ...policy.loading import load_knowledge_base

    try:
        kb = load_knowledge_base(layers)
        note: str | None = None
        if engine == "durable":
            from ...evaluation.rete import network_for

            network_for(kb)
        elif engine == "auto":  # durable-rules, unless the policies are past one of its limits
            from ...evaluation.evaluate import engine_refusal, fallback_note

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
