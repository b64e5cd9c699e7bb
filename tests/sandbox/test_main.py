"""`python -m sandbox`: the server started as a user would, and its refusal of bad settings."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from sandbox.__main__ import main

ACCOUNT_SID = "AC" + "ab" * 16


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def python_m_sandbox(*options: str) -> Iterator[tuple[httpx.Client, str]]:
    """`python -m sandbox` on a free port; a client with its credentials and the Calls URL."""
    port = free_port()
    command = [sys.executable, "-m", "sandbox", "--port", str(port)]
    command += ["--account-sid", ACCOUNT_SID, "--auth-token", "tok", *options]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
        deadline = time.monotonic() + 20
        with httpx.Client(auth=(ACCOUNT_SID, "tok")) as client:
            while True:
                try:
                    client.get(url)
                    break
                except httpx.ConnectError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.05)
            yield client, url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.e2e  # the sandbox's process, over HTTP
def test_python_m_sandbox_serves_the_api() -> None:
    with python_m_sandbox("--calls-per-second", "5") as (client, url):
        response = client.get(url)

    assert response.status_code == 200
    assert response.json()["calls"] == []


@pytest.mark.e2e  # the sandbox's process, over HTTP
def test_python_m_sandbox_injects_the_faults_it_is_told_to() -> None:
    options = ["--fail-creates-after-commit", "1", "--create-response-delay-s", "0.01"]
    with python_m_sandbox(*options, "--max-concurrent-requests", "3") as (client, url):
        form = {"To": "+33142765000", "From": "+33970000001", "Url": "http://127.0.0.1:9/"}
        failed = client.post(url, data=form)
        listed = client.get(url, params={"To": "+33142765000"})
        created = client.post(url, data=form)

    assert failed.status_code == 500
    assert failed.json()["code"] == 20500
    assert failed.headers["Twilio-Concurrent-Requests"] == "1"
    assert [call["to"] for call in listed.json()["calls"]] == ["+33142765000"]
    assert created.status_code == 201


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


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("--max-concurrent-requests", "concurrent request limit"),
        ("--fail-creates-after-commit", "creates to fail"),
        ("--create-response-delay-s", "create response delay"),
        ("--fail-recording-downloads", "recording downloads to fail"),
    ],
)
def test_a_negative_fault_or_limit_is_refused_in_one_line(
    option: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--account-sid", ACCOUNT_SID, "--auth-token", "tok", option, "-1"]

    assert main(arguments) == 2

    error = capsys.readouterr().err
    assert error.count("\n") == 1 and named in error
