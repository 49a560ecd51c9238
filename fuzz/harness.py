"""Fuzzing podeploy's input handling: the strategies, the outcome contract and the runners.

Shared by `tests/test_fuzz.py` (a fixed, derandomized budget) and `fuzz/run.py` (a larger one
from the command line). Eight strategies draw inputs:

- `raw_bytes`: arbitrary bytes, sometimes behind a byte-order mark or a valid first line;
- `yaml_documents`: nested structures drawn by Hypothesis and written with `yaml.safe_dump`;
- `yaml_text`: raw text made of YAML's syntax characters, indicators, tags and directives;
- `mutated_facts`: a shipped example (`examples/*.yaml`, `*.json`) after one to four mutations
  (drop, duplicate or rename a key, change a value's type, swap two values, insert a capability,
  drop or repeat a list item, add a key or a legal entity);
- `mutated_policies`: a policy layer after the same mutations, loaded with `--policies`: a copy of
  the shipped documentation edition over the built-ins alone (`--as-of 2023-11`), or a built-in
  policy file's rules turned into `overrides:` over the shipped knowledge;
- `field_names`: a layer whose facts, predicate and fields are named by drawn ids, often a group whose
  durable-rules property hashes collide, with rules that copy the facts into the fields and test them,
  and a facts file that sets the facts (the result is compared with the reference evaluator's);
- `control_characters`: C0, DEL, C1, escape sequences, invisible and bidirectional characters in
  customer, entity and requirement names and in a layer's texts, raw or as YAML and JSON escapes;
  none may reach standard output or error raw;
- `non_regular_files`: a pipe, a folder, a symbolic link (dangling, looping, to a folder, a pipe or a
  file), /dev/null, a socket or an empty file as the facts file, the --policies path or an entry of its
  folder, a batch input or an entry of a batch folder, a JSON-lines input, or the --output or --out;
  each case a real process, whose pipes are fed or drained, and after which no file was replaced,
  written through or left behind.

The contract (README, "Exit status and errors"): exit 0 with a result, or exit 2 with nothing on
standard output and every standard-error line `file:line:column: code: message`. A traceback, a
crash, a hang, exit 1 or any other status breaks it.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted([*(ROOT / "examples").glob("*.yaml"), *(ROOT / "examples").glob("*.json")])
BUILTIN_POLICIES = sorted(p for p in (ROOT / "policies").glob("*.yaml") if not p.name.endswith(".test.yaml"))
EDITION = ROOT / "policies" / "editions" / "docs-2026-08"

# One problem line: a file, its line and column, a code and a message (README, "Exit status and errors").
LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>[1-9]\d*):(?P<column>[1-9]\d*): (?P<code>[a-z][a-z0-9-]*): \S.*$")
# What podeploy may say on standard error with exit 0: only that it fell back to the reference evaluator.
FALLBACK = re.compile(r"^podeploy: durable-rules cannot be imported on Python [\d.]+; using the reference evaluator$")


class ContractBroken(AssertionError):
    """An outcome the contract does not allow: the input that caused it is in the message."""

    def __init__(self, message: str, case: Case | None = None, stderr: str = "") -> None:
        super().__init__(message if case is None else f"{message}\n{case.describe()}")
        self.case = case
        self.stderr = stderr


# Bugs tests/test_adversarial.py pins with a strict xfail: (what standard error says, what the input holds).
# The fuzz tests count these instead of failing on them; once a bug is fixed its xfail passes, which fails
# the suite until the bug's entry here and its xfail marker are removed together.
KNOWN_BUGS: dict[str, tuple[re.Pattern[str], re.Pattern[bytes]]] = {}


def known_bug(broken: ContractBroken) -> str | None:
    """The name of the known bug a broken contract is, or None for a new one."""
    if broken.case is None:
        return None
    inputs = b"\n".join([broken.case.facts, *broken.case.policies.values()])
    for name, (said, held) in KNOWN_BUGS.items():
        if said.search(broken.stderr) and held.search(inputs):
            return name
    return None


# -- the vocabulary the strategies draw words from ---------------------------------------------------


def visible(text: str) -> str:
    """A name as podeploy's messages show it (control characters escaped: engine/errors.py)."""
    from podeploy.engine.errors import visible as shown

    return str(shown(text))


def _builtins() -> Any:
    """The shipped knowledge as the commands load it by default: the built-ins and the editions."""
    from podeploy.engine.policy.layers import edition_dirs
    from podeploy.engine.policy.loading import load_knowledge_base

    return load_knowledge_base(edition_dirs())


BUILTINS = _builtins()


def _vocabulary() -> dict[str, list[Any]]:
    """Words the built-in policies know: fact names, their values, capabilities, types, predicates, codes."""
    kb = BUILTINS
    values = sorted({str(v) for decl in kb.facts.values() for v in decl.values})
    return {
        "facts": sorted(kb.facts),
        "keys": ["customer", "legal_entities", "name", *sorted(kb.facts)],
        "capabilities": sorted(kb.capabilities),
        "values": values,
        "types": sorted(kb.types),
        "predicates": sorted(kb.predicates),
        "codes": sorted(kb.codes),
        "rules": sorted(r.id for r in kb.rules),
    }


VOCABULARY = _vocabulary()
POLICY_KEYS = [
    "policy", "description", "rules", "id", "when", "then", "explanation", "source", "overrides", "disable",
    "not", "any", "all", "count", "as", "in", "not_in", "eq", "ne", "lt", "lte", "gt", "gte", "facts", "type",
    "scope", "values", "default", "question", "predicates", "fields", "role", "codes", "kind", "assumption",
    "deployment_types", "capabilities", "offers", "renames", "rank", "finance", "domain", "optional",
]
POLICY_WORDS = [
    "$entity", "$e", "$type", "$t", "$capability", "$n", "$", "$$", "{entity}", "{nope}", "entity", "customer",
    "boolean", "choice", "number", "integer", "version", "text", "capability-list", "choice-list", "warning", "note",
    "deployment", "gap", "why-not", "10.0.44", *VOCABULARY["predicates"], *VOCABULARY["codes"], *VOCABULARY["rules"],
]
WORDS = [*VOCABULARY["keys"], *VOCABULARY["capabilities"], *VOCABULARY["values"], *VOCABULARY["types"]]

# -- drawing values ------------------------------------------------------------------------------------

TEXT = st.text(max_size=12)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.sampled_from(WORDS),
)


def values(words: Sequence[str] = WORDS, keys: Sequence[str] = VOCABULARY["keys"]) -> st.SearchStrategy[Any]:
    """Scalars, lists and mappings of them, with words and keys podeploy knows mixed in."""
    scalar = st.one_of(SCALARS, st.sampled_from(list(words)))
    key = st.one_of(st.sampled_from(list(keys)), TEXT)
    return st.recursive(
        scalar,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=4)),
        max_leaves=12,
    )


def typo(word: str) -> st.SearchStrategy[str]:
    """A word as a hurried consultant types it."""
    options = [word.upper(), word.title(), word.replace("-", "_"), word.replace("_", "-"), word + "s", " " + word]
    if len(word) > 1:
        options += [word[1:], word[:-1], word[1] + word[0] + word[2:]]
    return st.sampled_from(options)


# -- mutable documents ----------------------------------------------------------------------------------


class Pairs(list):  # type: ignore[type-arg]
    """A mapping as a list of [key, value] pairs, so that it can hold one key twice."""


def to_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return Pairs([[k, to_tree(v)] for k, v in value.items()])
    if isinstance(value, list):
        return [to_tree(v) for v in value]
    return value


class _PairsDumper(yaml.SafeDumper):
    pass


def _represent_pairs(dumper: yaml.SafeDumper, data: Pairs) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", [tuple(p) for p in data])


_PairsDumper.add_representer(Pairs, _represent_pairs)


def yaml_text(tree: Any, *, flow: bool | None, unicode: bool) -> str:
    return yaml.dump(tree, Dumper=_PairsDumper, sort_keys=False, default_flow_style=flow, allow_unicode=unicode)


def json_text(tree: Any, *, ascii_only: bool) -> str:
    """JSON, with a repeated key written twice (as a hand-edited file would have it)."""
    if isinstance(tree, Pairs):
        items = (f"{json_text(k if isinstance(k, str) else str(k), ascii_only=ascii_only)}: "
                 f"{json_text(v, ascii_only=ascii_only)}" for k, v in tree)
        return "{" + ", ".join(items) + "}"
    if isinstance(tree, list):
        return "[" + ", ".join(json_text(v, ascii_only=ascii_only) for v in tree) + "]"
    return json.dumps(tree, ensure_ascii=ascii_only)


def _slots(holder: list[Any]) -> list[tuple[Any, int]]:
    """Every place a value sits: (container, index); a mapping's value is at (pair, 1)."""
    found: list[tuple[Any, int]] = [(holder, 0)]
    stack = [holder[0]]
    while stack:
        node = stack.pop()
        if isinstance(node, Pairs):
            for pair in node:
                found.append((pair, 1))
                stack.append(pair[1])
        elif isinstance(node, list):
            for i, item in enumerate(node):
                found.append((node, i))
                stack.append(item)
    return found


def _slot(draw: Any, slots: list[tuple[Any, int]]) -> tuple[Any, int]:
    """A place to mutate: seldom the whole document, which leaves little for the later checks to see."""
    if len(slots) > 1 and draw(st.integers(0, 9)) > 0:
        return draw(st.sampled_from(slots[1:]))  # type: ignore[no-any-return]
    return slots[0]


def _containers(holder: list[Any], kind: type) -> list[Any]:
    found = []
    for container, index in _slots(holder):
        node = container[index]
        if isinstance(node, kind) and (kind is Pairs or not isinstance(node, Pairs)):
            found.append(node)
    return found


@dataclass(frozen=True)
class Pools:
    """What mutations insert: keys, words, capabilities, and values made of them."""

    keys: Sequence[str]
    words: Sequence[str]
    capabilities: Sequence[str]
    values: st.SearchStrategy[Any]


FACTS_POOLS = Pools(VOCABULARY["keys"], WORDS, VOCABULARY["capabilities"], values())
POLICY_POOLS = Pools(
    POLICY_KEYS + VOCABULARY["keys"],
    POLICY_WORDS + WORDS,
    VOCABULARY["capabilities"],
    values(POLICY_WORDS + WORDS, POLICY_KEYS + VOCABULARY["keys"]),
)


def mutate(draw: Any, holder: list[Any], pools: Pools) -> str:
    """Apply one structure-aware mutation to holder[0]; say which."""
    maps = _containers(holder, Pairs)
    lists = _containers(holder, list)
    slots = _slots(holder)
    choices = ["change-type", "swap-values", "set-word"]
    if maps:
        choices += ["drop-key", "drop-key", "duplicate-key", "rename-key", "rename-key", "add-key"]
    if lists:
        choices += ["insert-capability", "drop-item", "repeat-item"]
    if isinstance(holder[0], Pairs):
        choices += ["add-entity"]
    op: str = draw(st.sampled_from(choices))
    key = st.one_of(st.sampled_from(list(pools.keys)), TEXT, st.integers(-3, 3), st.booleans(), st.none())
    if op == "drop-key":
        mapping = draw(st.sampled_from(maps))
        if mapping:
            del mapping[draw(st.integers(0, len(mapping) - 1))]
    elif op == "duplicate-key":
        mapping = draw(st.sampled_from(maps))
        if mapping:
            k, v = mapping[draw(st.integers(0, len(mapping) - 1))]
            again = copy.deepcopy(v) if draw(st.booleans()) else draw(pools.values)
            mapping.insert(draw(st.integers(0, len(mapping))), [k, again])
    elif op == "rename-key":
        mapping = draw(st.sampled_from(maps))
        if mapping:
            pair = mapping[draw(st.integers(0, len(mapping) - 1))]
            renamed = typo(pair[0]) if isinstance(pair[0], str) and pair[0] else key
            pair[0] = draw(st.one_of(renamed, key))
    elif op == "add-key":
        mapping = draw(st.sampled_from(maps))
        mapping.insert(draw(st.integers(0, len(mapping))), [draw(key), draw(pools.values)])
    elif op == "change-type":
        container, index = _slot(draw, slots)
        old = container[index]
        container[index] = draw(
            st.one_of(
                pools.values,
                st.just([copy.deepcopy(old)]),
                st.just(Pairs([["value", copy.deepcopy(old)]])),
                st.just(str(old)),
                st.just(None),
            )
        )
    elif op == "swap-values":
        (c1, i1), (c2, i2) = _slot(draw, slots), _slot(draw, slots)
        # Copies: swapping a value into its own subtree must not make the document cyclic.
        c1[i1], c2[i2] = copy.deepcopy(c2[i2]), copy.deepcopy(c1[i1])
    elif op == "set-word":
        container, index = _slot(draw, slots)
        container[index] = draw(st.sampled_from(list(pools.words)))
    elif op == "insert-capability":
        target = draw(st.sampled_from(lists))
        known = st.sampled_from(list(pools.capabilities))
        word = draw(st.one_of(known, known.flatmap(typo), TEXT, st.sampled_from(list(pools.words))))
        target.insert(draw(st.integers(0, len(target))), word)
    elif op == "drop-item":
        target = draw(st.sampled_from(lists))
        if target:
            del target[draw(st.integers(0, len(target) - 1))]
    elif op == "repeat-item":
        target = draw(st.sampled_from(lists))
        if target:
            target.insert(draw(st.integers(0, len(target))), copy.deepcopy(draw(st.sampled_from(target))))
    elif op == "add-entity":
        root = holder[0]
        entities = next((v for k, v in root if k == "legal_entities" and isinstance(v, list)), None)
        if entities is None:
            entities = []
            root.append(["legal_entities", entities])
        entity = Pairs([["name", draw(st.one_of(TEXT, st.sampled_from(["A", "B", "Contoso"])))]])
        if draw(st.booleans()):
            entity.append(["requirements", draw(st.lists(st.sampled_from(list(pools.capabilities)), max_size=3))])
        if draw(st.booleans()):
            entity.append([draw(key), draw(pools.values)])
        entities.append(entity)
    return op


# -- cases -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Special:
    """A file of a case that is not a plain regular one, made in the case's folder before the run.

    kind: "fifo", "dir", "socket", "empty" (a regular empty file) or "link" (a symbolic link to target,
    which may be missing, itself, a folder, a pipe, a device or a file). A pipe podeploy is to read gets
    `feed` from a writer once podeploy opens it (None: no one writes, so opening it would hang); a pipe
    it is to write (an output) is drained by a reader.
    """

    path: str
    kind: str
    target: str = ""
    feed: bytes | None = None
    drain: bool = False


@dataclass
class Case:
    """One input to run: the facts file, and the policy files of a layer loaded with --policies (if any).

    A case with `argv` is a whole command line run in a real process in a folder of its own, which holds
    `files` (regular files, by relative path) and `special` files (pipes, folders, links, sockets); its
    `facts` are then the bytes podeploy reads as the facts file (`facts_name`), if it reads one.
    """

    strategy: str
    facts_name: str
    facts: bytes
    policies: dict[str, bytes] = field(default_factory=dict)
    args: tuple[str, ...] = ("evaluate", "--format", "json")
    note: str = ""
    # A text a result holds when the case's own policy rules fired (counted, not required).
    marker: str = ""
    # No raw control character (C0 but a line break or a tab, DEL, C1) may reach standard output or error.
    no_controls: bool = False
    argv: tuple[str, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)
    special: tuple[Special, ...] = ()
    # Files the command may replace (its output): they must stay regular files, their content may change.
    replaceable: tuple[str, ...] = ()
    # The folder of the policy files (the layer's name).
    policy_dir: str = "pol"

    def describe(self) -> str:
        if self.argv:
            lines = [f"strategy {self.strategy}: podeploy {' '.join(self.argv)} ({self.note})"]
            lines += [f"{name}: {data!r}"[:600] for name, data in self.files.items()]
            for s in self.special:
                extra = f" -> {s.target}" if s.kind == "link" else ""
                extra += f", fed {s.feed!r}"[:300] if s.feed is not None else ""
                extra += ", drained" if s.drain else ""
                lines.append(f"{s.path}: {s.kind}{extra}")
            return "\n".join(lines)
        lines = [f"strategy {self.strategy}: podeploy {' '.join(self.args)} {self.facts_name} ({self.note})"]
        lines.append(f"{self.facts_name}: {self.facts!r}"[:4000])
        for name, data in self.policies.items():
            lines.append(f"{self.policy_dir}/{name}: {data!r}"[:4000])
        return "\n".join(lines)


BOMS = [b""] * 10 + [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"]
COMMANDS = [
    ("evaluate", "--format", "json"),
    ("evaluate", "--format", "json"),
    ("evaluate", "--format", "json"),
    ("evaluate",),
    ("why", "--format", "json"),
    ("evaluate", "--format", "html"),
    ("evaluate", "--engine", "reference", "--format", "json"),
]


BYTE_TOKENS = [t.encode("utf-8") for t in ("customer", ": ", "- ", "[", "]", "{", "}", ",", "\n", "  ", "'", '"')]
BYTE_TOKENS += [b"\x00", b"\r", b"\xc3\xa9", b"\xc3", b"\xe2\x80\xa8", b"\xef\xbb\xbf", b"\xff", b"\x85", b"\t"]


@st.composite
def raw_bytes(draw: Any) -> Case:
    body = draw(
        st.one_of(
            st.binary(max_size=600),
            st.text(max_size=200).map(lambda s: s.encode("utf-8")),
            st.lists(st.one_of(st.sampled_from(BYTE_TOKENS), st.binary(max_size=3)), max_size=60).map(b"".join),
        )
    )
    head = draw(st.sampled_from([b"", b"", b"customer: C\n", b"{", b"- ", b"customer: "]))
    return Case("raw-bytes", "facts.yaml", draw(st.sampled_from(BOMS)) + head + body, note="bytes")


def _well_typed(fact: str) -> st.SearchStrategy[Any]:
    """Values of the type and domain the built-in vocabulary declares for a fact."""
    decl = BUILTINS.facts[fact]
    if decl.type == "capability-list":
        return st.lists(st.sampled_from(VOCABULARY["capabilities"]), max_size=5)
    if decl.type == "boolean":
        return st.booleans()
    if decl.values:
        one = st.sampled_from(list(decl.values))
        return st.lists(one, max_size=3) if decl.is_list else one
    return TEXT


WELL_TYPED = {fact: st.one_of(_well_typed(fact), FACTS_POOLS.values) for fact in VOCABULARY["facts"]}


@st.composite
def yaml_documents(draw: Any) -> Case:
    nested = FACTS_POOLS.values
    well_typed = WELL_TYPED
    top = st.dictionaries(st.one_of(st.sampled_from(VOCABULARY["keys"]), TEXT), nested, max_size=6)
    facts_like = st.fixed_dictionaries(
        {"customer": st.one_of(TEXT, st.sampled_from(["Contoso", "Fabrikam"]))},
        optional={
            **well_typed,
            "legal_entities": st.lists(
                st.fixed_dictionaries(
                    {"name": TEXT},
                    optional={"requirements": well_typed["requirements"], "region": well_typed["region"]},
                ),
                max_size=3,
            ),
        },
    )
    document = draw(st.one_of(nested, top, facts_like, facts_like))
    text = yaml.safe_dump(
        document,
        allow_unicode=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([False, None, True])),
        sort_keys=draw(st.booleans()),
        width=draw(st.sampled_from([80, 20, 10**6])),
    )
    return Case("yaml-documents", "facts.yaml", text.encode("utf-8"), args=draw(st.sampled_from(COMMANDS)))


YAML_TOKENS = [
    "customer", "requirements", "legal_entities", "name", "budget", "region", "small", "receipt-ocr", "Contoso",
    ": ", ":", "- ", "-", "? ", "[", "]", "{", "}", ", ", ",", "#", "# c", "&a ", "*a", "&b ", "*b", "<<: ",
    "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "!!binary ", "!!set ", "!!omap ", "!!timestamp ",
    "!!python/object:os.system ", "!local ", "!<tag:yaml.org,2002:str> ", "%YAML 1.1\n", "%TAG !e! tag:x,2000:\n",
    "---\n", "--- ", "...\n", "|\n", "|-\n", ">\n", ">+\n", "'", "''", '"', '\\"', "\\", "\\x00", "\\u2028", "@",
    "`", "%", "~", "null", "yes", "no", "on", "0x1F", "0o17", "017", "1e3", "1_000", "1:30", ".inf", ".nan",
    "2001-12-14", "\n", "\n", "\n", "  ", "  ", "    ", "\t", "\r\n", "\r", "\ufeff", "\x85", "\u2028", "é",
    "\U0001f600",
]
SYNTAX = ":-?[]{},#&*!|>'\"%@` \n"


@st.composite
def yaml_text_cases(draw: Any) -> Case:
    piece = st.one_of(st.sampled_from(YAML_TOKENS), st.text(alphabet=SYNTAX, max_size=4), st.text(max_size=4))
    pieces = draw(st.lists(piece, max_size=40))
    text = "".join(pieces)
    if draw(st.booleans()):
        text = "customer: Contoso\n" + text
    return Case("yaml-text", "facts.yaml", text.encode("utf-8", "surrogatepass"), args=draw(st.sampled_from(COMMANDS)))


def _example_trees() -> list[tuple[str, Any]]:
    from podeploy.engine.io.loader import parse_document

    return [(p.name, parse_document(p.read_text("utf-8"), p.name).value) for p in EXAMPLES]


EXAMPLE_TREES = _example_trees()


@st.composite
def mutated_facts(draw: Any) -> Case:
    name, value = draw(st.sampled_from(EXAMPLE_TREES))
    holder = [to_tree(copy.deepcopy(value))]
    ops = [mutate(draw, holder, FACTS_POOLS) for _ in range(draw(st.integers(1, 4)))]
    if name.endswith(".json"):
        text = json_text(holder[0], ascii_only=draw(st.booleans()))
    else:
        text = yaml_text(holder[0], flow=draw(st.sampled_from([False, None, True])), unicode=draw(st.booleans()))
    return Case("mutated-facts", name, text.encode("utf-8"), args=draw(st.sampled_from(COMMANDS)), note=", ".join(ops))


def _override_layer(path: Path) -> tuple[str, Any]:
    """A built-in policy file's rules as a layer over the built-ins: each rule overrides itself."""
    from podeploy.engine.io.loader import parse_document

    doc = parse_document(path.read_text("utf-8"), path.name).value
    rules = [{**rule, "overrides": rule["id"]} for rule in doc.get("rules", [])]
    return f"{path.stem}-again.yaml", {"policy": f"{doc['policy']}-again", "description": doc["description"],
                                        "rules": rules}


def _policy_layers() -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """The layers policy mutations start from, each with the options under which it loads cleanly as it is."""
    from podeploy.engine.io.loader import parse_document

    edition = {p.name: parse_document(p.read_text("utf-8"), p.name).value
               for p in sorted(EDITION.glob("*.yaml")) if not p.name.endswith(".test.yaml")}
    layers: list[tuple[dict[str, Any], tuple[str, ...]]] = [(edition, ("--as-of", "2023-11"))]
    for path in BUILTIN_POLICIES:
        name, doc = _override_layer(path)
        if doc["rules"]:
            layers.append(({name: doc}, ()))
    return layers


POLICY_LAYERS = _policy_layers()


@st.composite
def mutated_policies(draw: Any) -> Case:
    chosen, options = draw(st.sampled_from(POLICY_LAYERS))
    layer = copy.deepcopy(chosen)
    name = draw(st.sampled_from(sorted(layer)))
    holder = [to_tree(layer[name])]
    ops = [mutate(draw, holder, POLICY_POOLS) for _ in range(draw(st.integers(1, 3)))]
    files = {n: yaml.safe_dump(doc, sort_keys=False).encode("utf-8") for n, doc in layer.items() if n != name}
    files[name] = yaml_text(holder[0], flow=draw(st.sampled_from([False, None])), unicode=True).encode("utf-8")
    example = draw(st.sampled_from(EXAMPLES))
    return Case("mutated-policies", example.name, example.read_bytes(), policies=files,
                args=(*draw(st.sampled_from(COMMANDS[:3] + COMMANDS[4:5])), *options),
                note=f"{name}: {', '.join(ops)}")


# -- field names: durable-rules' 32-bit property hashes ---------------------------------------------------

# Ids as schemas/policy.schema.json allows them (facts, predicates, fields, codes, values), kept short.
ID_NAMES = st.from_regex(r"[a-z][a-z0-9]{0,7}(?:[_-][a-z0-9]{1,4}){0,2}", fullmatch=True)

# Groups of ids whose durable-rules property hashes collide: durable-rules finds a fact's property by the
# 32-bit FNV-1a hash of its name (engine/evaluation/rete.py, property_hash), so two names of a group would be one
# property if the engine saw them. Found once by brute force (a birthday search over six-character ids;
# a meet-in-the-middle search, FNV-1a's steps being invertible, for names hashing as the engine's own
# properties id, sid and k, and as p0, p1, n and b). With the prefix "p_" they collide as
# podeploy's former engine names p_<field>: the red team's aa2pda and aajvlo, and names whose p_<name>
# hashes as id, sid, k or p0. Equal FNV-1a states stay equal under a common suffix, so the strategy
# grows every group by a suffix it draws. tests/test_fuzz.py checks them with podeploy's property_hash.
COLLIDING: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("aan1wu", "aa0tfa")),
    ("", ("aan1rx", "aa0tkd")),
    ("", ("id", "wt3babr6", "dd2uac0p")),
    ("", ("sid", "fgv5adkb", "uydjakyq")),
    ("", ("k", "dztqaehl", "mootafxu")),
    ("", ("n", "dztqaehi", "mootafxp")),
    ("", ("b", "l070acur", "dztqaehe")),
    ("", ("p0", "lw3rabrg", "s45dacwg")),
    ("", ("p1", "lw3rabrf", "s45dacwf")),
    ("p_", ("aa2pda", "aajvlo")),
    ("p_", ("aa2pfa", "aajvjs")),
    ("p_", ("ab1wfa", "abg6wu")),
    ("p_", ("ab1wkd", "abg6rx")),
    ("p_", ("oev1adnf", "utpoae0j")),  # p_<name> hashes as id
    ("p_", ("nxe1ae1d", "mnlzafza")),  # as sid
    ("p_", ("j3brablj", "yusaac44")),  # as k
    ("p_", ("aw9kaajw", "s2m8ado5")),  # as p0
)
# The names podeploy's engine layer, the built-in predicates or YAML give a meaning of their own.
SPECIAL_NAMES = [
    "id", "sid", "k", "n", "b", "p0", "p1", "p2", "p10", "p_aa2pda", "value", "type", "name", "code", "capability",
    "rank", "gaps", "about", "finance", "yes", "no", "on", "off", "null", "true", "y", "a", "x" * 64,
]
FIELD_CODE = "fuzz-field-names"
FACT_KINDS = ["boolean", "choice", "choice", "number", "integer", "text"]
FIELD_NOTE = "fuzz-field-names-absent"



@st.composite
def _colliding_names(draw: Any) -> list[str]:
    _, group = draw(st.sampled_from(COLLIDING))
    members = draw(st.lists(st.sampled_from(group), min_size=2, max_size=len(group), unique=True))
    suffix = draw(st.one_of(st.just(""), st.from_regex(r"[_-]?[a-z0-9]{1,3}", fullmatch=True)))
    return [m + suffix for m in members]


def _fact_value(kind: str, choices: Sequence[str]) -> st.SearchStrategy[Any]:
    """A value of a fact of this type, as a facts file gives it."""
    if kind == "boolean":
        return st.booleans()
    if kind == "choice":
        return st.sampled_from(list(choices))
    if kind == "integer":
        return st.integers(-(10**6), 10**6)
    if kind == "number":
        return st.one_of(st.integers(-1000, 1000), st.integers(-(10**6), 10**6).map(lambda n: n / 1000))
    return st.one_of(ID_NAMES, st.sampled_from(["Contoso", "a b", "yes", "1.5"]))


def _field_type(kind: str) -> str:
    return {"boolean": "boolean", "number": "number", "integer": "number"}.get(kind, "string")


def _literal(draw: Any, ftype: str, names: Sequence[str]) -> Any:
    if ftype == "boolean":
        return draw(st.booleans())
    if ftype == "number":
        return draw(st.integers(-50, 50))
    return draw(st.one_of(st.sampled_from(list(names)), ID_NAMES))


def _test(draw: Any, expected: Any, ftype: str, names: Sequence[str], variable: str) -> Any:
    """A condition on a field that holds `expected` (when the facts say so): mostly true of it, sometimes not."""
    other = _literal(draw, ftype, names)
    options: list[Any] = [expected, expected, other, {"ne": other}, {"in": [expected, other] if other != expected
                                                                       else [expected]}, variable]
    if ftype == "number" and isinstance(expected, int | float) and not isinstance(expected, bool):
        options += [{"gt": expected - 1}, {"lte": expected}, {"gte": expected, "lt": expected + 1}, {"lt": expected}]
    return draw(st.sampled_from(options))


# Customers whose every built-in fact is answered: the open questions the analysis searches over (its
# costliest part) are only the generated facts a case leaves out.
_ANSWERED = {"existing_solution": "none", "plans_finance": False, "budget": "medium", "pm_maturity": "high",
             "process_change_ready": True, "region": "united-states", "ledger": "dynamics-365-finance"}
FIELD_BASES = [
    {"customer": "Fabrikam", "requirements": ["time-tracking"], **_ANSWERED},
    {"customer": "Contoso", "requirements": ["project-sales"], **_ANSWERED,
     "legal_entities": [{"name": "Contoso A", "requirements": ["production-orders"]}, {"name": "Contoso B"}]},
]


@st.composite
def field_names(draw: Any) -> Case:
    """A layer over the built-ins whose facts, predicate and fields are named by drawn ids, often a group whose
    engine property hashes collide; its rules copy the facts into the predicate's fields and test them, and the
    facts file sets the facts, so that the engine's answer is compared with the reference evaluator's."""
    colliding = draw(_colliding_names()) if draw(st.integers(0, 3)) else []
    others = draw(st.lists(st.one_of(ID_NAMES, st.sampled_from(SPECIAL_NAMES)), max_size=3))
    names = [n for n in dict.fromkeys([*colliding, *others]) if n != "entity"] or ["f"]
    # Facts named by the drawn names too (a fact's name is the engine's `k` value, not a property).
    fact_ids = draw(st.lists(st.one_of(st.sampled_from(names), ID_NAMES), min_size=1, max_size=3, unique=True))
    kinds = {fid: draw(st.sampled_from(FACT_KINDS)) for fid in fact_ids}
    scopes = {fid: draw(st.sampled_from(["customer", "entity"])) for fid in fact_ids}
    facts: list[dict[str, Any]] = []
    choices: dict[str, list[str]] = {}
    for fid in fact_ids:
        decl: dict[str, Any] = {"id": fid, "type": kinds[fid]}
        if kinds[fid] == "choice":
            choices[fid] = draw(st.lists(st.one_of(st.sampled_from(names), ID_NAMES), min_size=1, max_size=3,
                                         unique=True))
            decl["values"] = choices[fid]
        if scopes[fid] == "entity" or draw(st.booleans()):
            decl["scope"] = scopes[fid]
        if draw(st.integers(0, 4)) == 0:
            decl["default"] = draw(_fact_value(kinds[fid], choices.get(fid, [])))
        decl["description"] = f"A generated fact, {fid}."
        decl["question"] = f"What is {fid}?"
        facts.append(decl)
    given = {fid: draw(_fact_value(kinds[fid], choices.get(fid, []))) for fid in fact_ids}

    # The predicate: every colliding name a field, and some of the others.
    predicate = draw(st.one_of(ID_NAMES, st.sampled_from(names)))
    rest = [n for n in names if n not in colliding]
    fields = [*colliding, *draw(st.lists(st.sampled_from(rest), max_size=3, unique=True))] if rest else list(colliding)
    fields = fields or names[:1]
    decls: dict[str, Any] = {"entity": {"type": "string", "domain": "entity"}}
    sources: dict[str, tuple[str, Any]] = {}
    for name in fields:
        if draw(st.integers(0, 3)):
            fid = draw(st.sampled_from(fact_ids))
            ftype = _field_type(kinds[fid])
            sources[name] = ("fact", fid)
        else:
            ftype = draw(st.sampled_from(["string", "number", "boolean"]))
            sources[name] = ("literal", _literal(draw, ftype, names))
        decls[name] = {"type": ftype}
    used = [fid for fid in fact_ids if any(src == ("fact", fid) for src in sources.values())]
    variables = {fid: f"$v{i}" for i, fid in enumerate(used)}
    when: list[Any] = []
    if not any(scopes[fid] == "entity" for fid in used):
        when.append({"entity": {"name": "$entity"}})
    for fid in used:
        if scopes[fid] == "entity":
            when.append({fid: {"entity": "$entity", "value": variables[fid]}})
        else:
            when.append({fid: variables[fid]} if draw(st.booleans()) else {fid: {"value": variables[fid]}})
    copied = {name: (variables[src[1]] if src[0] == "fact" else src[1]) for name, src in sources.items()}
    rules: list[dict[str, Any]] = [{
        "id": "copy-the-fields", "description": "Copies the generated facts into the generated fields.",
        "source": "a fuzz case", "when": when, "then": [{predicate: {"entity": "$entity", **copied}}],
        "explanation": "{entity} copies its facts.",
    }]
    # Tests on the fields, each mostly true of what the facts file gives; the colliding ones always, and
    # mostly for the value each should hold, so that two of them taken for one property would tell.
    tested = [*colliding, *draw(st.lists(st.sampled_from(fields), max_size=len(fields), unique=True))]
    tests: dict[str, Any] = {}
    for j, name in enumerate(dict.fromkeys(tested)):
        src = sources[name]
        expected = given[src[1]] if src[0] == "fact" else src[1]
        exact = name in colliding and draw(st.integers(0, 2)) > 0
        tests[name] = expected if exact else _test(draw, expected, decls[name]["type"], names, f"$w{j}")
    then: list[Any] = [{"warning": {"code": FIELD_CODE, "entity": "$entity"}}]
    if draw(st.booleans()):
        then.append({"excluded": {"entity": "$entity", "type": draw(st.sampled_from(VOCABULARY["types"]))}})
    rules.append({
        "id": "read-the-fields", "description": "Tests the generated fields.", "source": "a fuzz case",
        "when": [{predicate: {"entity": "$entity", **tests}}], "then": then,
        "explanation": "{entity} holds the generated fields.",
    })
    if draw(st.booleans()):
        name = draw(st.sampled_from(fields))
        absent = _literal(draw, decls[name]["type"], names) if draw(st.booleans()) else copied[name]
        if isinstance(absent, str) and absent.startswith("$"):
            absent = given[sources[name][1]]
        rules.append({
            "id": "miss-a-field", "description": "Notes an entity whose generated field lacks a value.",
            "source": "a fuzz case",
            "when": [{"entity": {"name": "$entity"}}, {"not": {predicate: {"entity": "$entity", name: absent}}}],
            "then": [{"note": {"code": FIELD_NOTE, "entity": "$entity"}}],
            "explanation": "{entity} lacks the value.",
        })
    layer = {
        "policy": "fuzz-fields", "description": "Facts and fields with generated names.", "facts": facts,
        "codes": [{"id": FIELD_CODE, "kind": "warning", "description": "The generated fields were read."},
                  {"id": FIELD_NOTE, "kind": "note", "description": "A generated field lacks a value."}],
        "predicates": [{"id": predicate, "description": "Generated fields of a legal entity.", "fields": decls}],
        "rules": rules,
    }
    tree = copy.deepcopy(draw(st.sampled_from(FIELD_BASES)))
    for fid in fact_ids:
        if draw(st.integers(0, 5)) == 0:
            continue  # left out: its default, or an open question
        entities = tree.get("legal_entities")
        if scopes[fid] == "entity" and entities and draw(st.booleans()):
            for entity in entities:  # per legal entity, some of them with a value of their own
                if draw(st.booleans()):
                    entity[fid] = draw(_fact_value(kinds[fid], choices.get(fid, [])))
        else:
            tree[fid] = given[fid]
    if draw(st.booleans()):
        name, text = "facts.json", json.dumps(tree)
    else:
        name, text = "facts.yaml", yaml.safe_dump(tree, sort_keys=False, default_flow_style=draw(st.sampled_from(
            [False, None])))
    return Case("field-names", name, text.encode("utf-8"),
                policies={"fields.yaml": yaml.safe_dump(layer, sort_keys=False).encode("utf-8")},
                args=draw(st.sampled_from(COMMANDS[:3] + COMMANDS[4:5])),
                note=f"predicate {predicate}, fields {fields}, facts {fact_ids}", marker=FIELD_CODE)


# -- control characters: what would act on a terminal, or hide or forge text ---------------------------

# C0 (NUL, BEL, BS, TAB, LF, VT, FF, CR, ESC), DEL, C1 (PAD, NEL, CSI, ST, OSC, APC), escape sequences
# (CSI colours and clear, OSC window titles and links, ended by BEL or ST), characters that print as
# nothing (zero-width space, joiners, marks, word joiner, BOM) and the bidirectional overrides and isolates.
CONTROL_PIECES = [
    "\x00", "\x01", "\x07", "\x08", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x80", "\x85",
    "\x9b", "\x9c", "\x9d", "\x9f", "\x1b]0;title\x07", "\x1b]0;title\x1b\\", "\x1b[2J", "\x1b[31m", "\x1bc",
    "\x1b]8;;https://example.com\x07link\x1b]8;;\x07", "\x9b31m", "\x9d0;title\x9c", "\u200b", "\u200c", "\u200d",
    "\u200e", "\u200f", "\u2060", "\ufeff", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
    "\u2068", "\u2069", "\u2028", "\u2029", "\xa0", "\u061c",
]
# What podeploy lets through (in names, and line breaks and tabs in policy texts) but shows escaped in messages.
UNSEEN_PIECES = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\xa0", "\t", "\n", "\t\n"]
CONTROL_CHARACTERS = st.characters(categories=["Cc", "Cf", "Zl", "Zp"], exclude_characters="\ud800")
# In a file or folder name: anything but NUL and the path separator (and lone surrogates, which no file
# system name can hold in UTF-8).
NAME_PIECES = st.lists(st.one_of(st.sampled_from([p for p in CONTROL_PIECES if "\x00" not in p and "/" not in p]),
                                 st.characters(categories=["Cc", "Cf", "Zl", "Zp"], exclude_characters="\x00/")),
                       min_size=1, max_size=2).map("".join)
# What this strategy's contract adds: no raw C0 (but a line break or a tab), DEL or C1 in any output.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# YAML's named escapes in double-quoted scalars.
YAML_ESCAPES = {"\x00": "\\0", "\x07": "\\a", "\x08": "\\b", "\t": "\\t", "\n": "\\n", "\x0b": "\\v", "\x0c": "\\f",
                "\r": "\\r", "\x1b": "\\e", "\x85": "\\N", "\xa0": "\\_", "\u2028": "\\L", "\u2029": "\\P"}
STYLES = ["double-escaped", "double-escaped", "double-named", "double-raw", "single", "plain", "literal", "json"]


class Odd(str):
    """A text holding control characters, written in the style drawn for it."""

    style: str = "double-escaped"


def _odd(text: str, style: str) -> Odd:
    odd = Odd(text)
    odd.style = style
    return odd


def _escape_yaml(text: str, named: bool) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        elif named and ch in YAML_ESCAPES:
            out.append(YAML_ESCAPES[ch])
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _yaml_scalar(value: Any, indent: int) -> str:
    if isinstance(value, Odd):
        style = value.style
        if style in ("double-escaped", "double-named"):
            return _escape_yaml(value, named=style == "double-named")
        if style == "double-raw":
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if style == "single":
            return "'" + value.replace("'", "''") + "'"
        if style == "literal":
            pad = " " * indent
            return "|-\n" + "\n".join(pad + line for line in value.split("\n"))
        if style == "json":
            return json.dumps(str(value), ensure_ascii=False)
        return str(value)  # plain, raw
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict) and not value:
        return "[]" if isinstance(value, list) else "{}"
    return json.dumps(value)


def _yaml_lines(tree: Any, indent: int = 0) -> list[str]:
    """Block YAML, each text written in its own style (raw control characters and all)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            name = _yaml_scalar(key, indent + 2) if isinstance(key, Odd) else str(key)
            if isinstance(value, dict | list) and value:
                lines.append(f"{pad}{name}:")
                lines += _yaml_lines(value, indent + 2)
            else:
                lines.append(f"{pad}{name}: {_yaml_scalar(value, indent + 2)}")
    else:
        for item in tree:
            if isinstance(item, dict | list) and item:
                inner = _yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines += inner[1:]
            else:
                lines.append(f"{pad}- {_yaml_scalar(item, indent + 2)}")
    return lines


def _json_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_json_value(k)}: {_json_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_value(v) for v in value) + "]"
    if isinstance(value, Odd):
        if value.style in ("double-raw", "plain", "literal"):  # raw inside the quotes, as a hand-edited file has it
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return json.dumps(str(value), ensure_ascii=value.style != "json")
    return json.dumps(value, ensure_ascii=False)


CONTROL_FACTS: dict[str, Any] = {
    "customer": "Contoso",
    "requirements": ["time-tracking", "project-sales"],
    **_ANSWERED,  # the layer's own fact, when left out, is the open question whose text is shown
    "legal_entities": [{"name": "Contoso Robotics", "region": "united-kingdom",
                        "requirements": ["customer-facing-invoicing"]}],
}
CONTROL_LAYER: dict[str, Any] = {
    "policy": "partner",
    "edition": "Our practice's playbook",
    "description": "A partner's layer.",
    "facts": [{"id": "partner_flag", "type": "boolean", "description": "The partner flag.",
               "question": "Does the partner flag apply?", "source": "our playbook, section 1"}],
    "codes": [{"id": "partner-seen", "kind": "warning", "description": "The partner rule fired."}],
    "rules": [{
        "id": "partner-rule", "description": "Warns when the flag is set.", "source": "our playbook, section 2",
        "assumption": "The flag is set by hand.",
        "when": [{"requirements": {"entity": "$entity", "value": "time-tracking"}}, {"partner_flag": True}],
        "then": [{"warning": {"code": "partner-seen", "entity": "$entity"}}],
        "explanation": "{entity} has the partner flag.",
    }],
}
# Where control characters go: (file, path to a text); an int in a path is a list index.
FACTS_SITES: list[tuple[Any, ...]] = [
    ("customer",), ("customer",), ("requirements", 0), ("legal_entities", 0, "name"), ("legal_entities", 0, "name"),
    ("legal_entities", 0, "requirements", 0), ("legal_entities", 0, "region"), ("key",),
]
LAYER_SITES: list[tuple[Any, ...]] = [
    ("rules", 0, "source"), ("rules", 0, "source"), ("rules", 0, "explanation"), ("rules", 0, "explanation"),
    ("facts", 0, "question"), ("facts", 0, "question"), ("facts", 0, "source"), ("facts", 0, "description"),
    ("edition",), ("description",), ("rules", 0, "description"), ("rules", 0, "assumption"),
    ("codes", 0, "description"), ("rules", 0, "id"), ("policy",), ("rules", 0, "when", 0, "requirements", "value"),
]


def _insert(draw: Any, tree: Any, path: tuple[Any, ...], style: str) -> str:
    """Put control characters into the text at path (a key at ("key",)); say what went where."""
    some = st.sampled_from(UNSEEN_PIECES) if draw(st.booleans()) else st.one_of(
        st.sampled_from(CONTROL_PIECES), CONTROL_CHARACTERS)
    pieces = draw(st.lists(some, min_size=1, max_size=3))
    if path == ("key",):
        text = "budget"
        at = draw(st.integers(0, len(text)))
        tree[_odd(text[:at] + "".join(pieces) + text[at:], style)] = "small"
        return f"key {pieces!r}"
    holder = tree
    for step in path[:-1]:
        holder = holder[step]
    text = str(holder[path[-1]])
    at = draw(st.integers(0, len(text)))
    holder[path[-1]] = _odd(text[:at] + "".join(pieces) + text[at:], style)
    return f"{'.'.join(map(str, path))} {pieces!r} ({style})"


@st.composite
def control_characters(draw: Any) -> Case:
    """Facts files and policy layers with control and invisible characters in their texts, written raw or as
    YAML and JSON escapes; besides the contract, none may reach standard output or error raw."""
    facts = copy.deepcopy(CONTROL_FACTS)
    layer = copy.deepcopy(CONTROL_LAYER) if draw(st.booleans()) else None
    if layer is not None and draw(st.integers(0, 2)):
        facts["partner_flag"] = True  # the rule fires: its explanation and source reach the output
    notes = []
    sites = [("facts", p) for p in FACTS_SITES] + ([("layer", p) for p in LAYER_SITES] if layer is not None else [])
    for where, path in draw(st.lists(st.sampled_from(sites), min_size=1, max_size=3)):
        style = draw(st.sampled_from(STYLES))
        notes.append(f"{where} " + _insert(draw, facts if where == "facts" else layer, path, style))
    if draw(st.integers(0, 3)) == 0:
        name, text = "facts.json", _json_value(facts)
    else:
        name, text = "facts.yaml", "\n".join(_yaml_lines(facts)) + "\n"
    policies = {}
    if layer is not None:
        policies["partner.yaml"] = ("\n".join(_yaml_lines(layer)) + "\n").encode("utf-8", "surrogatepass")
    # Sometimes in the names of the files too: a facts file's name is in its messages, a folder's is the layer's.
    policy_dir = "pol"
    if draw(st.integers(0, 5)) == 0:
        stem, suffix = name.split(".")
        name = f"{stem}{draw(NAME_PIECES)}.{suffix}"
        notes.append(f"file name {name!r}")
    if layer is not None and draw(st.integers(0, 4)) == 0:
        policy_dir = f"partner{draw(NAME_PIECES)}"
        notes.append(f"policy folder {policy_dir!r}")
    commands = [*COMMANDS, ("why",), ("evaluate", "--format", "markdown")]
    return Case("control-characters", name, text.encode("utf-8", "surrogatepass"), policies=policies,
                args=draw(st.sampled_from(commands)), note="; ".join(notes), no_controls=True,
                marker="partner-seen" if "partner_flag" in facts else "", policy_dir=policy_dir)


# -- files that are not regular files ------------------------------------------------------------------

CONTOSO = ROOT / "examples" / "contoso.yaml"
QUIET_LAYER = b"policy: partner\ndescription: A partner's layer that adds nothing.\n"
NON_REGULAR_KINDS = [
    "fifo", "dir", "dangling-link", "looping-link", "link-to-dir", "link-to-fifo", "dev-null", "socket", "empty",
    "link-to-file",
]
# Where the odd file goes: the facts file, the --policies path or an entry of its folder, a batch input or an
# entry of a batch folder, a JSON-lines input, the --output of evaluate, the --out of batch.
PLACEMENTS = ["facts", "policies", "policy-entry", "batch-input", "batch-folder", "jsonl", "output", "batch-out"]


@st.composite
def non_regular_files(draw: Any) -> Case:
    """A pipe, a folder, a symbolic link (dangling, looping, to a folder, to a pipe, to a file), /dev/null, a
    socket or an empty file where podeploy reads or writes a file; run in a real process with a timeout."""
    place = draw(st.sampled_from(PLACEMENTS))
    kind = draw(st.sampled_from(NON_REGULAR_KINDS))
    contoso = CONTOSO.read_bytes()
    files = {"contoso.yaml": contoso}
    folder = {"policy-entry": "pol", "batch-folder": "customers"}.get(place, "")
    name = {"jsonl": "leads.jsonl", "output": "out.json", "batch-out": "out.jsonl"}.get(place, "odd.yaml")
    if place == "batch-folder" and draw(st.booleans()):
        name = "leads.jsonl"
    path = f"{folder}/{name}" if folder else name
    up = "../" if folder else ""
    reads = place in ("facts", "policies")  # podeploy opens the file given; elsewhere it must not open a pipe
    writes = place in ("output", "batch-out")
    if place == "policy-entry":
        files["pol/partner.yaml"] = QUIET_LAYER
    elif place == "batch-folder":
        files["customers/contoso.yaml"] = contoso
    # What a good file of the kind holds: a pipe or a link gives it, or a folder holds it.
    content = QUIET_LAYER if place == "policies" else contoso
    if place == "policy-entry":
        content = QUIET_LAYER.replace(b"partner", b"linked")
    elif name.endswith(".jsonl"):
        content = b'{"customer": "Contoso"}\n{"customer": "Fabrikam", "requirements": ["time-tracking"]}\n'
    feed = draw(st.sampled_from([content, content, b"", b"customer: [\n"])) if reads else None
    special: list[Special] = []
    read_bytes = b""
    if kind == "fifo":
        special.append(Special(path, "fifo", feed=feed, drain=writes))
        read_bytes = feed or b""
    elif kind == "dir":
        special.append(Special(path, "dir"))
    elif kind == "dangling-link":
        special.append(Special(path, "link", target=f"{up}nowhere.yaml"))
    elif kind == "looping-link":
        if draw(st.booleans()):
            special.append(Special(path, "link", target=name))
        else:
            other = f"{folder}/loop.yaml" if folder else "loop.yaml"
            special += [Special(other, "link", target=name), Special(path, "link", target="loop.yaml")]
    elif kind == "link-to-dir":
        inside = draw(st.booleans())  # a folder holding a good file of the kind, or an empty one
        special.append(Special("elsewhere", "dir"))
        if inside:
            files["elsewhere/inner.yaml"] = content if place != "output" else b"old\n"
        special.append(Special(path, "link", target=f"{up}elsewhere"))
    elif kind == "link-to-fifo":
        special += [Special("pipe", "fifo", feed=feed, drain=writes), Special(path, "link", target=f"{up}pipe")]
        read_bytes = feed or b""
    elif kind == "dev-null":
        if folder:
            special.append(Special(path, "link", target="/dev/null"))
        else:
            path = "/dev/null"
    elif kind == "socket":
        special.append(Special(path, "socket"))
    elif kind == "empty":
        special.append(Special(path, "empty"))
    elif kind == "link-to-file":
        target = "elsewhere" + (".jsonl" if name.endswith(".jsonl") else ".yaml")
        files[target] = b"old\n" if writes else content
        special.append(Special(path, "link", target=f"{up}{target}"))
        read_bytes = content
    argv: tuple[str, ...]
    if place == "facts":
        argv = (*draw(st.sampled_from([("evaluate", "--format", "json"), ("why", "--format", "json"),
                                       ("evaluate",)])), path)
    elif place == "policies":
        argv = ("evaluate", "contoso.yaml", "--format", "json", "--policies", path)
    elif place == "policy-entry":
        argv = ("evaluate", "contoso.yaml", "--format", "json", "--policies", "pol")
    elif place == "batch-input":
        argv = ("batch", path, "contoso.yaml", "--jobs", "1")
    elif place == "batch-folder":
        argv = ("batch", "customers", "--jobs", "1")
    elif place == "jsonl":
        argv = ("batch", path, "--jobs", "1")
    elif place == "output":
        argv = ("evaluate", "contoso.yaml", "--format", "json", "--output", path)
    else:
        argv = ("batch", "contoso.yaml", "--jobs", "1", "--out", path)
    replaceable = (path,) if writes and kind == "empty" else ()
    return Case("non-regular-files", path if place == "facts" else "contoso.yaml",
                read_bytes if place == "facts" else contoso, args=argv, note=f"{kind} as {place}", argv=argv,
                files=files, special=tuple(special), replaceable=replaceable)


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[Case]]] = {
    "raw-bytes": raw_bytes,
    "yaml-documents": yaml_documents,
    "yaml-text": yaml_text_cases,
    "mutated-facts": mutated_facts,
    "mutated-policies": mutated_policies,
    "field-names": field_names,
    "control-characters": control_characters,
    "non-regular-files": non_regular_files,
}


# -- the contract ------------------------------------------------------------------------------------


def judge(case: Case, code: int, stdout: str, stderr: str, allowed_files: Sequence[str]) -> str:
    """The outcome of one run: 'result' or 'bad-input:<first code>'; anything else breaks the contract."""
    if code == 0:
        if not stdout.strip():
            raise ContractBroken("exit 0 with nothing on standard output", case)
        unexpected = [line for line in stderr.splitlines() if not FALLBACK.match(line)]
        if unexpected:
            raise ContractBroken(f"exit 0 with {unexpected[:3]} on standard error", case)
        if "json" in case.args:
            json.loads(stdout)
        return "result"
    if code == 2:
        if stdout:
            raise ContractBroken(f"exit 2 with {stdout[:300]!r} on standard output", case)
        lines = stderr.splitlines()
        if not lines:
            raise ContractBroken("exit 2 with nothing on standard error", case)
        codes = []
        allowed = [*allowed_files, *(visible(f) for f in allowed_files)]  # names are shown escaped
        for line in lines:
            match = LOCATED.match(line)
            if match is None:
                raise ContractBroken(f"exit 2 with an unlocated line {line[:300]!r}", case)
            if not any(match["file"] == f or match["file"].startswith(f + os.sep) for f in allowed):
                raise ContractBroken(f"a problem located outside the inputs: {line[:300]!r}", case)
            codes.append(match["code"])
        return f"bad-input:{codes[0]}"
    raise ContractBroken(f"exit status {code}; standard error: {stderr[-1500:]!r}", case, stderr)


def digest(paths: Sequence[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@dataclass
class Written:
    facts: Path
    policy_dir: Path | None
    files: list[Path]


def write_case(case: Case, folder: Path) -> Written:
    folder.mkdir(parents=True, exist_ok=True)
    facts = folder / case.facts_name
    facts.write_bytes(case.facts)
    files = [facts]
    policy_dir = None
    if case.policies:
        policy_dir = folder / case.policy_dir
        policy_dir.mkdir(exist_ok=True)
        for name, data in case.policies.items():
            (policy_dir / name).write_bytes(data)
            files.append(policy_dir / name)
    return Written(facts, policy_dir, files)


def _argv(case: Case, facts: str, policy_dir: str | None) -> list[str]:
    args = [*case.args, facts]
    if policy_dir is not None:
        args += ["--policies", policy_dir]
    return args


class InProcess:
    """Runs cases through click's CliRunner, with the built-in knowledge base loaded once.

    A long-running process would load it once too; without policy layers it is the same knowledge
    base every time, and reusing it keeps durable-rules from registering one ruleset per case.
    """

    def __init__(self) -> None:
        from click.testing import CliRunner
        from podeploy.cli import main

        self.main = main
        self.runner = CliRunner()
        self.builtins = BUILTINS
        self.differential = 0
        self.marked = 0  # results holding their case's marker: the case's own rules fired
        # Policy layers that load are cached by podeploy (engine/policy/cache.py): in a folder of this run's own.
        self.cache = tempfile.mkdtemp(prefix="podeploy-fuzz-kb-cache-")

    @contextlib.contextmanager
    def _cached_builtins(self) -> Iterator[None]:
        # The commands import the loader where they use it: replace it where it lives.
        from podeploy.engine.policy import layers, loading

        real = loading.load_knowledge_base
        shipped = list(layers.edition_dirs())

        def load(layers: Sequence[str] = (), **kwargs: Any) -> Any:
            return self.builtins if list(layers) == shipped and not kwargs else real(layers, **kwargs)

        loading.load_knowledge_base = load  # type: ignore[assignment]
        try:
            yield
        finally:
            loading.load_knowledge_base = real  # type: ignore[assignment]

    def invoke(self, argv: list[str]) -> tuple[int, str, str]:
        with self._cached_builtins():
            env = {"PODEPLOY_POLICIES": "", "PODEPLOY_DEBUG": "", "PODEPLOY_CACHE_DIR": self.cache}
            result = self.runner.invoke(self.main.cli, argv, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(result.exception))
            raise ContractBroken(f"a traceback:\n{trace[-3000:]}")
        return result.exit_code, result.stdout, result.stderr

    def run(self, case: Case, folder: Path) -> str:
        if case.argv:  # files that are not regular: only a real process shows what they do
            return run_files(case, folder, cache=self.cache, runner=self)
        written = write_case(case, folder)
        before = digest(written.files)
        policy_dir = str(written.policy_dir) if written.policy_dir else None
        try:
            code, out, err = self.invoke(_argv(case, str(written.facts), policy_dir))
        except ContractBroken as exc:
            raise ContractBroken(f"{exc}", case) from None
        if digest(written.files) != before:
            raise ContractBroken("an input file changed", case)
        allowed = [str(written.facts)]
        if policy_dir is not None:
            allowed += [policy_dir, "<engine>", "policies"]
        outcome = judge(case, code, out, err, allowed)
        if case.no_controls:
            no_raw_controls(case, out, err)
        if outcome == "result" and "durable" not in case.args and "reference" not in case.args and "json" in case.args:
            self._same_on_the_reference(case, written, policy_dir, out)
        if outcome == "result" and case.marker and fired(case.marker, out):
            self.marked += 1
        return outcome

    def _same_on_the_reference(self, case: Case, written: Written, policy_dir: str | None, out: str) -> None:
        """A result must not depend on the engine: the reference evaluator gives the same JSON."""
        code, other, _ = self.invoke([*_argv(case, str(written.facts), policy_dir), "--engine", "reference"])
        first, second = json.loads(out), json.loads(other)
        first.pop("engine", None)
        second.pop("engine", None)
        if code != 0 or first != second:
            raise ContractBroken("durable-rules and the reference evaluator disagree", case)
        self.differential += 1


    def same_bytes_on_the_reference(self, case: Case, out: str) -> None:
        """A result read through a pipe or a link is the one the same bytes in a regular file give."""
        folder = Path(tempfile.mkdtemp(prefix="podeploy-fuzz-regular-"))
        try:
            regular = folder / "facts.yaml"
            regular.write_bytes(case.facts)
            args = [*case.argv[:-1], str(regular), "--engine", "reference"]
            code, other, _ = self.invoke(args)
        finally:
            _remove(folder)
        first = json.loads(out.replace(f'"{case.facts_name}:', '"FACTS:'))
        second = json.loads(other.replace(f'"{regular}:', '"FACTS:')) if code == 0 else None
        if second is None or {**first, "engine": None} != {**second, "engine": None}:
            raise ContractBroken("read through a pipe or a link, the facts give another result than in a regular "
                                 "file", case)
        self.differential += 1


def fired(code: str, out: str) -> bool:
    """Does a result (JSON or text, of evaluate or why) hold a warning or note with this code?"""
    try:
        doc = json.loads(out)
    except ValueError:  # text: "  - code [entity]: ..." (evaluate) or "  code [entity]" (why)
        return re.search(rf"^ +(- )?{re.escape(code)} \[", out, re.MULTILINE) is not None
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                listed = value if key in ("warnings", "notes") and isinstance(value, list) else []
                if any(isinstance(item, dict) and item.get("code") == code for item in listed):
                    return True
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return False


def no_raw_controls(case: Case, out: str, err: str) -> None:
    """What the control-characters strategy adds to the contract: nothing on either stream acts on a terminal."""
    for stream, text in (("output", out), ("error", err)):
        found = RAW_CONTROL.search(text)
        if found is not None:
            around = text[max(0, found.start() - 80):found.end() + 80]
            raise ContractBroken(f"a raw control character {found.group()!r} on standard {stream}: {around!r}", case)


def run_in_subprocess(case: Case, folder: Path, timeout: float = 60) -> str:
    """The same case through `python -m podeploy` in a fresh interpreter, with a timeout."""
    if case.argv:
        return run_files(case, folder, timeout=timeout)
    written = write_case(case, folder)
    before = digest(written.files)
    policy_dir = case.policy_dir if written.policy_dir else None
    env = {k: v for k, v in os.environ.items() if k not in ("PODEPLOY_DEBUG", "PODEPLOY_POLICIES")}
    env["PODEPLOY_CACHE_DIR"] = str(folder / "kb-cache")
    try:
        done = subprocess.run([sys.executable, "-m", "podeploy", *_argv(case, case.facts_name, policy_dir)],
                              cwd=folder, capture_output=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise ContractBroken(f"hung for {timeout} s", case) from None
    if done.returncode < 0:
        raise ContractBroken(f"died of {signal.Signals(-done.returncode).name}", case)
    if digest(written.files) != before:
        raise ContractBroken("an input file changed", case)
    allowed = [case.facts_name] + ([case.policy_dir, "<engine>", "policies"] if policy_dir else [])
    out = done.stdout.decode("utf-8", "replace")
    err = done.stderr.decode("utf-8", "replace")
    outcome = judge(case, done.returncode, out, err, allowed)
    if case.no_controls:
        no_raw_controls(case, out, err)
    return outcome


# -- cases of whole command lines over files that are not regular ------------------------------------

# The summary batch writes to standard error (engine/tools/batch/results.py, BatchSummary.lines),
# before its detail lines.
BATCH_SUMMARY = re.compile(r"^batch: \d+ inputs?( in [\d.]+ s \(\d+/s\))?: \d+ evaluated, \d+ bad input, \d+ failed$")


def make_files(case: Case, folder: Path) -> None:
    """The case's regular files, then its pipes, folders, sockets and links, in the case's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    for s in case.special:
        path = folder / s.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if s.kind == "fifo":
            os.mkfifo(path)
        elif s.kind == "dir":
            path.mkdir(exist_ok=True)
        elif s.kind == "socket":
            os.mknod(path, 0o600 | stat.S_IFSOCK)  # no bind: a socket path may be too long for one
        elif s.kind == "empty":
            path.write_bytes(b"")
        elif s.kind == "link":
            os.symlink(s.target, path)
        else:
            raise ValueError(f"unknown kind of file {s.kind!r}")


def snapshot(folder: Path) -> dict[str, tuple[str, str]]:
    """Every entry below folder (links not followed): its type, and a link's target or a file's digest."""
    found: dict[str, tuple[str, str]] = {}
    for base, dirs, names in os.walk(folder):
        for name in [*dirs, *names]:
            path = Path(base, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                found[str(path.relative_to(folder))] = ("link", os.readlink(path))
            elif stat.S_ISREG(mode):
                found[str(path.relative_to(folder))] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                kinds = [(stat.S_ISDIR, "dir"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
                         (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device")]
                found[str(path.relative_to(folder))] = (next((k for test, k in kinds if test(mode)), "other"), "")
    return found


def _pump(folder: Path, feeds: dict[str, bytes], drains: dict[str, int], drained: dict[str, bytearray]) -> None:
    """Feed each pipe podeploy has opened to read (once), and read what it wrote into the pipes it writes."""
    for name, data in list(feeds.items()):
        try:
            fd = os.open(folder / name, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no reader yet
                continue
            raise
        try:
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    time.sleep(0.01)
        finally:
            os.close(fd)
        del feeds[name]
    for name, fd in drains.items():
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            drained[name] += chunk


def run_files(case: Case, folder: Path, *, cache: str | None = None, timeout: float = 60,
              runner: InProcess | None = None, program: Sequence[str] = ()) -> str:
    """Run a case's command line in a real `python -m podeploy` process in its folder, feeding the pipes it
    reads and draining those it writes, and judge it: exit status 0 or 2 (never 1, a signal or a hang: the
    timeout only detects a hang), located problems, and no file replaced, written through or left behind.
    `program` replaces `python -m podeploy` (the runner's own tests)."""
    make_files(case, folder)
    before = snapshot(folder)
    dev_null = os.lstat("/dev/null").st_mode
    env = {k: v for k, v in os.environ.items() if k not in ("PODEPLOY_DEBUG", "PODEPLOY_POLICIES")}
    env["PODEPLOY_CACHE_DIR"] = cache or str(folder.parent / f"{folder.name}-kb-cache")  # not in the folder
    feeds = {s.path: s.feed for s in case.special if s.kind == "fifo" and s.feed is not None}
    drains = {s.path: os.open(folder / s.path, os.O_RDONLY | os.O_NONBLOCK)
              for s in case.special if s.kind == "fifo" and s.drain}
    drained = {name: bytearray() for name in drains}
    try:
        with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
            process = subprocess.Popen([*(program or (sys.executable, "-m", "podeploy")), *case.argv], cwd=folder,
                                       stdin=subprocess.DEVNULL, stdout=out_file, stderr=err_file, env=env)
            deadline = time.monotonic() + timeout
            while True:
                _pump(folder, feeds, drains, drained)
                try:
                    code = process.wait(timeout=0.02)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        process.kill()
                        process.wait()
                        raise ContractBroken(f"hung for {timeout} s (killed)", case) from None
            _pump(folder, {}, drains, drained)
            out_file.seek(0)
            err_file.seek(0)
            out = out_file.read().decode("utf-8", "replace")
            err = err_file.read().decode("utf-8", "replace")
    finally:
        for fd in drains.values():
            os.close(fd)
    if code < 0:
        raise ContractBroken(f"died of {signal.Signals(-code).name}; standard error: {err[-1500:]!r}", case)
    after = snapshot(folder)
    changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n)
                     and not (n in case.replaceable and after.get(n, ("",))[0] == "file"))
    if changed:
        shown = [f"{n}: {before.get(n, ('absent',))[0]} -> {after.get(n, ('absent',))[0]}" for n in changed]
        raise ContractBroken(f"files replaced, written or left behind: {shown}", case)
    if os.lstat("/dev/null").st_mode != dev_null:
        raise ContractBroken("/dev/null is no longer the device it was", case)
    # Problems are located in the files the command line names (a folder's problems below it).
    allowed = [a for a in case.argv if a == "/dev/null" or os.path.lexists(folder / a)]
    allowed += ["<engine>", "policies", "--output", "--out"]
    target = None
    for option in ("--output", "--out"):
        if option in case.argv:
            target = case.argv[case.argv.index(option) + 1]
    written: str | None = None
    if target is not None:
        if target in drained:
            written = drained[target].decode("utf-8", "replace")
        elif target != "/dev/null" and os.path.lexists(folder / target) and stat.S_ISREG(
                os.lstat(folder / target).st_mode):
            written = (folder / target).read_text("utf-8", "replace")
    if case.argv[0] == "batch":
        return judge_batch(case, code, out, err, allowed, out if target is None else written)
    if target is not None and code == 0:
        if out or err:
            raise ContractBroken(f"--output, and exit 0 with {out[:200]!r} {err[:200]!r} on the streams", case)
        if written is not None and target not in case.replaceable and target not in drained:
            raise ContractBroken("--output written into a file that was not to be written", case)
        if written is not None:
            json.loads(written)
        return "result"
    outcome = judge(case, code, out, err, allowed)
    if (runner is not None and outcome == "result" and case.argv[-1] == case.facts_name
            and "json" in case.argv):
        runner.same_bytes_on_the_reference(case, out)
    return outcome


def judge_batch(case: Case, code: int, out: str, err: str, allowed: Sequence[str], records: str | None) -> str:
    """A batch's outcome: its records (on standard output or in --out; None when they went to a device) each
    evaluated or bad input with located errors, never failed; its summary on standard error; 0 or 2 as they say."""
    lines = err.splitlines()
    if code == 2 and not (records or out).strip() and lines and not BATCH_SUMMARY.match(lines[0]):
        return judge(case, code, out, err, allowed)  # refused as a whole (an --out it may not write)
    if code not in (0, 2):
        raise ContractBroken(f"batch exit status {code}; standard error: {err[-1500:]!r}", case, err)
    if not lines or not BATCH_SUMMARY.match(lines[0]):
        raise ContractBroken(f"batch without its summary on standard error: {err[:500]!r}", case)
    for line in lines[1:]:
        if not line.startswith("  "):
            raise ContractBroken(f"batch summary line {line[:300]!r}", case)
        if line.startswith("  failed: "):
            raise ContractBroken(f"an input failed: {line[:300]!r}", case)
        if line.startswith("  bad-input: "):
            detail = line[len("  bad-input: "):]
            if not (LOCATED.match(detail) or LOCATED.match(detail.partition(": ")[2])):
                raise ContractBroken(f"an unlocated problem in the summary: {line[:300]!r}", case)
    if "--out" in case.argv and out:
        raise ContractBroken(f"records on standard output with --out: {out[:300]!r}", case)
    codes: list[str] = []
    if records is not None:
        statuses = []
        for line in records.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                raise ContractBroken(f"a record that is not JSON: {line[:300]!r}", case) from None
            if record.get("status") not in ("ok", "bad-input"):
                raise ContractBroken(f"a record {line[:500]!r}", case)
            statuses.append(record["status"])
            for error in record.get("errors", []):
                match = LOCATED.match(error)
                if match is None:
                    raise ContractBroken(f"an unlocated error in a record: {error[:300]!r}", case)
                if not any(match["file"] == f or match["file"].startswith(f + os.sep) for f in allowed):
                    raise ContractBroken(f"a problem located outside the inputs: {error[:300]!r}", case)
                codes.append(match["code"])
        if not statuses:
            raise ContractBroken("batch wrote no records", case)
        if code != (2 if "bad-input" in statuses else 0):
            raise ContractBroken(f"batch exit status {code} for records {statuses}", case)
    return "result" if code == 0 else f"bad-input:{codes[0] if codes else 'unknown'}"


# -- running in a child process ----------------------------------------------------------------------


def in_child(body: Callable[[], Any], timeout: float, current: Path) -> Any:
    """Run body in a forked child and return what it returns (JSON); a crash or a hang fails with the
    case the child was on, which it writes to `current` before running each one."""
    return in_children({"": body}, timeout, current)[""]


def in_children(bodies: dict[str, Callable[[], Any]], timeout: float, current: Path | None = None) -> dict[str, Any]:
    """Run each body in a forked child of its own, all at once, and return what each returns (JSON).

    A child that raises, crashes or outlives the timeout fails the call, naming the body (and the case
    in `current`, when given)."""
    running: dict[int, tuple[str, int, list[bytes]]] = {}
    for name, body in bodies.items():
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report and leave without running anything of the parent's
            os.close(read)
            status, report = 0, b""
            try:
                report = json.dumps(body()).encode("utf-8")
            except BaseException:
                status, report = 1, traceback.format_exc().encode("utf-8", "replace")
            with os.fdopen(write, "wb") as out:
                out.write(report)
            os._exit(status)
        os.close(write)
        running[read] = (name, pid, [])
    deadline = time.monotonic() + timeout
    results: dict[str, Any] = {}
    failure: BaseException | None = None
    while running:
        ready, _, _ = select.select(list(running), [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            for fd, (name, pid, _) in running.items():
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(fd)
                failure = failure or ContractBroken(f"{name or 'the child'} hung for {timeout} s (killed) on:\n"
                                                    f"{_current(current)}")
            break
        for fd in ready:
            name, pid, chunks = running[fd]
            chunk = os.read(fd, 1 << 16)
            if chunk:
                chunks.append(chunk)
                continue
            del running[fd]
            os.close(fd)
            _, status = os.waitpid(pid, 0)
            text = b"".join(chunks).decode("utf-8", "replace")
            if os.WIFSIGNALED(status):
                signame = signal.Signals(os.WTERMSIG(status)).name
                failure = failure or ContractBroken(f"{name or 'the process'} died of {signame} on:\n"
                                                    f"{_current(current)}")
            elif os.WEXITSTATUS(status) != 0:
                failure = failure or AssertionError(f"in the child process {name}:\n{text}")
            else:
                results[name] = json.loads(text)
    if failure is not None:
        raise failure
    return results


def _current(current: Path | None) -> str:
    if current is None or not current.exists():
        return "(no case started)"
    return current.read_text("utf-8", "replace")


# -- a fuzzing run ---------------------------------------------------------------------------------------


def fuzz(
    strategy: str,
    examples: int,
    folder: Path,
    *,
    seed: int | None = None,
    in_subprocess: int = 0,
    keep_going: bool = False,
    current: Path | None = None,
) -> dict[str, Any]:
    """Run `examples` cases of a strategy in this process; `in_subprocess` of them, spread over the run, also
    through `python -m podeploy`, where they must end alike. Derandomized unless a seed is given.

    A broken contract raises (Hypothesis then shrinks the input) unless keep_going, when it is counted
    and kept; a known bug is counted under its name either way.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    runner = InProcess()
    every = max(1, examples // in_subprocess) if in_subprocess else 0  # spread over the run, not its first cases
    outcomes: dict[str, int] = {}
    failures: list[str] = []
    done = {"cases": 0, "subprocess": 0}

    def count(outcome: str) -> None:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    def one(case: Case) -> None:
        done["cases"] += 1
        where = folder / str(done["cases"])
        if current is not None:
            current.write_text(case.describe(), "utf-8")
        try:
            outcome = runner.run(case, where / "in-process")
            if done["subprocess"] < in_subprocess and done["cases"] % every == 0:
                done["subprocess"] += 1
                again = run_in_subprocess(case, where / "subprocess")
                if again != outcome:
                    raise ContractBroken(f"in-process {outcome}, in a fresh process {again}", case)
            count(outcome)
        except ContractBroken as broken:
            bug = known_bug(broken)
            if bug is not None:
                count(f"known-bug:{bug}")
            elif keep_going:
                count("broken")
                failures.append(str(broken))
            else:
                raise
        finally:
            _remove(where)

    phases = [Phase.generate] if keep_going else [Phase.generate, Phase.shrink]
    test = given(STRATEGIES[strategy]())(one)
    test = settings(
        max_examples=examples,
        deadline=None,
        derandomize=seed is None,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )(test)
    if seed is not None:
        test = seeded(seed)(test)
    try:
        test()
    finally:
        _remove(Path(runner.cache))
    return {
        "strategy": strategy,
        "cases": done["cases"],
        "outcomes": outcomes,
        "differential": runner.differential,
        "marked": runner.marked,
        "subprocess": done["subprocess"],
        "failures": failures,
    }


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def repository_inputs() -> dict[str, str]:
    """Digests of every shipped input the tests read: examples and policies."""
    paths = sorted(p for p in [*(ROOT / "examples").rglob("*"), *(ROOT / "policies").rglob("*.yaml")] if p.is_file())
    return digest(paths)
