"""Records (engine/records.py): frozen dataclasses to the type checker, light slotted ones at run time."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from podeploy.engine.errors import Location, Problem
from podeploy.engine.model.terms import Fact, make_fact
from podeploy.engine.records import record

ROOT = Path(__file__).resolve().parent.parent


@record
class Pair:
    left: str
    right: int = 0


@record(order=True)
class Ranked:
    rank: int
    name: str


def test_a_record_is_a_slotted_dataclass_equal_and_hashed_by_value() -> None:
    assert dataclasses.is_dataclass(Pair)
    assert Pair.__slots__ == ("left", "right")
    assert Pair("a", 1) == Pair("a", 1) != Pair("a", 2)
    assert hash(Pair("a", 1)) == hash(Pair("a", 1))
    assert {Pair("a", 1): "x"}[Pair("a", 1)] == "x"
    assert repr(Pair("a")) == "Pair(left='a', right=0)"
    assert dataclasses.replace(Pair("a", 1), right=5) == Pair("a", 5)


def test_order_is_by_fields_when_asked() -> None:
    assert sorted([Ranked(2, "b"), Ranked(1, "z"), Ranked(2, "a")]) == [Ranked(1, "z"), Ranked(2, "a"), Ranked(2, "b")]
    with pytest.raises(TypeError):
        assert Pair("a") < Pair("b")  # type: ignore[operator]


@record
class Noted:
    value: int
    note: str = dataclasses.field(default="", compare=False)


def test_fields_left_out_of_comparison_are_left_out_of_equality_and_hash() -> None:
    assert Noted(1, "a") == Noted(1, "b")
    assert hash(Noted(1, "a")) == hash(Noted(1, "b"))
    assert Noted(1) != Noted(2)


def test_records_of_different_classes_are_never_equal() -> None:
    @record
    class Other:
        left: str
        right: int = 0

    assert Pair("a", 1) != Other("a", 1)
    assert Pair("a", 1) != ("a", 1)
    assert Pair("a", 1).__eq__(("a", 1)) is NotImplemented


def test_a_record_compares_its_fields_it_does_not_define_its_own_equality() -> None:
    with pytest.raises(TypeError, match="defines __eq__"):
        @record
        class Odd:
            x: int

            def __eq__(self, other: object) -> bool:
                return True

            __hash__ = None  # type: ignore[assignment]


def test_a_record_without_fields_equals_its_kind() -> None:
    @record
    class Empty:
        pass

    assert Empty() == Empty()
    assert hash(Empty()) == hash(Empty())
    assert repr(Empty()) == "test_a_record_without_fields_equals_its_kind.<locals>.Empty()"


def test_a_record_with_its_own_hash_keeps_it() -> None:
    fact = make_fact("region", {"entity": "A", "value": "eu"})
    assert Fact.__hash__ is not object.__hash__
    assert hash(fact) == fact._hash  # computed once, when made


def test_records_pickle_and_come_back_equal() -> None:
    for value in (Location("a.yaml", 3, 4), Problem("code", "message", Location("b.yaml")), Pair("a", 2)):
        assert pickle.loads(pickle.dumps(value)) == value


def test_the_type_checker_refuses_to_assign_to_a_record(tmp_path: Path) -> None:
    """Immutability is the type checker's: mypy --strict (run on podeploy in CI) rejects every assignment."""
    package = tmp_path / "podeploy"
    package.mkdir()
    for source in (ROOT / "src" / "podeploy").glob("*.py"):
        (package / source.name).symlink_to(source)
    for folder in ("engine", "cli"):
        (package / folder).symlink_to(ROOT / folder)
    (tmp_path / "check.py").write_text(
        "from podeploy.engine.errors import Location\n"
        "from podeploy.engine.model.terms import make_fact\n"
        "location = Location('a.yaml', 1, 1)\n"
        "location.line = 2\n"
        "fact = make_fact('x', {'a': 1})\n"
        "fact.predicate = 'y'\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", "check.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={"MYPYPATH": str(tmp_path), "PATH": ""},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert [line.split(": error: ")[1] for line in done.stdout.splitlines() if ": error: " in line] == [
        'Property "line" defined in "Location" is read-only  [misc]',
        'Property "predicate" defined in "Fact" is read-only  [misc]',
    ]


@record(order=True)
class One:
    value: object


def test_a_one_field_record_compares_as_the_tuple_of_its_field() -> None:
    nan = One(float("nan"))
    assert nan == nan  # tuples compare items by identity first, as dataclass's comparisons do
    assert hash(One(1)) == hash((1,)) != hash(1)
    assert One(None) <= One(None)
    assert sorted([One(2), One(1)]) == [One(1), One(2)]
