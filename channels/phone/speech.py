"""What the caller heard: a person, a voicemail or a voice menu, and which key leads where.

Works on the text of Twilio's speech recognition (``SpeechResult``), French first, English too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from channels.phone.phrases import FILLER_WORDS, HOLD_CUES, MENU_CUES, VOICEMAIL_CUES


class Heard(StrEnum):
    """Who or what spoke, judged from the words."""

    HUMAN = "human"
    MACHINE = "machine"  # a voicemail or answering machine
    IVR = "ivr"  # a voice menu asking for a key
    HOLD = "hold"  # the call is passed on or queued ("ne quittez pas", "veuillez patienter")
    SILENCE = "silence"  # nothing, or only what a recogniser makes of music


_OPENING_HOURS = re.compile(
    r"\b(?:horaires?|ouverts?|ouverte|fermes?|fermee|du lundi|lundi au|"
    r"\d{1,2} ?h(?: ?\d{2})?|\d{1,2} heures?)\b"
)

_NUMBER_WORDS = {
    "zero": "0",
    "un": "1",
    "une": "1",
    "deux": "2",
    "trois": "3",
    "quatre": "4",
    "cinq": "5",
    "six": "6",
    "sept": "7",
    "huit": "8",
    "neuf": "9",
    "etoile": "*",
    "diese": "#",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "star": "*",
    "pound": "#",
}
_KEY = r"(\d|\*|#|" + "|".join(_NUMBER_WORDS) + r")"
_TRIGGER = r"(?:tapez|appuyez(?: sur)?|composez|faites(?: le)?|press|dial)"
_LABEL = r"([^,.;:!?]+?)"
_END = r"(?=[,.;:!?]|$| " + _TRIGGER + r"\b| \d\b)"
# "tapez 1 pour l'état civil", "2 pour l'urbanisme", "press 1 for billing"
_KEY_THEN_LABEL = re.compile(
    r"(?:"
    + _TRIGGER
    + r"\s+(?:la touche\s+|le\s+)?)?\b"
    + _KEY
    + r"\s+(?:pour|for)\s+"
    + _LABEL
    + _END
)
# "pour l'état civil, tapez 1", "for billing, press 1"
_LABEL_THEN_KEY = re.compile(
    r"\b(?:pour|for)\s+"
    + _LABEL
    + r",?\s+"
    + _TRIGGER
    + r"\s+(?:la touche\s+|le\s+)?"
    + _KEY
    + r"\b"
)
_STOPWORDS = frozenset(
    "le la les l de du des d au aux un une service services pour".split()
    + "a the for to of your votre vos".split()
)


def normalise(text: str) -> str:
    """Lower case, no accents, apostrophes and dashes as spaces, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = re.sub(r"['’`\-]", " ", plain)
    return re.sub(r"\s+", " ", plain).strip()


def classify_speech(text: str | None) -> Heard:
    """A voicemail, a voice menu, a hold, a person, or nothing heard (see phrases.py).

    Voicemail cues win over menu cues, which win over hold cues; words that are none of
    these are a person.
    """
    plain = normalise(text or "")
    if all(word in FILLER_WORDS for word in re.findall(r"\w+", plain)):
        return Heard.SILENCE
    if any(cue in plain for cue in VOICEMAIL_CUES):
        return Heard.MACHINE
    if any(cue in plain for cue in MENU_CUES) or menu_options(text or ""):
        return Heard.IVR
    if any(cue in plain for cue in HOLD_CUES):
        return Heard.HOLD
    return Heard.HUMAN


def mentions_opening_hours(text: str | None) -> bool:
    """Whether the words give opening hours or days (an after-hours message should)."""
    return bool(text) and _OPENING_HOURS.search(normalise(text or "")) is not None


@dataclass(frozen=True, slots=True)
class MenuOption:
    """One entry a voice menu announces: the key and what it leads to."""

    key: str
    label: str


def menu_options(text: str) -> list[MenuOption]:
    """The key → service pairs a menu announces, in the order spoken, each key once."""
    plain = normalise(text)
    found: list[tuple[int, MenuOption]] = []
    for match in _KEY_THEN_LABEL.finditer(plain):
        found.append((match.start(), MenuOption(_key(match.group(1)), match.group(2).strip())))
    for match in _LABEL_THEN_KEY.finditer(plain):
        found.append((match.start(), MenuOption(_key(match.group(2)), match.group(1).strip())))
    options: list[MenuOption] = []
    seen: set[str] = set()
    for _, option in sorted(found, key=lambda item: item[0]):
        if option.key not in seen:
            seen.add(option.key)
            options.append(option)
    return options


def choose_menu_key(text: str, target: str) -> str | None:
    """The key whose announced service best matches ``target`` (e.g. "service état civil")."""
    wanted = _content_words(target)
    if not wanted:
        return None
    best: tuple[int, str] | None = None
    for option in menu_options(text):
        label_words = _content_words(option.label)
        score = sum(1 for word in wanted if any(_same_word(word, other) for other in label_words))
        if score and (best is None or score > best[0]):
            best = (score, option.key)
    return None if best is None else best[1]


def _key(word: str) -> str:
    return _NUMBER_WORDS.get(word, word)


def _content_words(text: str) -> list[str]:
    return [word for word in normalise(text).split() if word not in _STOPWORDS]


def _same_word(left: str, right: str) -> bool:
    # "civil" ~ "civile", "urbanisme" ~ "urbaniste": a shared stem of at least 5 letters.
    stem = min(len(left), len(right), 5)
    return left == right or (stem >= 5 and left[:stem] == right[:stem])
