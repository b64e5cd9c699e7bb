"""World files: what each number does, and errors that name the key to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import Answer, Behaviour, Outcome, WorldFileError, load_world, parse_world
from sandbox.__main__ import main
from sandbox.world import AfterHold, MenuEntry


def test_listed_numbers_get_their_behaviour_and_others_the_default() -> None:
    world = parse_world(
        """
        ring_cadence_s = 5
        [numbers."+33142765001"]
        rings = 4
        answer = "machine"
        greeting = "Vous êtes bien sur la messagerie de la mairie"
        hangup_after_s = 12

        [numbers."+33142765002"]
        outcome = "busy"
        """
    )

    assert world.behaviour_of("+33142765001") == Behaviour(
        rings=4,
        answer=Answer.MACHINE,
        greeting="Vous êtes bien sur la messagerie de la mairie",
        hangup_after_s=12,
    )
    busy = world.behaviour_of("+33142765002")
    assert (busy.outcome, busy.answer, busy.rings) == (Outcome.BUSY, None, 0)
    default = world.behaviour_of("+33199999999")
    assert (default.rings, default.answer, default.hangup_after_s) == (3, Answer.HUMAN, 30)
    assert world.ring_cadence_s == 5


def test_a_person_may_transfer_on_request() -> None:
    world = parse_world(
        """
        [numbers."+33142765001"]
        greeting = "Mairie du onzième, bonjour"
        [numbers."+33142765001".transfer]
        hold_s = 45
        then = "voicemail"
        greeting = "Vous êtes bien sur la messagerie du service urbanisme"
        """
    )

    behaviour = world.behaviour_of("+33142765001")
    assert behaviour.transfer == MenuEntry(
        hold_s=45,
        then=AfterHold.VOICEMAIL,
        greeting="Vous êtes bien sur la messagerie du service urbanisme",
    )
    assert behaviour.to_json()["transfer"] == {
        "hold_s": 45,
        "then": "voicemail",
        "greeting": "Vous êtes bien sur la messagerie du service urbanisme",
        "say": None,
        "hold": "silence",
        "announcement": None,
        "announcement_every_s": 30,
        "menu": {},
    }
    assert world.behaviour_of("+33199999999").transfer is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[numbers."+33142765001"]\nanswer = "robot"', 'numbers."+33142765001".answer'),
        ('[numbers."+33142765001"]\nrings = -1', 'numbers."+33142765001".rings'),
        ('[numbers."+33142765001"]\nring = 2', 'numbers."+33142765001".ring'),
        ('[numbers."0142765001"]\nrings = 2', 'numbers."0142765001"'),
        ('[numbers."+33142765001"]\noutcome = "busy"\nanswer = "human"', 'numbers."+33142765001"'),
        ('[default]\nhangup_after_s = "30"', "default.hangup_after_s"),
        ("ring_cadence_s = 0", "ring_cadence_s"),
        ('[numbers."+33142765001".menu."12"]\nhold_s = 5', 'numbers."+33142765001".menu."12"'),
        (
            '[numbers."+33142765001".menu."2"]\nthen = "music"',
            'numbers."+33142765001".menu."2".then',
        ),
        ('[numbers."+33142765001"]\ntransfer = 3', 'numbers."+33142765001".transfer'),
        (
            '[numbers."+33142765001".transfer]\nhold = 5',
            'numbers."+33142765001".transfer.hold',
        ),
        (
            '[numbers."+33142765001".transfer]\nthen = "music"',
            'numbers."+33142765001".transfer.then',
        ),
        (
            '[numbers."+33142765001".transfer]\nhold_s = -5',
            'numbers."+33142765001".transfer.hold_s',
        ),
        (
            '[numbers."+33142765001"]\noutcome = "busy"\n[numbers."+33142765001".transfer]',
            'numbers."+33142765001".transfer',
        ),
        (
            '[numbers."+33142765001"]\nlose_final_callback = "yes"',
            'numbers."+33142765001".lose_final_callback',
        ),
        ("numbers = [", "(syntax)"),
    ],
)
def test_an_error_names_the_key(text: str, key: str) -> None:
    with pytest.raises(WorldFileError) as raised:
        parse_world(text, source="monde.toml")

    assert raised.value.key == key
    assert str(raised.value).startswith(f"monde.toml: {key}: ")


def test_python_m_sandbox_refuses_a_bad_world_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = tmp_path / "monde.toml"
    world.write_text('[numbers."+33142765001"]\nanswer = "robot"\n', encoding="utf-8")
    arguments = ["--account-sid", "AC" + "ab" * 16, "--auth-token", "tok", "--world", str(world)]

    assert main(arguments) == 2

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert 'numbers."+33142765001".answer' in error and "robot" in error


def test_a_missing_world_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(WorldFileError, match=r"absent\.toml"):
        load_world(tmp_path / "absent.toml")
