"""Faults the API can be told to inject, so clients can test how they survive them.

A `Faults` is given to `create_app` and kept as `app.state.faults`; tests may change its fields
(or replace it) while the sandbox runs, and the next request sees the change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.errors import SandboxConfigError


@dataclass(slots=True)
class Faults:
    """What goes wrong on purpose; the defaults inject nothing."""

    # The next N `POST /Calls.json` create and queue the call as usual, then answer 500 / 20500:
    # the client believes the call failed although it goes ahead.
    fail_call_creates_after_commit: int = 0
    # Each `POST /Calls.json` creates the call, then waits this many real seconds before
    # answering, so a client with a shorter timeout gives up on a call that exists. The wait
    # re-reads this field: lowering it releases the requests already waiting.
    delay_call_create_response_s: float = 0.0
    # The next N recording media downloads (`GET /Recordings/RE….wav` or `.mp3`) answer
    # 503 / 20503, as Twilio does when busy; the recording stays there for the next try.
    fail_recording_downloads: int = 0
    # The next N media downloads (after the redirect to media storage) answer 200 with an
    # HTML error page instead of the audio, as a failing proxy or CDN can.
    wrong_recording_bodies: int = 0
    # The Calls list is eventually consistent: a call is listed only this many real seconds
    # after its create (0: at once).
    calls_listed_after_s: float = 0.0

    def __post_init__(self) -> None:
        if self.fail_call_creates_after_commit < 0:
            raise SandboxConfigError(
                "the number of creates to fail must not be negative, "
                f"got {self.fail_call_creates_after_commit}"
            )
        if self.fail_recording_downloads < 0:
            raise SandboxConfigError(
                "the number of recording downloads to fail must not be negative, "
                f"got {self.fail_recording_downloads}"
            )
        if not self.delay_call_create_response_s >= 0:
            raise SandboxConfigError(
                "the create response delay must not be negative, "
                f"got {self.delay_call_create_response_s}"
            )

    def take_create_failure(self) -> bool:
        """Whether this create must answer 500 (and count it as one of the failures to inject)."""
        if self.fail_call_creates_after_commit <= 0:
            return False
        self.fail_call_creates_after_commit -= 1
        return True

    def take_wrong_body(self) -> bool:
        """Whether this media download must answer an error page (and count it as one)."""
        if self.wrong_recording_bodies <= 0:
            return False
        self.wrong_recording_bodies -= 1
        return True

    def take_download_failure(self) -> bool:
        """Whether this media download must answer 503 (and count it as one to inject)."""
        if self.fail_recording_downloads <= 0:
            return False
        self.fail_recording_downloads -= 1
        return True
