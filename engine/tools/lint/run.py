"""`podeploy lint`: the policies loaded, every check run on them, and the findings kept and sorted."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from ...errors import BadInput, Location, Problem
from ...io import shipped
from ...policy.knowledge import KnowledgeBase
from ...policy.layers import edition_dirs
from ...policy.loading import load_knowledge_base, policy_sources, read_knowledge_base
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
        kb, _ = read_knowledge_base(policy_sources(layers)[0])  # as far as the files go; its problems are these
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
