"""`podeploy lint`: the policies loaded, every check run on them, and the findings kept and sorted."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from ...errors import BadInput, Location, Problem
from ...io import shipped
from ...policy.assembly import system_predicates
from ...policy.knowledge import KnowledgeBase
from ...policy.layers import builtin_policy_paths, edition_dirs, policy_paths_in
from ...policy.loading import load_knowledge_base
from ...policy.reading import PolicyFile, read_policy_file
from .conflicts import contradictions
from .messages import merged_messages
from .report import SEVERITIES, Finding, LintReport
from .rules import local_findings
from .structure import cycles, duplicates, layer_findings, unused_codes
from .wording import scaffold_text


def lint(paths: Sequence[str], *, include_all: bool = False, as_of: str | None = None) -> LintReport:
    """Lint the shipped policies (the built-ins and the editions up to as_of), or the given files and
    folders layered over them.

    With paths, only findings located in them are kept unless include_all; errors are kept
    wherever they are, since any of them stops the knowledge base from loading.
    """
    from ...evaluation.rete import check_network

    layers = [*edition_dirs(as_of), *paths]
    findings: list[Finding] = []
    try:
        kb = load_knowledge_base(layers)
    except BadInput as exc:
        # The loader's problems, then what can be checked rule by rule in the files that parse.
        findings.extend(_from_problems(exc.problems))
        kb = _partial(layers)
        findings.extend(local_findings(kb, [r for f in kb.files for r in f.rules]))
        findings.extend(scaffold_text(kb))
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
        findings.extend(local_findings(kb, [r for f in kb.files for r in f.rules]))
        findings.extend(scaffold_text(kb))
        findings.extend(cross_findings(kb))
    if paths and not include_all:
        findings = [f for f in findings if f.severity == "error" or _inside(f.location, paths)]
    ordered = sorted(
        dict.fromkeys(findings), key=lambda f: (f.location, SEVERITIES.index(f.severity), f.code, f.message)
    )
    return LintReport(tuple(ordered))


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


def cross_findings(kb: KnowledgeBase) -> list[Finding]:
    originals = {r.location: r for f in kb.files for r in f.rules}
    rules = [originals.get(r.location, r) for r in kb.rules]  # as written: version literals unconverted
    findings = layer_findings(kb)
    findings.extend(duplicates(rules))
    findings.extend(cycles(kb, rules))
    findings.extend(contradictions(kb, rules))
    findings.extend(merged_messages(kb, rules))
    findings.extend(unused_codes(kb, rules))
    return findings
