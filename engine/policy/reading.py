"""Policy files: read, validate against the JSON Schema, and turn into model objects."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput, Location, Problem, choices_hint, closest, listed
from ..io import shipped
from ..io.loader import Document, control_problems, load_document
from ..model.terms import (
    ASK_WHEN_IT_MATTERS,
    OPERATORS,
    VERSION_PATTERN,
    Atom,
    Capability,
    Clause,
    Code,
    Conclusion,
    Count,
    DeploymentType,
    Disable,
    FactDecl,
    FieldDecl,
    FieldPattern,
    NextStep,
    Offer,
    Operand,
    Predicate,
    Rename,
    Rule,
    SourceEntry,
    Test,
    Var,
    describe_value,
    explanation_parts,
    normal_number,
)

MAX_CLAUSES = 64


@functools.cache
def policy_schema() -> dict[str, Any]:
    text = shipped.read_text(shipped.SCHEMAS, "policy.schema.json")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(slots=True)
class PolicyFile:
    """The model objects one policy file declares."""

    name: str
    path: str
    layer: str
    description: str
    location: Location
    as_of: str | None = None
    edition: str | None = None
    deployment_types: list[DeploymentType] = field(default_factory=list)
    capabilities: list[Capability] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    facts: list[FactDecl] = field(default_factory=list)
    predicates: list[Predicate] = field(default_factory=list)
    codes: list[Code] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    disables: list[Disable] = field(default_factory=list)
    renames: list[Rename] = field(default_factory=list)
    next_steps: list[NextStep] = field(default_factory=list)
    sources: list[SourceEntry] = field(default_factory=list)


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


@dataclass(slots=True)
class Unbuilt:
    """Names that policy files declare in declarations left out for their problems.

    A reference to one of them is not reported again: the declaration's own problem is the one to fix.
    """

    ids: dict[str, set[str]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)  # kinds with a declaration whose name is unreadable
    everything: bool = False  # a file that could not be read at all may declare anything
    # The ids as a reference may spell them: an id refused for its capitals ('Field_Service') is still
    # the one a rule's 'field_service' means.
    keys: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, name: object) -> None:
        if isinstance(name, str):
            self.ids.setdefault(kind, set()).add(name)
            self.keys.setdefault(kind, set()).add(_key(name))
        else:
            self.unknown.add(kind)

    def merge(self, other: Unbuilt) -> None:
        for kind, names in other.ids.items():
            self.ids.setdefault(kind, set()).update(names)
        for kind, names in other.keys.items():
            self.keys.setdefault(kind, set()).update(names)
        self.unknown |= other.unknown
        self.everything = self.everything or other.everything

    def covers(self, kind: str, name: str) -> bool:
        """Might a left-out declaration be what a reference to `name` means?"""
        return self.everything or kind in self.unknown or _key(name) in self.keys.get(kind, ())


def _key(name: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


def schema_problems(doc: Document, schema: dict[str, Any]) -> list[Problem]:
    """Every JSON Schema error in doc, located at its YAML node, best first within a location."""
    return [_schema_problem(doc, error) for error in _schema_errors(doc, schema)]


def _schema_errors(doc: Document, schema: dict[str, Any]) -> list[Any]:
    import jsonschema  # imported here: only validation pays for it

    validator = jsonschema.Draft202012Validator(schema)
    return list(validator.iter_errors(doc.value))


def _one_line_per_typo(errors: list[Any]) -> list[Any]:
    """The errors to report: a misspelt required key ('valeus') is one mistake, said by the unknown key with its
    'did you mean', not a second time by the key it leaves missing."""
    from ..errors import closest

    misspelt: set[tuple[tuple[Any, ...], str]] = set()
    for error in errors:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for key in set(error.instance) - set(allowed):
                meant = closest(str(key), allowed)
                if meant is not None:
                    misspelt.add((tuple(error.absolute_path), meant))

    def missing(error: Any) -> str:
        return str(error.message).split("'")[1] if "'" in str(error.message) else ""

    return [
        e for e in errors if not (e.validator == "required" and (tuple(e.absolute_path), missing(e)) in misspelt)
    ]


def _deepest(error: Any) -> Any:
    """The error to report for an anyOf or oneOf that nothing matched: the one alternative the value was meant for.

    An alternative of another type is not meant (a mapping is no literal); of the rest, the one that
    matched furthest into the value is. When that leaves no single alternative, the error itself.
    """
    import jsonschema

    while error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        meant = [subs for subs in branches.values() if not any(_other_type(s) for s in subs)]
        if not meant:
            break
        depth = max(max(len(s.relative_path) for s in subs) for subs in meant)
        deepest = [subs for subs in meant if max(len(s.relative_path) for s in subs) == depth]
        if len(deepest) != 1:
            break
        error = max(deepest[0], key=jsonschema.exceptions.relevance)
    return error


def _other_type(error: Any) -> bool:
    """Does this error say the value is of another type than its schema wants, in every alternative?"""
    if error.relative_path:
        return False
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        return all(any(_other_type(s) for s in subs) for subs in branches.values())
    return bool(error.validator == "type")


def _schema_problem(doc: Document, error: Any) -> Problem:
    import jsonschema

    meant = _deepest(error)
    error = _deepest(jsonschema.exceptions.best_match([error])) if meant is error else meant
    path = tuple(error.absolute_path)
    validator = error.validator
    keys = _alternative_keys(error)
    if keys is not None:  # a mapping that needs one (anyOf: at least one) of these keys
        where = ".".join(str(p) for p in path) or "document"
        given = [k for k in keys if k in error.instance]
        if given:  # a oneOf that more than one alternative matched
            message = f"{where}: give only one of: {', '.join(keys)}"
            return Problem("conflicting-keys", message, doc.where((*path, given[-1]), key=True))
        wanted = "at least one of" if validator == "anyOf" else "one of"
        return Problem("missing-key", f"{where}: needs {wanted}: {', '.join(keys)}", doc.where(path))
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        if extra:
            key = extra[0]
            hint = choices_hint(key, allowed, "allowed") if allowed else ""
            return Problem("unknown-key", f"'{key}' is not allowed here{hint}", doc.where((*path, key), key=True))
    if validator == "required":
        return Problem("missing-key", error.message.replace("is a required property", "is required"), doc.where(path))
    if validator in (
        "type",
        "pattern",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "oneOf",
        "anyOf",
        "not",
        *_COUNTS,
    ):
        code = "wrong-type" if validator in ("type", "oneOf", "anyOf", "not") else "bad-value"
        return Problem(code, _describe(error, path), doc.where(path))
    return Problem("schema", _describe(error, path), doc.where(path))


def _alternative_keys(error: Any) -> list[str] | None:
    """The keys of an anyOf or oneOf whose every alternative requires a key of a mapping; None for any other error."""
    alternatives = error.validator_value
    if error.validator not in ("anyOf", "oneOf") or not isinstance(error.instance, dict):
        return None
    if not isinstance(alternatives, list) or not all(_requires_only(a) for a in alternatives):
        return None
    return [key for a in alternatives for key in a["required"]]


def _requires_only(schema: Any) -> bool:
    return isinstance(schema, dict) and set(schema) == {"required"}


_ID = "^[a-z][a-z0-9]*([_-][a-z0-9]+)*"
# What the schema's patterns ask, in words (each without its closing anchor).
_PATTERNS = {
    _ID: "lower-case letters and digits, starting with a letter, words joined by '-' or '_'",
    "^\\$[a-z_][a-z0-9_]*": "a variable: '$' then lower-case letters, digits or '_' (e.g. '$entity')",
    "^[0-9]{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?": "a date like 2026-08 or 2026-08-21",
    "^[a-z0-9][a-z0-9._-]*": "lower-case letters, digits, '.', '-' or '_', starting with a letter or digit",
    "\\S": "text that is not blank",  # unanchored: anywhere in the text
}
_TYPES = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping of keys to values",
    "null": "nothing",
}


def _pattern_words(pattern: str) -> str | None:
    for anchor in ("(?![\\s\\S])", "\\Z", "$"):
        if pattern.endswith(anchor):
            return _PATTERNS.get(pattern[: -len(anchor)])
    return _PATTERNS.get(pattern)


def _id_like(text: str) -> str:
    """The id closest to text ('Field Service' -> 'field-service', 'Field_Service' -> 'field_service'), or ''."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    while words and not words[0][0].isalpha():
        words[0] = words[0].lstrip("0123456789")
        if not words[0]:
            words.pop(0)
    return ("_" if "_" in text and "-" not in text else "-").join(words)


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) and len(value) <= 80 else "this value"


def _describe(error: Any, path: tuple[Any, ...]) -> str:
    where = ".".join(str(p) for p in path) or "document"
    message = error.message
    if error.validator == "pattern" and isinstance(error.validator_value, str):
        wanted = _pattern_words(error.validator_value)
        if wanted is not None:
            message = f"{_shown(error.instance)} must be {wanted}"
            if error.validator_value.startswith(_ID) and isinstance(error.instance, str):
                example = _id_like(error.instance)[:64].rstrip("-_")
                message += f" (e.g. '{example if example and example != error.instance else 'field-service'}')"
    elif error.validator == "enum" and isinstance(error.validator_value, list):
        choices = [str(c) for c in error.validator_value]
        shown = _shown(error.instance) if isinstance(error.instance, str) else repr(error.instance)
        message = f"{shown} is not a choice here{choices_hint(str(error.instance), choices, 'the choices')}"
    elif error.validator == "type" and isinstance(error.validator_value, str) and error.validator_value in _TYPES:
        message = f"expected {_TYPES[error.validator_value]}, got {describe_value(error.instance)}"
    elif error.validator in ("anyOf", "oneOf") and _other_type(error):
        kinds = [_TYPES[t] for t in dict.fromkeys(_types_wanted(error)) if t in _TYPES]
        if kinds:
            kinds = [k.replace("true or false", "true/false") for k in kinds] if len(kinds) > 1 else kinds
            either = ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else kinds[0]
            message = f"expected {either}, got {describe_value(error.instance)}"
    elif error.validator in _COUNTS and isinstance(error.validator_value, int):
        message = _COUNTS[error.validator](error.validator_value)
    if len(message) > 300:
        message = message[:300] + "..."
    return f"{where}: {message}"


_COUNTS = {
    "minItems": lambda n: f"needs at least {n} item{'s' if n != 1 else ''}",
    "maxItems": lambda n: f"holds at most {n} item{'s' if n != 1 else ''}",
    "minProperties": lambda n: f"needs at least {n} key{'s' if n != 1 else ''}",
    "maxProperties": lambda n: f"holds at most {n} key{'s' if n != 1 else ''}",
}


def _types_wanted(error: Any) -> list[str]:
    """The types the alternatives of an anyOf or oneOf want, in their order."""
    if error.validator == "type":
        wanted = error.validator_value
        return [wanted] if isinstance(wanted, str) else list(wanted)
    return [t for sub in error.context or () if not sub.relative_path for t in _types_wanted(sub)]


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
    errors = _schema_errors(doc, policy_schema())
    shown = _one_line_per_typo(errors)
    problems = [_schema_problem(doc, error) for error in shown] + control_problems(doc, allowed="\n\t")
    if not isinstance(doc.value, dict):
        return None, problems, Unbuilt(everything=True)
    unbuilt = Unbuilt()
    left_out = _left_out(doc.value, errors, unbuilt)
    if left_out is None:
        return None, problems, Unbuilt(everything=True)
    builder = _PolicyBuilder(doc, layer, left_out, unbuilt)
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


class _PolicyBuilder:
    def __init__(
        self, doc: Document, layer: str, left_out: dict[str, set[int] | None], unbuilt: Unbuilt
    ) -> None:
        self.doc = doc
        self.layer = layer
        self.left_out = left_out
        self.unbuilt = unbuilt
        self.problems: list[Problem] = []

    def items(self, section: str) -> list[tuple[int, Any]]:
        """The section's items that passed the schema, with their indexes."""
        left = self.left_out.get(section, set())
        if left is None:
            return []
        return [(i, item) for i, item in enumerate(self.doc.value.get(section, [])) if i not in left]

    def top(self, key: str) -> Any:
        """A top-level text, or None where it is missing or failed the schema."""
        value = self.doc.value.get(key)
        return value if isinstance(value, str) and key not in self.left_out else None

    def at(self, *path: str | int) -> Location:
        return self.doc.where(path)

    def build(self) -> PolicyFile:
        policy = PolicyFile(
            self.top("policy") or "", self.doc.name, self.layer, self.top("description") or "", self.at("policy")
        )
        policy.as_of, policy.edition = self.top("as_of"), self.top("edition")
        for i, t in self.items("deployment_types"):
            policy.deployment_types.append(
                DeploymentType(
                    t["id"],
                    t["name"],
                    t["rank"],
                    t.get("finance", False),
                    t.get("description"),
                    t["source"],
                    self.at("deployment_types", i),
                )
            )
        for i, c in self.items("capabilities"):
            policy.capabilities.append(
                Capability(c["id"], c["name"], c.get("description"), c.get("source"), self.at("capabilities", i))
            )
        for i, o in self.items("offers"):
            policy.offers.append(
                Offer(
                    o["type"],
                    tuple(o["capabilities"]),
                    o.get("description"),
                    o["source"],
                    o.get("assumption"),
                    self.at("offers", i),
                    _listed(o.get("supersedes")),
                )
            )
        for i, f in self.items("facts"):
            policy.facts.append(self._fact(f, i))
        for i, p in self.items("predicates"):
            fields = {
                name: FieldDecl(d["type"], d.get("domain"), d.get("optional", False)) for name, d in p["fields"].items()
            }
            for name in fields:
                if name in OPERATORS:
                    self.problems.append(
                        Problem(
                            "reserved-name",
                            f"'{name}' is an operator and cannot name a field",
                            self.doc.where(("predicates", i, "fields", name), key=True),
                        )
                    )
            policy.predicates.append(
                Predicate(p["id"], p["description"], fields, p.get("role"), True, self.at("predicates", i))
            )
        for i, c in self.items("codes"):
            policy.codes.append(Code(c["id"], c["kind"], c["description"], self.at("codes", i), c.get("fit", False)))
        for i, d in self.items("disables"):
            policy.disables.append(Disable(d["rule"], d["reason"], self.at("disables", i), self.layer))
        for i, n in self.items("renames"):
            policy.renames.append(Rename(n["type"], n["name"], n["since"], n["source"], self.at("renames", i)))
        for i, n in self.items("next_steps"):
            policy.next_steps.append(
                NextStep(
                    n["type"], n["step"], n["source"], self.at("next_steps", i), self.layer, n.get("caution", False)
                )
            )
        for i, n in self.items("sources"):
            policy.sources.append(
                SourceEntry(
                    n["id"],
                    n["title"],
                    n.get("publisher"),
                    n.get("date"),
                    n.get("url"),
                    tuple(sorted(n.get("sections", {}).items())),
                    self.at("sources", i),
                )
            )
        for i, r in self.items("rules"):
            rule = self._rule(r, i, policy.name)
            if rule is not None:
                policy.rules.append(rule)
        return policy

    def _fact(self, f: dict[str, Any], i: int) -> FactDecl:
        loc = self.at("facts", i)
        kind = f["type"]
        values = tuple(f.get("values", ()))
        if values and kind not in ("choice", "choice-list"):
            self.problems.append(Problem("bad-value", f"fact '{f['id']}': only choice facts list values", loc))
        default = f.get("default")
        if default is not None and not _default_fits(kind, values, default):
            message = f"fact '{f['id']}': {_default_problem(kind, values, default)}"
            self.problems.append(Problem("bad-value", message, self.at("facts", i, "default")))
        scope = f.get("scope", "customer")
        if kind == "capability-list" and "scope" not in f:
            scope = "entity"
        labels = f.get("labels", {})
        for value in labels:
            if value not in values:
                self.problems.append(
                    Problem(
                        "bad-value",
                        f"fact '{f['id']}': a label for '{value}', which is not one of its values",
                        self.doc.where(("facts", i, "labels", value), key=True),
                    )
                )
        return FactDecl(
            f["id"],
            kind,
            values,
            default,
            scope,
            " ".join(f["description"].split()),
            " ".join(f["question"].split()),
            f.get("source"),
            f.get("minimum"),
            f.get("maximum"),
            loc,
            f.get("overrides"),
            self.layer,
            tuple(labels.items()),
            f.get("ask", ASK_WHEN_IT_MATTERS),
        )

    def _rule(self, r: dict[str, Any], i: int, policy: str) -> Rule | None:
        base = ("rules", i)
        try:
            branches = self._conditions(r["when"], (*base, "when"))
        except _TooManyBranches:
            self.unbuilt.add("rule", r["id"])
            self.problems.append(
                Problem(
                    "too-many-branches",
                    f"rule '{r['id']}': 'any' spreads into more than {MAX_CLAUSES} cases",
                    self.at(*base, "when"),
                )
            )
            return None
        clauses = tuple(_clause(branch) for branch in branches)
        conclusions = tuple(self._conclusion(c, (*base, "then", j)) for j, c in enumerate(r["then"]))
        if explanation_parts(r["explanation"]) is None:
            self.problems.append(
                Problem(
                    "bad-explanation",
                    f"rule '{r['id']}': a '{{' or '}}' without its pair in the explanation; write {{{{ or }}}} for a"
                    " literal brace, {variable} for a value",
                    self.at(*base, "explanation"),
                )
            )
        return Rule(
            r["id"],
            r["description"].strip(),
            r.get("source"),
            r.get("assumption"),
            " ".join(r["explanation"].split()),
            clauses,
            conclusions,
            self.at(*base),
            policy,
            self.layer,
            i,
            r.get("overrides"),
            _listed(r.get("supersedes")),
        )

    def _conditions(self, items: list[Any], path: tuple[str | int, ...]) -> list[list[Any]]:
        """Spread a list of conditions (an implicit 'all') into its clauses, each a list of literals."""
        branches: list[list[Any]] = [[]]
        for j, item in enumerate(items):
            here = (*path, j)
            options = self._condition(item, here)
            branches = [b + o for b in branches for o in options]
            if len(branches) > MAX_CLAUSES:
                raise _TooManyBranches
        return branches

    def _condition(self, item: dict[str, Any], path: tuple[str | int, ...]) -> list[list[Any]]:
        if "not" in item:
            return [[("not", self._atom(item["not"], (*path, "not")))]]
        if "any" in item:
            options: list[list[Any]] = []
            for j, sub in enumerate(item["any"]):
                options.extend(self._condition(sub, (*path, "any", j)))
            return options
        if "all" in item:
            return self._conditions(item["all"], (*path, "all"))
        if "count" in item:
            atom = self._atom(item["count"], (*path, "count"))
            var = Var(item["as"][1:])
            return [[("count", Count(atom, var, self.at(*path)))]]
        return [[("pos", self._atom(item, path))]]

    def _atom(self, item: dict[str, Any], path: tuple[str | int, ...]) -> Atom:
        ((predicate, body),) = item.items()
        loc = self.doc.where((*path, predicate), key=True)
        if not isinstance(body, dict) or _is_test(body):
            body = {"value": body}
            pattern_path: tuple[str | int, ...] = (*path, predicate)
            fields: tuple[FieldPattern, ...] = (self._field("value", body["value"], pattern_path),)
        else:
            fields = tuple(self._field(name, value, (*path, predicate, name)) for name, value in body.items())
        return Atom(predicate, fields, loc)

    def _field(self, name: str, value: Any, path: tuple[str | int, ...]) -> FieldPattern:
        loc = self.doc.where(path)
        if isinstance(value, dict):
            tests: list[Test] = []
            bind: Var | None = None
            for op, operand in value.items():
                if op == "as":
                    bind = Var(operand[1:])
                elif op in ("in", "not_in"):
                    tests.append(Test(op, tuple(operand)))
                else:
                    tests.append(Test(op, _operand(operand)))
            return FieldPattern(name, bind, tuple(tests), loc)
        operand = _operand(value)
        if isinstance(operand, Var):
            return FieldPattern(name, operand, (), loc)
        return FieldPattern(name, None, (Test("eq", operand),), loc)

    def _conclusion(self, item: dict[str, Any], path: tuple[str | int, ...]) -> Conclusion:
        ((predicate, body),) = item.items()
        values = tuple((name, _operand(v)) for name, v in body.items())
        return Conclusion(predicate, values, self.doc.where((*path, predicate), key=True))


class _TooManyBranches(Exception):
    pass


def _listed(value: str | list[str] | None) -> tuple[str, ...]:
    """A key that takes one string or a list of them, as a tuple."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _is_test(body: dict[str, Any]) -> bool:
    return bool(body) and all(k in OPERATORS for k in body)


def _operand(value: Any) -> Operand:
    if isinstance(value, str) and value.startswith("$"):
        return Var(value[1:])
    assert isinstance(value, (str, int, float, bool))
    return normal_number(value)


def _clause(literals: list[tuple[str, Any]]) -> Clause:
    return Clause(
        tuple(a for kind, a in literals if kind == "pos"),
        tuple(a for kind, a in literals if kind == "not"),
        tuple(a for kind, a in literals if kind == "count"),
    )


_KIND_WORDS = {
    "boolean": "true or false",
    "number": "a number",
    "integer": "a number",
    "version": "a version like 10.0.44",
    "text": "text",
}


def _default_problem(kind: str, values: tuple[str, ...], default: Any) -> str:
    if kind == "choice":
        return f"default {default!r} is not one of its values: {listed(values)}"
    if kind in _KIND_WORDS:
        return f"default {default!r} is not {_KIND_WORDS[kind]}, as a {kind} fact's default must be"
    return f"default {default!r}: a {kind} fact takes no default"


def _default_fits(kind: str, values: tuple[str, ...], default: Any) -> bool:
    if kind == "choice":
        return isinstance(default, str) and default in values
    if kind == "boolean":
        return isinstance(default, bool)
    if kind in ("number", "integer"):
        return isinstance(default, (int, float)) and not isinstance(default, bool)
    if kind == "version":
        return isinstance(default, str) and re.match(VERSION_PATTERN, default) is not None
    if kind == "text":
        return isinstance(default, str)
    return False
