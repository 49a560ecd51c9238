"""Policy tests: cases of facts with the outcome a consultant expects, run against a layer of policies.

A test file is named `<anything>.test.yaml` and sits beside the policy files it tests. It tests the
layer it sits in together with every layer below it: a file in the built-in `policies/` folder runs
against the built-ins; a file in a pack runs against the built-ins and that pack; a file in a
consultant's folder runs against the built-ins, any packs asked for, and that folder.

    # yaml-language-server: $schema=../schemas/policy-test.schema.json
    description: What this file checks.              # optional
    cases:
      - name: Contoso keeps stocked US manufacturing
        facts:                                       # an inline facts document, or
          customer: Contoso                          #   facts_file: path/relative/to/this/file.yaml
          requirements: [production-orders]
        deployments: {Contoso: stocked-production}   # entity -> deployment type id
        gaps: {Contoso: []}                          # entity -> capability ids (exactly these)
        excluded:                                    # entity -> type -> the rules that rule it out
          Contoso: {lite: production-needs-stocked}  #   (exactly these; [] for a type not ruled out)
        why_not:                                     # entity -> type -> the reasons against it:
          Contoso:                                   #   exactly the rules behind them and the
            lite: {rules: [production-needs-stocked, type-lacks-capability],
                   capabilities: [production-orders]}  # capabilities they say it lacks
        warnings: []                                 # exactly these: codes, or {code: ..., entity: ...}
        notes: []                                    # exactly these
        fires: [production-needs-stocked]            # each fires at least once
        does_not_fire: [lite-is-final]               # none of these fires

An expectation left out is not checked. `deployments`, `gaps`, `excluded` and `why_not` check the
entities (and types) they name. `warnings` and `notes` are exact: every one expected is produced and
every one produced is expected; an expectation matches every warning or note with its code and the
keys it gives (`entity`, `type`, `capability`, `about`; `message_contains`, text its message
contains; `rules`, exactly the rules behind it).

Coverage counts a rule of the layers under test as covered when it fires in one case and does not
fire in another: a rule that fires in every case is reported apart from one that never fires.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput, Location, Problem, did_you_mean
from ..evaluation.decision import Decision, EntityDecision, Notice
from ..evaluation.evaluate import evaluate
from ..explain.queries import notice_firings, reasons_against
from ..facts.reading import FactsInput, read_facts
from ..io import shipped
from ..io.loader import Document, Path, parse_document, problems_sorted, read_text
from ..model.terms import Rule, describe_value
from ..policy.knowledge import KnowledgeBase
from ..policy.layers import BUILTIN_LAYER, edition_dirs, pack_path
from ..policy.loading import load_knowledge_base
from ..records import record

TEST_SUFFIXES = (".test.yaml", ".test.yml")
EXPECTATIONS = ("deployments", "gaps", "excluded", "why_not", "warnings", "notes", "fires", "does_not_fire")
CASE_KEYS = ("name", "description", "facts", "facts_file", *EXPECTATIONS)
FILE_KEYS = ("description", "cases")
NOTICE_FIELDS = ("entity", "type", "capability", "about")  # the fields of a warning or note a test may name
NOTICE_KEYS = ("code", *NOTICE_FIELDS, "message_contains", "rules")
WHY_NOT_KEYS = ("rules", "capabilities")
EXCLUDED = "excluded"  # the predicate that rules a deployment type out for a legal entity
# Codes the engine itself may produce, beside those the policies declare.
ENGINE_WARNINGS = ("conflicting-deployments",)


# -- the model ----------------------------------------------------------------------------------


@record
class RuleRef:
    """A rule as coverage counts it: its id and where it is declared."""

    id: str
    location: Location

    @property
    def file(self) -> str:
        return self.location.file

    def __str__(self) -> str:
        return f"{self.id} ({self.location})"


@record
class EntityExpectation:
    """`deployments: {entity: type}` (one value) or `gaps: {entity: [capability, ...]}` (several)."""

    entity: str
    values: tuple[str, ...]
    location: Location


@record
class TypeExpectation:
    """`excluded: {entity: {type: rules}}` or `why_not: {entity: {type: {rules: ..., capabilities: ...}}}`.

    Each of rules and capabilities, when given, is exact (sorted, without repeats); None is not checked.
    """

    entity: str
    type: str
    rules: tuple[str, ...] | None
    capabilities: tuple[str, ...] | None
    location: Location


@dataclass(frozen=True, slots=True, eq=False)  # not a record: a Notice is not hashable
class ProducedNotice:
    """A warning or note the case produced, with the rules behind it (sorted, without repeats)."""

    notice: Notice
    rules: tuple[str, ...]


@record
class NoticeExpectation:
    """One expected warning or note: its code and, optionally, the fields it must carry, text its message
    contains and exactly the rules behind it."""

    code: str
    keys: tuple[tuple[str, str], ...]
    location: Location
    message_contains: str | None = None
    rules: tuple[str, ...] | None = None

    def matches(self, produced: ProducedNotice) -> bool:
        notice = produced.notice
        if notice.code != self.code:
            return False
        if not all(_notice_value(notice, key) == value for key, value in self.keys):
            return False
        if self.message_contains is not None and _folded(self.message_contains) not in _folded(notice.message):
            return False
        return self.rules is None or produced.rules == self.rules

    def __str__(self) -> str:
        given = [f"{k}: {v}" for k, v in self.keys]
        if self.message_contains is not None:
            given.append(f"message contains {json.dumps(self.message_contains, ensure_ascii=False)}")
        if self.rules is not None:
            given.append(f"rules: {_listed(self.rules)}")
        return f"{self.code} ({', '.join(given)})" if given else self.code


@record
class NoticesExpectation:
    """`warnings:` or `notes:`: exactly these, matched both ways."""

    items: tuple[NoticeExpectation, ...]
    location: Location


@record
class RulesExpectation:
    """`fires:` or `does_not_fire:`: rule ids."""

    rules: tuple[str, ...]
    location: Location


@record
class TestCase:
    """One case of a test file, validated against the knowledge base it runs on."""

    __test__ = False  # not a pytest class

    file: str
    name: str
    location: Location
    facts: FactsInput
    deployments: tuple[EntityExpectation, ...] = ()
    gaps: tuple[EntityExpectation, ...] = ()
    excluded: tuple[TypeExpectation, ...] = ()
    why_not: tuple[TypeExpectation, ...] = ()
    warnings: NoticesExpectation | None = None
    notes: NoticesExpectation | None = None
    fires: RulesExpectation | None = None
    does_not_fire: RulesExpectation | None = None

    @property
    def title(self) -> str:
        return f"{self.file}::{self.name}"


@record
class Mismatch:
    """One expectation the outcome did not meet: what was expected and what came out."""

    field: str  # deployments | gaps | excluded | why_not | warnings | notes | fires | does_not_fire
    subject: str | None  # the entity, for deployments and gaps; 'entity: type' for excluded and why_not
    location: Location  # of the expectation in the test file
    expected: str
    actual: str
    missing: tuple[str, ...] = ()  # expected, not produced
    unexpected: tuple[str, ...] = ()  # produced, not expected


@record
class CaseResult:
    file: str
    name: str
    location: Location
    mismatches: tuple[Mismatch, ...]
    fired: frozenset[RuleRef]
    engine: str
    in_effect: frozenset[RuleRef] = frozenset()  # the rules of the knowledge base the case ran on

    @property
    def quiet(self) -> frozenset[RuleRef]:
        """The rules in effect that did not fire in this case."""
        return self.in_effect - self.fired

    @property
    def passed(self) -> bool:
        return not self.mismatches

    @property
    def title(self) -> str:
        return f"{self.file}::{self.name}"


@record
class FileCoverage:
    """The rules one policy file declares, those that fired in some case and those that stayed quiet in some case.

    A rule is covered when both happened: a case shows it fires and a case shows it can hold back. A rule
    that fires in every case (on a default value, say) is tested no better than one that never fires.
    """

    file: str
    rules: tuple[RuleRef, ...]
    fired: tuple[RuleRef, ...]
    quiet: tuple[RuleRef, ...] = ()

    @property
    def covered_rules(self) -> tuple[RuleRef, ...]:
        fired, quiet = set(self.fired), set(self.quiet)
        return tuple(r for r in self.rules if r in fired and r in quiet)

    @property
    def total(self) -> int:
        return len(self.rules)

    @property
    def covered(self) -> int:
        return len(self.covered_rules)

    @property
    def never_fired(self) -> tuple[RuleRef, ...]:
        fired = set(self.fired)
        return tuple(r for r in self.rules if r not in fired)

    @property
    def always_fired(self) -> tuple[RuleRef, ...]:
        """Rules that fired in every case that ran them: no case shows them holding back."""
        quiet = set(self.quiet)
        return tuple(r for r in self.fired if r not in quiet)

    @property
    def percent(self) -> float:
        return percent(self.covered, self.total)


@record
class Coverage:
    """Rule coverage of the layers under test, per policy file."""

    files: tuple[FileCoverage, ...]

    @property
    def total(self) -> int:
        return sum(f.total for f in self.files)

    @property
    def covered(self) -> int:
        return sum(f.covered for f in self.files)

    @property
    def percent(self) -> float:
        return percent(self.covered, self.total)

    @property
    def never_fired(self) -> tuple[RuleRef, ...]:
        return tuple(r for f in self.files for r in f.never_fired)

    @property
    def always_fired(self) -> tuple[RuleRef, ...]:
        return tuple(r for f in self.files for r in f.always_fired)

    def below(self, minimum: float) -> bool:
        """Whether coverage is under minimum percent (compared exactly, not as rounded for display)."""
        return self.covered * 100 < minimum * self.total


@record
class TestSuite:
    """Test files and the knowledge base they run on: the built-ins, then layer_dirs in order."""

    __test__ = False  # not a pytest class

    layer: str  # the layer under test: 'built-in', or the name the knowledge base gives a folder
    layer_dirs: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (path to read, name to show)


@record
class TestReport:
    """Every case's result and the rule coverage of the layers under test."""

    __test__ = False  # not a pytest class

    cases: tuple[CaseResult, ...]
    coverage: Coverage

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.cases if not c.passed)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def percent(covered: int, total: int) -> float:
    return 100.0 if total == 0 else covered * 100 / total


# -- finding tests ------------------------------------------------------------------------------


def shown_path(path: str) -> str:
    """How to name a file: shipped ones as the repository lays them out, others as given."""
    return shipped.shown_name(path) or os.path.normpath(path)


def is_test_file(name: str) -> bool:
    return name.endswith(TEST_SUFFIXES)


def find_test_files(directory: str, *, recursive: bool = True) -> list[str]:
    """Every *.test.yaml file in a folder (below it too, unless recursive is false), sorted."""
    found: list[str] = []
    for base, dirs, names in os.walk(directory):
        dirs.sort()
        found.extend(os.path.normpath(os.path.join(base, name)) for name in sorted(names) if is_test_file(name))
        if not recursive:
            break
    return found


def builtin_test_paths() -> list[tuple[str, str]]:
    """(path to read, name to show) for the built-in knowledge base's own test files."""
    root = shipped.folder(shipped.POLICIES)
    return [(p, shown_path(p)) for p in find_test_files(root, recursive=False)]


def _layer_name(directory: str) -> str:
    # The name load_knowledge_base gives a folder's layer.
    return os.path.basename(os.path.normpath(directory)) or directory


def find_suites(paths: Sequence[str] = (), packs: Sequence[str] = (), as_of: str | None = None) -> list[TestSuite]:
    """The suites `podeploy test` runs.

    No path: the built-in tests on the built-ins alone, then each shipped edition's (up to as_of) and
    each pack's tests with the layers up to it loaded. Paths (folders, or single *.test.yaml files):
    each one's tests with the editions, the packs and the paths up to it loaded as layers, in the
    order given.
    """
    shipped_dirs = edition_dirs(as_of)
    pack_dirs = [pack_path(name) for name in packs]
    if not paths:
        suites = [TestSuite(BUILTIN_LAYER, (), tuple(builtin_test_paths()))]
        layered: list[str] = []
        for directory in [*shipped_dirs, *pack_dirs]:
            if any(os.path.realpath(d) == os.path.realpath(directory) for d in layered):
                continue
            layered.append(directory)
            files = tuple((p, shown_path(p)) for p in find_test_files(directory))
            suites.append(TestSuite(_layer_name(directory), tuple(layered), files))
        return suites
    problems: list[Problem] = []
    layers: list[str] = [*shipped_dirs, *pack_dirs]
    suites = []
    builtin_folder = shipped.folder(shipped.POLICIES)
    for path in paths:
        if not os.path.exists(path):
            problems.append(Problem("not-found", "no such test file or directory", Location(path)))
            continue
        if os.path.isdir(path):
            directory = path
            builtin = os.path.realpath(directory) == builtin_folder
            found = [(p, shown_path(p)) for p in find_test_files(directory, recursive=not builtin)]
            if not found:
                problems.append(Problem("no-tests", "directory holds no *.test.yaml files", Location(path)))
                continue
        else:
            if not is_test_file(path):
                problems.append(
                    Problem(
                        "not-a-test-file",
                        "a test file is named <anything>.test.yaml; give it or its folder",
                        Location(path),
                    )
                )
                continue
            directory = os.path.dirname(path) or "."
            builtin = os.path.realpath(directory) == builtin_folder
            found = [(path, shown_path(path))]
        if builtin:  # the built-in tests describe the built-ins alone
            suites.append(TestSuite(BUILTIN_LAYER, (), tuple(found)))
            continue
        if not any(os.path.realpath(d) == os.path.realpath(directory) for d in layers):
            layers.append(directory)
        suites.append(TestSuite(_layer_name(directory), tuple(layers), tuple(found)))
    if problems:
        raise BadInput(problems_sorted(problems))
    return suites


# -- reading test files -------------------------------------------------------------------------


def load_test_file(kb: KnowledgeBase, path: str, shown: str | None = None) -> list[TestCase]:
    """Read and check one test file against the knowledge base its cases run on."""
    name = shown or path
    try:
        _, text = read_text(path)
    except BadInput as exc:
        raise BadInput([_renamed(p, path, name) for p in exc.problems]) from None
    doc = parse_document(text, name)
    reader = _Reader(kb, doc, path)
    cases = reader.read()
    if reader.problems:
        raise BadInput(problems_sorted(reader.problems))
    return cases


def _renamed(problem: Problem, path: str, name: str) -> Problem:
    if problem.location.file != path:
        return problem
    return Problem(problem.code, problem.message, Location(name, problem.location.line, problem.location.column))


_shown = describe_value


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


class _Reader:
    """Checks one test file: its shape, then each name in it against the knowledge base and the facts."""

    def __init__(self, kb: KnowledgeBase, doc: Document, path: str) -> None:
        self.kb = kb
        self.doc = doc
        self.path = path
        self.problems: list[Problem] = []

    def add(self, code: str, message: str, at: Path, *, key: bool = False) -> None:
        self.problems.append(Problem(code, message, self.doc.where(at, key=key)))

    def keys(self, value: dict[str, Any], at: Path, allowed: Sequence[str]) -> None:
        for key in value:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f" (one of: {', '.join(allowed)})"
                self.add("unknown-key", f"'{key}' is not allowed here{hint}", (*at, key), key=True)

    def read(self) -> list[TestCase]:
        value = self.doc.value
        if value is None:
            self.add("empty", "test file is empty; it needs 'cases:', a list of cases", ())
            return []
        if not isinstance(value, dict):
            self.add("wrong-type", f"a test file is a mapping with 'cases:' (a list of cases), got {_shown(value)}", ())
            return []
        self.keys(value, (), FILE_KEYS)
        if "description" in value and not isinstance(value["description"], str):
            self.add("wrong-type", f"description: expected text, got {_shown(value['description'])}", ("description",))
        if "cases" not in value:
            self.add("missing-key", "'cases' is required: a list of cases", ())
            return []
        cases = value["cases"]
        if not isinstance(cases, list) or not cases:
            got = "an empty list" if cases == [] else _shown(cases)
            self.add("wrong-type", f"cases: expected a list of at least one case, got {got}", ("cases",))
            return []
        names: dict[str, int] = {}
        out = []
        for i, case in enumerate(cases):
            name = case.get("name") if isinstance(case, dict) else None
            if _text(name):
                assert isinstance(name, str)
                if name.strip() in names:
                    first = self.doc.where(("cases", names[name.strip()], "name"))
                    self.add(
                        "duplicate-case",
                        f"case '{name.strip()}' appears twice (first at line {first.line})",
                        ("cases", i, "name"),
                    )
                names.setdefault(name.strip(), i)
            read = self.case(case, ("cases", i))
            if read is not None:
                out.append(read)
        return out

    # -- one case

    def case(self, case: Any, at: Path) -> TestCase | None:
        if not isinstance(case, dict):
            self.add("wrong-type", f"a case is a mapping (name:, facts:, deployments: ...), got {_shown(case)}", at)
            return None
        before = len(self.problems)
        self.keys(case, at, CASE_KEYS)
        name = case.get("name")
        if "name" not in case:
            self.add("missing-key", "'name' is required: every case has a name", at)
        elif not _text(name):
            self.add("wrong-type", f"name: expected text, got {_shown(name)}", (*at, "name"))
        if "description" in case and not isinstance(case["description"], str):
            self.add(
                "wrong-type", f"description: expected text, got {_shown(case['description'])}", (*at, "description")
            )
        if "facts" in case and "facts_file" in case:
            self.add("conflicting-keys", "give 'facts' or 'facts_file', not both", (*at, "facts_file"), key=True)
        elif "facts" not in case and "facts_file" not in case:
            self.add("missing-key", "a case needs 'facts' (inline) or 'facts_file' (a path)", at)
        if not any(key in case for key in EXPECTATIONS):
            self.add("no-expectations", f"a case needs at least one of: {', '.join(EXPECTATIONS)}", at)
        facts = self.facts(case, at)
        if facts is None:  # the expectations name its legal entities: nothing to check them against
            return None
        # A problem of the case's own keys does not stop its expectations being checked: every problem at once.
        entities = [e.name for e in facts.entities]
        test = TestCase(
            self.doc.name,
            str(name).strip(),
            self.doc.where(at),
            facts,
            deployments=self.entity_map(case, at, "deployments", entities),
            gaps=self.entity_map(case, at, "gaps", entities),
            excluded=self.type_map(case, at, "excluded", entities),
            why_not=self.type_map(case, at, "why_not", entities),
            warnings=self.notices(case, at, "warnings", entities),
            notes=self.notices(case, at, "notes", entities),
            fires=self.rules(case, at, "fires"),
            does_not_fire=self.rules(case, at, "does_not_fire"),
        )
        if test.fires is not None and test.does_not_fire is not None:
            both = [r for r in test.fires.rules if r in test.does_not_fire.rules]
            for rule in both:
                index = case["does_not_fire"].index(rule)
                self.add(
                    "contradiction",
                    f"rule '{rule}' is listed under both fires and does_not_fire",
                    (*at, "does_not_fire", index),
                )
        return None if len(self.problems) > before else test

    def facts(self, case: dict[str, Any], at: Path) -> FactsInput | None:
        if "facts" in case:
            value = case["facts"]
            if not isinstance(value, dict):
                self.add(
                    "wrong-type",
                    f"facts: expected a facts document (customer: ...), got {_shown(value)}",
                    (*at, "facts"),
                )
                return None
            doc = _subdocument(self.doc, (*at, "facts"))
        elif "facts_file" in case:
            value = case["facts_file"]
            if not _text(value):
                self.add("wrong-type", f"facts_file: expected a path, got {_shown(value)}", (*at, "facts_file"))
                return None
            found = self.facts_file(str(value), (*at, "facts_file"))
            if found is None:
                return None
            doc = found
        else:
            return None
        try:
            return read_facts(self.kb, doc)
        except BadInput as exc:
            self.problems.extend(exc.problems)
            return None

    def facts_file(self, given: str, at: Path) -> Document | None:
        """The facts file a case names: a .yaml, .yml or .json file in the test file's folder or below it.

        Confined there, so that a test file (from a pull request, say) cannot read, and quote in its
        problems, any other file of the machine that runs it.
        """
        root = os.path.realpath(os.path.dirname(self.path) or ".")
        real = os.path.realpath(os.path.join(root, given))
        shown = os.path.normpath(os.path.join(os.path.dirname(self.doc.name), given))
        if os.path.isabs(given) or os.path.commonpath([root, real]) != root:
            self.add("outside-folder", f"facts_file: name a file in this test file's folder or below it: {given}", at)
            return None
        if not given.endswith((".yaml", ".yml", ".json")):
            self.add("not-a-facts-file", f"facts_file: name a .yaml, .yml or .json facts file: {given}", at)
            return None
        if not os.path.isfile(real):
            what = "is a directory, not a facts file" if os.path.isdir(real) else "no such facts file"
            self.add("not-found", f"facts_file: {what}: {given}", at)
            return None
        try:
            _, text = read_text(real)
            return parse_document(text, shown)
        except BadInput as exc:
            self.problems.extend(_renamed(p, real, shown) for p in exc.problems)
            return None

    def entity(self, name: str, entities: list[str], at: Path) -> bool:
        if name in entities:
            return True
        listed = ", ".join(f"'{e}'" for e in entities)
        hint = did_you_mean(name, entities) or f" (legal entities: {listed})"
        self.add("unknown-entity", f"'{name}' is not a legal entity of this case's facts{hint}", at, key=True)
        return False

    def entity_map(
        self, case: dict[str, Any], at: Path, key: str, entities: list[str]
    ) -> tuple[EntityExpectation, ...]:
        if key not in case:
            return ()
        value = case[key]
        where = (*at, key)
        shape = "entity: deployment type" if key == "deployments" else "entity: [capability, ...]"
        if not isinstance(value, dict) or not value:
            got = "an empty mapping" if value == {} else _shown(value)
            self.add("wrong-type", f"{key}: expected a mapping of {shape}, got {got}", where)
            return ()
        out = []
        for entity, given in value.items():
            here = (*where, entity)
            known = self.entity(entity, entities, here)
            if key == "deployments":
                if not isinstance(given, str):
                    self.add("wrong-type", f"{key}: {entity}: expected a deployment type id, got {_shown(given)}", here)
                    continue
                if given not in self.kb.types:
                    hint = did_you_mean(given, self.kb.types) or f" (types: {', '.join(self.kb.types)})"
                    self.add("unknown-type", f"'{given}' is not a deployment type{hint}", here)
                    continue
                values: tuple[str, ...] = (given,)
            else:
                if not isinstance(given, list) or not all(isinstance(c, str) for c in given):
                    self.add(
                        "wrong-type",
                        f"{key}: {entity}: expected a list of capability ids ([] for none), got {_shown(given)}",
                        here,
                    )
                    continue
                bad = False
                for j, capability in enumerate(given):
                    if capability not in self.kb.capabilities:
                        self.add(
                            "unknown-capability",
                            f"'{capability}' is not a capability{did_you_mean(capability, self.kb.capabilities)}",
                            (*here, j),
                        )
                        bad = True
                if bad:
                    continue
                values = tuple(sorted(set(given)))
            if known:
                out.append(EntityExpectation(entity, values, self.doc.where(here)))
        return tuple(out)

    def notices(self, case: dict[str, Any], at: Path, key: str, entities: list[str]) -> NoticesExpectation | None:
        if key not in case:
            return None
        value = case[key]
        where = (*at, key)
        kind = "warning" if key == "warnings" else "note"
        if not isinstance(value, list):
            self.add(
                "wrong-type",
                f"{key}: expected a list of codes or of {{code: ..., entity: ...}} ([] for none), got {_shown(value)}",
                where,
            )
            return None
        items = []
        for j, item in enumerate(value):
            here = (*where, j)
            keys: list[tuple[str, str]] = []
            message: str | None = None
            rules: tuple[str, ...] | None = None
            if isinstance(item, str):
                code = item
            elif isinstance(item, dict):
                self.keys(item, here, NOTICE_KEYS)
                if "code" not in item:
                    self.add("missing-key", f"'code' is required: the {kind} code", here)
                    continue
                code = item["code"]
                if not isinstance(code, str):
                    self.add("wrong-type", f"code: expected a {kind} code, got {_shown(code)}", (*here, "code"))
                    continue
                if "message_contains" in item:
                    message = self.text(item["message_contains"], (*here, "message_contains"))
                if "rules" in item:
                    rules = self.rule_list(item["rules"], (*here, "rules"), f"the rules behind the {kind}")
                for k in NOTICE_FIELDS:
                    if k not in item:
                        continue
                    v = item[k]
                    if not isinstance(v, str):
                        self.add("wrong-type", f"{k}: expected text, got {_shown(v)}", (*here, k))
                    elif k == "entity":
                        if v not in entities:
                            listed = ", ".join(f"'{e}'" for e in entities)
                            hint = did_you_mean(v, entities) or f" (legal entities: {listed})"
                            self.add(
                                "unknown-entity", f"'{v}' is not a legal entity of this case's facts{hint}", (*here, k)
                            )
                        keys.append((k, v))
                    elif k == "type" and v not in self.kb.types:
                        self.add(
                            "unknown-type",
                            f"'{v}' is not a deployment type{did_you_mean(v, self.kb.types)}",
                            (*here, k),
                        )
                    elif k == "capability" and v not in self.kb.capabilities:
                        self.add(
                            "unknown-capability",
                            f"'{v}' is not a capability{did_you_mean(v, self.kb.capabilities)}",
                            (*here, k),
                        )
                    else:
                        keys.append((k, v))
            else:
                self.add(
                    "wrong-type",
                    f"{key}: expected a {kind} code or {{code: ..., entity: ...}}, got {_shown(item)}",
                    here,
                )
                continue
            if self.code(code, kind, (*here, "code") if isinstance(item, dict) else here):
                items.append(NoticeExpectation(code, tuple(keys), self.doc.where(here), message, rules))
        return NoticesExpectation(tuple(items), self.doc.where(where, key=True))

    def text(self, value: Any, at: Path) -> str | None:
        if not _text(value):
            self.add("wrong-type", f"{at[-1]}: expected text, got {_shown(value)}", at)
            return None
        assert isinstance(value, str)
        return value

    def rule_id(self, rule: Any, at: Path, *, must_fire: bool) -> str | None:
        """A rule id of the knowledge base (one in effect, when must_fire), or None with the problem added."""
        active = {r.id for r in self.kb.rules}
        known = active | set(self.kb.disabled)
        if not isinstance(rule, str):
            self.add("wrong-type", f"{at[-2]}: expected a rule id, got {_shown(rule)}", at)
        elif rule not in known:
            self.add("unknown-rule", f"'{rule}' is not a rule{did_you_mean(rule, known)}", at)
        elif must_fire and rule not in active:
            off = self.kb.disabled[rule]
            self.add("disabled-rule", f"rule '{rule}' is disabled (at {off.location}) and cannot fire", at)
        else:
            return rule
        return None

    def rule_list(
        self, value: Any, at: Path, what: str, *, empty: bool = False, single: bool = False
    ) -> tuple[str, ...] | None:
        """A list of rule ids that must fire (one id alone, when single), sorted and without repeats."""
        if single and isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or (not value and not empty):
            got = "an empty list" if value == [] else _shown(value)
            self.add("wrong-type", f"{at[-1]}: expected a list of rule ids ({what}), got {got}", at)
            return None
        ids = [self.rule_id(rule, (*at, j), must_fire=True) for j, rule in enumerate(value)]
        if any(rule is None for rule in ids):
            return None
        return tuple(sorted({rule for rule in ids if rule is not None}))

    def capability_list(self, value: Any, at: Path) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            self.add(
                "wrong-type", f"{at[-1]}: expected a list of capability ids ([] for none), got {_shown(value)}", at
            )
            return None
        bad = False
        for j, capability in enumerate(value):
            if capability not in self.kb.capabilities:
                self.add(
                    "unknown-capability",
                    f"'{capability}' is not a capability{did_you_mean(capability, self.kb.capabilities)}",
                    (*at, j),
                )
                bad = True
        return None if bad else tuple(sorted(set(value)))

    def type_map(self, case: dict[str, Any], at: Path, key: str, entities: list[str]) -> tuple[TypeExpectation, ...]:
        """`excluded:` (entity -> type -> rule ids) or `why_not:` (entity -> type -> {rules, capabilities})."""
        if key not in case:
            return ()
        value = case[key]
        where = (*at, key)
        shape = "entity: {type: rule ids}" if key == "excluded" else "entity: {type: {rules: ..., capabilities: ...}}"
        if not isinstance(value, dict) or not value:
            got = "an empty mapping" if value == {} else _shown(value)
            self.add("wrong-type", f"{key}: expected a mapping of {shape}, got {got}", where)
            return ()
        out = []
        for entity, types in value.items():
            here = (*where, entity)
            known = self.entity(entity, entities, here)
            if not isinstance(types, dict) or not types:
                got = "an empty mapping" if types == {} else _shown(types)
                self.add("wrong-type", f"{key}: {entity}: expected a mapping of deployment type ids, got {got}", here)
                continue
            for type_id, given in types.items():
                there = (*here, type_id)
                if type_id not in self.kb.types:
                    hint = did_you_mean(type_id, self.kb.types) or f" (types: {', '.join(self.kb.types)})"
                    self.add("unknown-type", f"'{type_id}' is not a deployment type{hint}", there, key=True)
                    continue
                rules: tuple[str, ...] | None = None
                capabilities: tuple[str, ...] | None = None
                if key == "excluded":
                    rules = self.rule_list(given, there, "that rule the type out; [] for none", empty=True, single=True)
                    if rules is None:
                        continue
                else:
                    if not isinstance(given, dict) or not any(k in given for k in WHY_NOT_KEYS):
                        self.add(
                            "wrong-type",
                            f"{key}: {entity}: {type_id}: expected a mapping with rules: [rule ids], "
                            f"capabilities: [capability ids] or both, got {_shown(given)}",
                            there,
                        )
                        continue
                    before = len(self.problems)
                    self.keys(given, there, WHY_NOT_KEYS)
                    if "rules" in given:
                        reasons = "the reasons; [] for none"
                        rules = self.rule_list(given["rules"], (*there, "rules"), reasons, empty=True)
                    if "capabilities" in given:
                        capabilities = self.capability_list(given["capabilities"], (*there, "capabilities"))
                    if len(self.problems) > before:
                        continue
                if known:
                    out.append(TypeExpectation(entity, type_id, rules, capabilities, self.doc.where(there, key=True)))
        return tuple(out)

    def code(self, code: str, kind: str, at: Path) -> bool:
        declared = self.kb.codes.get(code)
        if declared is None and not (kind == "warning" and code in ENGINE_WARNINGS):
            same = [c.id for c in self.kb.codes.values() if c.kind == kind]
            self.add("unknown-code", f"'{code}' is not a {kind} code{did_you_mean(code, same)}", at)
            return False
        if declared is not None and declared.kind != kind:
            where = "notes" if declared.kind == "note" else "warnings"
            self.add("wrong-kind", f"'{code}' is a {declared.kind} code, not a {kind}: list it under {where}", at)
            return False
        return True

    def rules(self, case: dict[str, Any], at: Path, key: str) -> RulesExpectation | None:
        if key not in case:
            return None
        value = case[key]
        where = (*at, key)
        if not isinstance(value, list) or not value:
            got = "an empty list" if value == [] else _shown(value)
            self.add("wrong-type", f"{key}: expected a list of rule ids, got {got}", where)
            return None
        active = {r.id for r in self.kb.rules}
        known = active | set(self.kb.disabled)
        ids = []
        for j, rule in enumerate(value):
            if not isinstance(rule, str):
                self.add("wrong-type", f"{key}: expected a rule id, got {_shown(rule)}", (*where, j))
            elif rule not in known:
                self.add("unknown-rule", f"'{rule}' is not a rule{did_you_mean(rule, known)}", (*where, j))
            elif key == "fires" and rule not in active:
                off = self.kb.disabled[rule]
                self.add("disabled-rule", f"rule '{rule}' is disabled (at {off.location}) and cannot fire", (*where, j))
            else:
                ids.append(rule)
        return RulesExpectation(tuple(ids), self.doc.where(where, key=True))


def _subdocument(doc: Document, prefix: Path) -> Document:
    """The part of doc at prefix as a document of its own, its locations still in doc's file."""
    n = len(prefix)

    def cut(table: dict[Path, Location]) -> dict[Path, Location]:
        return {path[n:]: loc for path, loc in table.items() if path[:n] == prefix}

    value: Any = doc.value
    for part in prefix:
        value = value[part]
    return Document(doc.name, value, cut(doc.marks), cut(doc.key_marks))


# -- running ------------------------------------------------------------------------------------


def _notice_value(notice: Notice, key: str) -> str | None:
    if key == "entity":
        return notice.entity
    value = notice.fact.get(key)
    return None if value is None else str(value)


def notice_text(notice: Notice, rules: Sequence[str] | None = None, *, message: bool = False) -> str:
    """A produced warning or note, written the way a test file expects one (with its message and the rules
    behind it when asked for)."""
    keys = [(k, _notice_value(notice, k)) for k in NOTICE_FIELDS]
    given = [f"{k}: {v}" for k, v in keys if v is not None]
    if message:
        given.append(f"message {json.dumps(notice.message, ensure_ascii=False)}")
    if rules is not None:
        given.append(f"rules: {_listed(rules)}")
    return f"{notice.code} ({', '.join(given)})" if given else notice.code


def _folded(text: str) -> str:
    return " ".join(text.split())


def produced_notices(decision: Decision, notices: Iterable[Notice]) -> list[ProducedNotice]:
    return [
        ProducedNotice(n, tuple(sorted({f.clause.rule.id for f in notice_firings(decision, n)}))) for n in notices
    ]


def excluding_rules(decision: Decision, entity: str, type_id: str) -> tuple[str, ...]:
    """The rules that concluded the type is ruled out for the entity (sorted, without repeats)."""
    return tuple(
        sorted(
            {
                f.clause.rule.id
                for f in decision.trace
                if any(
                    c.predicate == EXCLUDED and c.get("entity") == entity and c.get("type") == type_id
                    for c in f.conclusions
                )
            }
        )
    )


def why_not_reasons(
    decision: Decision, entity: EntityDecision, type_id: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The rules behind every reason against the type for the entity, and the capabilities those reasons name."""
    firings = reasons_against(decision, entity, type_id)
    rules = tuple(sorted({f.clause.rule.id for f in firings}))
    capabilities = {
        str(c.get("capability"))
        for f in firings
        for c in f.conclusions
        if decision.kb.predicates.get(c.predicate) is not None
        and decision.kb.predicates[c.predicate].role == "why-not"
        and c.get("entity") == entity.name
        and c.get("type") == type_id
        and c.get("capability") is not None
    }
    return rules, tuple(sorted(capabilities))


def _listed(items: Iterable[str]) -> str:
    return "[" + ", ".join(items) + "]"


def check_case(case: TestCase, decision: Decision) -> tuple[Mismatch, ...]:
    """Every way the decision differs from what the case expects."""
    found: list[Mismatch] = []
    by_entity = {e.name: e for e in decision.entities}
    for want in case.deployments:
        got = by_entity[want.entity].deployment
        if got != want.values[0]:
            found.append(Mismatch("deployments", want.entity, want.location, want.values[0], got or "(none)"))
    for want in case.gaps:
        actual = tuple(sorted(by_entity[want.entity].gaps))
        if actual != want.values:
            found.append(
                Mismatch(
                    "gaps",
                    want.entity,
                    want.location,
                    _listed(want.values),
                    _listed(actual),
                    tuple(c for c in want.values if c not in actual),
                    tuple(c for c in actual if c not in want.values),
                )
            )
    for ruled_out in case.excluded:
        assert ruled_out.rules is not None
        actual = excluding_rules(decision, ruled_out.entity, ruled_out.type)
        if actual != ruled_out.rules:
            found.append(
                Mismatch(
                    "excluded",
                    f"{ruled_out.entity}: {ruled_out.type}",
                    ruled_out.location,
                    _listed(ruled_out.rules),
                    _listed(actual),
                    tuple(r for r in ruled_out.rules if r not in actual),
                    tuple(r for r in actual if r not in ruled_out.rules),
                )
            )
    for ruled_out in case.why_not:
        rules, capabilities = why_not_reasons(decision, by_entity[ruled_out.entity], ruled_out.type)
        for what, expected_values, actual_values in (
            ("rules", ruled_out.rules, rules),
            ("capabilities", ruled_out.capabilities, capabilities),
        ):
            if expected_values is None or actual_values == expected_values:
                continue
            found.append(
                Mismatch(
                    "why_not",
                    f"{ruled_out.entity}: {ruled_out.type}: {what}",
                    ruled_out.location,
                    _listed(expected_values),
                    _listed(actual_values),
                    tuple(v for v in expected_values if v not in actual_values),
                    tuple(v for v in actual_values if v not in expected_values),
                )
            )
    for field, expected, notices in (
        ("warnings", case.warnings, decision.warnings),
        ("notes", case.notes, decision.notes),
    ):
        if expected is None:
            continue
        produced = produced_notices(decision, notices)
        # What came out is written with what the expectations ask about: the rules, the message.
        with_rules = any(e.rules is not None for e in expected.items)
        with_message = any(e.message_contains is not None for e in expected.items)
        shown = [notice_text(p.notice, p.rules if with_rules else None, message=with_message) for p in produced]
        missing = tuple(str(e) for e in expected.items if not any(e.matches(p) for p in produced))
        unmatched = (
            text for p, text in zip(produced, shown, strict=True) if not any(e.matches(p) for e in expected.items)
        )
        unexpected = tuple(dict.fromkeys(unmatched))
        if missing or unexpected:
            found.append(
                Mismatch(
                    field,
                    None,
                    expected.location,
                    _listed(str(e) for e in expected.items),
                    _listed(dict.fromkeys(shown)),
                    missing,
                    unexpected,
                )
            )
    fired = {f.clause.rule.id for f in decision.trace}
    if case.fires is not None:
        missing = tuple(r for r in case.fires.rules if r not in fired)
        if missing:
            found.append(
                Mismatch(
                    "fires",
                    None,
                    case.fires.location,
                    _listed(case.fires.rules),
                    _listed(sorted(fired)),
                    missing=missing,
                )
            )
    if case.does_not_fire is not None:
        unexpected = tuple(r for r in case.does_not_fire.rules if r in fired)
        if unexpected:
            found.append(
                Mismatch(
                    "does_not_fire",
                    None,
                    case.does_not_fire.location,
                    _listed(case.does_not_fire.rules),
                    _listed(sorted(fired)),
                    unexpected=unexpected,
                )
            )
    return tuple(found)


def run_case(kb: KnowledgeBase, case: TestCase, engine: str = "auto") -> CaseResult:
    decision = evaluate(kb, case.facts, engine=engine)
    fired = frozenset(rule_ref(f.clause.rule) for f in decision.trace)
    in_effect = frozenset(rule_ref(r) for r in kb.rules)
    return CaseResult(
        case.file, case.name, case.location, check_case(case, decision), fired, decision.engine, in_effect
    )


def rule_ref(rule: Rule) -> RuleRef:
    where = rule.location
    return RuleRef(rule.id, Location(os.path.normpath(where.file), where.line, where.column))


def layer_rules(kb: KnowledgeBase, layer: str) -> list[RuleRef]:
    """The rules in effect that a layer declares (a rule it overrides counts as its own)."""
    return [rule_ref(r) for r in kb.rules if r.layer == layer]


def compute_coverage(rules: Iterable[RuleRef], results: Iterable[CaseResult]) -> Coverage:
    """Which of rules fired in at least one of results and which stayed quiet in at least one, per policy file
    (files sorted by name, rules in the order they are declared)."""
    fired: set[RuleRef] = set()
    quiet: set[RuleRef] = set()
    for result in results:
        fired |= result.fired
        quiet |= result.quiet
    by_file: dict[str, list[RuleRef]] = {}
    for rule in dict.fromkeys(rules):
        by_file.setdefault(rule.file, []).append(rule)
    files = []
    for file, declared in sorted(by_file.items()):
        ordered = tuple(sorted(declared, key=lambda r: (r.location.line, r.location.column, r.id)))
        files.append(
            FileCoverage(
                file, ordered, tuple(r for r in ordered if r in fired), tuple(r for r in ordered if r in quiet)
            )
        )
    return Coverage(tuple(files))


def run_tests(
    paths: Sequence[str] = (), *, packs: Sequence[str] = (), engine: str = "auto", as_of: str | None = None
) -> TestReport:
    """Run the policy tests `podeploy test [PATH ...] [--pack NAME ...] [--as-of YYYY-MM]` runs.

    Every test file is read and checked before any case runs: bad input raises BadInput with every
    problem, located in its file.
    """
    planned: list[tuple[TestSuite, KnowledgeBase, list[TestCase]]] = []
    problems: list[Problem] = []
    for suite in find_suites(paths, packs, as_of):
        kb = load_knowledge_base(list(suite.layer_dirs))
        cases: list[TestCase] = []
        for path, shown in suite.files:
            try:
                cases.extend(load_test_file(kb, path, shown))
            except BadInput as exc:
                problems.extend(exc.problems)
        planned.append((suite, kb, cases))
    if problems:
        raise BadInput(problems_sorted(problems))
    results: list[CaseResult] = []
    rules: list[RuleRef] = []
    for suite, kb, cases in planned:
        rules.extend(layer_rules(kb, suite.layer))
        results.extend(run_case(kb, case, engine) for case in cases)
    return TestReport(tuple(results), compute_coverage(rules, results))


# -- text ---------------------------------------------------------------------------------------


def result_lines(result: CaseResult) -> list[str]:
    """`PASS file::name`, or `FAIL file::name` and, for each mismatch, what was expected and what came out."""
    if result.passed:
        return [f"PASS {result.title}"]
    lines = [f"FAIL {result.title}"]
    for m in result.mismatches:
        subject = f": {m.subject}" if m.subject is not None else ""
        lines.append(f"  {m.field}{subject}  ({m.location})")
        if m.field == "fires":
            lines.append(f"    did not fire: {', '.join(m.missing)}")
            continue
        if m.field == "does_not_fire":
            lines.append(f"    fired:        {', '.join(m.unexpected)}")
            continue
        lines.append(f"    expected:   {m.expected}")
        lines.append(f"    actual:     {m.actual}")
        lines.extend(f"    missing:    {item}" for item in m.missing)
        lines.extend(f"    unexpected: {item}" for item in m.unexpected)
    return lines


def percent_text(value: float) -> str:
    """A percentage for display, rounded down so that 100% means every rule."""
    return f"{math.floor(value + 1e-9)}%"


def coverage_lines(coverage: Coverage) -> list[str]:
    rows = [(f.file, f"{f.covered}/{f.total}", percent_text(f.percent)) for f in coverage.files]
    total = ("total", f"{coverage.covered}/{coverage.total}", percent_text(coverage.percent))
    name_w = max(len(r[0]) for r in [*rows, total])
    frac_w = max(len(r[1]) for r in [*rows, total])
    lines = ["Coverage (rules that fired in one case and did not fire in another):"]
    for f, (name, fraction, pct) in zip(coverage.files, rows, strict=True):
        lines.append(f"  {name.ljust(name_w)}  {fraction.rjust(frac_w)}  {pct.rjust(4)}")
        lines.extend(f"    never fired:  {r.id} ({r.location})" for r in f.never_fired)
        lines.extend(
            f"    always fired: {r.id} ({r.location}): add a case where it does not fire" for r in f.always_fired
        )
    name, fraction, pct = total
    lines.append(f"  {name.ljust(name_w)}  {fraction.rjust(frac_w)}  {pct.rjust(4)}")
    return lines


def minimum_text(coverage: Coverage, minimum: float) -> str:
    return (
        f"coverage {percent_text(coverage.percent)} ({coverage.covered}/{coverage.total} rules) "
        f"is below the minimum of {minimum:g}%"
    )


def test_schema() -> dict[str, Any]:
    """The JSON Schema of policy test files, for editors."""
    text = shipped.read_text(shipped.SCHEMAS, "policy-test.schema.json")
    schema: dict[str, Any] = json.loads(text)
    return schema
