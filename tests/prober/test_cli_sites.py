"""``prober site check``: its JSON lines equal the sandbox sites' ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.web import WebSandbox
from tests.support.cli import Run
from tests.support.web_scene import assert_matches_truth


@pytest.fixture
def site_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """``prober ARGS...`` in an empty folder: checking sites needs no project database."""
    monkeypatch.chdir(tmp_path)
    return Run(monkeypatch, capsys)


async def test_prober_site_check_json_equals_the_truth(
    web_sandbox: WebSandbox, site_cli: Run
) -> None:
    sites = web_sandbox.sites
    urls = [web_sandbox.url_of(site) for site in sites]
    result = await site_cli.in_thread(
        "site",
        "check",
        "--json",
        "--timeout",
        "5",
        "--ca-file",
        str(web_sandbox.ca_file),
        "--resolve",
        "*.sites.test=127.0.0.1",
        *urls,
    )
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(sites)
    for site, line in zip(sites, lines, strict=True):
        assert_matches_truth(line, site, web_sandbox)


async def test_prober_site_check_refuses_a_bad_resolve(site_cli: Run) -> None:
    result = await site_cli.in_thread("site", "check", "--resolve", "nothing", "https://a.fr/")
    assert result.exit_code == 1
    assert "--resolve" in result.stderr and "HOST=ADDRESS" in result.stderr
