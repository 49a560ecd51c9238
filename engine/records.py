"""`record`: podeploy's immutable value classes (facts, rules, locations, decisions, ...).

To the type checker a record is a frozen dataclass: mypy --strict, run in CI, rejects any
assignment to a field of one. At run time it is a slotted dataclass with value equality and a
hash, without frozen's generated `__setattr__` and `__delattr__` and with one `__repr__` shared by
all: Python 3.11 compiles every generated method of every class on each start, and these cost
about 4 ms of every start of the command (measured with benchmarks/run.py, section a).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, dataclass_transform, overload

C = TypeVar("C", bound=type)


def _repr(self: Any) -> str:
    """The dataclass repr, shared by every record rather than compiled for each class."""
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
    return f"{type(self).__qualname__}({shown})"


@overload
def record(cls: C, /) -> C: ...
@overload
def record(*, order: bool = False) -> Callable[[C], C]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: Any = None, /, *, order: bool = False) -> Any:
    def make(c: Any) -> Any:
        # A class with its own __hash__ keeps it; the others hash their fields, as frozen ones do.
        own_repr = "__repr__" in c.__dict__
        made = dataclass(c, slots=True, order=order, repr=False, unsafe_hash="__hash__" not in c.__dict__)
        if not own_repr:
            made.__repr__ = _repr
        return made

    return make if cls is None else make(cls)
