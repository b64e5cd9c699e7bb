"""``prober run``: the daemon, in the foreground until SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from prober.cli.project import project
from prober.errors import UsageError
from prober.runtime.log_lines import configure_logging

if TYPE_CHECKING:
    from config.settings import Settings
    from prober.runtime.daemon import DaemonOptions


def daemon_options(settings: Settings) -> DaemonOptions:
    """The daemon's options from the settings: ``[dispatch]``, and ``imap.watch`` (whether
    this daemon watches the reply mailbox)."""
    from prober.runtime.daemon import DaemonOptions

    return dataclasses.replace(
        DaemonOptions.from_settings(settings.dispatch), watch_mail=settings.imap.watch
    )


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
    opened = project()
    asyncio.run(run_daemon(opened, daemon_options(opened.settings), for_s=seconds))
