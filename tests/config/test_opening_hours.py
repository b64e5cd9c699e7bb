"""Opening hours: the supported OSM subset, its canonical form and the directory's format."""

from __future__ import annotations

import pytest

from config.opening_hours import (
    OpeningHours,
    OpeningHoursError,
    opening_hours_from_annuaire,
    parse_opening_hours,
)

CLOSED = ()


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def test_town_hall_hours() -> None:
    hours = parse_opening_hours("Mo-Fr 08:30-12:00,13:30-17:00; Sa 09:00-12:00")

    weekday = ((hm("08:30"), hm("12:00")), (hm("13:30"), hm("17:00")))
    assert hours.weekly == (*[weekday] * 5, ((hm("09:00"), hm("12:00")),), CLOSED)
    assert hours.on_weekday(4) == weekday
    assert hours.on_weekday(6) == CLOSED
    assert hours.public_holidays is None
    assert not hours.is_never_open


@pytest.mark.parametrize(
    "text",
    [
        "Mo-Fr 08:30-12:00,13:30-17:00; Sa 09:00-12:00",
        "Tu 09:00-12:00,18:00-19:00; Th-Fr 09:00-12:00",
        "Mo-Tu,Th-Fr 09:00-12:00; We 08:00-18:00",
        "Mo,We,Fr 10:00-11:00",
        "24/7",
        "24/7; PH 09:00-12:00",
        "Mo-Fr 00:00-24:00; PH 10:00-12:00",
        "Mo-Su off",
        "Su 22:00-24:00",
    ],
)
def test_canonical_text_round_trips(text: str) -> None:
    hours = parse_opening_hours(text)

    assert hours.to_osm() == text
    assert parse_opening_hours(hours.to_osm()) == hours


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("Mo,Tu,We,Th,Fr 08:00-12:00", "Mo-Fr 08:00-12:00"),
        ("Mo-Su 00:00-24:00", "24/7"),
        ("Sa-Mo 10:00-11:00", "Mo,Sa-Su 10:00-11:00"),
        ("Mo-Fr 14:00-17:00, 08:00-12:00", "Mo-Fr 08:00-12:00,14:00-17:00"),
        ("Mo 08:00-10:00,09:00-12:00,12:00-13:00", "Mo 08:00-13:00"),
        ("Mo-Fr 09:00-17:00; PH off", "Mo-Fr 09:00-17:00"),
        ("24/7; Su off", "Mo-Sa 00:00-24:00"),
        ("Mo-Fr 09:00-12:00;", "Mo-Fr 09:00-12:00"),
        ("Mo closed; Tu 09:00-10:00", "Tu 09:00-10:00"),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    assert parse_opening_hours(text).to_osm() == canonical


def test_a_later_rule_replaces_earlier_hours_for_its_days() -> None:
    hours = parse_opening_hours("Mo-Fr 08:00-12:00,14:00-18:00; We 08:00-10:00; Fr off")

    assert hours.on_weekday(1) == ((hm("08:00"), hm("12:00")), (hm("14:00"), hm("18:00")))
    assert hours.on_weekday(2) == ((hm("08:00"), hm("10:00")),)
    assert hours.on_weekday(4) == CLOSED
    assert hours.to_osm() == "Mo-Tu,Th 08:00-12:00,14:00-18:00; We 08:00-10:00"


def test_public_holidays() -> None:
    hours = parse_opening_hours("Mo-Fr 09:00-17:00; Su,PH 10:00-12:00")
    assert hours.public_holidays == ((hm("10:00"), hm("12:00")),)
    assert hours.on_weekday(6) == ((hm("10:00"), hm("12:00")),)

    assert parse_opening_hours("Su,PH 10:00-12:00; PH off").public_holidays is None
    assert parse_opening_hours("24/7").public_holidays is None


def test_never_open() -> None:
    assert parse_opening_hours("Mo-Su off").is_never_open
    assert parse_opening_hours("Mo-Su off; PH off").is_never_open
    assert not parse_opening_hours("Mo-Su off; PH 10:00-11:00").is_never_open


def test_24_7_then_closed_day() -> None:
    hours = parse_opening_hours("24/7; Su off")

    assert hours.on_weekday(0) == ((0, 1440),)
    assert hours.on_weekday(6) == CLOSED


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Jan-Mar Mo-Fr 08:00-12:00", "'Jan'"),
        ('Mo-Fr 08:00-12:00 "sur rendez-vous"', "'\"'"),
        ("Mo-Fr 08:00+", "'+'"),
        ("Mo-Fr 08:00-12:00 || Sa off", "'|'"),
        ("Mo-Fr sunrise-sunset", "'sunrise'"),
        ("week 01-10 Mo 08:00-12:00", "'week'"),
        ("Mo[1] 08:00-12:00", "'['"),
        ("SH off", "'SH'"),
    ],
)
def test_unsupported_syntax_is_rejected_naming_the_token(text: str, named: str) -> None:
    with pytest.raises(OpeningHoursError) as caught:
        parse_opening_hours(text)

    message = str(caught.value)
    assert named in message
    assert text in message
    assert "supported:" in message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Mo-Fr", "expected times"),
        ("08:00-12:00", "expected days"),
        ("Mo-Fr 08:00-12:00 Sa 09:00-12:00", "found 'Sa'"),
        ("Mo 8:00-12:00", "found '8:00'"),
        ("Mo 12:00-08:00", "must end after it starts"),
        ("Mo 22:00-02:00", "overnight"),
        ("Mo 10:00-24:30", "'24:30'"),
        ("Mo 24:00-24:00", "'24:00'"),
        ("Mo 10:60-11:00", "'10:60'"),
        ("Mon-Fri 08:00-12:00", "found 'Mon'"),
        ("PH-Mo 10:00-11:00", "PH"),
        ("Mo 10:00-11:00;; Tu off", "empty rule"),
        ("Mo 24/7", "'/'"),
    ],
)
def test_malformed_rules_are_rejected(text: str, named: str) -> None:
    with pytest.raises(OpeningHoursError) as caught:
        parse_opening_hours(text)

    assert named in str(caught.value)


@pytest.mark.parametrize("text", ["", "   ", ";", " ; "])
def test_blank_text_is_an_error(text: str) -> None:
    with pytest.raises(OpeningHoursError):
        parse_opening_hours(text)


def test_constructor_refuses_overlapping_intervals() -> None:
    with pytest.raises(ValueError, match="sorted"):
        OpeningHours(((((60, 120), (100, 200))), (), (), (), (), (), ()), None)
    with pytest.raises(ValueError, match="7 days"):
        OpeningHours(((),) * 6, None)


def plage(first: str, last: str, *slots: str, commentaire: str = "") -> dict[str, str]:
    times = [*slots, "", "", "", ""][:4]
    return {
        "nom_jour_debut": first,
        "nom_jour_fin": last,
        "valeur_heure_debut_1": times[0],
        "valeur_heure_fin_1": times[1],
        "valeur_heure_debut_2": times[2],
        "valeur_heure_fin_2": times[3],
        "commentaire": commentaire,
    }


def test_annuaire_hours_become_canonical_osm() -> None:
    text, note = opening_hours_from_annuaire(
        [
            plage("Lundi", "Vendredi", "08:30:00", "12:00:00", "13:30:00", "17:00:00"),
            plage("Samedi", "Samedi", "09:00:00", "12:00:00"),
        ]
    )

    assert text == "Mo-Fr 08:30-12:00,13:30-17:00; Sa 09:00-12:00"
    assert note == ""


def test_annuaire_items_add_up_and_comments_join() -> None:
    text, note = opening_hours_from_annuaire(
        [
            plage("Lundi", "Vendredi", "08:30:00", "12:00:00", commentaire="Sauf jours fériés"),
            plage("Mercredi", "", "14:00:00", "17:00:00", commentaire=" "),
            plage("Samedi", "Lundi", "12:00:00", "13:00:00", commentaire="Permanence élus"),
        ]
    )

    assert text == (
        "Mo 08:30-13:00; Tu,Th-Fr 08:30-12:00; We 08:30-12:00,14:00-17:00; Sa-Su 12:00-13:00"
    )
    assert note == "Sauf jours fériés / Permanence élus"


def test_annuaire_midnight_end() -> None:
    text, _ = opening_hours_from_annuaire([plage("Vendredi", "Vendredi", "18:00:00", "00:00:00")])

    assert text == "Fr 18:00-24:00"


def test_empty_annuaire_hours_are_unknown() -> None:
    assert opening_hours_from_annuaire([]) == ("", "")
    assert opening_hours_from_annuaire([plage("Samedi", "Samedi", commentaire="Sur RDV")]) == (
        "",
        "Sur RDV",
    )


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (plage("Lundi", "Vendredi", "8h30", "12:00:00"), "plage_ouverture[1].valeur_heure_debut_1"),
        (
            plage("Lundi", "Vendredi", "12:00:00", "08:00:00"),
            "plage_ouverture[1].valeur_heure_fin_1",
        ),
        (plage("Lundi", "Vendredi", "08:00:00", ""), "plage_ouverture[1].valeur_heure_fin_1"),
        (
            plage("Lundi", "Vendredi", "08:00:00", "12:00:00", "", "17:00:00"),
            "plage_ouverture[1].valeur_heure_debut_2",
        ),
        (plage("Monday", "Vendredi", "08:00:00", "12:00:00"), "plage_ouverture[1].nom_jour_debut"),
        (plage("Lundi", "Vendro", "08:00:00", "12:00:00"), "plage_ouverture[1].nom_jour_fin"),
        (plage("", "Vendredi", "08:00:00", "12:00:00"), "plage_ouverture[1].nom_jour_debut"),
        (plage("Lundi", "Lundi", "08:00:00", "25:00:00"), "plage_ouverture[1].valeur_heure_fin_1"),
    ],
)
def test_bad_annuaire_values_name_item_and_field(item: dict[str, str], field: str) -> None:
    good = plage("Samedi", "Samedi", "09:00:00", "12:00:00")

    with pytest.raises(OpeningHoursError) as caught:
        opening_hours_from_annuaire([good, item])

    assert caught.value.field == field
    assert str(caught.value).startswith(field + ": expected")
