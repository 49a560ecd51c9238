"""What a test file says: its cases, the outcome each expects, and how a warning or note is matched and written."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...errors import Location
from ...evaluation.decision import Notice
from ...facts.reading import FactsInput
from ...records import record

NOTICE_FIELDS = ("entity", "type", "capability", "about")  # the fields of a warning or note a test may name
# Codes the engine itself may produce, beside those the policies declare.
ENGINE_WARNINGS = ("conflicting-deployments",)


@record
class EntityExpectation:
    """`deployments: {entity: type}` (one value) or `gaps: {entity: [capability, ...]}` (several)."""

    entity: str
    values: tuple[str, ...]
    location: Location


@record
class TypeExpectation:
    """`excluded: {entity: {type: rules}}` or `why_not: {entity: {type: {rules: ..., capabilities: ...}}}`.

    Each of rules and capabilities, when given, is exact (sorted, without repeats); None is not checked.
    """

    entity: str
    type: str
    rules: tuple[str, ...] | None
    capabilities: tuple[str, ...] | None
    location: Location


@dataclass(frozen=True, slots=True, eq=False)  # not a record: a Notice is not hashable
class ProducedNotice:
    """A warning or note the case produced, with the rules behind it (sorted, without repeats)."""

    notice: Notice
    rules: tuple[str, ...]


@record
class NoticeExpectation:
    """One expected warning or note: its code and, optionally, the fields it must carry, text its message
    contains and exactly the rules behind it."""

    code: str
    keys: tuple[tuple[str, str], ...]
    location: Location
    message_contains: str | None = None
    rules: tuple[str, ...] | None = None

    def matches(self, produced: ProducedNotice) -> bool:
        notice = produced.notice
        if notice.code != self.code:
            return False
        if not all(notice_value(notice, key) == value for key, value in self.keys):
            return False
        if self.message_contains is not None and folded(self.message_contains) not in folded(notice.message):
            return False
        return self.rules is None or produced.rules == self.rules

    def __str__(self) -> str:
        given = [f"{k}: {v}" for k, v in self.keys]
        if self.message_contains is not None:
            given.append(f"message contains {json.dumps(self.message_contains, ensure_ascii=False)}")
        if self.rules is not None:
            given.append(f"rules: {listed(self.rules)}")
        return f"{self.code} ({', '.join(given)})" if given else self.code


@record
class NoticesExpectation:
    """`warnings:` or `notes:`: exactly these, matched both ways."""

    items: tuple[NoticeExpectation, ...]
    location: Location


@record
class RulesExpectation:
    """`fires:` or `does_not_fire:`: rule ids."""

    rules: tuple[str, ...]
    location: Location


@record
class TestCase:
    """One case of a test file, validated against the knowledge base it runs on."""

    __test__ = False  # not a pytest class

    file: str
    name: str
    location: Location
    facts: FactsInput
    deployments: tuple[EntityExpectation, ...] = ()
    gaps: tuple[EntityExpectation, ...] = ()
    excluded: tuple[TypeExpectation, ...] = ()
    why_not: tuple[TypeExpectation, ...] = ()
    warnings: NoticesExpectation | None = None
    notes: NoticesExpectation | None = None
    fires: RulesExpectation | None = None
    does_not_fire: RulesExpectation | None = None

    @property
    def title(self) -> str:
        return f"{self.file}::{self.name}"


def notice_value(notice: Notice, key: str) -> str | None:
    if key == "entity":
        return notice.entity
    value = notice.fact.get(key)
    return None if value is None else str(value)


def notice_text(notice: Notice, rules: Sequence[str] | None = None, *, message: bool = False) -> str:
    """A produced warning or note, written the way a test file expects one (with its message and the rules
    behind it when asked for)."""
    keys = [(k, notice_value(notice, k)) for k in NOTICE_FIELDS]
    given = [f"{k}: {v}" for k, v in keys if v is not None]
    if message:
        given.append(f"message {json.dumps(notice.message, ensure_ascii=False)}")
    if rules is not None:
        given.append(f"rules: {listed(rules)}")
    return f"{notice.code} ({', '.join(given)})" if given else notice.code


def folded(text: str) -> str:
    return " ".join(text.split())


def listed(items: Iterable[str]) -> str:
    return "[" + ", ".join(items) + "]"
