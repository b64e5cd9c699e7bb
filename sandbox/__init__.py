"""The simulated outside world for prober: a Twilio-compatible API that plays calls, and the
structures' mailboxes (`sandbox.mail`).

It imports nothing of prober and speaks only HTTP, SMTP and IMAP, so its records stay an
independent truth.
"""

from sandbox.auth import Account
from sandbox.calls import Call, CallInstructions, CallOptions, CallStatus, CallStore, Recording
from sandbox.errors import ApiError, SandboxConfigError, SandboxError
from sandbox.faults import Faults
from sandbox.mail import (
    MailSandbox,
    MailTruthLog,
    MailWorld,
    Relay,
    load_mail_world,
    parse_mail_world,
    read_mail_truth,
)
from sandbox.pacing import CallPacer
from sandbox.runner import CallRunner, RunnerTiming
from sandbox.truth import CallTruth, TruthLog, read_truth
from sandbox.twilio_api import create_app
from sandbox.world import Answer, Behaviour, Outcome, World, WorldFileError, load_world, parse_world

__all__ = [
    "Account",
    "Answer",
    "ApiError",
    "Behaviour",
    "Call",
    "CallInstructions",
    "CallOptions",
    "CallPacer",
    "CallRunner",
    "CallStatus",
    "CallStore",
    "CallTruth",
    "Faults",
    "MailSandbox",
    "MailTruthLog",
    "MailWorld",
    "Outcome",
    "Recording",
    "Relay",
    "RunnerTiming",
    "SandboxConfigError",
    "SandboxError",
    "TruthLog",
    "World",
    "WorldFileError",
    "create_app",
    "load_mail_world",
    "load_world",
    "parse_mail_world",
    "parse_world",
    "read_mail_truth",
    "read_truth",
]
