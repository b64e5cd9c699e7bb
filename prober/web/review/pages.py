"""The review pages: a wave's queue, a contact's page with its criteria grid, the agreement.

Auditors see the contacts assigned to them and their own verdicts only (double reviews are
blind); leads (and admins) see every contact and verdict, arbitrate disagreements and read the
agreement. Letters' scans are served to those allowed to see the contact; recordings go through
prober/web/recordings.py with :func:`may_hear`. Every page is French, in the workspace's layout;
the little JavaScript (player, shortcuts) is the vendored /static/review.js.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session, col, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from config.criteria import CriteriaGrid
from config.errors import ConfigError
from config.settings import Settings
from prober.errors import ProberError
from prober.results.agreement import Judgement, agreement_csv, by_auditor, by_criterion
from prober.results.grid import load_grid
from prober.web.auth import User
from prober.web.pages import Pages
from prober.web.review.contact import ContactView, load_contact
from prober.web.review.waveform import WaveformError, peaks, svg_path
from storage.models import Probe, Recording, Reply, Review, ReviewAssignment, Role, Wave
from storage.review_assignments import (
    QueueFilters,
    blind_pairs,
    mark_reviewed,
    review_queue,
    update_dispute,
)
from storage.reviews import REVIEW_VERDICTS, add_review

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_COMMENT = 4000
MAX_FORM_FIELDS = 100
VERDICT_LABELS = {"passed": "Réussi", "failed": "Échoué", "not_applicable": "Non applicable"}
CHANNEL_LABELS = {"phone": "Appel", "email": "Courriel", "letter": "Courrier"}
LABELS = {"verdict_labels": VERDICT_LABELS, "channel_labels": CHANNEL_LABELS}
REVIEWERS = (Role.AUDITOR, Role.LEAD, Role.ADMIN)
LEADS = (Role.LEAD, Role.ADMIN)
SCAN_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg"}


class _Refused(Exception):
    """A request answered with an error page: status and French message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def is_lead(user: User) -> bool:
    """Leads and admins see every verdict, arbitrate and read the agreement."""
    return user.has_role(*LEADS)


def assigned_to(session: Session, probe_id: uuid.UUID, login: str) -> bool:
    """Whether the contact is in ``login``'s review queue."""
    return (
        session.scalars(
            select(col(ReviewAssignment.id))
            .where(col(ReviewAssignment.probe_id) == probe_id)
            .where(col(ReviewAssignment.auditor) == login)
        ).first()
        is not None
    )


def may_hear(session: Session, user: User, recording: Recording) -> bool:
    """Auditors hear the recordings of the contacts assigned to them; other staff all of them."""
    if user.has_role(Role.AUDITOR):
        return assigned_to(session, recording.probe_id, user.login)
    return True


@dataclass(frozen=True, slots=True)
class WaveRef:
    """A stored wave: its id and name."""

    id: int
    name: str


def _wave_of(session: Session, name: str, user: User) -> WaveRef:
    wave = session.scalars(select(Wave).where(col(Wave.name) == name)).first()
    if wave is None or wave.id is None:
        raise _Refused(404, f"Aucune vague « {name} ».")
    if not is_lead(user):
        mine = session.scalars(
            select(col(ReviewAssignment.id))
            .where(col(ReviewAssignment.wave_id) == wave.id)
            .where(col(ReviewAssignment.auditor) == user.login)
            .limit(1)
        ).first()
        if mine is None:
            raise _Refused(403, f"Aucun contact de la vague « {name} » ne vous est confié.")
    return WaveRef(wave.id, wave.name)


def _probe_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["probe_id"])
    except ValueError:
        raise _Refused(404, "Aucun contact à cette adresse.") from None


def project_review_routes(pages: Pages, settings: Settings) -> list[Route]:
    """The review pages under the project's criteria grid; none (logged) if it is unusable."""
    try:
        grid = load_grid(settings, None)
    except (ProberError, ConfigError) as error:
        logger.warning("review pages off: %s", error)
        return []
    return review_routes(pages, settings, grid)


def review_routes(pages: Pages, settings: Settings, grid: CriteriaGrid) -> list[Route]:
    """The review pages under ``/revue`` and the letters' scans under ``/pieces``."""
    pages.environment.filters["seconds"] = _clock
    ctx = _Context(
        pages=pages,
        settings=settings,
        grid=grid,
        reviewed={
            channel: ids
            for channel in ("phone", "email", "letter")
            if (ids := [c.id for c in grid.for_channel(channel) if c.kind == "reviewed"])
        },
        titles={c.id: c.title for c in grid.criteria},
        replies_dir=settings.resolve(settings.replies_dir).resolve(),
        recordings_dir=settings.resolve(settings.recordings_dir).resolve(),
    )
    save = _make_save(ctx)

    async def review(request: Request, user: User) -> Response:
        response: Response = await save(request, user, arbitration=False)
        return response

    async def arbitrate(request: Request, user: User) -> Response:
        response: Response = await save(request, user, arbitration=True)
        return response

    queue = pages.page(*REVIEWERS)(_refusing(pages, _make_queue(ctx)))
    contact = pages.page(*REVIEWERS)(_refusing(pages, _make_contact(ctx)))
    agreement = pages.page(*LEADS)(_refusing(pages, _make_agreement(ctx)))
    scan = pages.resource(*REVIEWERS, Role.OPERATOR)(_make_scan(ctx))
    save_review = pages.page(*REVIEWERS)(_refusing(pages, review))
    save_arbitration = pages.page(*LEADS)(_refusing(pages, arbitrate))
    return [
        Route("/revue/{wave}", queue, methods=["GET"]),
        Route("/revue/{wave}/accord", agreement, methods=["GET"]),
        Route("/revue/{wave}/accord.csv", agreement, methods=["GET"]),
        Route("/revue/{wave}/contacts/{probe_id}", contact, methods=["GET"]),
        Route("/revue/{wave}/contacts/{probe_id}", save_review, methods=["POST"]),
        Route("/revue/{wave}/contacts/{probe_id}/arbitrage", save_arbitration, methods=["POST"]),
        Route("/pieces/{reply_id:int}", scan, methods=["GET"]),
    ]


@dataclass(frozen=True, slots=True)
class _Context:
    """What every review handler reads: the layout, settings, grid and derived lists."""

    pages: Pages
    settings: Settings
    grid: CriteriaGrid
    reviewed: dict[str, list[str]]
    titles: dict[str, str]
    replies_dir: Path
    recordings_dir: Path


def _refusing(pages: Pages, handler: Any) -> Any:
    async def endpoint(request: Request, user: User) -> Response:
        try:
            response: Response = await handler(request, user)
            return response
        except _Refused as refused:
            return pages.error(request, refused.status, refused.message, user=user)

    return endpoint


def _make_queue(ctx: _Context) -> Any:
    """The ``queue`` handler."""

    async def queue(request: Request, user: User) -> Response:
        database = ctx.pages.auth.database
        reviewed = ctx.reviewed
        titles = ctx.titles
        labels = LABELS
        pages = ctx.pages
        query = request.query_params
        channel, criterion = query.get("canal", ""), query.get("critere", "")
        filters = QueueFilters(
            auditor=(query.get("auditeur") or None) if is_lead(user) else user.login,
            channel=channel if channel in reviewed else "",
            structure=query.get("structure", "")[:200],
            criterion=criterion if criterion in titles else "",
            flagged=query.get("signale") == "1",
            blind=not is_lead(user),
        )
        number = int(query["page"]) if query.get("page", "").isdigit() else 1
        number = max(1, min(number, 100_000))

        def read(session: Session) -> tuple[WaveRef, Any, list[str]]:
            wave = _wave_of(session, request.path_params["wave"], user)
            found = review_queue(
                session,
                wave.id,
                filters,
                reviewed_criteria=reviewed,
                limit=PAGE_SIZE,
                offset=(number - 1) * PAGE_SIZE,
            )
            auditors: list[str] = []
            if is_lead(user):
                auditors = list(
                    session.scalars(
                        select(col(ReviewAssignment.auditor))
                        .where(col(ReviewAssignment.wave_id) == wave.id)
                        .distinct()
                        .order_by(col(ReviewAssignment.auditor))
                    )
                )
            return wave, found, auditors

        wave, found, auditors = await database.run(read)
        kept = {k: v for k, v in query.items() if k != "page" and v}
        count = max(1, -(-found.total // PAGE_SIZE))
        return pages.render(
            request,
            "review_queue.html",
            {
                "title": f"File de revue de la vague « {wave.name} »",
                "is_lead": is_lead(user),
                "wave": wave,
                "queue": found,
                "filters": filters,
                "auditors": auditors,
                "reviewed": reviewed,
                "criterion_titles": titles,
                "number": number,
                "pages": count,
                "previous_url": f"?{urlencode({**kept, 'page': number - 1})}"
                if number > 1
                else None,
                "next_url": f"?{urlencode({**kept, 'page': number + 1})}"
                if number < count
                else None,
                **labels,
            },
            user=user,
        )

    return queue


def _make_contact(ctx: _Context) -> Any:
    """The ``contact`` handler."""

    async def contact(request: Request, user: User) -> Response:
        database = ctx.pages.auth.database
        settings = ctx.settings
        grid = ctx.grid
        labels = LABELS
        replies_dir = ctx.replies_dir
        recordings_dir = ctx.recordings_dir
        pages = ctx.pages
        probe_id = _probe_id(request)

        def read(session: Session) -> tuple[ContactView, dict[str, Any] | None]:
            wave = _wave_of(session, request.path_params["wave"], user)
            probe = session.get(Probe, probe_id)
            if probe is None or probe.wave_id != wave.id:
                raise _Refused(404, "Aucun contact à cette adresse dans cette vague.")
            if not is_lead(user) and not assigned_to(session, probe_id, user.login):
                raise _Refused(403, "Ce contact ne vous est pas confié.")
            view = load_contact(
                session,
                probe_id,
                grid,
                viewer=None if is_lead(user) else user.login,
                replies_dir=replies_dir,
                time_scale=settings.twilio.time_scale,
            )
            if view is None:
                raise _Refused(404, "Aucun contact à cette adresse.")
            return view, _waveform(session, view.recording_id, recordings_dir)

        view, waveform = await database.run(read)
        mine = {v.criterion_id: v for v in view.verdicts if v.reviewer == user.login}
        return pages.render(
            request,
            "review_contact.html",
            {
                "title": f"{CHANNEL_LABELS.get(view.channel, view.channel)} — "
                f"{view.structure_name} ({view.official_id})",
                "is_lead": is_lead(user),
                "view": view,
                "waveform": waveform,
                "mine": mine,
                "disagreements": _disagreements(view) if is_lead(user) else {},
                "arbitrations": {
                    v.criterion_id: v for v in view.verdicts if v.kind == "arbitration"
                },
                "submission": uuid.uuid4().hex,
                "message": _saved_message(request),
                "assigned": any(login == user.login for login, _ in view.auditors),
                **labels,
            },
            user=user,
        )

    return contact


def _make_save(ctx: _Context) -> Any:
    """The ``save`` handler."""

    async def save(request: Request, user: User, *, arbitration: bool) -> Response:
        database = ctx.pages.auth.database
        reviewed = ctx.reviewed
        probe_id = _probe_id(request)
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        submission = str(form.get("submission", ""))[:64] or None
        comment = str(form.get("comment", ""))[:MAX_COMMENT]

        def write(session: Session) -> list[str]:
            wave = _wave_of(session, request.path_params["wave"], user)
            probe = session.get(Probe, probe_id)
            if probe is None or probe.wave_id != wave.id:
                raise _Refused(404, "Aucun contact à cette adresse dans cette vague.")
            if not arbitration and not assigned_to(session, probe_id, user.login):
                raise _Refused(403, "Ce contact ne vous est pas confié.")
            recorded = _record(
                session, probe, form, reviewed, user, submission, comment, arbitration
            )
            if not arbitration:
                mark_reviewed(session, probe_id, user.login, reviewed.get(probe.channel, []))
            update_dispute(session, probe_id)
            if recorded:
                user.audit(
                    session,
                    "arbitration_saved" if arbitration else "review_saved",
                    target=str(probe_id),
                    details={"verdicts": recorded, "comment": comment[:200]},
                )
            return sorted(recorded)

        recorded = await database.run(write)
        target = request.url.path.removesuffix("/arbitrage")
        return RedirectResponse(f"{target}?enregistre={len(recorded)}", status_code=303)

    return save


def _make_agreement(ctx: _Context) -> Any:
    """The ``agreement`` handler."""

    async def agreement(request: Request, user: User) -> Response:
        database = ctx.pages.auth.database
        settings = ctx.settings
        titles = ctx.titles
        pages = ctx.pages

        def read(session: Session) -> tuple[WaveRef, list[Judgement]]:
            wave = _wave_of(session, request.path_params["wave"], user)
            return wave, [
                Judgement(p.criterion_id, p.first_auditor, p.first_verdict, p.second_auditor,
                          p.second_verdict)
                for p in blind_pairs(session, wave.id)
            ]  # fmt: skip

        wave, found = await database.run(read)
        criteria = by_criterion(found)
        auditors = by_auditor(
            found,
            threshold=settings.review.agreement_threshold,
            min_pairs=settings.review.agreement_min_pairs,
        )
        if request.url.path.endswith(".csv"):
            return Response(
                agreement_csv(criteria, auditors),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="accord-{wave.id}.csv"'},
            )
        return pages.render(
            request,
            "review_agreement.html",
            {
                "title": f"Accord entre auditeurs — vague « {wave.name} »",
                "is_lead": True,
                "wave": wave,
                "criteria": criteria,
                "auditors": auditors,
                "criterion_titles": titles,
                "threshold": settings.review.agreement_threshold,
                "min_pairs": settings.review.agreement_min_pairs,
            },
            user=user,
        )

    return agreement


def _make_scan(ctx: _Context) -> Any:
    """The ``scan`` handler."""

    async def scan(request: Request, user: User) -> Response:
        database = ctx.pages.auth.database
        replies_dir = ctx.replies_dir
        reply_id: int = request.path_params["reply_id"]

        def read(session: Session) -> Path | None:
            found = session.get(Reply, reply_id)
            if found is None or found.raw_path is None or found.probe_id is None:
                return None
            if found.channel != "letter":
                return None
            if user.has_role(Role.AUDITOR) and not assigned_to(session, found.probe_id, user.login):
                raise _Refused(403, "courrier non ouvert à ce compte")
            return Path(found.raw_path)

        try:
            path = await database.run(read)
        except _Refused as refused:
            return PlainTextResponse(refused.message, status_code=refused.status)
        if path is None or not _inside(path, replies_dir):
            return PlainTextResponse("courrier inconnu", status_code=404)
        return FileResponse(
            path,
            media_type=SCAN_TYPES.get(path.suffix.lower(), "application/octet-stream"),
            headers={
                "Content-Security-Policy": "sandbox; frame-ancestors 'self'",
                "X-Frame-Options": "SAMEORIGIN",
                "Cache-Control": "private, no-store",
            },
        )

    return scan


def _record(
    session: Session,
    probe: Probe,
    form: FormData,
    reviewed: dict[str, list[str]],
    user: User,
    submission: str | None,
    comment: str,
    arbitration: bool,
) -> dict[str, str]:
    """Store the form's verdicts (once per submission and criterion); those newly stored."""
    recorded: dict[str, str] = {}
    for criterion_id in reviewed.get(probe.channel, []):
        verdict = str(form.get(f"verdict:{criterion_id}", ""))
        if verdict not in REVIEW_VERDICTS:
            continue
        if submission is not None and _submitted(session, submission, criterion_id):
            continue
        add_review(
            session,
            probe,
            criterion_id,
            reviewer=user.login,
            verdict=verdict,
            comment=comment,
            kind="arbitration" if arbitration else "review",
            submission=submission,
        )
        recorded[criterion_id] = verdict
    return recorded


def _inside(path: Path, folder: Path) -> bool:
    resolved = path.resolve()
    return resolved.is_relative_to(folder) and resolved.is_file()


def _submitted(session: Session, submission: str, criterion_id: str) -> bool:
    return (
        session.scalars(
            select(col(Review.id))
            .where(col(Review.submission) == submission)
            .where(col(Review.criterion_id) == criterion_id)
        ).first()
        is not None
    )


def _saved_message(request: Request) -> str:
    saved = request.query_params.get("enregistre")
    if saved is None:
        return ""
    return "Verdicts enregistrés." if saved != "0" else "Rien de nouveau à enregistrer."


def _disagreements(view: ContactView) -> dict[str, dict[str, str]]:
    """Per criterion, each blind auditor's latest verdict, where they differ."""
    logins = {login for login, double in view.auditors if double}
    latest: dict[str, dict[str, str]] = {}
    for verdict in view.verdicts:
        if verdict.kind == "review" and verdict.reviewer in logins:
            latest.setdefault(verdict.criterion_id, {})[verdict.reviewer] = verdict.verdict
    return {c: v for c, v in latest.items() if len(set(v.values())) > 1}


def _waveform(session: Session, recording_id: int | None, folder: Path) -> dict[str, Any] | None:
    if recording_id is None:
        return None
    found = session.get(Recording, recording_id)
    if found is None or found.media_path is None:
        return None
    path = Path(found.media_path)
    if not path.is_absolute() and not path.exists():
        path = folder / path
    if not _inside(path, folder):
        return None
    try:
        levels = peaks(path)
    except WaveformError:
        return None
    return {"path": svg_path(levels), "width": len(levels), "height": 80}
