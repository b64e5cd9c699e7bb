"""Persona files: numbers and mailboxes are validated and normalised, ids are unique."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import InvalidFileError, Problem
from config.personas import load_personas
from config.shipped import shipped_path

MARIE = """\
[[persona]]
id = "marie-dupont"
display_name = "Marie Dupont"
caller_id = "{caller_id}"
reply_mailbox = "{mailbox}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "personas.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(InvalidFileError) as caught:
        load_personas(path)
    assert caught.value.path == path
    return caught.value.problems


def test_shipped_personas_load() -> None:
    personas = load_personas(shipped_path("personas.toml"))

    assert len(personas) == 2
    for persona_id, persona in personas.items():
        assert persona.id == persona_id
        assert persona.caller_id.startswith("+33")
        assert persona.reply_mailbox.endswith("@probes.example.org")


def test_national_number_and_mailbox_are_normalised(tmp_path: Path) -> None:
    text = MARIE.format(
        caller_id="06 12 34 56 78", mailbox="Marie.Dupont+mairie@PROBES.Example.org"
    )

    persona = load_personas(write(tmp_path, text))["marie-dupont"]

    assert persona.caller_id == "+33612345678"
    assert persona.reply_mailbox == "Marie.Dupont+mairie@probes.example.org"
    assert persona.postal_address is None


def test_invalid_number_and_mailbox_are_located(tmp_path: Path) -> None:
    text = MARIE.format(caller_id="+33 1 23", mailbox="marie.dupont")

    problems = problems_of(write(tmp_path, text))

    assert [(p.column, p.line) for p in problems] == [
        ("persona[0].caller_id", 4),
        ("persona[0].reply_mailbox", 5),
    ]
    assert "international form" in problems[0].message
    assert "expected an email address" in problems[1].message


def test_duplicate_ids_name_both_entries(tmp_path: Path) -> None:
    one = MARIE.format(caller_id="+33612345678", mailbox="marie@example.org")
    other = one.replace('"Marie Dupont"', '"Jean Martin"')
    path = write(tmp_path, "\n".join([one, other.replace("marie-dupont", "jean-martin"), one]))

    problems = problems_of(path)

    assert len(problems) == 1
    assert problems[0].column == "persona[2].id"
    assert problems[0].line == 14
    assert "'marie-dupont'" in problems[0].message and "persona[0]" in problems[0].message


def test_a_file_without_personas_is_refused(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "# rien\n"))

    assert [p.column for p in problems] == ["persona"]
    assert "[[persona]]" in problems[0].message


def test_unknown_key_in_a_persona(tmp_path: Path) -> None:
    text = MARIE.format(caller_id="+33612345678", mailbox="marie@example.org") + 'phone = "x"\n'

    problems = problems_of(write(tmp_path, text))

    assert [(p.column, p.line) for p in problems] == [("persona[0].phone", 6)]
    assert "unknown key 'phone'" in problems[0].message
