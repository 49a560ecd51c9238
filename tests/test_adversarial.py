"""Adversarial files: each one a deliberate attack or accident, each with the exact answer podeploy gives.

Alias bombs, deep nesting, huge files and endless devices, megabyte strings, every kind of YAML tag,
duplicate keys at every level, NUL bytes, UTF-16 and UTF-32, byte-order marks, line endings,
symlinks, unreadable files, policies that refer to themselves, policies at each durable-rules
limit and one past it, and damaged files in the cache of checked knowledge bases. What
`tests/test_bad_input.py` already pins (a list billion laughs, 100 nested lists and block mappings,
the 4 MiB limit, a NUL, UTF-16 with its mark, a Python tag, a `!custom` scalar, duplicate top-level
and `name` keys, a directory, a missing file) is not repeated.

Bugs found here are strict xfails whose reason says what goes wrong; fuzz/harness.py's KNOWN_BUGS
names the same bugs so the fuzz tests count them instead of failing on them.
"""

from __future__ import annotations

import builtins
import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from helpers import LIMITS, Builds, assert_bad_input, assert_no_traceback, fuzz_harness, invoke, write_policies
from podeploy.engine.evaluation import rete
from podeploy.engine.io import loader
from podeploy.engine.policy.knowledge import KnowledgeBase
from podeploy.engine.policy.loading import load_knowledge_base

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = ROOT / "examples" / "contoso.yaml"
LIMIT = 4 * 1024 * 1024


harness = fuzz_harness()


@pytest.fixture(autouse=True)
def shipped_inputs_stay_as_they_were(tmp_path_factory: pytest.TempPathFactory,
                                     monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test leaves the shipped examples and policies as they were (and caches knowledge bases apart)."""
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(tmp_path_factory.mktemp("kb-cache")))
    before = harness.repository_inputs()
    yield
    assert harness.repository_inputs() == before


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder, so that the problem lines name files as a consultant typed them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def evaluate_bytes(folder: Path, data: bytes, name: str = "facts.yaml", *extra: str) -> Result:
    (folder / name).write_bytes(data)
    return invoke(["evaluate", name, *extra])


def assert_result(result: Result) -> dict[str, Any]:
    """Exit 0, nothing on standard error, the JSON decision on standard output."""
    assert_no_traceback(result)
    assert result.stderr == ""
    assert result.exit_code == 0
    decision: dict[str, Any] = json.loads(result.stdout)
    return decision


def run_module(
    args: list[str], cwd: Path, stdin: Any = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("PODEPLOY_DEBUG", "PODEPLOY_POLICIES")}
    return subprocess.run([sys.executable, "-m", "podeploy", *args], cwd=cwd, stdin=stdin, capture_output=True,
                          env=env, timeout=timeout, check=False)


# -- alias bombs ------------------------------------------------------------------------------------------


def mapping_laughs() -> str:
    """Nine levels of mappings of nine aliases each: 9**9 values once expanded."""
    lines = ["a0: &a0 {" + ", ".join(f"k{i}: lol" for i in range(9)) + "}"]
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} {{" + ", ".join(f"k{i}: *a{level - 1}" for i in range(9)) + "}")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_made_of_mappings_is_stopped_quickly(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Quickly means after the limit's worth of values, not the 9^8 the aliases expand to: counted, not timed.
    built = 0
    real = loader._Builder.build

    def counting(self: Any, *args: Any) -> Any:
        nonlocal built
        built += 1
        return real(self, *args)

    monkeypatch.setattr(loader._Builder, "build", counting)
    result = evaluate_bytes(here, (mapping_laughs() + "customer: Contoso\n").encode())
    assert_bad_input(result, ["facts.yaml:1:86: too-large: more than 200000 values once aliases are expanded "
                              "(an alias bomb?)"])
    assert built == loader.MAX_NODES + 1


def test_a_billion_laughs_in_a_policy_file_is_stopped(here: Path) -> None:
    (here / "pol").mkdir()
    (here / "pol" / "bomb.yaml").write_text(mapping_laughs() + "policy: bomb\ndescription: An alias bomb.\n")
    assert_bad_input(invoke(["evaluate", str(CONTOSO), "--policies", "pol"]),
                     ["pol/bomb.yaml:1:86: too-large: more than 200000 values once aliases are expanded "
                      "(an alias bomb?)"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("customer: C\nx: &a [*a]\n", "facts.yaml:2:4: too-deep: nested more than 64 levels", id="list"),
        pytest.param("customer: C\nx: &a {k: *a}\n", "facts.yaml:2:4: too-deep: nested more than 64 levels",
                     id="mapping"),
        pytest.param("customer: C\nlegal_entities: &a [{name: A, requirements: *a}]\n",
                     "facts.yaml:2:28: too-deep: nested more than 64 levels", id="entity-holding-its-own-list"),
    ],
)
def test_an_alias_inside_its_own_anchor_is_too_deep_not_endless(here: Path, text: str, expected: str) -> None:
    assert_bad_input(evaluate_bytes(here, text.encode()), [expected])


# -- deep nesting ---------------------------------------------------------------------------------------


def nested_lists(levels: int) -> str:
    return "customer: C\nrequirements: " + "[" * levels + "]" * levels + "\n"


def test_sixty_four_nested_lists_are_read_and_sixty_five_are_too_deep(here: Path) -> None:
    inner = "[" * 63 + "]" * 63
    assert_bad_input(evaluate_bytes(here, nested_lists(64).encode()),
                     [f"facts.yaml:2:16: wrong-type: requirements: expected a capability id, got {inner}"])
    assert_bad_input(evaluate_bytes(here, nested_lists(65).encode()),
                     ["facts.yaml:2:79: too-deep: nested more than 64 levels"])


def test_a_hundred_nested_flow_mappings_are_too_deep(here: Path) -> None:
    text = "customer: C\nx: " + "{a: " * 100 + "b" + "}" * 100 + "\n"
    assert_bad_input(evaluate_bytes(here, text.encode()), ["facts.yaml:2:260: too-deep: nested more than 64 levels"])


def test_a_hundred_nested_block_sequences_are_too_deep(here: Path) -> None:
    text = "customer: C\nx:\n" + "- " * 100 + "a\n"
    assert_bad_input(evaluate_bytes(here, text.encode()), ["facts.yaml:3:129: too-deep: nested more than 64 levels"])


def test_ten_thousand_nested_lists_are_too_deep(here: Path) -> None:
    assert_bad_input(evaluate_bytes(here, nested_lists(10_000).encode()),
                     ["facts.yaml:2:79: too-deep: nested more than 64 levels"])


DEEP = {
    "flow-lists": ("facts.yaml", "customer: C\nrequirements: " + "[" * 1_000_000 + "]" * 1_000_000 + "\n"),
    "flow-mappings": ("facts.yaml", "customer: C\nx: " + "{a: " * 300_000 + "b" + "}" * 300_000 + "\n"),
    "block-sequences": ("facts.yaml", "customer: C\nx:\n" + "- " * 1_000_000 + "a\n"),
    "policy-file": ("pol/deep.yaml", "policy: deep\ndescription: " + "[" * 300_000 + "]" * 300_000 + "\n"),
}


@pytest.mark.parametrize("shape", list(DEEP))
def test_hundreds_of_thousands_of_nesting_levels_are_too_deep_not_a_crash(tmp_path: Path, shape: str) -> None:
    name, text = DEEP[shape]
    (tmp_path / "pol").mkdir()
    (tmp_path / name).write_text(text)
    if name.startswith("pol/"):
        (tmp_path / "facts.yaml").write_bytes(CONTOSO.read_bytes())
        done = run_module(["evaluate", "facts.yaml", "--policies", "pol"], tmp_path)
    else:
        done = run_module(["evaluate", name], tmp_path)
    assert done.returncode == 2, f"exit status {done.returncode}"
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{name}:") and lines[0].endswith(": too-deep: nested more than 64 levels")


# -- size -------------------------------------------------------------------------------------------------


def test_a_hundred_megabyte_file_is_refused_without_being_read(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(here / "big.yaml", "wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: no time spent writing it
    opened: list[str] = []

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(loader, "open", spy, raising=False)
    result = invoke(["evaluate", "big.yaml"])
    assert_bad_input(result, [f"big.yaml:1:1: too-large: file is {100 * 1024 * 1024} bytes; the limit is {LIMIT}"])
    assert "big.yaml" not in opened


def test_a_hundred_megabyte_policy_file_is_refused(here: Path) -> None:
    (here / "pol").mkdir()
    with open(here / "pol" / "big.yaml", "wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    assert_bad_input(invoke(["evaluate", str(CONTOSO), "--policies", "pol"]),
                     [f"pol/big.yaml:1:1: too-large: file is {100 * 1024 * 1024} bytes; the limit is {LIMIT}"])


def test_an_endless_device_is_read_only_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []  # what each read of the device asked for: never "everything"

    class Spied:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Spied:
            return self

        def __exit__(self, *_: Any) -> None:
            self.handle.close()

        def read(self, size: Any = -1) -> Any:
            asked.append(size)
            if size is None or size < 0:  # reading an endless device whole would never return: fail instead
                raise AssertionError("an unbounded read")
            return self.handle.read(size)

    def spied_open(path: Any, *args: Any, **kwargs: Any) -> Spied:
        return Spied(builtins.open(path, *args, **kwargs))  # closed by Spied.__exit__

    monkeypatch.setattr(loader, "open", spied_open, raising=False)
    assert_bad_input(invoke(["evaluate", "/dev/zero"]),
                     [f"/dev/zero:1:1: too-large: input is over the limit of {LIMIT} bytes"])
    assert asked == [LIMIT + 1]


def test_endless_standard_input_is_read_only_up_to_the_limit(tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as endless:
        done = run_module(["evaluate", "-"], tmp_path, stdin=endless)
    assert done.stderr.decode() == f"<stdin>:1:1: too-large: input is over the limit of {LIMIT} bytes\n"
    assert done.stdout == b""
    assert done.returncode == 2


def test_an_empty_device_is_an_empty_facts_file() -> None:
    assert_bad_input(invoke(["evaluate", "/dev/null"]),
                     ["/dev/null:1:1: empty: facts file is empty; it needs at least 'customer'"])


# -- long strings -------------------------------------------------------------------------------------------

MEGA = "x" * 1_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"customer: {MEGA}\n", "facts.yaml:1:11: bad-value: customer: longer than 200 characters",
                     id="customer"),
        pytest.param(f"customer: C\nlegal_entities:\n  - name: {MEGA}\n",
                     "facts.yaml:3:11: bad-value: legal_entities.0.name: longer than 200 characters", id="entity-name"),
        pytest.param(f"customer: C\nbudget: {MEGA}\n",
                     f"facts.yaml:2:9: unknown-value: '{MEGA}' is not a value of 'budget' (one of: small, medium, "
                     "large)", id="choice"),
        pytest.param(f"customer: C\nrequirements: [{MEGA}]\n",
                     f"facts.yaml:2:16: unknown-capability: '{MEGA}' is not a capability", id="capability"),
    ],
)
def test_a_one_megabyte_scalar_is_one_located_problem(here: Path, text: str, expected: str) -> None:
    assert_bad_input(evaluate_bytes(here, text.encode()), [expected])  # its cost: benchmarks/run.py, section size


KEY = "k" * 100_000


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param("facts.yaml", f"customer: C\n{KEY}: 1\n",
                     "facts.yaml:2:100001: yaml-syntax: while scanning a simple key, could not find expected ':'",
                     id="plain-key-past-yaml's-1024-characters"),
        pytest.param("facts.yaml", f'customer: C\n"{KEY}": 1\n',
                     "facts.yaml:2:100003: yaml-syntax: while scanning a simple key, could not find expected ':'",
                     id="quoted-key-past-yaml's-1024-characters"),
        pytest.param("facts.json", f'{{"customer": "C", "{KEY}": 1}}',
                     "facts.json:1:100021: yaml-syntax: while parsing a flow mapping, did not find expected ',' or "
                     "'}' (the bracket opened at line 1, column 1)", id="json-key"),
        pytest.param("facts.yaml", f"customer: C\n? {KEY}\n: 1\n",
                     f"facts.yaml:2:3: unknown-fact: '{KEY}' is not a known fact", id="explicit-key"),
    ],
)
def test_a_hundred_thousand_character_key_is_one_located_problem(here: Path, name: str, text: str,
                                                                  expected: str) -> None:
    assert_bad_input(evaluate_bytes(here, text.encode(), name), [expected])


# -- tags ---------------------------------------------------------------------------------------------------
# The loader keeps YAML's plain core types: str, int, float, bool, null and timestamp (kept as the text
# written) may be named explicitly, and so may seq and map; every other tag is refused where it stands.

REFUSED_TAGS = [
    ("customer: !!python/object:os.Foo {}\n", "1:11", "tag:yaml.org,2002:python/object:os.Foo"),
    ("customer: !!python/name:os.system\n", "1:11", "tag:yaml.org,2002:python/name:os.system"),
    ("customer: !!python/module:os\n", "1:11", "tag:yaml.org,2002:python/module:os"),
    ("customer: !!binary aGVsbG8=\n", "1:11", "tag:yaml.org,2002:binary"),
    ("customer: C\nrequirements: !!set {receipt-ocr}\n", "2:15", "tag:yaml.org,2002:set"),
    ("customer: C\nlegal_entities: !!omap [{name: A}]\n", "2:17", "tag:yaml.org,2002:omap"),
    ("customer: C\nlegal_entities: !!pairs [{name: A}]\n", "2:17", "tag:yaml.org,2002:pairs"),
    ("customer: !!merge C\n", "1:11", "tag:yaml.org,2002:merge"),
    ("customer: !!value C\n", "1:11", "tag:yaml.org,2002:value"),
    ("customer: C\nlegal_entities: [!entity {name: A}]\n", "2:18", "!entity"),
    ("customer: !<!local> C\n", "1:11", "!local"),
    ("customer: !<tag:example.com,2000:x> C\n", "1:11", "tag:example.com,2000:x"),
    ("%TAG !e! tag:example.com,2000:\n---\ncustomer: !e!foo C\n", "3:11", "tag:example.com,2000:foo"),
]


@pytest.mark.parametrize(("text", "where", "tag"), REFUSED_TAGS, ids=[t for _, _, t in REFUSED_TAGS])
def test_a_tag_that_is_not_a_plain_core_type_is_refused_where_it_stands(here: Path, text: str, where: str,
                                                                        tag: str) -> None:
    assert_bad_input(evaluate_bytes(here, text.encode()),
                     [f"facts.yaml:{where}: yaml-tag: tag '{tag}' is not allowed; use plain YAML values"])


ACCEPTED_TAGS = [
    pytest.param("customer: !!str 42\n", "42", ["lite"], id="str"),
    pytest.param("customer: !!timestamp 2001-12-14\n", "2001-12-14", ["lite"], id="timestamp-kept-as-written"),
    pytest.param("customer: !!timestamp not-a-date\n", "not-a-date", ["lite"], id="timestamp-not-checked"),
    pytest.param("customer: C\nplans_finance: !!bool yes\n", "C", ["resource-non-stocked"], id="bool"),
    pytest.param("customer: !!str C\nlegal_entities: !!seq [!!map {name: A}]\n", "C", ["lite"], id="seq-and-map"),
    pytest.param("customer: !<tag:yaml.org,2002:str> C\n", "C", ["lite"], id="verbatim-str"),
    pytest.param("%TAG !y! tag:yaml.org,2002:\n---\ncustomer: !y!str C\n", "C", ["lite"], id="tag-directive-to-core"),
    pytest.param("%YAML 1.1\n---\ncustomer: C\n", "C", ["lite"], id="yaml-1.1-directive"),
    pytest.param("%YAML 1.2\n---\ncustomer: C\n", "C", ["lite"], id="yaml-1.2-directive"),
]


@pytest.mark.parametrize(("text", "customer", "deployments"), ACCEPTED_TAGS)
def test_an_explicit_core_tag_is_read_as_its_plain_value(here: Path, text: str, customer: str,
                                                         deployments: list[str]) -> None:
    decision = assert_result(evaluate_bytes(here, text.encode(), "facts.yaml", "--format", "json"))
    assert decision["customer"] == customer
    assert decision["deployments"] == deployments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("customer: !!int 42\n", "facts.yaml:1:11: wrong-type: customer: expected text, got 42 (a number)",
                     id="int"),
        pytest.param("customer: !!float 1.5\n",
                     "facts.yaml:1:11: wrong-type: customer: expected text, got 1.5 (a number)", id="float"),
        pytest.param("customer: C\nbudget: !!null ''\n",
                     "facts.yaml:2:9: wrong-type: budget: expected one of small, medium, large, got nothing (null)",
                     id="null"),
        pytest.param("customer: C\nplans_finance: !!int abc\n",
                     "facts.yaml:2:16: yaml-syntax: 'abc' is not a valid int",
                     id="int-of-letters"),
        pytest.param("customer: !!float abc\n",
                     "facts.yaml:1:11: yaml-syntax: 'abc' is not a valid float",
                     id="float-of-letters"),
    ],
)
def test_an_explicit_core_tag_on_the_wrong_value_is_a_located_problem(here: Path, text: str, expected: str) -> None:
    assert_bad_input(evaluate_bytes(here, text.encode()), [expected])


@pytest.mark.parametrize(
    "text",
    ["customer: !!bool maybe\n", "customer: !!int ''\n", "customer: !!float _\n", "customer: !!int +\n",
     "customer: C\n!!bool maybe: 1\n"],
    ids=["bool-maybe", "int-empty", "float-underscore", "int-plus", "bool-key"],
)
def test_an_explicit_core_tag_on_a_malformed_scalar_is_a_located_problem(here: Path, text: str) -> None:
    result = evaluate_bytes(here, text.encode())
    assert_no_traceback(result)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(("facts.yaml:1:11: yaml-syntax: '", "facts.yaml:2:1: yaml-syntax: '"))


@pytest.mark.parametrize(
    "text",
    ["customer: 0x" + "f" * 4000 + "\n", "customer: C\nbudget: 0b" + "1" * 15000 + "\n",
     "customer: C\nlegal_entities: 0" + "7" * 5000 + "\n"],
    ids=["hex-customer", "binary-budget", "octal-entities"],
)
def test_a_huge_integer_where_text_belongs_is_a_located_problem(here: Path, text: str) -> None:
    result = evaluate_bytes(here, text.encode())
    assert_no_traceback(result)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.endswith(": bad-value: a number of more than 18 digits; no fact needs one")


# -- duplicate keys -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param("facts.yaml", "customer: C\nrequirements: {receipt-ocr: 1, receipt-ocr: 2}\n",
                     "facts.yaml:2:32: duplicate-key: key 'receipt-ocr' appears twice (first at line 2)",
                     id="inside-a-requirements-mapping"),
        pytest.param("facts.yaml", "customer: C\nlegal_entities:\n  - name: A\n    requirements: [{x: 1, x: 2}]\n",
                     "facts.yaml:4:27: duplicate-key: key 'x' appears twice (first at line 4)",
                     id="inside-a-list-inside-an-entity"),
        pytest.param("facts.yaml", "customer: C\nlegal_entities:\n  - name: A\n    requirements: [time-tracking]\n"
                     "    region: france\n    requirements: [receipt-ocr]\n",
                     "facts.yaml:6:5: duplicate-key: key 'requirements' appears twice (first at line 4)",
                     id="an-entity's-requirements"),
        pytest.param("facts.json", '{"customer": "C", "legal_entities": [{"name": "A", "region": "x", "region": "y"}]}',
                     "facts.json:1:67: duplicate-key: key 'region' appears twice (first at line 1)",
                     id="json-inside-an-entity"),
        pytest.param("facts.yaml", "customer: C\n'customer': D\n",
                     "facts.yaml:2:1: duplicate-key: key 'customer' appears twice (first at line 1)",
                     id="quoted-and-plain"),
        pytest.param("facts.yaml", 'customer: C\n"\\x63ustomer": D\n',
                     "facts.yaml:2:1: duplicate-key: key 'customer' appears twice (first at line 1)",
                     id="escaped-and-plain"),
        pytest.param("facts.yaml", "customer: C\n1: a\n'1': b\n",
                     "facts.yaml:3:1: duplicate-key: key '1' appears twice (first at line 2)",
                     id="number-and-text"),
        pytest.param("facts.yaml", "customer: C\n~: 1\n~: 2\n",
                     "facts.yaml:3:1: duplicate-key: key '~' appears twice (first at line 2)", id="null-twice"),
    ],
)
def test_a_key_given_twice_at_any_level_is_refused_naming_the_first(here: Path, name: str, text: str,
                                                                    expected: str) -> None:
    assert_bad_input(evaluate_bytes(here, text.encode(), name), [expected])


def test_keys_that_read_alike_but_are_written_differently_are_two_keys(here: Path) -> None:
    """A key keeps the text written: '~' and 'null', 'yes' and 'true' are two unknown facts, not one twice."""
    assert_bad_input(evaluate_bytes(here, b"customer: C\n~: 1\nnull: 2\nyes: 3\ntrue: 4\n"), [
        "facts.yaml:2:1: unknown-fact: '~' is not a known fact",
        "facts.yaml:3:1: unknown-fact: 'null' is not a known fact",
        "facts.yaml:4:1: unknown-fact: 'yes' is not a known fact",
        "facts.yaml:5:1: unknown-fact: 'true' is not a known fact",
    ])


def test_a_key_given_twice_in_a_rule_condition_is_refused(here: Path) -> None:
    (here / "pol").mkdir()
    (here / "pol" / "x.yaml").write_text(
        "policy: x\ndescription: Dup.\nrules:\n  - id: r\n    description: A rule.\n    when:\n"
        "      - budget: {eq: small, eq: large}\n    then:\n      - warning: {code: low-fit}\n"
        "    explanation: Small.\n"
    )
    assert_bad_input(invoke(["evaluate", str(CONTOSO), "--policies", "pol"]),
                     ["pol/x.yaml:7:29: duplicate-key: key 'eq' appears twice (first at line 7)"])


# -- NUL bytes and encodings ----------------------------------------------------------------------------------


def test_a_nul_as_the_very_first_byte_means_a_binary_file(here: Path) -> None:
    assert_bad_input(evaluate_bytes(here, b"\x00customer: C\n"),
                     ["facts.yaml:1:1: binary-file: file holds NUL bytes; expected YAML or JSON text"])


def test_a_nul_byte_in_a_policy_file_means_a_binary_file(here: Path) -> None:
    (here / "pol").mkdir()
    (here / "pol" / "x.yaml").write_bytes(b"policy: x\ndescription: NUL.\n\x00\n")
    assert_bad_input(invoke(["evaluate", str(CONTOSO), "--policies", "pol"]),
                     ["pol/x.yaml:3:1: binary-file: file holds NUL bytes; expected YAML or JSON text"])


@pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")
def test_an_escaped_nul_is_a_control_character_refused_in_every_name(here: Path) -> None:
    """durable-rules is C, and a terminal acts on control characters: a NUL, even escaped, is refused where it is."""
    text = ('customer: "C\\0"\nlegal_entities:\n  - name: "X\\0a"\n    requirements: [production-orders]\n'
            '  - name: "X\\0b"\n    requirements: [receipt-ocr]\n')
    for engine in ("durable", "reference"):
        result = evaluate_bytes(here, text.encode(), "facts.yaml", "--format", "json", "--engine", engine)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            "facts.yaml:1:11: control-character: text holds a control character (\\x00); remove it",
            "facts.yaml:3:11: control-character: text holds a control character (\\x00); remove it",
            "facts.yaml:5:11: control-character: text holds a control character (\\x00); remove it",
        ]


UTF32_LE = "customer: C\n".encode("utf-32")  # Python writes the little-endian mark first


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"\xfe\xff" + "customer: C\n".encode("utf-16-be"),
                     "facts.yaml:1:1: encoding: file is UTF-16; save it as UTF-8", id="utf16-be-with-mark"),
        pytest.param("customer: C\n".encode("utf-16-le"),
                     "facts.yaml:1:1: binary-file: file holds NUL bytes; expected YAML or JSON text",
                     id="utf16-le-without-mark"),
        pytest.param("customer: C\n".encode("utf-16-be"),
                     "facts.yaml:1:1: binary-file: file holds NUL bytes; expected YAML or JSON text",
                     id="utf16-be-without-mark"),
        pytest.param(UTF32_LE, "facts.yaml:1:1: encoding: file is UTF-32; save it as UTF-8", id="utf32-le-with-mark"),
        pytest.param(b"\x00\x00\xfe\xff" + "customer: C\n".encode("utf-32-be"),
                     "facts.yaml:1:1: encoding: file is UTF-32; save it as UTF-8",
                     id="utf32-be-with-mark"),
        pytest.param("customer: C\n".encode("utf-32-le"),
                     "facts.yaml:1:1: binary-file: file holds NUL bytes; expected YAML or JSON text",
                     id="utf32-le-without-mark"),
    ],
)
def test_a_file_in_a_wide_encoding_is_refused_at_its_first_byte(here: Path, data: bytes, expected: str) -> None:
    assert_bad_input(evaluate_bytes(here, data), [expected])


def test_a_utf32_file_is_not_called_utf16(here: Path) -> None:
    result = evaluate_bytes(here, UTF32_LE)
    assert result.exit_code == 2
    assert "UTF-16" not in result.stderr


def test_a_utf8_byte_order_mark_is_accepted_and_lines_are_counted_as_written(here: Path) -> None:
    assert_bad_input(evaluate_bytes(here, b"\xef\xbb\xbfcustomer: C\nbudget: tiny\n"),
                     ["facts.yaml:2:9: unknown-value: 'tiny' is not a value of 'budget' (one of: small, medium, "
                      "large)"])
    plain = assert_result(evaluate_bytes(here, CONTOSO.read_bytes(), "facts.yaml", "--format", "json"))
    marked = assert_result(evaluate_bytes(here, b"\xef\xbb\xbf" + CONTOSO.read_bytes(), "facts.yaml", "--format",
                                          "json"))
    assert marked == plain


# -- line endings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        pytest.param("facts.yaml", b"customer: C\r\nbudget: tiny\r\n", "2:9", id="crlf"),
        pytest.param("facts.yaml", b"customer: C\rbudget: tiny\r", "2:9", id="lone-cr"),
        pytest.param("facts.yaml", b"customer: C\r\n\rbudget: tiny\n", "3:9", id="crlf-then-cr"),
        pytest.param("facts.yaml", "customer: C\x85budget: tiny\n".encode(), "2:9", id="next-line-character"),
        pytest.param("facts.yaml", "customer: C\u2028budget: tiny\n".encode(), "2:9", id="line-separator"),
        pytest.param("facts.json", b'{"customer": "C",\r\n "budget": "tiny"}\r\n', "2:12", id="json-crlf"),
    ],
)
def test_every_yaml_line_break_counts_as_one_line(here: Path, name: str, data: bytes, where: str) -> None:
    assert_bad_input(evaluate_bytes(here, data, name),
                     [f"{name}:{where}: unknown-value: 'tiny' is not a value of 'budget' (one of: small, medium, "
                      "large)"])


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["crlf", "lone-cr"])
def test_an_example_with_other_line_endings_evaluates_byte_for_byte_alike(here: Path, ending: bytes) -> None:
    (here / "lf").mkdir()
    (here / "other").mkdir()
    (here / "lf" / "contoso.yaml").write_bytes(CONTOSO.read_bytes())
    (here / "other" / "contoso.yaml").write_bytes(CONTOSO.read_bytes().replace(b"\n", ending))
    os.chdir(here / "lf")
    expected = invoke(["evaluate", "contoso.yaml", "--format", "json"])
    os.chdir(here / "other")
    assert assert_result(invoke(["evaluate", "contoso.yaml", "--format", "json"])) == assert_result(expected)


# -- symlinks, devices, directories, permissions -------------------------------------------------------------


def test_a_symlink_to_a_good_file_evaluates_like_the_file(here: Path) -> None:
    (here / "linked").mkdir()
    (here / "copied").mkdir()
    (here / "linked" / "contoso.yaml").symlink_to(CONTOSO)
    (here / "copied" / "contoso.yaml").write_bytes(CONTOSO.read_bytes())
    os.chdir(here / "linked")
    through_link = assert_result(invoke(["evaluate", "contoso.yaml", "--format", "json"]))
    os.chdir(here / "copied")
    assert through_link == assert_result(invoke(["evaluate", "contoso.yaml", "--format", "json"]))
    assert [e["deployment"] for e in through_link["entities"]] == ["stocked-production", "resource-non-stocked"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param("nowhere.yaml", "facts.yaml:1:1: not-found: no such file", id="dangling"),
        pytest.param("facts.yaml", "facts.yaml:1:1: unreadable: Too many levels of symbolic links", id="loop"),
        pytest.param(".", "facts.yaml:1:1: not-a-file: is a directory, not a file", id="to-a-directory"),
    ],
)
def test_a_broken_symlink_is_one_located_problem(here: Path, target: str, expected: str) -> None:
    (here / "facts.yaml").symlink_to(target)
    assert_bad_input(invoke(["evaluate", "facts.yaml"]), [expected])


def test_a_policy_folder_linking_a_built_in_file_holds_no_second_copy(here: Path) -> None:
    (here / "pol").mkdir()
    (here / "pol" / "fit.yaml").symlink_to(ROOT / "policies" / "fit.yaml")
    result = invoke(["validate", "pol"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok: 0 policy files, 0 rules\n", "")


def test_a_policy_folder_linking_back_to_itself_is_walked_once(here: Path) -> None:
    (here / "pol").mkdir()
    (here / "pol" / "loop").symlink_to("..")
    (here / "pol" / "extra.yaml").write_text("policy: extra\ndescription: Nothing but a name.\n")
    result = invoke(["validate", "pol"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok: 1 policy file, 0 rules\n", "")


def lock(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """Opening any file whose name starts with prefix fails as it would without read permission."""

    def locked(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).startswith(prefix):
            raise PermissionError(13, "Permission denied")
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(loader, "open", locked, raising=False)


def test_a_facts_file_that_cannot_be_opened_is_unreadable(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (here / "facts.yaml").write_text("customer: C\n")
    lock(monkeypatch, "facts")
    assert_bad_input(invoke(["evaluate", "facts.yaml"]), ["facts.yaml:1:1: unreadable: Permission denied"])


def test_a_policy_file_that_cannot_be_opened_is_unreadable(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (here / "pol").mkdir()
    (here / "pol" / "x.yaml").write_text("policy: x\ndescription: Locked away.\n")
    lock(monkeypatch, "pol")
    assert_bad_input(invoke(["evaluate", str(CONTOSO), "--policies", "pol"]),
                     ["pol/x.yaml:1:1: unreadable: Permission denied"])


def _readable_by_others(path: Path) -> bool:
    """Can a user other than the owner reach and read podeploy's own files at path?"""
    import stat as _stat

    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        if not mode & _stat.S_IXOTH:
            return False
    return bool((path / "policies").stat().st_mode & _stat.S_IROTH)


def test_a_file_without_read_permission_is_unreadable() -> None:
    """chmod 000 stops everyone but root: as root, the evaluation runs in a child that has become 'nobody'."""
    root = Path(__file__).resolve().parent.parent
    if os.geteuid() == 0 and not _readable_by_others(root):
        pytest.skip("the checkout is not readable by other users, so 'nobody' could not run podeploy at all")
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        facts = folder / "facts.yaml"
        facts.write_text("customer: C\n")
        facts.chmod(0)
        invoke(["evaluate", str(CONTOSO)])  # everything a run imports is imported before the child drops root

        def as_someone_else() -> list[Any]:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            result = invoke(["evaluate", str(facts)])
            return [result.exit_code, result.stdout, result.stderr]

        done = harness.in_child(as_someone_else, timeout=120, current=folder / "current-case.txt")
        assert done == [2, "", f"{facts}:1:1: unreadable: Permission denied\n"]
    finally:
        (folder / "facts.yaml").chmod(0o644)
        harness._remove(folder)


def test_a_file_name_with_a_newline_still_gives_one_line_per_problem(here: Path) -> None:
    (here / "two\nlines.yaml").write_text("customer: C\nbudget: tiny\n")
    result = invoke(["evaluate", "two\nlines.yaml"])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1


# -- policies that refer to themselves ---------------------------------------------------------------------------

CHOSEN = {"id": "chosen", "description": "An entity is chosen.",
          "fields": {"entity": {"type": "string", "domain": "entity"}}}


def policy_doc(name: str, predicates: list[Any], rules: list[Any]) -> dict[str, Any]:
    return {"policy": name, "description": f"The {name} policy.", "predicates": predicates, "rules": rules}


def policy_rule(rid: str, when: list[Any], then: list[Any], explanation: str) -> dict[str, Any]:
    return {"id": rid, "description": f"Rule {rid}.", "when": when, "then": then, "explanation": explanation}


def test_a_rule_that_needs_its_own_conclusion_absent_is_unstratifiable(here: Path) -> None:
    write_policies(here / "pol", policy_doc("self-negating", [CHOSEN], [
        policy_rule("choose-unless-chosen", [{"entity": {"name": "$e"}}, {"not": {"chosen": {"entity": "$e"}}}],
                    [{"chosen": {"entity": "$e"}}], "{e} is chosen because it is not."),
    ]))
    assert_bad_input(invoke(["evaluate", str(CONTOSO), "--policies", "pol"]), [
        "pol/00-self-negating.yaml:11:3: unstratifiable: rule 'choose-unless-chosen' depends on the absence (or "
        "count) of a conclusion that it helps to derive; break the cycle"])


def test_a_rule_that_counts_its_own_conclusion_is_unstratifiable(here: Path) -> None:
    write_policies(here / "pol", policy_doc("self-counting", [CHOSEN], [
        policy_rule("choose-by-count", [{"entity": {"name": "$e"}}, {"count": {"chosen": {"entity": "$e"}},
                                                                     "as": "$n"}],
                    [{"chosen": {"entity": "$e"}}], "{e} is chosen."),
    ]))
    assert_bad_input(invoke(["evaluate", str(CONTOSO), "--policies", "pol"]), [
        "pol/00-self-counting.yaml:11:3: unstratifiable: rule 'choose-by-count' depends on the absence (or count) "
        "of a conclusion that it helps to derive; break the cycle"])


def test_two_rules_that_each_need_the_other_absent_are_both_unstratifiable(here: Path) -> None:
    red = {**CHOSEN, "id": "red", "description": "Red."}
    blue = {**CHOSEN, "id": "blue", "description": "Blue."}
    write_policies(here / "pol", policy_doc("mutual", [red, blue], [
        policy_rule("red-unless-blue", [{"entity": {"name": "$e"}}, {"not": {"blue": {"entity": "$e"}}}],
                    [{"red": {"entity": "$e"}}], "{e} is red."),
        policy_rule("blue-unless-red", [{"entity": {"name": "$e"}}, {"not": {"red": {"entity": "$e"}}}],
                    [{"blue": {"entity": "$e"}}], "{e} is blue."),
    ]))
    message = "depends on the absence (or count) of a conclusion that it helps to derive; break the cycle"
    assert_bad_input(invoke(["evaluate", str(CONTOSO), "--policies", "pol"]), [
        f"pol/00-mutual.yaml:14:3: unstratifiable: rule 'red-unless-blue' {message}",
        f"pol/00-mutual.yaml:26:3: unstratifiable: rule 'blue-unless-red' {message}",
    ])


@pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")
def test_a_rule_that_feeds_its_own_condition_is_allowed_and_terminates(tmp_path: Path) -> None:
    pair = {"id": "pair", "description": "Two entities paired.",
            "fields": {"a": {"type": "string", "domain": "entity"}, "b": {"type": "string", "domain": "entity"}}}
    write_policies(tmp_path / "pol", policy_doc("self-feeding", [pair], [
        policy_rule("pair-up", [{"entity": {"name": "$a"}}, {"entity": {"name": "$b"}}],
                    [{"pair": {"a": "$a", "b": "$b"}}], "{a} and {b} are a pair."),
        policy_rule("pairs-are-symmetric", [{"pair": {"a": "$a", "b": "$b"}}], [{"pair": {"a": "$b", "b": "$a"}}],
                    "{b} and {a} are a pair too."),
    ]))
    (tmp_path / "adatum.json").write_bytes((ROOT / "examples" / "adatum-mixed.json").read_bytes())
    outputs = {}
    for engine in ("durable", "reference"):
        done = run_module(["evaluate", "adatum.json", "--policies", "pol", "--format", "json", "--engine", engine],
                          tmp_path, timeout=60)
        assert (done.returncode, done.stderr) == (0, b"")
        outputs[engine] = json.loads(done.stdout)
        firings = Counter(step["rule"] for step in outputs[engine]["trace"] if step["layer"] == "pol")
        assert firings == {"pair-up": 6, "pairs-are-symmetric": 6}  # three entities: six ordered pairs
    assert {**outputs["durable"], "engine": "-"} == {**outputs["reference"], "engine": "-"}


# -- durable-rules' limits, through the command line over the built-ins ------------------------------------------

BUILT_IN_ENGINE_RULES = sum(len(r.definition) for r in rete.Network(load_knowledge_base(), register=False).rulesets)
# The largest size of each shape (tests/helpers.py, LIMITS) the engine takes beside the built-in rules;
# only the number of rules in a ruleset is shared with them.
AT_LIMIT = {
    "identical conditions": (255, 255),
    "tests under one node": (511, 2),
    "tests one fact passes": (63, 63),
    "facts one rule matches": (15, 1),
    "rules in a ruleset": (4096 - BUILT_IN_ENGINE_RULES - 1, 2),
    "variables in one condition": (29, 2),
}
PAST_LIMIT = {
    "tests one fact passes": "pol/00-stack.yaml:26:3: engine-limit: a fact can pass 65 tests at once on the way to "
                             "rule 'r0'; durable-rules takes at most 64: too many rules compare the same kind of "
                             "fact with variables",
    "facts one rule matches": "pol/00-frames.yaml:93:3: engine-limit: rule 'wide' matches 16 facts at once; "
                              "durable-rules takes at most 15: split the rule",
    "variables in one condition": "pol/00-sequence.yaml:127:3: engine-limit: rule 'long' compares 30 variables in "
                                  "one condition; durable-rules takes at most 29",
}


@pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")
@pytest.mark.parametrize("shape", list(AT_LIMIT))
def test_a_policy_at_a_durable_rules_limit_evaluates_alike_on_both_engines(shape: str, tmp_path: Path) -> None:
    build = LIMITS[shape][0]
    size, firings = AT_LIMIT[shape]
    policies, facts, _ = build(size)
    write_policies(tmp_path / "pol", *policies)
    (tmp_path / "facts.yaml").write_text(yaml.safe_dump(facts), "utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PODEPLOY_DEBUG", "PODEPLOY_POLICIES")}
    runs = {engine: subprocess.Popen(
        [sys.executable, "-m", "podeploy", "evaluate", "facts.yaml", "--policies", "pol", "--format", "json",
         "--engine", engine], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for engine in ("durable", "reference")}
    outputs = {}
    for engine, run in runs.items():
        out, err = run.communicate(timeout=120)
        assert (run.returncode, err) == (0, b""), err[-2000:]
        outputs[engine] = json.loads(out)
        assert sum(1 for step in outputs[engine]["trace"] if step["layer"] == "pol") == firings
    assert {**outputs["durable"], "engine": "-"} == {**outputs["reference"], "engine": "-"}


# Past these, the knowledge base is split into several rulesets (rete.SHARD_SIZE engine rules at most): accepted.
PAST_SPLIT_LIMIT = {"identical conditions": 256, "tests under one node": 2, "rules in a ruleset": 2}


@pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")
@pytest.mark.parametrize("shape", list(PAST_SPLIT_LIMIT))
@pytest.mark.slow
def test_a_policy_one_past_a_ruleset_limit_is_split_and_evaluates_alike_on_both_engines(
        shape: str, tmp_path: Path) -> None:
    policies, facts, _ = LIMITS[shape][0](AT_LIMIT[shape][0] + 1)
    write_policies(tmp_path / "pol", *policies)
    (tmp_path / "facts.yaml").write_text(yaml.safe_dump(facts), "utf-8")
    outputs = {}
    for engine in ("durable", "reference"):
        done = run_module(["evaluate", "facts.yaml", "--policies", "pol", "--format", "json", "--engine", engine],
                          tmp_path, timeout=120)
        assert (done.returncode, done.stderr) == (0, b"")
        outputs[engine] = json.loads(done.stdout)
        steps = sum(1 for step in outputs[engine]["trace"] if step["layer"] == "pol")
        assert steps == PAST_SPLIT_LIMIT[shape]
    assert {**outputs["durable"], "engine": "-"} == {**outputs["reference"], "engine": "-"}


@pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")
@pytest.mark.parametrize("shape", list(PAST_LIMIT))
def test_a_policy_one_past_a_durable_rules_limit_runs_on_the_reference_evaluator_with_a_note(
        shape: str, tmp_path: Path) -> None:
    build = LIMITS[shape][0]
    policies, facts, _ = build(AT_LIMIT[shape][0] + 1)
    write_policies(tmp_path / "pol", *policies)
    (tmp_path / "facts.yaml").write_text(yaml.safe_dump(facts), "utf-8")
    where, limit = PAST_LIMIT[shape].split(": engine-limit: ")
    # Valid policies are never refused: validate says how they run.
    checked = run_module(["validate", "pol"], tmp_path)
    assert checked.returncode == 0
    assert checked.stdout.decode().startswith("ok: 1 policy file")
    assert checked.stderr.decode() == (
        f"note: durable-rules cannot run these policies ({where}: {limit}); podeploy runs them on the reference"
        " evaluator, with the same results (--engine durable refuses them)\n"
    )
    # evaluate falls back on the reference evaluator, in one line, and decides as the reference evaluator does.
    auto = run_module(["evaluate", "facts.yaml", "--policies", "pol", "--format", "json"], tmp_path, timeout=120)
    assert auto.returncode == 0
    assert auto.stderr.decode() == (
        f"podeploy: durable-rules cannot run these policies ({where}: {limit}); using the reference evaluator\n"
    )
    reference = run_module(["evaluate", "facts.yaml", "--policies", "pol", "--format", "json", "--engine",
                            "reference"], tmp_path, timeout=120)
    assert (reference.returncode, reference.stderr) == (0, b"")
    assert json.loads(auto.stdout) == json.loads(reference.stdout)
    assert json.loads(auto.stdout)["engine"] == "reference"
    # Asked for by name, durable-rules refuses them at the rule.
    durable = run_module(["evaluate", "facts.yaml", "--policies", "pol", "--engine", "durable"], tmp_path)
    assert (durable.returncode, durable.stdout) == (2, b"")
    assert durable.stderr.decode().splitlines() == [PAST_LIMIT[shape]]


@pytest.mark.skipif(not rete.available(), reason="durable-rules cannot be imported on this Python")
def test_a_batch_over_policies_past_a_durable_rules_limit_says_the_fallback_once(tmp_path: Path) -> None:
    shape = "facts one rule matches"
    policies, facts, _ = LIMITS[shape][0](AT_LIMIT[shape][0] + 1)
    write_policies(tmp_path / "pol", *policies)
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({**facts, "customer": name}), "utf-8")
    done = run_module(["batch", "a.yaml", "b.yaml", "c.yaml", "--policies", "pol", "--jobs", "2"], tmp_path,
                      timeout=120)
    assert done.returncode == 0, done.stderr
    where, limit = PAST_LIMIT[shape].split(": engine-limit: ")
    note = f"podeploy: durable-rules cannot run these policies ({where}: {limit}); using the reference evaluator"
    assert done.stderr.decode().splitlines().count(note) == 1
    got = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [(r["customer"], r["status"], r["engine"]) for r in got] == [(n, "ok", "reference") for n in "abc"]


# -- the cache of checked knowledge bases ----------------------------------------------------------------------
# engine/policy/cache.py keeps each checked knowledge base as a pickle named after the hash of its inputs and of
# podeploy's code, and loads it in place of reading and checking the policies again.


def cache_file(folder: Path) -> Path:
    [path] = folder.glob("kb-*.pickle")
    return path


@pytest.fixture
def cached_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builds: Builds) -> tuple[Path, dict[str, Any]]:
    """A cache folder holding the built-in knowledge base, read by the next evaluation, and Contoso's decision
    evaluated without it. Each test damages the file: the next evaluation builds the knowledge base again."""
    folder = tmp_path / "kb-cache"
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(folder))
    expected = assert_result(invoke(["evaluate", str(CONTOSO), "--format", "json"]))
    assert cache_file(folder).stat().st_size > 0
    assert assert_result(invoke(["evaluate", str(CONTOSO), "--format", "json"])) == expected
    assert builds.count == 1  # the second evaluation read the file
    return cache_file(folder), expected


@pytest.mark.parametrize("damage", ["empty", "truncated", "not-a-pickle"])
def test_an_unreadable_cache_file_is_rebuilt_and_the_result_is_unchanged(
        cached_builtins: tuple[Path, dict[str, Any]], builds: Builds, damage: str) -> None:
    path, expected = cached_builtins
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "not-a-pickle": b"customer: C\n"}[damage])
    assert assert_result(invoke(["evaluate", str(CONTOSO), "--format", "json"])) == expected
    assert builds.count == 2
    header, _digest, payload = path.read_bytes().split(b"\n", 2)  # written again, whole, with its digest
    assert header == b"podeploy-kb-2"
    assert isinstance(pickle.loads(payload), KnowledgeBase)


@pytest.mark.parametrize("word", [b"receipt-ocr", b"stocked-inventory", b"stocked-production"])
@pytest.mark.slow
def test_a_cache_file_with_one_letter_changed_never_changes_the_result(
        cached_builtins: tuple[Path, dict[str, Any]], builds: Builds, word: bytes) -> None:
    path, expected = cached_builtins
    data = path.read_bytes()
    start = data.find(word)
    assert start >= 0
    while start >= 0:
        end = start + len(word)
        path.write_bytes(data[: end - 1] + b"~" + data[end:])
        rebuilt = builds.count + 1
        assert assert_result(invoke(["evaluate", str(CONTOSO), "--format", "json"])) == expected
        assert builds.count == rebuilt
        start = data.find(word, end)


@pytest.mark.parametrize(
    "data",
    [b"\x80\x04\x95" + b"\xff" * 8, b"\x80\x04\x95" + (1 << 40).to_bytes(8, "little"), b"\x80\x04K\x01."],
    ids=["frame-longer-than-memory", "frame-of-a-terabyte", "a-pickled-number"],
)
def test_a_cache_file_of_a_few_wrong_bytes_is_rebuilt(cached_builtins: tuple[Path, dict[str, Any]],
                                                       builds: Builds, data: bytes) -> None:
    path, expected = cached_builtins
    path.write_bytes(data)
    assert assert_result(invoke(["evaluate", str(CONTOSO), "--format", "json"])) == expected
    assert builds.count == 2
