"""The errors a channel raises; the message says what went wrong and what to do."""

from __future__ import annotations


class ChannelError(Exception):
    """Base class of every channel error."""


class PermanentContactError(ChannelError):
    """The world refused the contact for good (invalid number, blocked destination...).

    Retrying would fail the same way: the probe fails with this reason.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientContactError(ChannelError):
    """The contact could not be made now (rate limit, server error, timeout): retry later.

    ``maybe_made`` is True when the contact may have happened all the same (a request whose
    answer was lost and whose effect could not be checked): the attempt must then be reconciled,
    never simply retried.
    """

    def __init__(self, message: str, *, code: int | None = None, maybe_made: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.maybe_made = maybe_made


class InvalidCallbackError(ChannelError):
    """A webhook request lacks what Twilio always sends, or carries a value we cannot read."""
