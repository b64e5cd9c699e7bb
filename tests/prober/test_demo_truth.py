"""``prober demo``: its own world and structures, and what counts as measuring a call rightly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from prober.cli import main
from prober.demo.run import call_differences

TRUTH: dict[str, Any] = {
    "status": "completed",
    "rings": 3,
    "answered_by": "ivr",
    "transfer_outcome": "human",
    "hold_s": 45,
}
MEASURED: dict[str, Any] = {
    "outcome": "answered",
    "rings": 3,
    "answered_by": "ivr",
    "transfer_outcome": "human",
    "hold_s": 46.4,
}


def test_a_call_measured_as_it_happened_has_no_difference() -> None:
    assert call_differences(MEASURED, TRUTH) == []
    person = {**TRUTH, "answered_by": "human", "transfer_outcome": None, "hold_s": None}
    answered_at_once = {**MEASURED, "answered_by": "human", "transfer_outcome": "not_transferred"}
    assert call_differences({**answered_at_once, "hold_s": None}, person) == []


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        ({"rings": 4}, "rings 4 (vérité 3)"),
        ({"answered_by": "human"}, "answered_by human (vérité ivr)"),
        ({"transfer_outcome": "not_transferred"}, "transfer None (vérité human)"),
        ({"hold_s": 47.5}, "attente 47.5 s (vérité 45 s)"),
        ({"hold_s": None}, "attente None s (vérité 45 s)"),
        ({"outcome": "busy"}, "outcome busy (vérité answered)"),
    ],
)
def test_each_difference_is_named(change: dict[str, Any], difference: str) -> None:
    assert call_differences({**MEASURED, **change}, TRUTH) == [difference]


def test_a_bad_world_is_refused_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = tmp_path / "monde.toml"
    world.write_text('[numbers."+33142765001"]\nrecognition = "parfaite"\n', encoding="utf-8")
    monkeypatch.setattr(
        sys, "argv", ["prober", "demo", str(tmp_path / "demo"), "--world", str(world)]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code != 0
    error = capsys.readouterr().err
    assert 'numbers."+33142765001".recognition' in error
    assert not (tmp_path / "demo").exists()  # refused before anything was created


def test_missing_structures_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "absent.csv"
    monkeypatch.setattr(
        sys, "argv", ["prober", "demo", str(tmp_path), "--structures", str(missing)]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code != 0
    assert f"{missing}: no such file" in capsys.readouterr().err
