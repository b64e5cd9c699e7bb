"""``prober sandbox`` hands its options to the sandbox and reports its refusals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from prober.cli import main


def test_a_malformed_account_sid_is_refused_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        sys, "argv", ["prober", "sandbox", "--account-sid", "nope", "--auth-token", "t"]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "'nope' is not 'AC' followed by 32 hexadecimal digits" in capsys.readouterr().err


def test_a_bad_world_file_is_refused_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = tmp_path / "monde.toml"
    world.write_text('[numbers."+33142765001"]\nrings = "quatre"\n', encoding="utf-8")
    arguments = ["prober", "sandbox", "--account-sid", "AC" + "ab" * 16, "--auth-token", "t"]
    arguments += ["--world", str(world), "--time-scale", "0.01", "--truth", str(tmp_path / "t")]
    monkeypatch.setattr(sys, "argv", arguments)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert 'numbers."+33142765001".rings' in capsys.readouterr().err


def test_the_sandboxs_other_options_are_passed_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = tmp_path / "courriels.toml"
    world.write_text('[mailboxes."accueil@mairie.test"]\nbehaviour = "parle"\n', encoding="utf-8")
    arguments = ["prober", "sandbox", "--account-sid", "AC" + "ab" * 16, "--auth-token", "t"]
    arguments += ["--smtp-port", "2599", "--mail-world", str(world)]
    monkeypatch.setattr(sys, "argv", arguments)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert 'mailboxes."accueil@mairie.test".behaviour' in capsys.readouterr().err
