"""Scenario files: the shipped ones load, bad ones are rejected with located, explicit problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError, InvalidFileError, Problem
from config.scenarios import (
    ScenarioDirectoryError,
    load_scenario,
    load_scenarios,
    template_path,
)
from config.shipped import shipped_path

PHONE_SCENARIO = """\
id = "{id}"
channel = "phone"
title = "Demande d'acte de naissance"

[phone]
request = "Bonjour, je souhaiterais un acte de naissance."
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def only_problem(path: Path) -> Problem:
    with pytest.raises(InvalidFileError) as caught:
        load_scenario(path)
    assert caught.value.path == path
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


def test_shipped_scenarios_load() -> None:
    scenarios = load_scenarios(shipped_path("scenarios"))

    assert {sid: s.channel for sid, s in scenarios.items()} == {
        "etat-civil-phone": "phone",
        "horaires-phone": "phone",
        "etat-civil-email": "email",
        "demande-courrier": "letter",
        "site-web": "web",
    }
    civil_status = scenarios["etat-civil-phone"].phone
    assert civil_status is not None and civil_status.transfer_to
    opening_hours = scenarios["horaires-phone"].phone
    assert opening_hours is not None and opening_hours.transfer_to is None

    email = scenarios["etat-civil-email"].email
    assert email is not None
    body = template_path(email.body)
    assert body is not None and body.is_absolute()
    assert "{{ persona.display_name }}" in body.read_text(encoding="utf-8")
    assert "{{ structure.name }}" in body.read_text(encoding="utf-8")
    letter = scenarios["demande-courrier"].letter
    assert letter is not None
    letter_body = template_path(letter.body)
    assert letter_body is not None and letter_body.is_file()


def test_phone_defaults_apply(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "appel.toml", PHONE_SCENARIO.format(id="appel")))

    assert scenario.language == "fr"
    assert scenario.phone is not None
    assert (scenario.phone.max_ring_seconds, scenario.phone.max_call_seconds) == (60, 300)
    assert scenario.phone.record is True


def test_inline_email_body_is_kept_as_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "courriel.toml",
        'id = "courriel"\nchannel = "email"\ntitle = "t"\n\n'
        '[email]\nsubject = "Objet : {{ structure.name }}"\n'
        'body = "Bonjour {{ structure.name }}"\n',
    )

    email = load_scenario(path).email

    assert email is not None
    assert email.body == "Bonjour {{ structure.name }}"
    assert template_path(email.body) is None


def test_template_file_is_found_relative_to_the_scenario_file(tmp_path: Path) -> None:
    template = write(tmp_path, "scenarios/templates/lettre.txt.j2", "Madame, Monsieur,")
    path = write(
        tmp_path,
        "scenarios/lettre.toml",
        'id = "lettre"\nchannel = "letter"\ntitle = "t"\n\n'
        '[letter]\nbody = "templates/lettre.txt.j2"\n',
    )

    letter = load_scenario(path).letter

    assert letter is not None
    assert template_path(letter.body) == template.resolve()


def test_missing_template_file_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "lettre.toml",
        'id = "lettre"\nchannel = "letter"\ntitle = "t"\n\n'
        '[letter]\nbody = "templates/absent.j2"\n',
    )

    problem = only_problem(path)

    assert problem.column == "letter.body"
    assert problem.line == 6
    assert "absent.j2" in problem.message and "not found" in problem.message


def test_wrong_channel_says_what_is_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "fax.toml", 'id = "fax"\nchannel = "fax"\ntitle = "t"\n')

    with pytest.raises(InvalidFileError) as caught:
        load_scenario(path)

    assert caught.value.problems == [
        Problem("expected one of phone, email, letter, web, got 'fax'", line=2, column="channel")
    ]
    assert str(path) in str(caught.value)


def test_missing_channel_section(tmp_path: Path) -> None:
    path = write(tmp_path, "appel.toml", 'id = "appel"\nchannel = "phone"\ntitle = "t"\n')

    problem = only_problem(path)

    assert problem.column == "phone"
    assert "missing section [phone]" in problem.message


def test_section_of_another_channel_is_refused(tmp_path: Path) -> None:
    text = PHONE_SCENARIO.format(id="appel") + '\n[letter]\nbody = "Madame, Monsieur"\n'
    path = write(tmp_path, "appel.toml", text)

    problem = only_problem(path)

    assert problem.column == "letter"
    assert problem.line == 8
    assert "not allowed when channel = 'phone'" in problem.message


def test_misspelt_key_is_located_and_corrected(tmp_path: Path) -> None:
    text = PHONE_SCENARIO.format(id="appel") + "max_ring_second = 30\n"
    path = write(tmp_path, "appel.toml", text)

    problem = only_problem(path)

    assert problem.column == "phone.max_ring_second"
    assert problem.line == 7
    assert "did you mean 'max_ring_seconds'?" in problem.message


def test_out_of_range_and_wrongly_typed_values(tmp_path: Path) -> None:
    text = PHONE_SCENARIO.format(id="appel") + 'max_ring_seconds = 2\nrecord = "yes"\n'
    path = write(tmp_path, "appel.toml", text)

    with pytest.raises(InvalidFileError) as caught:
        load_scenario(path)

    assert caught.value.problems == [
        Problem("expected a number at least 5, got 2", line=7, column="phone.max_ring_seconds"),
        Problem("expected true or false, got 'yes'", line=8, column="phone.record"),
    ]


def test_ivr_choice_takes_keypad_digits_only(tmp_path: Path) -> None:
    good = PHONE_SCENARIO.format(id="menu") + 'ivr_choice = "w1#"\n'
    assert load_scenario(write(tmp_path, "menu.toml", good)).phone is not None

    bad = PHONE_SCENARIO.format(id="menu") + 'ivr_choice = "1, 2"\n'
    problem = only_problem(write(tmp_path, "menu.toml", bad))

    assert problem.column == "phone.ivr_choice"
    assert "keypad digits" in problem.message


def test_id_must_equal_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "appel.toml", PHONE_SCENARIO.format(id="autre-appel"))

    problem = only_problem(path)

    assert problem.column == "id"
    assert problem.line == 1
    assert "'appel'" in problem.message and "'autre-appel'" in problem.message


def test_line_numbers_skip_multiline_strings(tmp_path: Path) -> None:
    text = 'id = "appel"\ndescription = """\nchannel = "phone"\n"""\nchannel = "fax"\ntitle = "t"\n'
    path = write(tmp_path, "appel.toml", text)

    problem = only_problem(path)

    assert (problem.column, problem.line) == ("channel", 5)


def test_toml_syntax_error_gives_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "appel.toml", 'id = "appel"\nchannel = "phone"\ntitle = \n')

    problem = only_problem(path)

    assert problem.line == 3
    assert problem.message.startswith("not valid TOML")


def test_directory_reports_every_invalid_file(tmp_path: Path) -> None:
    write(tmp_path, "appel.toml", PHONE_SCENARIO.format(id="appel"))
    write(tmp_path, "fax.toml", 'id = "fax"\nchannel = "fax"\ntitle = "t"\n')
    write(tmp_path, "vide.toml", 'id = "vide"\nchannel = "phone"\n')

    with pytest.raises(ScenarioDirectoryError) as caught:
        load_scenarios(tmp_path)

    assert [error.path.name for error in caught.value.errors] == ["fax.toml", "vide.toml"]
    message = str(caught.value)
    assert "fax.toml" in message and "channel" in message
    assert "vide.toml" in message and "missing required key 'title'" in message


def test_valid_directory_is_loaded_by_id(tmp_path: Path) -> None:
    write(tmp_path, "appel.toml", PHONE_SCENARIO.format(id="appel"))
    write(tmp_path, "rappel.toml", PHONE_SCENARIO.format(id="rappel"))
    write(tmp_path, "notes.txt", "not a scenario")

    assert sorted(load_scenarios(tmp_path)) == ["appel", "rappel"]


def test_missing_directory_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="prober init") as caught:
        load_scenarios(tmp_path / "scenarios")

    assert not isinstance(caught.value, ScenarioDirectoryError)
