"""Fuzzing podeploy's input handling: the strategies, the outcome contract and the runners.

Shared by `tests/test_fuzz.py` (a fixed, derandomized budget) and `fuzz/run.py` (a larger one
from the command line). Five strategies draw inputs:

- `raw_bytes`: arbitrary bytes, sometimes behind a byte-order mark or a valid first line;
- `yaml_documents`: nested structures drawn by Hypothesis and written with `yaml.safe_dump`;
- `yaml_text`: raw text made of YAML's syntax characters, indicators, tags and directives;
- `mutated_facts`: a shipped example (`examples/*.yaml`, `*.json`) after one to four mutations
  (drop, duplicate or rename a key, change a value's type, swap two values, insert a capability,
  drop or repeat a list item, add a key or a legal entity);
- `mutated_policies`: a policy layer after the same mutations, loaded with `--policies`: a copy of
  the shipped documentation edition over the built-ins alone (`--as-of 2023-11`), or a built-in
  policy file's rules turned into `overrides:` over the shipped knowledge.

The contract (README, "Exit status and errors"): exit 0 with a result, or exit 2 with nothing on
standard output and every standard-error line `file:line:column: code: message`. A traceback, a
crash, a hang, exit 1 or any other status breaks it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import select
import shutil
import signal
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


def _builtins() -> Any:
    """The shipped knowledge as the commands load it by default: the built-ins and the editions."""
    from podeploy.engine.knowledge import edition_dirs, load_knowledge_base

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


@dataclass
class Case:
    """One input to run: the facts file, and the policy files of a layer loaded with --policies (if any)."""

    strategy: str
    facts_name: str
    facts: bytes
    policies: dict[str, bytes] = field(default_factory=dict)
    args: tuple[str, ...] = ("evaluate", "--format", "json")
    note: str = ""

    def describe(self) -> str:
        lines = [f"strategy {self.strategy}: podeploy {' '.join(self.args)} {self.facts_name} ({self.note})"]
        lines.append(f"{self.facts_name}: {self.facts!r}"[:4000])
        for name, data in self.policies.items():
            lines.append(f"pol/{name}: {data!r}"[:4000])
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
    from podeploy.engine.loader import parse_document

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
    from podeploy.engine.loader import parse_document

    doc = parse_document(path.read_text("utf-8"), path.name).value
    rules = [{**rule, "overrides": rule["id"]} for rule in doc.get("rules", [])]
    return f"{path.stem}-again.yaml", {"policy": f"{doc['policy']}-again", "description": doc["description"],
                                        "rules": rules}


def _policy_layers() -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """The layers policy mutations start from, each with the options under which it loads cleanly as it is."""
    from podeploy.engine.loader import parse_document

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


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[Case]]] = {
    "raw-bytes": raw_bytes,
    "yaml-documents": yaml_documents,
    "yaml-text": yaml_text_cases,
    "mutated-facts": mutated_facts,
    "mutated-policies": mutated_policies,
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
        for line in lines:
            match = LOCATED.match(line)
            if match is None:
                raise ContractBroken(f"exit 2 with an unlocated line {line[:300]!r}", case)
            if not any(match["file"] == f or match["file"].startswith(f + os.sep) for f in allowed_files):
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
        policy_dir = folder / "pol"
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
        # Policy layers that load are cached by podeploy (engine/cache.py): in a folder of this run's own.
        self.cache = tempfile.mkdtemp(prefix="podeploy-fuzz-kb-cache-")

    @contextlib.contextmanager
    def _cached_builtins(self) -> Iterator[None]:
        real = self.main.load_knowledge_base

        from podeploy.engine.knowledge import edition_dirs

        shipped = list(edition_dirs())

        def load(layers: Sequence[str] = (), **kwargs: Any) -> Any:
            return self.builtins if list(layers) == shipped and not kwargs else real(layers, **kwargs)

        self.main.load_knowledge_base = load
        try:
            yield
        finally:
            self.main.load_knowledge_base = real

    def invoke(self, argv: list[str]) -> tuple[int, str, str]:
        with self._cached_builtins():
            env = {"PODEPLOY_POLICIES": "", "PODEPLOY_DEBUG": "", "PODEPLOY_CACHE_DIR": self.cache}
            result = self.runner.invoke(self.main.cli, argv, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(result.exception))
            raise ContractBroken(f"a traceback:\n{trace[-3000:]}")
        return result.exit_code, result.stdout, result.stderr

    def run(self, case: Case, folder: Path) -> str:
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
        if outcome == "result" and "durable" not in case.args and "reference" not in case.args and "json" in case.args:
            self._same_on_the_reference(case, written, policy_dir, out)
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


def run_in_subprocess(case: Case, folder: Path, timeout: float = 60) -> str:
    """The same case through `python -m podeploy` in a fresh interpreter, with a timeout."""
    written = write_case(case, folder)
    before = digest(written.files)
    policy_dir = "pol" if written.policy_dir else None
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
    allowed = [case.facts_name] + (["pol", "<engine>", "policies"] if policy_dir else [])
    out = done.stdout.decode("utf-8", "replace")
    err = done.stderr.decode("utf-8", "replace")
    return judge(case, done.returncode, out, err, allowed)


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
        "subprocess": done["subprocess"],
        "failures": failures,
    }


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def repository_inputs() -> dict[str, str]:
    """Digests of every shipped input the tests read: examples and policies."""
    paths = sorted(p for p in [*(ROOT / "examples").rglob("*"), *(ROOT / "policies").rglob("*.yaml")] if p.is_file())
    return digest(paths)
