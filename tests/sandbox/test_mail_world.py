"""The mail world file: each structure address's behaviour, and refusals that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import WorldFileError
from sandbox.mail import MailBehaviourKind, MailboxBehaviour, load_mail_world, parse_mail_world


def test_listed_addresses_get_their_behaviour_and_others_the_default() -> None:
    world = parse_mail_world(
        """
        [mailboxes.default]
        behaviour = "none"

        [mailboxes."Accueil@Mairie-Exemple.fr"]
        behaviour = "ack_then_reply"
        ack_delay_s = 60
        delay_s = 86400
        name = "Mairie d'Exemple"

        [mailboxes."accueil@mairie-autre.fr"]
        behaviour = "reply_from_other_address"
        reply_from = "Etat-Civil@mairie-autre.fr"
        body = "Bonjour, voici les horaires."
        """
    )

    assert world.behaviour_of("accueil@mairie-exemple.fr") == MailboxBehaviour(
        behaviour=MailBehaviourKind.ACK_THEN_REPLY,
        delay_s=86400,
        ack_delay_s=60,
        name="Mairie d'Exemple",
    )
    other = world.behaviour_of("ACCUEIL@mairie-autre.fr")
    assert other.reply_from == "etat-civil@mairie-autre.fr"
    assert other.body == "Bonjour, voici les horaires."
    assert world.behaviour_of("contact@ailleurs.fr") == MailboxBehaviour(
        behaviour=MailBehaviourKind.NONE, delay_s=None
    )


def test_delays_default_by_behaviour() -> None:
    world = parse_mail_world(
        """
        [mailboxes."a@x.fr"]
        behaviour = "reply"
        [mailboxes."b@x.fr"]
        behaviour = "ack_then_reply"
        [mailboxes."c@x.fr"]
        behaviour = "out_of_office"
        [mailboxes."d@x.fr"]
        behaviour = "bounce"
        [mailboxes."e@x.fr"]
        behaviour = "reject"
        """
    )

    delays = {
        address: (behaviour.delay_s, behaviour.ack_delay_s)
        for address, behaviour in world.mailboxes.items()
    }
    assert delays == {
        "a@x.fr": (3600, None),
        "b@x.fr": (3600, 60),
        "c@x.fr": (5, None),
        "d@x.fr": (5, None),
        "e@x.fr": (None, None),
    }


def test_an_empty_world_answers_every_probe_after_an_hour() -> None:
    world = parse_mail_world("")

    assert world.behaviour_of("accueil@mairie.fr") == MailboxBehaviour()
    assert MailboxBehaviour().delay_s == 3600


def test_the_phone_worlds_keys_are_left_to_the_phone_loader() -> None:
    world = parse_mail_world(
        """
        ring_cadence_s = 5
        [default]
        rings = 2
        [numbers."+33142765001"]
        rings = 4
        [mailboxes."a@x.fr"]
        behaviour = "bounce"
        """
    )

    assert world.behaviour_of("a@x.fr").behaviour is MailBehaviourKind.BOUNCE


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (
            "[mailboxes.\"a@x.fr\"]\nbehaviour = 'vacation'",
            'mailboxes."a@x.fr".behaviour',
            "not one of",
        ),
        ('[mailboxes."a@x.fr"]\ndelay = 3', 'mailboxes."a@x.fr".delay', "unknown key"),
        ('[mailboxes."a@x.fr"]\ndelay_s = -1', 'mailboxes."a@x.fr".delay_s', "at least 0"),
        ('[mailboxes."a@x.fr"]\ndelay_s = 1.5', 'mailboxes."a@x.fr".delay_s', "whole number"),
        (
            "[mailboxes.\"a@x.fr\"]\nbehaviour = 'reply'\nack_delay_s = 5",
            'mailboxes."a@x.fr".ack_delay_s',
            'means nothing with behaviour "reply"',
        ),
        (
            "[mailboxes.\"a@x.fr\"]\nbehaviour = 'none'\ndelay_s = 5",
            'mailboxes."a@x.fr".delay_s',
            'means nothing with behaviour "none"',
        ),
        (
            "[mailboxes.\"a@x.fr\"]\nbehaviour = 'ack_then_reply'\nack_delay_s = 90\ndelay_s = 60",
            'mailboxes."a@x.fr".ack_delay_s',
            "comes after the reply",
        ),
        (
            "[mailboxes.\"a@x.fr\"]\nbehaviour = 'reply_from_other_address'\nreply_from = 'x'",
            'mailboxes."a@x.fr".reply_from',
            "must be a mail address",
        ),
        ('[mailboxes."a@x.fr"]\nname = 3', 'mailboxes."a@x.fr".name', "must be a string"),
        (
            "[mailboxes.\"accueil\"]\nbehaviour = 'none'",
            'mailboxes."accueil"',
            "not a mail address",
        ),
        (
            '[mailboxes."a@x.fr"]\n[mailboxes."A@X.fr"]',
            'mailboxes."A@X.fr"',
            "listed twice",
        ),
        ("mailboxes = 3", "mailboxes", "must be a table"),
        ('[mailbox."a@x.fr"]', "mailbox", "unknown key (expected one of mailboxes)"),
        ("[mailboxes", "(syntax)", "not valid TOML"),
    ],
)
def test_a_bad_world_is_refused_naming_the_key(text: str, key: str, problem: str) -> None:
    with pytest.raises(WorldFileError) as refused:
        parse_mail_world(text, source="mail.toml")

    assert refused.value.key == key
    assert str(refused.value).startswith(f"mail.toml: {key}: ")
    assert problem in str(refused.value)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(WorldFileError, match=r"absent\.toml: \(file\): cannot be read"):
        load_mail_world(tmp_path / "absent.toml")
