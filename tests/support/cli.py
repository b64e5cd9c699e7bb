"""The two ways tests run the command line: ``main()`` in this process, or ``prober`` as a child."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

import prober.demo.samples
from prober.cli import main

SAMPLES = Path(prober.demo.samples.__file__).parent  # the bundled structures and annuaire files
# ``python -m prober``: the installed entry point, run by the interpreter of the tests.
PROBER = (sys.executable, "-m", "prober")


@dataclass
class Result:
    """What one command left: its exit status, standard output and standard error."""

    exit_code: int
    stdout: str
    stderr: str


Run = Callable[..., Result]


def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``prober ARGS...`` through ``main()`` in this process, in the current folder."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["prober", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def start_prober(
    *args: str, cwd: Path, env: Mapping[str, str], stderr: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """``prober ARGS...`` started as a child process (to kill or stop with a signal)."""
    return subprocess.Popen([*PROBER, *args], cwd=cwd, env=dict(env), stderr=stderr)


def run_prober(*args: str, cwd: Path, env: Mapping[str, str]) -> None:
    """``prober ARGS...`` as a child process to its end; fails the test on a non-zero status."""
    done = subprocess.run([*PROBER, *args], cwd=cwd, env=dict(env), capture_output=True)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
