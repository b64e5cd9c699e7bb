"""Enrolment rules on both backends: unknown SIRET, a second enrolment, the closing date, the
free places (first-time participants first), expired and tampered links, the participants
panel, publication."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from config.settings import EnrolmentSettings, Settings
from prober.web.enrolment.service import (
    EnrolmentRefused,
    accept,
    confirm,
    parse_enrolment,
    publish,
    refuse,
    register,
    set_password,
)
from prober.web.passwords import verify_password
from scheduler.waves import parse_panel
from storage.accounts import find_account
from storage.db import make_engine, session_scope
from storage.models import ParticipantStatus, ParticipantToken
from storage.participants import accepted_structure_ids, participant_offer, participant_sites
from storage.publication import wave_published_at
from storage.structures import list_structures
from tests.support.pg_locks import commit_once_blocked
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def settings(**enrolment: object) -> Settings:
    return Settings(enrolment=EnrolmentSettings.model_validate(enrolment))


def form(siret: str, email: str = "dgs@mairie.test", **more: str) -> dict[str, str]:
    return {
        "siret": siret,
        "offre": "free",
        "contact_name": "Claire Martin",
        "contact_email": email,
        "postal_address": "1 place de la Mairie, 77590 Bois-le-Roi",
        "conditions": "oui",
        **more,
    }


@pytest.fixture
def structures(engine: Engine) -> dict[str, int]:
    """Four structures; the last one was probed in an earlier wave (not a first-timer)."""
    with session_scope(engine) as session:
        ids = {
            siret: add_structure(session, siret, name=f"Mairie {siret[-3:]}")
            for siret in ("21770001800011", "21750056000015", "21690123000014", "21130055000012")
        }
        wave = add_wave(
            session, "automne-2025", starts_on=date(2025, 10, 1), ends_on=date(2025, 10, 31),
            channels=["phone"],
        )  # fmt: skip
        add_persona(session, "p")
        add_scenario(session, "s", "phone")
        session.flush()
        add_probe(
            session, wave_id=wave, structure_id=ids["21130055000012"], channel="phone",
            scenario_id="s", persona_id="p", scheduled_at=datetime(2025, 10, 2, 9, tzinfo=UTC),
        )  # fmt: skip
    return ids


def enrol_confirmed(engine: Engine, config: Settings, siret: str, **more: str) -> int:
    with session_scope(engine) as session:
        registered = register(session, config, parse_enrolment(form(siret, **more)))
    with session_scope(engine) as session:
        confirm(session, registered.token)
    return registered.participant.id


def test_unknown_siret_and_bad_input_are_told_in_french(
    engine: Engine, structures: dict[str, int]
) -> None:
    config = settings()
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused) as refused:
        register(session, config, parse_enrolment(form("99999999999999")))
    assert "Le SIRET 99999999999999 est inconnu de l'annuaire du baromètre" in str(refused.value)
    assert refused.value.field == "siret"
    with pytest.raises(EnrolmentRefused, match="n'est pas un SIRET : il faut 14 chiffres"):
        parse_enrolment(form("2177"))
    with pytest.raises(EnrolmentRefused, match="Acceptez les conditions"):
        parse_enrolment(form("21770001800011", conditions=""))
    with pytest.raises(EnrolmentRefused, match="n'est pas une adresse électronique"):
        parse_enrolment(form("21770001800011", email="pas-une-adresse"))
    # A structure missing from the directory may enrol as new, with its name; an operator
    # imports it before it can be accepted.
    with session_scope(engine) as session:
        new = register(
            session,
            config,
            parse_enrolment(form("99999999999999", nouvelle="oui", declared_name="CCAS Exemple")),
        )
    assert new.participant.structure_id is None and new.participant.name == "CCAS Exemple"
    with session_scope(engine) as session:
        confirm(session, new.token)
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused) as refused:
        accept(session, config, new.participant.id, by="op")
    assert "n'est pas dans l'annuaire : importez-la" in str(refused.value)


def test_a_second_enrolment_of_a_structure_is_refused(
    engine: Engine, structures: dict[str, int]
) -> None:
    config = settings()
    enrol_confirmed(engine, config, "21770001800011")
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused) as refused:
        register(session, config, parse_enrolment(form("217 700 018 00011", email="x@y.test")))
    assert str(refused.value).startswith("La structure 21770001800011 est déjà inscrite")
    # Also as a site of an organisation.
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused) as refused:
        register(
            session,
            config,
            parse_enrolment(form("21750056000015", organisation="Ville", sites="21770001800011")),
        )
    assert "21770001800011 est déjà inscrite" in str(refused.value)


def test_enrolment_closes_after_its_date(engine: Engine, structures: dict[str, int]) -> None:
    config = settings(closes_on=date(2026, 12, 3))
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused) as refused:
        register(session, config, parse_enrolment(form("21770001800011")), now=NOW)
    assert str(refused.value).startswith("Les inscriptions sont closes depuis le 03/12/2026")
    # The closing day itself is still open (in Paris: 23:30 UTC on the 3rd is the 4th there).
    with session_scope(engine) as session:
        register(
            session,
            config,
            parse_enrolment(form("21770001800011")),
            now=datetime(2026, 12, 3, 22, 59, tzinfo=UTC),
        )
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused, match="closes"):
        register(
            session,
            config,
            parse_enrolment(form("21750056000015")),
            now=datetime(2026, 12, 3, 23, 30, tzinfo=UTC),
        )


def test_free_places_go_to_first_time_participants_first(
    engine: Engine, structures: dict[str, int]
) -> None:
    config = settings(free_places=2)
    veteran = enrol_confirmed(engine, config, "21130055000012")  # confirmed first, probed before
    first = enrol_confirmed(engine, config, "21770001800011")
    second = enrol_confirmed(engine, config, "21750056000015")
    late = enrol_confirmed(engine, config, "21690123000014")
    # The veteran, although first to confirm, ranks after the first-timers: outside the places.
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused) as refused:
        accept(session, config, veteran, by="op")
    message = str(refused.value)
    assert message.startswith("Places gratuites épuisées : Rang 4 pour 2 places gratuites")
    assert "a déjà participé au baromètre" in message
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused) as refused:
        accept(session, config, late, by="op")
    assert "Rang 3 pour 2 places gratuites (première participation" in str(refused.value)
    with session_scope(engine) as session:
        accepted = accept(session, config, first, by="op")
        assert "Rang 1 pour 2 places gratuites" in accepted.ranking
        accept(session, config, second, by="op")
    # Refusing the late one tells it its rank.
    with session_scope(engine) as session:
        refused_one = refuse(session, config, late, by="op", reason="Places épuisées.")
    assert refused_one.explanation.startswith("Places épuisées. Rang 3 pour 2 places gratuites")
    with Session(engine) as session:
        assert accepted_structure_ids(session) == sorted(
            [structures["21770001800011"], structures["21750056000015"]]
        )
        assert participant_offer(session, structures["21770001800011"]) is not None
        assert participant_offer(session, structures["21690123000014"]) is None


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_two_operators_accepting_at_once_never_exceed_the_free_places(
    engine: Engine, database_url: str, structures: dict[str, int]
) -> None:
    """One free place. Operator A accepts the only confirmed enrolment and has not committed
    when a first-timer confirms and operator B accepts it: ranked against A's uncommitted
    acceptance, B would take a second place. B must wait for A's commit, then be refused."""
    config = settings(free_places=1)
    veteran = enrol_confirmed(engine, config, "21130055000012")
    engine_b = make_engine(database_url)
    try:
        with Session(engine) as a:
            assert accept(a, config, veteran, by="op-a").participant.status is (
                ParticipantStatus.ACCEPTED
            )
            newcomer = enrol_confirmed(engine, config, "21770001800011", email="ccas@bois.test")
            with Session(engine_b) as b:
                b_pid = b.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
                outcome: list[object] = []

                def accept_b() -> None:
                    try:
                        outcome.append(accept(b, config, newcomer, by="op-b"))
                        b.commit()
                    except Exception as error:  # any outcome is checked below
                        outcome.append(error)
                        b.rollback()

                accepting = threading.Thread(target=accept_b)
                accepting.start()
                commit_once_blocked(engine, a, accepting, b_pid, "B's acceptance")
    finally:
        engine_b.dispose()
    assert len(outcome) == 1 and isinstance(outcome[0], EnrolmentRefused), outcome
    assert str(outcome[0]).startswith("Places gratuites épuisées : Rang 2 pour 1 place gratuite")
    with Session(engine) as session:
        assert accepted_structure_ids(session) == [structures["21130055000012"]]


def test_confirmation_links_expire_and_cannot_be_forged(
    engine: Engine, structures: dict[str, int]
) -> None:
    config = settings()
    with session_scope(engine) as session:
        registered = register(session, config, parse_enrolment(form("21770001800011")))
    tampered = registered.token[:-1] + ("A" if registered.token[-1] != "A" else "B")
    for token in (tampered, "", "../../etc", registered.token + "x"):
        with session_scope(engine) as session, pytest.raises(EnrolmentRefused) as refused:
            confirm(session, token)
        assert str(refused.value).startswith("Ce lien de confirmation n'est pas valide")
    with session_scope(engine) as session:
        session.execute(
            update(ParticipantToken).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused) as refused:
        confirm(session, registered.token)
    assert str(refused.value).startswith("Ce lien de confirmation a expiré")
    # The lapsed enrolment does not block enrolling again; the new link works once.
    with session_scope(engine) as session:
        again = register(session, config, parse_enrolment(form("21770001800011")))
    with session_scope(engine) as session:
        assert confirm(session, again.token).status is ParticipantStatus.CONFIRMED
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused, match="déjà servi"):
        confirm(session, again.token)
    with Session(engine) as session:
        hashes = session.exec(select(ParticipantToken.sha256)).all()
    assert again.token not in hashes and all(len(h) == 64 for h in hashes)


def test_acceptance_invites_an_organisation_account_to_its_sites(
    engine: Engine, structures: dict[str, int]
) -> None:
    config = settings()
    participant = enrol_confirmed(
        engine,
        config,
        "21770001800011",
        organisation="Communauté Exemple",
        sites="21750056000015\n21690123000014",
        offre="detailed",
    )
    with session_scope(engine) as session:
        accepted = accept(session, config, participant, by="op")
    assert accepted.login == "dgs@mairie.test"
    with session_scope(engine) as session:
        account = find_account(session, accepted.login)
        assert account is not None and account.organisation == "Communauté Exemple"
        assert sorted(participant_sites(session, account.id)) == sorted(
            structures[s] for s in ("21770001800011", "21750056000015", "21690123000014")
        )
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused, match="trop court"):
        set_password(session, accepted.token, "court")
    with session_scope(engine) as session:
        assert (
            set_password(session, accepted.token, "un mot de passe assez long") == "dgs@mairie.test"
        )
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused, match="déjà servi"):
        set_password(session, accepted.token, "un autre mot de passe long")
    with Session(engine) as session:
        account = find_account(session, accepted.login)
        assert account is not None
        assert verify_password(account.password_hash, "un mot de passe assez long")
        # `--panel participants`: the three sites, not the fourth structure.
        panel = parse_panel(["participants"])
        assert sorted(s.official_id for s in list_structures(session, panel)) == sorted(
            ["21770001800011", "21750056000015", "21690123000014"]
        )


def test_publication_notifies_the_participants_probed(
    engine: Engine, structures: dict[str, int]
) -> None:
    config = settings()
    participant = enrol_confirmed(engine, config, "21130055000012")
    bystander = enrol_confirmed(engine, config, "21770001800011", email="autre@mairie.test")
    with session_scope(engine) as session:
        accept(session, config, participant, by="op")
        accept(session, config, bystander, by="op")
    with Session(engine) as session:
        assert wave_published_at(session, "automne-2025") is None
    with session_scope(engine) as session:
        notices = publish(session, "automne-2025", by="op")
    assert [n.participant.official_id for n in notices] == ["21130055000012"]
    with Session(engine) as session:
        assert wave_published_at(session, "automne-2025") is not None
    with session_scope(engine) as session, pytest.raises(EnrolmentRefused, match="déjà publiés"):
        publish(session, "automne-2025", by="op")
