"""Fixtures of the application tests: the command line run in a project folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Run


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
