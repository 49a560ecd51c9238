"""The text of a test run: each case's result, the coverage table and the minimum coverage missed."""

from __future__ import annotations

import math

from .coverage import Coverage
from .results import CaseResult


def result_lines(result: CaseResult) -> list[str]:
    """`PASS file::name`, or `FAIL file::name` and, for each mismatch, what was expected and what came out."""
    if result.passed:
        return [f"PASS {result.title}"]
    lines = [f"FAIL {result.title}"]
    for m in result.mismatches:
        subject = f": {m.subject}" if m.subject is not None else ""
        lines.append(f"  {m.field}{subject}  ({m.location})")
        if m.field == "fires":
            lines.append(f"    did not fire: {', '.join(m.missing)}")
            continue
        if m.field == "does_not_fire":
            lines.append(f"    fired:        {', '.join(m.unexpected)}")
            continue
        lines.append(f"    expected:   {m.expected}")
        lines.append(f"    actual:     {m.actual}")
        lines.extend(f"    missing:    {item}" for item in m.missing)
        lines.extend(f"    unexpected: {item}" for item in m.unexpected)
    return lines


def percent_text(value: float) -> str:
    """A percentage for display, rounded down so that 100% means every rule."""
    return f"{math.floor(value + 1e-9)}%"


def coverage_lines(coverage: Coverage) -> list[str]:
    rows = [(f.file, f"{f.covered}/{f.total}", percent_text(f.percent)) for f in coverage.files]
    total = ("total", f"{coverage.covered}/{coverage.total}", percent_text(coverage.percent))
    name_w = max(len(r[0]) for r in [*rows, total])
    frac_w = max(len(r[1]) for r in [*rows, total])
    lines = ["Coverage (rules that fired in one case and did not fire in another):"]
    for f, (name, fraction, pct) in zip(coverage.files, rows, strict=True):
        lines.append(f"  {name.ljust(name_w)}  {fraction.rjust(frac_w)}  {pct.rjust(4)}")
        lines.extend(f"    never fired:  {r.id} ({r.location})" for r in f.never_fired)
        lines.extend(
            f"    always fired: {r.id} ({r.location}): add a case where it does not fire" for r in f.always_fired
        )
    name, fraction, pct = total
    lines.append(f"  {name.ljust(name_w)}  {fraction.rjust(frac_w)}  {pct.rjust(4)}")
    return lines


def minimum_text(coverage: Coverage, minimum: float) -> str:
    return (
        f"coverage {percent_text(coverage.percent)} ({coverage.covered}/{coverage.total} rules) "
        f"is below the minimum of {minimum:g}%"
    )
