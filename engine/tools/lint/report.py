"""Findings and the lint report: one located, coded line each, counted by severity."""

from __future__ import annotations

from typing import Any

from ...errors import Location
from ...records import record

SEVERITIES = ("error", "warning", "info")


@record
class Finding:
    """One located, coded lint message; `severity` is error, warning or info."""

    code: str
    severity: str
    message: str
    location: Location

    def __str__(self) -> str:
        message = " ".join(self.message.split())
        return f"{self.location}: {self.severity}: {self.code}: {message}"

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": " ".join(self.message.split()),
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
        }


@record
class LintReport:
    """Every finding, sorted by location."""

    findings: tuple[Finding, ...]

    def _count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def errors(self) -> int:
        return self._count("error")

    @property
    def warnings(self) -> int:
        return self._count("warning")

    @property
    def infos(self) -> int:
        return self._count("info")

    def shown(self, *, verbose: bool = False) -> list[Finding]:
        """The findings to print: infos only when asked for."""
        return [f for f in self.findings if verbose or f.severity != "info"]
