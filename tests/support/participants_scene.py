"""Accepted participants with their structure accounts, straight through storage (the
enrolment pages have their own tests), and a wave published to them."""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.accounts import find_account
from storage.db import session_scope
from storage.models import Offer, Participant, ParticipantStatus, Role
from storage.participants import Enrolment, decide, enrol
from storage.publication import publish_wave
from tests.support.workspace_site import Site


def accept_participant(
    site: Site, login: str, official_id: str, offer: Offer, *, sites: tuple[str, ...] = (),
    organisation: str = "",
) -> str:  # fmt: skip
    """Enrol ``official_id`` (and ``sites``), confirm, accept it with a structure account
    ``login``; the account's password."""
    password = site.add_user(login, Role.STRUCTURE, structure=official_id,
                             organisation=organisation)  # fmt: skip
    with session_scope(site.engine) as session:
        stored = enrol(
            session,
            Enrolment(
                official_id=official_id, offer=offer, contact_name="Camille Test",
                contact_email=f"{login}@example.org", terms_accepted=True,
                organisation=organisation, sites=sites,
            ),
        )  # fmt: skip
        row = session.get(Participant, stored.id)
        assert row is not None
        row.status = ParticipantStatus.CONFIRMED.value
        session.add(row)
        session.flush()
        account = find_account(session, login)
        assert account is not None
        decide(session, stored.id, accept=True, by="test", account_id=account.id)
    return password


def publish(site: Site, wave: str) -> None:
    with session_scope(site.engine) as session:
        publish_wave(session, wave, by="test")


def structure_names(site: Site) -> dict[str, str]:
    from storage.models import Structure

    with Session(site.engine) as session:
        rows = session.exec(
            select(Structure.official_id, Structure.name).order_by(col(Structure.id))
        )
        return dict(rows.all())
