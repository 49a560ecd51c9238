"""The hand check that keeps jsonschema off a good facts file's path accepts only what the schema accepts."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podeploy.engine import load_knowledge_base
from podeploy.engine.facts.schema import conforms, facts_schema
from podeploy.engine.policy.layers import pack_path

KB = load_knowledge_base([pack_path("2025-update")])
VALIDATOR = jsonschema.Draft202012Validator(facts_schema(KB))

names = st.sampled_from(["customer", "legal_entities", "name", *KB.facts, "requirments", "x"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**10), 10**10),
    st.floats(allow_nan=False),
    st.sampled_from(["", " ", "Contoso", "receipt-ocr", "small", "lite", "united-kingdom", "10.0.44", "10.0"]),
    st.text(max_size=5),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3), max_leaves=8
)
documents = st.dictionaries(names, values, max_size=6)


def plausible() -> st.SearchStrategy[dict[str, Any]]:
    capability = st.sampled_from([*KB.capabilities, "recipt-ocr", 1])
    entity = st.fixed_dictionaries(
        {"name": st.sampled_from(["A", "B", " ", ""])},
        optional={"requirements": st.lists(capability, max_size=3), "region": st.sampled_from(["japan", "mars"])},
    )
    return st.fixed_dictionaries(
        {"customer": st.sampled_from(["Contoso", "", "  "])},
        optional={
            "requirements": st.lists(capability, max_size=4),
            "budget": st.sampled_from(["small", "tiny", None, 3]),
            "plans_finance": st.sampled_from([True, False, "yes", 1]),
            "finance_version": st.sampled_from(["10.0.44", "10", "ten", 10.0]),
            "legal_entities": st.lists(entity, max_size=3),
        },
    )


@pytest.mark.slow
@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.one_of(documents, plausible()))
def test_what_the_hand_check_accepts_the_schema_accepts(document: dict[str, Any]) -> None:
    if conforms(KB, document):
        assert list(VALIDATOR.iter_errors(document)) == []


@settings(max_examples=200, deadline=None, derandomize=True)
@given(plausible())
def test_the_hand_check_accepts_plain_good_files(document: dict[str, Any]) -> None:
    if not list(VALIDATOR.iter_errors(document)) and all(
        isinstance(v, int) is False or isinstance(v, bool) for v in document.values()
    ):
        assert conforms(KB, document), document
