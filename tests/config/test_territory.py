"""Territorial reference data: codes, regions, time zones, holiday and phone regions."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
import pytest

from config.territory import (
    TERRITORIES,
    UnknownDepartementError,
    departement_of_commune,
    normalize_departement,
    territory_for,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" 1", "01"), ("01", "01"), ("2a", "2A"), ("2B", "2B"), ("974", "974"), ("95 ", "95")],
)
def test_normalize_departement(raw: str, expected: str) -> None:
    assert normalize_departement(raw) == expected


@pytest.mark.parametrize("raw", ["20", "96", "00", "975x", "", "2C", "979", "100"])
def test_unknown_departements_are_refused_with_what_is_accepted(raw: str) -> None:
    with pytest.raises(UnknownDepartementError) as caught:
        normalize_departement(raw)

    assert "2A" in str(caught.value)


def test_corsica_20_points_to_2a_and_2b() -> None:
    with pytest.raises(UnknownDepartementError, match=r"2A.*2B"):
        normalize_departement("20")


@pytest.mark.parametrize(
    ("commune", "departement"),
    [("77999", "77"), ("97499", "974"), ("2A004", "2A"), ("2b033", "2B"), ("98818", "988")],
)
def test_departement_of_commune(commune: str, departement: str) -> None:
    assert departement_of_commune(commune) == departement


@pytest.mark.parametrize("commune", ["7799", "779990", "2C004", "ABCDE", "98499", "20004", ""])
def test_malformed_or_unknown_commune_codes_are_refused(commune: str) -> None:
    with pytest.raises(UnknownDepartementError):
        departement_of_commune(commune)


def test_every_departement_is_present_once() -> None:
    metropolitan = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"}
    overseas = {"971", "972", "973", "974", "975", "976", "977", "978", "986", "987", "988"}

    assert set(TERRITORIES) == metropolitan | overseas
    assert all(code == t.departement for code, t in TERRITORIES.items())


def test_regions_follow_the_2016_map() -> None:
    assert territory_for("57").region == "Grand Est"
    assert territory_for("59").region == "Hauts-de-France"
    assert territory_for("2A").region == "Corse"
    assert territory_for("33").region == "Nouvelle-Aquitaine"
    assert territory_for("31").region == "Occitanie"
    assert territory_for("69").region == "Auvergne-Rhône-Alpes"
    assert territory_for("77").region == "Île-de-France"
    assert territory_for("90").name == "Territoire de Belfort"
    regions = {t.region for t in TERRITORIES.values() if t.timezone == "Europe/Paris"}
    assert len(regions) == 13


def test_moselle_and_alsace_keep_their_local_holidays() -> None:
    moselle = territory_for("57")
    assert moselle.name == "Moselle"
    assert moselle.holiday_subdivision == "57"
    assert territory_for("67").holiday_subdivision == "6AE"
    assert territory_for("68").holiday_subdivision == "6AE"
    assert territory_for("54").holiday_subdivision is None

    good_friday = date(2024, 3, 29)
    assert good_friday in holidays.country_holidays("FR", subdiv="57", years=2024)
    assert good_friday not in holidays.country_holidays("FR", years=2024)


def test_reunion() -> None:
    reunion = territory_for("974")

    assert reunion.name == "La Réunion"
    assert reunion.region == "La Réunion"
    assert reunion.timezone == "Indian/Reunion"
    assert reunion.holiday_subdivision == "974"
    number = phonenumbers.parse("0262 00 00 03", reunion.phone_region)
    assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == (
        "+262262000003"
    )


def test_every_territory_names_a_real_zone_and_subdivision() -> None:
    subdivisions = holidays.country_holidays("FR").subdivisions
    for territory in TERRITORIES.values():
        ZoneInfo(territory.timezone)
        if territory.holiday_subdivision is not None:
            assert territory.holiday_subdivision in subdivisions, territory
        assert phonenumbers.country_code_for_region(territory.phone_region) != 0, territory


def test_overseas_collectivities() -> None:
    assert territory_for("988").timezone == "Pacific/Noumea"
    assert territory_for("988").holiday_subdivision == "NC"
    assert territory_for("975").phone_region == "PM"
    assert territory_for("977").timezone == "America/St_Barthelemy"
    assert territory_for("976").phone_region == "YT"
    assert territory_for("973").timezone == "America/Cayenne"
