"""Loading a knowledge base: the policy files of the built-ins and the given folders read, assembled,
and kept in the cache of checked knowledge bases."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from ..errors import BadInput, Location, Problem, visible
from ..io import shipped
from ..io.loader import problems_sorted
from .assembly import assemble_collecting
from .building import PolicyFile, Unbuilt
from .cache import cached
from .knowledge import KnowledgeBase
from .layers import BUILTIN_LAYER, builtin_policy_paths, policy_paths_in
from .reading import read_policy

Source = tuple[str, str, str | None]  # a policy file to read: its path, its layer and the name to show


def load_knowledge_base(policy_dirs: Sequence[str] = (), *, builtin: bool = True) -> KnowledgeBase:
    """Read, validate, merge, check and stratify the built-in policies and any extra ones."""
    sources, problems = policy_sources(policy_dirs, builtin=builtin)
    if problems:
        raise BadInput(problems_sorted(problems))

    def build() -> KnowledgeBase:
        kb, found = read_knowledge_base(sources)
        if found:
            raise BadInput(problems_sorted(found))
        return kb

    kb: KnowledgeBase = cached(sources, build)
    return kb


def policy_sources(policy_dirs: Sequence[str] = (), *, builtin: bool = True) -> tuple[list[Source], list[Problem]]:
    """The policy files of the built-ins and the given folders (or files), and the problems of those given."""
    sources: list[Source] = []
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
    return sources, problems


def read_knowledge_base(sources: Sequence[Source]) -> tuple[KnowledgeBase, list[Problem]]:
    """Every file read and the knowledge base assembled as far as they go, with every problem found.

    Every file is read and the knowledge base checked as a whole even when some files have problems,
    so that one pass reports them all; what a file leaves out is not reported again.
    """
    files: list[PolicyFile] = []
    problems: list[Problem] = []
    unbuilt = Unbuilt()
    for path, layer, shown in sources:
        policy, found, left_out = read_policy(path, layer, shown)
        problems.extend(found)
        unbuilt.merge(left_out)
        if policy is not None:
            files.append(policy)
    kb, found = assemble_collecting(files, unbuilt)
    return kb, problems + found


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # missing or unreadable: reported when it is read
