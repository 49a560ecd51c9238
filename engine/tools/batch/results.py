"""The results of a batch and their output: one record per input, the summary, JSON lines or CSV, the output file.

A record is `evaluate --format json` without the trace (status "ok"), or the input's located
problems (status "bad-input" or "failed"). The summary counts them; the output file appears only
complete; the progress bar shares standard error with the summary.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from ...io.outputs import StatusLine

Record = dict[str, Any]

CSV_HEADER = ("input", "status", "customer", "deployments", "entities", "gaps", "warnings", "notes", "errors")


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
