"""`python -m sandbox`: serve the Twilio-compatible API on a local port with uvicorn."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from sandbox.auth import Account
from sandbox.calls import CallStore
from sandbox.errors import SandboxConfigError
from sandbox.pacing import CallPacer
from sandbox.twilio_api import create_app

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
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        account = Account(arguments.account_sid, arguments.auth_token)
        store = CallStore(CallPacer(arguments.calls_per_second))
    except SandboxConfigError as error:
        print(f"sandbox : {error}", file=sys.stderr)  # noqa: T201
        return 2
    uvicorn.run(create_app(account, store), host=arguments.host, port=arguments.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
