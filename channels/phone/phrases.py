"""Every phrase the call script recognises, in one place (French first, English too).

Written as the recogniser's text comes out once normalised (``speech.normalise``): lower case,
no accents, apostrophes and dashes as spaces. A phrase matches anywhere in what was heard.
docs/phone.md explains how to add one.
"""

from __future__ import annotations

# A voice menu asking for a key.
MENU_CUES = (
    "tapez",
    "appuyez",
    "composez",
    "touche",
    "faites le",
    "press ",
    "dial ",
)

# A voicemail or answering machine; these win over every other cue.
VOICEMAIL_CUES = (
    "laissez un message",
    "laissez votre message",
    "laisser un message",
    "apres le bip",
    "apres le signal",
    "messagerie",
    "boite vocale",
    "repondeur",
    "leave a message",
    "leave your message",
    "after the tone",
    "after the beep",
    "voicemail",
)

# The call is being passed on, or waits in a queue: not an answer, keep holding.
HOLD_CUES = (
    "ne quittez pas",
    "je vous passe",
    "je vous le passe",
    "je vous la passe",
    "je vous transfere",
    "je vous mets en relation",
    "nous vous mettons en relation",
    "mise en relation",
    "veuillez patienter",
    "merci de patienter",
    "patientez",
    "restez en ligne",
    "votre appel est important",
    "tous nos conseillers sont",
    "tous nos agents sont",
    "tous nos postes sont occupes",
    "un conseiller va vous repondre",
    "un agent va vous repondre",
    "nous allons donner suite a votre appel",
    "please hold",
    "your call is important",
    "please wait",
)

# What a recogniser makes of music or noise: a result made only of these is heard as nothing.
FILLER_WORDS = frozenset({"euh", "heu", "la", "ah", "oh", "mmh", "hum", "hmm", "bah", "ben"})
