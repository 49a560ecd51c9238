"""One exception tree for everything podeploy reports to a user.

Every problem has a code, a message and a location; the CLI's top level is the
only place that turns these exceptions into output and an exit status.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable, Sequence

from .records import record

# Characters that would act on a terminal, or hide or forge text, rather than show: C0 and C1 controls,
# DEL, the line and paragraph separators, and the bidirectional overrides and isolates.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Shown escaped too, though allowed in names: characters that print as nothing.
_UNSEEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060-\u2064\ufeff]")

# A disk or quota full while writing: the system's failure, not the path's (exit status 1, not bad input).
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def visible(text: str) -> str:
    """Text with every control character written as an escape (\\x1b, \\u202e): safe for one line on a terminal."""
    if not _UNSEEN.search(text):
        return text
    return _UNSEEN.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@record(order=True)
class Location:
    """A place in an input file: 1-based line and column."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{visible(self.file)}:{self.line}:{self.column}"  # one problem, one line


@record
class Problem:
    """One located, coded message about bad input."""

    code: str
    message: str
    location: Location

    def __str__(self) -> str:
        # One line per problem, whatever the message holds; nothing in it acts on a terminal.
        message = visible(" ".join(self.message.split()))
        return f"{self.location}: {self.code}: {message}"


class PodeployError(Exception):
    """Root of podeploy's errors. Subclasses know their exit status."""

    exit_code = 1

    def lines(self) -> list[str]:
        return [visible(f"podeploy: error: {self}")]


class BadInput(PodeployError):
    """Facts or policy files that cannot be used; exit status 2."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class EngineError(PodeployError):
    """The rule engine failed in a way input cannot explain; exit status 1."""


def bad(code: str, message: str, location: Location) -> BadInput:
    return BadInput([Problem(code, message, location)])


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' suffix naming the closest choice, or ''."""
    close = closest(word, choices)
    return f" (did you mean '{close}'?)" if close is not None else ""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice that word most likely misspells, or None."""
    import difflib  # only on the way to an error message

    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        lowered = {o.lower().replace("_", "-"): o for o in options}
        key = word.lower().replace("_", "-")
        if key in lowered:
            close = [lowered[key]]
    return close[0] if close else None


MAX_LISTED = 24  # a longer list of choices is cut short: a message stays one readable line


def listed(choices: Iterable[str]) -> str:
    """Choices for a message, in their order: 'a, b, c' (a long list cut short)."""
    options = list(dict.fromkeys(choices))
    shown = ", ".join(options[:MAX_LISTED])
    return shown + f" and {len(options) - MAX_LISTED} more" if len(options) > MAX_LISTED else shown


def choices_hint(word: str, choices: Iterable[str], what: str = "one of") -> str:
    """A ' (did you mean ...?); one of: a, b, c' suffix: the closest choice, if any, then all of them."""
    options = list(dict.fromkeys(choices))
    if not options:
        return ""
    return f"{did_you_mean(word, options)}; {what}: {listed(options)}"
