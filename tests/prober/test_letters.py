"""Letter probes: printed once, posted once, answers timed in working days and scored."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import load_settings
from prober.probes.letters import LetterDesk, LetterProbeError, instant
from storage.db import make_engine
from storage.models import Attempt, ContactPoint, Event, Probe, ProbeState, Reply, Structure
from tests.support.cli import SAMPLES, Run

BOIS_LE_ROI = "21770001800011"  # "1 place de la Mairie, 77590 Bois-le-Roi-des-Exemples"
PARIS_11 = "21750056000015"


def _letter_wave(prober_cli: Run, *official_ids: str) -> None:
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    panel = [arg for oid in official_ids for arg in ("--panel", f"official_id={oid}")]
    created = prober_cli(
        "wave", "create", "w", "--start", "2026-11-02", "--end", "2026-11-27",
        "--channels", "letter", *panel,
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    planned = prober_cli("wave", "plan", "w", "--seed", "1")
    assert planned.exit_code == 0, planned.stderr


@pytest.fixture
def database() -> Iterator[Engine]:
    engine = make_engine(os.environ["PROBER_DATABASE_URL"])
    yield engine
    engine.dispose()


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_print_post_and_receive_from_the_command_line(
    prober_cli: Run, database: Engine, tmp_path: Path
) -> None:
    _letter_wave(prober_cli, BOIS_LE_ROI)

    printed = prober_cli("letter", "print", "w", "--out", str(tmp_path / "out"))

    assert printed.exit_code == 0, printed.stderr
    assert "1 letter(s) written" in printed.stdout
    with (tmp_path / "out" / "manifest.csv").open(encoding="utf-8") as file:
        (row,) = list(csv.DictReader(file))
    reference = row["reference"]
    assert row["official_id"] == BOIS_LE_ROI
    assert row["address"].endswith("77590 BOIS-LE-ROI-DES-EXEMPLES")
    text = _pdf_text(tmp_path / "out" / row["pdf"])
    assert reference in text
    assert "Mairie de Bois-le-Roi-des-Exemples" in text
    assert "inscription sur les listes électorales" in text
    with Session(database) as session:
        (probe,) = session.exec(select(Probe)).all()
        (attempt,) = session.exec(select(Attempt)).all()
    assert probe.state == ProbeState.IN_PROGRESS
    assert attempt.reference == reference.replace("-", "").lower()

    # Printing again makes no second letter; --again gives the same one back.
    assert "0 letter(s) written" in prober_cli("letter", "print", "w", "--out", "o2").stdout
    again = prober_cli("letter", "print", "w", "--out", str(tmp_path / "again"), "--again")
    assert again.exit_code == 0, again.stderr
    assert (tmp_path / "again" / row["pdf"]).read_bytes() == (
        tmp_path / "out" / row["pdf"]
    ).read_bytes()
    # The auditors' copy lost: --again writes the same letter once more.
    (lost,) = Path("letters", str(probe.id)).glob("letter-1.pdf")
    lost.unlink()
    rewritten = prober_cli("letter", "print", "w", "--out", str(tmp_path / "lost"), "--again")
    assert rewritten.exit_code == 0, rewritten.stderr
    assert reference in _pdf_text(tmp_path / "lost" / row["pdf"])
    assert lost.is_file()
    with Session(database) as session:
        assert len(session.exec(select(Attempt)).all()) == 1

    posted_at = datetime.now(UTC)
    posted = prober_cli("letter", "posted", reference.lower(), "--on", posted_at.isoformat())
    assert posted.exit_code == 0, posted.stderr
    twice = prober_cli("letter", "posted", reference, "--on", posted_at.isoformat())
    assert twice.exit_code == 1
    assert "already recorded as posted" in twice.stderr
    unknown = prober_cli("letter", "posted", "ZZZZZZZZ", "--on", posted_at.isoformat())
    assert unknown.exit_code == 1 and "ZZZZZZZZ" in unknown.stderr

    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 a scanned answer")
    received_at = datetime.now(UTC)
    received = prober_cli(
        "letter", "received", reference, "--on", received_at.isoformat(),
        "--scan", str(scan), "--from", "Le maire",
    )  # fmt: skip
    assert received.exit_code == 0, received.stderr
    assert "reply received" in received.stdout and "0 working days" in received.stdout

    listed = prober_cli("letter", "list", "w", "--json")
    (record,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert record["reference"] == reference
    assert record["state"] == "done"
    assert record["outcome"] == "replied"
    assert record["replies"] == 1
    with Session(database) as session:
        (reply,) = session.exec(select(Reply)).all()
        kinds = session.exec(select(Event.kind).order_by(col(Event.source_at))).all()
    assert reply.channel == "letter" and reply.classification == "human_reply"
    assert reply.raw_path is not None
    assert Path(reply.raw_path).read_bytes() == scan.read_bytes()
    assert kinds == ["letter.composed", "letter.sent"]


def test_an_address_too_long_for_the_window_is_reported_and_its_probe_stays_planned(
    prober_cli: Run, database: Engine, tmp_path: Path
) -> None:
    _letter_wave(prober_cli, BOIS_LE_ROI, PARIS_11)
    with Session(database) as session:
        paris = session.exec(select(Structure).where(col(Structure.official_id) == PARIS_11)).one()
        point = session.exec(
            select(ContactPoint).where(
                col(ContactPoint.structure_id) == paris.id, col(ContactPoint.kind) == "postal"
            )
        ).one()
        point.value = "a, b, c, d, e, f, 75011 Paris"
        session.add(point)
        session.commit()

    printed = prober_cli("letter", "print", "w", "--out", str(tmp_path / "out"))

    assert printed.exit_code == 1
    assert "1 letter(s) written" in printed.stdout
    assert "1 letter(s) not printed; they stay planned" in printed.stderr
    with Session(database) as session:
        states = {p.state for p in session.exec(select(Probe)) if p.attempt_count == 0}
        attempts = session.exec(select(Attempt)).all()
    assert states == {ProbeState.PLANNED}
    assert len(attempts) == 1


def test_answers_are_timed_in_working_days_and_scored(
    prober_cli: Run, database: Engine, tmp_path: Path
) -> None:
    _letter_wave(prober_cli, BOIS_LE_ROI, PARIS_11)
    settings = load_settings()
    paris = "Europe/Paris"
    printing = LetterDesk(settings, clock=lambda: instant("2026-12-01T09:00", paris))
    with Session(database) as session:
        due = printing.due(session, "w", instant("2026-12-01", paris), None)
        letters = [
            printing.print_new(session, probe_id, instant("2026-12-01").date()) for probe_id in due
        ]
        session.commit()
    by_structure = {letter.official_id: letter.reference for letter in letters}
    later = LetterDesk(settings, clock=lambda: instant("2027-01-15", paris))
    with Session(database) as session:
        for reference in by_structure.values():
            later.posted(session, reference, instant("2026-12-02", paris))  # a Wednesday
        quick, slow = by_structure[BOIS_LE_ROI], by_structure[PARIS_11]
        later.received(session, quick, instant("2026-12-04", paris), kind="acknowledgement")
        # Fifteen working days after Wednesday 2 December: Wednesday 23 December.
        later.received(session, quick, instant("2026-12-23", paris), kind="reply")
        # Christmas is no working day: the 28th is the 17th working day.
        later.received(session, slow, instant("2026-12-28", paris), kind="reply")
        with pytest.raises(LetterProbeError, match="already recorded as posted"):
            later.posted(session, quick, instant("2026-12-03", paris))
        with pytest.raises(LetterProbeError, match="before the letter was posted"):
            later.received(session, slow, instant("2026-12-01T18:00", paris), kind="reply")
        session.commit()
        measured = {reference: later.measurement(session, reference) for reference in (quick, slow)}
    assert measured[quick]["first_human_reply"]["working_days"] == 15
    assert measured[quick]["first_acknowledgement"]["elapsed_s"] == 2 * 86400
    assert measured[slow]["first_human_reply"]["working_days"] == 17
    assert measured[slow]["first_acknowledgement"]["working_days"] == 17  # the reply acknowledges

    scored = prober_cli("score", "w", "--as-of", "2027-01-15T00:00+01:00")
    assert scored.exit_code == 0, scored.stderr
    report = prober_cli("report", "w", "--format", "json", "--out", str(tmp_path / "w.json"))
    assert report.exit_code == 0, report.stderr
    results = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))["results"]
    criteria = {
        item["structure"]["official_id"]: item["channels"]["letter"]["criteria"] for item in results
    }
    ack, reply = "letter.acknowledged_within_14_days", "letter.replied_within_15_working_days"
    assert (criteria[BOIS_LE_ROI][ack]["passed"], criteria[BOIS_LE_ROI][reply]["passed"]) == (1, 1)
    assert (criteria[PARIS_11][ack]["failed"], criteria[PARIS_11][reply]["failed"]) == (1, 1)


def test_an_operator_date_is_noon_where_the_structure_is() -> None:
    assert instant("2026-12-03").isoformat() == "2026-12-03T12:00:00+01:00"
    assert instant("2026-12-03T09:30", "America/Cayenne").utcoffset() == timedelta(hours=-3)
    with pytest.raises(LetterProbeError, match="not a date"):
        instant("3/12/2026")


def test_a_paused_wave_prints_nothing_and_a_probe_is_never_printed_twice(
    prober_cli: Run, database: Engine, tmp_path: Path
) -> None:
    _letter_wave(prober_cli, BOIS_LE_ROI)
    assert prober_cli("wave", "start", "w").exit_code == 0
    assert prober_cli("wave", "pause", "w").exit_code == 0

    paused = prober_cli("letter", "print", "w", "--out", str(tmp_path / "out"))

    assert paused.exit_code == 1
    assert "wave w is paused" in paused.stderr and "prober wave resume w" in paused.stderr
    assert prober_cli("wave", "resume", "w").exit_code == 0
    desk = LetterDesk(load_settings())
    with Session(database) as session:
        (probe_id,) = desk.due(session, "w", datetime.now(UTC), None)
        desk.print_new(session, probe_id, datetime.now(UTC).date())
        session.commit()
    # A second printer that listed the probe before the first one printed it.
    with Session(database) as session, pytest.raises(LetterProbeError, match="printed already"):
        desk.print_new(session, probe_id, datetime.now(UTC).date())
    with Session(database) as session:
        assert len(session.exec(select(Attempt)).all()) == 1
