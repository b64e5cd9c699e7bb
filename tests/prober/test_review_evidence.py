"""What an auditor sees of the evidence: a reply's HTML made safe, a waveform, a call's timeline."""

from __future__ import annotations

import base64
import wave
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from prober.web.review.sanitise import inline_images, sanitise_html
from prober.web.review.timeline import CallEvent, call_timeline
from prober.web.review.waveform import WaveformError, peaks, svg_path

PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

HOSTILE = """<html><head><style>body{background:url(http://tracker.example/bg.png)}</style>
<script>window.pwned = 1</script></head>
<body onload="window.pwned=2"><p style="background:url(http://tracker.example/p.png)">Bonjour,</p>
<img src="http://tracker.example/open.gif" alt="pixel">
<img src="cid:logo@mairie" alt="logo">
<img src="data:image/png;base64,AAAA" alt="inline">
<a href="javascript:alert(1)">clic</a> <a href="https://www.mairie.example/">site</a>
<form action="http://evil.example/"><input name="q"><button>OK</button></form>
<iframe src="http://evil.example/"></iframe><svg><script>alert(1)</script></svg>
<object data="http://evil.example/x.swf"></object>
</body></html>"""


def test_sanitised_html_keeps_the_text_and_embedded_images_only() -> None:
    clean = sanitise_html(HOSTILE, {"logo@mairie": "data:image/png;base64,PIXEL"})
    assert "Bonjour," in clean
    for forbidden in (
        "<script", "pwned", "onload", "style", "tracker.example", "<form", "<input", "<button",
        "<iframe", "evil.example", "javascript:", "<svg", "<object",
    ):  # fmt: skip
        assert forbidden not in clean, forbidden
    assert 'src="data:image/png;base64,PIXEL"' in clean  # cid: resolved from the message
    assert 'src="data:image/png;base64,AAAA"' in clean
    assert 'href="https://www.mairie.example/"' in clean
    assert 'rel="noopener noreferrer nofollow"' in clean


def test_a_cid_without_its_part_shows_no_image_source() -> None:
    assert "src" not in sanitise_html('<img src="cid:missing@x" alt="x">', {})


def test_inline_images_come_from_the_message_parts() -> None:
    message = EmailMessage()
    message["Subject"] = "Réponse"
    message.set_content("texte")
    message.add_alternative('<p>Bonjour <img src="cid:logo@mairie"></p>', subtype="html")
    html_part = message.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(PIXEL, maintype="image", subtype="png", cid="<logo@mairie>")
    images = inline_images(message.as_bytes())
    assert images == {"logo@mairie": "data:image/png;base64," + base64.b64encode(PIXEL).decode()}
    assert inline_images(b"not a message at all") == {}


def _wav(path: Path, frames: list[int], *, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"".join(v.to_bytes(2, "little", signed=True) for v in frames))
    return path


def test_peaks_follow_the_loud_and_quiet_parts(tmp_path: Path) -> None:
    # One second of silence, one of a loud tone at half scale, one quiet.
    samples = [0] * 8000 + [16384 if n % 2 else -16384 for n in range(8000)] + [1000] * 8000
    levels = peaks(_wav(tmp_path / "call.wav", samples), buckets=3)
    assert levels == [0.0, 0.5, pytest.approx(1000 / 32768, abs=1e-4)]
    path = svg_path(levels, height=80)
    assert path.startswith("M0 39.5V40.5M1 20.0V60.0")


def test_stereo_peaks_take_the_louder_channel(tmp_path: Path) -> None:
    frames = [0, 32767] * 100  # left silent, right at full scale
    assert peaks(_wav(tmp_path / "dual.wav", frames, channels=2), buckets=2) == [1.0, 1.0]


def test_a_file_that_is_not_wav_is_a_clear_error(tmp_path: Path) -> None:
    mp3 = tmp_path / "call.mp3"
    mp3.write_bytes(b"ID3\x03\x00" + b"\x00" * 100)
    with pytest.raises(WaveformError, match="not a readable PCM WAV"):
        peaks(mp3)


def _event(kind: str, at_s: float, **payload: object) -> CallEvent:
    start = datetime(2027, 3, 2, 8, 15, tzinfo=UTC)
    instant = start + timedelta(seconds=at_s)
    return CallEvent(kind, "twilio", instant, instant, dict(payload))


def test_the_timeline_places_events_from_the_answer_and_keeps_the_transcript() -> None:
    events = [
        _event("call.completed", 95),
        _event("call.ringing", 0),
        _event("call.answered", 10),
        _event("call.heard", 14, phase="greeting", speech="Mairie de Metz, tapez 1", heard="ivr"),
        _event("call.keyed", 16, digits="1", level=1),
        _event("call.transfer_requested", 16.5, via="menu", level=1),
        _event("call.heard", 30, phase="transfer:1.1", speech="", heard="silence"),
        _event("call.speech_started", 52, phase="transfer:1.2"),
        _event(
            "call.heard",
            55,
            phase="transfer",
            speech="Bonjour, état civil",
            heard="human",
            slice="1.2",
        ),
    ]
    marks, transcript = call_timeline(events, time_scale=0.5)
    assert [(m.label, m.offset_s, m.before_recording) for m in marks] == [
        ("Sonnerie", 0.0, True),
        ("Décroché", 0.0, False),
        ("Accueil", 8.0, False),
        ("Touche 1", 12.0, False),
        ("Transfert demandé", 13.0, False),
        ("Attente", 40.0, False),
        ("Premiers mots", 84.0, False),
        ("Fin", 170.0, False),
    ]
    assert [(h.offset_s, h.phase, h.speech) for h in transcript] == [
        (8.0, "accueil", "Mairie de Metz, tapez 1"),
        (90.0, "après transfert", "Bonjour, état civil"),
    ]
