"""The review pages: a wave's queue, a contact's page with its criteria grid, the agreement.

Auditors see the contacts assigned to them and their own verdicts only (double reviews are
blind); leads see every contact and verdict, arbitrate disagreements and read the agreement.
Recordings and scans are served to those allowed to see the contact, recordings with HTTP
``Range`` so the player seeks. Every page is French, server-rendered; the little JavaScript
(player, shortcuts) is a vendored file served from here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from sqlmodel import Session, col, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from config.criteria import CriteriaGrid
from config.settings import Settings
from prober.project.database import Database
from prober.results.agreement import Judgement, agreement_csv, by_auditor, by_criterion
from prober.web.review.access import Person, ReviewAccess
from prober.web.review.contact import ContactView, load_contact
from prober.web.review.waveform import WaveformError, peaks, svg_path
from storage.models import Probe, Recording, Reply, Review, ReviewAssignment, Wave
from storage.review_assignments import QueueFilters, blind_pairs, review_queue
from storage.reviews import REVIEW_VERDICTS, add_review

PAGE_SIZE = 50
MAX_COMMENT = 4000
MAX_FORM_BYTES = 64 * 1024
VERDICT_LABELS = {"passed": "Réussi", "failed": "Échoué", "not_applicable": "Non applicable"}
CHANNEL_LABELS = {"phone": "Appel", "email": "Courriel", "letter": "Courrier"}
# Pages hold no inline script or style, load nothing from elsewhere, and post only here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; frame-src 'self'; object-src 'none'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
STATIC_FILES = {"review.js": "text/javascript", "review.css": "text/css"}


class _Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class _WaveRef:
    id: int
    name: str


def templates_environment(extra: Environment | None = None) -> Environment:
    """Jinja2 with the review templates (after the workspace's own, when given)."""
    loaders: list[Any] = [PackageLoader("prober.web.review", "templates")]
    if extra is not None and extra.loader is not None:
        loaders.insert(0, extra.loader)
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(verdict_labels=VERDICT_LABELS, channel_labels=CHANNEL_LABELS)
    env.filters["seconds"] = _clock
    return env


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def review_routes(
    settings: Settings,
    database: Database,
    access: ReviewAccess,
    grid: CriteriaGrid,
    *,
    env: Environment | None = None,
) -> list[Route]:
    """The review pages' routes, under ``/revue``, ``/enregistrements`` and ``/pieces``."""
    templates = env or templates_environment()
    replies_dir = settings.resolve(settings.replies_dir).resolve()
    recordings_dir = settings.resolve(settings.recordings_dir).resolve()
    reviewed = {
        channel: [c.id for c in grid.for_channel(channel) if c.kind == "reviewed"]
        for channel in ("phone", "email", "letter")
    }
    reviewed = {channel: ids for channel, ids in reviewed.items() if ids}
    criterion_titles = {c.id: c.title for c in grid.criteria}

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            request=request, csrf_token=access.csrf_token(request), **context
        )
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP})

    async def signed_in(request: Request) -> Person:
        person = await access.person(request)
        if person is None:
            raise _Denied(401, "Connectez-vous pour voir cette page.")
        if not person.reviews:
            raise _Denied(403, "Votre rôle ne donne pas accès à la revue.")
        return person

    def wave_of(session: Session, name: str, person: Person) -> _WaveRef:
        wave = session.scalars(select(Wave).where(col(Wave.name) == name)).first()
        if wave is None or wave.id is None:
            raise _Denied(404, f"Aucune vague « {name} ».")
        if not person.is_lead:
            mine = session.scalars(
                select(col(ReviewAssignment.id))
                .where(col(ReviewAssignment.wave_id) == wave.id)
                .where(col(ReviewAssignment.auditor) == person.login)
                .limit(1)
            ).first()
            if mine is None:
                raise _Denied(403, f"Aucun contact de la vague « {name} » ne vous est confié.")
        return _WaveRef(wave.id, wave.name)

    def may_see(session: Session, probe_id: uuid.UUID, person: Person) -> bool:
        if person.is_lead:
            return True
        return (
            session.scalars(
                select(col(ReviewAssignment.id))
                .where(col(ReviewAssignment.probe_id) == probe_id)
                .where(col(ReviewAssignment.auditor) == person.login)
            ).first()
            is not None
        )

    def guarded(
        work: Any,
    ) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                response: Response = await work(request)
                return response
            except _Denied as denied:
                if denied.status == 401 and request.method == "GET" and _wants_html(request):
                    return RedirectResponse(access.sign_in_url(request), status_code=303)
                return page(
                    request,
                    "review/denied.html",
                    status=denied.status,
                    message=denied.message,
                    person=None,
                )

        return endpoint

    async def queue(request: Request) -> Response:
        person = await signed_in(request)
        query = request.query_params
        auditor: str | None = person.login
        if person.is_lead:
            auditor = query.get("auditeur") or None
        filters = QueueFilters(
            auditor=auditor,
            channel=query.get("canal", "") if query.get("canal", "") in reviewed else "",
            structure=query.get("structure", "")[:200],
            criterion=query.get("critere", "") if query.get("critere", "") in criterion_titles else "",
            flagged=query.get("signale") == "1",
        )
        try:
            number = max(1, int(query.get("page", "1")))
        except ValueError:
            number = 1

        def read(session: Session) -> tuple[_WaveRef, Any, list[str]]:
            wave = wave_of(session, request.path_params["wave"], person)
            found = review_queue(
                session,
                wave.id,
                filters,
                reviewed_criteria=reviewed,
                limit=PAGE_SIZE,
                offset=(number - 1) * PAGE_SIZE,
            )
            auditors = (
                list(
                    session.scalars(
                        select(col(ReviewAssignment.auditor))
                        .where(col(ReviewAssignment.wave_id) == wave.id)
                        .distinct()
                        .order_by(col(ReviewAssignment.auditor))
                    )
                )
                if person.is_lead
                else []
            )
            return wave, found, auditors

        wave, found, auditors = await database.run(read)
        kept = {k: v for k, v in query.items() if k != "page" and v}
        pages = max(1, -(-found.total // PAGE_SIZE))
        return page(
            request,
            "review/queue.html",
            person=person,
            wave=wave,
            queue=found,
            filters=filters,
            auditors=auditors,
            reviewed=reviewed,
            criterion_titles=criterion_titles,
            number=number,
            pages=pages,
            previous_url=f"?{urlencode({**kept, 'page': number - 1})}" if number > 1 else None,
            next_url=f"?{urlencode({**kept, 'page': number + 1})}" if number < pages else None,
        )

    def contact_id(request: Request) -> uuid.UUID:
        try:
            return uuid.UUID(request.path_params["probe_id"])
        except ValueError:
            raise _Denied(404, "Aucun contact à cette adresse.") from None

    async def contact_page(request: Request, person: Person, message: str = "") -> Response:
        probe_id = contact_id(request)

        def read(session: Session) -> ContactView:
            wave = wave_of(session, request.path_params["wave"], person)
            probe = session.get(Probe, probe_id)
            if probe is None or probe.wave_id != wave.id or not may_see(session, probe_id, person):
                raise _Denied(403, "Ce contact ne vous est pas confié.")
            view = load_contact(
                session,
                probe_id,
                grid,
                viewer=None if person.is_lead else person.login,
                replies_dir=replies_dir,
                time_scale=settings.twilio.time_scale,
            )
            if view is None:
                raise _Denied(404, "Aucun contact à cette adresse.")
            return view

        view = await database.run(read)
        waveform = None
        if view.recording_id is not None:
            waveform = await database.run(
                lambda session: _waveform(session, view.recording_id, recordings_dir)
            )
        mine = {v.criterion_id: v for v in view.verdicts if v.reviewer == person.login}
        return page(
            request,
            "review/contact.html",
            person=person,
            view=view,
            waveform=waveform,
            mine=mine,
            disagreements=_disagreements(view) if person.is_lead else {},
            arbitrations={v.criterion_id: v for v in view.verdicts if v.kind == "arbitration"},
            submission=uuid.uuid4().hex,
            message=message or _saved_message(request),
            assigned=any(login == person.login for login, _ in view.auditors),
        )

    async def contact(request: Request) -> Response:
        return await contact_page(request, await signed_in(request))

    async def save(request: Request) -> Response:
        person = await signed_in(request)
        probe_id = contact_id(request)
        form = await _bounded_form(request)
        if not access.csrf_valid(request, str(form.get("csrf_token", ""))):
            raise _Denied(403, "Formulaire expiré ou falsifié : rechargez la page et recommencez.")
        arbitration = request.url.path.endswith("/arbitrage")
        if arbitration and not person.is_lead:
            raise _Denied(403, "Seul un responsable peut arbitrer.")
        submission = str(form.get("submission", ""))[:64] or None
        comment = str(form.get("comment", ""))[:MAX_COMMENT]

        def write(session: Session) -> list[str]:
            wave = wave_of(session, request.path_params["wave"], person)
            probe = session.get(Probe, probe_id)
            if probe is None or probe.wave_id != wave.id:
                raise _Denied(404, "Aucun contact à cette adresse.")
            assigned = (
                session.scalars(
                    select(col(ReviewAssignment.id))
                    .where(col(ReviewAssignment.probe_id) == probe_id)
                    .where(col(ReviewAssignment.auditor) == person.login)
                ).first()
                is not None
            )
            if not arbitration and not assigned:
                raise _Denied(403, "Ce contact ne vous est pas confié.")
            recorded = []
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
                    reviewer=person.login,
                    verdict=verdict,
                    comment=comment,
                    kind="arbitration" if arbitration else "review",
                    submission=submission,
                )
                recorded.append(f"{criterion_id}={verdict}")
            return recorded

        recorded = await database.run(write)
        if recorded:
            action = "review.arbitrate" if arbitration else "review.save"
            await access.audit(
                request, person, action, f"probe {probe_id}: {', '.join(recorded)}"
            )
        target = request.url.path.removesuffix("/arbitrage")
        return RedirectResponse(f"{target}?enregistre={len(recorded)}", status_code=303)

    async def agreement(request: Request) -> Response:
        person = await signed_in(request)
        if not person.is_lead:
            raise _Denied(403, "L'accord entre auditeurs est réservé aux responsables.")

        def read(session: Session) -> tuple[_WaveRef, list[Judgement]]:
            wave = wave_of(session, request.path_params["wave"], person)
            pairs = blind_pairs(session, wave.id)
            return wave, [
                Judgement(
                    p.criterion_id,
                    p.first_auditor,
                    p.first_verdict,
                    p.second_auditor,
                    p.second_verdict,
                )
                for p in pairs
            ]

        wave, judgements = await database.run(read)
        criteria = by_criterion(judgements)
        auditors = by_auditor(
            judgements,
            threshold=settings.review.agreement_threshold,
            min_pairs=settings.review.agreement_min_pairs,
        )
        if request.url.path.endswith(".csv"):
            return Response(
                agreement_csv(criteria, auditors),
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="accord-{wave.id}.csv"',
                },
            )
        return page(
            request,
            "review/agreement.html",
            person=person,
            wave=wave,
            criteria=criteria,
            auditors=auditors,
            criterion_titles=criterion_titles,
            threshold=settings.review.agreement_threshold,
            min_pairs=settings.review.agreement_min_pairs,
        )

    async def recording(request: Request) -> Response:
        person = await access.person(request)
        if person is None:
            return PlainTextResponse("sign in first", status_code=401)
        try:
            recording_id = int(request.path_params["recording_id"])
        except ValueError:
            return PlainTextResponse("no such recording", status_code=404)

        def read(session: Session) -> tuple[Path, str] | None:
            found = session.get(Recording, recording_id)
            if found is None or found.media_path is None:
                return None
            if not person.reviews or not may_see(session, found.probe_id, person):
                raise _Denied(403, "forbidden")
            return Path(found.media_path), found.content_type

        try:
            found = await database.run(read)
        except _Denied:
            return PlainTextResponse("this recording is not yours to hear", status_code=403)
        if found is None or not _inside(found[0], recordings_dir):
            return PlainTextResponse("no such recording", status_code=404)
        return FileResponse(found[0], media_type=found[1], headers={"Cache-Control": "private"})

    async def scan(request: Request) -> Response:
        person = await access.person(request)
        if person is None:
            return PlainTextResponse("sign in first", status_code=401)
        try:
            reply_id = int(request.path_params["reply_id"])
        except ValueError:
            return PlainTextResponse("no such document", status_code=404)

        def read(session: Session) -> Path | None:
            found = session.get(Reply, reply_id)
            if found is None or found.raw_path is None or found.probe_id is None:
                return None
            if found.channel != "letter":
                return None
            if not person.reviews or not may_see(session, found.probe_id, person):
                raise _Denied(403, "forbidden")
            return Path(found.raw_path)

        try:
            path = await database.run(read)
        except _Denied:
            return PlainTextResponse("this document is not yours to read", status_code=403)
        if path is None or not _inside(path, replies_dir):
            return PlainTextResponse("no such document", status_code=404)
        media = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg"}
        return FileResponse(
            path,
            media_type=media.get(path.suffix.lower(), "application/octet-stream"),
            headers={"Content-Security-Policy": "sandbox", "Cache-Control": "private"},
        )

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return PlainTextResponse("not found", status_code=404)
        text = resources.files("prober.web.review").joinpath("static", name).read_text("utf-8")
        return Response(text, media_type=STATIC_FILES[name])

    return [
        Route("/revue/static/{name}", static, methods=["GET"]),
        Route("/revue/{wave}", guarded(queue), methods=["GET"]),
        Route("/revue/{wave}/accord", guarded(agreement), methods=["GET"]),
        Route("/revue/{wave}/accord.csv", guarded(agreement), methods=["GET"]),
        Route("/revue/{wave}/contacts/{probe_id}", guarded(contact), methods=["GET"]),
        Route("/revue/{wave}/contacts/{probe_id}", guarded(save), methods=["POST"]),
        Route("/revue/{wave}/contacts/{probe_id}/arbitrage", guarded(save), methods=["POST"]),
        Route("/enregistrements/{recording_id}", recording, methods=["GET"]),
        Route("/pieces/{reply_id}", scan, methods=["GET"]),
    ]


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


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
    """Per criterion, each assigned auditor's latest verdict, where they differ."""
    logins = {login for login, double in view.auditors if double}
    latest: dict[str, dict[str, str]] = {}
    for verdict in view.verdicts:
        if verdict.kind == "review" and verdict.reviewer in logins:
            latest.setdefault(verdict.criterion_id, {})[verdict.reviewer] = verdict.verdict
    return {c: v for c, v in latest.items() if len(set(v.values())) > 1}


def _waveform(session: Session, recording_id: int | None, folder: Path) -> dict[str, Any] | None:
    found = session.get(Recording, recording_id)
    if found is None or found.media_path is None:
        return None
    path = Path(found.media_path)
    if not _inside(path, folder):
        return None
    try:
        levels = peaks(path)
    except WaveformError:
        return None
    return {"path": svg_path(levels), "width": len(levels), "height": 80}


async def _bounded_form(request: Request) -> FormData:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise _Denied(413, "Formulaire trop volumineux.")
    return await request.form(max_files=0, max_fields=100)
