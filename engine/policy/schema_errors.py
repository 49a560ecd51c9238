"""A policy file against its JSON Schema: the validator's errors, one per mistake, in a consultant's words."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from ..errors import Problem, choices_hint, closest
from ..io import shipped
from ..io.loader import Document
from ..model.terms import describe_value


@functools.cache
def policy_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file, as shipped."""
    text = shipped.read_text(shipped.SCHEMAS, "policy.schema.json")
    schema: dict[str, Any] = json.loads(text)
    return schema



def schema_problems(doc: Document, schema: dict[str, Any]) -> list[Problem]:
    """Every JSON Schema error in doc, located at its YAML node, best first within a location."""
    return [schema_problem(doc, error) for error in schema_errors(doc, schema)]


def schema_errors(doc: Document, schema: dict[str, Any]) -> list[Any]:
    import jsonschema  # imported here: only validation pays for it

    validator = jsonschema.Draft202012Validator(schema)
    return list(validator.iter_errors(doc.value))


def one_line_per_typo(errors: list[Any]) -> list[Any]:
    """The errors to report: a misspelt required key ('valeus') is one mistake, said by the unknown key with its
    'did you mean', not a second time by the key it leaves missing."""
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


def schema_problem(doc: Document, error: Any) -> Problem:
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
