"""``prober users``: workspace accounts: add, list, disable, set-role, reset-password (each in the
audit log)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from prober.cli.output import console
from prober.cli.output import table as plain_table
from prober.cli.project import project
from prober.errors import UsageError
from storage.accounts import (
    StoredAccount,
    add_account,
    disable_account,
    find_account,
    list_accounts,
    set_password_hash,
    set_role,
)
from storage.audit import append_audit
from storage.models import Role
from storage.websessions import close_sessions_of

users_app = typer.Typer(
    no_args_is_help=True,
    help="Accounts of the workspace (auditors, leads, operators, admins, structures).",
)
MAX_LOGIN = 100
ROLES = ", ".join(role.value for role in Role)

ACCOUNT_ADDED = "account_added"
ACCOUNT_DISABLED = "account_disabled"
ROLE_CHANGED = "role_changed"
PASSWORD_RESET = "password_reset"  # noqa: S105 - an audit action, not a password


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise UsageError(f"--role {text!r}: expected one of {ROLES}") from None


def _check_login(login: str) -> str:
    login = login.strip()
    if (
        not login
        or len(login) > MAX_LOGIN
        or not login.isprintable()
        or any(char.isspace() or char == "/" for char in login)
    ):
        raise UsageError(
            f"login {login!r}: give 1 to {MAX_LOGIN} printable characters, no space nor '/'"
        )
    return login


def _read_password() -> str:
    from prober.web.passwords import WeakPasswordError, check_strength

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        check_strength(password)
    except WeakPasswordError as error:
        raise UsageError(str(error)) from None
    return password


@users_app.command("add")
def users_add(
    login: Annotated[str, typer.Argument(help="The person's login, e.g. c.martin.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {ROLES}.")],
    structure: Annotated[
        str | None,
        typer.Option("--structure", help="OFFICIAL_ID of the structure (role structure only)."),
    ] = None,
    organisation: Annotated[
        str, typer.Option("--organisation", help="Who the person works for.")
    ] = "",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input's first line."
        ),
    ] = False,
) -> None:
    """Create an account; without --password-stdin a password is generated and printed, once."""
    from prober.web.passwords import generate_password, hash_password

    login = _check_login(login)
    chosen = _role(role)
    if len(organisation) > 200 or not organisation.isprintable():
        raise UsageError("--organisation: give at most 200 printable characters")
    password = _read_password() if password_stdin else generate_password()
    password_hash = hash_password(password)
    opened = project()
    with opened.session() as session:
        added = add_account(
            session,
            login=login,
            role=chosen,
            password_hash=password_hash,
            structure=structure,
            organisation=organisation,
        )
        append_audit(
            session,
            actor=_actor(),
            action=ACCOUNT_ADDED,
            target=login,
            details={"role": chosen.value, "structure": structure, "organisation": organisation},
        )
    console.print(f"account {added.login!r} ({added.role.value}) created", highlight=False)
    if not password_stdin:
        console.print("its password, shown once (copy it now):", highlight=False)
        sys.stdout.write(password + "\n")


def _row(account: StoredAccount) -> list[str]:
    return [
        account.login,
        account.role.value,
        account.structure_official_id or "",
        account.organisation,
        account.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
        ""
        if account.disabled_at is None
        else account.disabled_at.astimezone().strftime("%Y-%m-%d %H:%M"),
    ]


@users_app.command("list")
def users_list() -> None:
    """Every account: login, role, structure, organisation, created, disabled."""
    opened = project()
    with opened.session() as session:
        accounts = list_accounts(session)
    table = plain_table("login", "role", "structure", "organisation", "created", "disabled")
    for account in accounts:
        table.add_row(*_row(account))
    console.print(table)


@users_app.command("disable")
def users_disable(login: Annotated[str, typer.Argument(help="The account's login.")]) -> None:
    """Refuse an account from now on; its open sessions end at once."""
    opened = project()
    with opened.session() as session:
        before = find_account(session, login)
        disabled = disable_account(session, login)
        closed = close_sessions_of(session, disabled.id)
        if before is not None and before.active:
            append_audit(
                session,
                actor=_actor(),
                action=ACCOUNT_DISABLED,
                target=login,
                details={"sessions_closed": closed},
            )
    console.print(
        f"account {disabled.login!r} disabled ({closed} session(s) closed)", highlight=False
    )


@users_app.command("set-role")
def users_set_role(
    login: Annotated[str, typer.Argument(help="The account's login.")],
    role: Annotated[str, typer.Argument(help=f"The new role: {ROLES}.")],
    structure: Annotated[
        str | None,
        typer.Option("--structure", help="OFFICIAL_ID of the structure (role structure only)."),
    ] = None,
) -> None:
    """Give an account another role; its open sessions end (it signs in again)."""
    chosen = _role(role)
    opened = project()
    with opened.session() as session:
        before = find_account(session, login)
        changed = set_role(session, login, chosen, structure=structure)
        closed = close_sessions_of(session, changed.id)
        append_audit(
            session,
            actor=_actor(),
            action=ROLE_CHANGED,
            target=login,
            details={
                "from": None if before is None else before.role.value,
                "to": chosen.value,
                "structure": structure,
                "sessions_closed": closed,
            },
        )
    console.print(f"account {changed.login!r} is now {changed.role.value}", highlight=False)


@users_app.command("reset-password")
def users_reset_password(
    login: Annotated[str, typer.Argument(help="The account's login.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input's first line."
        ),
    ] = False,
) -> None:
    """Give an account a new password (generated and printed once without --password-stdin);
    its open sessions end."""
    from prober.web.passwords import generate_password, hash_password

    password = _read_password() if password_stdin else generate_password()
    password_hash = hash_password(password)
    opened = project()
    with opened.session() as session:
        changed = set_password_hash(session, login, password_hash)
        closed = close_sessions_of(session, changed.id)
        append_audit(
            session,
            actor=_actor(),
            action=PASSWORD_RESET,
            target=login,
            details={"sessions_closed": closed},
        )
    console.print(f"account {changed.login!r}: new password set", highlight=False)
    if not password_stdin:
        console.print("its password, shown once (copy it now):", highlight=False)
        sys.stdout.write(password + "\n")
