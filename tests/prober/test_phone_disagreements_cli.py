"""An auditor settles a call whose recording and callbacks disagree, from the command line."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlmodel import Session

from storage.call_measurements import DISAGREEMENT, save_measurement
from storage.db import make_engine
from storage.models import Attempt, Channel
from tests.support.cli import Run
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

MEASUREMENT = {
    "outcome": "answered",
    "rings": 4,
    "rings_callbacks": 1,
    "rings_audio": 4,
    "hold_s": None,
    "hold_s_callbacks": None,
    "sources": {"rings": "audio", "hold_s": "callbacks"},
}


def test_a_rejected_recording_gives_the_callbacks_figures_back(
    prober_cli: Run, database_url: str
) -> None:
    assert prober_cli("init").exit_code == 0
    engine = make_engine(database_url)
    with Session(engine) as session:
        add_persona(session, "camille")
        add_scenario(session, "s", "phone")
        wave_id = add_wave(
            session, "w", starts_on=date(2026, 11, 2), ends_on=date(2026, 11, 6), channels=["phone"]
        )
        probe_id = add_probe(
            session,
            wave_id=wave_id,
            structure_id=add_structure(session, "21770001800011"),
            channel=Channel.PHONE,
            scenario_id="s",
            persona_id="camille",
            scheduled_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        )
        session.flush()
        attempt = Attempt(
            probe_id=probe_id,
            number=1,
            ended_at=datetime(2026, 11, 2, 9, 2, tzinfo=UTC),
            outcome="answered",
            measurement=MEASUREMENT,
        )
        session.add(attempt)
        session.flush()
        assert attempt.id is not None
        attempt_id = attempt.id
        row = save_measurement(
            session,
            attempt_id=attempt_id,
            source="audio",
            figures={"rings": 4, "rings_after_answer": 3},
            details={"disagreements": ["rings: callbacks 1, audio 4"], "callbacks": {"rings": 1}},
            check=DISAGREEMENT,
        )
        measurement_id = row.id
        session.commit()
    listed = prober_cli("phone", "disagreements", "--json")
    assert listed.exit_code == 0, listed.stderr
    [record] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert record["id"] == measurement_id
    assert (record["rings_audio"], record["rings_callbacks"]) == (4, 1)
    assert record["why"] == ["rings: callbacks 1, audio 4"]

    assert prober_cli("phone", "reject", str(measurement_id), "--by", "").exit_code != 0
    rejected = prober_cli("phone", "reject", str(measurement_id), "--by", "A.D.")
    assert rejected.exit_code == 0, rejected.stderr
    assert prober_cli("phone", "disagreements", "--json").stdout == ""
    with Session(engine) as session:
        settled = session.get(Attempt, attempt_id)
        assert settled is not None
        assert settled.measurement["rings"] == 1  # the callbacks' figure, the audio's rejected
        assert settled.measurement["rings_audio"] == 4
    missing = prober_cli("phone", "confirm", "999", "--by", "A.D.")
    assert missing.exit_code != 0
    assert "999" in missing.stderr
    engine.dispose()
