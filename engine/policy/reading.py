"""Policy files: read, checked against the JSON Schema, and built, but for the declarations with problems."""

from __future__ import annotations

from typing import Any

from ..errors import BadInput, Location, Problem, closest
from ..io.loader import Document, control_problems, load_document
from .building import PolicyBuilder, PolicyFile, Unbuilt
from .schema_errors import one_line_per_typo, policy_schema, schema_errors, schema_problem

# Top-level keys of a facts file that no policy file has: such a file in a policy folder is a facts file.
FACTS_FILE_KEYS = ("customer", "legal_entities", "requirements", "unknown", "workshop")
# What each list of a policy file declares, by the kind of name other declarations refer to it by.
SECTION_KINDS: dict[str, tuple[str, ...]] = {
    "deployment_types": ("deployment-type",),
    "capabilities": ("capability",),
    "facts": ("fact", "predicate"),
    "predicates": ("predicate",),
    "codes": ("code",),
    "rules": ("rule",),
    "offers": (),
    "disables": (),
    "renames": (),
    "next_steps": (),
    "sources": ("source",),
}


def read_policy_file(path: str, layer: str, display: str | None = None) -> tuple[PolicyFile | None, list[Problem]]:
    """Load and schema-check one policy file; its model objects, but for the declarations with problems."""
    policy, problems, _ = read_policy(path, layer, display)
    return policy, problems


def read_policy(path: str, layer: str, display: str | None = None) -> tuple[PolicyFile | None, list[Problem], Unbuilt]:
    """Load and schema-check one policy file: its model objects, its problems, and the names it leaves out.

    A declaration (a rule, a fact, ...) that fails the schema is left out and the rest of the file is
    built, so that the knowledge base can check it too; the names of what was left out come back
    in the Unbuilt, so that what refers to them is not reported as well. No file: none could be read.
    """
    try:
        doc = load_document(path)
    except BadInput as exc:
        return None, exc.problems, Unbuilt(everything=True)
    if display:
        doc = _renamed(doc, display)
    if doc.value is None:
        return None, [Problem("empty", "policy file is empty", Location(doc.name, 1, 1))], Unbuilt()
    facts_file = _facts_file(doc)
    if facts_file is not None:
        return None, [facts_file], Unbuilt()
    errors = schema_errors(doc, policy_schema())
    shown = one_line_per_typo(errors)
    problems = [schema_problem(doc, error) for error in shown] + control_problems(doc, allowed="\n\t")
    if not isinstance(doc.value, dict):
        return None, problems, Unbuilt(everything=True)
    unbuilt = Unbuilt()
    left_out = _left_out(doc.value, errors, unbuilt)
    if left_out is None:
        return None, problems, Unbuilt(everything=True)
    builder = PolicyBuilder(doc, layer, left_out, unbuilt)
    return builder.build(), problems + builder.problems, unbuilt


def _facts_file(doc: Document) -> Problem | None:
    """The problem of a facts file among the policies, said as such; None for anything else."""
    value = doc.value
    if not isinstance(value, dict) or "policy" in value or not any(key in value for key in FACTS_FILE_KEYS):
        return None
    base = doc.name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if base.endswith((".yaml", ".yml")) else base
    return Problem(
        "missing-key",
        f"'policy' is required: this looks like a facts file; name it '{stem}.facts.yaml' and policy folders"
        " leave it out",
        doc.where(()),
    )


# Top-level keys whose value the builder can do without when it fails the schema.
_LENIENT = ("policy", "description", "as_of", "edition")


def _left_out(value: dict[str, Any], errors: list[Any], unbuilt: Unbuilt) -> dict[str, set[int] | None] | None:
    """Which list items (None: the whole list) of each section fail the schema; None when the file's shape does.

    The names they declare go into unbuilt.
    """
    left: dict[str, set[int] | None] = {}
    for error in errors:
        path = tuple(error.absolute_path)
        if not path:
            if error.validator == "required":
                continue
            if error.validator != "additionalProperties":
                return None
            for key in set(value) - set(SECTION_KINDS) - set(_LENIENT):
                # A misspelt section ('rule:') declares what it holds: names it may hold are not reported.
                section = closest(str(key), SECTION_KINDS)
                if section is not None:
                    unbuilt.unknown.update(SECTION_KINDS[section])
            continue
        section = path[0]
        if section in _LENIENT:
            left[str(section)] = None  # the builder does without it
            continue
        if section not in SECTION_KINDS:  # pragma: no cover - the schema allows no other key
            return None
        kinds = SECTION_KINDS[str(section)]
        items = value[section]
        if len(path) == 1 or not isinstance(items, list):
            left[str(section)] = None
            unbuilt.unknown.update(kinds)
            continue
        index = path[1]
        indexes = left.setdefault(str(section), set())
        if indexes is not None and isinstance(index, int):
            indexes.add(index)
            item = items[index]
            for kind in kinds:
                unbuilt.add(kind, item.get("id") if isinstance(item, dict) else None)
    return left


def _renamed(doc: Document, name: str) -> Document:
    def move(loc: Location) -> Location:
        return Location(name, loc.line, loc.column)

    return Document(
        name,
        doc.value,
        {k: move(v) for k, v in doc.marks.items()},
        {k: move(v) for k, v in doc.key_marks.items()},
    )
