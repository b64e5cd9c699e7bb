"""``prober init`` and ``prober db``: a new project folder, and its database schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from config.settings import load_settings
from prober.cli.output import console, safe
from prober.cli.project import project
from prober.project.starter import write_starter_files
from storage.db import current_revision, head_revision, make_engine, upgrade

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")


def init(
    directory: Annotated[Path, typer.Argument(help="Project folder.")] = Path(),
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Write a commented prober.toml, sample scenarios, personas and criteria, and a database."""
    directory.mkdir(parents=True, exist_ok=True)
    starter = write_starter_files(directory, force=force)
    settings = load_settings(directory / "prober.toml")
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    for path in starter.written:
        console.print(f"wrote {safe(path)}")
    console.print(f"database ready: {safe(display_url(settings.effective_database_url))}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database or bring its schema up to date."""
    opened = project(check=False)
    upgrade(opened.engine)
    revision = current_revision(opened.engine)
    url = display_url(opened.settings.effective_database_url)
    console.print(f"database {safe(url)} at revision {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the one this prober expects."""
    opened = project(check=False)
    url = opened.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).exists():
            # Connecting would create an empty file: say there is none instead.
            console.print(
                f"database: none (no file {safe(url.database)}; `prober db upgrade` creates it)",
                highlight=False,
                soft_wrap=True,
            )
            console.print(f"expected: {head_revision()}")
            return
    console.print(f"database: {current_revision(opened.engine) or 'empty'}")
    console.print(f"expected: {head_revision()}")


def display_url(url: str) -> str:
    """The URL without its password."""
    return make_url(url).render_as_string(hide_password=True)
