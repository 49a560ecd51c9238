"""The policy layers a facts file needs: the ones it names (`packs:`, `policies:`), and, when a fact is
unknown, the layer that declares it.

A consultant's layer declares facts of its own (`intercompany`); a facts file that uses them means nothing
without the layer. The file may name it, so that a colleague evaluates the file as it was sent:

    customer: Contoso
    packs: [docs-2026-08]
    policies: [../contoso-layer]      # relative to the facts file's folder

Without it, an unknown fact's message says which layer nearby, or which shipped knowledge left out by
--as-of, declares it, and how to load it.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeGuard

from ..errors import BadInput, Problem, did_you_mean, visible
from ..io.loader import Document

LAYER_KEYS = ("packs", "policies")
MAX_NAMED = 50  # layers a facts file may name
MAX_PATH = 1000

# Where an unknown fact's declaration is looked for: the facts file's folder and its parent, two
# folders deep, at most this many small YAML files (the search runs only when a fact is unknown).
_SEARCH_DEPTH = 2
_SEARCH_FILES = 400
_SEARCH_BYTES = 512 * 1024


def layers_schema() -> dict[str, Any]:
    """The facts schema's `packs` and `policies` properties."""
    item = {"type": "string", "minLength": 1, "maxLength": MAX_PATH, "pattern": r"\S"}
    return {
        "packs": {
            "type": "array",
            "maxItems": MAX_NAMED,
            "items": item,
            "description": "Policy packs or knowledge editions shipped with podeploy that this file needs, as "
            "--pack names them.",
        },
        "policies": {
            "type": "array",
            "maxItems": MAX_NAMED,
            "items": item,
            "description": "Policy folders or files this file needs, relative to the file's folder; loaded as "
            "--policies loads them, before the command line's own.",
        },
    }


def layers_ok(value: Any) -> TypeGuard[list[str]]:
    """A hand check of layers_schema's properties, strictly narrower than it."""
    return (
        isinstance(value, list)
        and len(value) <= MAX_NAMED
        and all(isinstance(v, str) and 0 < len(v) <= MAX_PATH and not v.isspace() for v in value)
    )


def _folder_of(doc: Document) -> str:
    if doc.name in ("-", "<stdin>") or doc.name.startswith("<"):
        return os.getcwd()
    return os.path.dirname(os.path.abspath(doc.name))


def named_layers(doc: Document) -> list[str]:
    """The folders the document names under `packs:` and `policies:`, in that order, checked.

    A pack that podeploy does not ship, or a folder that does not exist, is a located problem of the facts
    file. A value of the wrong shape is left to the facts schema (reported with the rest of the file).
    """
    value = doc.value
    if not isinstance(value, dict):
        return []
    from ..policy.layers import pack_names, pack_path

    found: list[str] = []
    problems: list[Problem] = []
    packs = value.get("packs")
    if layers_ok(packs):
        names = pack_names()
        for i, name in enumerate(packs):
            if name not in names:
                problems.append(
                    Problem(
                        "unknown-pack",
                        f"no pack named '{visible(name)}'{did_you_mean(name, names)} (packs: {', '.join(names)})",
                        doc.where(("packs", i)),
                    )
                )
            else:
                found.append(pack_path(name))
    folder = _folder_of(doc)
    policies = value.get("policies")
    if layers_ok(policies):
        for i, path in enumerate(policies):
            if os.path.isabs(path):
                problems.append(
                    Problem(
                        "bad-value",
                        f"'{visible(path)}' is an absolute path; name the layer relative to this file's folder, "
                        "so that the file and its layer travel together",
                        doc.where(("policies", i)),
                    )
                )
                continue
            full = os.path.normpath(os.path.join(folder, path))
            if not os.path.exists(full):
                near = _near(full, path)
                problems.append(
                    Problem(
                        "not-found",
                        f"no policy folder or file '{visible(path)}' beside this file (looked for {visible(full)})"
                        + near,
                        doc.where(("policies", i)),
                    )
                )
                continue
            found.append(os.path.relpath(full))  # shown in traces as --policies would show it
    if problems:
        raise BadInput(problems)
    return found


def _near(full: str, written: str) -> str:
    """' (did you mean ...?)' for a missing folder whose name is close to one beside it."""
    parent = os.path.dirname(full)
    try:
        names = sorted(entry.name for entry in os.scandir(parent) if not entry.name.startswith("."))[:500]
    except OSError:
        return ""
    hint = did_you_mean(os.path.basename(full), names)
    if not hint:
        return ""
    head = os.path.dirname(written.rstrip("/"))
    close = hint.split("'")[1]
    return f" (did you mean '{visible(os.path.join(head, close) if head else close)}'?)"


def with_named_layers(layers: Sequence[str], doc: Document) -> list[str]:
    """The command's layers with the document's own: its packs after the command's packs and editions, its
    policy folders before the command's --policies (so that the command line has the last word)."""
    named = named_layers(doc)
    if not named:
        return list(layers)
    shipped_root = _shipped_root()
    cut = 0
    for i, layer in enumerate(layers):  # the command's shipped layers (editions, packs) come first
        if os.path.realpath(layer).startswith(shipped_root + os.sep):
            cut = i + 1
    ordered = [*layers[:cut], *named, *layers[cut:]]
    out: list[str] = []
    seen: set[str] = set()
    for layer in ordered:
        real = os.path.realpath(layer)
        if real not in seen:
            seen.add(real)
            out.append(layer)
    return out


def _shipped_root() -> str:
    from ..io import shipped

    return shipped.folder(shipped.POLICIES)


# --- where an unknown fact is declared -------------------------------------------------------------


def declared_in(fact_id: str, doc: Document, loaded: Iterable[str]) -> str:
    """A hint for an unknown fact: ' (declared by ...: load it with ...)', or '' when no layer known here
    declares it. `loaded` are the paths of the policy files already loaded."""
    loaded_real = {os.path.realpath(p) for p in loaded}
    from ..policy.layers import editions

    for name, dated, path in editions():
        if any(os.path.realpath(p) not in loaded_real for p in _declarations(path).get(fact_id, ())):
            return (
                f" (podeploy's knowledge of {dated}, '{name}', declares it: leave out --as-of, or add --pack {name}"
                f" or 'packs: [{name}]' to the facts file)"
            )
    if doc.name.startswith("<") or doc.name == "-":
        return ""
    here = os.path.dirname(os.path.abspath(doc.name))
    layers: list[str] = []  # the folders (or, beside the facts file, the files) that declare it
    for root in dict.fromkeys((here, os.path.dirname(here))):
        for path in _declarations(root).get(fact_id, ()):
            layer = os.path.dirname(path)
            layer = path if os.path.relpath(layer, here) == "." else layer
            if os.path.realpath(path) not in loaded_real and layer not in layers:
                layers.append(layer)
    if not layers:
        return ""
    shown = [visible(os.path.relpath(layer, here)) for layer in layers[:3]]
    from_cwd = visible(os.path.relpath(layers[0]))
    value = doc.value if isinstance(doc.value, dict) else {}
    named = value.get("policies") if layers_ok(value.get("policies")) else []
    if any(os.path.realpath(os.path.join(here, n)) == os.path.realpath(layers[0]) for n in named or ()):
        return (
            f" (the policy layer in '{shown[0]}', which this facts file names, declares it; this command loads only "
            f"the layers its command line names: add --policies {from_cwd})"
        )
    if len(shown) == 1:
        return (
            f" (the policy layer in '{shown[0]}' declares it: load it with --policies {from_cwd}, or add "
            f"'policies: [{shown[0]}]' to the facts file)"
        )
    listed = ", ".join(f"'{s}'" for s in shown[:-1]) + f" and '{shown[-1]}'"
    return (
        f" (the policy layers in {listed} declare it: load the one you mean with --policies, or name it under "
        "'policies:' in the facts file)"
    )


@functools.lru_cache(maxsize=64)
def _declarations(root: str) -> dict[str, tuple[str, ...]]:
    """fact id -> the policy files below root (two folders deep, bounded) whose `facts:` declare it."""
    from ..policy.layers import NOT_POLICIES

    found: dict[str, list[str]] = {}
    budget = _SEARCH_FILES
    base_depth = root.rstrip(os.sep).count(os.sep)
    for base, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("node_modules", "__pycache__"))
        if base.count(os.sep) - base_depth >= _SEARCH_DEPTH:
            dirs[:] = []
        for name in sorted(names):
            if not name.endswith((".yaml", ".yml")) or name.endswith(NOT_POLICIES):
                continue
            budget -= 1
            if budget < 0:
                return {k: tuple(v) for k, v in found.items()}
            path = os.path.join(base, name)
            for fact_id in _facts_declared(path):
                found.setdefault(fact_id, []).append(path)
    return {k: tuple(v) for k, v in found.items()}


def _facts_declared(path: str) -> list[str]:
    """The fact ids a policy file declares, read cheaply: the file's `facts:` section, parsed only when the
    text has one."""
    try:
        if os.path.getsize(path) > _SEARCH_BYTES:
            return []
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return []
    if not re.search(r"^policy:", text, re.MULTILINE) or not re.search(r"^facts:", text, re.MULTILINE):
        return []
    from ..io.loader import parse_document

    try:
        value = parse_document(text, path).value
    except BadInput:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("facts"), list):
        return []
    return [d["id"] for d in value["facts"] if isinstance(d, dict) and isinstance(d.get("id"), str)]


def load_for_facts(layers: Sequence[str], path: str) -> tuple[Any, Document]:
    """Read the facts file at path, then the knowledge base of `layers` and the layers the file names.

    Returns (KnowledgeBase, Document); the document is validated against that knowledge base by
    facts.read_facts.
    """
    from ..io.loader import load_document
    from ..policy.loading import load_knowledge_base

    doc = load_document(path)
    return load_knowledge_base(with_named_layers(layers, doc)), doc
