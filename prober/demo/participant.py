"""The demo's participant: one structure enrolled for the detailed report, accepted, given a
structure account, its wave published and the recommendations reviewed, so that its own
account shows its confidential results in the workspace."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from rich.console import Console
from sqlmodel import col, select

from prober.project import Project
from prober.web.passwords import generate_password, hash_password
from prober.web.results_pages import REVIEWED, results_url
from storage.accounts import add_account
from storage.audit import append_audit
from storage.models import Offer, Role, Score, Structure, Wave
from storage.participants import Enrolment, add_token, decide, enrol, use_token
from storage.publication import publish_wave
from storage.types import utcnow

DEMO_STRUCTURE_LOGIN = "demo-structure"
DEMO_OPERATOR = "demo"


def open_structure_results(project: Project, wave_name: str, console: Console) -> str:
    """Enrol, accept and publish to the scored structure of ``wave_name`` with the smallest
    official id; print how to open its results; its official id."""
    password = generate_password()
    with project.session() as session:
        wave = session.exec(select(Wave).where(col(Wave.name) == wave_name)).one()
        structure = session.exec(
            select(Structure)
            .join(Score, col(Score.structure_id) == col(Structure.id))
            .where(col(Score.wave_id) == wave.id)
            .order_by(col(Structure.official_id))
        ).first()
        assert structure is not None  # noqa: S101 - the wave was scored
        official_id = structure.official_id
        account = add_account(
            session,
            login=DEMO_STRUCTURE_LOGIN,
            role=Role.STRUCTURE,
            password_hash=hash_password(password),
            structure=official_id,
        )
        stored = enrol(
            session,
            Enrolment(
                official_id=official_id,
                offer=Offer.DETAILED,
                contact_name="Contact de démonstration",
                contact_email="contact@demo.invalid",
                terms_accepted=True,
            ),
        )
        token = secrets.token_urlsafe(24)
        sha256 = hashlib.sha256(token.encode()).hexdigest()
        add_token(session, stored.id, purpose="confirm", sha256=sha256,
                  expires_at=utcnow() + timedelta(days=1))  # fmt: skip
        use_token(session, purpose="confirm", sha256=sha256)
        decide(session, stored.id, accept=True, by=DEMO_OPERATOR, account_id=account.id)
        append_audit(session, actor=DEMO_OPERATOR, action=REVIEWED, target=wave_name)
        publish_wave(session, wave_name, by=DEMO_OPERATOR)
        name = structure.name
    listener = project.settings.workspace
    console.print(
        f"Résultats confidentiels de « {name} » (offre détaillée, vague publiée,"
        f" recommandations relues) : avec `prober workspace` lancé, ouvrez"
        f" http://{listener.host}:{listener.port}{results_url(wave_name, official_id)} et"
        f" connectez-vous : identifiant {DEMO_STRUCTURE_LOGIN}, mot de passe {password}"
        " (affiché une seule fois).",
        highlight=False,
    )
    return official_id
