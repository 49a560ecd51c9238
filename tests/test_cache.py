"""The cache of checked knowledge bases: used only for identical policy files and podeploy code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from podeploy.engine import BadInput, load_knowledge_base

POLICY = Path(__file__).parent / "fixtures" / "stricter-budget.yaml"


def pickles(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".pickle"))


def test_a_checked_knowledge_base_is_stored_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(cache))
    first = load_knowledge_base()
    assert len(pickles(cache)) == 1
    second = load_knowledge_base()
    assert len(pickles(cache)) == 1
    assert [r.id for r in second.rules] == [r.id for r in first.rules]
    assert set(second.engine_cache) == {"key"}  # its identity in this process; nothing compiled yet


def test_a_changed_policy_file_is_validated_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(tmp_path / "cache"))
    layer = tmp_path / "partner"
    layer.mkdir()
    (layer / "budget.yaml").write_text(POLICY.read_text())
    assert "small-budget" in {r.id for r in load_knowledge_base([str(layer)]).rules}
    (layer / "budget.yaml").write_text(POLICY.read_text().replace("budget: {in: [small, medium]}", "budgett: small"))
    with pytest.raises(BadInput) as refused:
        load_knowledge_base([str(layer)])
    assert refused.value.problems[0].code == "unknown-predicate"


def test_nothing_invalid_is_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(cache))
    layer = tmp_path / "partner"
    layer.mkdir()
    (layer / "bad.yaml").write_text("policy: bad\n")
    with pytest.raises(BadInput):
        load_knowledge_base([str(layer)])
    assert not cache.exists() or pickles(cache) == []


def test_podeploy_no_cache_turns_it_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(cache))
    monkeypatch.setenv("PODEPLOY_NO_CACHE", "1")
    load_knowledge_base()
    assert not cache.exists()


def test_a_damaged_cache_file_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(cache))
    load_knowledge_base()
    (name,) = pickles(cache)
    (cache / name).write_bytes(b"not a pickle")
    assert len(load_knowledge_base().rules) == 20


def test_the_key_follows_podeploys_code_by_content_not_by_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A same-size edit that keeps the modification time (tar, rsync -a, fixed build times) is another key."""
    from podeploy.engine.policy import cache

    engine = tmp_path / "engine"
    engine.mkdir()
    module = engine / "knowledge.py"
    module.write_text("need = 1\n")
    os.utime(module, ns=(1, 1))
    monkeypatch.setattr(cache.shipped, "folder", lambda package: str(engine if "engine" in package else tmp_path))
    before = cache._code_fingerprint()
    module.write_text("need = 2\n")
    os.utime(module, ns=(1, 1))
    assert cache._code_fingerprint() != before


def test_a_policy_changed_while_it_is_read_is_neither_stored_nor_shared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from podeploy.engine.policy import cache

    folder = tmp_path / "cache"
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(folder))
    layer = tmp_path / "partner"
    layer.mkdir()
    policy = layer / "budget.yaml"
    policy.write_text(POLICY.read_text())
    real_build = cache._cached

    def edited_meanwhile(sources: Any, key: Any, build: Any) -> Any:
        def build_after_an_edit() -> Any:
            policy.write_text(POLICY.read_text() + "\n# edited while podeploy was reading\n")
            return build()

        return real_build(sources, key, build_after_an_edit)

    monkeypatch.setattr(cache, "_cached", edited_meanwhile)
    kb = load_knowledge_base([str(layer)])
    assert "key" not in kb.engine_cache
    assert not folder.exists() or pickles(folder) == []
