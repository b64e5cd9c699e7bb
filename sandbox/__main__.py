"""`python -m sandbox`: serve the Twilio-compatible API on a local port with uvicorn.

With `--smtp-port`, the structures' mailboxes (`sandbox.mail.MailSandbox`) are served too, in
the same event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import uvicorn

from sandbox.auth import Account
from sandbox.calls import CallStore
from sandbox.errors import SandboxConfigError
from sandbox.faults import Faults
from sandbox.mail import (
    DEFAULT_HOSTNAME,
    MailSandbox,
    MailTruthLog,
    MailWorld,
    Relay,
    load_mail_world,
)
from sandbox.pacing import CallPacer
from sandbox.runner import CallRunner, RunnerTiming
from sandbox.truth import TruthLog
from sandbox.twilio_api import create_app
from sandbox.world import World, load_world

# Twilio's default for an account: one call per second (extra calls queue).
DEFAULT_CALLS_PER_SECOND = 1.0


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Bac à sable compatible avec l'API REST de Twilio (Calls, Recordings).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="adresse d'écoute")
    parser.add_argument("--port", type=int, default=8099, help="port d'écoute")
    parser.add_argument("--account-sid", required=True, help="SID du compte simulé (AC…)")
    parser.add_argument("--auth-token", required=True, help="jeton d'authentification attendu")
    parser.add_argument(
        "--calls-per-second",
        type=float,
        default=DEFAULT_CALLS_PER_SECOND,
        help="appels démarrés par seconde au plus ; les suivants restent en file (défaut 1)",
    )
    parser.add_argument(
        "--world",
        type=Path,
        help="fichier TOML du monde simulé (comportement de chaque numéro, voir docs/sandbox.md)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="secondes réelles par seconde simulée (0.01 : cent fois plus vite ; défaut 1)",
    )
    parser.add_argument(
        "--callback-jitter-s",
        type=float,
        default=0.0,
        help="retard aléatoire (secondes réelles) de chaque rappel d'état : ordre d'arrivée mêlé",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        help="journal de vérité (JSON lines), une ligne par appel terminé",
    )
    parser.add_argument(
        "--max-concurrent-requests",
        type=int,
        default=0,
        metavar="N",
        help="requêtes API traitées à la fois au plus ; au-delà, 429 / 20429 (défaut 0 : illimité)",
    )
    parser.add_argument(
        "--fail-creates-after-commit",
        type=int,
        default=0,
        metavar="N",
        help="les N prochaines créations d'appel répondent 500 / 20500, l'appel ayant bien lieu",
    )
    parser.add_argument(
        "--fail-recording-downloads",
        type=int,
        default=0,
        metavar="N",
        help="les N prochains téléchargements d'enregistrement répondent 503 / 20503",
    )
    parser.add_argument(
        "--create-response-delay-s",
        type=float,
        default=0.0,
        metavar="S",
        help="chaque création d'appel répond S secondes réelles après avoir créé l'appel",
    )
    parser.add_argument(
        "--price-delay-s",
        type=float,
        default=5.0,
        metavar="S",
        help="le prix d'un appel terminé apparaît S secondes réelles après sa fin (défaut 5)",
    )
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="ne pas écrire une ligne par requête (charges lourdes : bench/national.py)",
    )
    mail = parser.add_argument_group(
        "boîtes aux lettres des structures",
        "serveur SMTP qui reçoit les courriels de sonde et y répond (voir docs/sandbox.md)",
    )
    mail.add_argument(
        "--smtp-port",
        type=int,
        metavar="PORT",
        help="port SMTP des structures (sur --host) ; sans lui, pas de courriel",
    )
    mail.add_argument(
        "--mail-world",
        type=Path,
        metavar="FICHIER",
        help='fichier TOML des boîtes aux lettres ([mailboxes."adresse"], [mailboxes.default])',
    )
    mail.add_argument(
        "--relay-host",
        metavar="HÔTE",
        help="serveur SMTP par lequel partent les réponses (défaut 127.0.0.1)",
    )
    mail.add_argument("--relay-port", type=int, metavar="PORT", help="son port (défaut 25)")
    mail.add_argument(
        "--mail-truth",
        type=Path,
        metavar="FICHIER",
        help="journal de vérité des courriels (JSON lines), une ligne par message envoyé",
    )
    mail.add_argument(
        "--mail-hostname",
        metavar="NOM",
        help=f"nom du serveur des structures (MAILER-DAEMON@…, défaut {DEFAULT_HOSTNAME})",
    )
    return parser.parse_args(argv)


_MAIL_OPTIONS = {
    "mail_world": "--mail-world",
    "relay_host": "--relay-host",
    "relay_port": "--relay-port",
    "mail_truth": "--mail-truth",
    "mail_hostname": "--mail-hostname",
}


def _mail_sandbox(arguments: argparse.Namespace) -> MailSandbox | None:
    """The mailboxes the options ask for, or None without `--smtp-port`."""
    if arguments.smtp_port is None:
        for name, option in _MAIL_OPTIONS.items():
            if getattr(arguments, name) is not None:
                raise SandboxConfigError(f"{option} needs --smtp-port (the mailboxes' SMTP port)")
        return None
    relay = Relay(arguments.relay_host or "127.0.0.1", arguments.relay_port or 25)
    for option, port in (("--smtp-port", arguments.smtp_port), ("--relay-port", relay.port)):
        if not 0 < port < 65536:
            raise SandboxConfigError(f"{option} must be a TCP port (1-65535), got {port}")
    world = load_mail_world(arguments.mail_world) if arguments.mail_world else MailWorld()
    return MailSandbox(
        world,
        relay,
        truth=MailTruthLog(arguments.mail_truth),
        time_scale=arguments.time_scale,
        host=arguments.host,
        port=arguments.smtp_port,
        hostname=arguments.mail_hostname or DEFAULT_HOSTNAME,
    )


async def _serve(server: uvicorn.Server, mail: MailSandbox | None) -> None:
    # uvicorn re-raises SIGINT/SIGTERM once it has stopped: capturing them around the mailboxes
    # too lets them stop (and log what was still due) before the signal ends the process.
    with server.capture_signals():
        async with AsyncExitStack() as resources:
            if mail is not None:
                try:
                    await resources.enter_async_context(mail)
                except OSError as error:
                    raise SandboxConfigError(
                        f"cannot serve SMTP on {mail.host}:{mail.port} ({error.strerror or error})"
                    ) from None
                print(  # noqa: T201
                    f"sandbox : boîtes aux lettres en SMTP sur {mail.host}:{mail.port}, "
                    f"réponses relayées par {mail.relay.host}:{mail.relay.port}",
                    file=sys.stderr,
                )
            await server.serve()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        account = Account(arguments.account_sid, arguments.auth_token)
        store = CallStore(
            CallPacer(arguments.calls_per_second), price_delay_s=arguments.price_delay_s
        )
        world = load_world(arguments.world) if arguments.world else World()
        runner = CallRunner(
            account,
            store,
            world,
            timing=RunnerTiming(
                time_scale=arguments.time_scale, callback_jitter_s=arguments.callback_jitter_s
            ),
            truth=TruthLog(arguments.truth),
        )
        faults = Faults(
            fail_call_creates_after_commit=arguments.fail_creates_after_commit,
            delay_call_create_response_s=arguments.create_response_delay_s,
            fail_recording_downloads=arguments.fail_recording_downloads,
        )
        app = create_app(
            account,
            store,
            runner=runner,
            faults=faults,
            max_concurrent_requests=arguments.max_concurrent_requests,
        )
        mail = _mail_sandbox(arguments)
        config = uvicorn.Config(
            app, host=arguments.host, port=arguments.port, access_log=not arguments.no_access_log
        )
        # As uvicorn.run does, on uvicorn's loop (uvloop when installed).
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as event_loop:
            event_loop.run(_serve(uvicorn.Server(config), mail))
    except SandboxConfigError as error:
        print(f"sandbox : {error}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
