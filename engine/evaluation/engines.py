"""The engines podeploy evaluates on, by name: a choice the command line offers before loading any of them."""

from __future__ import annotations

ENGINES = ("auto", "durable", "reference")
