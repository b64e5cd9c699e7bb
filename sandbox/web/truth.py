"""Ground truth: what a check of each simulated site must report, from the site's own design.

A citizen (and prober) reads the home page and the pages it links as contact, accessibility,
legal notice and opening hours; the truth lists what those pages publish, derived from how the
sandbox builds them, never from a parser.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.web import pages
from sandbox.web.server import EXPIRED_DAYS, EXPIRING_DAYS, VALID_DAYS, WebSandbox
from sandbox.web.world import SLOW_S, SiteSpec


@dataclass(frozen=True, slots=True)
class SiteTruth:
    """The expected ``prober site check --json`` object (``load_s`` aside: it is measured, so
    the truth gives its floor) with the outcome and what the directory says."""

    site: SiteSpec
    expected: dict[str, object]
    outcome: str
    min_load_s: float | None  # None: load_s must be null
    directory_phone: str
    directory_email: str
    directory_opening_hours_text: str


FAILED = {
    "down": "unreachable",
    "silent": "timeout",
    "redirect_loop": "redirect_loop",
    "redirect_chain": "too_many_redirects",
    "expired_certificate": "bad_certificate",
    "not_http": "not_http",
}


def site_truth(site: SiteSpec, sandbox: WebSandbox, *, javascript: bool = False) -> SiteTruth:
    """What checking ``site`` (at ``sandbox.url_of(site)``) must find; ``javascript``: with
    pages rendered by a browser (the JavaScript-only site then shows its content)."""
    url = sandbox.url_of(site)
    expected: dict[str, object] = {
        "url": url,
        "reachable": False,
        "status": None,
        "https": False,
        "certificate_days_left": None,
        "load_s": None,
        "accessibility": None,
        "contact_form": False,
        "phones": [],
        "emails": [],
        "opening_hours_text": None,
        "social": [],
    }
    directory_hours = "; ".join(f"{days} : {times}" for days, times in site.directory_hours)
    truth = SiteTruth(
        site,
        expected,
        FAILED.get(site.behaviour, "ok"),
        None,
        site.directory_phone,
        site.directory_email,
        directory_hours,
    )
    behaviour = site.behaviour
    if behaviour == "expired_certificate":
        expected["certificate_days_left"] = EXPIRED_DAYS
    if behaviour in FAILED:
        return truth
    days = EXPIRING_DAYS if behaviour == "expiring_certificate" else VALID_DAYS
    expected.update(
        status=503 if behaviour == "server_error" else 200,
        https=site.https,
        certificate_days_left=days if site.https else None,
        reachable=behaviour != "server_error",
    )
    min_load = SLOW_S if behaviour == "slow" else 0.0
    outcome = {
        "server_error": "http_error",
        "huge": "too_large",
        "gzip_bomb": "too_large",
        "nesting_bomb": "too_deep",
    }.get(behaviour, "ok")
    truth = SiteTruth(
        site,
        expected,
        outcome,
        min_load,
        truth.directory_phone,
        truth.directory_email,
        truth.directory_opening_hours_text,
    )
    if behaviour == "server_error" or (behaviour == "javascript_only" and not javascript):
        return truth
    expected["phones"] = [site.phone]
    if behaviour in {"huge", "gzip_bomb"}:
        return truth  # the header's number, then filler past the size cap
    contact_read = behaviour not in {"contact_hidden", "robots_contact"}
    emails = {site.email} if behaviour != "obfuscated_email" or contact_read else set()
    hours = None
    if site.layout != "contact_page" or contact_read:
        hours = "; ".join(pages.hours_lines(site))
    expected.update(
        accessibility=site.accessibility,
        contact_form=contact_read,
        emails=sorted(emails),
        opening_hours_text=hours,
        social=sorted(site.social),
    )
    return truth
