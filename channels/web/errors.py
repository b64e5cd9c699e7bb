"""The errors of website checks: only misconfiguration raises; what a site does is an outcome."""

from __future__ import annotations

from channels.errors import ChannelError


class WebCheckError(ChannelError):
    """A website check cannot run as configured; the message says what to do."""


class JavaScriptUnavailableError(WebCheckError):
    """``javascript = true`` but Playwright or chromium is missing."""
