"""`podeploy serve [FACTS]`: the workshop in a browser, on this machine."""

from __future__ import annotations

import os
from collections.abc import Sequence

import click
from podeploy.cli.boundary import Command
from podeploy.cli.options import engine_option, layers_options, policy_layers
from podeploy.engine.errors import BadInput, Location, Problem


@click.command(cls=Command)
@click.argument("facts", metavar="[FACTS]", required=False)
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="The port to serve on (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the workshop in the default browser.")
@layers_options
@engine_option
def serve(
    facts: str | None,
    port: int,
    open_browser: bool,
    policy_dirs: Sequence[str],
    packs: Sequence[str],
    as_of: str | None,
    engine: str,
) -> None:
    """Run the workshop in a browser: the next question, the live advice, why and what-if, the report.

    Serves on 127.0.0.1 only, at an address with a token of its own (printed here); Ctrl-C stops it.
    With FACTS, the workshop starts from that facts file and Save writes it back; without, it starts
    with an empty customer and saves into the current folder.
    """
    from podeploy.engine.facts.layers import load_for_facts
    from podeploy.engine.policy.loading import load_knowledge_base
    from podeploy.engine.tools.webapp import WebApp, address, make_server
    from podeploy.engine.tools.workshop import Workshop

    layers = policy_layers(policy_dirs, packs, as_of)
    if facts is not None:
        if facts == "-":
            raise BadInput([Problem("bad-value", "serve reads and writes a facts file: give its path",
                                    Location("FACTS"))])
        if os.path.exists(facts):
            kb, doc = load_for_facts(layers, facts)
            workshop = Workshop.from_document(kb, doc, engine=engine)
        else:  # a new customer's file, written on the first Save
            if not os.path.isdir(os.path.dirname(os.path.abspath(facts))):
                raise BadInput([Problem("not-found", "no such folder for the facts file", Location(facts))])
            kb = load_knowledge_base(layers)
            workshop = Workshop(kb, "New customer", engine=engine)
    else:
        kb = load_knowledge_base(layers)
        workshop = Workshop(kb, "New customer", engine=engine)
    app = WebApp(kb, workshop, facts_path=os.path.abspath(facts) if facts else None, folder=os.getcwd(),
                 engine=engine)
    try:
        server = make_server(app, "127.0.0.1", port)
    except OSError as exc:
        raise BadInput([Problem("unavailable", f"cannot serve on port {port}: {exc.strerror or exc}",
                                Location("--port"))]) from None
    url = address(app)
    click.echo(f"podeploy serve: the workshop for {workshop.customer} is at\n  {url}\nCtrl-C stops it.", err=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("podeploy serve: stopped", err=True)
    finally:
        server.server_close()
