"""Probe letters composed, printed for a French window envelope, and read back from the PDF."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from channels.email.compose import new_reply_token, reference_text
from channels.letter import (
    LetterError,
    LetterTemplates,
    PostalAddress,
    ProbeLetter,
    compose_letter,
    french_date,
    render_letter_pdf,
)

MM = 72 / 25.4  # PDF points per millimetre

TEMPLATES = LetterTemplates(
    scenario_id="etat-civil-courrier",
    body="Madame, Monsieur,\n\n"
    "Je souhaite obtenir une copie intégrale de mon acte de naissance auprès de "
    "{{ structure.name }}.\nJe vous remercie par avance.\n\n"
    "Merci de rappeler la référence {{ reference }} dans votre réponse.\n",
)
PERSONA: dict[str, Any] = {
    "display_name": "Marie Dupont",
    "postal_address": "12 rue des Lilas, 94300 Vincennes",
    "caller_id": "+33612345678",
    "reply_mailbox": "marie.dupont@probes.example.org",
}
STRUCTURE: dict[str, Any] = {"name": "Mairie de Bois-le-Roi"}
RECIPIENT_ADDRESS = "2 place du Général de Gaulle, BP 12, 77590 Bois-le-Roi"
PROBE_ID = "0b7c0c4e-5d43-5bd0-9f3c-111111111111"


def letter(
    templates: LetterTemplates = TEMPLATES,
    *,
    persona: dict[str, Any] = PERSONA,
    token: str = "k7q2m6xab3cdef45",  # noqa: S107 (a reply token)
) -> ProbeLetter:
    return compose_letter(
        templates,
        token=token,
        persona=persona,
        structure=STRUCTURE,
        recipient_address=RECIPIENT_ADDRESS,
        dated=date(2026, 12, 1),
    )


def with_body(body: str) -> ProbeLetter:
    return letter(LetterTemplates(TEMPLATES.scenario_id, body))


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} (poppler-utils) is missing: run `make setup`")
    return path


def printed(probe_letter: ProbeLetter, tmp_path: Path) -> Path:
    path = tmp_path / f"{probe_letter.reference}.pdf"
    path.write_bytes(render_letter_pdf(probe_letter))
    return path


def pdf_text(path: Path) -> str:
    run = subprocess.run(
        [poppler("pdftotext"), "-layout", path, "-"], capture_output=True, text=True, check=True
    )
    return run.stdout.replace("\xa0", " ")


def pdf_info(path: Path) -> dict[str, str]:
    run = subprocess.run([poppler("pdfinfo"), path], capture_output=True, text=True, check=True)
    return {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in run.stdout.splitlines())
    }


def word_boxes(path: Path) -> list[tuple[str, float, float, float, float]]:
    """Every word of the PDF with its box in points: (word, x_min, y_min, x_max, y_max)."""
    run = subprocess.run(
        [poppler("pdftotext"), "-bbox", path, "-"], capture_output=True, text=True, check=True
    )
    pattern = r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    return [
        (word, float(x0), float(y0), float(x1), float(y1))
        for x0, y0, x1, y1, word in re.findall(pattern, run.stdout)
    ]


# Addresses


def test_a_directory_address_becomes_a_block_with_the_town_line_in_capitals() -> None:
    address = PostalAddress.from_directory(
        "Mairie de Vincennes", " 2 place du Général de Gaulle ,, BP 12 , ,94300 Vincennes "
    )
    assert address.lines == (
        "Mairie de Vincennes",
        "2 place du Général de Gaulle",
        "BP 12",
        "94300 VINCENNES",
    )


def test_an_address_block_holds_six_lines_at_most() -> None:
    six = PostalAddress.from_directory(
        "CCAS", "Hôtel de ville, Service social, 1 rue A, BP 3, 77000 Melun"
    )
    assert len(six.lines) == 6
    too_long = "Bâtiment B, Hôtel de ville, Service social, 1 rue A, BP 3, 77000 Melun"
    with pytest.raises(LetterError, match=r"'CCAS'.* 7 lines.*6.*Bâtiment B, Hôtel de ville"):
        PostalAddress.from_directory("CCAS", too_long)


@pytest.mark.parametrize("address", ["", "  ", " , ,"])
def test_a_structure_without_postal_address_is_refused(address: str) -> None:
    with pytest.raises(LetterError, match="structure 'Mairie de Melun' has no postal address"):
        PostalAddress.from_directory("Mairie de Melun", address)


@pytest.mark.parametrize("postal_address", [None, ""])
def test_a_persona_without_postal_address_cannot_write(postal_address: str | None) -> None:
    persona = {**PERSONA, "postal_address": postal_address}
    with pytest.raises(LetterError, match=r"'Marie Dupont'.*set postal_address in the personas"):
        letter(persona=persona)
    del persona["postal_address"]
    with pytest.raises(LetterError, match="postal_address"):
        letter(persona=persona)


def test_the_sender_is_the_persona_and_the_place_its_town_as_written() -> None:
    composed = letter()
    assert composed.sender.lines == ("Marie Dupont", "12 rue des Lilas", "94300 VINCENNES")
    assert composed.recipient.lines == (
        "Mairie de Bois-le-Roi",
        "2 place du Général de Gaulle",
        "BP 12",
        "77590 BOIS-LE-ROI",
    )
    assert composed.place == "Vincennes"
    assert composed.dated == date(2026, 12, 1)
    assert composed.scenario_id == "etat-civil-courrier"


@pytest.mark.parametrize(
    ("postal_address", "place"),
    [
        ("3 allée des Saules, 77300 Fontainebleau", "Fontainebleau"),
        ("Appartement 4, 8 rue de Grenelle, 75007 Paris Cedex 07", "Paris"),
        ("Le Bourg, Saint-Didier-sur-Chalaronne", "Saint-Didier-sur-Chalaronne"),
    ],
)
def test_the_place_is_the_town_without_postcode_or_cedex(postal_address: str, place: str) -> None:
    assert letter(persona={**PERSONA, "postal_address": postal_address}).place == place


def test_a_persona_address_must_end_with_a_town() -> None:
    with pytest.raises(LetterError, match="without a town"):
        letter(persona={**PERSONA, "postal_address": "12 rue des Lilas, 94300"})


# Templates and reference


def test_the_body_is_filled_with_persona_structure_and_reference() -> None:
    templates = LetterTemplates(
        "x", "{{ structure.name }} / {{ persona.display_name }} / {{ reference }}"
    )
    composed = letter(templates)
    assert composed.body == f"Mairie de Bois-le-Roi / Marie Dupont / {composed.reference}"


@pytest.mark.parametrize(
    ("body", "variable"), [("{{ structure.nom }}", "nom"), ("{{ demandeur }}", "demandeur")]
)
def test_a_missing_variable_names_the_variable_and_the_scenario(body: str, variable: str) -> None:
    with pytest.raises(
        LetterError, match=rf"template etat-civil-courrier\.letter\.body: .*{variable}"
    ):
        letter(LetterTemplates("etat-civil-courrier", body))


def test_a_template_syntax_error_names_the_scenario_and_line() -> None:
    broken = LetterTemplates("etat-civil-courrier", "Madame,\n\n{% if %}\n")
    with pytest.raises(LetterError, match=r"etat-civil-courrier\.letter\.body, line 3"):
        letter(broken)


def test_the_reference_is_the_email_reply_token_as_people_read_it() -> None:
    token = new_reply_token()
    assert letter(token=token).reference == reference_text(token)
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", letter(token=token).reference)
    assert letter().reference == "K7Q2-M6XA-B3CD-EF45"


@pytest.mark.parametrize(
    ("day", "written"),
    [
        (date(2026, 12, 1), "1er décembre 2026"),
        (date(2026, 1, 2), "2 janvier 2026"),
        (date(2026, 2, 11), "11 février 2026"),
        (date(2026, 8, 15), "15 août 2026"),
        (date(2027, 3, 31), "31 mars 2027"),
        (date(2026, 6, 21), "21 juin 2026"),
        (date(2026, 10, 1), "1er octobre 2026"),
    ],
)
def test_french_date(day: date, written: str) -> None:
    assert french_date(day) == written


# The printed letter


def test_a_short_letter_prints_on_one_a4_page(tmp_path: Path) -> None:
    info = pdf_info(printed(letter(), tmp_path))
    assert info["Pages"] == "1"
    width, height = re.findall(r"[\d.]+", info["Page size"])[:2]
    assert (round(float(width)), round(float(height))) == (595, 842)


def test_the_printed_letter_reads_as_composed(tmp_path: Path) -> None:
    composed = letter()
    text = pdf_text(printed(composed, tmp_path))
    words = " ".join(text.split())
    for line in composed.recipient.lines + composed.sender.lines:
        assert line in text
    assert "77590 BOIS-LE-ROI" in text
    assert "Vincennes, le 1er décembre 2026" in text
    assert f"Réf. à rappeler dans votre réponse : {composed.reference}" in text
    assert "copie intégrale de mon acte de naissance auprès de Mairie de Bois-le-Roi." in words
    assert f"Merci de rappeler la référence {composed.reference} dans votre réponse." in words
    assert text.rstrip().endswith("Marie Dupont")


def test_the_recipient_block_shows_through_the_envelope_window(tmp_path: Path) -> None:
    # DL window envelope: 100 x 45 mm, 100 mm from the sheet's left edge and 50 mm from its top.
    composed = letter()
    head = [box for box in word_boxes(printed(composed, tmp_path)) if box[2] < 100 * MM]
    recipient_words = {word for line in composed.recipient.lines for word in line.split()}
    sender_words = {word for line in composed.sender.lines for word in line.split()}
    recipient_words, sender_words = recipient_words - sender_words, sender_words - recipient_words
    recipient = [box for box in head if box[0] in recipient_words]
    assert {box[0] for box in recipient} == recipient_words
    for _, x_min, y_min, x_max, y_max in recipient:
        assert 100 * MM - 1 <= x_min and x_max <= 200 * MM
        assert 50 * MM - 1 <= y_min and y_max <= 95 * MM
    sender = [box for box in head if box[0] in sender_words]
    assert {box[0] for box in sender} == sender_words
    for word, _, _, x_max, _ in sender:
        assert x_max < 100 * MM, f"{word!r} of the sender would show through the window"


def test_markup_in_the_body_is_printed_as_text(tmp_path: Path) -> None:
    composed = with_body("Bonjour <script>alert('x')</script> & <b>merci</b>\n")
    text = pdf_text(printed(composed, tmp_path))
    assert "Bonjour <script>alert('x')</script> & <b>merci</b>" in text


def test_blank_lines_separate_paragraphs_and_newlines_break_lines(tmp_path: Path) -> None:
    composed = with_body("Première ligne\nDeuxième ligne\n\n\nNouveau paragraphe")
    lines = [line.strip() for line in pdf_text(printed(composed, tmp_path)).splitlines()]
    first = lines.index("Première ligne")
    assert lines[first + 1] == "Deuxième ligne"
    assert lines[first + 2] == ""
    assert next(line for line in lines[first + 2 :] if line) == "Nouveau paragraphe"


def test_a_long_letter_runs_onto_more_pages(tmp_path: Path) -> None:
    body = "\n\n".join(
        f"Paragraphe {n} de la demande, assez long pour occuper une ligne." for n in range(80)
    )
    path = printed(with_body(body), tmp_path)
    assert int(pdf_info(path)["Pages"]) > 1
    text = pdf_text(path)
    assert "Paragraphe 0 de la demande" in text and "Paragraphe 79 de la demande" in text
