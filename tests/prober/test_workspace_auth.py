"""The workspace in a real browser: signing in and out, roles, a structure's own results, CSRF,
login throttling, session expiry, the recording route's guard, and axe-core on every page."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import update
from sqlmodel import Session, select

from storage.db import session_scope
from storage.models import AuditEntry, Role, Structure, WebSession
from storage.publication import publish_wave
from tests.support.browser import assert_accessible, new_page, sign_in
from tests.support.workspace_site import Site

# One backend is enough for what a browser sees; the storage behind is tested on both.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def audit_lines(site: Site) -> list[AuditEntry]:
    with Session(site.engine) as session:
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
        for row in rows:
            session.expunge(row)
        return list(rows)


def audit_actions(site: Site) -> list[tuple[str, str, str]]:
    with Session(site.engine) as session:
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
        return [(row.actor, row.action, row.target) for row in rows]


async def test_sign_in_and_out(site: Site, browser: Browser) -> None:
    password = site.add_user("c.martin", Role.AUDITOR, organisation="Cabinet Dupont")
    context, page = await new_page(browser)
    await page.goto(f"{site.url}/")
    # Not signed in: the sign-in page, which comes back to the page asked for.
    await expect(page).to_have_url(f"{site.url}/connexion?suite=%2F")
    await assert_accessible(page)
    await page.get_by_label("Identifiant").fill("c.martin")
    await page.get_by_label("Mot de passe").fill(password + "x")
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("alert")).to_contain_text("mot de passe incorrect")
    await assert_accessible(page)
    await sign_in(page, site.url, "c.martin", password)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Accueil")
    await expect(page.get_by_text("c.martin · auditeur ou auditrice")).to_be_visible()
    await expect(page.get_by_role("rowheader", name="printemps")).to_be_visible()
    queue = page.get_by_role("link", name="File de revue de printemps")
    await expect(queue).to_have_attribute("href", "/revue/printemps")
    await assert_accessible(page)
    cookie = next(c for c in await context.cookies() if c["name"] == "prober_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    await page.get_by_role("button", name="Se déconnecter").click()
    await expect(page).to_have_url(f"{site.url}/connexion")
    await page.goto(f"{site.url}/")
    await expect(page).to_have_url(f"{site.url}/connexion?suite=%2F")
    await context.close()
    lines = audit_lines(site)
    assert [(line.actor, line.action, line.address) for line in lines] == [
        ("c.martin", "sign_in_failed", "127.0.0.1"),
        ("c.martin", "sign_in", "127.0.0.1"),
        ("c.martin", "sign_out", "127.0.0.1"),
    ]
    assert lines[0].details == {"reason": "bad_credentials"}
    assert lines[0].at <= lines[1].at <= lines[2].at


async def test_each_role_opens_its_own_pages_only(site: Site, browser: Browser) -> None:
    site.add_user("admin", Role.ADMIN)
    site.add_user("c.martin", Role.AUDITOR)
    site.add_user("mairie", Role.STRUCTURE, structure=site.structures()[0])
    refused_pages = {"c.martin": ["/comptes", "/journal"], "mairie": ["/comptes", "/journal"]}
    for login, paths in refused_pages.items():
        context, page = await new_page(browser)
        await sign_in(page, site.url, login, site.passwords[login])
        for path in paths:
            response = await page.goto(f"{site.url}{path}")
            assert response is not None and response.status == 403, (login, path)
            await expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
            await assert_accessible(page)
        # A refused form: the admin's button, posted by someone else with their own token.
        posted = await page.request.post(
            f"{site.url}/comptes/admin/desactiver",
            form={"csrf_token": await page.locator("input[name=csrf_token]").first.input_value()},
        )
        assert posted.status == 403
        await context.close()
    context, page = await new_page(browser)
    await sign_in(page, site.url, "admin", site.passwords["admin"])
    await expect(page.get_by_role("link", name="File de revue de printemps")).to_be_visible()
    await assert_accessible(page)
    await page.get_by_role("link", name="Comptes").click()
    await expect(page.get_by_role("rowheader", name="c.martin")).to_be_visible()
    await expect(page.get_by_role("button", name="Désactiver le compte admin")).to_have_count(0)
    await assert_accessible(page)
    await page.get_by_role("button", name="Désactiver le compte c.martin").click()
    await expect(page.get_by_text("désactivé le")).to_be_visible()
    await page.get_by_role("link", name="Journal d'audit").click()
    await expect(page.get_by_role("cell", name="account_disabled")).to_be_visible()
    await assert_accessible(page)
    await context.close()
    # The disabled account cannot sign in any more.
    context, page = await new_page(browser)
    await sign_in(page, site.url, "c.martin", site.passwords["c.martin"])
    await expect(page.get_by_role("alert")).to_contain_text("mot de passe incorrect")
    await context.close()
    assert ("admin", "account_disabled", "c.martin") in audit_actions(site)


def structure_names(site: Site) -> dict[str, str]:
    with Session(site.engine) as session:
        return {row.official_id: row.name for row in session.exec(select(Structure)).all()}


async def test_a_structure_account_sees_its_own_results_only(site: Site, browser: Browser) -> None:
    own, other = site.structures()[:2]
    names = structure_names(site)
    site.add_user("mairie", Role.STRUCTURE, structure=own, organisation=names[own])
    context, page = await new_page(browser)
    await sign_in(page, site.url, "mairie", site.passwords["mairie"])
    await expect(page.get_by_role("heading", level=1)).to_have_text("Vos résultats")
    # Before an operator publishes the wave: nothing, on the page nor through the API.
    await expect(page.get_by_role("table")).to_have_count(0)
    unpublished = await page.request.get(f"{site.url}/api/structures/{own}/results")
    assert (await unpublished.json())["waves"] == []
    only = await page.request.get(f"{site.url}/api/structures/{own}/results?wave=printemps")
    assert only.status == 404
    with session_scope(site.engine) as session:
        publish_wave(session, "printemps", "test")
    await page.reload()
    await expect(page.get_by_text(names[own], exact=False).first).to_be_visible()
    rows = page.get_by_role("table").get_by_role("row")
    await expect(rows).to_have_count(3)  # the header, phone and email of `printemps`
    await expect(page.get_by_role("rowheader", name="printemps")).to_have_count(2)
    body = await page.locator("main").inner_text()
    assert not [name for key, name in names.items() if key != own and name in body]
    await assert_accessible(page)
    # The results API, with the browser's session: its own structure and nothing else.
    mine = await page.request.get(f"{site.url}/api/structures/{own}/results")
    assert mine.status == 200
    found = await mine.json()
    assert found["structure"]["official_id"] == own
    assert [wave["wave"]["name"] for wave in found["waves"]] == ["printemps"]
    for url in (f"/api/structures/{other}/results", "/api/waves/printemps/results"):
        refused = await page.request.get(f"{site.url}{url}")
        assert refused.status == 403, url
        assert (await refused.json())["error"] == "forbidden"
    await context.close()
    # Staff signed in read every structure's results through the same API.
    site.add_user("c.martin", Role.AUDITOR)
    context, page = await new_page(browser)
    await sign_in(page, site.url, "c.martin", site.passwords["c.martin"])
    wave = await page.request.get(f"{site.url}/api/waves/printemps/results?limit=1000")
    assert wave.status == 200
    assert (await wave.json())["paging"]["total"] == len(names)
    await context.close()
    # Without a session nor token: 401, as before.
    async with httpx.AsyncClient(base_url=site.url) as client:
        assert (await client.get(f"/api/structures/{own}/results")).status_code == 401


async def test_a_form_without_its_csrf_token_is_refused(site: Site, browser: Browser) -> None:
    site.add_user("admin", Role.ADMIN)
    site.add_user("c.martin", Role.AUDITOR)
    context, page = await new_page(browser)
    # The sign-in form without its token (the double-submit cookie alone is not enough).
    await page.goto(f"{site.url}/connexion")
    await page.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    await page.get_by_label("Identifiant").fill("admin")
    await page.get_by_label("Mot de passe").fill(site.passwords["admin"])
    async with page.expect_response(f"{site.url}/connexion") as answer:
        await page.get_by_role("button", name="Se connecter").click()
    assert (await answer.value).status == 403
    await expect(page.get_by_role("alert")).to_contain_text("jeton CSRF")
    await assert_accessible(page)
    assert not [c for c in await context.cookies() if c["name"] == "prober_session"]
    # Signed in: the account page's form, token removed, then with another session's token.
    await sign_in(page, site.url, "admin", site.passwords["admin"])
    await page.goto(f"{site.url}/comptes")
    form = page.locator("form[action='/comptes/c.martin/desactiver']")
    await form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    async with page.expect_response(f"{site.url}/comptes/c.martin/desactiver") as answer:
        await page.get_by_role("button", name="Désactiver le compte c.martin").click()
    assert (await answer.value).status == 403
    await expect(page.get_by_role("alert")).to_contain_text("jeton CSRF")
    other_context, other_page = await new_page(browser)
    await sign_in(other_page, site.url, "c.martin", site.passwords["c.martin"])
    foreign = await other_page.locator("input[name=csrf_token]").first.input_value()
    await page.goto(f"{site.url}/comptes")
    await page.locator(
        "form[action='/comptes/c.martin/desactiver'] input[name=csrf_token]"
    ).evaluate("(input, token) => { input.value = token; }", foreign)
    async with page.expect_response(f"{site.url}/comptes/c.martin/desactiver") as answer:
        await page.get_by_role("button", name="Désactiver le compte c.martin").click()
    assert (await answer.value).status == 403
    # Nothing changed: the account is active and the sign-out form without token keeps the session.
    await page.goto(f"{site.url}/comptes")
    await expect(page.get_by_role("button", name="Désactiver le compte c.martin")).to_be_visible()
    await page.locator("header form input[name=csrf_token]").evaluate("input => input.remove()")
    async with page.expect_response(f"{site.url}/deconnexion") as answer:
        await page.get_by_role("button", name="Se déconnecter").click()
    assert (await answer.value).status == 403
    await page.goto(f"{site.url}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Accueil")
    await other_context.close()
    await context.close()
    assert "account_disabled" not in [action for _, action, _ in audit_actions(site)]


async def test_sign_ins_are_throttled_per_account(site: Site, browser: Browser) -> None:
    site.add_user("c.martin", Role.AUDITOR)
    site.add_user("l.bernard", Role.LEAD)
    context, page = await new_page(browser)
    cap = site.settings.workspace.login_failures_per_account
    for _ in range(cap):
        await sign_in(page, site.url, "c.martin", "not the password")
        await expect(page.get_by_role("alert")).to_contain_text("mot de passe incorrect")
    # The right password now: refused all the same, until the window has slid by.
    async with page.expect_response(f"{site.url}/connexion") as answer:
        await page.get_by_label("Mot de passe").fill(site.passwords["c.martin"])
        await page.get_by_role("button", name="Se connecter").click()
    assert (await answer.value).status == 429
    await expect(page.get_by_role("alert")).to_contain_text("trop de tentatives")
    assert not [c for c in await context.cookies() if c["name"] == "prober_session"]
    # Another account from the same address is not held back by it.
    await sign_in(page, site.url, "l.bernard", site.passwords["l.bernard"])
    await expect(page.get_by_role("heading", level=1)).to_have_text("Accueil")
    await context.close()
    with Session(site.engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == "sign_in_failed")).all()
        assert [(row.target, row.details["reason"]) for row in rows] == [
            ("c.martin", "bad_credentials")
        ] * cap


def signin_token(client: httpx.Client) -> str:
    page = client.get("/connexion").text
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_sign_ins_are_throttled_per_address(site: Site) -> None:
    site.add_user("c.martin", Role.AUDITOR)
    per_account = site.settings.workspace.login_failures_per_account
    per_address = site.settings.workspace.login_failures_per_address
    logins = [f"inconnu{n}" for n in range(per_address // (per_account - 1) + 1)]
    with httpx.Client(base_url=site.url, timeout=60) as client:
        token = signin_token(client)
        failures = 0
        for login in logins:
            for _ in range(per_account - 1):
                if failures == per_address:
                    break
                answer = client.post(
                    "/connexion", data={"csrf_token": token, "login": login, "password": "x"}
                )
                assert answer.status_code == 401
                failures += 1
        right = {"csrf_token": token, "login": "c.martin", "password": site.passwords["c.martin"]}
        refused = client.post("/connexion", data=right)
        assert refused.status_code == 429
        assert "trop de tentatives" in refused.text
    # The log says who was held back, and from where.
    with Session(site.engine) as session:
        throttled = session.exec(
            select(AuditEntry).where(AuditEntry.action == "sign_in_throttled")
        ).all()
        assert [(row.target, row.address) for row in throttled] == [("c.martin", "127.0.0.1")]


async def test_sessions_expire_idle_and_old(site: Site, browser: Browser) -> None:
    site.add_user("c.martin", Role.AUDITOR)
    settings = site.settings.workspace
    moves = {
        "idle": {"last_seen_at": timedelta(minutes=settings.session_idle_minutes, seconds=5)},
        "old": {"created_at": timedelta(hours=settings.session_max_hours, seconds=5)},
    }
    for why, move in moves.items():
        context, page = await new_page(browser)
        await sign_in(page, site.url, "c.martin", site.passwords["c.martin"])
        await page.goto(f"{site.url}/")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Accueil")
        with Session(site.engine) as session:
            (row,) = session.exec(select(WebSession)).all()
            values = {column: getattr(row, column) - delta for column, delta in move.items()}
            session.exec(update(WebSession).values(**values))
            session.commit()
        await page.goto(f"{site.url}/")
        await expect(page).to_have_url(f"{site.url}/connexion?suite=%2F")
        with Session(site.engine) as session:
            assert session.exec(select(WebSession)).all() == [], why
        await context.close()


async def test_the_recording_url_needs_a_staff_session(site: Site, browser: Browser) -> None:
    (recording, *_) = site.recordings()
    url = f"{site.url}/enregistrements/{recording}"
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers={"Range": "bytes=0-1"})).status_code == 401
    site.add_user("mairie", Role.STRUCTURE, structure=site.structures()[0])
    site.add_user("c.martin", Role.AUDITOR)
    context, page = await new_page(browser)
    await sign_in(page, site.url, "mairie", site.passwords["mairie"])
    assert (await page.request.get(url)).status == 403
    await context.close()
    context, page = await new_page(browser)
    await sign_in(page, site.url, "c.martin", site.passwords["c.martin"])
    whole = await page.request.get(url)
    assert (whole.status, await whole.body()) == (200, b"RIFF")
    part = await page.request.get(url, headers={"Range": "bytes=1-2"})
    assert (part.status, await part.body()) == (206, b"IF")
    assert part.headers["content-range"] == "bytes 1-2/4"
    assert (await page.request.get(f"{site.url}/enregistrements/999999")).status == 404
    await context.close()
