"""Directory corrections: what a wave found wrong with each structure's published entry.

Pure functions of what the wave stored (``storage.corrections``): a number not in service (a
SIP answer saying the number does not exist) or never answered, an address that bounces (with
the delivery report's status), a website down or moved, and a phone, address or opening hours
that differ between the directory and the structure's own site. Every finding cites the events
that show it and, when the wave saw one, proposes the value to publish instead.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TextIO
from urllib.parse import urlsplit

from config.cells import SafeDictWriter
from config.opening_hours import OpeningHoursError, parse_opening_hours
from storage.corrections import (
    BounceReport,
    DirectoryEntry,
    EvidenceEvent,
    ObservedAttempt,
    WaveObservations,
)

NUMBER_NOT_IN_SERVICE = frozenset({404, 410, 484, 604})
"""SIP final answers saying the dialled number does not exist (Twilio's ``SipResponseCode``)."""
MIN_UNANSWERED_ATTEMPTS = 2
"""A number is reported as never answered after at least this many unanswered attempts."""
SITE_DOWN_OUTCOMES = frozenset(
    {"unreachable", "timeout", "http_error", "redirect_loop", "too_many_redirects"}
)
"""Site check outcomes that mean the published address leads nowhere."""

Field = Literal["phone", "email", "website", "opening_hours"]
Problem = Literal[
    "number_not_in_service",
    "number_never_answered",
    "address_bounces",
    "website_down",
    "website_moved",
    "phone_differs_from_site",
    "email_differs_from_site",
    "opening_hours_differ_from_site",
]

DESCRIPTIONS: dict[Problem, str] = {
    "number_not_in_service": "numéro non attribué",
    "number_never_answered": "numéro qui ne répond jamais",
    "address_bounces": "adresse électronique en erreur",
    "website_down": "site internet inaccessible",
    "website_moved": "site internet déplacé",
    "phone_differs_from_site": "le site de la structure publie un autre numéro",
    "email_differs_from_site": "le site de la structure publie une autre adresse",
    "opening_hours_differ_from_site": "le site de la structure publie d'autres horaires",
}
"""How a finding reads for the directory's maintainers."""

COLUMNS = (
    "official_id",
    "structure",
    "field",
    "problem",
    "description",
    "directory_value",
    "observed",
    "proposed_value",
    "evidence_event_ids",
    "first_seen",
    "last_seen",
    "source_url",
)
"""The CSV's columns, one row per finding."""


@dataclass(frozen=True, slots=True)
class Correction:
    """One thing wrong with a structure's directory entry, with its evidence."""

    official_id: str
    structure: str
    field: Field
    problem: Problem
    directory_value: str
    observed: str
    proposed_value: str
    evidence: tuple[EvidenceEvent, ...]
    source_url: str = ""

    def row(self) -> dict[str, object]:
        """The CSV row (see ``COLUMNS``)."""
        dates = sorted(event.source_at for event in self.evidence)
        return {
            "official_id": self.official_id,
            "structure": self.structure,
            "field": self.field,
            "problem": self.problem,
            "description": DESCRIPTIONS[self.problem],
            "directory_value": self.directory_value,
            "observed": self.observed,
            "proposed_value": self.proposed_value,
            "evidence_event_ids": " ".join(str(event.id) for event in self.evidence),
            "first_seen": dates[0].isoformat() if dates else "",
            "last_seen": dates[-1].isoformat() if dates else "",
            "source_url": self.source_url,
        }


@dataclass(frozen=True, slots=True)
class SiteSeen:
    """The last check of a structure's website that reached it, or the last one at all."""

    url: str
    report: dict[str, Any]
    event: EvidenceEvent | None

    @property
    def reachable(self) -> bool:
        return bool(self.report.get("reachable")) and self.report.get("outcome", "ok") == "ok"


def _day(moment: datetime) -> str:
    return f"{moment:%d/%m/%Y}"


def _events_of(attempts: Iterable[ObservedAttempt], *kinds: str) -> tuple[EvidenceEvent, ...]:
    return tuple(event for attempt in attempts for event in attempt.events if event.kind in kinds)


def _site_of(attempts: Sequence[ObservedAttempt]) -> SiteSeen | None:
    """The structure's site as the wave last saw it: the last reachable check, else the last."""
    seen = [
        SiteSeen(
            attempt.contact or str(attempt.measurement.get("url") or ""),
            attempt.measurement,
            next((e for e in attempt.events if e.kind == "site.checked"), None),
        )
        for attempt in attempts
        if attempt.channel == "web" and attempt.outcome is not None
    ]
    if not seen:
        return None
    reached = [site for site in seen if site.reachable]
    return (reached or seen)[-1]


def _site_values(site: SiteSeen | None, key: str) -> tuple[str, ...]:
    if site is None or not site.reachable:
        return ()
    values = site.report.get(key) or ()
    return tuple(str(value) for value in values)


class _Finding:
    """Builds the corrections of one directory value, the same entry, field and proposal."""

    def __init__(
        self,
        entry: DirectoryEntry,
        field: Field,
        directory_value: str,
        proposed_value: str,
        source_url: str,
    ) -> None:
        self.entry = entry
        self.field: Field = field
        self.directory_value = directory_value
        self.proposed_value = proposed_value
        self.source_url = source_url

    def __call__(
        self,
        *,
        problem: Problem,
        observed: str,
        evidence: tuple[EvidenceEvent, ...],
        proposed_value: str | None = None,
    ) -> Correction:
        proposed = self.proposed_value if proposed_value is None else proposed_value
        return Correction(
            official_id=self.entry.official_id,
            structure=self.entry.name,
            field=self.field,
            problem=problem,
            directory_value=self.directory_value,
            observed=observed,
            proposed_value=proposed,
            evidence=evidence,
            source_url=self.source_url,
        )


def _finding(
    entry: DirectoryEntry, field: Field, value: str, proposed: str, site: SiteSeen | None
) -> _Finding:
    """The builder for ``value``: the site is the source when it gave the proposed value."""
    source = site.url if proposed and site is not None else value if field == "website" else ""
    return _Finding(entry, field, value, proposed, source)


def _phone_findings(
    entry: DirectoryEntry, attempts: Sequence[ObservedAttempt], site: SiteSeen | None
) -> list[Correction]:
    found: list[Correction] = []
    site_phones = _site_values(site, "phones")
    by_number: dict[str, list[ObservedAttempt]] = defaultdict(list)
    for attempt in attempts:
        if attempt.channel == "phone" and attempt.contact and attempt.outcome is not None:
            by_number[attempt.contact].append(attempt)
    site_events = () if site is None or site.event is None else (site.event,)
    for number in entry.phones:
        tried = by_number.get(number, [])
        proposed = next((phone for phone in site_phones if phone not in entry.phones), "")
        dead = [
            a
            for a in tried
            if a.outcome == "failed"
            and a.measurement.get("sip_response_code") in NUMBER_NOT_IN_SERVICE
        ]
        unanswered = len(tried) >= MIN_UNANSWERED_ATTEMPTS and all(
            a.outcome == "no-answer" for a in tried
        )
        finding = _finding(entry, "phone", number, proposed, site)
        extra = site_events if proposed else ()
        if dead:
            codes = sorted({int(a.measurement["sip_response_code"]) for a in dead})
            found.append(
                finding(
                    problem="number_not_in_service",
                    observed=f"SIP {', '.join(map(str, codes))} à {len(dead)} appel(s), le "
                    + ", ".join(_day(a.started_at) for a in dead),
                    evidence=_events_of(dead, "call.failed") + extra,
                )
            )
        elif unanswered:
            found.append(
                finding(
                    problem="number_never_answered",
                    observed=f"sans réponse à chacun des {len(tried)} appels, le "
                    + ", ".join(_day(a.started_at) for a in tried),
                    evidence=_events_of(tried, "call.no-answer") + extra,
                )
            )
        elif site_phones and number not in site_phones and site is not None:
            found.append(
                finding(
                    problem="phone_differs_from_site",
                    observed="le site publie " + ", ".join(site_phones),
                    evidence=site_events,
                )
            )
    return found


def _bounce_status(attempt: ObservedAttempt, bounces: dict[int, BounceReport]) -> str:
    report = attempt.measurement.get("bounce") or {}
    bounce = bounces.get(int(report["reply_id"])) if "reply_id" in report else None
    if bounce is not None:
        status = f"DSN {bounce.status or 'sans statut'}"
        return f"{status} ({bounce.diagnostic})" if bounce.diagnostic else status
    code = attempt.measurement.get("code")
    return f"refusée par le serveur (SMTP {code})" if code else "rejetée"


def _email_findings(
    entry: DirectoryEntry,
    attempts: Sequence[ObservedAttempt],
    site: SiteSeen | None,
    bounces: dict[int, BounceReport],
) -> list[Correction]:
    found: list[Correction] = []
    site_emails = _site_values(site, "emails")
    known = {address.casefold() for address in entry.emails}
    site_events = () if site is None or site.event is None else (site.event,)
    for address in entry.emails:
        bounced = [
            a
            for a in attempts
            if a.channel == "email" and a.contact == address and a.outcome == "bounced"
        ]
        proposed = next((email for email in site_emails if email.casefold() not in known), "")
        finding = _finding(entry, "email", address, proposed, site)
        if bounced:
            found.append(
                finding(
                    problem="address_bounces",
                    observed="; ".join(
                        f"{_bounce_status(a, bounces)} le {_day(a.started_at)}" for a in bounced
                    ),
                    evidence=_events_of(bounced, "email.sent", "email.bounce", "email.refused")
                    + (site_events if proposed else ()),
                )
            )
        elif site_emails and address.casefold() not in {e.casefold() for e in site_emails}:
            found.append(
                finding(
                    problem="email_differs_from_site",
                    observed="le site publie " + ", ".join(site_emails),
                    evidence=site_events,
                )
            )
    return found


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").casefold()
    return host.removeprefix("www.")


def _website_findings(
    entry: DirectoryEntry, attempts: Sequence[ObservedAttempt]
) -> list[Correction]:
    found: list[Correction] = []
    for website in entry.websites:
        checks = [a for a in attempts if a.channel == "web" and a.contact == website and a.outcome]
        if not checks:
            continue
        evidence = _events_of(checks, "site.checked")
        finding = _finding(entry, "website", website, "", None)
        reports = [a.measurement for a in checks]
        status = reports[-1].get("status")
        down = all(
            r.get("outcome") in SITE_DOWN_OUTCOMES or (r.get("status") or 0) >= 400 for r in reports
        )
        if down:
            found.append(
                finding(
                    problem="website_down",
                    observed="; ".join(
                        f"{r.get('outcome')}{f' (HTTP {s})' if (s := r.get('status')) else ''}"
                        f" le {_day(a.started_at)}"
                        for r, a in zip(reports, checks, strict=True)
                    ),
                    evidence=evidence,
                )
            )
            continue
        final = next(
            (
                str(r.get("final_url"))
                for r in reversed(reports)
                if r.get("outcome") == "ok" and r.get("final_url")
            ),
            "",
        )
        if final and _host(final) != _host(website):
            found.append(
                finding(
                    problem="website_moved",
                    observed=f"redirige vers {final}"
                    + (f" (HTTP {status})" if status is not None else ""),
                    evidence=evidence,
                    proposed_value=final,
                )
            )
    return found


_TIME = re.compile(r"\b([01]?\d|2[0-3])\s*(?:h|:)\s*([0-5]\d)?")


def hours_in_text(text: str) -> frozenset[int]:
    """The times of day (minutes since midnight) a French opening-hours text names."""
    return frozenset(int(h) * 60 + int(m or 0) for h, m in _TIME.findall(text))


def hours_in_directory(opening_hours: str) -> frozenset[int] | None:
    """The opening and closing times of the directory's hours; None when they cannot be read."""
    try:
        parsed = parse_opening_hours(opening_hours)
    except OpeningHoursError:
        return None
    return frozenset(minute for intervals in parsed.weekly for span in intervals for minute in span)


def _hours_findings(entry: DirectoryEntry, site: SiteSeen | None) -> list[Correction]:
    if site is None or not site.reachable or not entry.opening_hours:
        return []
    text = site.report.get("opening_hours_text")
    if not isinstance(text, str) or not text.strip():
        return []
    published, listed = hours_in_text(text), hours_in_directory(entry.opening_hours)
    if not published or listed is None or published == listed:
        return []
    return [
        Correction(
            official_id=entry.official_id,
            structure=entry.name,
            field="opening_hours",
            problem="opening_hours_differ_from_site",
            directory_value=entry.opening_hours,
            observed=f"le site publie « {text.strip()} »",
            proposed_value=text.strip(),
            evidence=() if site.event is None else (site.event,),
            source_url=site.url,
        )
    ]


def find_corrections(observations: WaveObservations) -> list[Correction]:
    """Every finding of the wave, by structure (official id) then field."""
    by_structure: dict[int, list[ObservedAttempt]] = defaultdict(list)
    for attempt in observations.attempts:
        by_structure[attempt.structure_id].append(attempt)
    found: list[Correction] = []
    for entry in sorted(observations.entries.values(), key=lambda e: e.official_id):
        attempts = by_structure.get(entry.structure_id, [])
        site = _site_of(attempts)
        found += _phone_findings(entry, attempts, site)
        found += _email_findings(entry, attempts, site, observations.bounces)
        found += _website_findings(entry, attempts)
        found += _hours_findings(entry, site)
    return found


def write_corrections_csv(corrections: Iterable[Correction], out: TextIO) -> int:
    """Write the findings as CSV (cells made safe for spreadsheets); returns how many rows."""
    writer = SafeDictWriter(out, COLUMNS)
    writer.writeheader()
    count = 0
    for correction in corrections:
        writer.writerow(correction.row())
        count += 1
    return count
