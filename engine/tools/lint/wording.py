"""The author's own words: texts `podeploy new-policy` left in place, sources a reader cannot date, explanations
that name no entity."""

from __future__ import annotations

import functools
import re

from ...errors import Location
from ...model.terms import Rule, Var, explanation_parts
from ...policy.knowledge import KnowledgeBase
from .report import Finding

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
def scaffold_patterns() -> dict[str, re.Pattern[str]]:
    """What `podeploy new-policy` writes into each text of a policy, for any policy name, as patterns."""
    import yaml

    from ..scaffold import POLICY

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


def scaffold_text(kb: KnowledgeBase) -> list[Finding]:
    """`scaffold-text`: a text `podeploy new-policy` wrote for the author to replace, still in place."""
    patterns = scaffold_patterns()
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


def undated_source(kb: KnowledgeBase, rule: Rule, listed_as_of: dict[str, str]) -> list[Finding]:
    """`undated-source`: a cited document a reader cannot find or date: no address, and no title with a date.
    listed_as_of: the date of the file that lists each `sources:` entry, where that file is dated."""
    from ...explain.queries import citations

    if rule.source is not None and scaffold_patterns()["rule source"].fullmatch(" ".join(rule.source.split())):
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


def generic_explanation(kb: KnowledgeBase, rule: Rule) -> list[Finding]:
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
