"""The review pages in a real browser: an auditor reviews a call from the queue (plays it, seeks
by clicking an event, gives verdicts, saves once), two auditors review blind and a lead
arbitrates, the score moves at the next `prober score`; a hostile reply loads nothing; axe-core
finds no serious violation. With PROBER_DOC_SCREENSHOTS=1 the pages are saved for the docs."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Request, expect
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage.models import AuditEntry, Probe, Role, Score, Structure
from tests.support.browser import assert_accessible, new_page, sign_in
from tests.support.cli import Run
from tests.support.review_scene import (
    KEYED_AT_S,
    REMOTE_HOST,
    RecordedCall,
    hostile_reply,
    playable_call,
    reviews_of,
)
from tests.support.workspace_site import WAVE, Site

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PHONE_CRITERIA = (
    "phone.greeting_names_structure",
    "phone.courtesy",
    "phone.personalisation",
    "phone.answer_quality",
)


async def screenshot(page: Page, name: str) -> None:
    """Save the page for docs/workspace.md when asked to (PROBER_DOC_SCREENSHOTS=1)."""
    if os.environ.get("PROBER_DOC_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(DOC_IMAGES / f"{name}.png"), full_page=True)


def assign(prober_cli: Run, *arguments: str) -> str:
    result = prober_cli("review", "assign", WAVE, *arguments)
    assert result.exit_code == 0, result.stderr
    return result.stdout


async def open_contact(page: Page, site: Site, call: RecordedCall) -> None:
    """From the queue filtered on the call's structure, follow the link to that call."""
    await page.goto(f"{site.url}/revue/{WAVE}?canal=phone&structure={call.official_id}")
    link = page.locator(f'a[href$="/contacts/{call.probe_id}"]')
    await expect(link).to_have_text(call.name)
    async with page.expect_navigation():
        await link.click()


async def give(page: Page, verdicts: dict[str, str]) -> None:
    for criterion, verdict in verdicts.items():
        await page.locator(f'input[name="verdict:{criterion}"][value="{verdict}"]').check()


async def test_an_auditor_reviews_a_call_from_the_queue(
    site: Site, browser: Browser, prober_cli: Run
) -> None:
    call = playable_call(site.engine)
    password = site.add_user("a.durand", Role.AUDITOR)
    assert "a.durand:" in assign(prober_cli, "--double-share", "0")
    context, page = await new_page(browser)
    await sign_in(page, site.url, "a.durand", password)

    await page.goto(f"{site.url}/revue/{WAVE}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("File de revue")
    await expect(page.locator("#avancement-texte")).to_contain_text("0 contact(s) revu(s)")
    await assert_accessible(page)
    await screenshot(page, "file-de-revue")

    await open_contact(page, site, call)
    await expect(page.get_by_role("heading", level=2, name="Enregistrement")).to_be_visible()
    await expect(page.locator("#forme-onde path")).to_have_attribute("d", re.compile(r"^M0 "))
    await expect(page.get_by_role("cell", name="Mairie, bonjour, tapez 1")).to_be_visible()
    await assert_accessible(page)

    # Play, then seek by clicking the key pressed in the timeline.
    await page.wait_for_function("document.getElementById('lecteur').readyState >= 1")
    await page.locator("#lecteur").evaluate("audio => audio.play()")
    assert await page.locator("#lecteur").evaluate("audio => audio.currentTime") < KEYED_AT_S - 1
    await page.get_by_role("button", name=re.compile("Touche 1")).click()
    await page.wait_for_function(
        f"Math.abs(document.getElementById('lecteur').currentTime - {KEYED_AT_S}) < 1.5"
    )
    await screenshot(page, "appel")

    # Verdicts: three by mouse, the last by the keyboard shortcut 2 (failed).
    await give(
        page,
        {
            "phone.greeting_names_structure": "passed",
            "phone.courtesy": "passed",
            "phone.personalisation": "not_applicable",
        },
    )
    await page.locator('input[name="verdict:phone.answer_quality"]').first.focus()
    await page.keyboard.press("2")
    await page.get_by_label("Commentaire").fill("accueil aimable, réponse incomplète")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Enregistrer les verdicts").click()
    await expect(page.get_by_role("status")).to_have_text("Verdicts enregistrés.")
    assert reviews_of(site.engine, call.probe_id) == [
        ("a.durand", "phone.greeting_names_structure", "passed", "review"),
        ("a.durand", "phone.courtesy", "passed", "review"),
        ("a.durand", "phone.personalisation", "not_applicable", "review"),
        ("a.durand", "phone.answer_quality", "failed", "review"),
    ]

    # The same form sent twice (a double click, a resent POST) records nothing more.
    form: dict[str, str | float | bool] = {
        "csrf_token": await page.locator('input[name="csrf_token"]').first.input_value(),
        "submission": await page.locator('input[name="submission"]').input_value(),
        "verdict:phone.courtesy": "failed",
        "comment": "",
    }
    for _ in range(2):
        sent = await page.request.post(page.url.split("?")[0], form=form, max_redirects=0)
        assert sent.status == 303
    assert [r for r in reviews_of(site.engine, call.probe_id) if r[1] == "phone.courtesy"] == [
        ("a.durand", "phone.courtesy", "passed", "review"),
        ("a.durand", "phone.courtesy", "failed", "review"),
    ]
    # Without its CSRF token, the form is refused.
    forged = await page.request.post(
        page.url.split("?")[0], form={**form, "csrf_token": "x", "submission": "other"}
    )
    assert forged.status == 403

    await page.goto(f"{site.url}/revue/{WAVE}")
    await expect(page.locator("#avancement-texte")).to_contain_text("1 contact(s) revu(s)")
    await context.close()
    with Session(site.engine) as session:
        saved = session.scalars(
            select(AuditEntry).where(col(AuditEntry.action) == "review_saved")
        ).all()
        assert [(entry.actor, entry.target) for entry in saved] == [
            ("a.durand", str(call.probe_id)),
            ("a.durand", str(call.probe_id)),
        ]


def phone_quality(engine: Engine, official_id: str) -> float | None:
    with Session(engine) as session:
        score = session.scalars(
            select(Score)
            .join(Structure, col(Structure.id) == col(Score.structure_id))
            .where(col(Structure.official_id) == official_id)
            .where(col(Score.channel) == "phone")
        ).one()
        return score.quality


async def test_blind_double_review_and_arbitration_count_at_the_next_score(
    site: Site, browser: Browser, prober_cli: Run
) -> None:
    call = playable_call(site.engine)
    passwords = {
        login: site.add_user(login, role)
        for login, role in (
            ("a.durand", Role.AUDITOR),
            ("b.petit", Role.AUDITOR),
            ("l.moreau", Role.LEAD),
        )
    }
    out = assign(prober_cli, "--double-share", "1")
    assert re.search(r"(\d+) contact\(s\) assigned, \1 of them to two", out), out
    before = phone_quality(site.engine, call.official_id)

    verdicts = {
        "a.durand": dict.fromkeys(PHONE_CRITERIA, "passed"),
        "b.petit": {**dict.fromkeys(PHONE_CRITERIA, "passed"), "phone.courtesy": "failed"},
    }
    for login in ("a.durand", "b.petit"):
        context, page = await new_page(browser)
        await sign_in(page, site.url, login, passwords[login])
        await open_contact(page, site, call)
        # Blind: nothing of the other auditor's verdicts shows.
        assert await page.locator("input[type=radio]:checked").count() == 0
        other = "b.petit" if login == "a.durand" else "a.durand"
        await expect(page.get_by_text(other)).to_have_count(0)
        await give(page, verdicts[login])
        async with page.expect_navigation():
            await page.get_by_role("button", name="Enregistrer les verdicts").click()
        await expect(page.get_by_role("status")).to_have_text("Verdicts enregistrés.")
        await context.close()

    context, page = await new_page(browser)
    await sign_in(page, site.url, "l.moreau", passwords["l.moreau"])
    await page.goto(f"{site.url}/revue/{WAVE}?signale=1&canal=phone")
    await expect(page.get_by_role("cell", name="Désaccord à arbitrer")).to_have_count(1)
    await assert_accessible(page)
    async with page.expect_navigation():
        await page.locator(f'a[href$="/contacts/{call.probe_id}"]').click()
    await expect(page.get_by_role("heading", name="Arbitrage")).to_be_visible()
    await assert_accessible(page)
    await screenshot(page, "arbitrage")
    await page.locator('#formulaire-arbitrage input[value="failed"]').check()
    await page.get_by_label("Motif de l'arbitrage").fill("pas de formule de politesse")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Arbitrer").click()
    await expect(page.get_by_role("status")).to_have_text("Verdicts enregistrés.")
    assert ("l.moreau", "phone.courtesy", "failed", "arbitration") in reviews_of(
        site.engine, call.probe_id
    )

    await page.goto(f"{site.url}/revue/{WAVE}/accord")
    await expect(page.get_by_role("row", name=re.compile("Courtoisie"))).to_contain_text("0,0 %")
    await assert_accessible(page)
    await screenshot(page, "accord")
    exported = await page.request.get(f"{site.url}/revue/{WAVE}/accord.csv")
    rows = list(csv.DictReader(io.StringIO(await exported.text())))
    courtesy = next(r for r in rows if r["subject"] == "phone.courtesy")
    assert (courtesy["pairs"], courtesy["agreeing"], courtesy["percent"]) == ("1", "0", "0.0")
    await context.close()

    # Auditors cannot read the agreement, nor a contact that is not theirs.
    context, page = await new_page(browser)
    await sign_in(page, site.url, "a.durand", passwords["a.durand"])
    await page.goto(f"{site.url}/revue/{WAVE}/accord")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    await context.close()

    assert prober_cli("score", WAVE).exit_code == 0
    after = phone_quality(site.engine, call.official_id)
    assert before is None
    # Agreed: greeting, personalisation, answer quality passed (weights 1, 1, 2); arbitrated:
    # courtesy failed (weight 1) → 4 / 5.
    assert after == pytest.approx(80.0)


async def test_a_hostile_reply_runs_nothing_and_loads_nothing(
    site: Site, browser: Browser, prober_cli: Run
) -> None:
    reply = hostile_reply(site.engine, site.settings.resolve(site.settings.replies_dir))
    password = site.add_user("a.durand", Role.AUDITOR)
    assign(prober_cli, "--double-share", "0")
    context, page = await new_page(browser)
    left: list[str] = []

    def watch(request: Request) -> None:
        if not request.url.startswith(site.url) and not request.url.startswith("data:"):
            left.append(request.url)

    page.on("request", watch)
    await sign_in(page, site.url, "a.durand", password)
    await page.goto(f"{site.url}/revue/{WAVE}/contacts/{reply.probe_id}")
    await expect(page.get_by_text("nous avons bien reçu votre demande")).to_be_visible()
    await expect(page.get_by_role("heading", level=3)).to_have_text("Réponse à votre demande")
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate("typeof window.pwned") == "undefined"
    assert left == [], left
    assert REMOTE_HOST not in await page.locator(".courriel").inner_html()
    assert await page.locator(".courriel form, .courriel iframe, .courriel script").count() == 0
    await assert_accessible(page)
    await screenshot(page, "reponse")
    await context.close()
    with Session(site.engine) as session:
        assert session.get(Probe, reply.probe_id) is not None


async def test_recordings_and_pages_are_closed_to_the_unassigned(
    site: Site, browser: Browser, prober_cli: Run
) -> None:
    call = playable_call(site.engine)
    site.add_user("a.durand", Role.AUDITOR)
    other = site.add_user("z.autre", Role.AUDITOR)
    assign(prober_cli, "--auditor", "a.durand", "--double-share", "0")
    recording = site.recordings()[0]
    context, page = await new_page(browser)
    anonymous = await page.request.get(f"{site.url}/enregistrements/{recording}")
    assert anonymous.status == 401
    await sign_in(page, site.url, "z.autre", other)
    refused = await page.request.get(f"{site.url}/enregistrements/{recording}")
    assert refused.status == 403
    await page.goto(f"{site.url}/revue/{WAVE}/contacts/{call.probe_id}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    await context.close()
