"""What a page publishes, read from real markup: numbers, addresses, hours, forms, statements;
and the bytes-to-text rules for pages that declare no charset."""

from __future__ import annotations

import time

import pytest

from channels.web.decode import page_encoding, page_text
from channels.web.extract import page_facts
from channels.web.nesting import MAX_DEPTH, flattened

BASE = "https://www.mairie-exemple.fr/"


def test_phones_are_e164_from_text_and_tel_links_and_dates_are_not_numbers() -> None:
    facts = page_facts(
        """<p>Standard : 03.88.12.34.56 - Accueil : <a href="tel:+33388123457">appeler</a></p>
        <p>Conseil le 01/12/2026 à 20h30, salle n° 12 34, 67000 Strasbourg</p>""",
        BASE,
        "FR",
    )
    assert facts.phones == ("+33388123456", "+33388123457")


def test_national_numbers_follow_the_structures_region() -> None:
    html = "<footer>Tél. : 0262 41 23 45</footer>"
    assert page_facts(html, BASE, "RE").phones == ("+262262412345",)


@pytest.mark.parametrize(
    ("written", "address"),
    [
        (
            '<a href="mailto:Accueil@Mairie-Exemple.fr?subject=Demande">écrire</a>',
            "accueil@mairie-exemple.fr",
        ),
        ("Écrivez à contact [at] mairie-exemple.fr", "contact@mairie-exemple.fr"),
        ("contact (at) mairie-exemple (dot) fr", "contact@mairie-exemple.fr"),
        ("contact arobase mairie-exemple.fr", "contact@mairie-exemple.fr"),
    ],
)
def test_emails_plain_linked_and_obfuscated(written: str, address: str) -> None:
    assert page_facts(f"<p>{written}</p>", BASE, "FR").emails == (address,)


@pytest.mark.parametrize(
    ("html", "hours"),
    [
        (
            "<h3>Horaires d'ouverture</h3><p>Lundi au vendredi : 8h30 – 12h00<br>"
            "Samedi : <strong>9h00</strong> – 12h00</p><p>Suivez-nous</p>",
            "Lundi au vendredi : 8h30 – 12h00; Samedi : 9h00 – 12h00",
        ),
        (
            "<h1>Horaires et accès</h1><p>L'accueil reçoit le public :</p><table>"
            "<tr><th>Lundi</th><td>8h-12h</td></tr><tr><th>Mercredi</th><td>fermé</td></tr>"
            "</table><h2>Accès</h2><p>Parking 2 places</p>",
            "Lundi 8h-12h; Mercredi fermé",
        ),
        (
            "<dl><dt>Horaires</dt><dd>Du lundi au vendredi de 9h à 12h</dd>"
            "<dt>Adresse</dt><dd>1 place de la Mairie</dd></dl>",
            "Du lundi au vendredi de 9h à 12h",
        ),
        ("<p><b>Horaires :</b> lundi et jeudi 14h-17h</p>", "lundi et jeudi 14h-17h"),
        ("<h2>Horaires</h2><p>Consultez la page dédiée.</p>", None),
    ],
)
def test_opening_hours_under_their_label(html: str, hours: str | None) -> None:
    assert page_facts(html, BASE, "FR").opening_hours_text == hours


def test_a_contact_form_needs_a_message_field() -> None:
    search = '<form action="/recherche"><input name="q"><button>OK</button></form>'
    assert not page_facts(search, BASE, "FR").contact_form
    assert page_facts('<form><input name="votre-message"></form>', BASE, "FR").contact_form
    assert page_facts("<form><textarea name=t></textarea></form>", BASE, "FR").contact_form


@pytest.mark.parametrize("level", ["totalement conforme", "partiellement conforme", "non conforme"])
def test_the_footer_accessibility_mention(level: str) -> None:
    html = f'<footer><a href="/accessibilite">Accessibilité : {level}</a></footer>'
    facts = page_facts(html, BASE, "FR")
    assert facts.footer_accessibility == level


def test_a_page_without_the_mention_has_no_level() -> None:
    html = "<p>Nos contenus non conformes seront corrigés.</p><a href='/plan'>Plan du site</a>"
    assert page_facts(html, BASE, "FR").footer_accessibility is None


def test_viewport_social_links_and_topic_links() -> None:
    facts = page_facts(
        """<head><meta name="viewport" content="width=device-width, initial-scale=1"></head>
        <a href="https://www.facebook.com/mairie">Facebook</a>
        <a href="https://x.com/mairie">X</a><a href="https://example.org/">partenaire</a>
        <a href="/nous-contacter#formulaire">Nous contacter</a>""",
        BASE,
        "FR",
    )
    assert facts.mobile_viewport
    assert facts.social == ("https://www.facebook.com/mairie", "https://x.com/mairie")
    assert ("https://www.mairie-exemple.fr/nous-contacter", "nous contacter") in {
        (link.url, link.text.strip()) for link in facts.links
    }


def test_latin1_without_charset_is_read_as_windows_1252() -> None:
    body = "<p>Accessibilité : partiellement conforme - fermé le mercredi</p>".encode("latin-1")
    assert page_encoding(body, "text/html") == "windows-1252"
    text = page_text(body, "text/html")
    assert "Accessibilité" in text
    assert page_facts(text, BASE, "FR").footer_accessibility == "partiellement conforme"


def test_declared_charsets_and_utf8_cut_inside_a_character() -> None:
    assert page_encoding(b"<p>x</p>", "text/html; charset=ISO-8859-15") == "iso8859-15"
    assert page_encoding(b"<p>x</p>", "text/html; charset=latin1") == "windows-1252"
    assert page_encoding(b'<meta charset="utf-8"><p>\xe9</p>', None) == "utf-8"
    # A page cut by the size cap in the middle of "é" is still UTF-8.
    assert page_encoding("<p>Mairie de Sainte-Hélène</p>".encode()[:22], None) == "utf-8"
    assert page_encoding("<p>Hélène</p>".encode("latin-1"), None) == "windows-1252"


def test_an_html_bomb_is_flattened_in_linear_time_and_its_text_kept() -> None:
    depth = 100_000
    html = "<body><p>Tél. 03 88 12 34 56</p>" + "<div>" * depth + "</div>" * depth
    html += "<footer>Accessibilité : non conforme</footer></body>"
    started = time.monotonic()
    flat, cut = flattened(html)
    assert cut and flat.count("<div>") == MAX_DEPTH
    facts = page_facts(html, BASE, "FR")
    elapsed = time.monotonic() - started
    assert facts.too_deep and facts.footer_accessibility == "non conforme"
    assert facts.phones == ("+33388123456",)
    assert elapsed < 60  # unflattened, lexbor takes minutes on this page


def test_ordinary_pages_are_left_alone() -> None:
    page = "<ul>" + "<li><a href='/a'><b>lien</b></a></li>" * 5000 + "</ul>"
    assert flattened(page) == (page, False)
