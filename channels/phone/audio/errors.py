"""The error the audio analysis raises: the message names the file and says what is wrong."""

from __future__ import annotations

from channels.errors import ChannelError


class AudioError(ChannelError):
    """A recording that cannot be analysed (not audio, truncated, unsupported rate or channels)."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem
