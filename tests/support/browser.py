"""A real browser for the workspace tests: Debian's chromium driven by Playwright (no browser
download), an accessibility check with the vendored axe-core, and signing in."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = Path(os.environ.get("PROBER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "axe" / "axe.min.js"
# Generous: a loaded 2-core machine renders slowly; only "never happened" fails.
TIMEOUT_MS = 30_000
BLOCKING_IMPACTS = ("serious", "critical")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, until the block ends (``scripts/ensure-services.sh``
    installs it)."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} missing: run `make setup` (installs Debian's chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    """A fresh context (its own cookies) and a page in it, in French, with generous timeouts."""
    context = await browser.new_context(locale="fr-FR")
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    return context, page


async def sign_in(page: Page, base_url: str, login: str, password: str) -> None:
    """Fill and send the sign-in form; leaves the page where the site sent it."""
    await page.goto(f"{base_url}/connexion")
    await page.get_by_label("Identifiant").fill(login)
    await page.get_by_label("Mot de passe").fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Se connecter").click()


@dataclass(frozen=True)
class Violation:
    """An axe-core rule a page breaks: its id, impact, help text and where."""

    rule: str
    impact: str
    help: str
    targets: list[str]


async def axe_violations(page: Page) -> list[Violation]:
    """Every axe-core violation (WCAG 2 A/AA and best practices) of the page as it stands."""
    # Evaluated through the DevTools protocol: the page's Content-Security-Policy, which refuses
    # inline scripts, does not apply (a <script> tag would be refused).
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ['violations']});
            return results.violations.map(v => ({
                rule: v.id, impact: v.impact || 'unknown', help: v.help,
                targets: v.nodes.map(n => n.target.join(' '))}));
        }"""
    )
    return [Violation(**violation) for violation in found]


async def assert_accessible(page: Page) -> None:
    """Fail with the list of serious or critical axe-core violations of the page, if any."""
    blocking = [v for v in await axe_violations(page) if v.impact in BLOCKING_IMPACTS]
    assert not blocking, f"{page.url}: " + json.dumps(
        [vars(v) for v in blocking], ensure_ascii=False, indent=1
    )
