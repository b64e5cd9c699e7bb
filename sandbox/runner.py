"""The call runner: dials queued calls, plays the callee from the world file, runs the TwiML.

It posts Twilio's signed status callbacks and writes the ground-truth log. Simulated seconds
are slept as `seconds × time_scale`; every timestamp and duration it reports is simulated.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import multiprocessing
import random
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self
from urllib.parse import urljoin

import httpx

from sandbox.audio import Utterance, render_wav
from sandbox.auth import Account
from sandbox.callbacks import Params, Webhooks
from sandbox.calls import (
    Call,
    CallInstructions,
    CallOptions,
    CallStatus,
    CallStore,
    UnknownCall,
)
from sandbox.errors import SandboxConfigError
from sandbox.recorded import HeardLeg, HeardSound, RenderedLeg, lower_priority, render_leg
from sandbox.speech import (
    SPURIOUS_GIVE_UP_S,
    Program,
    Recogniser,
    Sound,
    SoundKind,
    answer_program,
    transfer_program,
)
from sandbox.truth import CallTruth, TruthLog
from sandbox.twiml import (
    Dial,
    Gather,
    Hangup,
    Pause,
    Play,
    Record,
    Redirect,
    Say,
    TwimlError,
    Verb,
    parse_twiml,
)
from sandbox.wire import API_VERSION, account_path, rfc2822
from sandbox.world import (
    OWN_LEG_PREFIXES,
    AfterHold,
    Answer,
    Behaviour,
    MenuEntry,
    Outcome,
    World,
)

logger = logging.getLogger(__name__)

# SIP final responses Twilio reports in `SipResponseCode`.
SIP_OK, SIP_NOT_FOUND, SIP_BUSY_HERE, SIP_REQUEST_TERMINATED = 200, 404, 486, 487

# What answering machine detection reports for each kind of callee, per MachineDetection mode.
AMD_VERDICTS = {
    "Enable": {Answer.HUMAN: "human", Answer.MACHINE: "machine_start", Answer.IVR: "machine_start"},
    "DetectMessageEnd": {
        Answer.HUMAN: "human",
        Answer.MACHINE: "machine_end_beep",
        Answer.IVR: "machine_end_other",
    },
}
SPEECH_CONFIDENCE = "0.92"
PARTIAL_RESULT_STABILITY = "0.1"
# A callee who picks up "at the Nth ring" does so during that ring's tone (1.5 s long in France),
# so that a caller counting floor(T / cadence) + 1 rings hears exactly N.
ANSWER_INTO_RING_S = 1
MAX_DOCUMENTS_WITHOUT_TIME = 50
# The recording parameters Twilio adds to the `completed` status callback when `Record=true`.
COMPLETED_RECORDING = frozenset({"RecordingUrl", "RecordingSid", "RecordingDuration"})


class _CallEnded(Exception):
    """The call stops here: `by` is who ended it (callee, caller, api, time-limit)."""

    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


@dataclass(frozen=True, slots=True)
class RunnerTiming:
    """`time_scale` real seconds per simulated second; how often queued calls are looked for."""

    time_scale: float = 1.0
    poll_interval_s: float = 0.02
    # A wait checks this often (real seconds) whether the call was ended through the REST API.
    check_interval_s: float = 0.05
    # Above 0, each status callback leaves after a random real delay up to this: they may
    # then arrive out of order, as Twilio warns they can.
    callback_jitter_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise SandboxConfigError(f"the time scale must be positive, got {self.time_scale}")
        if not self.callback_jitter_s >= 0:
            raise SandboxConfigError(
                f"the callback jitter must not be negative, got {self.callback_jitter_s}"
            )


class CallRunner:
    """`async with CallRunner(...)`: plays every due queued call of `store` until exit."""

    def __init__(
        self,
        account: Account,
        store: CallStore,
        world: World | None = None,
        *,
        timing: RunnerTiming | None = None,
        truth: TruthLog | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = account
        self.store = store
        self.world = world or World()
        self.timing = timing or RunnerTiming()
        self.truth = truth or TruthLog()
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._calls: dict[str, asyncio.Task[None]] = {}
        # Calls under way per number: a structure called while already on a call with us.
        self.live_by_number: Counter[str] = Counter()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._jitter = random.Random()  # noqa: S311 (delivery shuffling, not security)
        self._render_pool: ProcessPoolExecutor | None = None

    async def __aenter__(self) -> Self:
        # Hundreds of calls may post at once: the default pool (100) would make them time out.
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        self._client = httpx.AsyncClient(transport=self._transport, timeout=15.0, limits=limits)
        self._loop_task = asyncio.create_task(self._dial_due_calls(), name="sandbox-call-runner")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        tasks = [
            task
            for task in (self._loop_task, *self._calls.values(), *self._deliveries)
            if task is not None
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._render_pool is not None:
            self._render_pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            await self._client.aclose()

    async def _dial_due_calls(self) -> None:
        while True:
            for call in self.store.queued_due(self.store.now()):
                if call.sid not in self._calls:
                    task = asyncio.create_task(self._play(call), name=f"sandbox-call-{call.sid}")
                    self._calls[call.sid] = task
                    task.add_done_callback(functools.partial(self._forget, call.sid))
            await asyncio.sleep(self.timing.poll_interval_s)

    def _forget(self, sid: str, _: asyncio.Task[None]) -> None:
        self._calls.pop(sid, None)

    async def render(self, leg: HeardLeg, *, parent_first: bool) -> RenderedLeg:
        """A recording's sound, made in a worker process at a lower priority: rendering takes
        a CPU's while, which must not hold up the calls under way (their timing is the truth)."""
        if self._render_pool is None:
            self._render_pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=lower_priority,
            )
        work = functools.partial(render_leg, leg, parent_first=parent_first)
        return await asyncio.get_running_loop().run_in_executor(self._render_pool, work)

    def deliver_later(self, webhooks: Webhooks, url: str, method: str, params: Params) -> None:
        """Send a callback after a random delay, without holding the call up."""
        delay_s = self._jitter.uniform(0, self.timing.callback_jitter_s)

        async def deliver() -> None:
            await asyncio.sleep(delay_s)
            await webhooks.send(url, method, params)

        task = asyncio.create_task(deliver())
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _play(self, call: Call) -> None:
        assert self._client is not None  # noqa: S101 (set by __aenter__)
        webhooks = Webhooks(self._client, self.account.auth_token)
        try:
            await CallSession(self, call, webhooks).run()
        except Exception:
            logger.exception("the sandbox failed to play call %s", call.sid)


@dataclass(frozen=True, slots=True)
class CallerSound:
    """What Twilio played to the callee for the application (`<Say>`, `<Play digits>`)."""

    kind: str  # "speech" or "dtmf"
    start_s: int  # the call's simulated offset
    duration_s: int
    text: str = ""


class CallSession:
    """One call played on a simulated clock starting at the whole second it was dialled.

    A leg placed by a `<Dial>` (`parent` set) starts on its parent's clock, and its truth is
    left to the parent (`pending_truth`), which completes it with the `<Dial>`'s recording.
    """

    def __init__(
        self,
        runner: CallRunner,
        call: Call,
        webhooks: Webhooks,
        *,
        parent: CallSession | None = None,
    ) -> None:
        self.runner = runner
        self.store = runner.store
        self.call = call
        self.webhooks = webhooks
        self.parent = parent
        self.behaviour: Behaviour = runner.world.behaviour_of(call.to)
        self.started_at = (
            parent.at() if parent is not None else self.store.now().replace(microsecond=0)
        )
        self.ringing_started_s: int | None = None
        self.caller_sounds: list[CallerSound] = []
        self.pending_truth: CallTruth | None = None
        self.final_status: CallStatus | None = None
        self._rendered_truth: dict[str, Any] | None = None
        self.offset_s = 0
        self.sequence_number = 0
        self.rings = 0
        self.answer_offset_s: int | None = None
        self.lines_in_use = 0
        self._on_line = False
        self.amd_answered_by: str | None = None
        self.deadline_s: int | None = None
        self._deadline_reason = "callee"
        self.instructions = call.instructions
        self._waiting_since: float | None = None
        # The real instant (event loop clock) the call's offset 0 maps to (see `wait`).
        self._real_origin: float | None = None
        self.utterances: list[Utterance] = []
        self.menu_choice: str | None = None
        self.menu_path: list[str] = []
        self.transfer: MenuEntry | None = None
        self.transfer_started_s = 0
        # When the party the transfer leads to starts speaking (or the line goes dead).
        self.service_at_s = 0
        self._waiting_s = 0
        self._request_made = False
        self.partial_sequence_number = 0
        # What the far end plays, each program replacing the previous one from its start.
        self.programs: list[Program] = []
        self.recogniser = Recogniser(self.behaviour.recognition, seed=call.sid)

    def at(self) -> datetime:
        """The simulated instant the call has reached (the start of the current wait)."""
        return self.started_at + timedelta(seconds=self.offset_s)

    def now(self) -> datetime:
        """The simulated instant now, within the current wait: what the REST API dates."""
        elapsed_s = 0
        if self._waiting_since is not None:
            real_s = asyncio.get_running_loop().time() - self._waiting_since
            elapsed_s = min(int(real_s / self.runner.timing.time_scale), self._waiting_s)
        return self.at() + timedelta(seconds=elapsed_s)

    async def wait(self, simulated_s: int) -> None:
        """Let simulated time pass, unless the callee, the time limit or the API ends the call.

        A real call does not stop while Twilio waits for the application: each wait ends at
        the real instant its simulated end maps to from the call's start, so the time spent in
        webhooks (and any late wake-up) is made up by the next waits instead of piling up.
        """
        end_by: str | None = None
        if self.deadline_s is not None and self.offset_s + simulated_s >= self.deadline_s:
            simulated_s = self.deadline_s - self.offset_s
            end_by = self._deadline_reason
        timing = self.runner.timing
        loop = asyncio.get_running_loop()
        self._waiting_since, self._waiting_s = loop.time(), simulated_s
        if self._real_origin is None:
            self._real_origin = self._waiting_since - self.offset_s * timing.time_scale
        real_end = self._real_origin + (self.offset_s + simulated_s) * timing.time_scale
        try:
            while (remaining := real_end - loop.time()) > 0:
                await asyncio.sleep(min(remaining, timing.check_interval_s))
                self._check_not_ended_through_api()
        finally:
            self._waiting_since, self._waiting_s = None, 0
        self.offset_s += simulated_s
        self._check_not_ended_through_api()
        if end_by is not None:
            raise _CallEnded(end_by)

    def _check_not_ended_through_api(self) -> None:
        try:
            current = self.store.get(self.call.sid)
        except UnknownCall:
            raise _CallEnded("api") from None
        if current.status.is_final:
            # The API dated the change on this call's simulated clock: resume from there.
            self.offset_s = max(self.offset_s, self._offset_of(current.date_updated))
            raise _CallEnded("api")
        if self.call.parent_call_sid is not None:
            # Hanging up a <Dial>'s parent through the API ends the leg it dialled too.
            try:
                parent = self.store.get(self.call.parent_call_sid)
            except UnknownCall:
                raise _CallEnded("api") from None
            if parent.status.is_final:
                raise _CallEnded("api")

    def _offset_of(self, instant: datetime) -> int:
        return int((instant - self.started_at).total_seconds())

    async def run(self) -> None:
        if self.call.status is not CallStatus.QUEUED:
            return  # canceled while queued: Twilio sends no callback at all
        self.store.use_clock(self.call.sid, self.now)
        self.lines_in_use = self.runner.live_by_number[self.call.to]
        self.runner.live_by_number[self.call.to] += 1
        self._on_line = True
        try:
            await self._run()
        finally:
            self._hang_up_line()
            self.store.use_clock(self.call.sid, None)

    def _hang_up_line(self) -> None:
        """The number's line is free: from the final status on, as the callee sees it."""
        if self._on_line:
            self._on_line = False
            live = self.runner.live_by_number
            live[self.call.to] -= 1
            if not live[self.call.to]:
                del live[self.call.to]

    async def _run(self) -> None:
        behaviour = self.behaviour
        try:
            await self.status_callback("initiated", "initiated")
            if behaviour.outcome is Outcome.FAILED:
                await self.finish(CallStatus.FAILED, SIP_NOT_FOUND, ended_by="network")
                return
            await self.wait(behaviour.post_dial_delay_s)
            if behaviour.outcome is Outcome.BUSY and behaviour.rings == 0:
                await self.finish(CallStatus.BUSY, SIP_BUSY_HERE, ended_by="callee")
                return
            self.store.advance(self.call.sid, CallStatus.RINGING, at=self.at())
            self.ringing_started_s = self.offset_s
            await self.status_callback("ringing", "ringing")
            if not await self.ring():
                return
            await self.answer()
            await self.converse()
        except _CallEnded as ended:
            await self.end(ended.by)

    async def ring(self) -> bool:
        """Ring until the callee answers (True) or the call ends unanswered (False)."""
        behaviour = self.behaviour
        cadence_s = self.runner.world.ring_cadence_s
        timeout_s = self.call.options.timeout_s
        if behaviour.outcome is None and behaviour.rings > 0:
            ring_s = (behaviour.rings - 1) * cadence_s + ANSWER_INTO_RING_S
        else:
            ring_s = behaviour.rings * cadence_s
        unanswered = behaviour.outcome is Outcome.NO_ANSWER or ring_s >= timeout_s
        if unanswered:
            ring_s = timeout_s
        ring_started_s = self.offset_s
        try:
            await self.wait(ring_s)
        finally:
            self.rings = math.ceil((self.offset_s - ring_started_s) / cadence_s)
        if unanswered:
            await self.finish(CallStatus.NO_ANSWER, SIP_REQUEST_TERMINATED, ended_by="caller")
            return False
        if behaviour.outcome is Outcome.BUSY:
            await self.finish(CallStatus.BUSY, SIP_BUSY_HERE, ended_by="callee")
            return False
        return True

    async def answer(self) -> None:
        answer = self.behaviour.answer
        options = self.call.options
        if answer is not None and options.machine_detection and not options.send_digits:
            self.amd_answered_by = AMD_VERDICTS[options.machine_detection][answer]
        self.answer_offset_s = self.offset_s
        self.store.advance(
            self.call.sid,
            CallStatus.IN_PROGRESS,
            at=self.at(),
            # The Call resource says only "human" or "machine"; callbacks give the finer value.
            answered_by=None
            if self.amd_answered_by is None
            else ("human" if self.amd_answered_by == "human" else "machine"),
        )
        limits = [options.time_limit_s]
        if self.behaviour.hangup_after_s is not None:
            limits.append(self.behaviour.hangup_after_s)
        self.deadline_s = self.offset_s + min(limits)
        self._deadline_reason = (
            "callee"
            if self.behaviour.hangup_after_s is not None
            and self.behaviour.hangup_after_s <= options.time_limit_s
            else "time-limit"
        )
        if options.send_digits:  # keyed in right after the answer, e.g. a menu choice
            self._choose(options.send_digits)
        self.programs.append(answer_program(self.behaviour, self.offset_s))
        await self.status_callback("answered", "in-progress", self._amd_params())
        if self.amd_answered_by and options.async_amd and options.async_amd_status_callback:
            params = [
                ("AccountSid", self.runner.account.sid),
                ("AnsweredBy", self.amd_answered_by),
                ("CallSid", self.call.sid),
                ("MachineDetectionDuration", "0"),
            ]
            await self.webhooks.send(
                options.async_amd_status_callback,
                options.async_amd_status_callback_method,
                params,
            )

    async def converse(self) -> None:
        """Run the call's TwiML until `<Hangup>` or the end of the document."""
        verbs, document_url = await self.load(self.instructions)
        index = 0
        documents_without_time = (0, self.offset_s)
        while index < len(verbs):
            verb = verbs[index]
            index += 1
            next_document = await self.perform(verb, document_url)
            try:
                current = self.store.get(self.call.sid).instructions
            except UnknownCall:
                break
            if current is not self.instructions:  # redirected through the REST API
                self.instructions = current
                next_document = await self.load(current)
            if next_document is None:
                continue
            # Documents that redirect forever without letting time pass would spin the runner.
            count, since_s = documents_without_time
            documents_without_time = (
                (count + 1, since_s) if since_s == self.offset_s else (0, self.offset_s)
            )
            if documents_without_time[0] > MAX_DOCUMENTS_WITHOUT_TIME:
                logger.warning("call %s: TwiML loops without pausing; hanging up", self.call.sid)
                break
            verbs, document_url = next_document
            index = 0
        await self.end("caller")

    async def perform(
        self, verb: Verb, document_url: str | None
    ) -> tuple[list[Verb], str | None] | None:
        """Play one verb; a new document to run instead of the rest, if it leads elsewhere."""
        if isinstance(verb, Say | Play):
            self._utter("caller", verb.duration_s)
            if isinstance(verb, Say):
                self.caller_sounds.append(
                    CallerSound("speech", self.offset_s, verb.duration_s, verb.text)
                )
            elif verb.digits:
                self.caller_sounds.append(
                    CallerSound("dtmf", self.offset_s, verb.duration_s, verb.digits)
                )
            await self.wait(verb.duration_s)
            if isinstance(verb, Play) and verb.digits:
                self._choose(verb.digits)
            if isinstance(verb, Say):
                self._request_said()
        elif isinstance(verb, Pause):
            await self.wait(verb.length_s)
        elif isinstance(verb, Hangup):
            return [], document_url
        elif isinstance(verb, Redirect):
            url = urljoin(document_url or "", verb.url)
            return await self.fetch(url, verb.method)
        elif isinstance(verb, Gather):
            return await self.gather(verb, document_url)
        elif isinstance(verb, Record):
            return await self.record(verb, document_url)
        elif isinstance(verb, Dial):
            return await self.dial(verb, document_url)
        return None

    async def gather(
        self, gather: Gather, document_url: str | None
    ) -> tuple[list[Verb], str | None] | None:
        for prompt in gather.prompts:
            await self.wait(prompt.duration_s if not isinstance(prompt, Pause) else prompt.length_s)
            if isinstance(prompt, Say):
                self._request_said()
        result: list[tuple[str, str]] = []
        digits = self.behaviour.digits
        if "dtmf" in gather.input and digits:
            if gather.num_digits is not None:
                digits = digits[: gather.num_digits]
            await self.wait(max(1, len(digits)))
            result = [("Digits", digits.split(gather.finish_on_key)[0])]
        elif "speech" in gather.input:
            speech = await self._listen(gather, document_url)
            if speech:
                result = [("SpeechResult", speech), ("Confidence", SPEECH_CONFIDENCE)]
            elif not gather.action_on_empty_result:
                return None
        else:
            await self.wait(gather.timeout_s)
            if not gather.action_on_empty_result:
                return None  # no input: Twilio falls through to the next verb
        action = urljoin(document_url or "", gather.action or "")
        if not action:
            return None
        return await self.fetch(action, gather.method, result)

    async def load(self, instructions: CallInstructions) -> tuple[list[Verb], str | None]:
        if instructions.url:
            document = await self.fetch(instructions.url, instructions.method)
            if document[0] or not instructions.fallback_url:
                return document
            return await self.fetch(instructions.fallback_url, instructions.fallback_method)
        try:
            return parse_twiml(instructions.twiml or ""), None
        except TwimlError as error:
            logger.warning("call %s: inline TwiML unusable: %s", self.call.sid, error)
            return [], None

    async def fetch(
        self, url: str, method: str, extra: Params = ()
    ) -> tuple[list[Verb], str | None]:
        """Ask the application for TwiML, signed; an unusable answer ends the call."""
        params = [*self.base_params("in-progress"), *self._amd_params(), *extra]
        response = await self.webhooks.send(url, method, params)
        if response is None or response.is_error:
            return [], url
        try:
            return parse_twiml(response.content), url
        except TwimlError as error:
            logger.warning("call %s: TwiML from %s unusable: %s", self.call.sid, url, error)
            return [], url

    async def end(self, ended_by: str) -> None:
        """The call stops after the answer (or was ended through the API): report it."""
        try:
            current = self.store.get(self.call.sid)
        except UnknownCall:
            return
        if current.status.is_final:  # hung up or canceled through the REST API
            sip = SIP_OK if current.status is CallStatus.COMPLETED else SIP_REQUEST_TERMINATED
            await self.finish(current.status, sip, ended_by=ended_by)
        elif self.answer_offset_s is None:
            await self.finish(CallStatus.CANCELED, SIP_REQUEST_TERMINATED, ended_by=ended_by)
        else:
            await self.finish(CallStatus.COMPLETED, SIP_OK, ended_by=ended_by)

    async def finish(self, status: CallStatus, sip_response_code: int, *, ended_by: str) -> None:
        talk_s = 0 if self.answer_offset_s is None else self.offset_s - self.answer_offset_s
        self.final_status = status
        duration_s = talk_s if status is CallStatus.COMPLETED else None
        self.store.advance(self.call.sid, status, at=self.at(), duration_s=duration_s)
        self._hang_up_line()
        extra: list[tuple[str, str]] = [
            ("CallDuration", str(talk_s)),
            ("SipResponseCode", str(sip_response_code)),
        ]
        if status is CallStatus.COMPLETED:
            extra.append(("Duration", str(math.ceil(talk_s / 60))))  # billed minutes
        recording_params: list[tuple[str, str]] = []
        to_render: HeardLeg | None = None
        if status is CallStatus.COMPLETED:
            recording_params, to_render = self._record(talk_s)
        extra += [(name, value) for name, value in recording_params if name in COMPLETED_RECORDING]
        # The final callback leaves at once, as Twilio's does; the recording's sound is made
        # after it (its own callback follows, once it exists).
        await self.status_callback("completed", str(status), [*extra, *self._amd_params()])
        recorded_audio: dict[str, Any] | None = None
        if to_render is not None:
            self._render_recording(to_render, recording_params)
            recorded_audio = self._rendered_truth  # filled in once the media is made
        options = self.call.options
        callback = options.recording_status_callback
        if (
            recording_params
            and callback
            and "completed" in options.recording_status_callback_events
        ):
            await self.recording_status_callback(
                recording_params, callback, options.recording_status_callback_method
            )
        answered = self.answer_offset_s is not None
        transfer_outcome, hold_s = self._transfer_truth()
        truth = CallTruth(
            sid=self.call.sid,
            to=self.call.to,
            from_=self.call.from_,
            behaviour=self.behaviour.to_json(),
            started_at=rfc2822(self.started_at) or "",
            rings=self.rings,
            answered_by=str(self.behaviour.answer) if answered and self.behaviour.answer else None,
            amd_answered_by=self.amd_answered_by,
            answer_offset_s=self.answer_offset_s,
            duration_s=talk_s,
            status=str(status),
            sip_response_code=sip_response_code,
            ended_by=ended_by,
            recording_sid=dict(recording_params).get("RecordingSid"),
            menu_choice=self.menu_choice,
            menu_path=list(self.menu_path),
            transfer_outcome=transfer_outcome,
            hold_s=hold_s,
            rings_after_answer=self.behaviour.ringback_after_answer if answered else 0,
            parent_call_sid=self.call.parent_call_sid,
            audio=recorded_audio,
            lines_in_use=self.lines_in_use,
        )
        if self.parent is not None:  # the parent adds the <Dial>'s recording, then logs it
            self.pending_truth = truth
        elif not self.call.to.startswith(OWN_LEG_PREFIXES):  # prober's own leg is no structure
            await self.runner.truth.record(truth)

    def _choose(self, digits: str) -> None:
        """The caller keyed `digits`: the first key of the menu playing now transfers."""
        menu = self._menu_now()
        for key in digits:
            if key in menu:
                if self.menu_choice is None:
                    self.menu_choice = key
                self.menu_path.append(key)
                self._start_transfer(menu[key])
                return

    def _menu_now(self) -> Mapping[str, MenuEntry]:
        """The menu that listens for keys now: the line's, or a second-level one once it plays."""
        if self.transfer is None:
            return self.behaviour.menu
        if self.transfer.then is AfterHold.MENU and self.offset_s >= self.service_at_s:
            return self.transfer.menu
        return {}  # keys pressed on hold go nowhere

    def _request_said(self) -> None:
        """The caller finished its first `<Say>`: a person transfers, or answers it."""
        if self._request_made:
            return
        self._request_made = True
        if self.behaviour.transfer is not None and self.transfer is None:
            self._start_transfer(self.behaviour.transfer)
        elif self.behaviour.answer is Answer.HUMAN and self.transfer is None:
            # A person who does not transfer answers (in this world, with the same words).
            reply = replace(self.behaviour, music_before_greeting_s=0, ringback_after_answer=0)
            self.programs.append(answer_program(reply, self.offset_s))

    def _start_transfer(self, transfer: MenuEntry) -> None:
        """Put the call on hold now; `hold_s` later the new party greets, or nobody does."""
        plan = transfer_program(transfer, self.offset_s)
        self.transfer, self.transfer_started_s = transfer, self.offset_s
        self.service_at_s = plan.service_at_s
        self.programs.append(plan.program)
        if transfer.then is AfterHold.DROPPED:
            if self.deadline_s is None or plan.service_at_s < self.deadline_s:
                self.deadline_s, self._deadline_reason = plan.service_at_s, "callee"

    def _on_hold_until_s(self) -> int | None:
        return None if self.transfer is None else self.service_at_s

    async def _listen(self, gather: Gather, document_url: str | None) -> str | None:
        """A speech `<Gather>`: the words heard until the speaker pauses, or None.

        Speech must start within `timeout`; it ends at the first pause (`speechTimeout="auto"`)
        or at a pause of at least `speechTimeout` seconds. Partial results are posted as the
        words come. A noisy line hears words in music, then gives up with nothing.
        """
        program = self.programs[-1]
        start_by_s = self.offset_s + gather.timeout_s
        end_pause_s = gather.end_pause_s
        heard: list[str] = []
        for sound, start_s, end_s in program.from_offset(self.offset_s):
            if not heard:
                if start_s >= start_by_s:
                    await self.wait(start_by_s - self.offset_s)
                    return None
                if sound.kind is SoundKind.MUSIC and self.recogniser.noisy:
                    await self.wait(max(0, start_s - self.offset_s))
                    await self.partial_result(gather, document_url, [self.recogniser.spurious()])
                    await self.wait(max(1, min(SPURIOUS_GIVE_UP_S, start_by_s - self.offset_s)))
                    return None
                if sound.kind is not SoundKind.SPEECH:
                    continue
                await self.wait(max(0, start_s - self.offset_s))
            elif sound.kind is not SoundKind.SPEECH:
                if end_pause_s is None:  # "auto": the first pause ends it
                    await self.wait(1)
                    break
                gap_s = sound.nominal_s if sound.kind is SoundKind.PAUSE else math.inf
                if gap_s >= end_pause_s:
                    await self.wait(max(1, math.ceil(end_pause_s)))
                    break
                await self.wait(end_s - self.offset_s)
                continue
            words = _words_from(sound.text, start_s, end_s, self.offset_s)
            await self._hear(gather, document_url, heard, words, end_s)
        if not heard:  # silence until the timeout (the program ends in endless silence)
            await self.wait(max(0, start_by_s - self.offset_s))
            return None
        return self.recogniser.final(" ".join(heard)) or None

    async def _hear(
        self,
        gather: Gather,
        document_url: str | None,
        heard: list[str],
        words: str,
        end_s: int,
    ) -> None:
        """Words being said until `end_s`: partial results as they come, then `heard` grows."""
        hypotheses = self.recogniser.partials(words)
        before = [" ".join(heard)] if heard else []
        for index, hypothesis in enumerate(hypotheses):
            if index:
                if self.offset_s + 1 >= end_s:
                    break
                await self.wait(1)
            await self.partial_result(gather, document_url, [*before, hypothesis])
        await self.wait(max(0, end_s - self.offset_s))
        heard.append(words)

    async def partial_result(
        self, gather: Gather, document_url: str | None, words: list[str]
    ) -> None:
        """Post an interim result of the speech being heard to `partialResultCallback`."""
        if not gather.partial_result_callback:
            return
        url = urljoin(document_url or "", gather.partial_result_callback)
        params = [
            ("AccountSid", self.runner.account.sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", self.call.sid),
            ("LanguageCode", gather.language),
            ("SequenceNumber", str(self.partial_sequence_number)),
            ("Stability", PARTIAL_RESULT_STABILITY),
            ("StableSpeechResult", ""),
            ("UnstableSpeechResult", _without_punctuation(" ".join(words))),
        ]
        self.partial_sequence_number += 1
        await self.webhooks.send(url, gather.partial_result_callback_method, params)

    async def record(
        self, record: Record, document_url: str | None
    ) -> tuple[list[Verb], str | None] | None:
        """`<Record>` the far end, silent while it waits for a message (as a voicemail does).

        It ends after `timeout` of silence, at `maxLength`, or when the call ends; then the
        recording's `action` (Digits=hangup if the call ended) is posted.
        """
        started_s = self.offset_s
        length_s = record.max_length_s
        if record.timeout_s > 0:
            length_s = min(record.timeout_s, record.max_length_s)
        ended: _CallEnded | None = None
        try:
            await self.wait(length_s)
        except _CallEnded as call_ended:
            ended = call_ended
        duration_s = self.offset_s - started_s
        try:
            recording_params = self._store_recording(
                self._far_end_audio(started_s, duration_s),
                duration_s=duration_s,
                dual=False,
                started_at=self.started_at + timedelta(seconds=started_s),
                source="RecordVerb",
                track="inbound",
            )
        except UnknownCall:  # deleted through the REST API meanwhile
            raise ended or _CallEnded("api") from None
        callback = record.recording_status_callback
        if callback and "completed" in record.recording_status_callback_events:
            await self.recording_status_callback(
                recording_params,
                urljoin(document_url or "", callback),
                record.recording_status_callback_method,
            )
        recorded = dict(recording_params)
        extra = [
            ("RecordingUrl", recorded["RecordingUrl"]),
            ("RecordingDuration", recorded["RecordingDuration"]),
            ("RecordingSid", recorded["RecordingSid"]),
        ]
        # Twilio requests the current document again when <Record> has no action.
        action = urljoin(document_url or "", record.action or "")
        if ended is not None:
            if action:  # the call is over: the answer to this request is not run
                params = [
                    *self.base_params("completed"),
                    *self._amd_params(),
                    *extra,
                    ("Digits", "hangup"),
                ]
                await self.webhooks.send(action, record.method, params)
            raise ended
        if not action:
            return None
        return await self.fetch(action, record.method, extra)

    def _far_end_audio(self, start_s: int, duration_s: int) -> list[Utterance]:
        """The callee's speech within a stretch of the call, shifted to start at 0."""
        if self.answer_offset_s is None:
            return []
        start_s -= self.answer_offset_s
        heard = []
        for utterance in self._callee_utterances():
            first = max(utterance.start_s, start_s)
            last = min(utterance.start_s + utterance.duration_s, start_s + duration_s)
            if utterance.speaker == "callee" and last > first:
                heard.append(Utterance("callee", first - start_s, last - first))
        return heard

    def _transfer_truth(self) -> tuple[str | None, int | None]:
        """The last transfer's outcome and the hold lived from its request to the first words
        of the party asked for (less if the call ended first); a second-level menu left
        without a choice is abandoned."""
        if self.transfer is None:
            return None, None
        held_s = min(self.offset_s, self.service_at_s) - self.transfer_started_s
        reached = self.offset_s >= self.service_at_s
        if not reached or self.transfer.then is AfterHold.MENU:
            return "abandoned", held_s
        return str(self.transfer.then), held_s

    async def dial(
        self, dial: Dial, document_url: str | None
    ) -> tuple[list[Verb], str | None] | None:
        """`<Dial><Number>`: play the dialled leg (its callbacks, its `url` TwiML), then report
        to `action` with `DialCallStatus`, `DialCallSid` and `DialCallDuration`.

        The `<Number url>` document runs on the dialled leg once it answers, before bridging;
        when it ends (a `<Hangup>`, or no more verbs) the leg ends. Without `url` the legs are
        bridged until the callee hangs up or `timeLimit`.
        """
        number = dial.number
        instructions = (
            CallInstructions(url=urljoin(document_url or "", number.url), method=number.method)
            if number.url
            else CallInstructions(
                url=None, twiml=f'<Response><Pause length="{dial.time_limit_s}"/></Response>'
            )
        )
        options = CallOptions(
            status_callback=number.status_callback,
            status_callback_method=number.status_callback_method,
            status_callback_events=number.status_callback_events,
            timeout_s=dial.timeout_s,
            time_limit_s=dial.time_limit_s,
            machine_detection=number.machine_detection,
            async_amd=number.amd_status_callback is not None,
            async_amd_status_callback=number.amd_status_callback,
            async_amd_status_callback_method=number.amd_status_callback_method,
            send_digits=number.send_digits,
        )
        child_call = self.store.create_child(
            self.call.sid,
            to=number.number,
            from_=dial.caller_id or self.call.from_,
            instructions=instructions,
            options=options,
            at=self.at(),
        )
        child = CallSession(self.runner, child_call, self.webhooks, parent=self)
        dial_started_s = self.offset_s
        await child.run()
        # The parent waited while its child played: its clock moves on by the child's time.
        self.offset_s = dial_started_s + child.offset_s
        status = child.final_status or CallStatus.FAILED
        talk_s = 0 if child.answer_offset_s is None else child.offset_s - child.answer_offset_s
        recording_params: list[tuple[str, str]] = []
        truth = child.pending_truth
        heard_something = child.answer_offset_s is not None or (
            dial.records_ringing
            and (child.ringing_started_s is not None or status is CallStatus.BUSY)
        )
        if dial.records and heard_something:
            recording_params, audio = await self._dial_recording(dial, child)
            if truth is not None:
                truth = replace(
                    truth, recording_sid=dict(recording_params)["RecordingSid"], audio=audio
                )
        if truth is not None:
            await self.runner.truth.record(truth)
        callback = dial.recording_status_callback
        if recording_params and callback and "completed" in dial.recording_status_callback_events:
            await self.recording_status_callback(
                recording_params,
                urljoin(document_url or "", callback),
                dial.recording_status_callback_method,
            )
        self._check_not_ended_through_api()
        if not dial.action:
            return None  # Twilio goes on with the verbs after <Dial>
        extra = [
            ("DialCallSid", child_call.sid),
            ("DialCallStatus", str(status)),
            ("DialCallDuration", str(talk_s)),
            ("DialBridged", "false"),
        ]
        recorded = dict(recording_params)
        if recorded:
            extra += [
                ("RecordingUrl", recorded["RecordingUrl"]),
                ("RecordingSid", recorded["RecordingSid"]),
                ("RecordingDuration", recorded["RecordingDuration"]),
            ]
        return await self.fetch(urljoin(document_url or "", dial.action), dial.method, extra)

    async def _dial_recording(
        self, dial: Dial, child: CallSession
    ) -> tuple[list[tuple[str, str]], dict[str, Any]]:
        """The `<Dial>`'s recording of `child`, rendered as sound; its callback parameters and
        its truth (where each piece lies). Rendering takes a while: off the runner's loop, so
        the other calls keep their timing."""
        leg = child.heard_leg(from_ringing=dial.records_ringing)
        rendered = await self.runner.render(leg, parent_first=True)
        duration_s = math.ceil(leg.end_s - leg.recording_start_s)
        recording_params = self._store_recording_media(
            {"wav": rendered.wav if dial.dual else rendered.mono_wav},
            duration_s=duration_s,
            dual=dial.dual,
            started_at=child.started_at + timedelta(seconds=leg.recording_start_s),
            source="DialVerb",
            track="both",
        )
        return recording_params, rendered.truth

    def heard_leg(self, *, from_ringing: bool) -> HeardLeg:
        """What this leg sounded like, for its recording: tones, the callee's and the caller's
        sounds, on the leg's clock."""
        start_s = self.ringing_started_s if from_ringing else self.answer_offset_s
        if start_s is None:  # busy or failed before any ringing
            start_s = self.offset_s
        ring_end_s = self.offset_s if self.answer_offset_s is None else self.answer_offset_s
        sounds = [
            HeardSound(
                kind="announcement" if sound.announcement else str(sound.kind),
                start_s=start,
                end_s=end,
                text=sound.text,
            )
            for sound, start, end in self._callee_sounds()
            if sound.kind in (SoundKind.SPEECH, SoundKind.MUSIC, SoundKind.RINGBACK)
        ]
        sounds += [
            HeardSound(
                kind=sound.kind,
                start_s=sound.start_s,
                end_s=sound.start_s + sound.duration_s,
                text=sound.text,
                side="caller",
            )
            for sound in self.caller_sounds
        ]
        return HeardLeg(
            seed=self.call.sid,
            recording_start_s=start_s,
            end_s=self.offset_s,
            ringing=None
            if self.ringing_started_s is None or not from_ringing
            else (self.ringing_started_s, ring_end_s),
            busy=self.final_status is CallStatus.BUSY,
            answer_s=self.answer_offset_s,
            transfer_started_s=None if self.transfer is None else self.transfer_started_s,
            service_at_s=None if self.transfer is None else self.service_at_s,
            noisy=self.recogniser.noisy,
            sounds=tuple(sounds),
        )

    def _callee_sounds(self) -> list[tuple[Sound, int, int]]:
        """Every sound the far end played from the answer (each program cut where the next
        begins, the last at the end of the call), with its start and end offsets."""
        if self.answer_offset_s is None:
            return []
        played: list[tuple[Sound, int, int]] = []
        ends = [program.start_s for program in self.programs[1:]] + [self.offset_s]
        for program, cut_s in zip(self.programs, ends, strict=True):
            for sound, start_s, end_s in program.from_offset(program.start_s):
                if start_s >= cut_s:
                    break
                played.append((sound, start_s, min(end_s, cut_s)))
        return played

    def _callee_utterances(self) -> list[Utterance]:
        """The far end's words so far (each program cut where the next begins), from the answer."""
        if self.answer_offset_s is None:
            return []
        spoken: list[Utterance] = []
        ends = [program.start_s for program in self.programs[1:]] + [self.offset_s]
        for program, cut_s in zip(self.programs, ends, strict=True):
            for sound, start_s, end_s in program.from_offset(program.start_s):
                if start_s >= cut_s:
                    break
                if sound.kind is SoundKind.SPEECH:
                    duration_s = min(end_s, cut_s) - start_s
                    spoken.append(Utterance("callee", start_s - self.answer_offset_s, duration_s))
        return spoken

    def _utter(self, speaker: str, duration_s: int) -> None:
        if self.answer_offset_s is not None:
            start_s = self.offset_s - self.answer_offset_s
            self.utterances.append(Utterance(speaker, start_s, duration_s))

    def _record(self, talk_s: int) -> tuple[list[tuple[str, str]], HeardLeg | None]:
        """With `Record=true`, register the call's recording from the answer; its callback
        parameters, and the leg whose sound `_render_recording` makes into its media.

        With `Trim=do-not-trim` (what prober asks for) the recording is real sound, callee on
        channel 1 and what Twilio played on channel 2; Twilio's default `trim-silence` keeps
        the tones-for-speech recording, trimmed.
        """
        options = self.call.options
        if not options.record or self.answer_offset_s is None:
            return [], None
        if options.trim != "do-not-trim":
            return self._trimmed_recording(talk_s), None
        params = self._store_recording_media(
            {},
            duration_s=talk_s,
            dual=options.recording_channels == "dual",
            started_at=self.started_at + timedelta(seconds=self.answer_offset_s),
            source="OutboundAPI",
            track=options.recording_track,
        )
        return params, self.heard_leg(from_ringing=False)

    def _render_recording(self, leg: HeardLeg, recording_params: list[tuple[str, str]]) -> None:
        """A registered recording's media is the leg's sound, made when first downloaded (so
        that rendering never holds up the calls under way); its truth comes with it."""
        dual = self.call.options.recording_channels == "dual"
        sid = dict(recording_params)["RecordingSid"]
        truth: dict[str, Any] = {}
        self._rendered_truth = truth

        async def make() -> bytes:
            rendered = await self.runner.render(leg, parent_first=False)
            truth.update(rendered.truth)
            return rendered.wav if dual else rendered.mono_wav

        self.store.defer_media(sid, make)

    def _trimmed_recording(self, talk_s: int) -> list[tuple[str, str]]:
        options = self.call.options
        assert self.answer_offset_s is not None  # noqa: S101 (checked by the caller)
        utterances, start_s = [*self._callee_utterances(), *self.utterances], 0
        if options.trim == "trim-silence" and utterances:
            # Twilio's default cuts the silence before the first sound and after the last.
            start_s = min(utterance.start_s for utterance in utterances)
            end_s = max(utterance.start_s + utterance.duration_s for utterance in utterances)
            talk_s = min(talk_s, end_s) - start_s
            utterances = [
                Utterance(u.speaker, u.start_s - start_s, u.duration_s) for u in utterances
            ]
        return self._store_recording(
            utterances,
            duration_s=talk_s,
            dual=options.recording_channels == "dual",
            started_at=self.started_at + timedelta(seconds=self.answer_offset_s + start_s),
            source="OutboundAPI",
            track=options.recording_track,
        )

    def _store_recording(
        self,
        utterances: list[Utterance],
        *,
        duration_s: int,
        dual: bool,
        started_at: datetime,
        source: str,
        track: str,
    ) -> list[tuple[str, str]]:
        """Register a finished recording and its WAV; the recording's callback parameters."""
        return self._store_recording_media(
            {"wav": render_wav(duration_s, utterances, dual=dual)},
            duration_s=duration_s,
            dual=dual,
            started_at=started_at,
            source=source,
            track=track,
        )

    def _store_recording_media(
        self,
        media: dict[str, bytes],
        *,
        duration_s: int,
        dual: bool,
        started_at: datetime,
        source: str,
        track: str,
    ) -> list[tuple[str, str]]:
        """Register a finished recording and its media; the recording's callback parameters."""
        recording = self.store.add_recording(
            self.call.sid,
            media=media,
            duration_s=duration_s,
            channels=2 if dual else 1,
            source=source,
            start_time=started_at,
        )
        api_base_url = self.call.api_base_url or "https://api.twilio.com"
        account_sid = self.runner.account.sid
        url = f"{api_base_url}{account_path(account_sid)}/Recordings/{recording.sid}"
        return [
            ("RecordingSid", recording.sid),
            ("RecordingUrl", url),
            ("RecordingDuration", str(duration_s)),
            ("RecordingChannels", str(recording.channels)),
            ("RecordingStartTime", rfc2822(started_at) or ""),
            ("RecordingSource", recording.source),
            ("RecordingTrack", track),
            ("RecordingStatus", "completed"),
        ]

    async def recording_status_callback(
        self, recording_params: Params, url: str, method: str
    ) -> None:
        """Post a finished recording's `completed` event to its `RecordingStatusCallback`."""
        params = [
            ("AccountSid", self.runner.account.sid),
            ("CallSid", self.call.sid),
            *recording_params,
        ]
        await self.webhooks.send(url, method, params)

    def base_params(self, call_status: str) -> list[tuple[str, str]]:
        """The parameters of every voice webhook, with Twilio's names (a `<Dial>`ed leg names
        its parent, `ParentCallSid`, and its direction is `outbound-dial`)."""
        call = self.call
        params = [
            ("AccountSid", self.runner.account.sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", call.sid),
            ("CallStatus", call_status),
            ("Called", call.to),
            ("Caller", call.from_),
            ("Direction", "outbound-api" if call.parent_call_sid is None else "outbound-dial"),
            ("From", call.from_),
            ("To", call.to),
        ]
        if call.parent_call_sid is not None:
            params.append(("ParentCallSid", call.parent_call_sid))
        return params

    def _amd_params(self) -> list[tuple[str, str]]:
        if self.amd_answered_by is None or not self.call.options.machine_detection:
            return []
        return [("AnsweredBy", self.amd_answered_by)]

    async def status_callback(self, event: str, call_status: str, extra: Params = ()) -> None:
        """Post one call-progress event if the call subscribed to it (Twilio's rules)."""
        options = self.call.options
        if not options.status_callback or event not in options.status_callback_events:
            return
        params = [
            *self.base_params(call_status),
            ("CallbackSource", "call-progress-events"),
            ("SequenceNumber", str(self.sequence_number)),
            ("Timestamp", rfc2822(self.at()) or ""),
            *extra,
        ]
        self.sequence_number += 1
        if event == "completed" and self.behaviour.lose_final_callback:
            logger.info(
                "call %s: its final status callback (%s) is lost, as the world says; never sent",
                self.call.sid,
                call_status,
            )
            return
        if self.runner.timing.callback_jitter_s > 0:
            self.runner.deliver_later(
                self.webhooks, options.status_callback, options.status_callback_method, params
            )
            return
        await self.webhooks.send(options.status_callback, options.status_callback_method, params)


def _bridged_until(time_limit_s: int) -> str:
    """A `<Dial>` without `<Number url>`: the legs stay bridged until one hangs up."""
    return f'<Response><Pause length="{time_limit_s}"/></Response>'


def _without_punctuation(speech: str) -> str:
    """Words as a recogniser's interim result gives them: no punctuation."""
    words = (word.strip(".,;:!?…") for word in speech.split())
    return " ".join(word for word in words if word)


def _words_from(text: str, start_s: int, end_s: int, offset_s: int) -> str:
    """What is left to hear of `text` (said from `start_s` to `end_s`) from `offset_s` on."""
    if offset_s <= start_s:
        return text
    words = text.split()
    said = math.floor(len(words) * (offset_s - start_s) / max(1, end_s - start_s))
    return " ".join(words[said:])
