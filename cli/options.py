"""Options shared by the commands that load the knowledge base."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, Any

import click
from podeploy.engine.evaluation.engines import ENGINES

# The file a command was asked to write and has not written yet (click's meta is shared by every
# context of one run): a reader that goes away from standard output before it is written is a failure.
UNWRITTEN = "podeploy.unwritten"


def promise_output(ctx: click.Context, path: str | None) -> None:
    """Record that the command is to write `path`; call again with None once it is written."""
    if path is None:
        ctx.meta.pop(UNWRITTEN, None)
    else:
        ctx.meta[UNWRITTEN] = path


def terminal_style(stream: IO[str] | None = None, *, color: bool | None = None) -> Any:
    """click.style when colour is asked for (--color), or by default when the stream (standard output) is a
    terminal and NO_COLOR is unset or empty (https://no-color.org); else plain text."""
    if color is None:
        stream = sys.stdout if stream is None else stream
        color = stream is not None and stream.isatty() and not os.environ.get("NO_COLOR")
    if not color:
        from podeploy.engine.explain.render import plain

        return plain

    def styled(text: str, **styles: Any) -> str:
        return click.style(text, **styles)

    return styled

color_option = click.option(
    "--color/--no-color",
    "color",
    default=None,
    help="Colour the text output, or not. Default: colour on a terminal unless NO_COLOR is set.",
)

policies_option = click.option(
    "--policies",
    "policy_dirs",
    multiple=True,
    metavar="DIR",
    help="A folder (or file) of policies loaded on top of the built-ins; repeatable. "
    "PODEPLOY_POLICIES (a path list) adds folders before these.",
)


def env_policy_dirs() -> list[str]:
    """The folders PODEPLOY_POLICIES names (a path list)."""
    return [p for p in os.environ.get("PODEPLOY_POLICIES", "").split(os.pathsep) if p]


def policy_layers(policy_dirs: Sequence[str], packs: Sequence[str] = (), as_of: str | None = None) -> list[str]:
    """The policy folders to load over the built-ins: the shipped editions up to as_of, shipped packs,
    PODEPLOY_POLICIES, then --policies."""
    from podeploy.engine.policy.layers import edition_dirs, pack_path

    return [*edition_dirs(as_of), *(pack_path(name) for name in packs), *env_policy_dirs(), *policy_dirs]


def named_by_command(policy_dirs: Sequence[str], packs: Sequence[str], out: str | None) -> dict[str, list[str]]:
    """What a facts file written to `out` (None: standard output, read from here) names as its layers: the
    command's --pack names, and its PODEPLOY_POLICIES and --policies folders relative to the file's folder."""
    folder = os.getcwd() if out is None else os.path.dirname(os.path.abspath(out))
    named: dict[str, list[str]] = {}
    if packs:
        named["packs"] = list(dict.fromkeys(packs))
    layers = [*env_policy_dirs(), *policy_dirs]
    dirs = [os.path.relpath(os.path.abspath(d), folder).replace(os.sep, "/") for d in layers]
    if dirs:
        named["policies"] = list(dict.fromkeys(dirs))
    return named


as_of_option = click.option(
    "--as-of",
    "as_of",
    metavar="YYYY-MM",
    default=None,
    help="Use the knowledge as it stood then: 2023-11 is the built-in (seed) knowledge alone. "
    "Default: the newest shipped knowledge.",
)


def layers_options(command: Any) -> Any:
    """--policies, --pack and --as-of, for every command that loads the knowledge base."""
    command = policies_option(command)
    command = as_of_option(command)
    return click.option(
        "--pack",
        "packs",
        multiple=True,
        metavar="NAME",
        help="A policy pack or knowledge edition shipped with podeploy; repeatable.",
    )(command)


engine_option = click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="auto",
    show_default=True,
    help="durable-rules, or the reference evaluator that specifies it.",
)
