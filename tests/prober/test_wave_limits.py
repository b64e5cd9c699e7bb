"""Waves a user may not create by mistake or malice: windows over a year, names that are not
slugs; lower layers name fields (``end``), the command line names its options (``--end``)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import update

from config.settings import load_settings
from prober.project.starter import write_starter_files
from prober.results.grid import GridNotFoundError, load_grid
from scheduler.errors import WaveDefinitionError
from scheduler.waves import WaveSpec, define_wave, parse_panel, plan_stored_wave
from storage.db import make_engine, session_scope
from storage.models import Wave
from storage.wave_parameters import WaveParameters, wave_parameters
from storage.waves import get_wave
from tests.support.cli import SAMPLES, Run

SLUG_RULE = "expected 1 to 64 lower-case letters, digits, '-', '_' or '.'"


def create(prober_cli: Run, name: str, start: str, end: str, *extra: str) -> tuple[int, str]:
    result = prober_cli("wave", "create", name, "--start", start, "--end", end, *extra)
    return result.exit_code, result.stderr


def test_a_window_over_a_year_is_refused(prober_cli: Run) -> None:
    assert prober_cli("init").exit_code == 0

    code, stderr = create(prober_cli, "forever", "2026-01-01", "9999-12-31")

    assert code == 1
    assert stderr == (
        "prober: error: --end: 9999-12-31 makes a window of 2912443 days from the start"
        " 2026-01-01: a wave lasts at most 366 days (planning.max_wave_days); split it, or raise"
        " the setting\n"
    )
    assert create(prober_cli, "leap", "2028-01-01", "2028-12-31")[0] == 0
    assert create(prober_cli, "over", "2028-01-01", "2029-01-01")[0] == 1
    assert (
        "--end: 2026-01-01 is before the start 2026-02-01"
        in create(prober_cli, "back", "2026-02-01", "2026-01-01")[1]
    )
    listed = prober_cli("wave", "list").stdout
    assert "leap" in listed
    assert "forever" not in listed and "over" not in listed


def test_the_longest_window_is_a_setting(prober_cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert prober_cli("init").exit_code == 0
    monkeypatch.setenv("PROBER_PLANNING__MAX_WAVE_DAYS", "800")
    assert create(prober_cli, "two-years", "2026-01-01", "2028-03-10")[0] == 0
    code, stderr = create(prober_cli, "too-long", "2026-01-01", "2028-03-11")
    assert code == 1
    assert "at most 800 days (planning.max_wave_days)" in stderr


def test_a_stored_wave_over_the_limit_is_not_planned(prober_cli: Run, database_url: str) -> None:
    """A database written before the limit may hold such a wave: planning refuses it."""
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    assert create(prober_cli, "old", "2026-05-04", "2026-05-29")[0] == 0
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.execute(
            update(Wave).where(Wave.name == "old").values(ends_on=date(9999, 12, 31))  # type: ignore[arg-type]
        )
    engine.dispose()

    planned = prober_cli("wave", "plan", "old")

    assert planned.exit_code == 1
    assert planned.stderr.startswith("prober: error: --end: 9999-12-31 makes a window of")
    assert json.loads(prober_cli("wave", "status", "old", "--json").stdout)["total"] == 0


@pytest.mark.parametrize(
    "name",
    ["", " ", "a/b[c]:d*?e", "Pré-élections", "UPPER", "../up", ".hidden", "a b", "x" * 65],
)
def test_a_wave_name_must_be_a_slug(prober_cli: Run, name: str) -> None:
    assert prober_cli("init").exit_code == 0
    code, stderr = create(prober_cli, name, "2026-05-04", "2026-05-29")
    assert code == 1
    assert stderr.startswith(f"prober: error: NAME: {name!r:.80}: {SLUG_RULE}")
    assert prober_cli("wave", "list").stdout.count("\n") <= 4  # the empty table


def test_slugs_are_accepted(prober_cli: Run) -> None:
    assert prober_cli("init").exit_code == 0
    for name in ("2026-pre-elections", "v1.2_b", "x" * 64):
        assert create(prober_cli, name, "2026-05-04", "2026-05-29") == (0, "")


def test_scheduler_errors_name_fields_not_options(tmp_path: Path, engine: object) -> None:
    write_starter_files(tmp_path)
    settings = load_settings(tmp_path / "prober.toml")
    spec = WaveSpec("w", date(2026, 5, 4), date(2026, 5, 29), ("phone",), {})
    cases = {
        "name": WaveSpec("", spec.starts_on, spec.ends_on, spec.channels, {}),
        "end": WaveSpec("w", spec.starts_on, date(2030, 1, 1), spec.channels, {}),
        "channels": WaveSpec("w", spec.starts_on, spec.ends_on, ("fax",), {}),
        "scenarios": WaveSpec(
            "w", spec.starts_on, spec.ends_on, spec.channels, {}, scenarios={"phone": ["nope"]}
        ),
        "personas": WaveSpec("w", spec.starts_on, spec.ends_on, spec.channels, {}, personas=("x",)),
    }
    with session_scope(engine) as session:  # type: ignore[arg-type]
        for field, wrong in cases.items():
            with pytest.raises(WaveDefinitionError) as caught:
                define_wave(session, settings, wrong)
            assert caught.value.field == field
            assert str(caught.value).startswith(f"{field}: ")
            assert "--" not in str(caught.value)
        with pytest.raises(WaveDefinitionError) as caught:
            parse_panel(["colour=blue"])
        assert (caught.value.field, str(caught.value)[:20]) == ("panel", "panel: 'colour=blue'")
        with pytest.raises(WaveDefinitionError) as caught:
            plan_stored_wave(session, define_wave(session, settings, spec).name, max_wave_days=7)
        assert caught.value.field == "end"


def test_a_waves_parameters_are_read_back_typed(prober_cli: Run, database_url: str) -> None:
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    assert create(prober_cli, "w", "2026-05-04", "2026-05-08", "--calls-per-structure", "9")[0] == 0
    assert prober_cli("wave", "plan", "w").exit_code == 0
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        parameters = wave_parameters(get_wave(session, "w"))
    engine.dispose()
    assert isinstance(parameters, WaveParameters)
    assert parameters.quotas == {"phone": 9, "email": 1}
    assert parameters.personas == ("karim-benali", "marie-dupont")
    assert {"etat-civil-email", "etat-civil-phone"} <= set(parameters.catalogue.scenarios)
    # Nine calls on distinct days do not fit in five days: the shortfalls are kept, typed.
    assert parameters.plan_shortfalls
    phone = [s for s in parameters.plan_shortfalls if s.channel == "phone"]
    assert phone
    assert all(s.wanted == 9 and s.planned < 9 for s in phone)
    shown = prober_cli("wave", "show", "w")
    assert "Not fully planned" in shown.stderr


def test_a_missing_grid_names_the_setting_and_the_cli_its_option(prober_cli: Run) -> None:
    assert prober_cli("init").exit_code == 0
    Path("criteria.toml").unlink()
    with pytest.raises(GridNotFoundError) as caught:
        load_grid(load_settings(), None)
    assert caught.value.setting == "criteria_file"
    assert "set criteria_file in prober.toml" in str(caught.value)
    assert "--" not in str(caught.value)

    scored = prober_cli("score", "w")
    assert scored.exit_code == 1
    assert scored.stderr.endswith(
        "no criteria grid there; set criteria_file in prober.toml, or"
        " run `prober init` to get the default grid; or pass --criteria\n"
    )
    named = prober_cli("score", "w", "--criteria", "elsewhere.toml")
    assert named.stderr == "prober: error: --criteria elsewhere.toml: no criteria grid there\n"
