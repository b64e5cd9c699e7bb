"""`prober phone call` and `prober phone results` against the sandbox, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import parse_world
from tests.support.cli import SAMPLES, Run
from tests.support.phone_scene import ACCOUNT, StartSandbox, free_listener

TIME_SCALE = 0.2
WORLD = """
[numbers."+33164810011"]
rings = 2
greeting = "Mairie de Bois-le-Roi, bonjour."

[numbers."+33153271111"]
rings = 1
answer = "ivr"
greeting = "Mairie du onzième. Pour l'état civil, tapez 1. Pour l'urbanisme, tapez 2."
[numbers."+33153271111".menu."1"]
hold_s = 45
then = "human"
greeting = "État civil, bonjour."

[numbers."+33442181919"]
outcome = "busy"
"""
STRUCTURES = {
    "21770001800011": "+33164810011",
    "21750056000015": "+33153271111",
    "21130055000012": "+33442181919",
}


def test_phone_call_places_the_wave_probes_and_shows_what_they_measured(
    phone_sandbox: StartSandbox, prober_cli: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    created = prober_cli(
        "wave", "create", "essai", "--start", "2027-03-01", "--end", "2027-03-26",
        "--channels", "phone", "--calls-per-structure", "1",
        "--scenario", "phone=etat-civil-phone",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert prober_cli("wave", "plan", "essai", "--seed", "1").exit_code == 0

    # Hold is measured on prober's clock: at smaller scales the sandbox's pauses during webhook
    # round trips (docs/phone.md, Limits) weigh more than the 1 s allowed.
    with phone_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
        listener = free_listener()
        port = listener.getsockname()[1]
        listener.close()
        for name, value in {
            "PROBER_TWILIO__ACCOUNT_SID": ACCOUNT.sid,
            "PROBER_TWILIO__AUTH_TOKEN": ACCOUNT.auth_token,
            "PROBER_TWILIO__API_BASE_URL": sandbox.base_url,
            "PROBER_TWILIO__WEBHOOK_BASE_URL": f"http://127.0.0.1:{port}",
            "PROBER_TWILIO__TIME_SCALE": str(TIME_SCALE),
            "PROBER_TWILIO__CALLS_PER_SECOND": "20",
            "PROBER_WEB__PORT": str(port),
        }.items():
            monkeypatch.setenv(name, value)
        arguments = [argument for sid in STRUCTURES for argument in ("--structure", sid)]
        result = prober_cli("phone", "call", "essai", *arguments, "--json")
        assert result.exit_code == 0, result.stderr
        truth = {entry.to: entry for entry in sandbox.truth.entries}

    calls = {call["structure"]: call for call in map(json.loads, result.stdout.splitlines())}
    assert set(calls) == set(STRUCTURES)
    for official_id, number in STRUCTURES.items():
        call, entry = calls[official_id], truth[number]
        assert call["number"] == number
        assert call["call_sid"] == entry.sid
        assert call["outcome"] == ("answered" if entry.status == "completed" else entry.status)
        assert call["answered_by"] == entry.answered_by
    assert calls["21750056000015"]["transfer_outcome"] == "human"
    assert abs(calls["21750056000015"]["hold_s"] - 45) <= 1
    assert Path(calls["21750056000015"]["recording"]).is_file()
    assert calls["21770001800011"]["rings"] == 2

    # The probes are done: a second call has nothing left to place for them.
    again = prober_cli("phone", "call", "essai", *arguments)
    assert again.exit_code == 1
    assert "no planned phone probe" in again.stderr
    shown = prober_cli("phone", "results", "essai")
    assert shown.exit_code == 0
    assert "21750056000015" in shown.stdout and "ivr" in shown.stdout


def test_phone_call_names_what_is_missing(prober_cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    prober_cli(
        "wave", "create", "essai", "--start", "2027-03-01", "--end", "2027-03-26",
        "--channels", "phone", "--calls-per-structure", "1",
    )  # fmt: skip
    prober_cli("wave", "plan", "essai")
    no_url = prober_cli("phone", "call", "essai")
    assert no_url.exit_code == 1
    assert "twilio.webhook_base_url is empty" in no_url.stderr
    monkeypatch.setenv("PROBER_TWILIO__WEBHOOK_BASE_URL", "http://127.0.0.1:8000")
    unknown = prober_cli("phone", "call", "essai", "--structure", "99999999999999")
    assert unknown.exit_code == 1
    assert "no phone probe for 99999999999999" in unknown.stderr
    no_credentials = prober_cli("phone", "call", "essai", "--limit", "1")
    assert no_credentials.exit_code == 1
    assert "PROBER_TWILIO__AUTH_TOKEN" in no_credentials.stderr
