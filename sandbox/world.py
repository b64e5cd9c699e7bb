"""The simulated structures: how each called number behaves, read from a TOML world file."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import phonenumbers

from sandbox.errors import SandboxConfigError

_Choice = TypeVar("_Choice", bound=StrEnum)

# France: 1.5 s of ringback then 3.5 s of silence, one ring every 5 s (ITU-T E.180).
FRANCE_RING_CADENCE_S = 5


class Answer(StrEnum):
    """Who picks up: a person, a voicemail, or an automated menu."""

    HUMAN = "human"
    MACHINE = "machine"
    IVR = "ivr"


class Outcome(StrEnum):
    """How a call that nobody answers ends (Twilio's final statuses)."""

    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


class AfterHold(StrEnum):
    """What a transfer (from a menu, or by the person who answered) leads to after the hold."""

    HUMAN = "human"
    VOICEMAIL = "voicemail"
    DROPPED = "dropped"
    MENU = "menu"  # a second-level menu: its own greeting and menu table


class HoldSound(StrEnum):
    """What the caller hears on hold: nothing, or music (which a recogniser may mishear)."""

    SILENCE = "silence"
    MUSIC = "music"


class Recognition(StrEnum):
    """How well Twilio's recogniser hears the line: clean, or noisy (wrong words, spurious
    partial results on music)."""

    CLEAN = "clean"
    NOISY = "noisy"


DEFAULT_ANNOUNCEMENT_EVERY_S = 30


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A transfer: `say` at once, then `hold` until `hold_s` after the request, then `then`.

    Used for a menu key's entry and for a person's `transfer` on request. `hold_s` counts
    from the request (key pressed, request said) to the first words of `then` (its
    `greeting`); `announcement` is repeated every `announcement_every_s` meanwhile. With
    `then = "menu"`, `greeting` and `menu` are a second-level menu's.
    """

    hold_s: int = 0
    then: AfterHold = AfterHold.HUMAN
    greeting: str = "Bonjour, je vous écoute."  # see DEFAULT_TRANSFER_GREETING
    say: str | None = None
    hold: HoldSound = HoldSound.SILENCE
    announcement: str | None = None
    announcement_every_s: int = DEFAULT_ANNOUNCEMENT_EVERY_S
    menu: Mapping[str, MenuEntry] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "hold_s": self.hold_s,
            "then": str(self.then),
            "greeting": self.greeting,
            "say": self.say,
            "hold": str(self.hold),
            "announcement": self.announcement,
            "announcement_every_s": self.announcement_every_s,
            "menu": {key: entry.to_json() for key, entry in self.menu.items()},
        }


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What a number does when called: rings `rings` times, then is answered or ends.

    Exactly one of `answer` and `outcome` is set. `hangup_after_s` counts from the answer;
    None means the callee stays on the line until the caller hangs up.
    """

    rings: int = 3
    answer: Answer | None = Answer.HUMAN
    outcome: Outcome | None = None
    greeting: str = "Bonjour, vous êtes bien à l'accueil, que puis-je pour vous ?"
    hangup_after_s: int | None = 30
    digits: str | None = None
    post_dial_delay_s: int = 1
    # A menu (usually with answer = "ivr"): the caller's DTMF (`<Play digits>`) picks an entry.
    menu: Mapping[str, MenuEntry] = field(default_factory=dict)
    # A person who transfers the call once the caller has made its request (its first <Say>).
    transfer: MenuEntry | None = None
    # Music before the greeting (a line that answers with music first), in seconds.
    music_before_greeting_s: int = 0
    recognition: Recognition = Recognition.CLEAN
    # A switchboard that answers at once and plays its own ringback, this many rings, before
    # its greeting: the network's callbacks say "answered", the caller still hears ringing.
    ringback_after_answer: int = 0
    # The call's final status callback is lost (its delivery fails) and, as Twilio does with
    # status callbacks, never sent again: only the REST API then tells that the call ended.
    lose_final_callback: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "rings": self.rings,
            "answer": None if self.answer is None else str(self.answer),
            "outcome": None if self.outcome is None else str(self.outcome),
            "greeting": self.greeting,
            "hangup_after_s": self.hangup_after_s,
            "digits": self.digits,
            "post_dial_delay_s": self.post_dial_delay_s,
            "menu": {key: entry.to_json() for key, entry in self.menu.items()},
            "transfer": None if self.transfer is None else self.transfer.to_json(),
            "music_before_greeting_s": self.music_before_greeting_s,
            "recognition": str(self.recognition),
            "ringback_after_answer": self.ringback_after_answer,
            "lose_final_callback": self.lose_final_callback,
        }


DEFAULT_BEHAVIOUR = Behaviour()
# prober's own leg (a Twilio Client identity or SIP endpoint, record_from_ringing): it answers
# at once, says nothing and stays on the line.
OWN_LEG_BEHAVIOUR = Behaviour(
    rings=0, greeting="", hangup_after_s=None, post_dial_delay_s=0, answer=Answer.HUMAN
)
OWN_LEG_PREFIXES = ("client:", "sip:")
DEFAULT_TRANSFER_GREETING = MenuEntry().greeting


@dataclass(frozen=True, slots=True)
class World:
    """Every listed number's behaviour; unlisted numbers get `default`."""

    numbers: Mapping[str, Behaviour] = field(default_factory=dict)
    default: Behaviour = DEFAULT_BEHAVIOUR
    ring_cadence_s: int = FRANCE_RING_CADENCE_S

    def behaviour_of(self, number: str) -> Behaviour:
        if number.startswith(OWN_LEG_PREFIXES):
            return OWN_LEG_BEHAVIOUR
        return self.numbers.get(number, self.default)


class WorldFileError(SandboxConfigError):
    """The world file cannot be used; the message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source = source
        self.key = key


_BEHAVIOUR_KEYS = frozenset(
    {
        "rings",
        "ringback_after_answer",
        "answer",
        "outcome",
        "greeting",
        "hangup_after_s",
        "digits",
        "post_dial_delay_s",
        "menu",
        "transfer",
        "music_before_greeting_s",
        "recognition",
        "lose_final_callback",
    }
)
_MENU_ENTRY_KEYS = frozenset(
    {"hold_s", "then", "greeting", "say", "hold", "announcement", "announcement_every_s", "menu"}
)
# A pause in spoken words: "Mairie de Vincennes, bonjour. [pause 1.5] Tapez 1…"
PAUSE_MARK = re.compile(r"\[pause (\d+(?:\.\d+)?)\]")
_ANY_BRACKET = re.compile(r"\[[^\]]*\]")
DTMF_KEYS = frozenset("0123456789*#")
# `mailboxes` belongs to the mail world (sandbox/mail), read from the same file.
_TOP_KEYS = frozenset({"ring_cadence_s", "default", "numbers", "mailboxes"})


def load_world(path: Path) -> World:
    """Read and validate a world file; `WorldFileError` names the offending key."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise WorldFileError(source, "(file)", f"cannot be read ({error.strerror})") from None
    return parse_world(text, source=source)


def parse_world(text: str, *, source: str = "<world>") -> World:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WorldFileError(source, "(syntax)", f"not valid TOML ({error})") from None
    _reject_unknown(source, "", document, _TOP_KEYS)
    cadence = _integer(source, "ring_cadence_s", document, FRANCE_RING_CADENCE_S, minimum=1)
    default = DEFAULT_BEHAVIOUR
    if "default" in document:
        default = _behaviour(source, "default", _table(source, "default", document["default"]))
    numbers_table = _table(source, "numbers", document.get("numbers", {}))
    numbers: dict[str, Behaviour] = {}
    for number, entry in numbers_table.items():
        key = f'numbers."{number}"'
        if not _is_e164(number):
            raise WorldFileError(source, key, "is not an E.164 number such as +33142765000")
        numbers[number] = _behaviour(source, key, _table(source, key, entry))
    return World(numbers=numbers, default=default, ring_cadence_s=cadence)


def _behaviour(source: str, key: str, table: dict[str, Any]) -> Behaviour:
    _reject_unknown(source, key + ".", table, _BEHAVIOUR_KEYS)
    if "answer" in table and "outcome" in table:
        raise WorldFileError(source, key, "set either answer or outcome, not both")
    answer: Answer | None = None
    outcome: Outcome | None = None
    if "outcome" in table:
        outcome = _choice(source, f"{key}.outcome", table["outcome"], Outcome)
    else:
        answer = _choice(source, f"{key}.answer", table.get("answer", "human"), Answer)
    hangup_after_s = None
    if "hangup_after_s" in table:
        hangup_after_s = _integer(source, f"{key}.hangup_after_s", table, None, minimum=1)
    greeting = _words(source, f"{key}.greeting", table.get("greeting", DEFAULT_BEHAVIOUR.greeting))
    digits = table.get("digits")
    if digits is not None and (
        not isinstance(digits, str) or not digits or set(digits) - set("0123456789*#")
    ):
        raise WorldFileError(source, f"{key}.digits", "must be DTMF keys (0-9, *, #)")
    menu = {
        menu_key: _menu_entry(source, f'{key}.menu."{menu_key}"', menu_key, entry)
        for menu_key, entry in _table(source, f"{key}.menu", table.get("menu", {})).items()
    }
    transfer = None
    if "transfer" in table:
        if outcome is not None:
            raise WorldFileError(
                source, f"{key}.transfer", "needs someone to answer; remove it or the outcome"
            )
        transfer = _transfer(source, f"{key}.transfer", table["transfer"])
    default_rings = 0 if outcome is not None else DEFAULT_BEHAVIOUR.rings
    return Behaviour(
        rings=_integer(source, f"{key}.rings", table, default_rings, minimum=0),
        answer=answer,
        outcome=outcome,
        greeting=greeting,
        hangup_after_s=hangup_after_s,
        digits=digits,
        post_dial_delay_s=_integer(
            source, f"{key}.post_dial_delay_s", table, DEFAULT_BEHAVIOUR.post_dial_delay_s
        ),
        menu=menu,
        transfer=transfer,
        music_before_greeting_s=_integer(source, f"{key}.music_before_greeting_s", table, 0),
        recognition=_choice(
            source, f"{key}.recognition", table.get("recognition", "clean"), Recognition
        ),
        ringback_after_answer=_integer(source, f"{key}.ringback_after_answer", table, 0),
        lose_final_callback=_boolean(source, f"{key}.lose_final_callback", table, False),
    )


def _words(source: str, key: str, value: object) -> str:
    """Spoken words, with `[pause S]` marks (S seconds) where the speaker pauses."""
    if not isinstance(value, str):
        raise WorldFileError(source, key, "must be a string")
    for mark in _ANY_BRACKET.findall(value):
        if not PAUSE_MARK.fullmatch(mark):
            raise WorldFileError(
                source, key, f"{mark!r} is not a pause; write [pause 1.5] (seconds)"
            )
    return value


def _menu_entry(source: str, key: str, menu_key: str, value: object) -> MenuEntry:
    if len(menu_key) != 1 or menu_key not in DTMF_KEYS:
        raise WorldFileError(source, key, "a menu key is one DTMF key (0-9, *, #)")
    return _transfer(source, key, value)


def _transfer(source: str, key: str, value: object) -> MenuEntry:
    """A menu entry's or a person's transfer table (see `MenuEntry`)."""
    table = _table(source, key, value)
    _reject_unknown(source, key + ".", table, _MENU_ENTRY_KEYS)
    greeting = _words(source, f"{key}.greeting", table.get("greeting", DEFAULT_TRANSFER_GREETING))
    then = _choice(source, f"{key}.then", table.get("then", "human"), AfterHold)
    if "menu" in table and then is not AfterHold.MENU:
        raise WorldFileError(source, f"{key}.menu", 'needs then = "menu"')
    menu = {
        menu_key: _menu_entry(source, f'{key}.menu."{menu_key}"', menu_key, entry)
        for menu_key, entry in _table(source, f"{key}.menu", table.get("menu", {})).items()
    }
    say = table.get("say")
    announcement = table.get("announcement")
    return MenuEntry(
        hold_s=_integer(source, f"{key}.hold_s", table, 0),
        then=then,
        greeting=greeting,
        say=None if say is None else _words(source, f"{key}.say", say),
        hold=_choice(source, f"{key}.hold", table.get("hold", "silence"), HoldSound),
        announcement=None
        if announcement is None
        else _words(source, f"{key}.announcement", announcement),
        announcement_every_s=_integer(
            source,
            f"{key}.announcement_every_s",
            table,
            DEFAULT_ANNOUNCEMENT_EVERY_S,
            minimum=1,
        ),
        menu=menu,
    )


def _table(source: str, key: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WorldFileError(source, key, "must be a table")
    return value


def _reject_unknown(source: str, prefix: str, table: dict[str, Any], known: frozenset[str]) -> None:
    for name in table:
        if name not in known:
            expected = ", ".join(sorted(known))
            raise WorldFileError(source, prefix + name, f"unknown key (expected one of {expected})")


def _integer(
    source: str, key: str, table: dict[str, Any], default: int | None, *, minimum: int = 0
) -> Any:
    name = key.rsplit(".", 1)[-1]
    if name not in table:
        return default
    value = table[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise WorldFileError(source, key, f"must be a whole number of at least {minimum}")
    return value


def _boolean(source: str, key: str, table: dict[str, Any], default: bool) -> bool:
    name = key.rsplit(".", 1)[-1]
    value = table.get(name, default)
    if not isinstance(value, bool):
        raise WorldFileError(source, key, "must be true or false")
    return value


def _choice(source: str, key: str, value: object, kind: type[_Choice]) -> _Choice:
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(f'"{member.value}"' for member in kind)
        raise WorldFileError(source, key, f"{value!r} is not one of {allowed}") from None


def _is_e164(number: str) -> bool:
    if not number.startswith("+"):
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return False
