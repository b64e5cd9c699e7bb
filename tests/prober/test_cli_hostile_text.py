"""Text from outside (imported files, emails) is printed as text: no markup, no terminal codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from prober.cli.output import safe
from storage.db import make_engine
from storage.models import Reply
from tests.support.cli import Run

HOSTILE_NAMES = {
    "A1": "Mairie [/i] fermée",
    "B2": "[link=https://evil.example]Cliquez[/link]",
    "C3": "Mairie \x1b[2J\x1b[31mrouge",
}


def _import(prober_cli: Run, tmp_path: Path) -> None:
    header = "official_id,name,kind,departement,population,phone,email,opening_hours"
    rows = [
        f'{official_id},"{name}",mairie,77,1000,01 64 00 00 0{n},,Mo-Fr 09:00-12:00'
        for n, (official_id, name) in enumerate(HOSTILE_NAMES.items(), start=1)
    ]
    path = tmp_path / "hostile.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    assert prober_cli("init").exit_code == 0
    result = prober_cli("structures", "import", str(path))
    assert result.exit_code == 0, result.stderr


def test_safe_escapes_markup_and_shows_control_characters() -> None:
    assert safe("[/bold]") == "\\[/bold]"
    assert safe("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert safe("tab\tand\nnewline") == "tab\tand\nnewline"
    assert safe("\x9b31m") == "\\x9b31m"


def test_structure_names_are_printed_as_text(prober_cli: Run, tmp_path: Path) -> None:
    _import(prober_cli, tmp_path)

    listed = prober_cli("structures", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "\x1b" not in listed.stdout
    assert "[/i]" in listed.stdout
    assert "[link=https://evil.example]Cliquez[/link]" in listed.stdout
    assert "\\x1b[2J" in listed.stdout

    shown = prober_cli("structures", "show", "A1")
    assert shown.exit_code == 0, shown.stderr
    assert "Mairie [/i] fermée" in shown.stdout


def test_unmatched_replies_print_subjects_and_senders_as_text(
    prober_cli: Run, database_url: str
) -> None:
    assert prober_cli("init").exit_code == 0
    engine: Engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            for n, (sender, subject) in enumerate(
                [
                    ("a@example.fr", "[/bold]"),
                    (
                        "[link=https://evil.example]x[/link]",
                        "Réponse [link=https://evil.example]ici",
                    ),
                    ("c@example.fr", "\x1b[2Jeffacé"),
                ]
            ):
                session.add(
                    Reply(
                        channel="email",
                        sha256=f"{n:064d}",
                        sender=sender,
                        subject=subject,
                        received_at=datetime(2026, 12, 1, 9, n, tzinfo=UTC),
                    )
                )
            session.commit()
    finally:
        engine.dispose()

    result = prober_cli("replies", "unmatched")
    assert result.exit_code == 0, result.stderr
    assert "[/bold]" in result.stdout
    assert "[link=https://evil.example]" in result.stdout
    assert "\x1b" not in result.stdout
    assert "\\x1b[2Jeffacé" in result.stdout
