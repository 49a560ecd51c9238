"""Scaffolds a new policy file and its test file, both passing validate and test as created; lint names each
text the scaffold leaves for the author to write (`scaffold-text`)."""

from __future__ import annotations

import json
import os
import re

from ..errors import BadInput, Location, Problem
from ..records import record

NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"

POLICY = """\
# yaml-language-server: $schema=policy.schema.json
policy: {name}
description: What the {name} policy adds to the knowledge base (say it in one or two sentences).

facts:
  - id: {fact}
    type: boolean
    default: false
    description: Whether {name} applies to the customer.
    question: Does {name} apply to this customer?

codes:
  - id: {name}-applies
    kind: note
    description: The customer said {name} applies.

rules:
  - id: {name}-applies
    description: Tell the consultant when {name} applies to a customer.
    source: the document and section this rule relies on
    when:
      - {fact}: true
      - entity: {{name: $entity}}
    then:
      - note: {{code: {name}-applies, entity: $entity}}
    explanation: "{{entity}}: {name} applies; say here what the customer should do about it."
"""

TESTS = """\
# yaml-language-server: $schema=policy-test.schema.json
description: Cases for the {name} policy; run them with 'podeploy test {folder}'.
cases:
  - name: the note appears when {name} applies
    facts:
      customer: Example
      {fact}: true
    fires: [{name}-applies]
  - name: nothing is said when {name} does not apply
    facts:
      customer: Example
    does_not_fire: [{name}-applies]
"""


@record
class Scaffold:
    policy: str
    tests: str
    schemas: tuple[str, ...]


def new_policy(name: str, directory: str) -> Scaffold:
    """Write NAME.yaml and NAME.test.yaml in directory (and the schemas editors use), never overwriting."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise BadInput(
            [Problem("bad-value", f"'{name}' is not a policy name: use lower-case words joined by '-'", Location(name))]
        )
    policy_path = os.path.join(directory, f"{name}.yaml")
    tests_path = os.path.join(directory, f"{name}.test.yaml")
    existing = [p for p in (policy_path, tests_path) if os.path.exists(p)]
    if existing:
        raise BadInput(
            [Problem("exists", "already exists; choose another name or remove it", Location(p)) for p in existing]
        )
    if os.path.exists(directory) and not os.path.isdir(directory):
        message = "is a file, not a folder; give --dir a folder"
        raise BadInput([Problem("not-a-directory", message, Location(directory))])
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise BadInput([Problem("unwritable", exc.strerror or str(exc), Location(directory))]) from None
    fact = name.replace("-", "_")
    values = {"name": name, "fact": fact, "folder": directory}
    _write_new(policy_path, POLICY.format(**values))
    _write_new(tests_path, TESTS.format(**values))
    schemas = []
    from ..policy.schema_errors import policy_schema
    from .policytest.reading import test_schema

    for file_name, schema in (("policy.schema.json", policy_schema()), ("policy-test.schema.json", test_schema())):
        path = os.path.join(directory, file_name)
        if not os.path.exists(path):
            _write_new(path, json.dumps(schema, indent=2) + "\n")
            schemas.append(path)
    return Scaffold(policy_path, tests_path, tuple(schemas))


def _write_new(path: str, text: str) -> None:
    """Create path with text, failing rather than replacing a file that appeared meanwhile."""
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        message = "already exists; choose another name or remove it"
        raise BadInput([Problem("exists", message, Location(path))]) from None
    except OSError as exc:
        raise BadInput([Problem("unwritable", exc.strerror or str(exc), Location(path))]) from None
