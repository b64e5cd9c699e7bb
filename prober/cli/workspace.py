"""``prober workspace``: the workspace listener alone (pages, results API), without the daemon."""

from __future__ import annotations

from typing import Annotated

import typer

from prober.cli.output import console
from prober.cli.project import project


def workspace(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: workspace.host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on (default: workspace.port)."),
    ] = None,
) -> None:
    """Serve the workspace (auditors' pages, results API; sign-in or token) until Ctrl-C;
    `prober run` serves it too."""
    import uvicorn

    from prober.project.database import Database
    from prober.web.workspace import create_workspace_app

    opened = project()
    listener = opened.settings.workspace
    host = host or listener.host
    port = port or listener.port
    database = Database(opened.engine)
    try:
        server = uvicorn.Server(
            uvicorn.Config(
                create_workspace_app(opened.settings, database),
                host=host,
                port=port,
                log_level="warning",
                lifespan="off",
            )
        )
        console.print(
            f"workspace listening on http://{host}:{port} (sign in at /connexion; results"
            " API under /api, session or token); Ctrl-C stops it",
            highlight=False,
        )
        server.run()
    finally:
        database.close()
