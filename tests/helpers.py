"""Helpers more than one test module uses (fixtures built on them are in conftest.py)."""

from __future__ import annotations


class Builds:
    """How many knowledge bases were built from their policy files (each one merged and checked once)."""

    def __init__(self) -> None:
        self.count = 0
