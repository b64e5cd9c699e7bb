"""The workspace's sign-in and sessions without a browser (ASGI in process, both backends):
Secure cookies over https, parallel guesses held to the cap, the CSRF header, accounts
disabled or given another role mid-session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import Settings
from prober.project.database import Database
from prober.web.passwords import hash_password
from prober.web.workspace import create_workspace_app
from storage.accounts import add_account, disable_account, set_role
from storage.db import session_scope
from storage.models import AuditEntry, Role
from storage.websessions import close_sessions_of

PASSWORD = "une phrase de passe longue"  # noqa: S105 - the test accounts'


@pytest.fixture
async def database(engine: Engine) -> AsyncIterator[Database]:
    with session_scope(engine) as session:
        for login, role in (("c.martin", Role.AUDITOR), ("admin", Role.ADMIN)):
            add_account(session, login=login, role=role, password_hash=hash_password(PASSWORD))
    database = Database(engine)
    yield database
    database.close()


def client(database: Database, base_url: str = "http://workspace") -> httpx.AsyncClient:
    settings = Settings(database_url=str(database.engine.url))
    app = create_workspace_app(settings, database)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def signin_token(http: httpx.AsyncClient) -> str:
    page = (await http.get("/connexion")).text
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


async def sign_in(http: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    token = await signin_token(http)
    return await http.post(
        "/connexion", data={"csrf_token": token, "login": login, "password": password}
    )


async def test_cookies_are_secure_over_https_only(database: Database) -> None:
    for base_url, secure in (("https://workspace", True), ("http://workspace", False)):
        async with client(database, base_url) as http:
            answer = await sign_in(http, "c.martin", PASSWORD)
            assert answer.status_code == 303
            cookie = answer.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=lax" in cookie
            assert ("Secure" in cookie) is secure, base_url


async def test_parallel_guesses_count_one_by_one(database: Database) -> None:
    cap = Settings().workspace.login_failures_per_account
    async with client(database) as http:
        token = await signin_token(http)
        form = {"csrf_token": token, "login": "c.martin", "password": "mauvais mot de passe"}
        answers = await asyncio.gather(
            *(http.post("/connexion", data=form) for _ in range(cap + 4))
        )
    assert sorted(answer.status_code for answer in answers) == [401] * cap + [429] * 4

    def failures(session: Session) -> int:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == "sign_in_failed"))
        return len(rows.all())

    assert await database.run(failures) == cap


async def test_the_csrf_header_stands_for_the_field(database: Database) -> None:
    async with client(database) as http:
        await sign_in(http, "c.martin", PASSWORD)
        home = (await http.get("/")).text
        token = home.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert (await http.post("/deconnexion")).status_code == 403
        assert (
            await http.post("/deconnexion", headers={"X-CSRF-Token": "x" * 43})
        ).status_code == 403
        out = await http.post("/deconnexion", headers={"X-CSRF-Token": token})
        assert (out.status_code, out.headers["location"]) == (303, "/connexion")
        assert (await http.get("/")).status_code == 303


@pytest.mark.parametrize("change", ["disable", "set_role"])
async def test_an_account_changed_mid_session_is_signed_out(
    database: Database, change: str
) -> None:
    async with client(database) as http:
        await sign_in(http, "c.martin", PASSWORD)
        assert (await http.get("/")).status_code == 200

        def apply(session: Session) -> None:
            if change == "disable":
                account = disable_account(session, "c.martin")
            else:
                account = set_role(session, "c.martin", Role.OPERATOR)
            close_sessions_of(session, account.id)

        await database.run(apply)
        answer = await http.get("/")
        assert (answer.status_code, answer.headers["location"]) == (303, "/connexion?suite=%2F")
        again = await sign_in(http, "c.martin", PASSWORD)
        assert again.status_code == (401 if change == "disable" else 303)


async def test_sign_in_goes_back_to_this_site_only(database: Database) -> None:
    async with client(database) as http:
        token = await signin_token(http)
        for asked, went in (
            ("/journal", "/journal"),
            ("//evil.example/x", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil.example", "/"),
        ):
            http.cookies.delete("prober_session")
            answer = await http.post(
                "/connexion",
                data={"csrf_token": token, "login": "admin", "password": PASSWORD, "suite": asked},
            )
            assert (answer.status_code, answer.headers["location"]) == (303, went), asked


async def test_bodies_past_the_limit_are_refused(database: Database) -> None:
    async with client(database) as http:
        token = await signin_token(http)
        big = {"csrf_token": token, "login": "c.martin", "password": "x" * (2 * 1024 * 1024)}
        answer = await http.post("/connexion", data=big)
        assert answer.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(40):
                yield b"x" * 65536

        streamed = await http.post(
            "/connexion",
            content=chunks(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert streamed.status_code == 413
        assert (await sign_in(http, "c.martin", PASSWORD)).status_code == 303


async def test_an_admin_cannot_disable_their_own_account(database: Database) -> None:
    async with client(database) as http:
        await sign_in(http, "admin", PASSWORD)
        page = (await http.get("/comptes")).text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert "Désactiver le compte admin" not in page
        refused = await http.post("/comptes/admin/desactiver", data={"csrf_token": token})
        assert refused.status_code == 409
        assert (await http.get("/comptes")).status_code == 200
        done = await http.post("/comptes/c.martin/desactiver", data={"csrf_token": token})
        assert (done.status_code, done.headers["location"]) == (303, "/comptes")
        unknown = await http.post("/comptes/personne/desactiver", data={"csrf_token": token})
        assert unknown.status_code == 404
