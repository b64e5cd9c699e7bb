"""A throw-away Mosquitto broker on 127.0.0.1 and a free port, for the tests (never port 1883).

It keeps its sessions on disk across ``stop()`` / ``start()`` (same port), so that a subscriber
with a persistent session (``clean_session=False``) gets what was published while it was away.
A missing binary fails the test with what to run: it is never a skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from sandbox.mail import free_port

START_TIMEOUT_S = 10.0


def mosquitto_binary() -> str:
    """The broker's executable; fails the test when it is not installed."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(
            "the Mosquitto MQTT broker is not installed (no `mosquitto` on PATH or in /usr/sbin): "
            "run `make services`",
            pytrace=False,
        )
    return found


class Mosquitto:
    """A broker process in ``directory``: ``start()``, ``stop()``, ``start()`` again.

    With ``users`` (name: password), only they may connect; otherwise anybody may.
    """

    def __init__(
        self, directory: Path, *, port: int | None = None, users: dict[str, str] | None = None
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.directory = directory
        self.binary = mosquitto_binary()
        self.log_path = directory / "mosquitto.log"
        self.config_path = directory / "mosquitto.conf"
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        access = ["allow_anonymous true"]
        if users is not None:
            access = ["allow_anonymous false", f"password_file {self._password_file(users)}"]
        self.config_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    *access,
                    # As root, Mosquitto would switch to a `mosquitto` user that cannot write here.
                    f"user {pwd.getpwuid(os.getuid()).pw_name}",
                    "persistence true",
                    f"persistence_location {directory}/",
                    "max_queued_messages 0",  # queue everything for offline persistent sessions
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    "connection_messages true",
                    "",
                ]
            )
        )

    def _password_file(self, users: dict[str, str]) -> Path:
        path = self.directory / "passwords"
        path.touch(mode=0o600)
        # mosquitto_passwd comes in the same Debian package as the broker.
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        for name, password in users.items():
            subprocess.run(
                [passwd, "-b", str(path), name, password],
                check=True,
                capture_output=True,
            )
        return path

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._accepts_connections():
            if self._process.poll() is not None:
                pytest.fail(
                    f"mosquitto exited with status {self._process.returncode} on port "
                    f"{self.port}:\n{self.log_tail()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"mosquitto did not listen on {self.host}:{self.port} within "
                    f"{START_TIMEOUT_S} s:\n{self.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the broker cleanly (SIGTERM: it saves its sessions); SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False
