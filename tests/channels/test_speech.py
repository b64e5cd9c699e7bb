"""Telling a person from a voicemail or a menu by the words, and finding the right menu key."""

from __future__ import annotations

import pytest

from channels.phone.speech import (
    Heard,
    MenuOption,
    choose_menu_key,
    classify_speech,
    mentions_opening_hours,
    menu_options,
)


@pytest.mark.parametrize(
    ("text", "heard"),
    [
        ("Mairie de Vincennes, bonjour.", Heard.HUMAN),
        ("Accueil, Sandrine à l'appareil, que puis-je pour vous ?", Heard.HUMAN),
        (
            "Vous êtes bien sur la messagerie de la mairie, laissez votre message après le bip.",
            Heard.MACHINE,
        ),
        ("Bonjour, vous êtes sur le répondeur du service urbanisme.", Heard.MACHINE),
        ("You have reached the town hall, please leave a message after the tone.", Heard.MACHINE),
        ("Tapez 1 pour l'état civil, 2 pour l'urbanisme.", Heard.IVR),
        ("Pour joindre l'accueil, appuyez sur la touche étoile.", Heard.IVR),
        ("Press 1 for billing.", Heard.IVR),
        ("", Heard.SILENCE),
        (None, Heard.SILENCE),
        ("   ", Heard.SILENCE),
    ],
)
def test_classify_speech(text: str | None, heard: Heard) -> None:
    assert classify_speech(text) is heard


def test_a_menu_that_ends_on_a_voicemail_cue_is_a_voicemail() -> None:
    # "laissez un message" wins: a menu never asks the caller to leave one.
    text = "Nos bureaux sont fermés. Pour nous laisser un message, tapez 1, ou laissez un message."
    assert classify_speech(text) is Heard.MACHINE


def test_menu_options_in_both_word_orders_and_spelled_keys() -> None:
    text = (
        "Bienvenue à la mairie. Pour l'urbanisme, tapez 2. Pour l'état civil, tapez le 1. "
        "Appuyez sur étoile pour réécouter ce message, ou tapez trois pour la cantine."
    )
    assert menu_options(text) == [
        MenuOption("2", "l urbanisme"),
        MenuOption("1", "l etat civil"),
        MenuOption("*", "reecouter ce message"),
        MenuOption("3", "la cantine"),
    ]


@pytest.mark.parametrize(
    ("menu", "target", "key"),
    [
        ("Tapez 1 pour l'état civil, 2 pour l'urbanisme.", "service état civil", "1"),
        ("Tapez 1 pour l'état civil, 2 pour l'urbanisme.", "urbanisme", "2"),
        ("Pour les impôts, tapez 1. Pour la cantine, tapez 2.", "service état civil", None),
        ("Pour les actes d'état-civil, appuyez sur 4.", "état civil", "4"),
        ("Press 3 for billing, 4 for support.", "support", "4"),
        ("Bonjour, mairie de Lyon.", "état civil", None),
    ],
)
def test_choose_menu_key(menu: str, target: str, key: str | None) -> None:
    assert choose_menu_key(menu, target) == key


@pytest.mark.parametrize(
    ("text", "gives"),
    [
        ("La mairie est ouverte du lundi au vendredi de 8h30 à 17h.", True),
        ("Nos horaires : de 9 heures à midi.", True),
        ("Nos bureaux sont actuellement fermés, merci de rappeler.", True),
        ("Vous êtes sur la messagerie de la mairie, laissez un message.", False),
        (None, False),
    ],
)
def test_mentions_opening_hours(text: str | None, gives: bool) -> None:
    assert mentions_opening_hours(text) is gives
