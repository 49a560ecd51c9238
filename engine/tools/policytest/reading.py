"""Reading test files: each one checked against its JSON Schema, then each name in it against the knowledge base and
its cases' facts."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from ...errors import BadInput, Location, Problem, did_you_mean
from ...facts.reading import FactsInput, read_facts
from ...io import shipped
from ...io.loader import Document, Path, parse_document, problems_sorted, read_text
from ...policy.knowledge import KnowledgeBase
from ...policy.schema_errors import schema_problems
from .cases import (
    ENGINE_WARNINGS,
    NOTICE_FIELDS,
    EntityExpectation,
    NoticeExpectation,
    NoticesExpectation,
    RulesExpectation,
    TestCase,
    TypeExpectation,
)


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


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


class _Reader:
    """Checks one test file: its shape against the schema, then each name in it against the knowledge base and the
    facts.

    The schema says what is wrong with the shape; the names are checked wherever the shape lets them be
    read, and a part of the wrong shape is passed over, so that every problem is reported once, at once.
    """

    def __init__(self, kb: KnowledgeBase, doc: Document, path: str) -> None:
        self.kb = kb
        self.doc = doc
        self.path = path
        self.problems: list[Problem] = []

    def add(self, code: str, message: str, at: Path, *, key: bool = False) -> None:
        self.problems.append(Problem(code, message, self.doc.where(at, key=key)))

    def read(self) -> list[TestCase]:
        value = self.doc.value
        if value is None:
            self.add("empty", "test file is empty; it needs 'cases:', a list of cases", ())
            return []
        self.problems.extend(schema_problems(self.doc, test_schema()))
        cases = value.get("cases") if isinstance(value, dict) else None
        if not isinstance(cases, list):
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
            return None
        before = len(self.problems)
        facts = self.facts(case, at)
        if facts is None:  # the expectations name its legal entities: nothing to check them against
            return None
        # A problem of the case's own keys does not stop its expectations being checked: every problem at once.
        entities = [e.name for e in facts.entities]
        test = TestCase(
            self.doc.name,
            str(case.get("name")).strip(),
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
        if "facts" in case and "facts_file" in case:
            return None
        if isinstance(case.get("facts"), dict):
            doc = _subdocument(self.doc, (*at, "facts"))
        elif _text(case.get("facts_file")):
            found = self.facts_file(str(case["facts_file"]), (*at, "facts_file"))
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
        value = case.get(key)
        if not isinstance(value, dict):
            return ()
        where = (*at, key)
        out = []
        for entity, given in value.items():
            here = (*where, entity)
            known = self.entity(entity, entities, here)
            if key == "deployments":
                if not isinstance(given, str):
                    continue
                if given not in self.kb.types:
                    hint = did_you_mean(given, self.kb.types) or f" (types: {', '.join(self.kb.types)})"
                    self.add("unknown-type", f"'{given}' is not a deployment type{hint}", here)
                    continue
                values: tuple[str, ...] | None = (given,)
            else:
                values = self.capability_list(given, here)
            if known and values is not None:
                out.append(EntityExpectation(entity, values, self.doc.where(here)))
        return tuple(out)

    def notices(self, case: dict[str, Any], at: Path, key: str, entities: list[str]) -> NoticesExpectation | None:
        value = case.get(key)
        if not isinstance(value, list):
            return None
        where = (*at, key)
        kind = "warning" if key == "warnings" else "note"
        items = []
        for j, item in enumerate(value):
            here = (*where, j)
            keys: list[tuple[str, str]] = []
            message: str | None = None
            rules: tuple[str, ...] | None = None
            if isinstance(item, str):
                code = item
            elif isinstance(item, dict) and isinstance(item.get("code"), str):
                code = item["code"]
                if _text(item.get("message_contains")):
                    message = item["message_contains"]
                if "rules" in item:
                    rules = self.rule_list(item["rules"], (*here, "rules"))
                for k in NOTICE_FIELDS:
                    v = item.get(k)
                    if not isinstance(v, str):
                        continue
                    if k == "entity":
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
                continue
            if self.code(code, kind, (*here, "code") if isinstance(item, dict) else here):
                items.append(NoticeExpectation(code, tuple(keys), self.doc.where(here), message, rules))
        return NoticesExpectation(tuple(items), self.doc.where(where, key=True))

    def rule_id(self, rule: Any, at: Path, *, must_fire: bool) -> str | None:
        """A rule id of the knowledge base (one in effect, when must_fire), or None with the problem added."""
        active = {r.id for r in self.kb.rules}
        known = active | set(self.kb.disabled)
        if not isinstance(rule, str):
            return None
        if rule not in known:
            self.add("unknown-rule", f"'{rule}' is not a rule{did_you_mean(rule, known)}", at)
        elif must_fire and rule not in active:
            off = self.kb.disabled[rule]
            self.add("disabled-rule", f"rule '{rule}' is disabled (at {off.location}) and cannot fire", at)
        else:
            return rule
        return None

    def rule_list(self, value: Any, at: Path, *, single: bool = False) -> tuple[str, ...] | None:
        """A list of rule ids that must fire (one id alone, when single), sorted and without repeats."""
        if single and isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return None
        ids = [self.rule_id(rule, (*at, j), must_fire=True) for j, rule in enumerate(value)]
        if any(rule is None for rule in ids):
            return None
        return tuple(sorted({rule for rule in ids if rule is not None}))

    def rules(self, case: dict[str, Any], at: Path, key: str) -> RulesExpectation | None:
        """`fires:` or `does_not_fire:` (where a disabled rule may be named: it does not fire)."""
        value = case.get(key)
        if not isinstance(value, list):
            return None
        where = (*at, key)
        ids = [self.rule_id(rule, (*where, j), must_fire=key == "fires") for j, rule in enumerate(value)]
        return RulesExpectation(tuple(r for r in ids if r is not None), self.doc.where(where, key=True))

    def capability_list(self, value: Any, at: Path) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
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
        value = case.get(key)
        if not isinstance(value, dict):
            return ()
        where = (*at, key)
        out = []
        for entity, types in value.items():
            here = (*where, entity)
            known = self.entity(entity, entities, here)
            if not isinstance(types, dict):
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
                    rules = self.rule_list(given, there, single=True)
                    if rules is None:
                        continue
                else:
                    if not isinstance(given, dict):
                        continue
                    before = len(self.problems)
                    if "rules" in given:
                        rules = self.rule_list(given["rules"], (*there, "rules"))
                    if "capabilities" in given:
                        capabilities = self.capability_list(given["capabilities"], (*there, "capabilities"))
                    if len(self.problems) > before or (rules is None and capabilities is None):
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


def _subdocument(doc: Document, prefix: Path) -> Document:
    """The part of doc at prefix as a document of its own, its locations still in doc's file."""
    n = len(prefix)

    def cut(table: dict[Path, Location]) -> dict[Path, Location]:
        return {path[n:]: loc for path, loc in table.items() if path[:n] == prefix}

    value: Any = doc.value
    for part in prefix:
        value = value[part]
    return Document(doc.name, value, cut(doc.marks), cut(doc.key_marks))


@functools.cache
def test_schema() -> dict[str, Any]:
    """The JSON Schema of policy test files, for editors."""
    text = shipped.read_text(shipped.SCHEMAS, "policy-test.schema.json")
    schema: dict[str, Any] = json.loads(text)
    return schema
