"""Bad input: every malformed facts or policy file gives exit status 2, one located line per problem
on stderr (`file:line:column: code: message`), nothing on stdout, and never a traceback.

Every row pins the exact lines a consultant reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_bad_input, assert_no_traceback, invoke

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = ROOT / "examples" / "contoso.yaml"
LIMIT = 4 * 1024 * 1024

# One problem line: file, then line:column (the contract asks for both), a code and a message.
PROBLEM_LINE = re.compile(r"^(?P<file>.+?)(?::(?P<line>\d+):(?P<column>\d+))?: (?P<code>[a-z][a-z0-9-]*): \S.*$")

DIRECTORY = object()  # content sentinel: make a directory, not a file
MISSING = object()  # content sentinel: make nothing at all



# -- helpers -----------------------------------------------------------------------------------------


def write(path: Path, content: Any) -> None:
    if content is MISSING:
        return
    if content is DIRECTORY:
        path.mkdir()
        return
    if callable(content):
        content = content()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))


def billion_laughs() -> str:
    """Nine levels of nine aliases each: 9**9 values once expanded."""
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 9) + "]")
    lines.append("customer: Contoso")
    return "\n".join(lines) + "\n"


def nested_lists(levels: int) -> str:
    return "customer: Contoso\nrequirements: " + "[" * levels + "]" * levels + "\n"


def nested_mappings(levels: int) -> str:
    lines = ["customer: Contoso"]
    lines += ["  " * depth + f"level{depth}:" for depth in range(levels)]
    lines.append("  " * levels + "bottom")
    return "\n".join(lines) + "\n"


def larger_than_limit() -> str:
    return "customer: Contoso\n# " + "x" * LIMIT + "\n"


# -- malformed facts files ---------------------------------------------------------------------------

FACTS_CASES = [
    pytest.param(
        "facts.yaml", "customer: Contoso\n  budget: small\n",
        ["facts.yaml:2:9: yaml-syntax: mapping values are not allowed in this context"],
        id="malformed-yaml-is-located-at-the-offending-colon",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nbudget: small\nbudget medium\n",
        ["facts.yaml:4:1: yaml-syntax: while scanning a simple key, could not find expected ':'"],
        id="key-without-a-colon-is-a-syntax-error",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\ncustomer: Fabrikam\n",
        ["facts.yaml:2:1: duplicate-key: key 'customer' appears twice (first at line 1)"],
        id="duplicate-top-level-key-names-the-first-occurrence",
    ),
    pytest.param(
        "facts.yaml",
        "customer: Contoso\nlegal_entities:\n  - name: Contoso US\n    region: united-states\n    name: Contoso UK\n",
        ["facts.yaml:5:5: duplicate-key: key 'name' appears twice (first at line 3)"],
        id="duplicate-key-inside-a-legal-entity-names-the-first-occurrence",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nrequirments: [receipt-ocr]\n",
        ["facts.yaml:2:1: unknown-fact: 'requirments' is not a known fact (did you mean 'requirements'?)"],
        id="unknown-top-level-fact-suggests-closest-name",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nlegal_entities:\n  - name: Contoso US\n    requirments: [receipt-ocr]\n",
        ["facts.yaml:4:5: unknown-fact: 'requirments' is not a known fact (did you mean 'requirements'?)"],
        id="unknown-fact-in-a-legal-entity-suggests-closest-name",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nlegal_entities:\n  - name: Contoso US\n    budget: small\n",
        ["facts.yaml:4:5: unknown-fact: 'budget' is not a known fact "
         "('budget' is a customer-wide fact: set it at the top level)"],
        id="customer-wide-fact-under-a-legal-entity-says-where-it-belongs",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nrequirements: [recipt-ocr]\n",
        ["facts.yaml:2:16: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)"],
        id="unknown-capability-suggests-closest-name",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nrequirements: [receipt_ocr]\n",
        ["facts.yaml:2:16: unknown-capability: 'receipt_ocr' is not a capability (did you mean 'receipt-ocr'?)"],
        id="capability-with-underscore-suggests-the-hyphenated-name",
    ),
    pytest.param(
        "facts.yaml",
        "customer: Contoso\nlegal_entities:\n  - name: Contoso US\n    requirements: [production-order]\n",
        ["facts.yaml:4:20: unknown-capability: 'production-order' is not a capability "
         "(did you mean 'production-orders'?)"],
        id="unknown-capability-in-a-legal-entity-suggests-closest-name",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nrequirements: [ocr]\n",
        ["facts.yaml:2:16: unknown-capability: 'ocr' is not a capability"],
        id="unknown-capability-with-nothing-close-suggests-nothing",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nbudget: tiny\n",
        ["facts.yaml:2:9: unknown-value: 'tiny' is not a value of 'budget' (one of: small, medium, large)"],
        id="unknown-choice-value-lists-the-allowed-values",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nbudget: Small\n",
        ["facts.yaml:2:9: unknown-value: 'Small' is not a value of 'budget' (did you mean 'small'?)"],
        id="miscapitalised-choice-value-suggests-closest-value",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nexisting_solution: psa\n",
        ["facts.yaml:2:20: unknown-value: 'psa' is not a value of 'existing_solution' (one of: none, "
         "project-service-automation, finance-project-management, lite, resource-non-stocked, stocked-production)"],
        id="abbreviated-existing-solution-lists-the-allowed-values",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nbudget: 5\n",
        ["facts.yaml:2:9: wrong-type: budget: expected one of small, medium, large, got 5"],
        id="number-for-a-choice-is-the-wrong-type",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nbudget:\n",
        ["facts.yaml:2:8: wrong-type: budget: expected one of small, medium, large, got nothing (null)"],
        id="empty-choice-says-nothing-was-given",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nexisting_solution: no\n",
        ["facts.yaml:2:20: wrong-type: existing_solution: expected one of none, project-service-automation, "
         "finance-project-management, lite, resource-non-stocked, stocked-production, got false (true/false)"],
        id="yaml-boolean-for-a-choice-says-it-read-false",
    ),
    pytest.param(
        "facts.yaml", 'customer: Contoso\nplans_finance: "yes please"\n',
        ["facts.yaml:2:16: wrong-type: plans_finance: expected true or false, got 'yes please' (text)"],
        id="text-for-a-boolean-is-the-wrong-type",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nrequirements: receipt-ocr\n",
        ["facts.yaml:2:15: wrong-type: requirements: expected a list, got 'receipt-ocr' (text)"],
        id="single-capability-instead-of-a-list-is-the-wrong-type",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nrequirements: [receipt-ocr, 3]\n",
        ["facts.yaml:2:29: wrong-type: requirements: expected a capability id, got 3"],
        id="number-in-the-capability-list-is-the-wrong-type",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nlegal_entities: {}\n",
        ["facts.yaml:2:17: wrong-type: legal_entities: expected a list, got a mapping"],
        id="legal-entities-as-a-mapping-is-the-wrong-type",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nlegal_entities:\n  - region: france\n",
        ["facts.yaml:3:5: missing-key: 'name' is required"],
        id="legal-entity-without-a-name-is-reported",
    ),
    pytest.param(
        "facts.yaml", "budget: small\n",
        ["facts.yaml:1:1: missing-key: 'customer' is required"],
        id="missing-customer-is-reported",
    ),
    pytest.param(
        "facts.yaml", 'customer: ""\n',
        ["facts.yaml:1:11: bad-value: customer: must not be blank"],
        id="empty-customer-name-is-reported",
    ),
    pytest.param(
        "facts.yaml", "customer: 42\n",
        ["facts.yaml:1:11: wrong-type: customer: expected text, got 42 (a number)"],
        id="number-as-customer-is-the-wrong-type",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nrequirments: [receipt-ocr]\nbudgett: small\nrequirements: [recipt-ocr]\n",
        [
            "facts.yaml:2:1: unknown-fact: 'requirments' is not a known fact (did you mean 'requirements'?)",
            "facts.yaml:3:1: unknown-fact: 'budgett' is not a known fact (did you mean 'budget'?)",
            "facts.yaml:4:16: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)",
        ],
        id="every-problem-is-reported-at-once-in-file-order",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nbudget: small\nunknown: [budget]\n",
        ["facts.yaml:3:11: contradiction: 'budget' is given here and also listed as unknown"],
        id="fact-given-and-listed-as-unknown-is-a-contradiction",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nrequirements: [receipt-ocr]\nunknown: [receipt-ocr]\n",
        ["facts.yaml:3:11: contradiction: 'receipt-ocr' is listed as needed here and also as unknown"],
        id="capability-needed-and-listed-as-unknown-is-a-contradiction",
    ),
    pytest.param(
        "facts.yaml",
        "customer: Contoso\nlegal_entities:\n  - name: Contoso US\n    ledger: other-erp\n    unknown: [ledger]\n",
        ["facts.yaml:5:15: contradiction: 'ledger' is given here and also listed as unknown"],
        id="entity-fact-given-and-listed-as-unknown-under-the-same-entity-is-a-contradiction",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nunknown: [budgett]\n",
        ["facts.yaml:2:11: unknown-fact: 'budgett' is not a fact or capability that can be unknown here "
         "(did you mean 'budget'?)"],
        id="misspelt-fact-in-the-unknown-list-suggests-closest-name",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nlegal_entities:\n  - name: Contoso US\n    unknown: [budget]\n",
        ["facts.yaml:4:15: unknown-fact: 'budget' is a customer-wide fact: list it as unknown at the top level"],
        id="customer-wide-fact-in-a-legal-entitys-unknown-list-is-refused",
    ),
    pytest.param(
        "facts.yaml",
        "customer: Contoso\nlegal_entities:\n  - name: Contoso US\n    budget: small\n    unknown: [budget]\n",
        ["facts.yaml:4:5: unknown-fact: 'budget' is not a known fact ('budget' is a customer-wide fact: set it at "
         "the top level)",
         "facts.yaml:5:15: unknown-fact: 'budget' is a customer-wide fact: list it as unknown at the top level"],
        id="customer-wide-fact-given-and-listed-as-unknown-under-an-entity-is-refused-but-no-contradiction",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nunknown: [customer]\n",
        ["facts.yaml:2:11: unknown-fact: 'customer' is not a fact or capability that can be unknown here"],
        id="a-name-that-cannot-be-unknown-is-refused-once-not-also-as-a-contradiction",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nunknown: budget\n",
        ["facts.yaml:2:10: wrong-type: unknown: expected a list, got 'budget' (text)"],
        id="unknown-as-text-instead-of-a-list-is-the-wrong-type",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\nunknown: [3]\n",
        ["facts.yaml:2:11: wrong-type: unknown: expected a fact or capability id, got 3"],
        id="number-in-the-unknown-list-is-the-wrong-type",
    ),
    pytest.param(
        "facts.yaml", "",
        ["facts.yaml:1:1: empty: facts file is empty; it needs at least 'customer'"],
        id="empty-file-asks-for-a-customer",
    ),
    pytest.param(
        "facts.yaml", "# nothing here yet\n",
        ["facts.yaml:1:1: empty: facts file is empty; it needs at least 'customer'"],
        id="file-of-comments-only-is-empty",
    ),
    pytest.param(
        "facts.yaml", "- customer: Contoso\n",
        ["facts.yaml:1:1: wrong-type: a facts file is a mapping of facts (customer: ..., requirements: ...)"],
        id="yaml-list-instead-of-a-mapping-is-the-wrong-type",
    ),
    pytest.param(
        "facts.yaml", 'customer: !!python/object/apply:os.system ["echo owned"]\n',
        ["facts.yaml:1:11: yaml-tag: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed; "
         "use plain YAML values"],
        id="python-object-tag-is-refused",
    ),
    pytest.param(
        "facts.yaml", "customer: !contoso Contoso\n",
        ["facts.yaml:1:11: yaml-tag: tag '!contoso' is not allowed; use plain YAML values"],
        id="custom-tag-is-refused",
    ),
    pytest.param(
        "facts.yaml", "? [a, b]\n: c\ncustomer: Contoso\n",
        ["facts.yaml:1:3: wrong-type: a key must be a plain string"],
        id="complex-key-is-refused",
    ),
    pytest.param(
        "facts.yaml", billion_laughs,
        ["facts.yaml:1:54: too-large: more than 200000 values once aliases are expanded (an alias bomb?)"],
        id="alias-bomb-is-stopped",
    ),
    pytest.param(
        "facts.yaml", nested_lists(100),
        ["facts.yaml:2:79: too-deep: nested more than 64 levels"],
        id="hundred-nested-lists-are-too-deep",
    ),
    pytest.param(
        "facts.yaml", nested_mappings(100),
        ["facts.yaml:67:131: too-deep: nested more than 64 levels"],
        id="hundred-nested-mappings-are-too-deep",
    ),
    pytest.param(
        "facts.yaml", larger_than_limit,
        [f"facts.yaml:1:1: too-large: file is {LIMIT + 21} bytes; the limit is {LIMIT}"],
        id="file-over-4-mib-is-refused-unread",
    ),
    pytest.param(
        "facts.yaml", b"customer: Contoso\nbudget: sm\x00all\n",
        ["facts.yaml:2:1: binary-file: file holds NUL bytes; expected YAML or JSON text"],
        id="nul-bytes-mean-a-binary-file",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\n".encode("utf-16"),
        ["facts.yaml:1:1: encoding: file is UTF-16; save it as UTF-8"],
        id="utf16-with-bom-asks-for-utf8",
    ),
    pytest.param(
        "facts.yaml", b"customer: Contoso\nregion: caf\xe9\n",
        ["facts.yaml:2:12: encoding: not UTF-8 text (byte 0xe9)"],
        id="invalid-utf8-is-located-at-the-bad-byte",
    ),
    pytest.param(
        "facts.yaml", "customer: Contoso\n---\ncustomer: Fabrikam\n",
        ["facts.yaml:2:1: multiple-documents: a file holds one YAML document; a second one starts here"],
        id="second-yaml-document-is-refused",
    ),
    pytest.param(
        "facts.yaml",
        "customer: Contoso\nlegal_entities:\n  - name: Contoso US\n  - name: Contoso UK\n  - name: Contoso US\n",
        ["facts.yaml:5:11: duplicate-entity: legal entity 'Contoso US' is listed twice (first at line 3)"],
        id="duplicate-legal-entity-names-the-first-occurrence",
    ),
    pytest.param(
        "facts.yaml",
        "customer: Contoso\nlegal_entities:\n  - name: Contoso US\n  - name: \" Contoso US \"\n",
        ["facts.yaml:4:11: duplicate-entity: legal entity 'Contoso US' is listed twice (first at line 3)"],
        id="legal-entity-names-differing-only-in-spaces-are-duplicates",
    ),
    pytest.param(
        "facts.yaml",
        "customer: Contoso\nlegal_entities:\n  - &us {name: Contoso US, region: united-states}\n"
        "  - <<: *us\n    name: Contoso UK\n",
        ["facts.yaml:4:5: yaml-merge: merge keys ('<<') are not supported; write the keys out"],
        id="merge-key-is-refused",
    ),
    pytest.param(
        "facts.json", '{"customer": "Contoso"\n "budget": "small"}\n',
        ["facts.json:2:2: yaml-syntax: while parsing a flow mapping, did not find expected ',' or '}' "
         "(the bracket opened at line 1, column 1)"],
        id="json-with-a-missing-comma-is-a-syntax-error",
    ),
    pytest.param(
        "facts.json", '{"customer": "Contoso", "budget": "small", "budget": "large"}\n',
        ["facts.json:1:44: duplicate-key: key 'budget' appears twice (first at line 1)"],
        id="json-duplicate-key-is-refused",
    ),
    pytest.param(
        "facts.json", '{"customer": "Contoso", "requirements": ["recipt-ocr"]}\n',
        ["facts.json:1:42: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)"],
        id="json-unknown-capability-suggests-closest-name",
    ),
    pytest.param(
        "facts", DIRECTORY,
        ["facts:1:1: not-a-file: is a directory, not a file"],
        id="directory-given-as-facts-is-refused",
    ),
    pytest.param(
        "facts.yaml", MISSING,
        ["facts.yaml:1:1: not-found: no such file"],
        id="missing-facts-file-is-reported",
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), FACTS_CASES)
def test_malformed_facts_file_is_reported_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: Any, expected: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / name, content)
    assert_bad_input(invoke(["evaluate", name]), expected)


def _without_marks(cases: list[Any]) -> list[Any]:
    return [pytest.param(*case.values, id=case.id) for case in cases]


@pytest.mark.parametrize(("name", "content", "expected"), _without_marks(FACTS_CASES))
def test_malformed_facts_file_exits_2_with_located_lines_and_nothing_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: Any, expected: list[str]
) -> None:
    """Holds for every row, the xfail'd ones included, and for both commands that read facts."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / name, content)
    for args in (["evaluate", name], ["why", name, "--format", "json"]):
        result = invoke(args)
        assert_no_traceback(result)
        assert result.stdout == ""
        assert result.exit_code == 2
        lines = result.stderr.splitlines()
        assert len(lines) == len(expected)
        for line in lines:
            match = PROBLEM_LINE.match(line)
            assert match, line
            assert match["file"] == name


# -- standard input ----------------------------------------------------------------------------------


def test_facts_on_stdin_evaluate_like_the_same_file() -> None:
    from_file = invoke(["evaluate", str(CONTOSO)])
    from_stdin = invoke(["evaluate", "-"], stdin=CONTOSO.read_bytes())
    assert from_stdin.exit_code == 0
    assert from_stdin.stderr == ""
    assert from_stdin.stdout == from_file.stdout
    assert from_stdin.stdout.startswith("Customer: Contoso\n")


def test_json_facts_on_stdin_evaluate() -> None:
    result = invoke(["evaluate", "-", "--format", "json"], stdin='{"customer": "Fabrikam"}')
    assert result.exit_code == 0
    assert result.stderr == ""
    assert '"customer": "Fabrikam"' in result.stdout


def test_bad_facts_on_stdin_are_located_in_stdin() -> None:
    result = invoke(["evaluate", "-"], stdin="customer: Contoso\nbudget: tiny\n")
    assert_bad_input(
        result, ["<stdin>:2:9: unknown-value: 'tiny' is not a value of 'budget' (one of: small, medium, large)"]
    )


def test_malformed_yaml_on_stdin_is_a_syntax_error() -> None:
    result = invoke(["evaluate", "-"], stdin="customer: [Contoso\n")
    assert_bad_input(result, ["<stdin>:2:1: yaml-syntax: while parsing a flow sequence, did not find expected ',' "
                              "or ']' (the bracket opened at line 1, column 11)"])


def test_binary_stdin_is_refused() -> None:
    result = invoke(["evaluate", "-"], stdin=b"customer: Contoso\x00\n")
    assert_bad_input(result, ["<stdin>:1:1: binary-file: file holds NUL bytes; expected YAML or JSON text"])


def test_empty_stdin_asks_for_a_customer() -> None:
    result = invoke(["evaluate", "-"], stdin="")
    assert_bad_input(result, ["<stdin>:1:1: empty: facts file is empty; it needs at least 'customer'"])


def test_stdin_over_4_mib_is_refused() -> None:
    result = invoke(["evaluate", "-"], stdin="customer: Contoso\n#" + "x" * LIMIT + "\n")
    assert_bad_input(result, [f"<stdin>:1:1: too-large: input is over the limit of {LIMIT} bytes"])


def test_stdin_over_4_mib_exits_2_without_output() -> None:
    result = invoke(["evaluate", "-"], stdin="customer: Contoso\n#" + "x" * LIMIT + "\n")
    assert_no_traceback(result)
    assert result.stdout == ""
    assert result.exit_code == 2
    assert result.stderr.startswith("<stdin>")
    assert ": too-large: " in result.stderr


# -- safety ------------------------------------------------------------------------------------------


def test_python_object_tag_never_runs_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "facts.yaml").write_text('customer: !!python/object/apply:os.system ["touch owned"]\n')
    result = invoke(["evaluate", "facts.yaml"])
    assert result.exit_code == 2
    assert not (tmp_path / "owned").exists()


def _run_module(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PODEPLOY_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "podeploy", *args], cwd=cwd, input=stdin, capture_output=True, env=env, timeout=60,
    )


SUBPROCESS_CASES = [
    pytest.param(
        'customer: !!python/object/apply:os.system ["touch owned"]\n',
        "facts.yaml:1:11: yaml-tag: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed; "
        "use plain YAML values\n",
        id="python-tag",
    ),
    pytest.param(
        billion_laughs(),
        "facts.yaml:1:54: too-large: more than 200000 values once aliases are expanded (an alias bomb?)\n",
        id="alias-bomb",
    ),
    pytest.param(
        nested_lists(100), "facts.yaml:2:79: too-deep: nested more than 64 levels\n", id="deep-nesting",
    ),
    pytest.param(
        "customer: Contoso\nrequirements: [recipt-ocr]\n",
        "facts.yaml:2:16: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)\n",
        id="unknown-capability",
    ),
]


@pytest.mark.parametrize(("content", "expected"), SUBPROCESS_CASES)
def test_a_real_process_reports_bad_facts_without_a_traceback(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "facts.yaml").write_text(content)
    done = _run_module(["evaluate", "facts.yaml"], tmp_path)
    assert b"Traceback" not in done.stderr
    assert done.stderr.decode() == expected
    assert done.stdout == b""
    assert done.returncode == 2
    assert not (tmp_path / "owned").exists()


def test_a_real_process_reports_bad_stdin_without_a_traceback(tmp_path: Path) -> None:
    done = _run_module(["evaluate", "-"], tmp_path, stdin=b"customer: Contoso\nrequirements: [recipt-ocr]\n")
    assert b"Traceback" not in done.stderr
    assert done.stderr.decode() == (
        "<stdin>:2:16: unknown-capability: 'recipt-ocr' is not a capability (did you mean 'receipt-ocr'?)\n"
    )
    assert done.stdout == b""
    assert done.returncode == 2


def test_a_real_process_reports_a_missing_file_without_a_traceback(tmp_path: Path) -> None:
    done = _run_module(["evaluate", "nowhere.yaml"], tmp_path)
    assert b"Traceback" not in done.stderr
    assert done.stderr.decode().startswith("nowhere.yaml")
    assert ": not-found: no such file" in done.stderr.decode()
    assert done.stdout == b""
    assert done.returncode == 2


def test_a_real_process_evaluates_stdin(tmp_path: Path) -> None:
    done = _run_module(["evaluate", "-"], tmp_path, stdin=b"customer: Fabrikam\n")
    assert done.stderr == b""
    assert done.stdout.decode().startswith(
        "Customer: Fabrikam\n"
        'Knowledge: built-in, as of 2023-11 (The seeds, read literally: Microsoft Learn, "Determine your deployment '
        'type" (2023-11-06), and Advisicon, "What is Dynamics 365 Project Operations?" (2023-09)); docs-2026-08, '
        "as of 2026-08 (Microsoft's Dynamics 365 Project Operations documentation, as read on 2026-08-21)\n"
        "Deployments on the environment: Project Operations Core (lite)\n"
    )
    assert done.stdout.decode() == invoke(["evaluate", "-"], stdin="customer: Fabrikam\n").stdout
    assert done.returncode == 0


# -- fixed behaviours that once were wrong ---------------------------------------------------


def test_unclosed_bracket_names_where_it_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "facts.yaml").write_text("customer: Contoso\nrequirements: [receipt-ocr\nbudget: small\n")
    result = invoke(["evaluate", "facts.yaml"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("facts.yaml:3:7: yaml-syntax: ")
    assert result.stderr.rstrip().endswith("(the bracket opened at line 2, column 15)")


def test_blank_customer_name_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "facts.yaml").write_text('customer: "   "\n')
    result = invoke(["evaluate", "facts.yaml"])
    assert result.stdout == ""
    assert result.exit_code == 2
    assert result.stderr.startswith("facts.yaml:1:11: bad-value: customer: ")


def test_blank_legal_entity_name_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "facts.yaml").write_text('customer: Contoso\nlegal_entities:\n  - name: "   "\n')
    result = invoke(["evaluate", "facts.yaml"])
    assert result.stdout == ""
    assert result.exit_code == 2
    assert result.stderr.startswith("facts.yaml:3:11: bad-value: legal_entities.0.name: ")


def test_overlong_capability_list_says_how_long_it_may_be(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    capabilities = ", ".join(["receipt-ocr"] * 501)
    (tmp_path / "facts.yaml").write_text(f"customer: Contoso\nrequirements: [{capabilities}]\n")
    result = invoke(["evaluate", "facts.yaml"])
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("facts.yaml:2:15: bad-value: requirements: ")
    assert "500" in line
    assert "['receipt-ocr'" not in line


def test_json_with_escaped_emoji_is_valid_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "facts.json").write_text('{"customer": "Contoso \\ud83d\\ude80"}\n')
    result = invoke(["evaluate", "facts.json"])
    assert result.stderr == ""
    assert result.exit_code == 0
    assert result.stdout.startswith("Customer: Contoso \U0001f680\n")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for process substitution")
def test_facts_from_process_substitution_are_read(tmp_path: Path) -> None:
    script = f'"{sys.executable}" -m podeploy evaluate <(printf "customer: Fabrikam\\n")'
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, timeout=60)
    assert done.stderr == b""
    assert done.returncode == 0
    assert done.stdout.startswith(b"Customer: Fabrikam\n")


# -- malformed policy directories ----------------------------------------------------------------------

RULE = """\
policy: {policy}
description: A consultant's own rule.
rules:
  - id: {rule_id}
    description: A consultant's own rule.
    when:
      - {condition}
    then:
      - {conclusion}
    {explanation_key}: {explanation}
"""


def rule_file(
    *,
    policy: str = "consultant",
    rule_id: str = "large-budget-check",
    condition: str = "budget: large",
    conclusion: str = "warning: {code: low-fit}",
    explanation_key: str = "explanation",
    explanation: str = "A large budget.",
) -> str:
    return RULE.format(policy=policy, rule_id=rule_id, condition=condition, conclusion=conclusion,
                       explanation_key=explanation_key, explanation=explanation)


FACT = """\
policy: consultant
description: A consultant's own fact.
facts:
  - id: field_service
    type: {kind}
    description: The customer also runs Dynamics 365 Field Service.
    question: Does the customer run Field Service?
{extra}"""


POLICY_CASES = [
    pytest.param(
        {"extra.yaml": rule_file(condition="budgett: large")},
        ["pol/extra.yaml:7:9: unknown-predicate: 'budgett' is not a declared fact or conclusion "
         "(did you mean 'budget'?)"],
        id="unknown-predicate-suggests-closest-name",
    ),
    pytest.param(
        {"extra.yaml": rule_file(explanation_key="explaination")},
        # One typo, one line: the key it leaves missing is not reported again.
        ["pol/extra.yaml:10:5: unknown-key: 'explaination' is not allowed here (did you mean 'explanation'?);"
         " allowed: id, description, source, assumption, when, then, explanation, overrides, supersedes"],
        id="unknown-key-in-a-rule-suggests-closest-key-and-lists-the-allowed-ones",
    ),
    pytest.param(
        {"extra.yaml": rule_file(policy="Consultant")},
        ["pol/extra.yaml:1:9: bad-value: policy: 'Consultant' must be lower-case letters and digits, starting with a"
         " letter, words joined by '-' or '_' (e.g. 'consultant')"],
        id="an-id-that-is-not-one-says-what-an-id-is-and-gives-an-example",
    ),
    pytest.param(
        {"extra.yaml": rule_file(rule_id="'Large Budget Check'")},
        ["pol/extra.yaml:4:9: bad-value: rules.0.id: 'Large Budget Check' must be lower-case letters and digits,"
         " starting with a letter, words joined by '-' or '_' (e.g. 'large-budget-check')"],
        id="an-id-with-capitals-and-spaces-is-shown-as-the-id-it-could-be",
    ),
    pytest.param(
        {"extra.yaml": FACT.format(kind="bool", extra="")},
        ["pol/extra.yaml:5:11: bad-value: facts.0.type: 'bool' is not a choice here (did you mean 'boolean'?); the"
         " choices: choice, boolean, number, integer, version, text, capability-list, choice-list"],
        id="a-misspelt-fact-type-suggests-the-closest-and-lists-the-choices",
    ),
    pytest.param(
        {"extra.yaml": FACT.format(kind="choice", extra="    values: [emea, americas]\n    default: Dynamics\n")},
        ["pol/extra.yaml:9:14: bad-value: fact 'field_service': default 'Dynamics' is not one of its values: emea,"
         " americas"],
        id="a-default-that-is-not-a-choice-lists-the-choices",
    ),
    pytest.param(
        {"extra.yaml": rule_file(conclusion="warning: {code: low-fit, message: Hi}")},
        ["pol/extra.yaml:9:9: unknown-field: 'warning' has no field 'message' (fields: code, entity, type,"
         " capability)"],
        id="an-unknown-field-of-a-conclusion-lists-the-fields",
    ),
    pytest.param(
        {"extra.yaml": rule_file(condition="deployment: {entity: $entity, type: {inn: [lite]}}")},
        ["pol/extra.yaml:7:46: unknown-key: 'inn' is not allowed here (did you mean 'in'?); allowed: eq, ne, lt, lte,"
         " gt, gte, in, not_in, as"],
        id="a-misspelt-test-is-named-and-its-closest-test-suggested",
    ),
    pytest.param(
        {"extra.yaml": rule_file(condition="budget: [large]")},
        ["pol/extra.yaml:7:17: wrong-type: rules.0.when.0.budget: expected text, a number or true/false, got a list"],
        id="a-value-of-no-type-a-condition-takes-says-which-types-it-takes",
    ),
    pytest.param(
        {"extra.yaml": rule_file(condition="nott: {budget: small}")},
        ["pol/extra.yaml:7:9: unknown-predicate: 'nott' is not a declared fact or conclusion (did you mean 'not'?)"],
        id="a-misspelt-not-is-suggested",
    ),
    pytest.param(
        {"extra.yaml": FACT.replace("A consultant's own fact.", "5").format(kind="choice", extra="    values: []\n")},
        ["pol/extra.yaml:2:14: wrong-type: description: expected text, got 5 (a number)",
         "pol/extra.yaml:8:13: bad-value: facts.0.values: needs at least 1 item"],
        id="a-wrong-type-and-an-empty-list-are-said-in-words",
    ),
    pytest.param(
        {"contoso.yaml": "customer: Contoso\nrequirements: [receipt-ocr]\nlegal_entities:\n  - name: Contoso UK\n"},
        ["pol/contoso.yaml:1:1: missing-key: 'policy' is required: this looks like a facts file; name it"
         " 'contoso.facts.yaml' and policy folders leave it out"],
        id="a-facts-file-among-the-policies-is-told-to-be-named-as-one",
    ),
    pytest.param(
        {"extra.yaml": rule_file(conclusion="warning: {code: low-fit, entity: $entity}")},
        ["pol/extra.yaml:9:9: unbound-variable: $entity is not bound by the rule's conditions"],
        id="unbound-variable-in-a-conclusion-is-reported",
    ),
    pytest.param(
        {"extra.yaml": rule_file(explanation="\"{entity} has a large budget.\"")},
        ["pol/extra.yaml:4:5: unknown-placeholder: explanation uses '{entity}', which is not a variable every "
         "case of the rule binds"],
        id="explanation-placeholder-without-a-variable-is-reported",
    ),
    pytest.param(
        {"extra.yaml": rule_file(condition='plans_finance: "yes"')},
        ["pol/extra.yaml:7:24: type-mismatch: 'yes' is a string; this field holds a boolean"],
        id="wrong-literal-type-is-a-type-mismatch",
    ),
    pytest.param(
        {"extra.yaml": rule_file(conclusion="warning: {code: low-fitt}")},
        ["pol/extra.yaml:9:9: unknown-code: 'low-fitt' is not a warning or note code (did you mean 'low-fit'?)"],
        id="unknown-warning-code-suggests-closest-code",
    ),
    pytest.param(
        {"extra.yaml": rule_file(condition="budget: huge")},
        ["pol/extra.yaml:7:17: unknown-value: 'huge' is not a value of 'budget' (one of: small, medium, large)"],
        id="unknown-choice-value-in-a-rule-lists-the-allowed-values",
    ),
    pytest.param(
        {"a.yaml": rule_file(policy="consultant-a"),
         "b.yaml": rule_file(policy="consultant-b", explanation="A large budget again.")},
        ["pol/b.yaml:4:5: duplicate-id: rule 'large-budget-check' is already declared at pol/a.yaml:4:5"],
        id="duplicate-rule-id-across-files-names-the-first",
    ),
    pytest.param(
        {"extra.yaml": rule_file(rule_id="lightest-covering-type")},
        ["pol/extra.yaml:4:5: duplicate-id: rule 'lightest-covering-type' is already declared at "
         "policies/choosing.yaml:69:5; to replace it, add 'overrides: lightest-covering-type'"],
        id="rule-id-of-a-built-in-rule-is-a-duplicate-that-names-the-fix",
    ),
    pytest.param(
        # docs-2026-08's fit.yaml overrides the seed's small-budget: the declaration in force is named
        {"extra.yaml": rule_file(rule_id="small-budget")},
        ["pol/extra.yaml:4:5: duplicate-id: rule 'small-budget' is already declared at "
         "policies/editions/docs-2026-08/fit.yaml:20:5; to replace it, add 'overrides: small-budget'"],
        id="rule-id-of-a-built-in-rule-the-edition-overrides-names-the-editions-rule",
    ),
    pytest.param(
        {"extra.yaml": rule_file(rule_id="books-outside-finance")},
        ["pol/extra.yaml:4:5: duplicate-id: rule 'books-outside-finance' is already declared at "
         "policies/editions/docs-2026-08/books.yaml:9:5; to replace it, add 'overrides: books-outside-finance'"],
        id="rule-id-of-a-rule-of-the-current-knowledge-is-a-duplicate-that-names-the-fix",
    ),
    pytest.param(
        {"extra.yaml": "policy: consultant\ndescription: A fact named unknown.\nfacts:\n  - id: unknown\n"
                       "    type: boolean\n    description: Clashes.\n    question: Does it clash?\n"},
        ["pol/extra.yaml:4:5: reserved-name: 'unknown' is part of every facts file and cannot be declared"],
        id="a-fact-named-unknown-is-reserved",
    ),
    pytest.param(
        {"extra.yaml": "policy: consultant\ndescription: [unfinished\n"},
        ["pol/extra.yaml:3:1: yaml-syntax: while parsing a flow sequence, did not find expected ',' or ']' "
         "(the bracket opened at line 2, column 14)"],
        id="malformed-policy-yaml-is-a-syntax-error",
    ),
    pytest.param(
        {"extra.yaml": "policy: consultant\ndescription: Two.\npolicy: again\n"},
        ["pol/extra.yaml:3:1: duplicate-key: key 'policy' appears twice (first at line 1)"],
        id="duplicate-key-in-a-policy-is-refused",
    ),
    pytest.param(
        {"extra.yaml": "policy: consultant\ndescription: !!python/object/apply:os.system [\"echo owned\"]\n"},
        ["pol/extra.yaml:2:14: yaml-tag: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed; "
         "use plain YAML values"],
        id="python-tag-in-a-policy-is-refused",
    ),
    pytest.param(
        {},
        ["pol:1:1: no-policies: directory holds no .yaml policy files"],
        id="directory-without-policies-is-reported",
    ),
]


@pytest.mark.parametrize("command", ["evaluate", "validate"])
@pytest.mark.parametrize(("files", "expected"), POLICY_CASES)
def test_malformed_policy_directory_is_reported_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, files: dict[str, str], expected: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pol").mkdir()
    for name, text in files.items():
        (tmp_path / "pol" / name).write_text(text)
    args = ["evaluate", str(CONTOSO), "--policies", "pol"] if command == "evaluate" else ["validate", "pol"]
    assert_bad_input(invoke(args), expected)


@pytest.mark.parametrize(("files", "expected"), _without_marks(POLICY_CASES))
def test_malformed_policy_directory_exits_2_with_located_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], expected: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pol").mkdir()
    for name, text in files.items():
        (tmp_path / "pol" / name).write_text(text)
    for args in (["evaluate", str(CONTOSO), "--policies", "pol"], ["why", str(CONTOSO), "--policies", "pol"],
                 ["capabilities", "--policies", "pol"], ["validate", "pol"]):
        result = invoke(args)
        assert_no_traceback(result)
        assert result.stdout == ""
        assert result.exit_code == 2
        lines = result.stderr.splitlines()
        assert len(lines) == len(expected)
        for line in lines:
            match = PROBLEM_LINE.match(line)
            assert match, line
            assert match["file"].startswith("pol")


def test_facts_and_rule_ids_of_the_current_knowledge_are_free_under_the_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --as-of 2023-11 loads the built-ins alone: ledger is not a fact, books-outside-finance not a rule.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "facts.yaml").write_text("customer: Contoso\nunknown: [ledger]\n")
    assert_bad_input(
        invoke(["evaluate", "--as-of", "2023-11", "facts.yaml"]),
        ["facts.yaml:2:11: unknown-fact: 'ledger' is not a fact or capability that can be unknown here"],
    )
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "extra.yaml").write_text(rule_file(rule_id="books-outside-finance"))
    result = invoke(["validate", "--as-of", "2023-11", "pol"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok: 1 policy file, 1 rule\n", "")


def test_a_rule_id_the_edition_overrides_names_the_built_in_rule_under_the_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "extra.yaml").write_text(rule_file(rule_id="small-budget"))
    assert_bad_input(
        invoke(["validate", "--as-of", "2023-11", "pol"]),
        ["pol/extra.yaml:4:5: duplicate-id: rule 'small-budget' is already declared at policies/fit.yaml:9:5; "
         "to replace it, add 'overrides: small-budget'"],
    )


def test_missing_policy_directory_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(["evaluate", str(CONTOSO), "--policies", "nowhere"])
    assert_bad_input(result, ["nowhere:1:1: not-found: no such policy file or directory"])


def test_missing_policy_directory_exits_2_without_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(["evaluate", str(CONTOSO), "--policies", "nowhere"])
    assert_no_traceback(result)
    assert result.stdout == ""
    assert result.exit_code == 2
    assert result.stderr.startswith("nowhere")
    assert ": not-found: " in result.stderr


def test_bad_facts_and_good_policies_report_only_the_facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "extra.yaml").write_text(rule_file())
    (tmp_path / "facts.yaml").write_text("customer: Contoso\nbudget: huge\n")
    result = invoke(["evaluate", "facts.yaml", "--policies", "pol"])
    assert_bad_input(
        result, ["facts.yaml:2:9: unknown-value: 'huge' is not a value of 'budget' (one of: small, medium, large)"]
    )

