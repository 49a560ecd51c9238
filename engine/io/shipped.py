"""Where podeploy's own data lives on disk: the built-in policies, the shipped packs, the schemas.

podeploy is installed as plain files (a wheel or an editable install), so a data package is
the folder of its module. Finding it this way costs a few microseconds; importlib.resources
would cost more than evaluating a customer on every start.
"""

from __future__ import annotations

import functools
import importlib
import os

POLICIES = "podeploy.policies"
SCHEMAS = "podeploy.schemas"


@functools.cache
def folder(package: str) -> str:
    """The folder of one of podeploy's data packages, with symbolic links resolved."""
    module = importlib.import_module(package)
    return os.path.realpath(next(iter(module.__path__)))


def read_text(package: str, name: str) -> str:
    with open(os.path.join(folder(package), name), encoding="utf-8") as handle:
        return handle.read()


def shown_name(path: str) -> str | None:
    """A shipped policy file (a built-in or a pack's) as the repository lays it out, else None."""
    real, root = os.path.realpath(path), folder(POLICIES)
    if not real.startswith(root + os.sep):
        return None
    return "policies/" + os.path.relpath(real, root).replace(os.sep, "/")
