"""durable-rules' hard limits, checked on the compiled ruleset before it is registered.

Past these limits the C extension reports a bare error code, hangs forever or
crashes the process. The checks below rebuild the alpha network the engine
would build (one node per test, in order; literal tests shared between
patterns, join tests never shared) and turn each limit into a located message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput, Location, Problem

MAX_ACTIONS = 4096  # rules per ruleset (rete.c): error 106
MAX_FRAMES = 16  # positive patterns per rule (MAX_MESSAGE_FRAMES): error 304 at assert
MAX_SEQUENCE = 31  # expression entries per pattern (MAX_SEQUENCE_EXPRESSIONS 32): error 113
MAX_CHILDREN = 511  # children of one alpha node (NEXT_BUCKET_LENGTH 512): hangs at 512
MAX_SHARED_CHAIN = 255  # patterns ending on one alpha node (BETA_LIST_LENGTH): crashes at 256
MAX_STACK = 64  # tests one fact can pass on the way down (MAX_STACK_SIZE): error 303 at assert

_OPERATORS = {"$neq", "$lt", "$lte", "$gt", "$gte", "$ex", "$nex"}


# How much matching one evaluation may do: facts matched by the conditions of every rule, counted
# over all joins. A rule joining five of an entity's needs matches the product of their counts; a
# customer of 1,000 legal entities on the shipped knowledge matches about 600,000 (its limit: 5 million).
WORK_BASE = 100_000
WORK_PER_FACT = 1_000


def work_budget(given: int) -> int:
    """The matching an evaluation of `given` facts may do: it grows with the customer, not its square."""
    return WORK_BASE + WORK_PER_FACT * given


class Work:
    """The matching left to an evaluation."""

    __slots__ = ("budget", "left")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.left = budget


class TooMuchWork(BadInput):
    """A rule whose joins match more combinations of one customer's facts than an evaluation may try."""


def too_much_work(rule: Any, conditions: int, budget: int) -> TooMuchWork:
    return TooMuchWork(
        [
            Problem(
                "too-much-matching",
                f"rule '{rule.id}' joins {conditions} conditions and with this customer's facts they match more"
                f" than {budget:,} combinations, the limit of one evaluation (it grows with the facts given);"
                " join fewer conditions, or bind them to one another",
                rule.location,
            )
        ]
    )


class EngineLimit(BadInput):
    """A policy shape durable-rules cannot run."""

    def __init__(self, message: str, location: Location) -> None:
        super().__init__([Problem("engine-limit", message, location)])


@dataclass(slots=True)
class _Node:
    owner: str
    children: dict[Any, _Node] = field(default_factory=dict)
    ending: int = 0

    def passing(self) -> int:
        """How many children one fact can pass: equality tests on one property exclude each other."""
        equal_props = {key[1] for key in self.children if key[0] == "eq"}
        others = sum(1 for key in self.children if key[0] != "eq")
        return len(equal_props) + others


def _literal(value: Any) -> Any:
    # 1, 1.0, True and "1" are different tests to the engine: keep them apart in the key.
    return (type(value).__name__, value) if isinstance(value, (str, int, float, bool)) else json.dumps(value)


def _test_key(test: dict[str, Any], unique: Callable[[], int]) -> tuple[Any, ...]:
    ((name, value),) = test.items()
    if name in _OPERATORS:
        ((prop, operand),) = value.items()
        if isinstance(operand, dict):
            return ("join", unique())
        return (name, prop, _literal(operand))
    if isinstance(value, dict):
        return ("join", unique())
    return ("eq", name, _literal(value))


def check_limits(kb: Any, definition: dict[str, Any]) -> None:
    """Raise BadInput naming the rule when the compiled ruleset would crash, hang or fail in durable-rules."""
    problems: list[Problem] = []

    def where(rule_name: str) -> Location:
        if rule_name.startswith("c"):
            position = int(rule_name[1:].split("v")[0])
            location: Location = kb.clauses[position].rule.location
            return location
        return Location("<engine>")

    def rule_id(rule_name: str) -> str:
        if rule_name.startswith("c"):
            return str(kb.clauses[int(rule_name[1:].split("v")[0])].rule.id)
        return rule_name

    if len(definition) > MAX_ACTIONS:
        name = list(definition)[MAX_ACTIONS]
        problems.append(
            Problem(
                "engine-limit",
                f"the knowledge base compiles to {len(definition)} engine rules; "
                f"durable-rules takes at most {MAX_ACTIONS}",
                where(name),
            )
        )
    counter = iter(range(1, 1 << 62))
    root = _Node("")
    for name, rule in definition.items():
        patterns = rule["all"]
        positives = [p for p in patterns if not next(iter(p)).endswith("$not")]
        if len(positives) > MAX_FRAMES:
            problems.append(
                Problem(
                    "engine-limit",
                    f"rule '{rule_id(name)}' matches {len(positives) - 1} facts at "
                    f"once; durable-rules takes at most {MAX_FRAMES - 1}: split the rule",
                    where(name),
                )
            )
        for pattern in patterns:
            ((_, expression),) = pattern.items()
            tests = expression.get("$and", [expression])
            joins = sum(1 for t in tests if _test_key(t, lambda: 0)[0] == "join")
            if 2 + joins > MAX_SEQUENCE:
                problems.append(
                    Problem(
                        "engine-limit",
                        f"rule '{rule_id(name)}' compares {joins} variables in one "
                        f"condition; durable-rules takes at most {MAX_SEQUENCE - 2}",
                        where(name),
                    )
                )
            node = root
            for test in tests:
                key = _test_key(test, lambda: next(counter))
                if key not in node.children:
                    node.children[key] = _Node(name)
                node = node.children[key]
            node.ending += 1
    _walk(root, 0, problems, where, rule_id)
    if problems:
        raise BadInput(problems)


def _walk(
    node: _Node, above: int, problems: list[Problem], where: Callable[[str], Location], rule_id: Callable[[str], str]
) -> None:
    reported = {(p.code, p.message) for p in problems}

    def add(message: str, owner: str) -> None:
        if ("engine-limit", message) not in reported:
            reported.add(("engine-limit", message))
            problems.append(Problem("engine-limit", message, where(owner)))

    stack: list[tuple[_Node, int]] = [(node, above)]
    while stack:
        current, depth = stack.pop()
        if current.ending > MAX_SHARED_CHAIN:
            add(
                f"{current.ending} conditions test exactly the same thing as rule '{rule_id(current.owner)}'; "
                f"durable-rules takes at most {MAX_SHARED_CHAIN}: make some of them more specific",
                current.owner,
            )
        if len(current.children) > MAX_CHILDREN:
            owner = next(iter(current.children.values())).owner
            add(
                f"{len(current.children)} different tests follow one another at the same point as in rule "
                f"'{rule_id(owner)}'; durable-rules takes at most {MAX_CHILDREN}",
                owner,
            )
        passing = current.passing()
        if depth + passing > MAX_STACK:
            owner = next(iter(current.children.values())).owner
            add(
                f"a fact can pass {depth + passing} tests at once on the way to rule '{rule_id(owner)}'; "
                f"durable-rules takes at most {MAX_STACK}: too many rules compare the same kind of fact "
                "with variables",
                owner,
            )
            continue
        for child in current.children.values():
            stack.append((child, depth + max(passing - 1, 0)))
