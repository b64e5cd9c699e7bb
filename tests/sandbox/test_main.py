"""`python -m sandbox`: the server started as a user would, and its refusal of bad settings."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from sandbox.__main__ import main

ACCOUNT_SID = "AC" + "ab" * 16


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_python_m_sandbox_serves_the_api() -> None:
    port = free_port()
    command = [sys.executable, "-m", "sandbox", "--port", str(port)]
    command += ["--account-sid", ACCOUNT_SID, "--auth-token", "tok", "--calls-per-second", "5"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
        deadline = time.monotonic() + 20
        with httpx.Client(auth=(ACCOUNT_SID, "tok")) as client:
            while True:
                try:
                    response = client.get(url)
                    break
                except httpx.ConnectError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.05)
        assert response.status_code == 200
        assert response.json()["calls"] == []
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_malformed_account_sid_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--account-sid", "AC123", "--auth-token", "tok"]) == 2

    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "AC123" in error


def test_a_non_positive_rate_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--account-sid", ACCOUNT_SID, "--auth-token", "tok", "--calls-per-second", "0"]

    assert main(arguments) == 2
    assert "calls per second" in capsys.readouterr().err
