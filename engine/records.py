"""`record`: podeploy's immutable value classes (facts, rules, locations, decisions, ...).

To the type checker a record is a frozen dataclass: mypy --strict, run in CI, rejects any
assignment to a field of one. At run time it is a slotted dataclass with value equality and a
hash, without frozen's generated `__setattr__` and `__delattr__`: Python 3.11 compiles two more
functions per class for them, about 4 ms of every start of the command (measured with
benchmarks/run.py, section a), a tenth of what podeploy adds to the libraries it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, dataclass_transform, overload

C = TypeVar("C", bound=type)


@overload
def record(cls: C, /) -> C: ...
@overload
def record(*, order: bool = False) -> Callable[[C], C]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: Any = None, /, *, order: bool = False) -> Any:
    def make(c: Any) -> Any:
        # A class with its own __hash__ keeps it; the others hash their fields, as frozen ones do.
        return dataclass(c, slots=True, order=order, unsafe_hash="__hash__" not in c.__dict__)

    return make if cls is None else make(cls)
