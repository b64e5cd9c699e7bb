"""What the far end of a call sounds like over time, and what Twilio's recogniser makes of it.

The far end plays a *program* from a given instant: words (with their pauses), hold music or
silence, recorded announcements. A speech `<Gather>` listens to it as Twilio's does: it waits
`timeout` for speech to start, then hears until a pause (`speechTimeout="auto"`: the first one;
a number of seconds: a pause at least that long), posting partial results as it goes. A clean
line is heard as written; a noisy one gets some words wrong and hears words in music.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from sandbox.twiml import SAY_CHARACTERS_PER_SECOND
from sandbox.world import PAUSE_MARK, AfterHold, Behaviour, HoldSound, MenuEntry, Recognition

# After the last sound of a program the line is silent, as long as the call lasts.
ENDLESS_S = 10**6
# How long after a spurious partial result on music a noisy recogniser gives up (empty result).
SPURIOUS_GIVE_UP_S = 2
# What a recogniser makes of hold music on a noisy line.
SPURIOUS_WORDS = ("euh", "la la", "ah", "mmh", "oh la")
# Words a noisy line gets wrong (what a French recogniser typically hears instead).
MISHEARD = {
    "mairie": "marie",
    "bonjour": "bonjours",
    "état": "était",
    "civil": "civile",
    "accueil": "accueille",
    "service": "services",
    "urbanisme": "urbanismes",
    "standard": "standards",
    "écoute": "écoutes",
}


class SoundKind(StrEnum):
    SPEECH = "speech"
    PAUSE = "pause"
    MUSIC = "music"
    SILENCE = "silence"
    RINGBACK = "ringback"  # a switchboard's own ringing tone, after it answered


@dataclass(frozen=True, slots=True)
class Sound:
    """One stretch of what the far end plays; a pause keeps its written length in `nominal_s`."""

    kind: SoundKind
    duration_s: int
    text: str = ""
    nominal_s: float = 0.0
    # Speech from a recorded hold announcement (not a person's words).
    announcement: bool = False


@dataclass(frozen=True, slots=True)
class Program:
    """Sounds played one after the other from `start_s` (the call's simulated offset)."""

    start_s: int
    sounds: tuple[Sound, ...]

    def from_offset(self, offset_s: int) -> Iterator[tuple[Sound, int, int]]:
        """Each sound still playing at or after `offset_s`, with its start and end offsets."""
        at_s = self.start_s
        for sound in self.sounds:
            end_s = at_s + sound.duration_s
            if end_s > offset_s:
                yield sound, at_s, end_s
            at_s = end_s
        yield Sound(SoundKind.SILENCE, ENDLESS_S), at_s, at_s + ENDLESS_S


def speech_duration_s(text: str) -> int:
    """Words take as long as Twilio's `<Say>` would take to say them (15 characters a second)."""
    return max(1, math.ceil(len(text) / SAY_CHARACTERS_PER_SECOND))


def spoken(text: str) -> list[Sound]:
    """Words with `[pause S]` marks as speech and pauses."""
    sounds: list[Sound] = []
    position = 0
    for mark in PAUSE_MARK.finditer(text):
        sounds += _speech(text[position : mark.start()])
        seconds = float(mark.group(1))
        sounds.append(Sound(SoundKind.PAUSE, max(1, math.ceil(seconds)), nominal_s=seconds))
        position = mark.end()
    sounds += _speech(text[position:])
    return sounds


def _speech(text: str) -> list[Sound]:
    text = text.strip()
    return [Sound(SoundKind.SPEECH, speech_duration_s(text), text)] if text else []


def answer_program(behaviour: Behaviour, start_s: int) -> Program:
    """What the line plays when it answers: music first (if any), then its greeting."""
    sounds: list[Sound] = []
    if behaviour.ringback_after_answer:
        sounds += switchboard_ringback(behaviour.ringback_after_answer)
    if behaviour.music_before_greeting_s:
        sounds.append(Sound(SoundKind.MUSIC, behaviour.music_before_greeting_s))
    sounds += spoken(behaviour.greeting)
    return Program(start_s, tuple(sounds))


# A switchboard's ringback starts this long after it answered (the line's click), and each of
# its rings is 1.5 s of tone in a 5 s cadence; the greeting follows the last tone's end.
SWITCHBOARD_RINGBACK_DELAY_S = 1
RINGBACK_TONE_S = 1.5


def switchboard_ringback(rings: int, cadence_s: int = 5) -> list[Sound]:
    """`rings` rings of ringback played by the line itself, whole seconds long."""
    tone_s = math.ceil((rings - 1) * cadence_s + RINGBACK_TONE_S)
    return [
        Sound(
            SoundKind.PAUSE, SWITCHBOARD_RINGBACK_DELAY_S, nominal_s=SWITCHBOARD_RINGBACK_DELAY_S
        ),
        Sound(SoundKind.RINGBACK, tone_s, nominal_s=(rings - 1) * cadence_s + RINGBACK_TONE_S),
    ]


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """A transfer's program and when the party it leads to starts speaking (or hangs up)."""

    program: Program
    service_at_s: int


def transfer_program(entry: MenuEntry, start_s: int) -> TransferPlan:
    """`say`, then music or silence with the announcement every so often, then `then`'s words.

    The new party speaks `hold_s` after the request, or right after `say` if that is longer.
    """
    sounds = spoken(entry.say or "")
    said_s = sum(sound.duration_s for sound in sounds)
    service_at = max(entry.hold_s, said_s)
    hold_kind = SoundKind.MUSIC if entry.hold is HoldSound.MUSIC else SoundKind.SILENCE
    announcement = [replace(sound, announcement=True) for sound in spoken(entry.announcement or "")]
    announcement_s = sum(sound.duration_s for sound in announcement)
    at_s = said_s
    next_announcement_s = said_s + entry.announcement_every_s
    while at_s < service_at:
        stretch_end = min(next_announcement_s, service_at)
        if stretch_end > at_s:
            sounds.append(Sound(hold_kind, stretch_end - at_s))
            at_s = stretch_end
        if announcement and at_s == next_announcement_s and at_s + announcement_s <= service_at:
            sounds += announcement
            at_s += announcement_s
        next_announcement_s = at_s + entry.announcement_every_s
    if entry.then is not AfterHold.DROPPED:
        sounds += spoken(entry.greeting)
    return TransferPlan(Program(start_s, tuple(sounds)), start_s + service_at)


class Recogniser:
    """Twilio's speech recognition on one call: exact on a clean line, sloppy on a noisy one."""

    def __init__(self, recognition: Recognition, seed: str) -> None:
        self.noisy = recognition is Recognition.NOISY
        self._chance = random.Random(seed)  # noqa: S311 (simulated mishearing, not security)

    def final(self, words: str) -> str:
        """The `SpeechResult` of what was said."""
        if not self.noisy:
            return words
        heard = []
        for word in words.split():
            bare = word.strip(".,;:!?…").lower()
            if bare in MISHEARD and self._chance.random() < 0.5:
                word = MISHEARD[bare]
            heard.append(word)
        return " ".join(heard)

    def partials(self, words: str) -> list[str]:
        """The successive `UnstableSpeechResult`s as recognition of `words` progresses."""
        all_words = [word.strip(".,;:!?…") for word in words.split()]
        all_words = [word for word in all_words if word]
        first = min(2, len(all_words))
        counts = sorted({c for c in (first, len(all_words) // 2, len(all_words)) if c >= first})
        hypotheses = [" ".join(all_words[:count]) for count in counts if count]
        if self.noisy and hypotheses:
            # The first guess is often wrong, then corrected.
            guess = hypotheses[0].split()
            guess[-1] = MISHEARD.get(guess[-1].lower(), guess[-1] + "s")
            hypotheses[0] = " ".join(guess)
        return hypotheses

    def spurious(self) -> str:
        """Words a noisy recogniser hears in music."""
        return self._chance.choice(SPURIOUS_WORDS)
