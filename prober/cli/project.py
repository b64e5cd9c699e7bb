"""The project a command works on, opened once and closed when the command ends."""

from __future__ import annotations

import contextlib

from prober.project import Project, open_project

# ``main`` enters this stack around the whole command: what a command opens is closed at its end.
on_exit = contextlib.ExitStack()


def project(*, check: bool = True) -> Project:
    """The project of the current folder (``prober.toml``, ``PROBER_*``), its engine disposed of
    when the command ends; ``check`` refuses a database whose schema is not current."""
    opened = open_project(check=check)
    on_exit.callback(opened.engine.dispose)
    return opened
