"""Websites: polite checks of structures' sites and what they publish (``SiteReport``)."""

from channels.web.check import SiteChecker, check_site, normalized_url
from channels.web.errors import JavaScriptUnavailableError, WebCheckError
from channels.web.fetch import build_client
from channels.web.policy import CheckPolicy
from channels.web.report import ACCESSIBILITY_LEVELS, AccessibilityLevel, Outcome, SiteReport

__all__ = [
    "ACCESSIBILITY_LEVELS",
    "AccessibilityLevel",
    "CheckPolicy",
    "JavaScriptUnavailableError",
    "Outcome",
    "SiteChecker",
    "SiteReport",
    "WebCheckError",
    "build_client",
    "check_site",
    "normalized_url",
]
