"""A cache of checked knowledge bases, keyed by the exact bytes of every policy file and by podeploy's own code.

Validating and checking the policies costs more than evaluating a customer (importing jsonschema
alone takes longer than a whole evaluation). A knowledge base is cached only once it has passed
every check, under a key made of its policy files' names, layers and contents and of podeploy's
own code, so a changed file, layer or podeploy is always validated again.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import stat
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..io import shipped
from ..io.outputs import atomic_file
from .knowledge import IDENTITY

if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:  # CPython's own SHA-256: hashlib loads OpenSSL first, which takes longer than the hashing here
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - other Pythons
        from hashlib import sha256

FORMAT = b"podeploy-kb-2"


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
    # podeploy's own files by content, since copies that keep modification times (tar, rsync -a,
    # builds with fixed times) must not reuse a knowledge base checked by other code. Each file
    # counts by size and CRC-32: this key guards against accidental staleness, and SHA-256 over
    # 400 KB of code would cost a millisecond of every start.
    # The engine's stages are folders of their own: every file below counts, named by its place.
    for package in ("podeploy.engine", shipped.SCHEMAS):
        top = shipped.folder(package)
        for here, folders, names in os.walk(top):
            folders[:] = sorted(f for f in folders if f != "__pycache__")
            for name in sorted(names):
                if name.endswith((".py", ".json")):
                    with open(os.path.join(here, name), "rb") as handle:
                        content = handle.read()
                    shown = os.path.relpath(os.path.join(here, name), top)
                    digest.update(f"{shown} {len(content)} {zlib.crc32(content)}\n".encode())
    return digest.digest()


# The code running does not change while it runs: its fingerprint is read once per process.
_code_key = functools.cache(_code_fingerprint)


def key_of(sources: Sequence[tuple[str, str, str | None]]) -> str | None:
    """The cache key of a list of (path, layer, shown name), or None when a file cannot be read."""
    from ..io.loader import MAX_FILE_BYTES

    digest = sha256(_code_key())
    try:
        for path, layer, shown in sources:
            # Only regular files within the size limit are hashed: anything else (a pipe, /dev/zero, a
            # 2 GB file) is left to the reader, which refuses it without reading it whole.
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                return None
            with open(path, "rb") as handle:
                content = handle.read(MAX_FILE_BYTES + 1)
            for part in (path.encode(), layer.encode(), (shown or "").encode(), content):
                digest.update(len(part).to_bytes(8, "big"))
                digest.update(part)
    except OSError:
        return None
    return digest.hexdigest()


def cached(sources: Sequence[tuple[str, str, str | None]], build: Callable[[], Any]) -> Any:
    """The knowledge base for sources: from the cache when its key matches, else built, checked and stored.

    Its key is remembered as its IDENTITY: knowledge bases of one key are alike, and share one
    registration with durable-rules in a process (rete.network_for).
    """
    key = key_of(sources)
    kb, key = _cached(sources, key, build)
    if key is not None:
        kb.remember(IDENTITY, key)
    return kb


def _cached(
    sources: Sequence[tuple[str, str, str | None]], key: str | None, build: Callable[[], Any]
) -> tuple[Any, str | None]:
    """The knowledge base, and the key it is known by (None when its files changed while it was built)."""
    folder = cache_dir()
    if key is None:
        return build(), None
    if folder is not None:
        found = _load(folder, os.path.join(folder, f"kb-{key}.pickle"))
        if found is not None:
            return found, key
    kb = build()  # raises BadInput on any problem: nothing invalid is ever stored
    if key_of(sources) != key:  # a file changed between hashing and reading: known by no key
        return kb, None
    if folder is not None:
        _store(folder, key, kb)
    return kb, key


def _store(folder: str, key: str, kb: Any) -> None:
    path = os.path.join(folder, f"kb-{key}.pickle")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not _trusted(folder):
            return
        payload = pickle.dumps(replace(kb, memo={}), protocol=pickle.HIGHEST_PROTOCOL)
        with atomic_file(path, binary=True, mode=0o600) as handle:
            handle.write(FORMAT + b"\n" + _checksum(key, payload) + b"\n" + payload)
        _prune(folder)
    except OSError:
        pass  # a read-only or full disk only costs the next run its speed; atomic_file leaves no half entry


def _checksum(key: str, payload: bytes) -> bytes:
    """The checksum of an entry: its key and its payload, so that an entry copied under another key's name
    is not taken for that key's knowledge base."""
    digest = sha256(key.encode())
    digest.update(payload)
    return digest.hexdigest().encode()


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
        if not stat.S_ISREG(os.lstat(path).st_mode):  # a pipe would block, a link lead elsewhere
            return None
        with open(path, "rb") as handle:
            data = handle.read()
        header, digest, payload = data.split(b"\n", 2)
        key = os.path.basename(path)[len("kb-") : -len(".pickle")]
        if header != FORMAT or _checksum(key, payload) != digest:
            return None
        from .knowledge import KnowledgeBase

        kb = pickle.loads(payload)
        return kb if isinstance(kb, KnowledgeBase) else None
    except Exception:  # a damaged file of any kind costs only the rebuild
        return None


def _prune(folder: str) -> None:
    """Keep the most recently written knowledge bases only, and no temporary file older than an hour."""
    import time

    names = os.listdir(folder)
    for stale in (os.path.join(folder, n) for n in names if n.startswith(".kb-") and n.endswith(".tmp")):
        with contextlib.suppress(OSError):
            if time.time() - os.path.getmtime(stale) > 3600:
                os.remove(stale)
    entries = [os.path.join(folder, n) for n in names if n.startswith("kb-") and n.endswith(".pickle")]
    if len(entries) <= KEEP:
        return
    entries.sort(key=os.path.getmtime)
    for stale in entries[: len(entries) - KEEP]:
        with contextlib.suppress(OSError):
            os.remove(stale)
