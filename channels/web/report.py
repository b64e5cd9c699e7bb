"""What one website check found: ``SiteReport``, and its ``prober site check --json`` form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

AccessibilityLevel = Literal["totalement conforme", "partiellement conforme", "non conforme"]
ACCESSIBILITY_LEVELS: tuple[AccessibilityLevel, ...] = (
    "totalement conforme",
    "partiellement conforme",
    "non conforme",
)

# How a check ended. "ok", "too_large" and "too_deep" read a home page (a too large one up to
# the size cap); every other outcome read none. ``SiteReport.error`` says why in a sentence.
Outcome = Literal[
    "ok",
    "not_http",  # the URL is not http(s)
    "unreachable",  # no connection (refused, no such host, reset)
    "timeout",  # no answer within the timeout
    "http_error",  # the home page answered 4xx/5xx
    "redirect_loop",  # a redirect came back to a URL already visited
    "too_many_redirects",  # more hops than the policy allows
    "bad_certificate",  # HTTPS refused: expired, self-signed, wrong name...
    "too_large",  # the home page exceeds the size cap; what came before the cap was read
    "too_deep",  # the home page nests tags absurdly deep (HTML bomb); read without the excess
    "robots_disallowed",  # robots.txt forbids prober the home page
    "unreadable",  # the server answered something that is not a web page prober can read
]


@dataclass(frozen=True, slots=True)
class SiteReport:
    """A structure's website as a citizen finds it, with how the check went."""

    url: str
    final_url: str | None
    reachable: bool
    status: int | None
    https: bool
    certificate_days_left: int | None
    load_s: float | None
    ttfb_s: float | None
    redirects: tuple[str, ...]
    accessibility: AccessibilityLevel | None
    accessibility_statement_url: str | None
    contact_form: bool
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    opening_hours_text: str | None
    social: tuple[str, ...]
    mobile_viewport: bool
    outcome: Outcome
    error: str | None
    checked_at: datetime

    @classmethod
    def blank(cls, url: str, checked_at: datetime) -> SiteReport:
        """A report of a site where nothing was found (yet)."""
        return cls(
            url=url,
            final_url=None,
            reachable=False,
            status=None,
            https=False,
            certificate_days_left=None,
            load_s=None,
            ttfb_s=None,
            redirects=(),
            accessibility=None,
            accessibility_statement_url=None,
            contact_form=False,
            phones=(),
            emails=(),
            opening_hours_text=None,
            social=(),
            mobile_viewport=False,
            outcome="ok",
            error=None,
            checked_at=checked_at,
        )

    def to_json(self) -> dict[str, object]:
        """The object ``prober site check --json`` prints, keys in the documented order."""
        return {
            "url": self.url,
            "reachable": self.reachable,
            "status": self.status,
            "https": self.https,
            "certificate_days_left": self.certificate_days_left,
            "load_s": self.load_s,
            "accessibility": self.accessibility,
            "contact_form": self.contact_form,
            "phones": list(self.phones),
            "emails": list(self.emails),
            "opening_hours_text": self.opening_hours_text,
            "social": list(self.social),
        }
