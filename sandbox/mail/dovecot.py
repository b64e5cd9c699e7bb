"""A throw-away Dovecot IMAP server on loopback: its own folder, users and free port.

It plays the mail provider of prober's own address (the mailbox prober reads replies from) for
the tests and the demo. Started as `dovecot -F -c <own config>`; mail is delivered into it with
`dovecot-lda`, as a real MTA would (see `sandbox.mail.delivery`).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sandbox.mail.errors import DeliveryFailed, DovecotStartFailed, MailServerUnavailable

DOVECOT_LDA = Path("/usr/lib/dovecot/dovecot-lda")
START_TIMEOUT_S = 15.0
_PORT_ATTEMPTS = 5

# From shared/reference/dovecot-test.conf. imap-login refuses to run as root: Debian's `dovenull`
# and `dovecot` users stay the login and mail users; `first_valid_uid = 1` lets the mail uid in.
_CONFIG = """\
protocols = imap
listen = {host}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
auth_failure_delay = 0
# Nobody may open anvil's penalty socket, so auth disables its per-IP penalty: one test's wrong
# password would otherwise delay every later login from 127.0.0.1 by up to 15 s.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
"""


@dataclass(frozen=True, slots=True)
class MailUser:
    """An account on the Dovecot server: its address is also its IMAP login."""

    address: str
    password: str


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (another process may take it before us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _dovecot_binary(binary: str | None) -> str:
    if binary is not None:
        found = shutil.which(binary)
    else:
        found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")
    if found is None or not DOVECOT_LDA.exists():
        raise MailServerUnavailable(
            f"Dovecot is not installed (no `{binary or 'dovecot'}` on PATH or in /usr/sbin, or "
            f"no {DOVECOT_LDA}): run `make services` (Debian package dovecot-imapd)"
        )
    for user in ("dovecot", "dovenull"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise MailServerUnavailable(
                f"the system user {user!r} that Dovecot runs as is missing: "
                "run `make services` (Debian package dovecot-imapd creates it)"
            ) from None
    if os.geteuid() != 0:
        raise MailServerUnavailable(
            "the throw-away Dovecot must be started as root: its imap-login drops to the "
            "dovenull user and dovecot-lda delivers as the dovecot user; run it as root "
            "(as the dev container and CI do)"
        )
    return found


class Dovecot:
    """A Dovecot IMAP server on `host` (127.0.0.1) and a free port, removed when stopped.

    `with Dovecot() as dovecot:` (or `async with`) starts it; `add_user` creates accounts at any
    time (Dovecot re-reads its passwd-file when it changes); `deliver` puts a message into a
    user's INBOX with dovecot-lda.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, binary: str | None = None
    ) -> None:
        self.binary = binary  # the `dovecot` executable; None: on PATH, else /usr/sbin
        self.host = host
        self.port = port
        self._requested_port = port
        self._root: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._users: dict[str, MailUser] = {}
        self._users_lock = threading.Lock()

    # -- lifetime -------------------------------------------------------------------------

    def start(self) -> None:
        """Write the configuration, launch Dovecot and wait until it greets on its port."""
        binary = _dovecot_binary(self.binary)
        # Not under pytest's tmp_path: its parents are 0700 and the dovecot user must reach
        # the mail folder. mkdtemp's folder is made traversable below.
        self._root = Path(tempfile.mkdtemp(prefix="prober-dovecot-"))
        self._root.chmod(0o755)
        for folder in ("run", "state", "mail", "users"):
            (self._root / folder).mkdir()
        shutil.chown(self._root / "mail", "dovecot", "dovecot")
        for user in self._users.values():
            self._write_user(user)
        try:
            self._launch(binary)
        except BaseException:
            self.stop()
            raise

    def _launch(self, binary: str) -> None:
        root = self.root
        for _attempt in range(_PORT_ATTEMPTS):
            self.port = self._requested_port or free_port(self.host)
            self.config_path.write_text(
                _CONFIG.format(root=root, host=self.host, port=self.port), encoding="utf-8"
            )
            stderr = (root / "dovecot.stderr").open("wb")
            with stderr:
                self._process = subprocess.Popen(  # noqa: S603
                    [binary, "-F", "-c", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                )
            if self._wait_for_greeting():
                return
            problem = self._log_tail()
            self._terminate()
            if "Address already in use" not in problem or self._requested_port:
                raise DovecotStartFailed(
                    f"Dovecot did not answer on {self.host}:{self.port}: {problem}"
                )
        raise DovecotStartFailed(f"Dovecot found no free port on {self.host}")

    def _wait_for_greeting(self) -> bool:
        if self._process is None:
            return False
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as connection:
                    if connection.recv(64).startswith(b"* OK"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def _log_tail(self) -> str:
        lines: list[str] = []
        for name in ("dovecot.stderr", "dovecot.log"):
            path = self.root / name
            if path.exists():
                lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        return " | ".join(lines[-5:]) or "no log"

    def _terminate(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def stop(self) -> None:
        """Stop Dovecot and remove its folder (configuration, users, mail, log)."""
        self._terminate()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Dovecot:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- where things are -----------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The server's own folder (configuration, users, `mail/<address>/` Maildirs, log)."""
        if self._root is None:
            raise RuntimeError("Dovecot is not started")
        return self._root

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    def maildir(self, address: str) -> Path:
        """The Maildir holding `address`'s INBOX (created on its first delivery or login)."""
        return self.root / "mail" / address.lower()

    # -- users ----------------------------------------------------------------------------

    def add_user(self, address: str, password: str | None = None) -> MailUser:
        """Create the account `address` (its IMAP login), with `password` or a random one."""
        address = address.lower()
        local, _, domain = address.partition("@")
        if not local or not domain or any(c in address for c in ":/ \t\r\n"):
            raise ValueError(f"not a usable mail address for a Dovecot user: {address!r}")
        password = password if password is not None else secrets.token_hex(12)
        if ":" in password or "\n" in password:
            raise ValueError("a Dovecot passwd-file password cannot hold ':' or a newline")
        user = MailUser(address, password)
        with self._users_lock:
            self._users[address] = user
            if self._root is not None:
                self._write_user(user)
        return user

    def has_user(self, address: str) -> bool:
        return address.lower() in self._users

    def _write_user(self, user: MailUser) -> None:
        # One passwd-file per user: Dovecot re-reads a changed passwd-file at most once a
        # second, so a user added to a shared file could stay unknown for up to a second.
        # Written whole then renamed: Dovecot never reads half of one.
        path = self.root / "users" / user.address
        partial = path.with_name(f".{user.address}.new")
        partial.write_text(f"{user.address}:{{PLAIN}}{user.password}\n", encoding="utf-8")
        partial.replace(path)

    # -- delivery -------------------------------------------------------------------------

    async def deliver(
        self,
        user: str,
        message: bytes,
        *,
        envelope_sender: str,
        original_recipient: str | None = None,
    ) -> None:
        """Deliver `message` (as is) to `user`'s INBOX with dovecot-lda.

        dovecot-lda adds no Return-Path nor Delivered-To header: the caller (an MTA) adds them.
        `envelope_sender` "" is the null sender of bounces and automatic replies;
        `original_recipient` the address as sent to (`user+tag@…`), when it differs.
        """
        process = await asyncio.create_subprocess_exec(
            str(DOVECOT_LDA),
            "-c",
            str(self.config_path),
            "-d",
            user.lower(),
            "-a",
            original_recipient or user,
            "-f",
            envelope_sender or "<>",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate(message)
        if process.returncode != 0:
            detail = (stderr or stdout).decode("utf-8", errors="replace").strip()
            raise DeliveryFailed(user, process.returncode or -1, detail or "no output")
