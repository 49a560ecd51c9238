"""A cache of checked knowledge bases, keyed by the exact bytes of every policy file and by podeploy's own code.

Validating and checking the policies costs more than evaluating a customer (importing jsonschema
alone takes longer than a whole evaluation). A knowledge base is cached only once it has passed
every check, under a key made of its policy files' names, layers and contents and of podeploy's
own code, so a changed file, layer or podeploy is always validated again.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import shipped

if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:  # CPython's own SHA-256: hashlib loads OpenSSL first, which takes longer than the hashing here
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - other Pythons
        from hashlib import sha256

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
    digest = sha256(FORMAT)
    # Pickles hold objects laid out by this interpreter and this code: another Python reads its own.
    digest.update(f"{sys.implementation.cache_tag} {sys.version}".encode())
    # podeploy's own files are known by size and modification time, as Python knows a module's
    # source for its bytecode cache: reading them all would cost more than the lookup saves.
    for package in ("podeploy.engine", shipped.SCHEMAS):
        for entry in sorted(os.scandir(shipped.folder(package)), key=lambda e: e.name):
            if entry.name.endswith((".py", ".json")) and entry.is_file():
                info = entry.stat()
                digest.update(f"{entry.name} {info.st_size} {info.st_mtime_ns}\n".encode())
    return digest.digest()


def key_of(sources: Sequence[tuple[str, str, str | None]]) -> str | None:
    """The cache key of a list of (path, layer, shown name), or None when a file cannot be read."""
    digest = sha256(_code_fingerprint())
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
    """The knowledge base for sources: from the cache when its key matches, else built, checked and stored.

    Its key is kept in its engine_cache as "key": knowledge bases of one key are alike, and share
    one registration with durable-rules in a process (rete.network_for).
    """
    key = key_of(sources)
    kb = _cached(key, build)
    if key is not None:
        kb.engine_cache["key"] = key
    return kb


def _cached(key: str | None, build: Callable[[], Any]) -> Any:
    folder = cache_dir()
    if folder is None or key is None:
        return build()
    path = os.path.join(folder, f"kb-{key}.pickle")
    found = _load(folder, path)
    if found is not None:
        return found
    kb = build()  # raises BadInput on any problem: nothing invalid is ever stored
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not _trusted(folder):
            return kb
        import tempfile

        fd, temp = tempfile.mkstemp(dir=folder, prefix=".kb-", suffix=".tmp")
        payload = pickle.dumps(replace(kb, engine_cache={}), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(fd, "wb") as handle:
            handle.write(FORMAT + b"\n" + sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.replace(temp, path)
        _prune(folder)
    except OSError:
        pass  # a read-only or full disk only costs the next run its speed
    return kb


KEEP = 64


def _trusted(folder: str) -> bool:
    """Only a folder the current user owns, writable by no one else, is read: a pickle can run code."""
    try:
        info = os.stat(folder)
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def _load(folder: str, path: str) -> Any:
    """The knowledge base stored at path, or None when absent, damaged, or not to be trusted."""
    if not _trusted(folder):
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        header, digest, payload = data.split(b"\n", 2)
        if header != FORMAT or sha256(payload).hexdigest().encode() != digest:
            return None
        from .knowledge import KnowledgeBase

        kb = pickle.loads(payload)
        return kb if isinstance(kb, KnowledgeBase) else None
    except Exception:  # a damaged file of any kind costs only the rebuild
        return None


def _prune(folder: str) -> None:
    """Keep the most recently written knowledge bases only."""
    entries = [os.path.join(folder, n) for n in os.listdir(folder) if n.startswith("kb-") and n.endswith(".pickle")]
    if len(entries) <= KEEP:
        return
    entries.sort(key=os.path.getmtime)
    for stale in entries[: len(entries) - KEEP]:
        with contextlib.suppress(OSError):
            os.remove(stale)
