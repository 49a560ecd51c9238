"""Loading a knowledge base: the policy files of the built-ins and the given folders read, assembled,
and kept in the cache of checked knowledge bases."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from ..errors import BadInput, Location, Problem, visible
from ..io import shipped
from ..io.loader import problems_sorted
from .assembly import assemble
from .building import PolicyFile, Unbuilt
from .cache import cached
from .knowledge import KnowledgeBase
from .layers import BUILTIN_LAYER, builtin_policy_paths, policy_paths_in
from .reading import read_policy


def load_knowledge_base(policy_dirs: Sequence[str] = (), *, builtin: bool = True) -> KnowledgeBase:
    """Read, validate, merge, check and stratify the built-in policies and any extra ones."""
    sources: list[tuple[str, str, str | None]] = []
    builtins = builtin_policy_paths() if builtin else []
    sources.extend((path, BUILTIN_LAYER, shown) for path, shown in builtins)
    seen = {os.path.realpath(path) for path, _ in builtins}
    problems: list[Problem] = []
    for directory in policy_dirs:
        if not os.path.exists(directory):
            problems.append(Problem("not-found", "no such policy file or directory", Location(directory)))
            continue
        layer = os.path.basename(os.path.normpath(directory)) or directory
        if os.path.isfile(directory):
            layer = os.path.basename(os.path.dirname(os.path.abspath(directory))) or layer
        layer = visible(layer)  # a folder's name is shown in every trace: nothing in it acts on a terminal
        paths = policy_paths_in(directory)
        if not paths:
            problems.append(Problem("no-policies", "directory holds no .yaml policy files", Location(directory)))
        if os.path.isdir(directory):  # a pipe or device among them would be read forever, or once
            for p in [p for p in paths if not _regular(p)]:
                message = "is not a regular file; a policy folder holds files"
                problems.append(Problem("not-a-file", message, Location(p)))
                paths.remove(p)
        for p in paths:
            real = os.path.realpath(p)
            if real not in seen:  # a built-in named again is not a second copy
                seen.add(real)
                # Shipped packs are shown as the repository lays them out, not as installed.
                sources.append((p, layer, shipped.shown_name(real)))
    if problems:
        raise BadInput(problems_sorted(problems))

    def build() -> KnowledgeBase:
        # Every file is read and the knowledge base checked as a whole even when some files have
        # problems, so that one pass reports them all; what a file leaves out is not reported again.
        files: list[PolicyFile] = []
        found_problems: list[Problem] = []
        unbuilt = Unbuilt()
        for path, layer, shown in sources:
            policy, found, left_out = read_policy(path, layer, shown)
            found_problems.extend(found)
            unbuilt.merge(left_out)
            if policy is not None:
                files.append(policy)
        try:
            kb = assemble(files, unbuilt)
        except BadInput as exc:
            found_problems.extend(exc.problems)
        if found_problems:
            raise BadInput(problems_sorted(found_problems))
        return kb

    kb: KnowledgeBase = cached(sources, build)
    return kb


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # missing or unreadable: reported when it is read
