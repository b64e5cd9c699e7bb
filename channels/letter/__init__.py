"""The letter channel: probe letters composed from a scenario and printed for a window envelope.

Like every channel it knows nothing of storage; the reference printed on the letter is the
attempt's email reply token in capitals, so replies are matched to probes the same way.
"""

from channels.letter.compose import (
    MAX_ADDRESS_LINES,
    LetterError,
    LetterTemplates,
    PostalAddress,
    ProbeLetter,
    compose_letter,
)
from channels.letter.pdf import french_date, letter_html, render_letter_pdf

__all__ = [
    "MAX_ADDRESS_LINES",
    "LetterError",
    "LetterTemplates",
    "PostalAddress",
    "ProbeLetter",
    "compose_letter",
    "french_date",
    "letter_html",
    "render_letter_pdf",
]
