"""Where knowledge comes from: the built-in policies, the dated editions shipped over them, the packs a
consultant may add, and the policy files a folder holds."""

from __future__ import annotations

import os
import re

from ..errors import BadInput, Location, Problem, did_you_mean
from ..io import shipped

BUILTIN_LAYER = "built-in"


# The date of the knowledge the built-in policies encode: the seeds (policies/*.yaml say it too).
BUILTIN_AS_OF = "2023-11"


# Names --pack still takes for knowledge that an edition has since absorbed.
PACK_ALIASES = {"2025-update": "docs-2026-08"}


AS_OF_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])\Z"


# Files a policy folder may hold beside its policies: policy tests and facts files.
NOT_POLICIES = (".test.yaml", ".test.yml", ".facts.yaml", ".facts.yml")


def builtin_policy_paths() -> list[tuple[str, str]]:
    """(path to read, name to show) for every built-in policy file."""
    root = shipped.folder(shipped.POLICIES)
    found = []
    for entry in os.scandir(root):
        if entry.is_file() and entry.name.endswith((".yaml", ".yml")) and not entry.name.endswith(NOT_POLICIES):
            found.append((entry.path, f"policies/{entry.name}"))
    return sorted(found, key=lambda p: p[1])


def editions() -> list[tuple[str, str, str]]:
    """(name, as of, folder) of every knowledge edition shipped with podeploy, oldest first.

    An edition is a layer over the built-ins, loaded by default; its folder's name ends with the
    date of the knowledge it encodes (policies/editions/docs-2026-08).
    """
    root = os.path.join(shipped.folder(shipped.POLICIES), "editions")
    if not os.path.isdir(root):
        return []
    found = []
    for entry in os.scandir(root):
        dated = re.search(r"([0-9]{4}-[0-9]{2})\Z", entry.name)
        if entry.is_dir() and dated and not entry.name.startswith("_"):
            found.append((entry.name, dated.group(1), entry.path))
    return sorted(found, key=lambda e: (e[1], e[0]))


def check_as_of(as_of: str | None) -> str | None:
    """An --as-of value, checked: YYYY-MM, not before the built-in knowledge."""
    if as_of is None:
        return None
    if not re.match(AS_OF_PATTERN, as_of):
        raise BadInput([Problem("bad-value", f"'{as_of}' is not a month like 2023-11 (YYYY-MM)", Location("--as-of"))])
    if as_of < BUILTIN_AS_OF:
        raise BadInput(
            [
                Problem(
                    "bad-value",
                    f"podeploy's knowledge begins with its built-in policies of {BUILTIN_AS_OF}; choose {BUILTIN_AS_OF}"
                    " or later",
                    Location("--as-of"),
                )
            ]
        )
    return as_of


def edition_dirs(as_of: str | None = None) -> list[str]:
    """The shipped editions to load over the built-ins: all of them, or those dated up to as_of."""
    as_of = check_as_of(as_of)
    return [path for _, dated, path in editions() if as_of is None or dated <= as_of]


def shipped_layer(layer: str) -> bool:
    """Is this the layer of podeploy's own knowledge: the built-ins or a shipped edition?"""
    return layer == BUILTIN_LAYER or layer in {name for name, _, _ in editions()}


def pack_names() -> list[str]:
    """The policy packs shipped with podeploy: packs (off unless asked for), editions and former pack names."""
    root = os.path.join(shipped.folder(shipped.POLICIES), "packs")
    packs = []
    if os.path.isdir(root):
        packs = [entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("_")]
    return sorted({*packs, *(name for name, _, _ in editions()), *PACK_ALIASES})


def pack_path(name: str) -> str:
    """The folder of a shipped pack or edition, by name."""
    name = PACK_ALIASES.get(name, name)
    for edition, _, path in editions():
        if edition == name:
            return path
    if name not in pack_names():
        raise BadInput(
            [
                Problem(
                    "unknown-pack",
                    f"no pack named '{name}'{did_you_mean(name, pack_names())}"
                    f" (packs: {', '.join(pack_names()) or 'none'})",
                    Location("--pack"),
                )
            ]
        )
    return os.path.join(shipped.folder(shipped.POLICIES), "packs", name)


def policy_paths_in(path: str) -> list[str]:
    """Policy files named by a path: the file itself, or every YAML file below a directory."""
    if os.path.isdir(path):
        found = []
        for base, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                if name.endswith((".yaml", ".yml")) and not name.endswith(NOT_POLICIES):
                    found.append(os.path.join(base, name))
        return found
    return [path]


