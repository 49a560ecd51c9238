"""The names durable-rules sees: never a policy's own, so that its 32-bit property hashes cannot merge two fields.

durable-rules finds a fact's property by the FNV-1a hash of its name alone (fnv1Hash32 in state.c).
Two field names with one hash became one property: with fields `aa2pda` and `aajvlo` (as p_aa2pda and
p_aajvlo they collide) the engine recommended `lite` where the reference evaluator said
`resource-non-stocked`. The engine now sees p0, p1, ... beside its own id, sid and k.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from podeploy.cli.main import cli
from podeploy.engine.evaluation import rete
from podeploy.engine.evaluation.rete import FIXED_PROPERTIES, property_hash

pytestmark = pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")

COLLIDING = """\
policy: pairs
description: Two fields whose engine names once collided.
predicates:
  - id: pair
    description: A pair of marks on a legal entity.
    fields:
      entity: {type: string, domain: entity}
      aa2pda: {type: string}
      aajvlo: {type: string}
rules:
  - id: mark-the-pair
    description: Marks every entity that tracks time.
    source: a test of the engine's property names
    when:
      - requirements: {entity: $entity, value: time-tracking}
    then:
      - pair: {entity: $entity, aa2pda: "yes", aajvlo: "no"}
    explanation: "{entity} is marked."
  - id: a-marked-pair-rules-out-lite
    description: A marked entity does not take Lite.
    source: a test of the engine's property names
    when:
      - pair: {entity: $entity, aa2pda: "yes", aajvlo: "no"}
    then:
      - excluded: {entity: $entity, type: lite}
    explanation: "{entity} is marked."
"""


def test_the_names_that_once_collided_do() -> None:
    assert property_hash("p_aa2pda") == property_hash("p_aajvlo")


def test_two_fields_whose_old_engine_names_collide_stay_apart(tmp_path: Path) -> None:
    (tmp_path / "pairs.yaml").write_text(COLLIDING)
    facts = json.dumps({"customer": "Fabrikam", "requirements": ["time-tracking"]})
    answers = {}
    command = ["evaluate", "-", "--format", "json", "--as-of", "2023-11", "--policies", str(tmp_path)]
    for engine in ("durable", "reference"):
        result = CliRunner().invoke(cli, [*command, "--engine", engine], input=facts)
        assert result.exit_code == 0, result.stderr
        answers[engine] = json.loads(result.stdout)["deployments"]
    assert answers == {"durable": ["resource-non-stocked"], "reference": ["resource-non-stocked"]}


def test_the_engine_names_hash_apart_for_any_knowledge_base_of_up_to_twenty_thousand_field_names() -> None:
    names = [*FIXED_PROPERTIES, *(f"p{i}" for i in range(20_000))]
    assert len({property_hash(n) for n in names}) == len(names)


def test_a_hash_reads_bytes_as_signed_chars_as_the_engine_does() -> None:
    # state.c XORs each (signed) char into the hash: a byte past 127 counts as negative.
    assert property_hash("é") != property_hash("\u00e9".encode().decode("latin-1"))
    assert property_hash("k") == ((2166136261 ^ ord("k")) * 16777619) & 0xFFFFFFFF
