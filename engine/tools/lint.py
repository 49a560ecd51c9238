"""`podeploy lint`: semantic checks of policy files, beyond what the schema and the loader refuse.

Every finding has a stable code, a severity and a location:

- the loader's problems (unknown names with "did you mean", duplicate ids, unstratifiable rules,
  ...) are errors, with the loader's codes; durable-rules' limits (`engine-limit`) are warnings, since
  such policies run on the reference evaluator;
- `never-fires` (error): a condition no fact can pass, or two conditions that can never hold together;
- `duplicate-conditions`, `cycle`, `contradiction`, `disabled`, `missing-source`, `weak-description`,
  `generic-explanation`, `scaffold-text`, `undated-source`, `fires-by-default`, `unused-code` (warnings);
- `merged-messages` (warning), in a consultant's layers only: a warning or note that two rules, or two
  firings of one rule, conclude alike, so that the customer reads their explanations run together;
- `shadowed` (info): a rule replaced on purpose by a later layer's `overrides`.

Remember the language's matching rules when reading the checks: each positive condition of a rule
matches a different fact, and a `not` looks past the facts the positive conditions matched (so
`P` together with `not: P` means "exactly one such fact", which is not a contradiction).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import BadInput, Location, Problem
from ..io import shipped
from ..model.terms import (
    VERSION_PATTERN,
    Atom,
    Clause,
    Conclusion,
    Rule,
    Scalar,
    Test,
    Var,
    explanation_parts,
    show_value,
    version_number,
)
from ..policy.assembly import system_predicates
from ..policy.building import PolicyFile
from ..policy.knowledge import KnowledgeBase
from ..policy.layers import builtin_policy_paths, edition_dirs, policy_paths_in, shipped_layer
from ..policy.loading import load_knowledge_base
from ..policy.reading import read_policy_file
from ..records import record

SEVERITIES = ("error", "warning", "info")
MIN_DESCRIPTION = 10  # characters; shorter descriptions say too little to audit a rule by

_Key = tuple[str, Any]  # a literal tagged by kind, so that 1, 1.0, true and "1" never collide
_Bound = tuple[float, bool]  # a number and whether the bound is strict
_EVERY = frozenset("<=>")
_RELATIONS = {
    "eq": frozenset("="),
    "ne": frozenset("<>"),
    "lt": frozenset("<"),
    "lte": frozenset("<="),
    "gt": frozenset(">"),
    "gte": frozenset(">="),
}


@record
class Finding:
    """One located, coded lint message; `severity` is error, warning or info."""

    code: str
    severity: str
    message: str
    location: Location

    def __str__(self) -> str:
        message = " ".join(self.message.split())
        return f"{self.location}: {self.severity}: {self.code}: {message}"

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": " ".join(self.message.split()),
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
        }


@record
class LintReport:
    """Every finding, sorted by location."""

    findings: tuple[Finding, ...]

    def _count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def errors(self) -> int:
        return self._count("error")

    @property
    def warnings(self) -> int:
        return self._count("warning")

    @property
    def infos(self) -> int:
        return self._count("info")

    def shown(self, *, verbose: bool = False) -> list[Finding]:
        """The findings to print: infos only when asked for."""
        return [f for f in self.findings if verbose or f.severity != "info"]


def lint(paths: Sequence[str], *, include_all: bool = False, as_of: str | None = None) -> LintReport:
    """Lint the shipped policies (the built-ins and the editions up to as_of), or the given files and
    folders layered over them.

    With paths, only findings located in them are kept unless include_all; errors are kept
    wherever they are, since any of them stops the knowledge base from loading.
    """
    from ..evaluation.rete import check_network

    layers = [*edition_dirs(as_of), *paths]
    findings: list[Finding] = []
    try:
        kb = load_knowledge_base(layers)
    except BadInput as exc:
        # The loader's problems, then what can be checked rule by rule in the files that parse.
        findings.extend(_from_problems(exc.problems))
        kb = _partial(layers)
        findings.extend(_local_findings(kb, [r for f in kb.files for r in f.rules]))
        findings.extend(_scaffold_text(kb))
    else:
        try:
            check_network(kb)
        except BadInput as exc:
            # Past a durable-rules limit the policies run on the reference evaluator: worth knowing, not an error.
            findings.extend(
                Finding(p.code, "warning", f"{p.message}; podeploy runs these policies on the reference evaluator",
                        p.location)
                if p.code == "engine-limit" else Finding(p.code, "error", p.message, p.location)
                for p in exc.problems
            )
        findings.extend(_local_findings(kb, [r for f in kb.files for r in f.rules]))
        findings.extend(_scaffold_text(kb))
        findings.extend(_cross_findings(kb))
    if paths and not include_all:
        findings = [f for f in findings if f.severity == "error" or _inside(f.location, paths)]
    ordered = sorted(
        dict.fromkeys(findings), key=lambda f: (f.location, SEVERITIES.index(f.severity), f.code, f.message)
    )
    return LintReport(tuple(ordered))


# -- loading -------------------------------------------------------------------------------------


def _from_problems(problems: Iterable[Problem]) -> list[Finding]:
    return [Finding(p.code, "error", p.message, p.location) for p in problems]


def _partial(paths: Sequence[str]) -> KnowledgeBase:
    """What can be read of policies that do not load as a whole: enough for the per-rule checks."""
    files: list[PolicyFile] = []
    seen: set[str] = set()
    sources: list[tuple[str, str, str | None]] = [(p, "built-in", shown) for p, shown in builtin_policy_paths()]
    for path in paths:
        if os.path.exists(path):
            layer = os.path.basename(os.path.normpath(path))
            sources.extend((p, layer, shipped.shown_name(p)) for p in policy_paths_in(path))
    for path, layer, shown in sources:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        policy, _ = read_policy_file(path, layer, shown)  # its problems are already reported
        if policy is not None:
            files.append(policy)

    def first(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, item in items:
            found.setdefault(key, item)
        return found

    kb = KnowledgeBase(
        files,
        first((t.id, t) for f in files for t in f.deployment_types),
        first((c.id, c) for f in files for c in f.capabilities),
        [o for f in files for o in f.offers],
        {d.id: d for f in files for d in f.facts},  # a later layer's declaration replaces an earlier one
        {},
        first((c.id, c) for f in files for c in f.codes),
        [],
    )
    kb.predicates = {**first((p.id, p) for f in files for p in f.predicates), **system_predicates(kb)}
    for f in files:  # the titled documents rules cite (a later layer may retitle one), as assemble keeps them
        for entry in f.sources:
            kb.sources[entry.id] = entry
    return kb




def _inside(location: Location, paths: Sequence[str]) -> bool:
    """Is the location in one of the given files or folders? Shipped files are matched by their real path."""
    name = location.file
    if name.startswith("policies/"):
        inside = os.path.join(shipped.folder(shipped.POLICIES), name[len("policies/") :])
        name = inside if os.path.exists(inside) else name
    real = os.path.realpath(name)
    for path in paths:
        root = os.path.realpath(path)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


# -- per-rule checks -----------------------------------------------------------------------------


def _local_findings(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    findings: list[Finding] = []
    listed_as_of = {entry.id: f.as_of for f in kb.files if f.as_of for entry in f.sources}
    for rule in rules:
        if rule.source is None or not rule.source.strip():
            findings.append(
                Finding(
                    "missing-source",
                    "warning",
                    f"rule '{rule.id}' has no 'source'; add the seed section or documentation path it comes from",
                    rule.location,
                )
            )
        if len(rule.description.strip()) < MIN_DESCRIPTION:
            findings.append(
                Finding(
                    "weak-description",
                    "warning",
                    f"rule '{rule.id}' has a {len(rule.description.strip())}-character description; "
                    "say in a sentence what the rule decides",
                    rule.location,
                )
            )
        findings.extend(_generic_explanation(kb, rule))
        findings.extend(_undated_source(kb, rule, listed_as_of))
        findings.extend(_fires_by_default(kb, rule))
        findings.extend(_never_fires(kb, rule))
    return findings


# -- the author's own words ----------------------------------------------------------------------


_SCAFFOLD_NAME, _SCAFFOLD_FACT = "scaffoldname", "scaffoldfact"
_SCAFFOLD_FIX = {
    "policy description": "say in a sentence or two what the policy adds",
    "fact description": "say what the fact records about the customer",
    "fact question": "write the question a consultant asks the customer",
    "code description": "say what the warning or note tells the customer",
    "rule description": "say in a sentence what the rule decides",
    "rule source": "name the document and section the rule relies on",
    "rule explanation": "write what the customer reads when the rule fires, in business words",
}


@functools.cache
def _scaffold_patterns() -> dict[str, re.Pattern[str]]:
    """What `podeploy new-policy` writes into each text of a policy, for any policy name, as patterns."""
    import yaml

    from .scaffold import POLICY

    written = yaml.safe_load(POLICY.format(name=_SCAFFOLD_NAME, fact=_SCAFFOLD_FACT, folder=""))

    def pattern(text: str) -> re.Pattern[str]:
        escaped = re.escape(" ".join(text.split()))
        escaped = escaped.replace(_SCAFFOLD_FACT, "[a-z][a-z0-9_]*").replace(_SCAFFOLD_NAME, "[a-z][a-z0-9-]*")
        return re.compile(escaped)

    fact, code, rule = written["facts"][0], written["codes"][0], written["rules"][0]
    return {
        "policy description": pattern(written["description"]),
        "fact description": pattern(fact["description"]),
        "fact question": pattern(fact["question"]),
        "code description": pattern(code["description"]),
        "rule description": pattern(rule["description"]),
        "rule source": pattern(rule["source"]),
        "rule explanation": pattern(rule["explanation"]),
    }


def _scaffold_text(kb: KnowledgeBase) -> list[Finding]:
    """`scaffold-text`: a text `podeploy new-policy` wrote for the author to replace, still in place."""
    patterns = _scaffold_patterns()
    findings: list[Finding] = []

    def check(kind: str, owner: str, text: str | None, location: Location) -> None:
        shown = " ".join((text or "").split())
        if text is not None and patterns[kind].fullmatch(shown):
            findings.append(
                Finding(
                    "scaffold-text",
                    "warning",
                    f"the {kind.split()[1]} of {owner} is still the text 'podeploy new-policy' wrote ('{shown}'); "
                    f"{_SCAFFOLD_FIX[kind]}",
                    location,
                )
            )

    for f in kb.files:
        check("policy description", f"policy '{f.name}'", f.description, f.location)
        for fact in f.facts:
            check("fact description", f"fact '{fact.id}'", fact.description, fact.location)
            check("fact question", f"fact '{fact.id}'", fact.question, fact.location)
        for code in f.codes:
            check("code description", f"code '{code.id}'", code.description, code.location)
        for rule in f.rules:
            check("rule description", f"rule '{rule.id}'", rule.description, rule.location)
            check("rule source", f"rule '{rule.id}'", rule.source, rule.location)
            check("rule explanation", f"rule '{rule.id}'", rule.explanation, rule.location)
    return findings


_DATED = re.compile(r"\b[0-9]{4}-[0-9]{2}(-[0-9]{2})?\b|https?://\S")


def _undated_source(kb: KnowledgeBase, rule: Rule, listed_as_of: dict[str, str]) -> list[Finding]:
    """`undated-source`: a cited document a reader cannot find or date: no address, and no title with a date.
    listed_as_of: the date of the file that lists each `sources:` entry, where that file is dated."""
    from ..explain.queries import citations

    if rule.source is not None and _scaffold_patterns()["rule source"].fullmatch(" ".join(rule.source.split())):
        return []  # scaffold-text says it
    findings = []
    for cited in citations(kb, rule.source):
        # A titled entry without a date of its own is as of the file that lists it, where that is dated.
        date = cited.date or listed_as_of.get(cited.text.partition("#")[0])
        if cited.url or (cited.title and date) or _DATED.search(cited.text):
            continue
        findings.append(
            Finding(
                "undated-source",
                "warning",
                f"rule '{rule.id}' cites '{cited.text}', which has no address and no date, so a reader cannot tell "
                "which version of it the rule encodes; list it under 'sources:' with a title and a date (or a url), "
                "or write its date into the source ('playbook (2026-11), section 2')",
                rule.location,
            )
        )
    return findings


def _passes(kb: KnowledgeBase, atom: Atom, value: Scalar) -> bool:
    """Does a fact holding value pass the atom's literal tests on its value?"""
    tests = [t for fp in atom.fields if fp.field == "value" for t in fp.tests if not isinstance(t.operand, Var)]
    return _impossible(kb, atom.predicate, "value", [*tests, Test("eq", value)]) is None


def _fires_by_default(kb: KnowledgeBase, rule: Rule) -> list[Finding]:
    """`fires-by-default`: a case of the rule that every customer passes without saying anything, because what
    it asks of the customer's facts is their defaults."""
    findings: list[Finding] = []
    for clause in rule.clauses:
        defaulted: list[tuple[Atom, Scalar, str]] = []
        silent = not clause.counts  # does a customer who said nothing pass every condition of this clause?
        for atom in clause.positives if silent else ():
            decl = kb.facts.get(atom.predicate)
            if atom.predicate == "entity":
                continue  # every customer has at least one
            if decl is None or decl.is_list or decl.default is None or not _passes(kb, atom, decl.default):
                silent = False
                break
            defaulted.append((atom, decl.default, "passes"))
        for atom in clause.negatives if silent else ():
            decl = kb.facts.get(atom.predicate)
            if decl is None or (decl.default is not None and not decl.is_list and _passes(kb, atom, decl.default)):
                silent = False  # a conclusion of other rules, or a default the 'not' refuses: it may not hold
                break
            if decl.default is not None and not decl.is_list:
                defaulted.append((atom, decl.default, "keeps the 'not' true"))
        if not silent or not defaulted:
            continue
        shown = " or ".join(
            f"'{atom.predicate}' (its default, {show_value(value)}, {how})" for atom, value, how in defaulted
        )
        findings.append(
            Finding(
                "fires-by-default",
                "warning",
                f"rule '{rule.id}' fires for every customer, even one who never mentioned {shown}; test a value "
                "the customer has to give, or declare the fact without a default",
                defaulted[0][0].location,
            )
        )
    return findings


def _generic_explanation(kb: KnowledgeBase, rule: Rule) -> list[Finding]:
    try:
        placeholders = [name for _, name in explanation_parts(rule.explanation) or () if name is not None]
    except ValueError:  # a stray brace: the loader's business
        return []
    if placeholders:
        return []
    for conclusion in rule.conclusions:
        pred = kb.predicates.get(conclusion.predicate)
        for name, value in conclusion.values:
            decl = pred.fields.get(name) if pred is not None else None
            if (decl is not None and decl.domain == "entity") or (decl is None and name == "entity"):
                var = value.name if isinstance(value, Var) else "entity"
                return [
                    Finding(
                        "generic-explanation",
                        "warning",
                        f"rule '{rule.id}' concludes about a legal entity, but its explanation names none of "
                        f"its variables; write '{{{var}}}' into it so the customer sees which entity it is about",
                        rule.location,
                    )
                ]
    return []


def _never_fires(kb: KnowledgeBase, rule: Rule) -> list[Finding]:
    dead = [_dead_ends(kb, clause) for clause in rule.clauses]
    everywhere = all(dead)
    findings: list[Finding] = []
    for reasons in dead:
        for location, reason in reasons:
            what = "can never fire" if everywhere else "can never fire in this case of its 'any'"
            findings.append(Finding("never-fires", "error", f"rule '{rule.id}' {what}: {reason}", location))
    return findings


def _dead_ends(kb: KnowledgeBase, clause: Clause) -> list[tuple[Location, str]]:
    """Why a clause can never hold: a field no value passes, or two conditions needing one fact."""
    reasons: list[tuple[Location, str]] = []
    bound: set[str] = set()
    earlier: list[Atom] = []
    for atom in clause.positives:
        for fp in atom.fields:
            tests = list(fp.tests)
            if fp.bind is not None and fp.bind.name in bound:
                tests.append(Test("eq", fp.bind))  # a join on a bound variable
            reason = _impossible(kb, atom.predicate, fp.field, tests)
            if reason is not None:
                reasons.append(
                    (
                        fp.location,
                        f"no value of {_field_name(kb, atom, fp.field)} passes {reason}; "
                        "correct the test that contradicts the others",
                    )
                )
        for other in earlier:
            reason = _same_fact(kb, other, atom)
            if reason is not None:
                reasons.append((atom.location, reason))
                break
        earlier.append(atom)
        bound |= {fp.bind.name for fp in atom.fields if fp.bind is not None}
    return reasons


def _field_name(kb: KnowledgeBase, atom: Atom, name: str) -> str:
    if name == "value" and atom.predicate in kb.facts:
        return f"'{atom.predicate}'"
    return f"'{atom.predicate}.{name}'"


def _key(value: Scalar, version: bool) -> _Key:
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, str):
        if version and re.match(VERSION_PATTERN, value):
            return ("n", version_number(value))
        return ("s", value)
    return ("n", value)


def _show(test: Test) -> str:
    if isinstance(test.operand, tuple):
        return f"{test.op}: [{', '.join(show_value(v) for v in test.operand)}]"
    return f"{test.op}: {show_value(test.operand)}"


def _domain(kb: KnowledgeBase, predicate: str, name: str) -> list[_Key] | None:
    """The values a field can hold, where the vocabulary lists them."""
    pred = kb.predicates.get(predicate)
    decl = pred.fields.get(name) if pred is not None else None
    if decl is None:
        return None
    if decl.type == "boolean":
        return [("b", False), ("b", True)]
    if decl.domain == "deployment-type":
        return [("s", t) for t in kb.types]
    if decl.domain == "capability":
        return [("s", c) for c in kb.capabilities]
    if decl.domain is not None and decl.domain.startswith("fact:") and decl.domain[5:] in kb.facts:
        return [("s", v) for v in kb.facts[decl.domain[5:]].values]
    return None


def _impossible(kb: KnowledgeBase, predicate: str, name: str, tests: Sequence[Test]) -> str | None:
    """The tests, shown, when no value of the field can pass them all together; else None."""
    fact = kb.facts.get(predicate)
    version = fact is not None and fact.type == "version" and name == "value"
    relations: dict[str, frozenset[str]] = {}
    allowed: set[_Key] | None = None
    excluded: set[_Key] = set()
    lower: _Bound | None = None
    upper: _Bound | None = None
    for test in tests:
        operand = test.operand
        if isinstance(operand, Var):
            relations[operand.name] = relations.get(operand.name, _EVERY) & _RELATIONS[test.op]
        elif isinstance(operand, tuple):
            keys = {_key(v, version) for v in operand}
            if test.op == "in":
                allowed = keys if allowed is None else allowed & keys
            else:
                excluded |= keys
        elif test.op == "eq":
            allowed = {_key(operand, version)} if allowed is None else allowed & {_key(operand, version)}
        elif test.op == "ne":
            excluded.add(_key(operand, version))
        else:
            kind, number = _key(operand, version)
            if kind != "n":
                continue  # ordering a non-number is a load error
            if test.op in ("gt", "gte"):
                bound = (number, test.op == "gt")
                if lower is None or bound[0] > lower[0] or (bound[0] == lower[0] and bound[1]):
                    lower = bound
            else:
                bound = (number, test.op == "lt")
                if upper is None or bound[0] < upper[0] or (bound[0] == upper[0] and bound[1]):
                    upper = bound

    def within(key: _Key) -> bool:
        if lower is None and upper is None:
            return True
        if key[0] != "n":
            return False
        if lower is not None and (key[1] < lower[0] or (key[1] == lower[0] and lower[1])):
            return False
        return not (upper is not None and (key[1] > upper[0] or (key[1] == upper[0] and upper[1])))

    shown = ", ".join(f"{t.op}: ${t.operand.name}" if isinstance(t.operand, Var) else _show(t) for t in tests)
    if any(not rel for rel in relations.values()):
        return shown
    if allowed is not None:
        return None if any(k not in excluded and within(k) for k in allowed) else shown
    if lower is not None and upper is not None:
        if lower[0] > upper[0] or (lower[0] == upper[0] and (lower[1] or upper[1])):
            return shown
        if lower[0] == upper[0] and ("n", lower[0]) in excluded:
            return shown
    domain = _domain(kb, predicate, name)
    if domain is not None and excluded and not any(k not in excluded and within(k) for k in domain):
        return f"{shown} (its values: {', '.join(show_value(v) for _, v in domain)})"
    return None


def _pin(atom: Atom, name: str) -> tuple[str, Any] | None:
    """What a field is held to: one variable or one literal, or None when it can vary."""
    for fp in atom.fields:
        if fp.field != name:
            continue
        if fp.bind is not None:
            return ("var", fp.bind.name)
        for test in fp.tests:
            if test.op == "eq":
                operand = test.operand
                return ("var", operand.name) if isinstance(operand, Var) else ("literal", operand)
            if test.op == "in" and isinstance(test.operand, tuple) and len(set(test.operand)) == 1:
                return ("literal", test.operand[0])
    return None


def _same_fact(kb: KnowledgeBase, first: Atom, second: Atom) -> str | None:
    """Why two positive conditions of one clause can never match two different facts, or None."""
    if first.predicate != second.predicate or first.predicate not in kb.predicates:
        return None
    name = first.predicate
    decl = kb.facts.get(name)
    if decl is not None and not decl.is_list:
        keys = [] if decl.scope == "customer" else ["entity"]
        if all(_pin(first, k) is not None and _pin(first, k) == _pin(second, k) for k in keys):
            holder = "the customer" if decl.scope == "customer" else "each legal entity"
            return (
                f"'{name}' holds one value for {holder} and each condition matches a different fact, so this "
                f"condition and the one at {first.location} cannot both hold; test '{name}' once "
                "(with 'in: [...]' for alternatives)"
            )
        return None
    fields = list(kb.predicates[name].fields)
    if all(_pin(first, k) is not None and _pin(first, k) == _pin(second, k) for k in fields):
        return (
            f"this condition asks for the same '{name}' fact as the one at {first.location}, and each "
            "condition matches a different fact; remove one of them"
        )
    return None


# -- checks across rules -------------------------------------------------------------------------


def _cross_findings(kb: KnowledgeBase) -> list[Finding]:
    originals = {r.location: r for f in kb.files for r in f.rules}
    rules = [originals.get(r.location, r) for r in kb.rules]  # as written: version literals unconverted
    findings = _layers(kb)
    findings.extend(_duplicates(rules))
    findings.extend(_cycles(kb, rules))
    findings.extend(_contradictions(kb, rules))
    findings.extend(_merged_messages(kb, rules))
    findings.extend(_unused_codes(kb, rules))
    return findings


# Codes podeploy itself concludes, outside any rule (decision.py: two deployments for one entity).
ENGINE_CODES = ("conflicting-deployments",)


def _unused_codes(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    """`unused-code`: a warning or note code that no rule concludes (a rule left out, or a code misspelt in it)."""
    notices = {pid for pid, p in kb.predicates.items() if p.role in ("warning", "note")}
    concluded = {
        _literal(c, "code") for rule in rules for c in rule.conclusions if c.predicate in notices
    }
    return [
        Finding(
            "unused-code",
            "warning",
            f"{code.kind} code '{code.id}' is declared but no rule concludes it; conclude it in a rule, or remove it",
            code.location,
        )
        for code in kb.codes.values()
        if code.id not in concluded and code.id not in ENGINE_CODES
    ]


def _layers(kb: KnowledgeBase) -> list[Finding]:
    """`shadowed` for each explicit override, `disabled` for each rule switched off."""
    findings: list[Finding] = []
    placed: dict[str, Rule] = {}
    for f in kb.files:
        for rule in f.rules:
            target = placed.get(rule.overrides) if rule.overrides is not None else None
            if target is not None and target.layer != rule.layer:
                findings.append(
                    Finding(
                        "shadowed",
                        "info",
                        f"rule '{rule.id}' replaces rule '{target.id}' at {target.location} (layer "
                        f"{target.layer}), which no longer runs; keep the two in step when that rule changes",
                        rule.location,
                    )
                )
                del placed[target.id]
            placed.setdefault(rule.id, rule)
        for off in f.disables:
            disabled = placed.pop(off.rule, None)
            if disabled is None:
                continue
            findings.append(
                Finding(
                    "disabled",
                    "warning",
                    f"rule '{disabled.id}' at {disabled.location} (layer {disabled.layer}) is switched off: "
                    f"{' '.join(off.reason.split())}; its conclusions are no longer drawn: remove this entry "
                    "to run it again",
                    off.location,
                )
            )
    return findings


def _atom_form(atom: Atom) -> tuple[Any, ...]:
    fields = sorted(
        ((fp.field, fp.bind, tuple(sorted(fp.tests, key=repr))) for fp in atom.fields), key=lambda item: item[0]
    )
    return (atom.predicate, tuple(fields))


def _rule_form(rule: Rule) -> frozenset[tuple[Any, ...]]:
    return frozenset(
        (
            tuple(sorted(map(_atom_form, c.positives), key=repr)),
            tuple(sorted(map(_atom_form, c.negatives), key=repr)),
            tuple(sorted(((_atom_form(k.atom), k.var) for k in c.counts), key=repr)),
        )
        for c in rule.clauses
    )


def _duplicates(rules: list[Rule]) -> list[Finding]:
    """Rules with the same conditions concluding the same kinds of fact: one was likely copied."""
    findings: list[Finding] = []
    seen: dict[tuple[Any, ...], Rule] = {}
    for rule in rules:
        kinds = tuple(sorted({c.predicate for c in rule.conclusions}))
        key = (_rule_form(rule), kinds)
        first = seen.setdefault(key, rule)
        if first is not rule:
            findings.append(
                Finding(
                    "duplicate-conditions",
                    "warning",
                    f"rule '{rule.id}' has the same conditions as rule '{first.id}' ({first.location}) and "
                    f"concludes the same kinds of fact ({', '.join(kinds)}); merge the two rules, or correct "
                    "the conditions of the one that was copied",
                    rule.location,
                )
            )
    return findings


def _cycles(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    """Derived facts that depend on themselves through positive conditions."""
    edges: dict[tuple[str, str], Rule] = {}
    by_rule: dict[str, list[tuple[str, str]]] = {}
    for rule in rules:
        for clause in rule.clauses:
            for atom in clause.positives:
                pred = kb.predicates.get(atom.predicate)
                if pred is None or not pred.derived:
                    continue
                for conclusion in rule.conclusions:
                    edge = (atom.predicate, conclusion.predicate)
                    edges.setdefault(edge, rule)
                    if edge not in by_rule.setdefault(rule.id, []):
                        by_rule[rule.id].append(edge)
    following: dict[str, list[str]] = {}
    for source, target in edges:
        following.setdefault(source, []).append(target)

    def path(start: str, goal: str) -> list[str] | None:
        """The shortest chain of predicates from start to goal, both included."""
        came: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            if here == goal:
                chain = [here]
                step = came[here]
                while step is not None:
                    chain.append(step)
                    step = came[step]
                return chain[::-1]
            for nxt in following.get(here, []):
                if nxt not in came:
                    came[nxt] = here
                    queue.append(nxt)
        return None

    findings: list[Finding] = []
    for rule in rules:
        for source, target in by_rule.get(rule.id, []):
            back = [target] if source == target else path(target, source)
            if back is None:
                continue
            chain = [source, *back] if source != target else [source, target]
            steps = [
                f"'{a}' -> '{b}' (rule '{(rule if (a, b) == (source, target) else edges[(a, b)]).id}')"
                for a, b in itertools.pairwise(chain)
            ]
            findings.append(
                Finding(
                    "cycle",
                    "warning",
                    f"rule '{rule.id}' derives '{target}' from '{source}', closing a cycle among derived facts: "
                    f"{', '.join(steps)}; a fact in it can support itself: break the cycle unless the "
                    "recursion is intended",
                    rule.location,
                )
            )
            break
    return findings


def _literal(conclusion: Conclusion, name: str) -> Scalar | None:
    for field, value in conclusion.values:
        if field == name and not isinstance(value, Var):
            return value
    return None


def _var(conclusion: Conclusion, name: str) -> str | None:
    for field, value in conclusion.values:
        if field == name and isinstance(value, Var):
            return value.name
    return None


def _contradictions(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    """Two rules that can both fire for one entity and conclude two deployments, or a deployment and its exclusion."""
    deployments = {pid for pid, p in kb.predicates.items() if p.role == "deployment"}
    involved = deployments | {"excluded"}
    rules = [  # only rules that conclude a deployment or an exclusion of a literal type can clash
        r for r in rules if any(c.predicate in involved and _literal(c, "type") is not None for c in r.conclusions)
    ]
    findings: list[Finding] = []
    for i, later in enumerate(rules):
        for earlier in rules[:i]:
            found = _conflict(earlier, later, deployments)
            if found is None:
                continue
            mine, theirs = found
            if _exclusive(kb, earlier, theirs, later, mine):
                continue
            findings.append(
                Finding(
                    "contradiction",
                    "warning",
                    f"rule '{later.id}' concludes {_show_conclusion(mine)} and rule '{earlier.id}' "
                    f"({earlier.location}) concludes "
                    f"{_show_conclusion(theirs)}, and nothing keeps both from holding for one entity; add a "
                    "condition that tells them apart (a different value of one fact, or 'not' on the other "
                    "rule's conclusion)",
                    mine.location,
                )
            )
    return findings


def _show_conclusion(conclusion: Conclusion) -> str:
    return f"{conclusion.predicate}(type: {_literal(conclusion, 'type')})"


def _conflict(earlier: Rule, later: Rule, deployments: set[str]) -> tuple[Conclusion, Conclusion] | None:
    """The later rule's conclusion, the earlier one's, and how they clash."""
    for mine in later.conclusions:
        for theirs in earlier.conclusions:
            a, b = _literal(theirs, "type"), _literal(mine, "type")
            if a is None or b is None:
                continue
            ea, eb = _literal(theirs, "entity"), _literal(mine, "entity")
            if ea is not None and eb is not None and ea != eb:
                continue
            kinds = {mine.predicate in deployments, theirs.predicate in deployments}
            if kinds == {True} and a != b:
                return mine, theirs
            if kinds == {True, False} and a == b and {mine.predicate, theirs.predicate} - deployments == {"excluded"}:
                return mine, theirs
    return None


def _exclusive(kb: KnowledgeBase, a: Rule, ca: Conclusion, b: Rule, cb: Conclusion) -> bool:
    """Can no clause of a hold together with a clause of b, for the entity both conclusions are about?"""
    return all(
        _clauses_exclusive(kb, a, x, _var(ca, "entity"), b, y, _var(cb, "entity")) for x in a.clauses for y in b.clauses
    )


def _clauses_exclusive(
    kb: KnowledgeBase, a: Rule, x: Clause, ea: str | None, b: Rule, y: Clause, eb: str | None
) -> bool:
    for left in x.positives:
        for right in y.positives:
            decl = kb.facts.get(left.predicate)
            if left.predicate != right.predicate or decl is None or decl.is_list:
                continue
            if decl.scope == "entity" and not (
                ea is not None
                and eb is not None
                and _pin(left, "entity") == ("var", ea)
                and _pin(right, "entity") == ("var", eb)
            ):
                continue
            tests = [
                t
                for atom in (left, right)
                for fp in atom.fields
                if fp.field == "value"
                for t in fp.tests
                if not isinstance(t.operand, Var)
            ]
            if _impossible(kb, left.predicate, "value", tests) is not None:
                return True
    for rule, clause, other in ((a, x, y), (b, y, x)):
        for negated in other.negatives:
            if any(_could_match(kb, negated, c) for c in rule.conclusions):
                return True  # the other rule fires only where this one's conclusion is absent
            if not negated.variables() and any(_atom_form(p) == _atom_form(negated) for p in clause.positives):
                return True
    return False


def _could_match(kb: KnowledgeBase, atom: Atom, conclusion: Conclusion) -> bool:
    """Could the fact a conclusion draws match the (negated) atom?"""
    if atom.predicate != conclusion.predicate:
        return False
    values = dict(conclusion.values)
    for fp in atom.fields:
        if fp.field not in values:
            return False
        value = values[fp.field]
        if isinstance(value, Var):
            continue
        tests = [t for t in fp.tests if not isinstance(t.operand, Var)]
        if _impossible(kb, atom.predicate, fp.field, [*tests, Test("eq", value)]) is not None:
            return False
    return True


# -- warnings and notes whose explanations run together ------------------------------------------------


def _merged_messages(kb: KnowledgeBase, rules: list[Rule]) -> list[Finding]:
    """`merged-messages`, for the rules of a consultant's layers: a warning or note that two rules, or two firings
    of one rule, conclude alike. It is one warning, and its message is their explanations one after the other."""
    notices = {pid for pid, p in kb.predicates.items() if p.role in ("warning", "note")}
    mine = {  # the rules of a consultant's layers, those that can fire
        r.location
        for f in kb.files
        if not shipped_layer(f.layer)
        for r in f.rules
        if not all(_dead_ends(kb, clause) for clause in r.clauses)
    }
    by_id: dict[str, list[Rule]] = {}
    for f in kb.files:
        for r in f.rules:
            by_id.setdefault(r.id, []).append(r)
    findings: list[Finding] = []
    by_code: dict[tuple[str, Scalar], list[tuple[Rule, Conclusion]]] = {}
    for rule in rules:
        for conclusion in rule.conclusions:
            code = _literal(conclusion, "code")
            if conclusion.predicate in notices and code is not None:
                by_code.setdefault((conclusion.predicate, code), []).append((rule, conclusion))
                if rule.location in mine:
                    findings.extend(_merged_firings(kb, rule, conclusion))
    for (kind, code), concluding in by_code.items():
        for i, (later, ours) in enumerate(concluding):
            if later.location not in mine or _inherited(later, kind, code, by_id):
                continue
            for earlier, theirs in concluding[:i] + [c for c in concluding[i + 1 :] if c[0].location not in mine]:
                if earlier is later or not _alike(ours, theirs) or _exclusive(kb, earlier, theirs, later, ours):
                    continue
                findings.append(
                    Finding(
                        "merged-messages",
                        "warning",
                        f"rule '{later.id}' concludes {kind} '{code}' as rule '{earlier.id}' ({earlier.location}) "
                        f"does, and nothing keeps both from firing for one customer: they make one {kind}, whose "
                        f"message runs their two explanations together; give this rule a {kind} code of its own, "
                        f"or a field{_free_fields(kb, ours)} that tells the two apart",
                        ours.location,
                    )
                )
                break
    return findings


def _inherited(rule: Rule, kind: str, code: Scalar, by_id: dict[str, list[Rule]]) -> bool:
    """Does the rule replace one that concluded the same code? It keeps what that rule said beside the others."""
    return rule.overrides is not None and any(
        r.location != rule.location and any(c.predicate == kind and _literal(c, "code") == code for c in r.conclusions)
        for r in by_id.get(rule.overrides, [])
    )


def _free_fields(kb: KnowledgeBase, conclusion: Conclusion) -> str:
    """' (type, capability)': the fields of the conclusion's predicate it leaves out, to suggest."""
    pred = kb.predicates.get(conclusion.predicate)
    used = {name for name, _ in conclusion.values}
    free = [name for name in (pred.fields if pred is not None else ()) if name not in used]
    return f" ({', '.join(free)})" if free else ""


def _alike(first: Conclusion, second: Conclusion) -> bool:
    """Can the two conclusions draw the same fact: the same fields, and no two literals that differ?"""
    if {name for name, _ in first.values} != {name for name, _ in second.values}:
        return False
    theirs = dict(second.values)
    return all(
        isinstance(value, Var) or isinstance(theirs[name], Var) or theirs[name] == value for name, value in first.values
    )


def _merged_firings(kb: KnowledgeBase, rule: Rule, conclusion: Conclusion) -> list[Finding]:
    """A notice that leaves out a variable the explanation names: the rule's firings for two values of it conclude
    one notice, worded twice."""
    try:
        named = [name for _, name in explanation_parts(rule.explanation) or () if name is not None]
    except ValueError:
        return []
    carried = {value.name for _, value in conclusion.values if isinstance(value, Var)}
    loose: list[str] = []
    for clause in rule.clauses:
        fixed = _determined(kb, clause, carried)
        loose.extend(name for name in named if name not in fixed and name not in loose)
    if not loose:
        return []
    shown = ", ".join(f"'{{{name}}}'" for name in loose)
    kind, code = conclusion.predicate, _literal(conclusion, "code")
    return [
        Finding(
            "merged-messages",
            "warning",
            f"rule '{rule.id}' names {shown} in its explanation, but its {kind} '{code}' does not carry "
            f"{'it' if len(loose) == 1 else 'them'}: when the rule fires for two values, the customer reads one "
            f"{kind} with both explanations run together; conclude the value in a field of the {kind}"
            f"{_free_fields(kb, conclusion)} or leave it out of the explanation",
            conclusion.location,
        )
    ]


def _determined(kb: KnowledgeBase, clause: Clause, carried: set[str]) -> set[str]:
    """The variables of a clause that take one value once the carried ones are known: a customer-wide fact has
    one value, an entity's fact and its deployment one per entity, a vocabulary item one of each field per id."""
    fixed = set(carried)
    for count in clause.counts:
        fixed.add(count.var.name)
    keyed: list[tuple[list[str], dict[str, str]]] = []
    for atom in clause.positives:
        pins = {fp.field: fp.bind.name for fp in atom.fields if fp.bind is not None}
        decl = kb.facts.get(atom.predicate)
        pred = kb.predicates.get(atom.predicate)
        if decl is not None and not decl.is_list:
            keys = [] if decl.scope == "customer" else ["entity"]
        elif pred is not None and pred.role == "deployment":
            keys = ["entity"]
        elif atom.predicate in ("deployment-type", "capability"):
            keys = ["id"]
        elif atom.predicate in ("customer", "entity"):
            keys = ["name"]
        else:
            continue
        keyed.append((keys, pins))
    grown = True
    while grown:
        grown = False
        for keys, pins in keyed:
            if all(pins.get(k) in fixed for k in keys):
                new = set(pins.values()) - fixed
                if new:
                    fixed |= new
                    grown = True
    return fixed
