"""`python -m sandbox.mail`: prober's own mail provider on loopback, for the demo.

A throw-away Dovecot (IMAP) with the given accounts, and an SMTP server delivering into them;
everything is removed when it stops (SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from aiosmtpd.smtp import SMTP

from sandbox.errors import SandboxConfigError
from sandbox.mail.delivery import DovecotDelivery
from sandbox.mail.dovecot import Dovecot
from sandbox.mail.errors import DovecotStartFailed


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.mail",
        description="Messagerie de prober sur la boucle locale : Dovecot (IMAP) et SMTP.",
    )
    parser.add_argument("--imap-port", type=int, default=0, help="port IMAP (défaut : libre)")
    parser.add_argument("--smtp-port", type=int, required=True, help="port SMTP de réception")
    parser.add_argument(
        "--user",
        action="append",
        required=True,
        metavar="ADRESSE:MOT_DE_PASSE",
        help="compte à créer (répétable) ; adresse+étiquette@… y arrive aussi",
    )
    parser.add_argument(
        "--catch-all",
        metavar="ADRESSE",
        help="compte qui reçoit toute autre adresse de son domaine",
    )
    return parser.parse_args(argv)


async def serve(arguments: argparse.Namespace) -> None:
    dovecot = Dovecot(port=arguments.imap_port)
    for entry in arguments.user:
        address, colon, password = entry.partition(":")
        if not colon or not password:
            raise SandboxConfigError(f"--user {entry!r}: expected ADDRESS:PASSWORD")
        try:
            dovecot.add_user(address, password)
        except ValueError as error:
            raise SandboxConfigError(f"--user {entry!r}: {error}") from None
    if arguments.catch_all and not dovecot.has_user(arguments.catch_all):
        raise SandboxConfigError(f"--catch-all {arguments.catch_all}: not one of the --user")
    async with dovecot:
        handler = DovecotDelivery(dovecot, catch_all=arguments.catch_all)
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                lambda: SMTP(handler, hostname="mail.sandbox.test", enable_SMTPUTF8=True),
                "127.0.0.1",
                arguments.smtp_port,
            )
        except OSError as error:
            raise SandboxConfigError(
                f"cannot serve SMTP on 127.0.0.1:{arguments.smtp_port} ({error.strerror})"
            ) from None
        stop = asyncio.Event()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        print(  # noqa: T201
            f"sandbox.mail : IMAP sur 127.0.0.1:{dovecot.port}, SMTP sur "
            f"127.0.0.1:{arguments.smtp_port}, dossier {dovecot.root}",
            file=sys.stderr,
            flush=True,
        )
        async with server:
            await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        asyncio.run(serve(arguments))
    except (SandboxConfigError, DovecotStartFailed) as error:
        print(f"sandbox.mail : {error}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
