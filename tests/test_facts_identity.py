"""Facts are hashed once and ordered by a cached text: both must behave exactly as before they were cached."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from podeploy.engine.model.terms import Fact, compact_json, make_fact

SCALARS = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text())


@settings(max_examples=500, deadline=None)
@given(st.text(), st.lists(st.tuples(st.text(), SCALARS), max_size=4))
def test_the_ordering_text_is_json_dumps_character_for_character(
    predicate: str, values: list[tuple[str, object]]
) -> None:
    expected = json.dumps([predicate, values], separators=(",", ":"), ensure_ascii=False)
    assert compact_json(predicate, tuple(values)) == expected  # type: ignore[arg-type]


def test_a_fact_key_is_its_json_and_stays_the_same() -> None:
    fact = make_fact("needs", {"entity": 'Contoso "UK"', "capability": "receipt-ocr", "size": 2.5, "ok": True})
    assert fact.key == '["needs",[["capability","receipt-ocr"],["entity","Contoso \\"UK\\""],["ok",true],["size",2.5]]]'
    assert fact.key is fact.key


def test_equal_facts_hash_alike_whatever_their_origin() -> None:
    a = make_fact("region", {"entity": "A", "value": "eu"})
    b = Fact(a.predicate, a.values, origin=None)
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert make_fact("region", {"entity": "A", "value": "us"}) != a


def test_a_fact_pickled_by_another_process_hashes_as_one_made_here() -> None:
    """String hashes differ from process to process: a cached hash must not travel in a pickle."""
    code = (
        "import pickle, sys\n"
        "from podeploy.engine.model.terms import make_fact\n"
        "sys.stdout.buffer.write(pickle.dumps(make_fact('offers', {'type': 'lite', 'capability': 'time'})))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    data = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60, check=True).stdout
    there = pickle.loads(data)
    here = make_fact("offers", {"type": "lite", "capability": "time"})
    assert there == here
    assert hash(there) == hash(here)
    assert {here: "found"}[there] == "found"
