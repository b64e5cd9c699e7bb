"""The mail side's exceptions, under the sandbox's root `SandboxError`."""

from __future__ import annotations

from sandbox.errors import SandboxConfigError, SandboxError


class MailServerUnavailable(SandboxConfigError):
    """A mail server cannot be started here: Dovecot is missing, or we lack the rights it needs."""


class DovecotStartFailed(SandboxError):
    """Dovecot was launched but never answered on its port; the message quotes its log."""


class DeliveryFailed(SandboxError):
    """dovecot-lda refused or failed to deliver a message into a user's mailbox."""

    def __init__(self, recipient: str, exit_code: int, detail: str) -> None:
        super().__init__(f"delivery to {recipient} failed (dovecot-lda exit {exit_code}): {detail}")
        self.recipient = recipient
        self.exit_code = exit_code
        # sysexits.h: 67 EX_NOUSER is permanent, 75 EX_TEMPFAIL (and the rest) worth a retry.
        self.permanent = exit_code == 67
