"""The timeline of a call recording: ringback, busy tone, speech, music, silence, other tones,
and the figures drawn from it (rings, answer instant, first live words, hold)."""

from channels.phone.audio.errors import AudioError
from channels.phone.audio.segments import Segment, SegmentKind
from channels.phone.audio.timeline import (
    Timeline,
    timeline_of_bytes,
    timeline_of_file,
    timeline_of_samples,
)

__all__ = [
    "AudioError",
    "Segment",
    "SegmentKind",
    "Timeline",
    "timeline_of_bytes",
    "timeline_of_file",
    "timeline_of_samples",
]
