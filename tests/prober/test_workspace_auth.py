"""The workspace in a real browser: signing in and out, roles, a structure's own results, CSRF,
login throttling, session expiry, the recording route's guard, and axe-core on every page."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import Session, select

from storage.models import AuditEntry, Role
from tests.support.browser import assert_accessible, new_page, sign_in
from tests.support.workspace_site import Site

# One backend is enough for what a browser sees; the storage behind is tested on both.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


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
    await assert_accessible(page)
    cookie = next(c for c in await context.cookies() if c["name"] == "prober_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    await page.get_by_role("button", name="Se déconnecter").click()
    await expect(page).to_have_url(f"{site.url}/connexion")
    await page.goto(f"{site.url}/")
    await expect(page).to_have_url(f"{site.url}/connexion?suite=%2F")
    await context.close()
    assert [action for _, action, _ in audit_actions(site)] == [
        "sign_in_failed",
        "sign_in",
        "sign_out",
    ]
