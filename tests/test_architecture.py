"""The engine's house: stages that import only from the stages before them, and no import circle.

Every import counts, at the top of a module or inside a function: an import deferred to break a
circle is still a circle. docs/architecture.md describes the stages.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"

# The pipeline, in order: a module may import from its own stage and the stages before it.
STAGES = ("errors", "records", "io", "model", "policy", "facts", "evaluation", "analysis", "explain", "tools")
# errors and records are the ground every stage stands on.
RANK = {"errors": 0, "records": 0, **{stage: i for i, stage in enumerate(STAGES) if i >= 2}}
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = ["podeploy", "engine", *path.relative_to(ENGINE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def engine_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """The engine modules a module imports, wherever in it the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = engine_modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # from . import shipped: a module; from .x import name: module x
                child = f"{target}.{alias.name}"
                found.add(child if child in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def stage_of(name: str) -> str:
    return name.split(".")[2]


def graph() -> dict[str, set[str]]:
    # The package's face (podeploy.engine) hands public names on, on first use: it is not a stage.
    return {n: imports_of(n, p) for n, p in engine_modules().items() if n != "podeploy.engine"}


def test_every_module_belongs_to_a_stage() -> None:
    assert sorted({stage_of(n) for n in graph()} - set(RANK)) == []


def test_a_stage_imports_only_from_the_stages_before_it() -> None:
    upward = sorted(
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in targets
        if RANK[stage_of(target)] > RANK[stage_of(source)]
    )
    assert upward == []


def test_no_import_circle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_the_checks_see_a_circle_and_an_upward_import(tmp_path: Path) -> None:
    # The reader above must find imports inside functions and relative ones, or the checks prove nothing.
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from ..tools.whatif import apply\n    from . import queries\n", encoding="utf-8")
    assert imports_of("podeploy.engine.explain.probe", module) == {
        "podeploy.engine.tools.whatif",
        "podeploy.engine.explain.queries",
    }


def test_no_module_is_over_the_size_a_reader_takes_in() -> None:
    long = sorted(
        f"{p.relative_to(ENGINE.parent)}: {n} lines"
        for p in ENGINE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    )
    assert long == []


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(engine_modules()))
def test_each_module_imports_alone(name: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stderr) == (0, "")


def test_every_engine_package_is_in_the_distribution() -> None:
    # An editable install finds a package missing from pyproject's list; a wheel leaves it out.
    import tomllib

    listed = set(tomllib.loads((ENGINE.parent / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["packages"])
    folders = {module_name(p) for p in ENGINE.rglob("__init__.py")}
    assert sorted(folders - listed) == []
