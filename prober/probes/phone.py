"""Phone probes end to end: place the call, answer Twilio's webhooks, store and measure.

The attempt is stored before Twilio is asked to call, its call SID right after; every webhook
becomes an event (stored once, whatever the number of deliveries) and, once the call has ended,
the attempt's measurement is (re)computed from all its events, so a late or out-of-order
callback corrects it instead of being lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import multiprocessing
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from channels.errors import InvalidCallbackError, PermanentContactError, TransientContactError
from channels.events import ObservedEvent
from channels.phone import script as call_script
from channels.phone.audio import AudioError
from channels.phone.dial import OWN_LEG_QUERY, DialTarget, DialUrls, after_dial, dial_structure
from channels.phone.measure import FINAL_KINDS, measure_call
from channels.phone.script import CallScript, Decision, Step, StepReply, StepUrls
from channels.phone.speech import Heard
from channels.phone.twilio_client import CallRequest, CallUrls, PlacedCall, TwilioPhone
from channels.phone.webhooks import (
    FINAL_STATUSES,
    FormParams,
    dial_events,
    final_event_from_resource,
    is_recording_sid,
    step_event,
)
from config.settings import Settings
from prober.probes import call_audio
from prober.probes.events import AfterAttempt, EventLog
from prober.project.database import Database
from prober.project.files import write_atomically
from storage import attempts, call_measurements, recordings
from storage.errors import NotFoundError
from storage.models import Attempt, ProbeState
from storage.types import utcnow

logger = logging.getLogger(__name__)

# record_from_ringing: prober's own leg (a Client or SIP endpoint) answers at once.
OWN_LEG_RING_TIMEOUT_S = 30
# The own leg outlasts the structure's ringing and call by this much (its TimeLimit).
OWN_LEG_EXTRA_S = 60
# Real seconds past a call's time limit before the sweep asks Twilio about it: a final
# callback still on its way (Twilio gives up a delivery after 15 s) is never overtaken.
SWEEP_MARGIN_S = 120.0


@dataclass(frozen=True, slots=True)
class AttemptKey:
    """Which attempt a webhook is about: it rides in the webhook's path."""

    probe_id: uuid.UUID
    number: int

    @property
    def path(self) -> str:
        return f"/twilio/calls/{self.probe_id}/{self.number}"


@dataclass(frozen=True, slots=True)
class _Call:
    attempt_id: int
    script: CallScript
    time_limit_s: int
    dial: DialTarget


def _check_same_call(
    key: AttemptKey,
    attempt: attempts.AttemptState | None,
    call_sid: Any,
    parent_call_sid: Any = None,
    session: Session | None = None,
) -> None:
    """Refuse a callback naming another call than the one its attempt placed (once known).

    With ``record_from_ringing`` the attempt placed the own leg; the structure's leg it
    ``<Dial>``ed names it as its ``ParentCallSid`` (or, in a callback without that parameter
    such as machine detection's, is a leg an earlier callback of the attempt named so).
    """
    if attempt is None or attempt.external_id is None or not call_sid:
        return
    if call_sid == attempt.external_id or parent_call_sid == attempt.external_id:
        return
    if session is not None and call_sid in _dialled_legs(session, attempt):
        return
    raise InvalidCallbackError(
        f"CallSid {call_sid} is not the call of attempt {key.number} of probe {key.probe_id}"
        f" ({attempt.external_id}): refused, nothing stored"
    )


class PhoneProbes:
    """Carries out phone probes with ``phone`` and keeps what they observe in the database."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        phone: TwilioPhone | None = None,
        *,
        after_attempt: AfterAttempt | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.phone = phone
        self.events = EventLog.of(settings)
        # Called in the transaction that ends an attempt (the daemon decides on a retry there).
        self.after_attempt = after_attempt
        self.recordings_dir = settings.resolve(settings.recordings_dir)
        self._calls: dict[AttemptKey, _Call] = {}
        self._downloads: set[asyncio.Task[Path | None]] = set()
        self._fetching: set[str] = set()
        # Recording downloads this object started, finished or not (for logs and tests).
        self.downloads_started = 0
        # Waits before each new try of a recording download that failed for a passing reason.
        self.recording_retry_delays_s: tuple[float, ...] = (2.0, 10.0, 60.0)
        # Calls this process placed that have not ended yet (to let them finish at shutdown).
        self._live: set[int] = set()
        # Attempts whose create is under way in this process (the sweep leaves them alone).
        self._placing: set[int] = set()
        self._pool: ProcessPoolExecutor | None = None
        # Recordings whose audio timeline was stored (for logs and tests).
        self.recordings_analysed = 0

    # -- placing ---------------------------------------------------------------------------

    def webhook_urls(self, key: AttemptKey) -> tuple[CallUrls, StepUrls]:
        """The attempt's webhook addresses, under the public base URL Twilio reaches.

        With ``record_from_ringing`` the call placed is the own leg: its document dials the
        structure and its status callbacks are told apart (``leg=own``).
        """
        base = self.settings.twilio.webhook_base_url + key.path
        if self.settings.twilio.record_from_ringing:
            call_urls = CallUrls(
                voice=f"{base}/voice?step={Step.DIAL.value}",
                status=f"{base}/status?{OWN_LEG_QUERY}",
                amd=f"{base}/amd",
                recording=f"{base}/recording",
            )
        else:
            call_urls = CallUrls(
                voice=f"{base}/voice?step={Step.ANSWERED.value}",
                status=f"{base}/status",
                amd=f"{base}/amd",
                recording=f"{base}/recording",
            )
        return call_urls, StepUrls(voice=f"{base}/voice", partial=f"{base}/partial")

    def dial_urls(self, key: AttemptKey) -> DialUrls:
        """Where Twilio reports on the structure's leg the own leg dials."""
        base = self.settings.twilio.webhook_base_url + key.path
        return DialUrls(
            script=f"{base}/voice?step={Step.ANSWERED.value}",
            child_status=f"{base}/status",
            amd=f"{base}/amd",
            action=f"{base}/voice?step={Step.DIALED.value}",
            recording=f"{base}/recording",
        )

    async def place(
        self, probe_id: uuid.UUID, *, claimed_by: str | None = None
    ) -> PlacedCall | None:
        """Start an attempt of a phone probe and place its call; None if it could not be.

        ``claimed_by``: the daemon whose claim this carries out; a claim it lost raises
        ``storage.errors.ClaimLostError`` before anybody is called.

        A refused number fails the probe with Twilio's reason; a transient failure leaves the
        probe planned for another try, unless the call may exist, in which case the attempt
        stays open for reconciliation.
        """
        if self.phone is None:
            raise RuntimeError("PhoneProbes was built without a TwilioPhone: it cannot call")
        attempt, context = await self.database.run(
            lambda session: self._start(session, probe_id, claimed_by)
        )
        key = AttemptKey(probe_id, attempt)
        script = context.scenario.phone
        call_urls, _ = self.webhook_urls(key)
        twilio = self.settings.twilio
        if twilio.record_from_ringing:
            # The own leg answers at once; it lasts the structure's ringing and call.
            request = CallRequest(
                to=twilio.own_leg,
                from_=context.persona.caller_id,
                urls=call_urls,
                ring_timeout_s=OWN_LEG_RING_TIMEOUT_S,
                time_limit_s=script.max_ring_seconds + script.max_call_seconds + OWN_LEG_EXTRA_S,
                record=False,  # the <Dial> records, from the first ring
                machine_detection=False,  # the <Number> asks for it, on the structure's leg
            )
        else:
            request = CallRequest(
                to=context.contact or "",
                from_=context.persona.caller_id,
                urls=call_urls,
                ring_timeout_s=script.max_ring_seconds,
                time_limit_s=script.max_call_seconds,
                record=script.record,
                machine_detection=twilio.machine_detection,
            )
        attempt_id = context.attempt_id

        async def known_sid() -> str | None:
            return await self.database.run(
                lambda session: attempts.call_sid_seen(session, attempt_id)
            )

        self._placing.add(attempt_id)
        try:
            placed = await self.phone.place(
                request, known_sid=known_sid, taken=self._taken_by_others(attempt_id)
            )
        except PermanentContactError as error:
            await self._not_placed(attempt_id, "refused", str(error), ProbeState.FAILED, error.code)
            return None
        except TransientContactError as error:
            if error.maybe_made:
                logger.warning(
                    "probe %s attempt %s left for reconciliation: %s", probe_id, attempt, error
                )
                return None
            await self._not_placed(
                attempt_id, "not_placed", str(error), ProbeState.PLANNED, error.code
            )
            return None
        finally:
            self._placing.discard(attempt_id)
        await self.database.run(lambda session: self._placed(session, key, attempt_id, placed))
        self._live.add(attempt_id)
        return placed

    def _start(
        self, session: Session, probe_id: uuid.UUID, claimed_by: str | None
    ) -> tuple[int, attempts.AttemptContext]:
        attempt = attempts.start_attempt(session, probe_id, claimed_by=claimed_by)
        context = attempts.attempt_context(session, probe_id, attempt.number)
        if context.contact is None:
            raise NotFoundError(f"probe {probe_id} has no phone number to call")
        return attempt.number, context

    def _placed(
        self, session: Session, key: AttemptKey, attempt_id: int, placed: PlacedCall
    ) -> None:
        attempts.set_external_id(session, attempt_id, placed.sid)
        self.events.attempt_step(
            session,
            probe_id=key.probe_id,
            attempt_id=attempt_id,
            kind="call.placed",
            step="placed",
            at=utcnow(),
            payload={
                "call_sid": placed.sid,
                "status": placed.status,
                "reconciled": placed.reconciled,
            },
        )

    async def _not_placed(
        self, attempt_id: int, outcome: str, reason: str, state: ProbeState, code: int | None
    ) -> None:
        def work(session: Session) -> None:
            attempts.finish_attempt(
                session,
                attempt_id,
                outcome=outcome,
                ended_at=utcnow(),
                measurement={"outcome": outcome, "error": reason, "error_code": code},
                probe_state=state,
            )
            attempt = session.get(Attempt, attempt_id)
            if attempt is not None and self.after_attempt is not None:
                self.after_attempt(session, attempt.probe_id, outcome)

        await self.database.run(work)

    def _taken_by_others(self, attempt_id: int) -> Callable[[list[str]], Awaitable[set[str]]]:
        async def taken(sids: list[str]) -> set[str]:
            return await self.database.run(
                lambda session: attempts.call_sids_taken(session, sids, attempt_id)
            )

        return taken

    # -- webhooks --------------------------------------------------------------------------

    async def on_event(self, key: AttemptKey, event: ObservedEvent) -> bool:
        """Store a callback's event; re-measure the attempt if its call has ended. New or not."""
        return await self.database.run(lambda session: self._store(session, key, event))

    def _store(self, session: Session, key: AttemptKey, event: ObservedEvent) -> bool:
        attempt = attempts.attempt_state(session, key.probe_id, key.number)
        _check_same_call(
            key,
            attempt,
            event.payload.get("call_sid"),
            event.payload.get("parent_call_sid"),
            session,
        )
        attempt_id = None if attempt is None else attempt.id
        new = self.events.record(
            session,
            event,
            probe_id=key.probe_id if attempt is not None else None,
            attempt_id=attempt_id,
        )
        if attempt is None or attempt_id is None:
            logger.warning("a Twilio callback names an unknown attempt %s; kept, unattached", key)
            return new
        if not new:
            return False
        if attempt.external_id is None and event.payload.get("call_sid"):
            placed_sid = event.payload.get("parent_call_sid") or event.payload["call_sid"]
            attempts.set_external_id(session, attempt_id, str(placed_sid))
        if event.kind == "call.recording" and event.payload.get("status") == "completed":
            recordings.announce_recording(
                session,
                probe_id=key.probe_id,
                attempt_id=attempt_id,
                external_id=str(event.payload["recording_sid"]),
                duration_seconds=event.payload.get("duration_s"),
            )
        if event.kind in FINAL_KINDS or attempt.ended:
            final = None if attempt.ended else event
            self._measure(session, key, attempt_id, final=final)
        elif event.kind == "call.own_leg" and _own_leg_never_dialled(event, attempt):
            self._own_leg_failed(session, key, attempt_id, str(event.payload["status"]))
        return True

    def _own_leg_failed(
        self, session: Session, key: AttemptKey, attempt_id: int, status: str
    ) -> None:
        """The own leg ended without being answered: the structure was never dialled."""
        reason = (
            f"the own leg {self.settings.twilio.own_leg} ended {status} before dialling the"
            " structure: check that twilio.own_leg names a registered Twilio Client identity or"
            " a SIP endpoint that answers"
        )
        logger.warning("probe %s: %s", key.probe_id, reason)
        attempts.finish_attempt(
            session,
            attempt_id,
            outcome="own_leg_failed",
            ended_at=utcnow(),
            measurement={"outcome": "own_leg_failed", "error": reason, "error_code": None},
            probe_state=ProbeState.FAILED,
        )
        self._live.discard(attempt_id)
        if self.after_attempt is not None:
            self.after_attempt(session, key.probe_id, "own_leg_failed")

    def _measure(
        self, session: Session, key: AttemptKey, attempt_id: int, *, final: ObservedEvent | None
    ) -> None:
        """Measure the attempt from its events; with ``final`` (the event that ended its call),
        close it too."""
        events = attempts.attempt_events(session, attempt_id)
        time_limit_s = None
        cached = self._calls.get(key)
        if cached is not None:
            time_limit_s = cached.time_limit_s
        else:
            context = attempts.attempt_context(session, key.probe_id, key.number)
            time_limit_s = context.scenario.phone.max_call_seconds
        measurement = measure_call(
            events, time_limit_s=time_limit_s, time_scale=self.settings.twilio.time_scale
        ).to_json()
        measurement = self._weigh_witnesses(session, attempt_id, measurement)
        if final is not None:
            outcome = measurement["outcome"] or final.kind.removeprefix("call.")
            attempts.finish_attempt(
                session,
                attempt_id,
                outcome=outcome,
                ended_at=final.source_at,
                measurement=measurement,
                probe_state=ProbeState.DONE,
            )
            self._live.discard(attempt_id)
            if self.after_attempt is not None:
                self.after_attempt(session, key.probe_id, outcome)
        else:
            attempts.remeasure_attempt(session, attempt_id, measurement)

    def _weigh_witnesses(
        self, session: Session, attempt_id: int, measurement: dict[str, Any]
    ) -> dict[str, Any]:
        return call_audio.weigh_witnesses(session, self.settings.measure, attempt_id, measurement)

    async def on_voice(
        self,
        key: AttemptKey,
        step: str,
        query: dict[str, str],
        params: FormParams,
        received_at: datetime,
    ) -> str:
        """Answer a TwiML request (call answered, speech heard...) with the next document."""
        call = await self._call(key)
        if call is None:
            return call_script.hang_up()
        call_sid = params.call_sid()
        parent_sid = params.parent_call_sid()
        await self.database.run(
            lambda session: _check_same_call(
                key, attempts.attempt_state(session, key.probe_id, key.number), call_sid, parent_sid
            )
        )
        if step == Step.DIAL.value:
            return dial_structure(call.dial, self.dial_urls(key))
        if step == Step.DIALED.value:
            dialed = dial_events(params, received_at)
            await self.database.run(
                lambda session: [self._store(session, key, event) for event in dialed]
            )
            return after_dial()
        _, urls = self.webhook_urls(key)
        speech = params.get("SpeechResult")
        events: list[ObservedEvent] = []
        try:
            current = Step(step)
        except ValueError:
            logger.warning("unknown call step %r for %s: hanging up", step, key)
            return call_script.hang_up()
        reply: StepReply
        if current is Step.ANSWERED:
            reply = call_script.on_answered(call.script, urls)
            events.append(step_event("call.script_started", call_sid, "script", received_at, {}))
        elif current is Step.GREETING:
            attempt = _query_number(query, "attempt")
            reply = call_script.on_greeting(call.script, urls, speech, attempt)
            if reply.decision is not Decision.LISTEN_AGAIN:
                events.append(self._heard(call_sid, "greeting", params, reply, received_at))
        elif current in (Step.KEYED, Step.ASKED):
            via = "menu" if current is Step.KEYED else "request"
            level = _query_number(query, "level")
            # Level 1 keeps the keys of attempts stored before second-level menus existed.
            suffix = "" if level == 1 else f":{level}"
            if current is Step.KEYED:
                events.append(
                    step_event(
                        "call.keyed",
                        call_sid,
                        f"keyed{suffix}",
                        received_at,
                        {"digits": query.get("key"), "level": level},
                    )
                )
            events.append(
                step_event(
                    "call.transfer_requested",
                    call_sid,
                    f"transfer{suffix}",
                    received_at,
                    {"via": via, "level": level},
                )
            )
            reply = call_script.on_transfer_requested(call.script, urls, current, level)
        elif current is Step.HOLD:
            via = Step.KEYED if query.get("via") == Step.KEYED.value else Step.ASKED
            level, slice_number = _query_number(query, "level"), _query_number(query, "slice")
            reply = call_script.on_hold(
                call.script, urls, speech, via, level=level, slice_number=slice_number
            )
            if reply.heard is Heard.IVR:  # a second-level menu
                phase = f"menu:{level + 1}"
                events.append(self._heard(call_sid, phase, params, reply, received_at))
            elif reply.heard in (Heard.HUMAN, Heard.MACHINE):  # the end of the hold
                heard = self._heard(call_sid, "transfer", params, reply, received_at)
                heard.payload["slice"] = call_script.hold_slice(level, slice_number)
                events.append(heard)
        else:
            reply = call_script.on_answer(call.script)
            if speech:
                events.append(self._heard(call_sid, "answer", params, reply, received_at))
        for event in events:
            if parent_sid is not None:
                event.payload["parent_call_sid"] = parent_sid
        if events:
            await self.database.run(
                lambda session: [self._store(session, key, event) for event in events]
            )
        return reply.twiml

    def _heard(
        self, call_sid: str, phase: str, params: FormParams, reply: StepReply, received_at: datetime
    ) -> ObservedEvent:
        payload: dict[str, Any] = {
            "phase": phase,
            "speech": params.get("SpeechResult") or "",
            "confidence": params.get("Confidence"),
            "heard": None if reply.heard is None else reply.heard.value,
            "decision": None if reply.decision is None else reply.decision.value,
        }
        if reply.key is not None:
            payload["key"] = reply.key
        return step_event("call.heard", call_sid, f"heard:{phase}", received_at, payload)

    async def _call(self, key: AttemptKey) -> _Call | None:
        cached = self._calls.get(key)
        if cached is not None:
            return cached

        def load(session: Session) -> _Call | None:
            try:
                context = attempts.attempt_context(session, key.probe_id, key.number)
            except NotFoundError:
                return None
            phone = context.scenario.phone
            return _Call(
                attempt_id=context.attempt_id,
                script=CallScript(
                    request=phone.request,
                    language=call_script.twilio_language(context.scenario.language),
                    voice=self.settings.twilio.voice or None,
                    transfer_to=phone.transfer_to,
                    ivr_choice=phone.ivr_choice,
                ),
                time_limit_s=phone.max_call_seconds,
                dial=DialTarget(
                    number=context.contact or "",
                    caller_id=context.persona.caller_id,
                    ring_timeout_s=phone.max_ring_seconds,
                    time_limit_s=phone.max_call_seconds,
                    machine_detection=self.settings.twilio.machine_detection,
                ),
            )

        call = await self.database.run(load)
        if call is not None:
            self._calls[key] = call
        return call

    # -- after a restart -----------------------------------------------------------------

    async def reconcile(self) -> dict[str, int]:
        """Settle the phone attempts a previous run left open, asking Twilio what happened.

        A call that ended meanwhile gets its final status from the API (callbacks may have
        been lost while nobody listened); a live call is left to its callbacks; an attempt
        whose create never got an answer is looked for among the account's calls and
        adopted, or, surely never placed, closed so the probe can be tried again.
        """
        if self.phone is None:
            return {}
        open_attempts = await self.database.run(attempts.open_phone_attempts)
        counts = {"ended": 0, "live": 0, "adopted": 0, "not_placed": 0}
        for attempt_id, probe_id, number, external_id, started_at, to, from_ in open_attempts:
            outcome = await self._reconcile_one(
                AttemptKey(probe_id, number), attempt_id, external_id, started_at, to, from_
            )
            counts[outcome] += 1
        if any(counts.values()):
            logger.info("phone attempts reconciled: %s", counts)
        return counts

    async def _reconcile_one(
        self,
        key: AttemptKey,
        attempt_id: int,
        sid: str | None,
        started_at: datetime,
        to: str | None,
        from_: str | None,
    ) -> str:
        assert self.phone is not None  # noqa: S101 (checked by the caller)
        adopted = False
        if sid is None:

            async def known_sid() -> str | None:
                return await self.database.run(
                    lambda session: attempts.call_sid_seen(session, attempt_id)
                )

            request = CallRequest(to=to or "", from_=from_ or "", urls=self.webhook_urls(key)[0])
            found = await self.phone.find_placed(
                request, started_at, known_sid, self._taken_by_others(attempt_id)
            )
            if found is None:
                await self._not_placed(
                    attempt_id,
                    "not_placed",
                    "no call found after a restart",
                    ProbeState.PLANNED,
                    None,
                )
                return "not_placed"
            sid, adopted = found.sid, True
            found_sid = found.sid
            await self.database.run(
                lambda session: attempts.set_external_id(session, attempt_id, found_sid)
            )
        resource = await self.phone.fetch_call(sid)
        if resource["status"] in FINAL_STATUSES:
            await self.on_event(key, final_event_from_resource(resource))
            return "ended"
        self._live.add(attempt_id)
        return "adopted" if adopted else "live"

    # -- while running ----------------------------------------------------------------------

    async def sweep(self, *, holder: str, now: datetime, lease: timedelta) -> dict[str, int]:
        """Settle the phone attempts still open well past their call's time limit, as
        :meth:`reconcile` does at start: a lost final callback must not hold a probe (its
        structure's other probes, its wave's end) until the next start.

        ``holder`` (this daemon) first renews, until ``now + lease``, its hold on the calls it
        has under way. An overdue attempt is then reconciled only if ``holder`` holds it or
        takes it over from nobody or from a daemon whose hold ran out (a dead one); another
        live daemon's are left to its own sweep. Overdue is measured in real time from the
        attempt's start: its scenario's ringing and call limits, times ``twilio.time_scale``,
        plus ``SWEEP_MARGIN_S``. A reconciliation that meets the callback it stands for changes
        nothing (the same event, stored once).
        """
        counts = {"ended": 0, "live": 0, "adopted": 0, "not_placed": 0, "held": 0, "failed": 0}
        if self.phone is None:
            return counts
        until = now + lease
        real_now = utcnow()
        margin = timedelta(seconds=SWEEP_MARGIN_S)

        def overdue(
            session: Session,
        ) -> list[tuple[int, uuid.UUID, int, str | None, datetime, str | None, str | None]]:
            attempts.renew_holds(session, channel="phone", claimed_by=holder, until=until)
            late = []
            for row in attempts.open_phone_attempts(session, started_before=real_now - margin):
                attempt_id, probe_id, number, _, started_at, _, _ = row
                if attempt_id in self._placing:
                    continue
                try:
                    limit = self._call_window(attempts.attempt_context(session, probe_id, number))
                except NotFoundError:  # no frozen scenario: its margin is all it gets
                    limit = timedelta(0)
                if started_at + limit + margin < real_now:
                    late.append(row)
            return late

        late = await self.database.run(overdue)
        for attempt_id, probe_id, number, sid, started_at, to, from_ in late:
            take_over = functools.partial(
                attempts.take_over_attempt,
                probe_id=probe_id,
                claimed_by=holder,
                now=now,
                until=until,
            )
            taken = await self.database.run(take_over)
            if not taken:
                counts["held"] += 1
                continue
            try:
                outcome = await self._reconcile_one(
                    AttemptKey(probe_id, number), attempt_id, sid, started_at, to, from_
                )
            except TransientContactError as error:  # Twilio unreachable for now: no trace
                logger.warning(
                    "probe %s attempt %s: asking Twilio about its overdue call failed (%s);"
                    " asked again at the next sweep",
                    probe_id,
                    number,
                    error,
                )
                counts["failed"] += 1
                continue
            except Exception:
                logger.exception(
                    "probe %s attempt %s: asking Twilio about its overdue call failed;"
                    " asked again at the next sweep",
                    probe_id,
                    number,
                )
                counts["failed"] += 1
                continue
            counts[outcome] += 1
        if any(counts[name] for name in ("ended", "adopted", "not_placed", "failed")):
            logger.info("phone attempts open past their time limit reconciled: %s", counts)
        return counts

    def _call_window(self, context: attempts.AttemptContext) -> timedelta:
        """How long, in real time, an attempt's call can last: ringing and call limits (and the
        own leg's with ``record_from_ringing``), at the sandbox's ``time_scale``."""
        phone = context.scenario.phone
        call_s = phone.max_ring_seconds + phone.max_call_seconds
        if self.settings.twilio.record_from_ringing:
            call_s += OWN_LEG_RING_TIMEOUT_S + OWN_LEG_EXTRA_S
        return timedelta(seconds=call_s * self.settings.twilio.time_scale)

    async def sweep_every(
        self,
        interval_s: float,
        stop: asyncio.Event,
        *,
        holder: str,
        clock: Callable[[], datetime],
        lease: timedelta,
    ) -> None:
        """:meth:`sweep` now and every ``interval_s`` until ``stop`` is set; a failing sweep is
        logged and tried again at the next."""
        while not stop.is_set():
            try:
                await self.sweep(holder=holder, now=clock(), lease=lease)
            except Exception:
                logger.exception("the sweep of overdue calls failed; tried again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    async def wait_for_calls(self, timeout_s: float) -> None:
        """Wait (up to ``timeout_s``) for the calls this process placed to end."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._live and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        if self._live:
            logger.warning(
                "%d call(s) still under way: the next start reconciles them", len(self._live)
            )

    # -- recordings ------------------------------------------------------------------------

    def fetch_recording_later(self, key: AttemptKey, recording_sid: str) -> None:
        """Download a recording in the background (the webhook answers at once)."""
        self._start_download(key.probe_id, recording_sid)

    def _start_download(self, probe_id: uuid.UUID, recording_sid: str) -> None:
        if recording_sid in self._fetching:
            return
        self._fetching.add(recording_sid)
        task = asyncio.create_task(self._download_with_retries(probe_id, recording_sid))
        self._downloads.add(task)
        self.downloads_started += 1

        def done(finished: asyncio.Task[Path | None]) -> None:
            self._downloads.discard(finished)
            self._fetching.discard(recording_sid)

        task.add_done_callback(done)

    async def _download_with_retries(self, probe_id: uuid.UUID, recording_sid: str) -> Path | None:
        """`fetch_recording`, tried again after each of `recording_retry_delays_s`; what still
        fails stays `announced` for `fetch_missing_recordings`. Never raises (a background task).
        """
        try:
            for delay in (*self.recording_retry_delays_s, None):
                try:
                    return await self.fetch_recording(probe_id, recording_sid)
                except TransientContactError as error:
                    if delay is None:
                        logger.warning(
                            "recording %s not downloaded: %s; fetched again later",
                            recording_sid,
                            error,
                        )
                        return None
                    logger.info(
                        "recording %s: %s; trying again in %.0f s", recording_sid, error, delay
                    )
                    await asyncio.sleep(delay)
        except Exception:
            logger.exception("recording %s: download failed; fetched again later", recording_sid)
        return None

    async def fetch_recording(self, probe_id: uuid.UUID, recording_sid: str) -> Path | None:
        """Download, checksum and file a recording; None if there is none to download.

        A recording Twilio does not know (404) is marked `missing` and not asked for again;
        a transient failure raises `TransientContactError` and leaves it `announced`.
        """
        if self.phone is None:
            return None
        if not is_recording_sid(recording_sid):
            # Never let a stored value that is not a SID name a file or a URL.
            logger.warning(
                "recording %r is not a Twilio recording SID: not downloaded", recording_sid[:40]
            )
            await self.database.run(
                lambda session: recordings.mark_recording_missing(session, recording_sid)
            )
            return None
        try:
            media = await self.phone.download_recording(recording_sid)
        except PermanentContactError as error:
            logger.warning("recording %s cannot be downloaded: %s", recording_sid, error)
            await self.database.run(
                lambda session: recordings.mark_recording_missing(session, recording_sid)
            )
            return None
        folder = self.recordings_dir / str(probe_id)
        path = folder / f"{recording_sid}.wav"
        digest = hashlib.sha256(media).hexdigest()
        await asyncio.to_thread(write_atomically, path, media)

        def store(session: Session) -> None:
            recordings.store_recording_media(
                session,
                recording_sid,
                media_path=str(path),
                content_type="audio/wav",
                sha256=digest,
                size_bytes=len(media),
            )

        await self.database.run(store)
        await self._analyse(recording_sid, path)
        return path

    async def _analyse(self, recording_sid: str, path: Path) -> None:
        """The recording's timeline (in a worker process, bounded in size and time), stored as
        the call's audio figures beside the callbacks'. Never raises: the recording is kept
        whatever the analysis makes of it."""
        measure = self.settings.measure
        found = await self.database.run(lambda session: _recording_attempt(session, recording_sid))
        if found is None:
            return
        attempt_id, source = found
        from_dial = source == call_audio.DIAL_SOURCE
        work = functools.partial(
            call_audio.analyse_recording,
            str(path),
            max_bytes=measure.max_recording_bytes,
            callee_channel=2 if from_dial else 1,
        )
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(measure.analysis_timeout_s):
                analysis = await loop.run_in_executor(self._analysis_pool(), work)
        except AudioError as error:
            logger.warning("recording %s not analysed: %s", recording_sid, error)
            return
        except TimeoutError:
            logger.warning(
                "recording %s: analysis longer than measure.analysis_timeout_s (%s s): skipped",
                recording_sid,
                measure.analysis_timeout_s,
            )
            return
        except Exception:
            logger.exception("recording %s: the audio analysis failed", recording_sid)
            return

        def store(session: Session) -> None:
            events = attempts.attempt_events(session, attempt_id)
            transfer_s, dated_by = call_audio.transfer_at_s(
                events,
                from_ringing=from_dial,
                time_scale=self.settings.twilio.time_scale,
                caller_sounds=analysis.caller_sounds,
            )
            attempt = session.get(Attempt, attempt_id)
            ended = attempt is not None and attempt.ended_at is not None
            callbacks = call_audio.callback_figures(attempt.measurement if attempt else {})
            figures, details = call_audio.audio_figures(
                analysis.timeline,
                from_ringing=from_dial,
                transfer_s=transfer_s,
                transfer_dated_by=dated_by,
                callbacks_hold_s=callbacks["hold_s"] if ended else None,
            )
            call_measurements.save_measurement(
                session,
                attempt_id=attempt_id,
                source=call_audio.AUDIO,
                figures=figures,
                details=details,
                recording_external_id=recording_sid,
            )
            if attempt is not None and ended:
                chosen = self._weigh_witnesses(session, attempt_id, dict(attempt.measurement))
                attempts.remeasure_attempt(session, attempt_id, chosen)

        await self.database.run(store)
        self.recordings_analysed += 1

    def _analysis_pool(self) -> ProcessPoolExecutor:
        """One worker process for audio analyses, started on first use (forkserver: no copy
        of the daemon's threads and sockets), at a lower priority than the daemon: webhooks
        are answered first, analyses use what CPU is left."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=call_audio.lower_priority,
            )
        return self._pool

    async def fetch_missing_recordings(self) -> int:
        """Start downloading every recording announced but not stored (after a restart or a
        failed download); the number started."""
        if self.phone is None:
            return 0
        pending = await self.database.run(recordings.recordings_to_fetch)
        started = 0
        for probe_id, recording_sid in pending:
            if recording_sid not in self._fetching:
                self._start_download(probe_id, recording_sid)
                started += 1
        if started:
            logger.info("downloading %d recording(s) not downloaded before", started)
        return started

    async def fetch_missing_recordings_every(self, interval_s: float, stop: asyncio.Event) -> None:
        """`fetch_missing_recordings` now and every ``interval_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.fetch_missing_recordings()
            except Exception:
                logger.exception("looking for recordings to download failed; tried again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait (up to ``timeout_s``) for the downloads under way, at shutdown; those still
        waiting to try again are cancelled and left `announced` for the next start."""
        if self._downloads:
            _, pending = await asyncio.wait(set(self._downloads), timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _dialled_legs(session: Session, attempt: attempts.AttemptState) -> set[str]:
    """The calls an attempt's own leg dialled, as its earlier callbacks named them."""
    return {
        str(event.payload["call_sid"])
        for event in attempts.attempt_events(session, attempt.id)
        if event.payload.get("parent_call_sid") == attempt.external_id
        and event.payload.get("call_sid")
    }


def _recording_attempt(session: Session, recording_sid: str) -> tuple[int, str] | None:
    """The attempt a recording belongs to and its source (``DialVerb``, ``OutboundAPI``...)."""
    recording = recordings.recording_by_sid(session, recording_sid)
    if recording is None or recording.attempt_id is None:
        return None
    source = ""
    for event in attempts.attempt_events(session, recording.attempt_id):
        if event.kind == "call.recording" and event.payload.get("recording_sid") == recording_sid:
            source = str(event.payload.get("source") or "")
    return recording.attempt_id, source


def _own_leg_never_dialled(event: ObservedEvent, attempt: attempts.AttemptState) -> bool:
    """An own leg's final status that leaves its attempt open: it never got to dial."""
    status = event.payload.get("status")
    return not attempt.ended and status in FINAL_STATUSES and status != "completed"


def _query_number(query: dict[str, str], name: str) -> int:
    """A step URL's counter (attempt, level, slice): 1 when absent or unreadable."""
    value = query.get(name, "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1
