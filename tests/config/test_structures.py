"""Structure files: prober's CSV and the Service-Public.fr directory JSON, row by row."""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from config.errors import InvalidFileError, Problem
from config.structures import (
    ContactRecord,
    StructureFile,
    StructureRecord,
    read_structure_file,
    write_rejected,
)

DATA = Path(__file__).parent.parent / "data"
BULK_SAMPLE = DATA / "annuaire-sample.json"
API_SAMPLE = DATA / "annuaire-api-sample.json"

HEADER = (
    "official_id,name,kind,departement,population,phone,email,postal_address,website,opening_hours"
)

# Three bad rows (lines 5, 10, 11) around valid ones, a quoted address over two lines (2-3)
# and another over three lines (7-9), and a blank line (4).
MIXED_CSV = f"""\
{HEADER}
21770001,Melun,Mairie,77,40000,01 64 52 33 00|01.64.52.33.01,Contact@Melun.FR,"16 rue Paul Doumer
77000 Melun",https://www.ville-melun.fr,Mo-Fr 08:30-12:00; Sa 09:00-12:00

BAD1,Mairie de Nulle-Part,mairie,20,-3,01 64 00 00 01,not-an-email,,ftp://example.fr,Mo-Fr
25700001,Mairie de Metz,mairie,57,,03 87 00 00 02,,,,
29740001,Mairie de Saint-Denis,mairie,974,150000,"0262 00 00 03",,"1 rue de Paris
BP 1
97400 Saint-Denis",,
BAD2,,mairie,974,,0262 00 00 0,,,,
21770001,Mairie de Melun (doublon),mairie,77,,,,,,
"""


def write(tmp_path: Path, text: str, name: str = "structures.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def file_problems(path: Path, **options: Any) -> list[Problem]:
    with pytest.raises(InvalidFileError) as caught:
        read_structure_file(path, **options)
    assert caught.value.path == path
    return caught.value.problems


def by_id(structure_file: StructureFile) -> dict[str, StructureRecord]:
    return {record.official_id: record for record in structure_file.records}


def located(problems: list[Problem]) -> list[tuple[int | None, str | None]]:
    return [(problem.line, problem.column) for problem in problems]


# --- CSV -----------------------------------------------------------------------------------


def test_csv_valid_rows_become_records(tmp_path: Path) -> None:
    structures = read_structure_file(write(tmp_path, MIXED_CSV))

    assert structures.format == "csv"
    records = by_id(structures)
    assert sorted(records) == ["21770001", "25700001", "29740001"]

    melun = records["21770001"]
    assert melun.kind == "mairie"
    assert melun.departement == "77"
    assert melun.region == "Île-de-France"
    assert melun.population == 40000
    assert melun.opening_hours == "Mo-Fr 08:30-12:00; Sa 09:00-12:00"
    assert melun.source_line == 2
    assert melun.contacts == (
        ContactRecord("phone", "+33164523300", "switchboard"),
        ContactRecord("phone", "+33164523301", "phone 2"),
        ContactRecord("email", "Contact@melun.fr", "general"),
        ContactRecord("postal", "16 rue Paul Doumer, 77000 Melun", "main"),
        ContactRecord("web", "https://www.ville-melun.fr", "website"),
    )

    metz = records["25700001"]
    assert metz.holiday_subdivision == "57"
    assert metz.opening_hours is None
    assert metz.population is None
    assert metz.source_line == 6

    saint_denis = records["29740001"]
    assert saint_denis.timezone == "Indian/Reunion"
    assert saint_denis.holiday_subdivision == "974"
    assert saint_denis.contacts[0] == ContactRecord("phone", "+262262000003", "switchboard")
    assert saint_denis.contacts[1] == ContactRecord(
        "postal", "1 rue de Paris, BP 1, 97400 Saint-Denis", "main"
    )
    assert saint_denis.source_line == 7


def test_csv_bad_rows_list_every_problem_at_its_physical_line(tmp_path: Path) -> None:
    structures = read_structure_file(write(tmp_path, MIXED_CSV))

    assert [row.line for row in structures.rejected] == [5, 10, 11]
    assert located(structures.problems) == [
        (5, "departement"),
        (5, "population"),
        (5, "email"),
        (5, "website"),
        (5, "opening_hours"),
        (10, "name"),
        (10, "phone"),
        (11, "official_id"),
    ]
    messages = {(p.line, p.column): p.message for p in structures.problems}
    assert "2A" in messages[5, "departement"]
    assert "whole number" in messages[5, "population"]
    assert "http" in messages[5, "website"]
    assert "rule 'Mo-Fr'" in messages[5, "opening_hours"]
    assert "'0262 00 00 0'" in messages[10, "phone"]
    assert "La Réunion" in messages[10, "phone"]
    assert "line 2" in messages[11, "official_id"]

    assert structures.rejected[1].raw["name"] == ""
    assert structures.rejected[1].raw["phone"] == "0262 00 00 0"


def test_csv_reunion_number_is_read_in_its_own_numbering_plan(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}\n1,Mairie,mairie,974,,0262 00 00 03,,,,\n")

    (record,) = read_structure_file(path).records

    assert record.contacts == (ContactRecord("phone", "+262262000003", "switchboard"),)


def test_csv_with_bom_crlf_and_only_required_columns(tmp_path: Path) -> None:
    text = "\ufeffofficial_id,name,kind,departement\r\n1,Conseil départemental,CG,2a\r\n"

    (record,) = read_structure_file(write(tmp_path, text)).records

    assert (record.kind, record.departement, record.region) == ("cg", "2A", "Corse")
    assert record.contacts == ()
    assert record.source_line == 2


def test_csv_header_problems_reject_the_whole_file(tmp_path: Path) -> None:
    path = write(tmp_path, "official_id,name,departement,phnoe\n1,Mairie,77,01 64 00 00 01\n")

    problems = file_problems(path)

    assert [p.line for p in problems] == [1, 1]
    assert "missing column(s) kind" in problems[0].message
    assert "'phnoe'" in problems[1].message


def test_csv_wrong_number_of_fields(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}\n1,Mairie,mairie,77,,,,,,,surplus\n2,Mairie,mairie,77\n")

    structures = read_structure_file(path)

    assert located(structures.problems) == [(2, None), (3, None)]
    assert "'surplus'" in structures.problems[0].message
    assert structures.records == []


def test_csv_unterminated_quote_is_a_file_problem(tmp_path: Path) -> None:
    path = write(tmp_path, f'{HEADER}\n1,"Mairie,mairie,77,,,,,,\n2,Mairie,mairie,77,,,,,,\n')

    (problem,) = file_problems(path)

    assert "quote" in problem.message


def test_csv_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\n1,Mairie de Bézu,mairie,27,,,,,,\n".encode("latin-1"))

    (problem,) = file_problems(path)

    assert problem.line == 2
    assert "UTF-8" in problem.message


def test_missing_file(tmp_path: Path) -> None:
    (problem,) = file_problems(tmp_path / "absent.csv")

    assert "cannot read" in problem.message


def test_empty_csv(tmp_path: Path) -> None:
    (problem,) = file_problems(write(tmp_path, "\n\n"))

    assert "header" in problem.message


def test_write_rejected_csv_keeps_the_row_and_gives_the_reason(tmp_path: Path) -> None:
    structures = read_structure_file(write(tmp_path, MIXED_CSV))
    out = tmp_path / "rejected.csv"

    write_rejected(structures, out)

    with out.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == [*HEADER.split(","), "reason"]
    assert [row[0] for row in rows[1:]] == ["BAD1", "BAD2", "21770001"]
    assert rows[1][:4] == ["BAD1", "Mairie de Nulle-Part", "mairie", "20"]
    assert rows[1][-1].startswith("line 5, column departement: unknown département '20'")
    assert rows[1][-1].count("; line 5, column ") == 4
    assert rows[3][-1].startswith("line 11, column official_id: official_id '21770001'")


def test_a_corrected_rejects_file_can_be_imported_again(tmp_path: Path) -> None:
    structures = read_structure_file(write(tmp_path, MIXED_CSV))
    out = tmp_path / "rejected.csv"
    write_rejected(structures, out)
    text = out.read_text(encoding="utf-8").replace("BAD2,,", "BAD2,Mairie corrigée,")
    text = text.replace("0262 00 00 0,", "0262 00 00 09,")
    out.write_text(text, encoding="utf-8")

    again = read_structure_file(out)

    assert [r.official_id for r in again.records] == ["BAD2", "21770001"]
    assert [r.line for r in again.rejected] == [2]


# --- Service-Public.fr directory JSON -------------------------------------------------------


def test_bulk_sample() -> None:
    structures = read_structure_file(BULK_SAMPLE)

    assert structures.format == "annuaire"
    assert structures.rejected == []
    assert [r.source_line for r in structures.records] == [2, 83, 164, 236]
    records = by_id(structures)

    fontaine = records["27799900000001"]
    assert fontaine.name == "Mairie - Exempleville-sur-Seine"
    assert (fontaine.kind, fontaine.departement, fontaine.region) == (
        "mairie",
        "77",
        "Île-de-France",
    )
    assert fontaine.population is None
    assert fontaine.opening_hours == "Mo-Fr 08:30-12:00,13:30-17:00; Sa 09:00-12:00"
    assert fontaine.contacts == (
        ContactRecord("phone", "+33164000001", "switchboard"),
        ContactRecord("email", "mairie@exempleville.fr", "general"),
        ContactRecord("postal", "1 place de la Mairie, 77590 Exempleville-sur-Seine", "main"),
        ContactRecord("web", "https://www.exempleville-sur-seine.fr", "Site internet"),
    )

    moselle = records["25799900000002"]
    assert moselle.holiday_subdivision == "57"
    assert moselle.opening_hours == "Tu 09:00-12:00,18:00-19:00; Th-Fr 09:00-12:00"
    assert moselle.opening_hours_note == (
        "Accueil ouvert uniquement hors vacances scolaires l'après-midi."
    )

    reunion = records["29749900000003"]
    assert reunion.timezone == "Indian/Reunion"
    assert reunion.contacts[0] == ContactRecord("phone", "+262262000003", "switchboard")

    without_email = records["23199900000004"]
    assert [c.kind for c in without_email.contacts] == ["phone", "postal", "web"]


def test_api_form_gives_the_same_records_as_the_bulk_form() -> None:
    api = read_structure_file(API_SAMPLE)
    bulk = read_structure_file(BULK_SAMPLE)

    assert api.rejected == []
    assert [r.source_line for r in api.records] == [4]
    (record,) = api.records
    assert dataclasses.replace(record, source_line=0) == dataclasses.replace(
        bulk.records[0], source_line=0
    )


def bulk_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(BULK_SAMPLE.read_text(encoding="utf-8"))
    return records


def test_records_under_service_and_format_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text(json.dumps({"service": bulk_records()}, indent=2), encoding="utf-8")

    structures = read_structure_file(path)

    assert structures.format == "annuaire"
    strip = [dataclasses.replace(r, source_line=0) for r in structures.records]
    assert strip == [
        dataclasses.replace(r, source_line=0) for r in read_structure_file(BULK_SAMPLE).records
    ]
    assert structures.records[0].source_line == 3


def test_csv_format_is_sniffed_and_can_be_forced(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}\n1,Mairie,mairie,77,,,,,,\n", name="structures.txt")
    assert read_structure_file(path).format == "csv"

    problems = file_problems(path, file_format="annuaire")
    assert problems[0].line == 1


def test_annuaire_bad_records_are_located(tmp_path: Path) -> None:
    records = bulk_records()
    bad_phone = copy.deepcopy(records[0])
    bad_phone["siret"] = ""
    bad_phone["id"] = "bad-phone"
    bad_phone["telephone"] = [{"valeur": "01 64 00", "description": ""}]
    bad_phone["plage_ouverture"][1]["valeur_heure_fin_1"] = "08:00:00"
    bad_place = copy.deepcopy(records[1])
    bad_place["siret"] = "1"
    bad_place["code_insee_commune"] = "20004"
    bad_place["adresse_courriel"] = ["pas une adresse"]
    no_contact = copy.deepcopy(records[2])
    no_contact["siret"] = "2"
    no_contact["telephone"] = []
    no_contact["adresse_courriel"] = []
    duplicate = copy.deepcopy(records[3])
    duplicate["siret"] = "2"
    path = tmp_path / "annuaire.json"
    text = json.dumps([bad_phone, bad_place, no_contact, duplicate], indent=1)
    path.write_text(text, encoding="utf-8")
    starts = [number for number, line in enumerate(text.splitlines(), 1) if line == " {"]

    structures = read_structure_file(path)

    assert [r.official_id for r in structures.records] == ["2"]
    assert [c.kind for c in structures.records[0].contacts] == ["postal", "web"]
    assert structures.records[0].source_line == starts[2]
    assert [r.line for r in structures.rejected] == [starts[0], starts[1], starts[3]]
    assert located(structures.problems) == [
        (starts[0], "telephone[0].valeur"),
        (starts[0], "plage_ouverture[1].valeur_heure_fin_1"),
        (starts[1], "code_insee_commune"),
        (starts[1], "adresse_courriel[0]"),
        (starts[3], "siret"),
    ]
    assert "'01 64 00'" in structures.problems[0].message
    assert f"line {starts[2]}" in structures.problems[-1].message
    assert structures.rejected[0].raw == bad_phone


def test_annuaire_api_strings_that_are_not_json(tmp_path: Path) -> None:
    api: dict[str, Any] = json.loads(API_SAMPLE.read_text(encoding="utf-8"))
    api["results"][0]["telephone"] = '[{"valeur": '
    path = tmp_path / "api.json"
    path.write_text(json.dumps(api, indent=1), encoding="utf-8")

    structures = read_structure_file(path)

    assert located(structures.problems) == [(4, "telephone")]


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n {"id": "1",\n  "nom": "Mairie"\n  "siret": ""}\n]\n', encoding="utf-8")

    (problem,) = file_problems(path)

    assert problem.line == 4
    assert "invalid JSON" in problem.message


@pytest.mark.parametrize("text", ['{"total_count": 0}', '"texte"', "[] []"])
def test_json_without_records_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(text, encoding="utf-8")

    assert file_problems(path)


def test_write_rejected_annuaire(tmp_path: Path) -> None:
    records = bulk_records()
    records[1]["telephone"] = [{"valeur": "12", "description": "Accueil"}]
    path = tmp_path / "annuaire.json"
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    out = tmp_path / "rejected.json"

    write_rejected(read_structure_file(path), out)

    written = json.loads(out.read_text(encoding="utf-8"))
    assert written == [
        {
            "line": 83,
            "reason": "line 83, column telephone[0].valeur: '12' is not a valid phone number in "
            "Moselle: expected a number like 01 23 45 67 89 or +33 1 23 45 67 89",
            "record": records[1],
        }
    ]


def test_values_too_long_to_store_are_problems_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(
        f"official_id,name,kind,departement\nOK1,Mairie,mairie,77\nLONG2,{'M' * 301},mairie,77\n",
        encoding="utf-8",
    )
    structure_file = read_structure_file(path)
    assert [r.official_id for r in structure_file.records] == ["OK1"]
    [problem] = structure_file.problems
    assert (problem.line, problem.column) == (3, "name")
    assert "301 characters: at most 300" in problem.message
