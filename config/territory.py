"""French territorial reference data: départements, their region, time zone and local rules.

Each département (INSEE code) maps to what the planner and the phone parser need: its region
(2016 regions), its IANA time zone, the ``holidays`` subdivision for local public holidays
(Alsace-Moselle, overseas) and the ``phonenumbers`` region for national-format numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.errors import ConfigError

ACCEPTED_CODES = "01-19, 2A, 2B, 21-95, 971-974, 976, or the COMs 975, 977, 978, 986, 987, 988"


@dataclass(frozen=True, slots=True)
class Territory:
    """One département or overseas collectivity and its local rules."""

    departement: str
    name: str
    region: str
    timezone: str
    holiday_subdivision: str | None
    phone_region: str


class UnknownDepartementError(ConfigError):
    """A département or INSEE commune code is not one prober knows."""


_ARA = "Auvergne-Rhône-Alpes"
_BFC = "Bourgogne-Franche-Comté"
_BRE = "Bretagne"
_CVL = "Centre-Val de Loire"
_COR = "Corse"
_GES = "Grand Est"
_HDF = "Hauts-de-France"
_IDF = "Île-de-France"
_NOR = "Normandie"
_NAQ = "Nouvelle-Aquitaine"
_OCC = "Occitanie"
_PDL = "Pays de la Loire"
_PAC = "Provence-Alpes-Côte d'Azur"

_METROPOLITAN: tuple[tuple[str, str, str], ...] = (
    ("01", "Ain", _ARA),
    ("02", "Aisne", _HDF),
    ("03", "Allier", _ARA),
    ("04", "Alpes-de-Haute-Provence", _PAC),
    ("05", "Hautes-Alpes", _PAC),
    ("06", "Alpes-Maritimes", _PAC),
    ("07", "Ardèche", _ARA),
    ("08", "Ardennes", _GES),
    ("09", "Ariège", _OCC),
    ("10", "Aube", _GES),
    ("11", "Aude", _OCC),
    ("12", "Aveyron", _OCC),
    ("13", "Bouches-du-Rhône", _PAC),
    ("14", "Calvados", _NOR),
    ("15", "Cantal", _ARA),
    ("16", "Charente", _NAQ),
    ("17", "Charente-Maritime", _NAQ),
    ("18", "Cher", _CVL),
    ("19", "Corrèze", _NAQ),
    ("2A", "Corse-du-Sud", _COR),
    ("2B", "Haute-Corse", _COR),
    ("21", "Côte-d'Or", _BFC),
    ("22", "Côtes-d'Armor", _BRE),
    ("23", "Creuse", _NAQ),
    ("24", "Dordogne", _NAQ),
    ("25", "Doubs", _BFC),
    ("26", "Drôme", _ARA),
    ("27", "Eure", _NOR),
    ("28", "Eure-et-Loir", _CVL),
    ("29", "Finistère", _BRE),
    ("30", "Gard", _OCC),
    ("31", "Haute-Garonne", _OCC),
    ("32", "Gers", _OCC),
    ("33", "Gironde", _NAQ),
    ("34", "Hérault", _OCC),
    ("35", "Ille-et-Vilaine", _BRE),
    ("36", "Indre", _CVL),
    ("37", "Indre-et-Loire", _CVL),
    ("38", "Isère", _ARA),
    ("39", "Jura", _BFC),
    ("40", "Landes", _NAQ),
    ("41", "Loir-et-Cher", _CVL),
    ("42", "Loire", _ARA),
    ("43", "Haute-Loire", _ARA),
    ("44", "Loire-Atlantique", _PDL),
    ("45", "Loiret", _CVL),
    ("46", "Lot", _OCC),
    ("47", "Lot-et-Garonne", _NAQ),
    ("48", "Lozère", _OCC),
    ("49", "Maine-et-Loire", _PDL),
    ("50", "Manche", _NOR),
    ("51", "Marne", _GES),
    ("52", "Haute-Marne", _GES),
    ("53", "Mayenne", _PDL),
    ("54", "Meurthe-et-Moselle", _GES),
    ("55", "Meuse", _GES),
    ("56", "Morbihan", _BRE),
    ("57", "Moselle", _GES),
    ("58", "Nièvre", _BFC),
    ("59", "Nord", _HDF),
    ("60", "Oise", _HDF),
    ("61", "Orne", _NOR),
    ("62", "Pas-de-Calais", _HDF),
    ("63", "Puy-de-Dôme", _ARA),
    ("64", "Pyrénées-Atlantiques", _NAQ),
    ("65", "Hautes-Pyrénées", _OCC),
    ("66", "Pyrénées-Orientales", _OCC),
    ("67", "Bas-Rhin", _GES),
    ("68", "Haut-Rhin", _GES),
    ("69", "Rhône", _ARA),
    ("70", "Haute-Saône", _BFC),
    ("71", "Saône-et-Loire", _BFC),
    ("72", "Sarthe", _PDL),
    ("73", "Savoie", _ARA),
    ("74", "Haute-Savoie", _ARA),
    ("75", "Paris", _IDF),
    ("76", "Seine-Maritime", _NOR),
    ("77", "Seine-et-Marne", _IDF),
    ("78", "Yvelines", _IDF),
    ("79", "Deux-Sèvres", _NAQ),
    ("80", "Somme", _HDF),
    ("81", "Tarn", _OCC),
    ("82", "Tarn-et-Garonne", _OCC),
    ("83", "Var", _PAC),
    ("84", "Vaucluse", _PAC),
    ("85", "Vendée", _PDL),
    ("86", "Vienne", _NAQ),
    ("87", "Haute-Vienne", _NAQ),
    ("88", "Vosges", _GES),
    ("89", "Yonne", _BFC),
    ("90", "Territoire de Belfort", _BFC),
    ("91", "Essonne", _IDF),
    ("92", "Hauts-de-Seine", _IDF),
    ("93", "Seine-Saint-Denis", _IDF),
    ("94", "Val-de-Marne", _IDF),
    ("95", "Val-d'Oise", _IDF),
)

# Alsace (67, 68) and Moselle (57) keep Good Friday and St Stephen's Day as public holidays.
_LOCAL_LAW_SUBDIVISIONS = {"57": "57", "67": "6AE", "68": "6AE"}

_OVERSEAS: tuple[Territory, ...] = (
    Territory("971", "Guadeloupe", "Guadeloupe", "America/Guadeloupe", "971", "GP"),
    Territory("972", "Martinique", "Martinique", "America/Martinique", "972", "MQ"),
    Territory("973", "Guyane", "Guyane", "America/Cayenne", "973", "GF"),
    Territory("974", "La Réunion", "La Réunion", "Indian/Reunion", "974", "RE"),
    Territory(
        "975",
        "Saint-Pierre-et-Miquelon",
        "Saint-Pierre-et-Miquelon",
        "America/Miquelon",
        "PM",
        "PM",
    ),
    Territory("976", "Mayotte", "Mayotte", "Indian/Mayotte", "976", "YT"),
    Territory("977", "Saint-Barthélemy", "Saint-Barthélemy", "America/St_Barthelemy", "BL", "BL"),
    Territory("978", "Saint-Martin", "Saint-Martin", "America/Marigot", "MF", "MF"),
    Territory("986", "Wallis-et-Futuna", "Wallis-et-Futuna", "Pacific/Wallis", "WF", "WF"),
    Territory("987", "Polynésie française", "Polynésie française", "Pacific/Tahiti", "PF", "PF"),
    Territory("988", "Nouvelle-Calédonie", "Nouvelle-Calédonie", "Pacific/Noumea", "NC", "NC"),
)

TERRITORIES: dict[str, Territory] = {
    **{
        code: Territory(code, name, region, "Europe/Paris", _LOCAL_LAW_SUBDIVISIONS.get(code), "FR")
        for code, name, region in _METROPOLITAN
    },
    **{territory.departement: territory for territory in _OVERSEAS},
}

_COMMUNE_CODE = re.compile(r"(?:\d{2}|2[AB])\d{3}")


def normalize_departement(raw: str) -> str:
    """The canonical INSEE code of a département: ``" 1"`` -> ``"01"``, ``"2a"`` -> ``"2A"``."""
    code = raw.strip().upper()
    if len(code) == 1 and code.isdigit():
        code = "0" + code
    if code in TERRITORIES:
        return code
    if code == "20":
        raise UnknownDepartementError(
            "unknown département '20': Corsica is split into 2A (Corse-du-Sud) and 2B (Haute-Corse)"
        )
    raise UnknownDepartementError(f"unknown département {raw.strip()!r}: expected {ACCEPTED_CODES}")


def departement_of_commune(insee_code: str) -> str:
    """The département of an INSEE commune code: ``"77999"`` -> ``"77"``, ``"97499"`` -> ``"974"``.

    Raises :class:`UnknownDepartementError` for a malformed code or one outside known départements.
    """
    code = insee_code.strip().upper()
    if not _COMMUNE_CODE.fullmatch(code):
        raise UnknownDepartementError(
            f"malformed INSEE commune code {insee_code.strip()!r}: expected 5 characters, "
            "digits or 2A/2B followed by 3 digits (e.g. 77288, 2A004, 97411)"
        )
    # Overseas codes take three characters: 974 for La Réunion, 988 for Nouvelle-Calédonie.
    prefix = code[:3] if code.startswith(("97", "98")) else code[:2]
    if prefix not in TERRITORIES:
        raise UnknownDepartementError(
            f"INSEE commune code {code!r} is in no known département: expected {ACCEPTED_CODES}"
        )
    return prefix


def territory_for(departement: str) -> Territory:
    """The territory of a département code, in any form :func:`normalize_departement` takes."""
    return TERRITORIES[normalize_departement(departement)]
