"""Shared test set-up: a knowledge-base cache of the test session's own, and fixtures more than one module uses."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest
from helpers import Builds

# Tests load many temporary policy folders; keep their cached knowledge bases out of the user's cache.
os.environ.setdefault("PODEPLOY_CACHE_DIR", tempfile.mkdtemp(prefix="podeploy-test-cache-"))


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Builds:
    """Counts the knowledge bases built rather than read from the cache."""
    from podeploy.engine.policy import loading  # here, so that collecting the tests imports none of podeploy

    counted = Builds()
    real = loading.read_knowledge_base

    def read_knowledge_base(*args: Any, **kwargs: Any) -> Any:
        counted.count += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(loading, "read_knowledge_base", read_knowledge_base)
    return counted
