"""Rescoring a sandbox wave under a grid with other thresholds: the scores change as worked out
by hand, and the raw facts (events, attempts, replies, recordings, probes) stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel

from tests.prober.test_scoring_end_to_end import (
    EMAIL_A_MONTH_LATER,
    GRID_PATH,
    PHONE_EXPECTED,
    PLACES,
    Expected,
    carry_out,
    check_ground_truth,
    check_scores,
    score,
    seed_wave,
    stored_scores,
)
from tests.support.cli import Run
from tests.support.mailservers import MailAccount, SmtpServer
from tests.support.phone_scene import StartSandbox

P, F, NA, TR = "passed", "failed", "not_applicable", "to_review"
# A person after 2 rings, one after 7, a voicemail after 3, a menu then 40 s on hold.
LABELS = ("rapide", "lente", "repondeur", "menu40")
PLACES_HERE = [place for place in PLACES if place.label in LABELS]
RAW_TABLES = ("event", "attempt", "reply", "recording", "probe")


async def test_rescoring_with_other_thresholds_changes_scores_and_leaves_raw_facts(
    phone_sandbox: StartSandbox,
    engine: Engine,
    prober_cli: Run,
    mail_delivery: SmtpServer,
    mail_account: MailAccount,
    tmp_path: Path,
) -> None:
    assert prober_cli("init").exit_code == 0
    wave, probes = seed_wave(engine, PLACES_HERE, mail_account.address)
    as_of = datetime.now(UTC) + timedelta(days=30)
    calls, mails = await carry_out(
        phone_sandbox, engine, PLACES_HERE, probes, mail_delivery, mail_account, tmp_path
    )
    check_ground_truth(calls, mails, PLACES_HERE)

    score(prober_cli, wave, GRID_PATH, as_of)
    phone = {label: PHONE_EXPECTED[label] for label in LABELS}
    email = {label: EMAIL_A_MONTH_LATER[label] for label in LABELS}
    check_scores(engine, wave, "phone", phone)
    check_scores(engine, wave, "email", email)
    digest = _digests(engine, wave)
    raw = _raw_rows(engine)
    assert len(raw["event"]) > 0 and len(raw["reply"]) == 3  # 1 reply, 1 acknowledgement, 1 DSN

    # The same grid (same name: its scores are replaced) with two thresholds changed.
    stricter = tmp_path / "stricter.toml"
    stricter.write_text(
        _replace_once(
            _replace_once(
                GRID_PATH.read_text(encoding="utf-8"),
                'threshold = 5\nunit = "sonneries"',
                'threshold = 2\nunit = "sonneries"',
            ),
            'metric = "hold_seconds"\nop = "<"\nthreshold = 60',
            'metric = "hold_seconds"\nop = "<"\nthreshold = 30',
        ),
        encoding="utf-8",
    )
    score(prober_cli, wave, stricter, as_of)
    check_scores(
        engine,
        wave,
        "phone",
        {
            **phone,
            # 3 rings > 2: the 2 of the ring criterion fail too: 3 of 7.
            "repondeur": Expected(
                (P, F, F, NA, NA, NA, NA, TR, TR, TR, TR), 42.9, 42.9, None, None
            ),
            # 40 s on hold >= 30: the hold (1) fails: 10 of 11.
            "menu40": Expected((P, P, P, P, P, F, NA, TR, TR, TR, TR), 90.9, 100.0, 0.0, None),
            # 2 rings <= 2 still passes; 7 rings already failed: unchanged.
        },
    )
    check_scores(engine, wave, "email", email)  # no email threshold changed
    changed = _digests(engine, wave)
    assert len(set(changed.values())) == 1 and set(changed.values()) != set(digest.values())
    assert _raw_rows(engine) == raw

    # Back to the published grid: the first scores again, the raw facts still untouched.
    score(prober_cli, wave, GRID_PATH, as_of)
    check_scores(engine, wave, "phone", phone)
    assert _digests(engine, wave) == digest
    assert _raw_rows(engine) == raw


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _digests(engine: Engine, wave: str) -> dict[tuple[str, str], Any]:
    return {key: row.details["grid_digest"] for key, row in stored_scores(engine, wave).items()}


def _raw_rows(engine: Engine) -> dict[str, list[str]]:
    """Every column of every row of the raw tables, as sorted text."""
    with Session(engine) as session:
        return {
            name: sorted(
                repr(tuple(row)) for row in session.execute(select(SQLModel.metadata.tables[name]))
            )
            for name in RAW_TABLES
        }
