"""``prober run``: the daemon, in the foreground until SIGTERM."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from prober.cli.project import project
from prober.errors import UsageError
from prober.runtime.log_lines import configure_logging


def run(
    seconds: Annotated[
        float | None, typer.Option("--for", min=0, help="Stop after this many seconds.")
    ] = None,
    log_format: Annotated[
        str, typer.Option(help="Log lines as text or json (one object per line).")
    ] = "text",
) -> None:
    """Run the daemon: carry running waves out, serve webhooks, read replies, publish events."""
    from prober.runtime.daemon import run_daemon

    if log_format not in ("text", "json"):
        raise UsageError(f"--log-format: expected text or json, got {log_format!r}")
    configure_logging(log_format)
    asyncio.run(run_daemon(project(), for_s=seconds))
