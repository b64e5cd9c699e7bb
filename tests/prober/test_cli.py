"""The command line end to end, on SQLite and PostgreSQL: init, import, plan, show, export."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.cli import SAMPLES, Run


def write_csv(path: Path, rows: list[str]) -> Path:
    header = "official_id,name,kind,departement,population,phone,email,opening_hours"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_import_list_and_show(prober_cli: Run) -> None:
    assert prober_cli("init").exit_code == 0
    result = prober_cli("structures", "import", str(SAMPLES / "structures.csv"))
    assert result.exit_code == 0, result.stderr
    assert "30 created, 0 updated, 0 unchanged" in result.stdout
    assert prober_cli("structures", "import", str(SAMPLES / "annuaire-sample.json")).exit_code == 0

    listed = json.loads(prober_cli("structures", "list", "--json").stdout)
    by_id = {s["official_id"]: s for s in listed}
    assert len(by_id) == 34
    reunion = by_id["21974411000014"]
    assert reunion["timezone"] == "Indian/Reunion"
    assert reunion["phone"] == "+262262400404"
    assert by_id["21570463000018"]["departement"] == "57"
    assert by_id["21590001900018"]["email"] is None
    # The annuaire's structure in La Réunion (INSEE 97499): its time zone follows its département.
    annuaire_reunion = by_id["29749900000003"]
    assert annuaire_reunion["departement"] == "974"
    assert annuaire_reunion["timezone"] == "Indian/Reunion"
    assert annuaire_reunion["phone"] == "+262262000003"

    shown = json.loads(prober_cli("structures", "show", "21570463000018", "--json").stdout)
    assert shown["holiday_subdivision"] == "57"
    assert shown["opening_hours"] == "Mo-Fr 08:30-17:30; Sa 09:00-12:00"
    assert {"kind": "phone", "value": "+33387555000", "label": "switchboard"} in shown["contacts"]

    missing = prober_cli("structures", "show", "nope")
    assert missing.exit_code == 1
    assert "no structure with official id 'nope'" in missing.stderr


def test_reimport_is_idempotent_and_updates_changed_rows(prober_cli: Run, tmp_path: Path) -> None:
    prober_cli("init")
    path = write_csv(
        tmp_path / "s.csv",
        [
            "A1,Mairie A,mairie,77,1000,01 64 00 00 01,a@a-exemple.fr,Mo-Fr 09:00-12:00",
            "B2,Mairie B,mairie,974,,0262 00 00 03,,Mo-Fr 08:00-12:00",
        ],
    )
    assert "2 created" in prober_cli("structures", "import", str(path)).stdout
    assert (
        "0 created, 0 updated, 2 unchanged" in prober_cli("structures", "import", str(path)).stdout
    )
    write_csv(
        path,
        [
            "A1,Mairie A,mairie,77,1000,01 64 00 00 09,a@a-exemple.fr,Mo-Fr 09:00-12:00",
            "B2,Mairie B,mairie,974,,0262 00 00 03,,Mo-Fr 08:00-12:00",
        ],
    )
    assert (
        "0 created, 1 updated, 1 unchanged" in prober_cli("structures", "import", str(path)).stdout
    )
    listed = json.loads(prober_cli("structures", "list", "--json").stdout)
    assert [s["phone"] for s in listed] == ["+33164000009", "+262262000003"]


def test_a_file_with_bad_rows_is_rejected_whole_with_every_problem(
    prober_cli: Run, tmp_path: Path
) -> None:
    prober_cli("init")
    path = write_csv(
        tmp_path / "bad.csv",
        [
            "OK1,Mairie OK,mairie,77,,01 64 00 00 01,,Mo-Fr 09:00-12:00",
            "BAD2,Mairie mauvaise,mairie,99,,01 64 00 00 02,,Mo-Fr 09:00-12:00",
            "BAD3,Mairie sans courriel valide,mairie,75,,01 64 00 00 03,pas-un-courriel,",
            "OK4,Mairie OK bis,mairie,57,,03 87 00 00 04,,Mo-Fr 09:00-12:00",
        ],
    )
    result = prober_cli("structures", "import", str(path))
    assert result.exit_code == 1
    assert "line 3, column departement" in result.stderr
    assert "line 4, column email" in result.stderr
    assert "line 2" not in result.stderr and "line 5" not in result.stderr
    assert json.loads(prober_cli("structures", "list", "--json").stdout) == []

    misused = prober_cli("structures", "import", str(path), "--rejected", "r.csv")
    assert misused.exit_code == 1 and "--skip-invalid" in misused.stderr
    skipped = prober_cli(
        "structures", "import", str(path), "--skip-invalid", "--rejected", str(tmp_path / "r.csv")
    )
    assert skipped.exit_code == 0
    assert "2 created" in skipped.stdout
    with (tmp_path / "r.csv").open(encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert [row["official_id"] for row in rejected] == ["BAD2", "BAD3"]
    assert "departement" in rejected[0]["reason"]
    listed = json.loads(prober_cli("structures", "list", "--json").stdout)
    assert [s["official_id"] for s in listed] == ["OK1", "OK4"]


def test_plan_a_wave_and_export_it(prober_cli: Run) -> None:
    prober_cli("init")
    prober_cli("structures", "import", str(SAMPLES / "structures.csv"))
    created = prober_cli(
        "wave", "create", "pre", "--start", "2026-05-04", "--end", "2026-05-29",
        "--channels", "phone,email", "--panel", "departement=57,67,68,974,971,75",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    planned = prober_cli("wave", "plan", "pre", "--seed", "5")
    assert planned.exit_code == 0, planned.stderr
    structures = json.loads(
        prober_cli(
            "structures", "list", "--json", "--panel", "departement=57,67,68,974,971,75"
        ).stdout
    )
    assert len(structures) == 13
    assert f"{13 * 4} probe(s) planned for 13 structure(s)" in planned.stdout

    shown = prober_cli("wave", "show", "pre")
    assert shown.exit_code == 0
    assert "phone" in shown.stdout and "email" in shown.stdout

    exported = json.loads(prober_cli("wave", "export", "pre", "--format", "json").stdout)
    assert len(exported) == 52
    zone_of = {s["official_id"]: s["timezone"] for s in structures}
    hours = {s["official_id"]: s["opening_hours"] for s in structures}
    for probe in exported:
        moment = datetime.fromisoformat(probe["scheduled_at"])
        assert moment.utcoffset() is not None
        zone = ZoneInfo(zone_of[probe["structure_official_id"]])
        assert moment.utcoffset() == moment.astimezone(zone).utcoffset()
        assert hours[probe["structure_official_id"]]
        # May 2026 public holidays everywhere in France, and 27 May in Guadeloupe.
        assert moment.day not in (1, 8, 14, 25)
        assert moment.weekday() < 5
        if zone_of[probe["structure_official_id"]] == "America/Guadeloupe":
            assert moment.day != 27
        assert time(7, 0) <= moment.time() < time(19, 30)

    as_csv = prober_cli("wave", "export", "pre", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["probe_id"] for r in rows] == [p["probe_id"] for p in exported]

    # The wave keeps what its probes will say: editing the scenario files later changes nothing.
    template = Path("scenarios/templates/etat-civil-email.txt.j2")
    original = template.read_text(encoding="utf-8")
    template.write_text("changed\n", encoding="utf-8")
    from prober.project import open_project
    from storage.waves import get_wave

    project = open_project()
    with project.session() as session:
        catalogue = get_wave(session, "pre").parameters["catalogue"]
    project.engine.dispose()
    assert catalogue["scenarios"]["etat-civil-email"]["email"]["body_text"] == original
    assert set(catalogue["personas"]) == {"karim-benali", "marie-dupont"}

    again = prober_cli("wave", "plan", "pre", "--seed", "5")
    assert again.exit_code == 0
    assert json.loads(prober_cli("wave", "export", "pre").stdout) == exported


def test_wave_errors_name_what_to_fix(prober_cli: Run) -> None:
    prober_cli("init")
    bad_date = prober_cli("wave", "create", "w", "--start", "2026-13-01", "--end", "2026-12-31")
    assert bad_date.exit_code == 1
    assert "--start '2026-13-01': expected a date as YYYY-MM-DD" in bad_date.stderr
    bad_channel = prober_cli(
        "wave", "create", "w", "--start", "2026-03-01", "--end", "2026-03-31", "--channels", "fax"
    )
    assert bad_channel.exit_code == 1
    assert "--channels" in bad_channel.stderr and "fax" in bad_channel.stderr
    empty = prober_cli("wave", "create", "w", "--start", "2026-03-01", "--end", "2026-03-31")
    assert empty.exit_code == 0
    unplanned = prober_cli("wave", "plan", "w")
    assert unplanned.exit_code == 1
    assert "matches no structure" in unplanned.stderr
    assert prober_cli("wave", "show", "nope").exit_code == 1


def test_commands_refuse_an_uninitialised_database(prober_cli: Run) -> None:
    result = prober_cli("structures", "list")
    assert result.exit_code == 1
    assert "prober init" in result.stderr or "prober db upgrade" in result.stderr
    assert prober_cli("db", "upgrade").exit_code == 0
    assert prober_cli("structures", "list", "--json").stdout.strip() == "[]"


def test_init_refuses_to_overwrite_a_project(prober_cli: Run) -> None:
    first = prober_cli("init")
    assert first.exit_code == 0
    assert "wrote prober.toml" in first.stdout
    Path("prober.toml").write_text("# mine\n", encoding="utf-8")
    again = prober_cli("init")
    assert again.exit_code == 1
    assert "--force" in again.stderr
    assert Path("prober.toml").read_text(encoding="utf-8") == "# mine\n"
    assert prober_cli("init", "--force").exit_code == 0
    assert Path("prober.toml").read_text(encoding="utf-8").startswith("# prober settings")


def test_wave_start_pause_resume_and_status(prober_cli: Run) -> None:
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    created = prober_cli(
        "wave", "create", "w", "--start", "2027-03-01", "--end", "2027-03-26",
        "--channels", "phone,email",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert prober_cli("wave", "plan", "w", "--seed", "1").exit_code == 0

    def status() -> dict[str, Any]:
        result = prober_cli("wave", "status", "w", "--json")
        assert result.exit_code == 0, result.stderr
        return dict(json.loads(result.stdout))

    assert status()["status"] == "planned"
    for command, expected in (("start", "running"), ("pause", "paused"), ("resume", "running")):
        result = prober_cli("wave", command, "w")
        assert result.exit_code == 0, result.stderr
        assert status()["status"] == expected
    summary = status()
    assert summary["by_state"] == {"planned": summary["total"]}
    assert set(summary["by_channel"]) == {"phone", "email"}
    missing = prober_cli("wave", "pause", "nope")
    assert missing.exit_code == 1 and "nope" in missing.stderr
    table = prober_cli("wave", "status", "w")
    assert "wave w: running" in table.stdout


def test_db_current_does_not_create_a_missing_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing-here.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROBER_DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.setenv("COLUMNS", "200")
    current = Run(monkeypatch, capsys)("db", "current")
    assert current.exit_code == 0, current.stderr
    assert f"database: none (no file {missing}" in current.stdout
    assert not missing.exists()
