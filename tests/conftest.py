"""Shared test set-up: a knowledge-base cache of the test session's own."""

from __future__ import annotations

import os
import tempfile

# Tests load many temporary policy folders; keep their cached knowledge bases out of the user's cache.
os.environ.setdefault("PODEPLOY_CACHE_DIR", tempfile.mkdtemp(prefix="podeploy-test-cache-"))
