"""Call recordings over HTTP, to signed-in staff only, with ``Range`` so that players can seek.

``GET /enregistrements/{id}`` answers 401 without a session, 403 to a structure account (and to
whatever ``may_hear`` refuses), 404 for an unknown recording or one not downloaded yet. Only files
under ``recordings_dir`` are served, whatever the database says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from prober.web.auth import User
from prober.web.pages import Pages
from storage.errors import NotFoundError
from storage.models import Recording, Role
from storage.recordings import get_recording

RECORDING_PATH = "/enregistrements/{recording_id:int}"
LISTENERS = (Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.LEAD)
# Whether a user may hear a recording (beyond their role): the review pages narrow it.
MayHear = Callable[[Session, User, Recording], bool]


def recording_url(recording_id: int) -> str:
    return RECORDING_PATH.replace("{recording_id:int}", str(recording_id))


def _file(media_path: str, recordings_dir: Path) -> Path | None:
    """The recording's file if it exists under ``recordings_dir``; a relative path is taken from
    the current folder (as the phone channel writes it), else from ``recordings_dir``."""
    path = Path(media_path)
    if not path.is_absolute() and not path.exists():
        path = recordings_dir / path
    inside = path.resolve().is_relative_to(recordings_dir.resolve())
    return path if inside and path.is_file() else None


def recording_routes(
    pages: Pages, recordings_dir: Path, may_hear: MayHear | None = None
) -> list[Route]:
    """The recording route, for staff roles that ``may_hear`` (everyone of them by default)."""
    database = pages.auth.database

    @pages.resource(*LISTENERS)
    async def recording(request: Request, user: User) -> Response:
        recording_id: int = request.path_params["recording_id"]

        def find(session: Session) -> tuple[bool, str | None, str]:
            try:
                found = get_recording(session, recording_id)
            except NotFoundError:
                return True, None, ""
            allowed = may_hear is None or may_hear(session, user, found)
            return allowed, found.media_path, found.content_type

        allowed, media_path, content_type = await database.run(find)
        if not allowed:
            return PlainTextResponse("enregistrement non ouvert à ce compte", status_code=403)
        if media_path is None:
            return PlainTextResponse("enregistrement inconnu ou pas encore téléchargé", 404)
        path = await asyncio.to_thread(_file, media_path, recordings_dir)
        if path is None:
            return PlainTextResponse("fichier de l'enregistrement introuvable", 404)
        return FileResponse(
            path, media_type=content_type, headers={"Cache-Control": "private, no-store"}
        )

    return [Route(RECORDING_PATH, recording, methods=["GET"])]
