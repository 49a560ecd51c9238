"""A cache of checked knowledge bases, keyed by the exact bytes of every policy file and of podeploy itself.

Validating and checking the policies costs more than evaluating a customer (importing jsonschema
alone takes longer than a whole evaluation). A knowledge base is cached only once it has passed
every check, under a key made of its policy files' names, layers and contents and of podeploy's
own code, so a changed file, layer or podeploy is always validated again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib import resources
from typing import Any

FORMAT = b"podeploy-kb-1"


def cache_dir() -> str | None:
    """Where checked knowledge bases are kept, or None when caching is off (PODEPLOY_NO_CACHE)."""
    if os.environ.get("PODEPLOY_NO_CACHE"):
        return None
    if os.environ.get("PODEPLOY_CACHE_DIR"):
        return os.environ["PODEPLOY_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "podeploy")


def _code_fingerprint() -> bytes:
    digest = hashlib.sha256(FORMAT)
    for package in ("podeploy.engine", "podeploy.schemas"):
        root = resources.files(package)
        for entry in sorted(root.iterdir(), key=lambda e: e.name):
            if entry.is_file() and entry.name.endswith((".py", ".json")):
                digest.update(entry.name.encode())
                digest.update(entry.read_bytes())
    return digest.digest()


def key_of(sources: Sequence[tuple[str, str, str | None]]) -> str | None:
    """The cache key of a list of (path, layer, shown name), or None when a file cannot be read."""
    digest = hashlib.sha256(_code_fingerprint())
    try:
        for path, layer, shown in sources:
            with open(path, "rb") as handle:
                content = handle.read()
            for part in (path.encode(), layer.encode(), (shown or "").encode(), content):
                digest.update(len(part).to_bytes(8, "big"))
                digest.update(part)
    except OSError:
        return None
    return digest.hexdigest()


def cached(sources: Sequence[tuple[str, str, str | None]], build: Callable[[], Any]) -> Any:
    """The knowledge base for sources: from the cache when its key matches, else built, checked and stored."""
    folder = cache_dir()
    key = key_of(sources) if folder else None
    if folder is None or key is None:
        return build()
    path = os.path.join(folder, f"kb-{key}.pickle")
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        pass
    kb = build()  # raises BadInput on any problem: nothing invalid is ever stored
    try:
        os.makedirs(folder, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".kb-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(replace(kb, engine_cache={}), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, path)
        _prune(folder)
    except OSError:
        pass  # a read-only or full disk only costs the next run its speed
    return kb


KEEP = 64


def _prune(folder: str) -> None:
    """Keep the most recently written knowledge bases only."""
    entries = [os.path.join(folder, n) for n in os.listdir(folder) if n.startswith("kb-") and n.endswith(".pickle")]
    if len(entries) <= KEEP:
        return
    entries.sort(key=os.path.getmtime)
    for stale in entries[: len(entries) - KEEP]:
        with contextlib.suppress(OSError):
            os.remove(stale)
