"""``prober tokens``: the bearer tokens that open the workspace listener's API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from prober.cli.output import console
from prober.cli.output import table as plain_table
from prober.cli.project import project
from prober.errors import UsageError
from storage.tokens import add_token, list_tokens, revoke_token

tokens_app = typer.Typer(
    no_args_is_help=True, help="API tokens of the workspace listener: add, list, revoke."
)
MAX_NAME = 100


@tokens_app.command("add")
def tokens_add(
    name: Annotated[str, typer.Argument(help="Who or what uses it, e.g. grafana or dupont.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="What it opens (repeatable): results:read, metrics:read."),
    ],
) -> None:
    """Create a token and print it, once: only its SHA-256 is kept."""
    from prober.web.access import SCOPES, new_token, token_digest

    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise UsageError(f"token name {name!r}: give 1 to {MAX_NAME} printable characters")
    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        raise UsageError(f"--scope {unknown[0]!r}: expected one of {', '.join(SCOPES)}")
    token = new_token()
    opened = project()
    with opened.session() as session:
        stored = add_token(session, name=name, sha256=token_digest(token), scopes=scope)
    console.print(
        f"token {stored.name!r} ({', '.join(stored.scopes)}) created; copy it now, it is not"
        " shown again:",
        highlight=False,
    )
    sys.stdout.write(token + "\n")


@tokens_app.command("list")
def tokens_list() -> None:
    """Every token: name, scopes, when created, when revoked (never the token)."""

    opened = project()
    with opened.session() as session:
        tokens = list_tokens(session)
    table = plain_table("name", "scopes", "created", "revoked")
    for token in tokens:
        table.add_row(
            token.name,
            ", ".join(token.scopes),
            token.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            ""
            if token.revoked_at is None
            else token.revoked_at.astimezone().strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Refuse a token from now on (the workspace listener checks at every request)."""

    opened = project()
    with opened.session() as session:
        revoked = revoke_token(session, name)
    assert revoked.revoked_at is not None  # noqa: S101 - revoke_token sets it
    console.print(
        f"token {revoked.name!r} revoked ({revoked.revoked_at.astimezone():%Y-%m-%d %H:%M})",
        highlight=False,
    )
