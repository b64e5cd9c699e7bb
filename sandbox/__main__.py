"""`python -m sandbox`: serve the Twilio-compatible API on a local port with uvicorn."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from sandbox.auth import Account
from sandbox.calls import CallStore
from sandbox.errors import SandboxConfigError
from sandbox.faults import Faults
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
        "--create-response-delay-s",
        type=float,
        default=0.0,
        metavar="S",
        help="chaque création d'appel répond S secondes réelles après avoir créé l'appel",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        account = Account(arguments.account_sid, arguments.auth_token)
        store = CallStore(CallPacer(arguments.calls_per_second))
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
        )
        app = create_app(
            account,
            store,
            runner=runner,
            faults=faults,
            max_concurrent_requests=arguments.max_concurrent_requests,
        )
    except SandboxConfigError as error:
        print(f"sandbox : {error}", file=sys.stderr)  # noqa: T201
        return 2
    uvicorn.run(app, host=arguments.host, port=arguments.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
