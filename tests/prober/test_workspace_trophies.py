"""A structure's results page shows the trophies it won in the published wave (ASGI in process):
the winner sees each of its trophies, a structure that won none sees no trophy section."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from config.settings import Settings, load_settings
from prober.project.database import Database
from prober.results.grid import load_grid
from prober.results.published import load_results
from prober.results.trophies import trophies
from prober.web.workspace import create_workspace_app
from storage.db import make_engine, session_scope
from storage.models import Offer
from tests.support.cli import Run
from tests.support.participants_scene import accept_participant, publish
from tests.support.workspace_site import WAVE, Site, build_project

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CHANNELS = {"phone": "téléphone", "email": "courriel"}


async def page_of(app: object, login: str, password: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://workspace") as http:
        form = (await http.get("/connexion")).text
        token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = await http.post(
            "/connexion", data={"csrf_token": token, "login": login, "password": password}
        )
        assert signed.status_code == 303, signed.text
        return await http.get(path)


def trophy_lines(html: str) -> list[str]:
    found = re.search(r'<ul id="liste-trophees">(.*?)</ul>', html, re.S)
    if found is None:
        return []
    items = re.findall(r"<li[^>]*>(.*?)</li>", found.group(1), re.S)
    return [" ".join(item.split()) for item in items]


async def test_a_structure_sees_the_trophies_it_won(prober_cli: Run, database_url: str) -> None:
    build_project(prober_cli, database_url, Path.cwd())
    loaded = load_settings()
    # One contact is enough to compete here: the scene probes each structure a few times.
    settings: Settings = loaded.model_copy(
        update={"scoring": loaded.scoring.model_copy(update={"min_sample": 1})}
    )
    engine = make_engine(settings.effective_database_url)
    database = Database(engine)
    try:
        with session_scope(engine) as session:
            results = load_results(session, WAVE, load_grid(settings, None), settings.scoring)
        podiums = trophies(results, min_contacts=1)
        won: dict[str, list[str]] = {}
        for podium in podiums:
            for entry in podium.winners:
                ties = " ex aequo" if entry.ex_aequo else ""
                plural = "s" if podium.competing > 1 else ""
                won.setdefault(entry.official_id, []).append(
                    f"Trophée {CHANNELS[podium.channel]} : 1er{ties} du groupe"
                    f" « {podium.peer_group} » ({podium.competing} structure{plural} en lice)."
                )
        winner = max(won, key=lambda official_id: len(won[official_id]))
        losers = [
            info.official_id
            for info in results.structures.values()
            if info.official_id not in won and results.of_structure(info.id)
        ]
        assert won[winner] and losers
        site = Site("", engine, settings)
        winner_password = accept_participant(site, "gagnante", winner, Offer.FREE)
        loser_password = accept_participant(site, "autre", losers[0], Offer.DETAILED)
        publish(site, WAVE)
        app = create_workspace_app(settings, database)

        page = await page_of(app, "gagnante", winner_password, f"/resultats/{WAVE}/{winner}")
        assert page.status_code == 200
        assert "Vos trophées" in page.text
        assert trophy_lines(page.text) == won[winner]

        page = await page_of(app, "autre", loser_password, f"/resultats/{WAVE}/{losers[0]}")
        assert page.status_code == 200
        assert "Vos trophées" not in page.text and trophy_lines(page.text) == []
    finally:
        database.close()
        engine.dispose()
