"""``prober sandbox`` hands its options to the sandbox and reports its refusals."""

from __future__ import annotations

import sys

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
