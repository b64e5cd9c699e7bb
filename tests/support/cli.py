"""The two ways tests run the command line: ``main()`` in this process, or ``prober`` as a child."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Mapping
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


class Run:
    """``prober ARGS...`` through ``main()`` in this process, in the current folder.

    Call it from a synchronous test; an async test awaits ``in_thread(...)``: a command that runs
    its own event loop (``mail send``, ``run``...) cannot run inside the test's.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    def __call__(self, *args: str) -> Result:
        self._capsys.readouterr()
        self._monkeypatch.setattr(sys, "argv", ["prober", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = self._capsys.readouterr()
        return Result(code, out, err)

    async def in_thread(self, *args: str) -> Result:
        return await asyncio.to_thread(self, *args)


def start_prober(
    *args: str, cwd: Path, env: Mapping[str, str], stderr: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """``prober ARGS...`` started as a child process (to kill or stop with a signal)."""
    return subprocess.Popen([*PROBER, *args], cwd=cwd, env=dict(env), stderr=stderr)


async def child_prober(*args: str, cwd: Path, env: Mapping[str, str]) -> asyncio.subprocess.Process:
    """``prober ARGS...`` started as a child process from an async test."""
    return await asyncio.create_subprocess_exec(*PROBER, *args, cwd=cwd, env=dict(env))


async def prober_to_the_end(*args: str, cwd: Path, env: Mapping[str, str]) -> None:
    """``prober ARGS...`` as a child process to its end; fails the test on a non-zero status."""
    child = await asyncio.create_subprocess_exec(
        *PROBER, *args, cwd=cwd, env=dict(env), stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await child.communicate()
    assert child.returncode == 0, stderr.decode(errors="replace")[-3000:]
