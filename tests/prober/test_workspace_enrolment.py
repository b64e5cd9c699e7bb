"""Enrolment in a real browser, emails through a real SMTP server read back over IMAP: a
structure enrols, confirms its address, is accepted by an operator, sets its password, sees
nothing before the wave is published and its results after; axe-core on every page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, expect
from sqlmodel import Session, col, select

from prober.web.enrolment.service import confirm, parse_enrolment, register
from sandbox.mail import Dovecot
from storage.db import session_scope
from storage.models import AuditEntry, Role, Score, Structure
from tests.support.browser import assert_accessible, new_page, sign_in
from tests.support.cli import Run
from tests.support.mailservers import (
    MailAccount,
    SmtpServer,
    new_account,
    wait_for_messages,
)
from tests.support.workspace_site import WAVE, Site, build_project, served_workspace

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

LINK = re.compile(r"https?://\S+")


@pytest.fixture
def enrol_site(
    prober_cli: Run,
    database_url: str,
    mail_delivery: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Site]:
    """The workspace of ``site``, sending its emails through the test's SMTP server."""
    monkeypatch.setenv("PROBER_SMTP__HOST", mail_delivery.host)
    monkeypatch.setenv("PROBER_SMTP__PORT", str(mail_delivery.port))
    monkeypatch.setenv("PROBER_ENROLMENT__FROM_ADDRESS", "barometre@probes.test")
    monkeypatch.setenv("PROBER_ENROLMENT__FREE_PLACES", "5")
    build_project(prober_cli, database_url, Path.cwd())
    with served_workspace() as served:
        yield served


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def path_of(text: str) -> str:
    """The path and query of the one link in an email (the site's port is chosen late)."""
    links = LINK.findall(text)
    assert len(links) == 1, text
    parts = urlsplit(links[0])
    return f"{parts.path}?{parts.query}"


async def mail_number(account: MailAccount, count: int) -> EmailMessage:
    messages = await wait_for_messages(account, count)
    return messages[count - 1].message


async def fill_enrolment(page: Page, url: str, siret: str, contact: str) -> None:
    await page.goto(f"{url}/inscription")
    await page.get_by_label("SIRET", exact=True).fill(siret)
    await page.get_by_label("Adresse postale").fill("1 place de la Mairie, 77590 Bois-le-Roi")
    await page.get_by_label("Nom et prénom").fill("Claire Martin")
    await page.get_by_label("Adresse électronique").fill(contact)
    await page.get_by_label("Gratuite").check()
    await page.get_by_label("J'accepte les conditions de participation").check()
    await page.get_by_role("button", name="S'inscrire").click()


async def enrol_and_confirm(page: Page, site: Site, scored: str, contact: MailAccount) -> None:
    """The form (an unknown SIRET first), the confirmation email, a tampered link, the link."""
    # The public form, in French, accessible; an unknown SIRET is refused with its reason.
    await page.goto(f"{site.url}/inscription")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Inscription au baromètre")
    await assert_accessible(page)
    await fill_enrolment(page, site.url, "99999999999999", contact.address)
    await expect(page.get_by_role("alert")).to_contain_text(
        "Le SIRET 99999999999999 est inconnu de l'annuaire du baromètre"
    )
    await expect(page.get_by_label("SIRET", exact=True)).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page)

    await fill_enrolment(page, site.url, scored, contact.address)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre messagerie")
    await expect(page.get_by_role("status")).to_contain_text(contact.address)
    await assert_accessible(page)

    # The confirmation email, read over IMAP; a tampered token is refused, the real one works.
    confirmation = await mail_number(contact, 1)
    assert confirmation["Subject"] == "Baromètre : confirmez votre adresse électronique"
    confirm_path = path_of(body(confirmation))
    assert confirm_path.startswith("/inscription/confirmer?jeton=")
    tampered = confirm_path[:-2] + ("xy" if not confirm_path.endswith("xy") else "zz")
    await page.goto(site.url + tampered)
    await expect(page.get_by_role("alert")).to_have_text(
        "Ce lien de confirmation n'est pas valide : il a pu être tronqué ou modifié. "
        "Copiez l'adresse complète reçue par courriel."
    )
    await assert_accessible(page)
    await page.goto(site.url + confirm_path)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Adresse confirmée")
    await expect(page.get_by_text("L'offre gratuite compte 5 places")).to_be_visible()
    await assert_accessible(page)


async def test_a_structure_enrols_and_sees_its_results_once_published(
    enrol_site: Site, browser: Browser, dovecot: Dovecot
) -> None:
    site = enrol_site
    with Session(site.engine) as session:
        scored = session.exec(
            select(Structure.official_id)
            .join(Score, col(Score.structure_id) == col(Structure.id))
            .order_by(col(Structure.official_id))
        ).first()
    assert scored is not None
    contact = new_account(dovecot, "dgs")
    _, page = await new_page(browser)

    await enrol_and_confirm(page, site, scored, contact)

    # Enrolling the same structure again is refused.
    await fill_enrolment(page, site.url, scored, "autre@probes.test")
    await expect(page.get_by_role("alert")).to_contain_text(
        f"La structure {scored} est déjà inscrite au baromètre"
    )

    # An operator sees the ranking and accepts.
    operator_password = site.add_user("ops", Role.OPERATOR)
    _, operator = await new_page(browser)
    await sign_in(operator, site.url, "ops", operator_password)
    await operator.get_by_role("link", name="Participants").click()
    await expect(operator.get_by_role("heading", level=1)).to_have_text("Participants")
    row = operator.get_by_role("row").filter(has_text=scored)
    await expect(row).to_contain_text("Rang 1 pour 5 places gratuites")
    await expect(row).to_contain_text("confirmée")
    await assert_accessible(operator)
    await operator.get_by_role("button", name="Accepter l'inscription 1").click()
    await expect(row).to_contain_text("acceptée")

    # The invitation: set the password once, then sign in.
    invitation = await mail_number(contact, 2)
    assert invitation["Subject"] == "Baromètre : votre inscription est acceptée"
    assert f"Votre compte sur l'espace du baromètre : {contact.address.lower()}" in body(invitation)
    await page.goto(site.url + path_of(body(invitation)))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Choisir votre mot de passe")
    await assert_accessible(page)
    await page.get_by_label("Mot de passe (12 caractères au moins)").fill("un mot de passe sûr")
    await page.get_by_role("button", name="Enregistrer le mot de passe").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mot de passe enregistré")
    await assert_accessible(page)
    await page.goto(site.url + path_of(body(invitation)))
    await expect(page.get_by_role("alert")).to_contain_text("Ce lien d'invitation a déjà servi")

    await sign_in(page, site.url, contact.address.lower(), "un mot de passe sûr")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Vos résultats")
    await expect(
        page.get_by_text(re.compile(r"^Aucun résultat publié pour .+ pour l'instant\.$"))
    ).to_be_visible()
    await expect(page.get_by_role("rowheader", name=WAVE)).to_have_count(0)
    await assert_accessible(page)
    # The operators' page is not theirs.
    await page.goto(f"{site.url}/participants")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")

    # Publication: the button, the email (free-offer template), then the results.
    await operator.goto(f"{site.url}/participants")
    await operator.get_by_role("button", name=f"Publier les résultats de la vague {WAVE}").click()
    await expect(operator.get_by_role("status")).to_have_text(
        f"Résultats de la vague {WAVE} publiés ; 1 participant(s) prévenu(s) par courriel."
    )
    published = await mail_number(contact, 3)
    assert published["Subject"] == f"Baromètre : vos résultats de la vague {WAVE} sont publiés"
    assert "Vos résultats synthétiques" in body(published)
    await page.goto(f"{site.url}/")
    await expect(page.get_by_role("rowheader", name=WAVE).first).to_be_visible()
    await expect(page.get_by_text("Aucun résultat publié")).to_have_count(0)
    await assert_accessible(page)

    with Session(site.engine) as session:
        actions = [
            (row.actor, row.action, row.target)
            for row in session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
            if row.action.startswith(("participant_", "wave_"))
        ]
    assert actions == [("ops", "participant_accepted", "1"), ("ops", "wave_published", WAVE)]


@pytest.fixture
def closed_site(
    prober_cli: Run,
    database_url: str,
    mail_delivery: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Site]:
    """The workspace with enrolment closed since 2020 and no free place."""
    monkeypatch.setenv("PROBER_SMTP__HOST", mail_delivery.host)
    monkeypatch.setenv("PROBER_SMTP__PORT", str(mail_delivery.port))
    monkeypatch.setenv("PROBER_ENROLMENT__CLOSES_ON", "2020-01-01")
    monkeypatch.setenv("PROBER_ENROLMENT__FREE_PLACES", "0")
    build_project(prober_cli, database_url, Path.cwd())
    with served_workspace() as served:
        yield served


def enrolled_before_closing(site: Site, fields: dict[str, str]) -> int:
    with session_scope(site.engine) as session:
        registered = register(
            session,
            site.settings,
            parse_enrolment(fields),
            now=datetime(2019, 12, 31, 12, tzinfo=UTC),
        )
    with session_scope(site.engine) as session:
        confirm(session, registered.token)
    return registered.participant.id


async def test_closed_enrolment_free_places_and_an_organisation_s_sites(
    closed_site: Site, browser: Browser, dovecot: Dovecot
) -> None:
    site = closed_site
    siret = site.structures()
    _, page = await new_page(browser)
    await page.goto(f"{site.url}/inscription")
    await expect(page.get_by_role("alert")).to_have_text(
        "Les inscriptions sont closes depuis le 01/01/2020 : elles ne sont plus acceptées pour "
        "ce baromètre. Écrivez à l'équipe du baromètre pour la prochaine édition."
    )
    await expect(page.get_by_role("button", name="S'inscrire")).to_have_count(0)
    await assert_accessible(page)

    contact = new_account(dovecot, "dgs")
    base = {"postal_address": "1 rue", "contact_name": "Claire Martin", "conditions": "oui"}
    free = enrolled_before_closing(
        site, {**base, "siret": siret[0], "offre": "free", "contact_email": "a@probes.test"}
    )
    organisation = enrolled_before_closing(
        site,
        {
            **base,
            "siret": siret[1],
            "offre": "detailed",
            "contact_email": contact.address,
            "organisation": "Communauté exemple",
            "sites": siret[2],
        },
    )
    operator_password = site.add_user("ops", Role.OPERATOR)
    _, operator = await new_page(browser)
    await sign_in(operator, site.url, "ops", operator_password)
    await operator.goto(f"{site.url}/participants")
    await operator.get_by_role("button", name=f"Accepter l'inscription {free}").click()
    await expect(operator.get_by_role("alert")).to_contain_text(
        "Places gratuites épuisées : Rang 1 pour 0 place gratuite (a déjà participé au "
        "baromètre, après les premières participations"
    )
    await assert_accessible(operator)
    await operator.get_by_role("button", name=f"Accepter l'inscription {organisation}").click()
    await expect(operator.get_by_role("row").filter(has_text=siret[1])).to_contain_text("acceptée")

    invitation = await mail_number(contact, 1)
    await page.goto(site.url + path_of(body(invitation)))
    await page.get_by_label("Mot de passe (12 caractères au moins)").fill("un mot de passe sûr")
    await page.get_by_role("button", name="Enregistrer le mot de passe").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mot de passe enregistré")
    await sign_in(page, site.url, contact.address.lower(), "un mot de passe sûr")
    await expect(page.get_by_text("Aucun résultat publié pour")).to_have_count(2)

    await operator.get_by_role("button", name=f"Publier les résultats de la vague {WAVE}").click()
    await expect(operator.get_by_role("status")).to_contain_text("1 participant(s) prévenu(s)")
    published = await mail_number(contact, 2)
    assert "Votre rapport détaillé" in body(published)
    assert "pour chacun de vos 2 sites" in body(published)
    await page.goto(f"{site.url}/")
    with Session(site.engine) as session:
        names = {
            row.official_id: row.name
            for row in session.exec(
                select(Structure).where(col(Structure.official_id).in_(siret[:3]))
            )
        }
    await expect(page.get_by_role("heading", level=2)).to_have_text(
        [f"{names[siret[1]]} ({siret[1]})", f"{names[siret[2]]} ({siret[2]})"]
    )
    await expect(page.get_by_text(names[siret[0]])).to_have_count(0)
    await assert_accessible(page)
