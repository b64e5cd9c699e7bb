"""Fixtures of the application tests: the command line run in a project folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.support.browser import chromium
from tests.support.cli import Run
from tests.support.workspace_site import Site, build_project, served_workspace


@pytest.fixture
def prober_cli(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    """``prober ARGS...`` run in a project folder whose database is the backend under test."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("PROBER_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return Run(monkeypatch, capsys)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (the `browser` and `e2e` lanes)."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
def site(prober_cli: Run, database_url: str) -> Iterator[Site]:
    """A project with wave `printemps` scored, served by the workspace app on loopback."""
    build_project(prober_cli, database_url, Path.cwd())
    with served_workspace() as served:
        yield served
