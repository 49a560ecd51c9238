"""The cache of checked knowledge bases: used only for identical policy files and podeploy code.

The tests count the knowledge bases built (merged and checked) rather than served from the cache, so
that a cache never read, or read when it must not be, fails the test that names the property.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import Builds
from podeploy.engine import BadInput, load_knowledge_base
from podeploy.engine.policy import cache
from podeploy.engine.policy.knowledge import IDENTITY

POLICY = Path(__file__).parent / "fixtures" / "stricter-budget.yaml"


def pickles(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".pickle"))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache folder of this test alone (not yet made)."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PODEPLOY_CACHE_DIR", str(path))
    return path


def partner_layer(tmp_path: Path) -> Path:
    layer = tmp_path / "partner"
    layer.mkdir()
    (layer / "budget.yaml").write_text(POLICY.read_text())
    return layer


def test_a_checked_knowledge_base_is_stored_and_reused(folder: Path, builds: Builds) -> None:
    first = load_knowledge_base()
    assert (builds.count, len(pickles(folder))) == (1, 1)
    second = load_knowledge_base()
    assert (builds.count, len(pickles(folder))) == (1, 1)  # read from the file, not built again
    assert second is not first
    assert [r.id for r in second.rules] == [r.id for r in first.rules]
    assert set(second.memo) == {IDENTITY}  # its identity in this process; nothing compiled yet


def test_a_changed_policy_file_is_validated_again(tmp_path: Path, folder: Path, builds: Builds) -> None:
    layer = partner_layer(tmp_path)
    assert "small-budget" in {r.id for r in load_knowledge_base([str(layer)]).rules}
    load_knowledge_base([str(layer)])
    assert builds.count == 1  # unchanged: served from the cache
    (layer / "budget.yaml").write_text(POLICY.read_text().replace("budget: {in: [small, medium]}", "budgett: small"))
    with pytest.raises(BadInput) as refused:
        load_knowledge_base([str(layer)])
    assert refused.value.problems[0].code == "unknown-predicate"
    assert builds.count == 2


def test_nothing_invalid_is_stored(tmp_path: Path, folder: Path) -> None:
    load_knowledge_base()
    stored = pickles(folder)
    assert len(stored) == 1
    layer = tmp_path / "partner"
    layer.mkdir()
    (layer / "bad.yaml").write_text("policy: bad\n")
    with pytest.raises(BadInput):
        load_knowledge_base([str(layer)])
    assert pickles(folder) == stored


def test_podeploy_no_cache_turns_it_off(folder: Path, builds: Builds, monkeypatch: pytest.MonkeyPatch) -> None:
    load_knowledge_base()
    stored = {name: (folder / name).stat().st_mtime_ns for name in pickles(folder)}
    monkeypatch.setenv("PODEPLOY_NO_CACHE", "1")
    load_knowledge_base()
    assert builds.count == 2  # the stored one is not read
    assert {name: (folder / name).stat().st_mtime_ns for name in pickles(folder)} == stored  # nor written
    monkeypatch.delenv("PODEPLOY_NO_CACHE")
    load_knowledge_base()
    assert builds.count == 2  # read again once the cache is on


def test_podeploy_no_cache_makes_no_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODEPLOY_NO_CACHE", "1")
    load_knowledge_base()
    assert not folder.exists()


def test_a_damaged_cache_file_is_rebuilt(folder: Path, builds: Builds) -> None:
    load_knowledge_base()
    (name,) = pickles(folder)
    (folder / name).write_bytes(b"not a pickle")
    assert len(load_knowledge_base().rules) == 20
    assert builds.count == 2
    assert (folder / name).read_bytes().startswith(cache.FORMAT + b"\n")  # written again, whole
    load_knowledge_base()
    assert builds.count == 2  # and read from then on


def test_an_entry_under_another_keys_name_is_not_read(tmp_path: Path, folder: Path, builds: Builds) -> None:
    """Each entry's checksum covers its key: a knowledge base copied to another key's file is not that key's."""
    load_knowledge_base()
    (builtins,) = pickles(folder)
    layer = partner_layer(tmp_path)
    load_knowledge_base([str(layer)])
    (partner,) = set(pickles(folder)) - {builtins}
    shutil.copyfile(folder / builtins, folder / partner)
    assert "small-budget" in {r.id for r in load_knowledge_base([str(layer)]).rules}
    assert builds.count == 3


@pytest.mark.parametrize("mode", [0o770, 0o707], ids=["group-writable", "world-writable"])
def test_a_folder_others_can_write_to_is_neither_read_nor_written(folder: Path, builds: Builds, mode: int) -> None:
    """A pickle can run code when read: one that someone else could have put there is never loaded."""
    load_knowledge_base()
    (name,) = pickles(folder)
    written = (folder / name).stat().st_mtime_ns
    folder.chmod(mode)
    load_knowledge_base()
    assert builds.count == 2
    assert (folder / name).stat().st_mtime_ns == written
    folder.chmod(0o700)
    load_knowledge_base()
    assert builds.count == 2  # the same entry, read once only its owner can write there


def test_a_folder_another_user_owns_is_neither_read_nor_written(folder: Path, builds: Builds,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    load_knowledge_base()
    (name,) = pickles(folder)
    written = (folder / name).stat().st_mtime_ns
    owner = os.getuid()
    monkeypatch.setattr(cache.os, "getuid", lambda: owner + 1)  # the same folder, seen by another user
    load_knowledge_base()
    assert builds.count == 2
    assert (folder / name).stat().st_mtime_ns == written
    monkeypatch.setattr(cache.os, "getuid", lambda: owner)
    load_knowledge_base()
    assert builds.count == 2  # read by its owner


def test_the_key_follows_podeploys_code_by_content_not_by_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A same-size edit that keeps the modification time (tar, rsync -a, fixed build times) is another key."""
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
        tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layer = partner_layer(tmp_path)
    policy = layer / "budget.yaml"
    real_build = cache._cached

    def edited_meanwhile(sources: Any, key: Any, build: Any) -> Any:
        def build_after_an_edit() -> Any:
            policy.write_text(POLICY.read_text() + "\n# edited while podeploy was reading\n")
            return build()

        return real_build(sources, key, build_after_an_edit)

    monkeypatch.setattr(cache, "_cached", edited_meanwhile)
    kb = load_knowledge_base([str(layer)])
    assert kb.recall(IDENTITY) is None
    assert not folder.exists() or pickles(folder) == []
