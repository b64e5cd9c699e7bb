"""The structures' mailboxes: an SMTP server that takes probes and answers them as the world says.

Every probe starts its own simulated clock at the whole second it arrived; a message due
`delay_s` simulated seconds later is sent `delay_s × time_scale` real seconds later, dated
(`Date:` and the ground truth) at the simulated instant. Messages leave by SMTP through one
relay: the server of the reply addresses' domain (in tests, the Dovecot-backed one).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

from sandbox.errors import SandboxConfigError
from sandbox.mail import compose
from sandbox.mail.compose import Outgoing, Probe
from sandbox.mail.delivery import envelope_sender
from sandbox.mail.truth import NO_REPLY, REJECTED, MailTruth, MailTruthLog, Outcome
from sandbox.mail.world import MailBehaviourKind, MailboxBehaviour, MailWorld

DEFAULT_HOSTNAME = "mx.sandbox.test"
RELAY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Relay:
    """The SMTP server every message the mailboxes send goes through."""

    host: str = "127.0.0.1"
    port: int = 25


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# A step of a conversation: (simulated seconds after arrival, how to write the message).
_Step = tuple[int, Callable[[datetime], Outgoing]]


class MailSandbox:
    """`async with MailSandbox(world, relay) as mail:` serves SMTP on `mail.host`:`mail.port`.

    `port=0` picks a free port. `hostname` is the structures' MTA: it greets with it and signs
    bounces as `MAILER-DAEMON@hostname`. Ground truth goes to `truth` (a `MailTruthLog`).
    """

    def __init__(
        self,
        world: MailWorld,
        relay: Relay,
        *,
        truth: MailTruthLog | None = None,
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        hostname: str = DEFAULT_HOSTNAME,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        if not time_scale > 0:
            raise SandboxConfigError(f"the time scale must be positive, got {time_scale}")
        self.world = world
        self.relay = relay
        self.truth = truth if truth is not None else MailTruthLog()
        self.time_scale = time_scale
        self.host = host
        self.port = port
        self.hostname = hostname
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._conversations: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> MailSandbox:
        loop = asyncio.get_running_loop()
        handler = _MailboxesHandler(self)
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname=self.hostname, enable_SMTPUTF8=True),
            self.host,
            self.port,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for conversation in self._conversations:
            conversation.cancel()
        await asyncio.gather(*self._conversations, return_exceptions=True)

    @property
    def pending(self) -> int:
        """Probes whose mailbox still has something to send."""
        return len(self._conversations)

    # -- called by the SMTP handler -------------------------------------------------------

    def refuses(self, mailbox: str, envelope_sender: str) -> bool:
        """Whether the mailbox refuses probes at RCPT; a refusal is recorded in the truth."""
        behaviour = self.world.behaviour_of(mailbox)
        if behaviour.behaviour is not MailBehaviourKind.REJECT:
            return False
        self.truth.record(
            MailTruth(
                kind=REJECTED,
                mailbox=mailbox.lower(),
                behaviour=behaviour.to_json(),
                probe_message_id=None,
                probe_envelope_sender=envelope_sender,
                probe_arrived_at=self._clock().isoformat(),
            )
        )
        return True

    def receive(self, mailbox: str, envelope_sender: str, raw: bytes) -> None:
        """A probe arrived for `mailbox`: plan what its mailbox sends back, and when."""
        probe = Probe.received(mailbox.lower(), envelope_sender, raw, self._clock())
        behaviour = self.world.behaviour_of(mailbox)
        steps = self._plan(probe, behaviour)
        if not steps:
            self.truth.record(self._line(NO_REPLY, probe, behaviour))
            return
        task = asyncio.create_task(
            self._converse(probe, behaviour, steps), name=f"mailbox {probe.mailbox}"
        )
        self._conversations.add(task)
        task.add_done_callback(self._conversations.discard)

    # -- conversations --------------------------------------------------------------------

    def _plan(self, probe: Probe, behaviour: MailboxBehaviour) -> list[_Step]:
        kind = behaviour.behaviour
        delay_s = behaviour.delay_s or 0
        if kind in (MailBehaviourKind.NONE, MailBehaviourKind.REJECT):
            return []
        if kind is MailBehaviourKind.OUT_OF_OFFICE:
            return [(delay_s, lambda at: compose.out_of_office(probe, behaviour, at))]
        if kind is MailBehaviourKind.BOUNCE:
            return [(delay_s, lambda at: compose.bounce(probe, at, hostname=self.hostname))]
        from_address = probe.mailbox
        if kind is MailBehaviourKind.REPLY_FROM_OTHER_ADDRESS:
            from_address = behaviour.reply_from or _colleague_of(probe.mailbox)
        steps: list[_Step] = []
        if kind is MailBehaviourKind.ACK_THEN_REPLY:
            ack_delay_s = behaviour.ack_delay_s or 0
            steps.append((ack_delay_s, lambda at: compose.acknowledgement(probe, behaviour, at)))
        steps.append(
            (
                delay_s,
                lambda at: compose.human_reply(probe, behaviour, at, from_address=from_address),
            )
        )
        return steps

    async def _converse(
        self, probe: Probe, behaviour: MailboxBehaviour, steps: list[_Step]
    ) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        remaining = sorted(steps, key=lambda step: step[0])
        try:
            while remaining:
                delay_s, write = remaining[0]
                await asyncio.sleep(max(0.0, started + delay_s * self.time_scale - loop.time()))
                at = probe.arrived_at + timedelta(seconds=delay_s)
                outgoing = write(at)
                outcome, response = await self._send(outgoing)
                remaining.pop(0)
                self.truth.record(self._sent(probe, behaviour, outgoing, at, outcome, response))
        except asyncio.CancelledError:
            for delay_s, write in remaining:
                outgoing = write(probe.arrived_at + timedelta(seconds=delay_s))
                self.truth.record(
                    self._sent(probe, behaviour, outgoing, None, Outcome.CANCELLED, None)
                )
            raise

    async def _send(self, outgoing: Outgoing) -> tuple[Outcome, str]:
        client = aiosmtplib.SMTP(
            hostname=self.relay.host,
            port=self.relay.port,
            start_tls=False,
            local_hostname=self.hostname,
            timeout=RELAY_TIMEOUT_S,
        )
        try:
            async with client:
                _, response = await client.sendmail(
                    outgoing.envelope_sender, [outgoing.recipient], outgoing.as_bytes()
                )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            return Outcome.REFUSED, "; ".join(
                f"{error.code} {error.message}" for error in refused.recipients
            )
        except aiosmtplib.SMTPResponseException as error:
            return Outcome.REFUSED, f"{error.code} {error.message}"
        except (aiosmtplib.SMTPException, OSError) as error:
            return Outcome.UNREACHABLE, str(error)
        return Outcome.RELAYED, response

    # -- truth ----------------------------------------------------------------------------

    def _line(self, kind: str, probe: Probe, behaviour: MailboxBehaviour) -> MailTruth:
        return MailTruth(
            kind=kind,
            mailbox=probe.mailbox,
            behaviour=behaviour.to_json(),
            probe_message_id=probe.message_id,
            probe_envelope_sender=probe.envelope_sender,
            probe_arrived_at=probe.arrived_at.isoformat(),
        )

    def _sent(
        self,
        probe: Probe,
        behaviour: MailboxBehaviour,
        outgoing: Outgoing,
        sent_at: datetime | None,
        outcome: Outcome,
        response: str | None,
    ) -> MailTruth:
        """A message's line; one never sent (`sent_at` None) has no Message-ID either."""
        return MailTruth(
            kind=str(outgoing.kind),
            mailbox=probe.mailbox,
            behaviour=behaviour.to_json(),
            probe_message_id=probe.message_id,
            probe_envelope_sender=probe.envelope_sender,
            probe_arrived_at=probe.arrived_at.isoformat(),
            message_id=outgoing.message_id if sent_at else None,
            from_=outgoing.from_address,
            to=outgoing.recipient,
            sent_at=sent_at.isoformat() if sent_at else None,
            outcome=str(outcome),
            relay_response=response,
        )


def _colleague_of(mailbox: str) -> str:
    """Another address of the same structure: its civil registry, or its secretariat."""
    local, _, domain = mailbox.partition("@")
    return f"{'secretariat' if local == 'etat-civil' else 'etat-civil'}@{domain}"


class _MailboxesHandler:
    """aiosmtpd handler: RCPT asks the world, DATA hands each recipient's copy to the sandbox."""

    def __init__(self, sandbox: MailSandbox) -> None:
        self.sandbox = sandbox

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.sandbox.refuses(address, envelope_sender(envelope)):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""  # bytes: decode_data=False, the default
        if isinstance(content, str):
            content = content.encode()
        for recipient in envelope.rcpt_tos:
            self.sandbox.receive(recipient, envelope_sender(envelope), content)
        return f"250 2.0.0 Ok: queued as {secrets.token_hex(5).upper()}"
