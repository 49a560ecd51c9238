"""Finding tests: the test files of each layer, and the layers each suite of them runs on."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ...errors import BadInput, Location, Problem
from ...io import shipped
from ...io.loader import problems_sorted
from ...policy.layers import BUILTIN_LAYER, edition_dirs, pack_path
from ...records import record

TEST_SUFFIXES = (".test.yaml", ".test.yml")


@record
class TestSuite:
    """Test files and the knowledge base they run on: the built-ins, then layer_dirs in order."""

    __test__ = False  # not a pytest class

    layer: str  # the layer under test: 'built-in', or the name the knowledge base gives a folder
    layer_dirs: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (path to read, name to show)


def shown_path(path: str) -> str:
    """How to name a file: shipped ones as the repository lays them out, others as given."""
    return shipped.shown_name(path) or os.path.normpath(path)


def is_test_file(name: str) -> bool:
    return name.endswith(TEST_SUFFIXES)


def find_test_files(directory: str, *, recursive: bool = True) -> list[str]:
    """Every *.test.yaml file in a folder (below it too, unless recursive is false), sorted."""
    found: list[str] = []
    for base, dirs, names in os.walk(directory):
        dirs.sort()
        found.extend(os.path.normpath(os.path.join(base, name)) for name in sorted(names) if is_test_file(name))
        if not recursive:
            break
    return found


def builtin_test_paths() -> list[tuple[str, str]]:
    """(path to read, name to show) for the built-in knowledge base's own test files."""
    root = shipped.folder(shipped.POLICIES)
    return [(p, shown_path(p)) for p in find_test_files(root, recursive=False)]


def _layer_name(directory: str) -> str:
    # The name load_knowledge_base gives a folder's layer.
    return os.path.basename(os.path.normpath(directory)) or directory


def find_suites(paths: Sequence[str] = (), packs: Sequence[str] = (), as_of: str | None = None) -> list[TestSuite]:
    """The suites `podeploy test` runs.

    No path: the built-in tests on the built-ins alone, then each shipped edition's (up to as_of) and
    each pack's tests with the layers up to it loaded. Paths (folders, or single *.test.yaml files):
    each one's tests with the editions, the packs and the paths up to it loaded as layers, in the
    order given.
    """
    shipped_dirs = edition_dirs(as_of)
    pack_dirs = [pack_path(name) for name in packs]
    if not paths:
        suites = [TestSuite(BUILTIN_LAYER, (), tuple(builtin_test_paths()))]
        layered: list[str] = []
        for directory in [*shipped_dirs, *pack_dirs]:
            if any(os.path.realpath(d) == os.path.realpath(directory) for d in layered):
                continue
            layered.append(directory)
            files = tuple((p, shown_path(p)) for p in find_test_files(directory))
            suites.append(TestSuite(_layer_name(directory), tuple(layered), files))
        return suites
    problems: list[Problem] = []
    layers: list[str] = [*shipped_dirs, *pack_dirs]
    suites = []
    builtin_folder = shipped.folder(shipped.POLICIES)
    for path in paths:
        if not os.path.exists(path):
            problems.append(Problem("not-found", "no such test file or directory", Location(path)))
            continue
        if os.path.isdir(path):
            directory = path
            builtin = os.path.realpath(directory) == builtin_folder
            found = [(p, shown_path(p)) for p in find_test_files(directory, recursive=not builtin)]
            if not found:
                problems.append(Problem("no-tests", "directory holds no *.test.yaml files", Location(path)))
                continue
        else:
            if not is_test_file(path):
                problems.append(
                    Problem(
                        "not-a-test-file",
                        "a test file is named <anything>.test.yaml; give it or its folder",
                        Location(path),
                    )
                )
                continue
            directory = os.path.dirname(path) or "."
            builtin = os.path.realpath(directory) == builtin_folder
            found = [(path, shown_path(path))]
        if builtin:  # the built-in tests describe the built-ins alone
            suites.append(TestSuite(BUILTIN_LAYER, (), tuple(found)))
            continue
        if not any(os.path.realpath(d) == os.path.realpath(directory) for d in layers):
            layers.append(directory)
        suites.append(TestSuite(_layer_name(directory), tuple(layers), tuple(found)))
    if problems:
        raise BadInput(problems_sorted(problems))
    return suites
