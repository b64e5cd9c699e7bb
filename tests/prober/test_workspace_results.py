"""A structure's confidential results in a real browser: nothing before publication, its own
report after (synthetic or detailed by its offer), its recommendations once operators reviewed
them, and no route (page, full report, API, review pages, recordings) to another structure."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page, expect
from sqlmodel import Session, col, select

from config.settings import load_settings
from prober.results.grid import load_grid
from prober.results.published import load_results
from prober.results.recommendations import channel_recommendations
from storage.db import session_scope
from storage.models import Offer, Probe, Role, Structure
from tests.support.browser import assert_accessible, new_page, sign_in
from tests.support.participants_scene import accept_participant, publish, structure_names
from tests.support.workspace_site import WAVE, Site

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def expected_advice(site: Site, official_id: str) -> list[tuple[str, float, str]]:
    """(criterion, points, text) from the stored scores, most points first."""
    settings = load_settings()
    grid = load_grid(settings, None)
    with session_scope(site.engine) as session:
        results = load_results(session, WAVE, grid, settings.scoring)
    (structure_id,) = [s for s, i in results.structures.items() if i.official_id == official_id]
    items = [
        item
        for score in results.of_structure(structure_id)
        for item in channel_recommendations(grid, score.channel, score.details["criteria"])
    ]
    items.sort(key=lambda item: (-item.points, item.channel, item.criterion_id))
    return [(item.criterion_id, item.points, item.text) for item in items]


def probes_of(site: Site, official_id: str) -> list[str]:
    with Session(site.engine) as session:
        rows = session.exec(
            select(Probe.id).join(Structure, col(Structure.id) == col(Probe.structure_id))
            .where(col(Structure.official_id) == official_id)
        )  # fmt: skip
        return [str(row) for row in rows]


def routes(site: Site, official_id: str) -> list[str]:
    return [
        f"/resultats/{WAVE}/{official_id}",
        f"/resultats/{WAVE}/{official_id}/rapport",
    ]


def api_routes(official_id: str) -> list[str]:
    return [
        f"/api/structures/{official_id}/results",
        f"/api/structures/{official_id}/results?wave={WAVE}",
        f"/api/structures/{official_id}/results?wave={WAVE}&detail=true",
    ]


async def refused_everywhere(page: Page, site: Site, official_id: str) -> None:
    for path in routes(site, official_id):
        response = await page.goto(site.url + path)
        assert response is not None and response.status == 403, path
        await expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    for path in api_routes(official_id):
        answer = await page.request.get(site.url + path)
        assert answer.status == 403, path
        assert official_id not in (await answer.text()).split("(")[0]
    staff_only = [
        f"/api/waves/{WAVE}/results", f"/vagues/{WAVE}/recommandations", f"/revue/{WAVE}",
        f"/revue/{WAVE}/accord", f"/revue/{WAVE}/accord.csv", "/participants", "/journal",
        *(f"/revue/{WAVE}/contacts/{probe}" for probe in probes_of(site, official_id)),
        *(f"/enregistrements/{recording}" for recording in site.recordings()),
    ]  # fmt: skip
    for path in staff_only:
        answer = await page.request.get(site.url + path)
        assert answer.status == 403, path
        assert official_id not in await answer.text(), path


async def test_a_structure_sees_its_own_results_only(site: Site, browser: Browser) -> None:
    names = structure_names(site)
    mine, free, other = list(names)[:3]
    password = accept_participant(site, "mairie", mine, Offer.DETAILED)
    accept_participant(site, "autre", free, Offer.FREE)
    admin = site.add_user("admin", Role.ADMIN)
    context, page = await new_page(browser)
    await sign_in(page, site.url, "mairie", password)

    # Before publication: nothing, by page or API.
    response = await page.goto(f"{site.url}/resultats/{WAVE}/{mine}")
    assert response is not None and response.status == 404
    await expect(page.locator("main")).to_contain_text("Aucun résultat publié")
    answer = await page.request.get(f"{site.url}/api/structures/{mine}/results")
    assert answer.status == 200 and (await answer.json())["waves"] == []
    answer = await page.request.get(f"{site.url}/api/structures/{mine}/results?wave={WAVE}")
    assert answer.status == 404

    publish(site, WAVE)
    await page.goto(f"{site.url}/")
    await page.get_by_role("link", name=WAVE).first.click()
    await expect(page).to_have_url(f"{site.url}/resultats/{WAVE}/{mine}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(names[mine])
    await expect(page.get_by_text("en cours de relecture")).to_be_visible()
    await assert_accessible(page)

    # An operator reviews the wave's recommendations.
    operator_context, operator = await new_page(browser)
    await sign_in(operator, site.url, "admin", admin)
    await operator.goto(f"{site.url}/vagues/{WAVE}/recommandations")
    await assert_accessible(operator)
    await operator.get_by_role("button", name="Marquer les recommandations").click()
    await expect(operator.locator("#relues")).to_be_visible()
    await operator_context.close()

    await page.goto(f"{site.url}/resultats/{WAVE}/{mine}")
    advice = expected_advice(site, mine)
    assert advice
    items = page.locator("#liste-recommandations > li")
    await expect(items).to_have_count(len(advice))
    shown = [
        (
            await item.get_attribute("data-criterion"),
            float(await item.get_attribute("data-points") or 0),
        )
        for item in await items.all()
    ]
    assert shown == [(criterion, points) for criterion, points, _ in advice]
    for item, (_, _, text) in zip(await items.all(), advice, strict=True):
        await expect(item).to_contain_text(text)
    body = await page.locator("body").inner_text()
    for official_id, name in names.items():
        if official_id != mine:
            assert name not in body and official_id not in body
    await assert_accessible(page)

    report = await page.goto(f"{site.url}/resultats/{WAVE}/{mine}/rapport")
    assert report is not None and report.status == 200
    text = await page.locator("body").inner_text()
    assert names[mine] in text and "Recommandations, par points à gagner" in text
    for official_id, name in names.items():
        if official_id != mine:
            assert name not in text, name

    # Another structure's results: refused on every route, and an unknown one alike.
    assert probes_of(site, free) and site.recordings()
    await refused_everywhere(page, site, free)
    await refused_everywhere(page, site, other)
    await refused_everywhere(page, site, "00000000000000")
    await context.close()


async def test_free_offer_gets_the_synthetic_view(site: Site, browser: Browser) -> None:
    names = structure_names(site)
    free = list(names)[1]
    password = accept_participant(site, "libre", free, Offer.FREE)
    publish(site, WAVE)
    context, page = await new_page(browser)
    await sign_in(page, site.url, "libre", password)
    await page.goto(f"{site.url}/resultats/{WAVE}/{quote(free)}")
    await expect(page.locator("#tableau-scores")).to_be_visible()
    await expect(page.get_by_role("heading", name="Recommandations")).to_have_count(0)
    await expect(page.get_by_text("résultats synthétiques")).to_be_visible()
    await assert_accessible(page)
    await context.close()


async def test_an_organisation_sees_its_sites_only(site: Site, browser: Browser) -> None:
    names = structure_names(site)
    first, second, outside = list(names)[3:6]
    password = accept_participant(site, "orga", first, Offer.DETAILED, sites=(second,),
                                  organisation="Communauté test")  # fmt: skip
    publish(site, WAVE)
    context, page = await new_page(browser)
    await sign_in(page, site.url, "orga", password)
    for official_id in (first, second):
        response = await page.goto(f"{site.url}/resultats/{WAVE}/{official_id}")
        assert response is not None and response.status == 200, official_id
        await expect(page.get_by_role("heading", level=1)).to_contain_text(names[official_id])
        answer = await page.request.get(f"{site.url}/api/structures/{official_id}/results")
        assert answer.status == 200
        assert [w["wave"]["name"] for w in (await answer.json())["waves"]] == [WAVE]
    await refused_everywhere(page, site, outside)
    await context.close()
