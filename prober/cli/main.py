"""The ``prober`` command: its command groups assembled, and user mistakes turned into one line."""

from __future__ import annotations

import sys

import typer

from channels.errors import ChannelError
from config.errors import ConfigError
from prober.cli import demo, setup
from prober.cli.alerts import alerts_app
from prober.cli.audio import audio_app
from prober.cli.catalogue import check_app
from prober.cli.corrections import corrections
from prober.cli.daemon import run
from prober.cli.letters import letter_app
from prober.cli.mail import mail_app, replies_app
from prober.cli.participants import participants_app, wave_publish
from prober.cli.phone import phone_app
from prober.cli.project import on_exit
from prober.cli.results import results_app
from prober.cli.reviews import review_app
from prober.cli.sites import site_app
from prober.cli.structures import structures_app
from prober.cli.tokens import tokens_app
from prober.cli.trophies import trophies_app
from prober.cli.users import users_app
from prober.cli.waves import wave_app
from prober.cli.workspace import workspace
from prober.errors import ProberError
from scheduler.errors import SchedulerError
from storage.errors import StorageError

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="prober: measure how reachable and responsive public services are.",
)
app.command()(setup.init)
app.add_typer(setup.db_app, name="db")
app.add_typer(structures_app, name="structures")
app.add_typer(wave_app, name="wave")
app.add_typer(check_app, name="check")
app.add_typer(phone_app, name="phone")
app.add_typer(mail_app, name="mail")
app.add_typer(replies_app, name="replies")
app.add_typer(review_app, name="review")
app.add_typer(letter_app, name="letter")
app.add_typer(tokens_app, name="tokens")
app.add_typer(users_app, name="users")
app.add_typer(site_app, name="site")
app.add_typer(audio_app, name="audio")
app.add_typer(alerts_app, name="alerts")
app.add_typer(participants_app, name="participants")
wave_app.command("publish")(wave_publish)
app.registered_commands.extend(results_app.registered_commands)
app.registered_commands.extend(trophies_app.registered_commands)
app.command()(run)
app.command()(corrections)
app.command("workspace")(workspace)
app.command()(demo.demo)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    demo.sandbox
)

USER_ERRORS = (ConfigError, StorageError, SchedulerError, ProberError, ChannelError)


def main() -> None:
    """Entry point: user mistakes become one message on stderr and exit status 1."""
    try:
        with on_exit:
            app()
    except USER_ERRORS as exc:
        sys.stderr.write(f"prober: error: {exc}\n")
        sys.exit(1)
