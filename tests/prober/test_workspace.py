"""The workspace listener over real HTTP: the results API behind bearer tokens or a sign-in, the
pages and recordings apart from the webhook listener; tokens made, listed, revoked by the CLI."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from config.settings import load_settings
from prober.project.database import Database
from prober.web.workspace import create_workspace_app
from sandbox.mail.dovecot import free_port
from sandbox.serve import serve_in_thread
from storage.db import make_engine
from storage.models import ApiToken
from storage.tokens import add_token
from tests.support.cli import Run

# Generous: only tells "never answered" from "answered".
NEVER_S = 60.0
NO_WAVE = "/api/waves/nope/results"


def add_token_with_cli(prober_cli: Run, name: str, *scopes: str) -> str:
    arguments = [argument for scope in scopes for argument in ("--scope", scope)]
    result = prober_cli("tokens", "add", name, *arguments)
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()[-1]


@pytest.fixture
def workspace(prober_cli: Run) -> Iterator[str]:
    """A fresh project's workspace app served on loopback; its base URL."""
    assert prober_cli("init").exit_code == 0
    settings = load_settings()
    database = Database(make_engine(settings.effective_database_url))
    try:
        with serve_in_thread(create_workspace_app(settings, database), lifespan="off") as url:
            yield url
    finally:
        database.close()
        database.engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_results_api_needs_an_active_token_with_its_scope(
    prober_cli: Run, workspace: str
) -> None:
    token = add_token_with_cli(prober_cli, "grafana", "results:read")
    with httpx.Client(base_url=workspace, timeout=NEVER_S) as client:
        nothing = client.get(NO_WAVE)
        assert nothing.status_code == 401
        assert nothing.headers["www-authenticate"] == 'Bearer realm="prober"'
        assert nothing.json()["error"] == "missing_token"
        basic = client.get(NO_WAVE, headers={"Authorization": "Basic Z3JhZmFuYTp4"})
        assert (basic.status_code, basic.json()["error"]) == (401, "missing_token")
        for wrong in (token[:-1], token + "x", token.upper(), "x" * len(token)):
            refused = client.get(NO_WAVE, headers=bearer(wrong))
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == (
                'Bearer realm="prober", error="invalid_token"'
            )
            assert refused.json()["error"] == "invalid_token"
        # Let through: the wave is unknown, which only a reader may learn.
        allowed = client.get(NO_WAVE, headers=bearer(token))
        assert (allowed.status_code, allowed.json()["error"]) == (404, "unknown_wave")
        assert client.get("/api/openapi.json").status_code == 200
        assert client.get("/healthz").json() == {"status": "ok"}

        assert prober_cli("tokens", "revoke", "grafana").exit_code == 0
        revoked = client.get(NO_WAVE, headers=bearer(token))
        assert (revoked.status_code, revoked.json()["error"]) == (401, "invalid_token")


def test_a_token_without_the_scope_is_refused_with_403(prober_cli: Run, workspace: str) -> None:
    # Only results:read exists yet: a token for the auditors' pages to come has another scope.
    token = "a-token-for-another-part-of-the-workspace-0123456789"  # noqa: S105
    engine = make_engine(load_settings().effective_database_url)
    with Session(engine) as session:
        digest = hashlib.sha256(token.encode()).hexdigest()
        add_token(session, name="auditors", sha256=digest, scopes=["reviews:write"])
        session.commit()
    engine.dispose()
    response = httpx.get(workspace + NO_WAVE, headers=bearer(token), timeout=NEVER_S)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert response.headers["www-authenticate"] == (
        'Bearer realm="prober", error="insufficient_scope", scope="results:read"'
    )


def test_a_token_is_shown_once_and_only_its_digest_is_kept(prober_cli: Run) -> None:
    assert prober_cli("init").exit_code == 0
    result = prober_cli("tokens", "add", "tableau de bord", "--scope", "results:read")
    assert result.exit_code == 0, result.stderr
    token = result.stdout.splitlines()[-1]
    assert "not shown again" in result.stdout
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    engine = make_engine(load_settings().effective_database_url)
    with Session(engine) as session:
        [row] = session.exec(select(ApiToken))
    engine.dispose()
    assert row.sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(row)
    listed = prober_cli("tokens", "list")
    assert "tableau de bord" in listed.stdout and "results:read" in listed.stdout
    assert token not in listed.stdout and row.sha256 not in listed.stdout
    other = prober_cli("tokens", "add", "autre", "--scope", "results:read").stdout.splitlines()[-1]
    assert other != token

    taken = prober_cli("tokens", "add", "tableau de bord", "--scope", "results:read")
    assert taken.exit_code == 1 and "exists" in taken.stderr
    unknown = prober_cli("tokens", "add", "x", "--scope", "results:write")
    assert unknown.exit_code == 1 and "results:read" in unknown.stderr
    assert prober_cli("tokens", "revoke", "nobody").exit_code == 1
    assert prober_cli("tokens", "revoke", "autre").exit_code == 0
    assert "autre" in prober_cli("tokens", "list").stdout


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + NEVER_S
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered: {log.read_text()}"
        time.sleep(0.1)


def start(arguments: list[str], environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "prober", *arguments], env=environment, stderr=output
        )


def test_prober_run_serves_the_api_on_the_workspace_listener_only(
    prober_cli: Run, database_url: str, tmp_path: Path
) -> None:
    assert prober_cli("init").exit_code == 0
    token = add_token_with_cli(prober_cli, "grafana", "results:read")
    web_port, workspace_port = free_port(), free_port()
    environment = {
        **os.environ,
        "PROBER_DATABASE_URL": database_url,
        "PROBER_WEB__PORT": str(web_port),
        "PROBER_WORKSPACE__PORT": str(workspace_port),
    }
    log = tmp_path / "daemon.log"
    daemon = start(["run"], environment, log)
    try:
        webhooks = f"http://127.0.0.1:{web_port}"
        workspace = f"http://127.0.0.1:{workspace_port}"
        wait_until_up(webhooks, daemon, log)
        wait_until_up(workspace, daemon, log)
        for path in (NO_WAVE, "/api/openapi.json", "/api/structures/21770001800011/results"):
            assert httpx.get(webhooks + path, headers=bearer(token)).status_code == 404
        # The auditors' pages and the recordings: on the workspace listener, never the webhooks'.
        for path in ("/", "/connexion", "/static/workspace.css", "/enregistrements/1"):
            assert httpx.get(webhooks + path).status_code == 404, path
        signin = httpx.get(workspace + "/connexion")
        assert signin.status_code == 200 and "Se connecter" in signin.text
        assert httpx.get(workspace + "/enregistrements/1").status_code == 401
        assert httpx.get(workspace + NO_WAVE).status_code == 401
        found = httpx.get(workspace + NO_WAVE, headers=bearer(token))
        assert (found.status_code, found.json()["error"]) == (404, "unknown_wave")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=NEVER_S) == 0, log.read_text()
    assert f"workspace 127.0.0.1:{workspace_port}" in log.read_text()


def test_prober_workspace_serves_the_api_alone(
    prober_cli: Run, database_url: str, tmp_path: Path
) -> None:
    assert prober_cli("init").exit_code == 0
    token = add_token_with_cli(prober_cli, "grafana", "results:read")
    port = free_port()
    environment = {**os.environ, "PROBER_DATABASE_URL": database_url}
    log = tmp_path / "workspace.log"
    server = start(["workspace", "--port", str(port)], environment, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, server, log)
        found = httpx.get(base + NO_WAVE, headers=bearer(token))
        assert (found.status_code, found.json()["error"]) == (404, "unknown_wave")
        webhook = httpx.post(base + "/twilio/calls/x/1/status", data={"CallSid": "CA"})
        assert webhook.status_code == 404
        # A person signs in with an account from `prober users add` and reads the API.
        added = prober_cli("users", "add", "c.martin", "--role", "auditor")
        assert added.exit_code == 0, added.stderr
        password = added.stdout.splitlines()[-1]
        with httpx.Client(base_url=base, timeout=NEVER_S) as person:
            page = person.get("/connexion").text
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            form = {"csrf_token": token, "login": "c.martin", "password": password}
            signed_in = person.post("/connexion", data=form)
            assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/")
            assert "c.martin" in person.get("/").text
            read = person.get(NO_WAVE)
            assert (read.status_code, read.json()["error"]) == (404, "unknown_wave")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=NEVER_S)
