"""Fuzz podeploy's input handling with a larger budget than the test suite's.

    python fuzz/run.py --examples 20000                 # 20,000 cases of each strategy
    python fuzz/run.py --examples 2000 --strategies yaml-text,mutated-facts --seed 7 --jobs 2
    python fuzz/run.py --examples 200 --strategies field-names,control-characters,non-regular-files

The strategies and the contract are those of tests/test_fuzz.py (see fuzz/harness.py). Each strategy's
cases run in chunks, each chunk in a fresh forked process with its own seed: a crash or a hang is
reported with the case it happened on and the run goes on, and durable-rules' per-load rulesets do not
pile up in one process. A broken contract is counted, its input printed (and saved with --save), and
the run goes on; known bugs (pinned by strict xfails in tests/test_adversarial.py) are counted apart.
Each case of non-regular-files is a real process already: its chunks are at most SLOW_CHUNK cases.

Prints the number of cases and of each outcome per strategy; exit status 1 when a contract broke.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # lives beside this script

# Cases per chunk of the strategies whose every case runs a real process (about a second each).
SLOW_CHUNK = {"non-regular-files": 100}


def _chunks(total: int, size: int) -> list[int]:
    full, rest = divmod(total, size)
    return [size] * full + ([rest] if rest else [])


@dataclass
class _Child:
    """A chunk running in a forked process: its pid, the pipe its result comes on, and its deadline."""

    strategy: str
    seed: int
    pid: int
    pipe: int
    folder: Path
    deadline: float
    chunks: list[bytes] = field(default_factory=list)


def _start(args: argparse.Namespace, strategy: str, examples: int, seed: int, first: bool) -> _Child:
    folder = Path(tempfile.mkdtemp(prefix=f"podeploy-fuzz-{strategy}-"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run the chunk, send the result, leave without running anything of the parent's
        os.close(read)
        status = 0
        try:
            result = harness.fuzz(strategy, examples, folder, seed=seed, in_subprocess=args.subprocess if first else 0,
                                  keep_going=True, current=folder / "current-case.txt")
            report = json.dumps(result).encode("utf-8")
        except BaseException:
            status, report = 1, traceback.format_exc().encode("utf-8", "replace")
        with os.fdopen(write, "wb") as out:
            out.write(report)
        os._exit(status)
    os.close(write)
    return _Child(strategy, seed, pid, read, folder, time.monotonic() + args.timeout)


def _finish(child: _Child, killed: bool) -> dict[str, Any]:
    """The chunk's result, or its crash, hang or error with the case it was on."""
    _, status = os.waitpid(child.pid, 0)
    os.close(child.pipe)
    text = b"".join(child.chunks).decode("utf-8", "replace")
    current = child.folder / "current-case.txt"
    on = current.read_text("utf-8", "replace") if current.exists() else "(no case started)"
    harness._remove(child.folder)
    failure = None
    if killed:
        failure = f"the chunk hung (killed after its timeout) on:\n{on}"
    elif os.WIFSIGNALED(status):
        failure = f"the process died of {signal.Signals(os.WTERMSIG(status)).name} on:\n{on}"
    elif os.WEXITSTATUS(status) != 0:
        failure = f"the chunk failed:\n{text[-3000:]}\non:\n{on}"
    if failure is None:
        result: dict[str, Any] = json.loads(text)
    else:
        result = {"strategy": child.strategy, "cases": 0, "outcomes": {"crashed-or-hung": 1}, "differential": 0,
                  "subprocess": 0, "failures": [failure]}
    result["seed"] = child.seed
    return result


def _run_all(args: argparse.Namespace, work: list[tuple[str, int, int, bool]]) -> list[dict[str, Any]]:
    """Run the chunks, --jobs at once, each in a process forked from this (single-threaded) one."""
    pending = list(work)
    running: dict[int, _Child] = {}
    results: list[dict[str, Any]] = []
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            child = _start(args, *pending.pop(0))
            running[child.pipe] = child
        timeout = max(0.0, min(c.deadline for c in running.values()) - time.monotonic())
        ready, _, _ = select.select(list(running), [], [], timeout)
        for fd in ready:
            child = running[fd]
            chunk = os.read(fd, 1 << 16)
            if chunk:
                child.chunks.append(chunk)
                continue
            del running[fd]
            results.append(_progress(_finish(child, killed=False)))
        for fd, child in list(running.items()):
            if time.monotonic() > child.deadline:
                os.kill(child.pid, signal.SIGKILL)
                del running[fd]
                results.append(_progress(_finish(child, killed=True)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="cases per strategy (default 2000)")
    parser.add_argument("--strategies", default=",".join(harness.STRATEGIES),
                        help=f"comma-separated, from: {', '.join(harness.STRATEGIES)}")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="first chunk's seed")
    parser.add_argument("--chunk", type=int, default=1000, help="cases per fresh process (default 1000)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="chunks run at once")
    parser.add_argument("--subprocess", type=int, default=10,
                        help="cases of each strategy also run through `python -m podeploy` (default 10)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one chunk may take")
    parser.add_argument("--save", type=Path, help="write each broken case to this folder")
    args = parser.parse_args(argv)
    strategies = [s for s in args.strategies.split(",") if s]
    unknown = [s for s in strategies if s not in harness.STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies: {', '.join(unknown)}")

    work = []
    seed = args.seed
    for strategy in strategies:
        for i, size in enumerate(_chunks(args.examples, min(args.chunk, SLOW_CHUNK.get(strategy, args.chunk)))):
            work.append((strategy, size, seed, i == 0))
            seed += 1
    print(f"podeploy fuzz: {args.examples} cases of each of {len(strategies)} strategies, "
          f"{len(work)} chunks, seeds {args.seed}..{seed - 1}, {args.jobs} at once", flush=True)
    started = time.monotonic()
    results = _run_all(args, work)
    elapsed = time.monotonic() - started

    totals: dict[str, Counter[str]] = {s: Counter() for s in strategies}
    extra: dict[str, Counter[str]] = {s: Counter() for s in strategies}
    failures: list[tuple[str, int, str]] = []
    for result in results:
        strategy = result["strategy"]
        totals[strategy].update(result["outcomes"])
        extra[strategy].update(cases=result["cases"], differential=result["differential"],
                               subprocess=result["subprocess"], marked=result.get("marked", 0))
        failures.extend((strategy, result["seed"], f) for f in result["failures"])
    _report(strategies, totals, extra, elapsed)
    if args.save and failures:
        args.save.mkdir(parents=True, exist_ok=True)
        for n, (strategy, chunk_seed, text) in enumerate(failures, 1):
            (args.save / f"{n:04d}-{strategy}-seed{chunk_seed}.txt").write_text(text, "utf-8")
    shown: set[str] = set()
    for strategy, chunk_seed, text in failures:
        signature = text.splitlines()[0][:120]
        if signature not in shown:
            shown.add(signature)
            print(f"\nBROKEN ({strategy}, seed {chunk_seed}):\n{text[:3000]}")
    return 1 if failures else 0


def _progress(result: dict[str, Any]) -> dict[str, Any]:
    broken = result["outcomes"].get("broken", 0) + result["outcomes"].get("crashed-or-hung", 0)
    print(f"  {result['strategy']:<17} seed {result['seed']:>6}: {result['cases']:>6} cases, {broken} broken",
          flush=True)
    return result


def _report(strategies: list[str], totals: dict[str, Counter[str]], extra: dict[str, Counter[str]],
            elapsed: float) -> None:
    print()
    grand: Counter[str] = Counter()
    for strategy in strategies:
        outcomes = totals[strategy]
        cases = extra[strategy]["cases"]
        grand.update(cases=cases, differential=extra[strategy]["differential"],
                     subprocess=extra[strategy]["subprocess"])
        results = outcomes.get("result", 0)
        bad = sum(n for k, n in outcomes.items() if k.startswith("bad-input:"))
        known = sum(n for k, n in outcomes.items() if k.startswith("known-bug:"))
        broken = outcomes.get("broken", 0) + outcomes.get("crashed-or-hung", 0)
        grand.update(result=results, bad=bad, known=known, broken=broken)
        print(f"{strategy}: {cases} cases: {results} results (exit 0), {bad} bad input (exit 2), "
              f"{known} known bugs, {broken} broken; {extra[strategy]['differential']} results compared with the "
              f"reference evaluator, {extra[strategy]['subprocess']} also run in a fresh process"
              + (f"; the case's own rules fired in {extra[strategy]['marked']}" if extra[strategy]["marked"] else ""))
        codes = sorted(((n, k) for k, n in outcomes.items() if k not in ("result",)), reverse=True)
        print("    " + ", ".join(f"{k} {n}" for n, k in codes))
    print(f"\ntotal: {grand['cases']} cases in {elapsed:.0f} s: {grand['result']} results, {grand['bad']} bad input, "
          f"{grand['known']} known bugs, {grand['broken']} broken; {grand['differential']} differential, "
          f"{grand['subprocess']} in fresh processes")
    print(json.dumps({"cases": grand["cases"], "seconds": round(elapsed), "results": grand["result"],
                      "bad_input": grand["bad"], "known_bugs": grand["known"], "broken": grand["broken"],
                      "differential": grand["differential"], "fresh_processes": grand["subprocess"]}))


if __name__ == "__main__":
    sys.exit(main())
