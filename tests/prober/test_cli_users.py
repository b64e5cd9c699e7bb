"""``prober users``: accounts added (password read or generated), listed, disabled, given another
role; passwords kept as argon2 hashes only; every change in the append-only audit log."""

from __future__ import annotations

import io
import sys

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, select

from prober.web.passwords import verify_password
from storage.db import make_engine
from storage.models import Account, AuditEntry
from tests.support.cli import SAMPLES, Run


@pytest.fixture
def project(prober_cli: Run, database_url: str) -> Engine:
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    return make_engine(database_url)


def account(engine: Engine, login: str) -> Account:
    with Session(engine) as session:
        row = session.exec(select(Account).where(Account.login == login)).one()
        session.expunge(row)
        return row


def audit(engine: Engine) -> list[tuple[str, str, dict[str, object]]]:
    with Session(engine) as session:
        rows = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
        return [(row.action, row.target, row.details) for row in rows]


def test_users_add_list_disable_set_role(
    prober_cli: Run, project: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery staple\n"))
    added = prober_cli("users", "add", "c.martin", "--role", "auditor", "--password-stdin",
                       "--organisation", "Cabinet Dupont")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert "correct horse" not in added.stdout
    stored = account(project, "c.martin")
    assert stored.password_hash.startswith("$argon2id$")
    assert verify_password(stored.password_hash, "correct horse battery staple")
    assert not verify_password(stored.password_hash, "correct horse battery stapl")
    # Generated: printed once, last line.
    generated = prober_cli("users", "add", "l.bernard", "--role", "lead")
    assert generated.exit_code == 0, generated.stderr
    password = generated.stdout.splitlines()[-1]
    assert len(password) == 20
    assert verify_password(account(project, "l.bernard").password_hash, password)
    with Session(project) as session:
        official_id = session.exec(text("SELECT official_id FROM structure LIMIT 1")).scalar_one()  # type: ignore[call-overload]
    structure = prober_cli("users", "add", "mairie", "--role", "structure",
                           "--structure", official_id)  # fmt: skip
    assert structure.exit_code == 0, structure.stderr
    listed = prober_cli("users", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert any("c.martin" in line and "auditor" in line and "Cabinet Dupont" in line
               for line in lines)  # fmt: skip
    assert any("mairie" in line and official_id in line for line in lines)
    assert password not in listed.stdout
    changed = prober_cli("users", "set-role", "c.martin", "lead")
    assert changed.exit_code == 0, changed.stderr
    assert account(project, "c.martin").role == "lead"
    reset = prober_cli("users", "reset-password", "l.bernard")
    assert reset.exit_code == 0, reset.stderr
    new_password = reset.stdout.splitlines()[-1]
    assert new_password != password
    assert verify_password(account(project, "l.bernard").password_hash, new_password)
    assert not verify_password(account(project, "l.bernard").password_hash, password)
    disabled = prober_cli("users", "disable", "c.martin")
    assert disabled.exit_code == 0, disabled.stderr
    assert account(project, "c.martin").disabled_at is not None
    assert [(action, target) for action, target, _ in audit(project)] == [
        ("account_added", "c.martin"),
        ("account_added", "l.bernard"),
        ("account_added", "mairie"),
        ("role_changed", "c.martin"),
        ("password_reset", "l.bernard"),
        ("account_disabled", "c.martin"),
    ]
    assert audit(project)[3][2]["from"] == "auditor"
    project.dispose()


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (["x", "--role", "boss"], "", "--role 'boss': expected one of admin"),
        (["x", "--role", "structure"], "", "needs --structure"),
        (["x", "--role", "auditor", "--structure", "21570001"], "", "for structure accounts"),
        (["x", "--role", "structure", "--structure", "nope"], "", "no structure 'nope'"),
        (["x", "--role", "auditor", "--password-stdin"], "short\n", "at least 12"),
        (["a b", "--role", "auditor"], "", "no space"),
    ],
)
def test_users_add_refuses_bad_input(
    prober_cli: Run,
    project: Engine,
    monkeypatch: pytest.MonkeyPatch,
    arguments: list[str],
    stdin: str,
    message: str,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    result = prober_cli("users", "add", *arguments)
    assert result.exit_code != 0
    assert message in result.stderr
    with Session(project) as session:
        assert session.exec(select(Account)).all() == []
    project.dispose()


def test_a_login_is_taken_once_and_the_audit_log_cannot_be_changed(
    prober_cli: Run, project: Engine
) -> None:
    assert prober_cli("users", "add", "c.martin", "--role", "auditor").exit_code == 0
    again = prober_cli("users", "add", "c.martin", "--role", "lead")
    assert again.exit_code == 1 and "exists" in again.stderr
    assert prober_cli("users", "disable", "nobody").exit_code == 1
    for statement in ("UPDATE auditentry SET actor = 'x'", "DELETE FROM auditentry"):
        with project.connect() as connection, pytest.raises(DatabaseError, match="append-only"):
            connection.execute(text(statement))
    assert [action for action, _, _ in audit(project)] == ["account_added"]
    project.dispose()
