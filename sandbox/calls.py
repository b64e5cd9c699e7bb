"""In-memory calls and recordings of one account, and the state changes the API and runner apply."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from sandbox.pacing import CallPacer
from sandbox.pricing import PriceList


class CallStatus(StrEnum):
    """Statuses of the Call resource (`call_enum_status` in Twilio's OpenAPI description)."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.CANCELED,
    }
)


@dataclass(frozen=True, slots=True)
class CallInstructions:
    """What to run once the call connects: `url` (fetched with `method`) wins over `twiml`."""

    url: str | None
    method: str = "POST"
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str = "POST"


@dataclass(frozen=True, slots=True)
class CallOptions:
    """The create parameters that steer how the runner places and reports the call."""

    status_callback: str | None = None
    status_callback_method: str = "POST"
    # Twilio sends only `completed` when StatusCallbackEvent is absent.
    status_callback_events: tuple[str, ...] = ("completed",)
    timeout_s: int = 60
    time_limit_s: int = 14400
    machine_detection: str | None = None
    machine_detection_timeout_s: int = 30
    async_amd: bool = False
    async_amd_status_callback: str | None = None
    async_amd_status_callback_method: str = "POST"
    send_digits: str | None = None
    record: bool = False
    recording_channels: str = "mono"
    recording_track: str = "both"
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)
    # `trim-silence` (Twilio's default) cuts the silence before and after the recording's sound.
    trim: str = "trim-silence"


@dataclass(slots=True)
class Call:
    """One call resource as the sandbox knows it."""

    sid: str
    to: str
    from_: str
    instructions: CallInstructions
    options: CallOptions
    date_created: datetime
    earliest_start_at: datetime
    date_updated: datetime
    status: CallStatus = CallStatus.QUEUED
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_s: int | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None
    # Where the client reached the API (`https://api.twilio.com` for Twilio): recording URLs.
    api_base_url: str | None = None
    # When it was created, on the process's monotonic clock (how long it takes to be listed).
    created_monotonic: float = field(default_factory=time.monotonic)
    # What it cost (negative, as Twilio writes it), set when it ends; shown from
    # `price_shown_from` on (monotonic), as Twilio prices a call some time after it ends.
    price: Decimal | None = None
    price_shown_from: float | None = None

    @property
    def shown_price(self) -> Decimal | None:
        """The price as the API shows it now: None until Twilio would have set it."""
        if self.price_shown_from is None or time.monotonic() < self.price_shown_from:
            return None
        return self.price

    # A leg a <Dial> placed from another call (its parent); not CPS-paced, never queued.
    parent_call_sid: str | None = None

    @property
    def queue_time_ms(self) -> int:
        """Delay imposed by CPS pacing between creation and the permitted start."""
        return round((self.earliest_start_at - self.date_created).total_seconds() * 1000)


@dataclass(slots=True)
class Recording:
    """A recording of a call and its media files, keyed by extension (`wav`, `mp3`)."""

    sid: str
    call_sid: str
    date_created: datetime
    start_time: datetime
    duration_s: int | None
    channels: int
    source: str
    status: str
    media: dict[str, bytes] = field(default_factory=dict)
    date_updated: datetime | None = None


def new_sid(prefix: str) -> str:
    """A Twilio-style sid: two-letter prefix and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def utc_now() -> datetime:
    return datetime.now(UTC)


class UnknownCall(LookupError):
    """No call with this sid in the store."""


class UnknownRecording(LookupError):
    """No recording with this sid in the store."""


class CallStore:
    """The calls and recordings of the sandbox's account, in creation order."""

    def __init__(
        self,
        pacer: CallPacer,
        clock: Callable[[], datetime] = utc_now,
        *,
        prices: PriceList | None = None,
        price_delay_s: float = 0.0,
    ) -> None:
        self._pacer = pacer
        self._clock = clock
        self.prices = prices if prices is not None else PriceList()
        # Real seconds between a call's end and its price appearing on the resource.
        self.price_delay_s = price_delay_s
        self._calls: dict[str, Call] = {}
        # The calls still queued: the runner looks for due ones every few milliseconds, and
        # scanning every call the account ever made would grow with the account's history.
        self._queued: dict[str, Call] = {}
        self._recordings: dict[str, Recording] = {}
        self._call_clocks: dict[str, Callable[[], datetime]] = {}
        self._deferred: dict[str, Callable[[], Awaitable[bytes]]] = {}

    def now(self) -> datetime:
        return self._clock()

    def use_clock(self, sid: str, clock: Callable[[], datetime] | None) -> None:
        """Date this call's API changes with `clock` (the runner's simulated one); None: stop."""
        if clock is None:
            self._call_clocks.pop(sid, None)
        else:
            self._call_clocks[sid] = clock

    def _now_for(self, sid: str) -> datetime:
        return self._call_clocks.get(sid, self._clock)()

    def create(
        self, *, to: str, from_: str, instructions: CallInstructions, options: CallOptions
    ) -> Call:
        """Register a new `queued` call and reserve its start slot under the CPS limit."""
        created_at = self._clock()
        call = Call(
            sid=new_sid("CA"),
            to=to,
            from_=from_,
            instructions=instructions,
            options=options,
            date_created=created_at,
            date_updated=created_at,
            earliest_start_at=self._pacer.reserve(created_at),
        )
        self._calls[call.sid] = call
        self._queued[call.sid] = call
        return call

    def create_child(
        self,
        parent_sid: str,
        *,
        to: str,
        from_: str,
        instructions: CallInstructions,
        options: CallOptions,
        at: datetime,
    ) -> Call:
        """Register the leg a `<Dial>` of `parent_sid` places; its parent's session plays it."""
        self.get(parent_sid)
        call = Call(
            sid=new_sid("CA"),
            to=to,
            from_=from_,
            instructions=instructions,
            options=options,
            date_created=at,
            date_updated=at,
            earliest_start_at=at,
            parent_call_sid=parent_sid,
        )
        self._calls[call.sid] = call
        return call

    def get(self, sid: str) -> Call:
        try:
            return self._calls[sid]
        except KeyError:
            raise UnknownCall(sid) from None

    def newest_first(self) -> Iterator[Call]:
        """All calls, most recent first, as Twilio lists them."""
        return reversed(list(self._calls.values()))

    def queued_due(self, now: datetime) -> list[Call]:
        """Queued calls whose pacing slot has come: what the runner may start dialling."""
        due = []
        for sid, call in list(self._queued.items()):
            if call.status is not CallStatus.QUEUED or sid not in self._calls:
                del self._queued[sid]
            elif call.earliest_start_at <= now:
                due.append(call)
        return due

    def advance(
        self,
        sid: str,
        status: CallStatus,
        *,
        at: datetime,
        duration_s: int | None = None,
        answered_by: str | None = None,
    ) -> Call:
        """Record a status change observed by the runner (ringing, answered, a final outcome).

        `start_time` is set when the call leaves `queued`; `end_time` and `duration` only when it
        completes, as Twilio leaves them empty for busy, failed, no-answer and canceled calls.
        A call in a final status does not change any more.
        """
        call = self.get(sid)
        if call.status.is_final:
            return call
        if call.start_time is None and status is not CallStatus.CANCELED:
            call.start_time = at
        if status is CallStatus.IN_PROGRESS and call.answered_at is None:
            call.answered_at = at
        if status is CallStatus.COMPLETED:
            call.end_time = at
            call.duration_s = duration_s
        if answered_by is not None:
            call.answered_by = answered_by
        call.status = status
        call.date_updated = at
        if status.is_final:
            call.price = self.prices.call_price(call.to, call.duration_s)
            call.price_shown_from = time.monotonic() + self.price_delay_s
        return call

    def total_price(self) -> Decimal:
        """What every ended call of the account cost (positive), whether shown yet or not."""
        return -sum((call.price for call in self._calls.values() if call.price), Decimal(0))

    def cancel(self, sid: str) -> Call:
        """`Status=canceled`: cancels a queued or ringing call; otherwise nothing changes."""
        call = self.get(sid)
        if call.status in (CallStatus.QUEUED, CallStatus.RINGING):
            self.advance(sid, CallStatus.CANCELED, at=self._now_for(sid))
        return call

    def hang_up(self, sid: str) -> Call:
        """`Status=completed`: end a live call; a call not yet answered ends as canceled."""
        call = self.get(sid)
        now = self._now_for(sid)
        if call.status is CallStatus.IN_PROGRESS:
            answered_at = call.answered_at or call.start_time or now
            talk_s = int((now - answered_at).total_seconds())
            self.advance(sid, CallStatus.COMPLETED, at=now, duration_s=talk_s)
        elif not call.status.is_final:
            self.advance(sid, CallStatus.CANCELED, at=now)
        return call

    def redirect(self, sid: str, instructions: CallInstructions) -> Call:
        """Replace what the call runs next (`Url`/`Twiml` update); the caller checks it is live."""
        call = self.get(sid)
        call.instructions = instructions
        call.date_updated = self._clock()
        return call

    def update_options(self, sid: str, options: CallOptions) -> Call:
        call = self.get(sid)
        call.options = options
        call.date_updated = self._clock()
        return call

    def delete(self, sid: str) -> None:
        self.get(sid)
        del self._calls[sid]

    def add_recording(
        self,
        call_sid: str,
        *,
        media: dict[str, bytes],
        duration_s: int,
        channels: int = 1,
        source: str = "OutboundAPI",
        start_time: datetime | None = None,
    ) -> Recording:
        """Register a finished recording of a call with its media files (`{"wav": b"RIFF…"}`)."""
        self.get(call_sid)
        now = self._clock()
        recording = Recording(
            sid=new_sid("RE"),
            call_sid=call_sid,
            date_created=now,
            date_updated=now,
            start_time=start_time or now,
            duration_s=duration_s,
            channels=channels,
            source=source,
            status="completed",
            media=dict(media),
        )
        self._recordings[recording.sid] = recording
        return recording

    def get_recording(self, sid: str) -> Recording:
        try:
            return self._recordings[sid]
        except KeyError:
            raise UnknownRecording(sid) from None

    def recordings_of(self, call_sid: str) -> list[Recording]:
        """A call's recordings, oldest first."""
        return [
            recording for recording in self._recordings.values() if recording.call_sid == call_sid
        ]

    def add_recording_media(self, sid: str, extension: str, media: bytes) -> None:
        """Keep another format of a recording's audio (the MP3 encoded on first request)."""
        self.get_recording(sid).media[extension] = media

    def defer_media(self, sid: str, make: Callable[[], Awaitable[bytes]]) -> None:
        """The recording's WAV is made by ``make`` when first asked for (see `media_of`)."""
        self.get_recording(sid)
        self._deferred[sid] = make

    async def media_of(self, sid: str, extension: str) -> bytes:
        """A recording's media, made now if it was deferred; `UnknownRecording` if absent."""
        make = self._deferred.pop(sid, None)
        if make is not None:
            self.add_recording_media(sid, "wav", await make())
        return self.recording_media(sid, extension)

    def recording_media(self, sid: str, extension: str) -> bytes:
        """The media file of a recording in one format; `UnknownRecording` if absent."""
        try:
            return self.get_recording(sid).media[extension]
        except KeyError:
            raise UnknownRecording(sid) from None
