"""A project served by the workspace app on loopback, for the browser tests: structures
imported, a wave planned and scored (answered calls recorded), and accounts made on demand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import Settings, load_settings
from prober.project.database import Database
from prober.web.passwords import generate_password, hash_password
from prober.web.workspace import create_workspace_app
from storage.accounts import add_account
from storage.db import make_engine, session_scope
from storage.models import Recording, Role, Structure
from tests.support.cli import SAMPLES, Run
from tests.support.loopback import serve
from tests.support.results_scene import email, latency, write_attempts

WAVE = "printemps"
EMAILS = [
    email("replied", first_acknowledgement=latency(600, 0), first_human_reply=latency(86400, 1)),
    email("sent"),
]


@dataclass
class Site:
    """The served workspace: its base URL, its database, its settings."""

    url: str
    engine: Engine
    settings: Settings
    passwords: dict[str, str] = field(default_factory=dict)

    def add_user(
        self,
        login: str,
        role: Role,
        *,
        structure: str | None = None,
        organisation: str = "",
    ) -> str:
        """Create an account with a fresh password; the password."""
        password = generate_password()
        with session_scope(self.engine) as session:
            add_account(
                session,
                login=login,
                role=role,
                password_hash=hash_password(password),
                structure=structure,
                organisation=organisation,
            )
        self.passwords[login] = password
        return password

    def structures(self) -> list[str]:
        """The official ids of the structures, in id order."""
        with Session(self.engine) as session:
            return list(
                session.exec(select(Structure.official_id).order_by(col(Structure.id))).all()
            )

    def recordings(self) -> list[int]:
        """The ids of the downloaded recordings."""
        with Session(self.engine) as session:
            rows = session.exec(select(Recording.id).where(col(Recording.media_path).is_not(None)))
            return [row for row in rows if row is not None]


def build_project(prober_cli: Run, database_url: str, folder: Path) -> None:
    """``prober init``, the sample structures, wave ``printemps`` planned and scored."""
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    created = prober_cli(
        "wave", "create", WAVE, "--start", "2026-05-04", "--end", "2026-05-29",
        "--channels", "phone,email",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert prober_cli("wave", "plan", WAVE, "--seed", "3").exit_code == 0
    engine = make_engine(database_url)
    try:
        write_attempts(engine, WAVE, 0, EMAILS, recordings_dir=folder / "recordings")
    finally:
        engine.dispose()
    scored = prober_cli("score", WAVE)
    assert scored.exit_code == 0, scored.stderr


@contextmanager
def served_workspace() -> Iterator[Site]:
    """The current folder's project served by the workspace app until the block ends."""
    settings = load_settings()
    database = Database(make_engine(settings.effective_database_url))
    try:
        with serve(create_workspace_app(settings, database), lifespan="off") as url:
            yield Site(url, database.engine, settings)
    finally:
        database.close()
        database.engine.dispose()
