"""What each declared type of fact means, written once: its JSON Schema, the check of a value with the one
problem code and message every command reports, the reading of a typed answer, the value rules see, its
values, the question that asks it, and the values rules can tell apart.

Problem codes, the same whichever command meets the value (a facts file, `ask --answers`, `what-if --set`):
- `wrong-type`: a value of another kind than the fact holds (text for a number, a number for a version,
  anything but true or false for a yes/no fact, a scalar for a list);
- `bad-value`: a value of the right kind outside what the fact allows (beyond its bounds, text too long or
  empty, a version not written like 10.0.44, a list too long);
- `unknown-value`, `unknown-capability`: text that is none of a choice's values, or no capability.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Iterable
from typing import Any

from ..errors import did_you_mean, listed
from .fact_type import MAX_LIST, MAX_TEXT, NO_WORDS, NUMBER_LIMIT, YES_WORDS, FactType, ValueProblem, brief
from .terms import (
    VERSION_PATTERN,
    FactDecl,
    Scalar,
    describe_value,
    normal_number,
    show_value,
    version_number,
    version_text,
)

__all__ = [
    "FACT_TYPES",
    "MAX_LIST",
    "MAX_TEXT",
    "NO_WORDS",
    "NUMBER_LIMIT",
    "YES_NO",
    "YES_WORDS",
    "FactType",
    "ValueProblem",
    "brief",
    "fact_type",
]


class Text(FactType):
    name = "text"


class Boolean(FactType):
    name = "boolean"
    runtime = "boolean"
    question_kind = "boolean"
    words = "true or false"

    def item_schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        return {"type": "boolean"}

    def item_problem(
        self, decl: FactDecl, value: Any, label: str, capabilities: Collection[str] = ()
    ) -> ValueProblem | None:
        if isinstance(value, bool):
            return None
        return ValueProblem("wrong-type", f"{label}: expected true or false, got {describe_value(value)}")

    def parse(self, decl: FactDecl, text: str, label: str) -> Scalar | ValueProblem:
        lowered = text.lower()
        if lowered not in ("true", "false", "yes", "no"):
            return ValueProblem("wrong-type", f"{label}: expected true or false, got '{text}'")
        return lowered in ("true", "yes")

    def values(self, decl: FactDecl, capabilities: Collection[str]) -> tuple[Scalar, ...]:
        return (False, True)

    def told_apart(self, decl: FactDecl, literals: Iterable[Scalar], other: bool = True) -> list[Scalar]:
        return [True, False]

    def hint(self, decl: FactDecl) -> str:
        return "[y/n/?]"

    def read_answer(self, decl: FactDecl, raw: str) -> Scalar:
        lowered = raw.lower()
        if lowered in YES_WORDS:
            return True
        if lowered in NO_WORDS:
            return False
        raise ValueError("answer y (yes), n (no) or ? (don't know)")


class Choice(FactType):
    name = "choice"
    question_kind = "choice"
    lists_values = True

    def domain(self, decl: FactDecl) -> str | None:
        return f"fact:{decl.id}"

    def item_schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        return {"enum": list(decl.values)}

    def item_problem(
        self, decl: FactDecl, value: Any, label: str, capabilities: Collection[str] = ()
    ) -> ValueProblem | None:
        if isinstance(value, str) and value in decl.values:
            return None
        if not isinstance(value, str):
            got = describe_value(value) if value is None or isinstance(value, bool) else brief(value)
            return ValueProblem("wrong-type", f"{decl.id}: expected one of {', '.join(decl.values)}, got {got}")
        hint = did_you_mean(value, decl.values) or f" (one of: {', '.join(decl.values)})"
        return ValueProblem("unknown-value", f"'{value}' is not a value of '{decl.id}'{hint}")

    def values(self, decl: FactDecl, capabilities: Collection[str]) -> tuple[Scalar, ...]:
        return decl.values

    def told_apart(self, decl: FactDecl, literals: Iterable[Scalar], other: bool = True) -> list[Scalar]:
        return list(decl.values)

    def answer_choices(self, decl: FactDecl) -> tuple[str, ...]:
        return decl.values

    def hint(self, decl: FactDecl) -> str:
        return "[" + "/".join(decl.values) + "/?]"

    def read_answer(self, decl: FactDecl, raw: str) -> Scalar:
        """A value by its name (any case), its number in the list, or the one value it begins."""
        lowered = raw.lower()
        for value in decl.values:
            if value.lower() == lowered:
                return value
        if raw.isdigit() and 1 <= int(raw) <= len(decl.values):
            return decl.values[int(raw) - 1]
        starting = [v for v in decl.values if v.lower().startswith(lowered)] if lowered else []
        if len(starting) == 1:
            return starting[0]
        choices = ", ".join(decl.values)
        raise ValueError(f"answer one of {choices} (or its number, or ?){did_you_mean(raw, decl.values)}")

    def default_problem(self, decl: FactDecl) -> str | None:
        default = decl.default
        if default is None or (isinstance(default, str) and default in decl.values):
            return None
        return f"default {default!r} is not one of its values: {listed(decl.values)}"


_CHOICE = Choice()


class Number(FactType):
    name = "number"
    runtime = "number"
    question_kind = "number"
    words = "a number"
    whole = False

    def bounds(self, decl: FactDecl) -> tuple[float, float]:
        """The lowest and highest value, as the declaration and the engine's range allow."""
        low = -NUMBER_LIMIT if decl.minimum is None else max(decl.minimum, -NUMBER_LIMIT)
        high = NUMBER_LIMIT if decl.maximum is None else min(decl.maximum, NUMBER_LIMIT)
        return low, high

    def answer_bounds(self, decl: FactDecl) -> tuple[float, float] | None:
        return self.bounds(decl)

    def item_schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        low, high = self.bounds(decl)
        return {"type": self.name, "minimum": low, "maximum": high}

    def item_problem(
        self, decl: FactDecl, value: Any, label: str, capabilities: Collection[str] = ()
    ) -> ValueProblem | None:
        if isinstance(value, bool) or not isinstance(value, int if self.whole else (int, float)):
            expected = "a whole number" if self.whole else "a number"
            return ValueProblem("wrong-type", f"{label}: expected {expected}, got {describe_value(value)}")
        low, high = self.bounds(decl)
        if value < low:
            return ValueProblem("bad-value", f"{label}: {value!r} is less than the minimum of {low!r}")
        if value > high:
            return ValueProblem("bad-value", f"{label}: {value!r} is greater than the maximum of {high!r}")
        if math.isnan(value):
            return ValueProblem("bad-value", f"{label}: not a number (nan)")
        return None

    def parse(self, decl: FactDecl, text: str, label: str) -> Scalar | ValueProblem:
        try:
            number = int(text) if self.whole else float(text)
        except ValueError:
            expected = "a whole number" if self.whole else "a number"
            return ValueProblem("wrong-type", f"{label}: expected {expected}, got '{text}'")
        problem = self.item_problem(decl, number, label)
        if problem is not None:
            return problem
        return normal_number(number)

    def told_apart(self, decl: FactDecl, literals: Iterable[Scalar], other: bool = True) -> list[Scalar]:
        numbers = sorted({float(v) for v in literals if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if not numbers:
            if not other:
                return []
            numbers = [0.0]
        low, high = self.bounds(decl)
        points = numbers
        if self.whole:  # a whole fact meets a fractional literal at the whole numbers on either side of it
            low, high = math.ceil(low), math.floor(high)
            points = sorted({float(math.floor(n)) for n in numbers} | {float(math.ceil(n)) for n in numbers})
        values = {*points, points[0] - 1, points[-1] + 1}
        for a, b in itertools.pairwise(points):
            if not self.whole:
                values.add(round((a + b) / 2, 6))
            elif b - a > 1:
                values.add(a + 1)
        # Held within the bounds: a stretch that reaches into them keeps a value there.
        return sorted({normal_number(min(max(v, low), high)) for v in values})

    def answer_words(self, decl: FactDecl) -> str:
        """'a whole number from 1 to 50': the bounds a declaration sets, not the engine's own range."""
        low, high = self.bounds(decl)
        shown = [show_value(normal_number(b)) for b in (low, high)]
        if low > -NUMBER_LIMIT and high < NUMBER_LIMIT:
            return f"{self.words} from {shown[0]} to {shown[1]}"
        if low > -NUMBER_LIMIT:
            return f"{self.words} of at least {shown[0]}"
        if high < NUMBER_LIMIT:
            return f"{self.words} of at most {shown[1]}"
        return self.words

    def read_answer(self, decl: FactDecl, raw: str) -> Scalar:
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"answer {self.words}, or ?") from None
        if not math.isfinite(number) or abs(number) > NUMBER_LIMIT:
            raise ValueError(f"answer a number between {-NUMBER_LIMIT} and {NUMBER_LIMIT}")
        low, high = self.bounds(decl)
        if not low <= number <= high:
            raise ValueError(f"answer {self.answer_words(decl)}, or ?")
        if self.whole:
            if not number.is_integer():
                raise ValueError(f"answer {self.words}, or ?")
            return int(number)
        return normal_number(number)


class Integer(Number):
    name = "integer"
    question_kind = "integer"
    words = "a whole number"
    whole = True


class Version(Number):
    """A version like 10.0.44, written as text and compared as the number 10000044."""

    name = "version"
    question_kind = "version"
    words = "a version like 10.0.44"
    whole = True
    grounded = True

    def domain(self, decl: FactDecl) -> str | None:
        return "version"

    def answer_bounds(self, decl: FactDecl) -> tuple[float, float] | None:
        return None  # a version is answered as text

    def item_schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        return {"type": "string", "pattern": VERSION_PATTERN}

    def item_problem(
        self, decl: FactDecl, value: Any, label: str, capabilities: Collection[str] = ()
    ) -> ValueProblem | None:
        if not isinstance(value, str):
            return ValueProblem("wrong-type", f"{label}: expected text, got {describe_value(value)}")
        if re.match(VERSION_PATTERN, value) is None or "\n" in value:
            return ValueProblem("bad-value", f"{label}: '{value}' is not a version like 10.0.44")
        return None

    def parse(self, decl: FactDecl, text: str, label: str) -> Scalar | ValueProblem:
        return FactType.parse(self, decl, text, label)

    def answer_words(self, decl: FactDecl) -> str:
        return self.words

    def read_answer(self, decl: FactDecl, raw: str) -> Scalar:
        if re.match(VERSION_PATTERN, raw) is None:
            raise ValueError(f"answer {self.words}, or ?")
        return raw

    def ground(self, value: Scalar) -> Scalar:
        if isinstance(value, str) and re.match(VERSION_PATTERN, value):
            return version_number(value)
        return value

    def told_apart(self, decl: FactDecl, literals: Iterable[Scalar], other: bool = True) -> list[Scalar]:
        numbers = [int(v) for v in super().told_apart(decl, literals, other) if isinstance(v, (int, float))]
        return [version_text(v) for v in numbers if v >= 0 and v // 1_000_000 <= 999]


class CapabilityList(FactType):
    """The capabilities something needs: a list of capability ids."""

    name = "capability-list"
    is_list = True
    question_kind = "yes-no"
    default_scope = "entity"  # what each legal entity needs

    def domain(self, decl: FactDecl) -> str | None:
        return "capability"

    def item_schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        return {"enum": list(capabilities)}

    def value_schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        return {"type": "array", "maxItems": MAX_LIST, "items": self.item_schema(decl, capabilities)}

    def item_problem(
        self, decl: FactDecl, value: Any, label: str, capabilities: Collection[str] = ()
    ) -> ValueProblem | None:
        if isinstance(value, str) and value in capabilities:
            return None
        if not isinstance(value, str):
            return ValueProblem("wrong-type", f"{decl.id}: expected a capability id, got {brief(value)}")
        return ValueProblem("unknown-capability", f"'{value}' is not a capability{did_you_mean(value, capabilities)}")

    def list_problem(self, value: Any, label: str) -> ValueProblem | None:
        if not isinstance(value, list):
            return ValueProblem("wrong-type", f"{label}: expected a list, got {describe_value(value)}")
        if len(value) > MAX_LIST:
            return ValueProblem("bad-value", f"{label}: {len(value)} items; at most {MAX_LIST}")
        return None

    def problems(
        self, decl: FactDecl, value: Any, label: str, capabilities: Collection[str] = ()
    ) -> list[ValueProblem]:
        whole = self.list_problem(value, label)
        if whole is not None:
            return [whole]
        found = []
        for i, item in enumerate(value):
            problem = self.item_problem(decl, item, f"{label}.{i}", capabilities)
            if problem is not None:
                found.append(ValueProblem(problem.code, problem.message, i))
        return found

    def values(self, decl: FactDecl, capabilities: Collection[str]) -> tuple[Scalar, ...]:
        return tuple(capabilities)

    def items(self, decl: FactDecl, capabilities: Collection[str]) -> tuple[str, ...]:
        return tuple(capabilities)

    def told_apart(self, decl: FactDecl, literals: Iterable[Scalar], other: bool = True) -> list[Scalar]:
        return [True, False]  # an item is on the list or not

    def default_problem(self, decl: FactDecl) -> str | None:
        if decl.default is None:
            return None
        return f"default {decl.default!r}: a {self.name} fact takes no default"


class ChoiceList(CapabilityList):
    """Some of a fact's declared values: a list of them."""

    name = "choice-list"
    lists_values = True
    default_scope = "customer"

    def domain(self, decl: FactDecl) -> str | None:
        return f"fact:{decl.id}"

    def item_schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        return _CHOICE.item_schema(decl, capabilities)

    def item_problem(
        self, decl: FactDecl, value: Any, label: str, capabilities: Collection[str] = ()
    ) -> ValueProblem | None:
        return _CHOICE.item_problem(decl, value, label, capabilities)

    def values(self, decl: FactDecl, capabilities: Collection[str]) -> tuple[Scalar, ...]:
        return decl.values

    def items(self, decl: FactDecl, capabilities: Collection[str]) -> tuple[str, ...]:
        return decl.values


FACT_TYPES: dict[str, FactType] = {
    kind.name: kind
    for kind in (_CHOICE, Boolean(), Number(), Integer(), Version(), Text(), CapabilityList(), ChoiceList())
}


# One item of a list fact (a capability, a choice) is asked as a question of its own and answered yes or no.
YES_NO = FACT_TYPES["boolean"]


def fact_type(decl: FactDecl) -> FactType:
    """The type of a declared fact (the policy schema allows no other `type:` than these)."""
    return FACT_TYPES[decl.type]
