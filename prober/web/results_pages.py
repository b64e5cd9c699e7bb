"""A structure's confidential results in the workspace, and the operators' review of the
recommendations before a wave is published.

A structure account reaches only its own sites (an organisation's account: all its sites) and
only published waves; any other structure or wave gets the same refusal whatever the route.
Operators (admin, operator, lead) see every structure's page, as its structure will, to check
it before publication, and mark a wave's recommendations reviewed (an audit line per wave:
structures see their recommendations only once that line exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from config.criteria import CriteriaGrid
from config.errors import ConfigError
from config.settings import Settings
from prober.errors import ProberError
from prober.results.grid import load_grid
from prober.results.published import NotScoredError, WaveResults, load_results, structure_detail
from prober.results.recommendations import channel_recommendations
from prober.results.reports import context as report_context
from prober.results.reports.render import render_html
from prober.results.structure_view import StructureView, structure_view
from prober.results.trophies import trophies, won_by
from prober.web.auth import User
from prober.web.pages import Pages
from storage.audit import count_audit
from storage.errors import NotFoundError
from storage.models import Role
from storage.participants import participant_offer, participant_sites
from storage.publication import published_waves, wave_published_at
from storage.structures import get_structure
from storage.waves import get_wave, list_waves

REVIEWED = "recommendations_reviewed"
OPERATORS = (Role.ADMIN, Role.OPERATOR, Role.LEAD)
NOT_YOURS = "Ces résultats ne sont pas accessibles depuis votre compte."
# The stand-alone report carries its own styles: its own, stricter policy (no script at all).
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none';"
    " base-uri 'none'; form-action 'none'"
)


def results_url(wave: str, official_id: str) -> str:
    """The page of ``official_id``'s results in ``wave``."""
    return f"/resultats/{quote(wave, safe='')}/{quote(official_id, safe='')}"


def recommendations_reviewed(session: Session, wave: str) -> bool:
    """Whether an operator marked the recommendations of ``wave`` reviewed."""
    since = datetime(1970, 1, 1, tzinfo=UTC)
    return count_audit(session, action=REVIEWED, since=since, target=wave) > 0


class Refused(ProberError):
    """What the user asked for is not theirs to see (or does not exist): the page to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Seen:
    view: StructureView
    results: WaveResults
    structure_id: int


def _previous(session: Session, grid: CriteriaGrid, settings: Settings, wave: str,
              structure_id: int, published_only: bool) -> WaveResults | None:  # fmt: skip
    """The structure's latest earlier wave with scores (published, for a structure account)."""
    current = get_wave(session, wave)
    published = published_waves(session)
    candidates = []
    for name in published if published_only else _all_waves(session):
        other = get_wave(session, name)
        if other.starts_on < current.starts_on:
            candidates.append(other)
    for other in sorted(candidates, key=lambda w: w.starts_on, reverse=True):
        try:
            before = load_results(session, other.name, grid, settings.scoring)
        except NotScoredError:
            continue
        if before.of_structure(structure_id):
            return before
    return None


def _all_waves(session: Session) -> list[str]:
    return [wave.name for wave in list_waves(session)]


def see(session: Session, settings: Settings, user: User, wave: str, official_id: str) -> Seen:
    """What ``user`` may see of ``official_id`` in ``wave``, or Refused."""
    structure_role = user.role is Role.STRUCTURE
    try:
        structure = get_structure(session, official_id)
    except NotFoundError:
        raise Refused(403 if structure_role else 404, NOT_YOURS) from None
    assert structure.id is not None  # noqa: S101 - stored
    if structure_role and structure.id not in participant_sites(session, user.account_id):
        raise Refused(403, NOT_YOURS)
    try:
        if structure_role and wave_published_at(session, wave) is None:
            raise Refused(404, f"Aucun résultat publié pour la vague « {wave} ».")
        grid = load_grid(settings, None)
        results = load_results(session, wave, grid, settings.scoring)
    except (NotFoundError, NotScoredError):
        raise Refused(404, f"Aucun résultat pour la vague « {wave} ».") from None
    except ConfigError as error:
        raise Refused(503, f"Grille de critères inutilisable : {error}") from None
    if not results.of_structure(structure.id):
        raise Refused(404, f"{structure.name} n'a pas été sondée dans la vague « {wave} ».")
    offer = participant_offer(session, structure.id)
    if structure_role:
        offer_name = "free" if offer is None else offer.value
    else:
        offer_name = "detailed"
    detailed = offer_name == "detailed"
    details = structure_detail(session, results, grid, structure.id) if detailed else []
    before = (
        _previous(session, grid, settings, wave, structure.id, structure_role) if detailed else None
    )
    reviewed = recommendations_reviewed(session, wave) or not structure_role
    won = won_by(trophies(results, min_contacts=settings.scoring.min_sample), structure.id)
    view = structure_view(
        results, grid, structure.id, offer=offer_name, before=before, details=details,
        reviewed=reviewed, min_peers=settings.scoring.min_peers, trophies=won,
    )  # fmt: skip
    return Seen(view, results, structure.id)


def results_routes(pages: Pages, settings: Settings) -> list[Route]:
    """A structure's results page and full report; a wave's recommendations for operators."""
    database = pages.auth.database

    @pages.page(Role.STRUCTURE, *OPERATORS)
    async def structure_page(request: Request, user: User) -> Response:
        wave = request.path_params["wave"]
        official_id = request.path_params["official_id"]
        try:
            seen = await database.run(lambda s: see(s, settings, user, wave, official_id))
        except Refused as refused:
            return pages.error(request, refused.status, refused.message, user=user)
        view = seen.view
        context = {
            "title": f"Résultats de {view.name} — vague {view.wave}",
            "view": view,
            "reviewed": view.recommendations_reviewed,
            "min_peers": settings.scoring.min_peers,
            "min_contacts": settings.scoring.min_sample,
            "report_url": results_url(view.wave, view.official_id) + "/rapport",
        }
        return pages.render(request, "results_structure.html", context, user=user)

    @pages.page(Role.STRUCTURE, *OPERATORS)
    async def full_report(request: Request, user: User) -> Response:
        wave = request.path_params["wave"]
        official_id = request.path_params["official_id"]

        def build(session: Session) -> str:
            seen = see(session, settings, user, wave, official_id)
            grid = load_grid(settings, None)
            if seen.view.offer != "detailed":
                page = report_context.synthetic_context(seen.results, grid, [seen.structure_id])
                return render_html("synthetic", page)
            details = structure_detail(session, seen.results, grid, seen.structure_id)
            page = report_context.detailed_context(
                session, seen.results, grid, seen.structure_id, details,
                recordings_dir=settings.resolve(settings.recordings_dir).resolve(),
                out_dir=settings.resolve(settings.recordings_dir).resolve(),
            )  # fmt: skip
            for channel in page["channels"]:
                if not seen.view.recommendations_reviewed:
                    channel["failed"] = []
                if user.role is Role.STRUCTURE:
                    # The charts plot each peer's figure: other structures' figures, unnamed.
                    channel["charts"] = []
            return render_html("detailed", page)

        try:
            html = await database.run(build)
        except Refused as refused:
            return pages.error(request, refused.status, refused.message, user=user)
        return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})

    @pages.page(*OPERATORS)
    async def review(request: Request, user: User) -> Response:
        wave = request.path_params["wave"]

        def read(session: Session) -> dict[str, object]:
            grid = load_grid(settings, None)
            results = load_results(session, wave, grid, settings.scoring)
            rows = []
            for structure_id, info in sorted(
                results.structures.items(), key=lambda pair: pair[1].official_id
            ):
                advice = [
                    item
                    for score in results.of_structure(structure_id)
                    for item in channel_recommendations(
                        grid, score.channel, score.details.get("criteria", {})
                    )
                ]
                advice.sort(key=lambda item: -item.points)
                rows.append(
                    {
                        "name": info.name,
                        "official_id": info.official_id,
                        "url": results_url(wave, info.official_id),
                        "advice": advice,
                    }
                )
            return {
                "rows": rows,
                "reviewed": recommendations_reviewed(session, wave),
                "published": wave_published_at(session, wave),
            }

        def mark(session: Session) -> None:
            get_wave(session, wave)
            if not recommendations_reviewed(session, wave):
                user.audit(session, REVIEWED, wave, {})

        try:
            if request.method == "POST":
                await database.run(mark)
                return RedirectResponse(request.url.path, status_code=303)
            found = await database.run(read)
        except (NotFoundError, NotScoredError) as error:
            return pages.error(request, 404, f"Vague « {wave} » : {error}", user=user)
        context = {"title": f"Recommandations de la vague {wave}", "wave": wave, **found}
        return pages.render(request, "results_review.html", context, user=user)

    return [
        Route("/resultats/{wave}/{official_id}", structure_page, methods=["GET"]),
        Route("/resultats/{wave}/{official_id}/rapport", full_report, methods=["GET"]),
        Route("/vagues/{wave}/recommandations", review, methods=["GET", "POST"]),
    ]
