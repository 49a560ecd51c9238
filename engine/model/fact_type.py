"""What every type of fact answers, and the problem a value can have: the base of `fact_types`.

The eight declared types (`fact_types`) each override what their values mean; what a type does not
override is a text fact's behaviour.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from ..records import record
from .terms import FactDecl, Scalar, describe_value

# The engine layer keeps numbers within +-1e9 with six decimals (see evaluation.patterns.encode).
NUMBER_LIMIT = 10**9
MAX_TEXT = 200  # characters of a text fact
MAX_LIST = 500  # items of a list fact (and of an `unknown:` list)
# What an answer to a yes/no question may be (`ask`, an answers file's capability keys, the web workshop).
YES_WORDS = ("y", "yes", "true", "1")
NO_WORDS = ("n", "no", "false", "0")


@record
class ValueProblem:
    """What is wrong with a value of a fact: a problem code and a message; `index` is the list item it is about."""

    code: str
    message: str
    index: int | None = None


def brief(value: Any) -> str:
    """A value in a message about a choice or capability: as Python writes it, a huge number in words."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "a number of more than 30 digits"
    return repr(value)


class FactType:
    """One type of fact (`type:` of a fact declaration). Each method takes the declaration it is asked about.

    What is not overridden is a text fact's behaviour: text is what a value is unless its type says more.
    """

    name = ""
    runtime = "string"  # the type of the value field rules match: string | number | boolean
    question_kind = "text"  # how `ask` asks a scalar fact (a list fact is asked item by item, yes or no)
    is_list = False
    # Whether the value rules see differs from the value written (a version is compared as a number).
    grounded = False
    words = "text"  # what a value is, for a default that is not one
    lists_values = False  # the declaration lists the values (`values:`)
    default_scope = "customer"  # where a declaration without `scope:` holds

    def domain(self, decl: FactDecl) -> str | None:
        """What the value field's strings name, for the rules' checks (FieldDecl.domain)."""
        return None

    def item_schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}

    def schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        """The JSON Schema of the fact's value in a facts file."""
        text = f"{decl.description} Question: {decl.question}"
        return {**self.value_schema(decl, capabilities), "description": text}

    def value_schema(self, decl: FactDecl, capabilities: Collection[str]) -> dict[str, Any]:
        """The schema of the whole value: one item's, or a list of them."""
        return self.item_schema(decl, capabilities)

    def item_problem(
        self, decl: FactDecl, value: Any, label: str, capabilities: Collection[str] = ()
    ) -> ValueProblem | None:
        """What is wrong with one value (one item of a list fact); None when it fits. `label` names its place."""
        if not isinstance(value, str):
            return ValueProblem("wrong-type", f"{label}: expected text, got {describe_value(value)}")
        if not value:
            return ValueProblem("bad-value", f"{label}: must not be empty")
        if len(value) > MAX_TEXT:
            return ValueProblem("bad-value", f"{label}: longer than {MAX_TEXT} characters")
        return None

    def list_problem(self, value: Any, label: str) -> ValueProblem | None:
        """What is wrong with a list fact's list as a whole (not its items); None for a scalar fact."""
        return None

    def problems(
        self, decl: FactDecl, value: Any, label: str, capabilities: Collection[str] = ()
    ) -> list[ValueProblem]:
        """What is wrong with a fact's whole value (for a list, the list and each of its items)."""
        problem = self.item_problem(decl, value, label, capabilities)
        return [] if problem is None else [problem]

    def fits(self, decl: FactDecl, value: Any, capabilities: Collection[str] = ()) -> bool:
        return not self.problems(decl, value, decl.id, capabilities)

    def parse(self, decl: FactDecl, text: str, label: str) -> Scalar | ValueProblem:
        """A value typed as text (`what-if --set FACT=VALUE`): the value, or what is wrong with it."""
        problem = self.item_problem(decl, text, label)
        return text if problem is None else problem

    def ground(self, value: Scalar) -> Scalar:
        """The value as rules see it."""
        return value

    def values(self, decl: FactDecl, capabilities: Collection[str]) -> tuple[Scalar, ...] | None:
        """Every value (every item, for a list fact) the fact can take; None when they are not few."""
        return None

    def items(self, decl: FactDecl, capabilities: Collection[str]) -> tuple[str, ...]:
        """The items a list fact may hold (each is asked, and answered yes or no); none for a scalar fact."""
        return ()

    def answer_bounds(self, decl: FactDecl) -> tuple[float, float] | None:
        """The lowest and highest number an answer to the fact's question may be; None for no number."""
        return None

    def told_apart(self, decl: FactDecl, literals: Iterable[Scalar], other: bool = True) -> list[Scalar]:
        """Values standing for every way the rules' tests with these literals can treat the fact.

        A fact with a few values: each of them. A text: each literal tested and, with `other`, one text none
        of them is. A number or a version: the literals cut the line into stretches in which every test comes
        out the same; each literal, a value inside each stretch between two of them, one below and one above
        them all, held within the fact's bounds, cover every outcome. With no literal tested, one value
        stands for them all (the rules may still compare it with other facts), or none without `other`.
        The analysis's dimensions and what-if's candidate changes both take their values from here.
        """
        texts = sorted({v for v in literals if isinstance(v, str)})
        if not other:
            return list(texts)
        invented = "other"
        while invented in texts:
            invented += "+"
        return [*texts, invented]

    # -- answering the fact's question (`ask`, an answers file, the web workshop) --

    def answer_words(self, decl: FactDecl) -> str:
        """What an answer is, for the hint after the question and the refusal of a wrong one."""
        return "text"

    def answer_choices(self, decl: FactDecl) -> tuple[str, ...]:
        """The answers offered one by one (a button or a number each); none where the answer is typed."""
        return ()

    def hint(self, decl: FactDecl) -> str:
        """The answers the question takes, shown after it: '[a whole number from 1 to 50, or ?]'."""
        return f"[{self.answer_words(decl)}, or ?]"

    def read_answer(self, decl: FactDecl, raw: str) -> Scalar:
        """A typed answer (stripped, and not "don't know"): the value, or ValueError saying what to answer."""
        if not raw or len(raw) > MAX_TEXT:
            raise ValueError(f"answer some text (at most {MAX_TEXT} characters), or ?")
        return raw

    def default_problem(self, decl: FactDecl) -> str | None:
        """What is wrong with the declaration's default; None when it is one of the fact's values."""
        default = decl.default
        problem = None if default is None else self.item_problem(decl, default, "default")
        if problem is None:
            return None
        if problem.code == "wrong-type":
            article = "an" if self.name[0] in "aeiou" else "a"
            return f"default {default!r} is not {self.words}, as {article} {self.name} fact's default must be"
        return problem.message  # of the right kind, but not a value the fact can hold
