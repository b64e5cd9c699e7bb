"""The simulated outside world for prober: a Twilio-compatible API (more to come).

It imports nothing of prober and speaks only HTTP, so its records stay an independent truth.
"""

from sandbox.auth import Account
from sandbox.calls import Call, CallInstructions, CallOptions, CallStatus, CallStore, Recording
from sandbox.errors import ApiError, SandboxConfigError, SandboxError
from sandbox.pacing import CallPacer
from sandbox.twilio_api import create_app

__all__ = [
    "Account",
    "ApiError",
    "Call",
    "CallInstructions",
    "CallOptions",
    "CallPacer",
    "CallStatus",
    "CallStore",
    "Recording",
    "SandboxConfigError",
    "SandboxError",
    "create_app",
]
