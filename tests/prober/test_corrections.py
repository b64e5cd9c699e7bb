"""Directory corrections from what a wave stored: one finding per wrong directory value, with
the events that show it, and nothing for an entry the wave found right.

Site measurements are built with ``site_measurement`` from ``SiteReport`` values, as the web
probes store them; phone and email ones are shaped as the phone and email probes store them.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from channels.web import SiteReport
from config.cells import read_cell
from prober.probes.web import site_measurement
from prober.results.corrections import (
    COLUMNS,
    find_corrections,
    hours_in_directory,
    hours_in_text,
    write_corrections_csv,
)
from storage.corrections import (
    BounceReport,
    DirectoryEntry,
    EvidenceEvent,
    ObservedAttempt,
    WaveObservations,
)

AT = datetime(2027, 2, 3, 9, 30, tzinfo=UTC)
PHONE, OTHER_PHONE = "+33164810011", "+33164819999"
EMAIL = "accueil@boisleroi-exemple.fr"
SITE = "https://www.boisleroi-exemple.fr"
HOURS = "Mo-Fr 08:30-12:00,13:30-17:30; Sa 09:00-12:00"


def entry(**changes: Any) -> DirectoryEntry:
    base = DirectoryEntry(
        structure_id=1,
        official_id="21770001800011",
        name="Mairie de Bois-le-Roi",
        opening_hours=HOURS,
        phones=(PHONE,),
        emails=(EMAIL,),
        websites=(SITE,),
    )
    return replace(base, **changes)


def event(kind: str, at: datetime = AT, **payload: Any) -> EvidenceEvent:
    return EvidenceEvent(uuid.uuid4(), kind, at, payload)


_attempt_ids = iter(range(1, 10_000))


def attempt(
    channel: str,
    contact: str,
    outcome: str,
    measurement: dict[str, Any],
    *events: EvidenceEvent,
    at: datetime = AT,
) -> ObservedAttempt:
    return ObservedAttempt(
        structure_id=1,
        probe_id=uuid.uuid4(),
        channel=channel,
        contact=contact,
        attempt_id=next(_attempt_ids),
        number=1,
        started_at=at,
        outcome=outcome,
        measurement=measurement,
        events=events,
    )


def site(**changes: Any) -> SiteReport:
    report = SiteReport(
        url=SITE,
        final_url=SITE + "/",
        reachable=True,
        status=200,
        https=True,
        certificate_days_left=80,
        load_s=0.4,
        ttfb_s=0.1,
        redirects=(),
        accessibility="partiellement conforme",
        accessibility_statement_url=SITE + "/accessibilite",
        contact_form=True,
        phones=(PHONE,),
        emails=(EMAIL,),
        opening_hours_text="Du lundi au vendredi de 8h30 à 12h et de 13h30 à 17h30, le samedi"
        " de 9h à 12h.",
        social=(),
        mobile_viewport=True,
        outcome="ok",
        error=None,
        checked_at=AT,
    )
    return replace(report, **changes)


def site_attempt(report: SiteReport) -> tuple[ObservedAttempt, EvidenceEvent]:
    measurement = site_measurement(report, entry())
    checked = event("site.checked", report.checked_at, **measurement)
    return attempt("web", SITE, report.outcome, measurement, checked), checked


def observe(*attempts: ObservedAttempt, bounces: dict[int, BounceReport] | None = None) -> Any:
    return find_corrections(WaveObservations({1: entry()}, list(attempts), bounces or {}))


def test_a_wave_that_found_everything_right_proposes_nothing() -> None:
    web, _ = site_attempt(site())
    answered = attempt("phone", PHONE, "answered", {"sip_response_code": 200})
    replied = attempt("email", EMAIL, "replied", {"first_human_reply": {"reply_id": 3}})

    assert observe(web, answered, replied) == []


def test_a_number_not_in_service_cites_its_calls_and_the_site_s_number() -> None:
    failed = [
        attempt(
            "phone", PHONE, "failed", {"sip_response_code": code}, event("call.failed", at), at=at
        )
        for code, at in ((404, AT), (604, AT + timedelta(days=2)))
    ]
    web, checked = site_attempt(site(phones=(OTHER_PHONE,)))

    [found] = observe(*failed, web)

    assert (found.field, found.problem) == ("phone", "number_not_in_service")
    assert (found.directory_value, found.proposed_value) == (PHONE, OTHER_PHONE)
    assert "SIP 404, 604" in found.observed
    assert [e.id for e in found.evidence] == [
        *(a.events[0].id for a in failed),
        checked.id,
    ]
    assert found.source_url == SITE


def test_a_failure_that_says_nothing_of_the_number_is_not_a_finding() -> None:
    # 503: the carrier's trouble, not a dead number.
    failed = attempt("phone", PHONE, "failed", {"sip_response_code": 503}, event("call.failed"))

    assert observe(failed) == []


def test_a_number_is_never_answered_only_after_every_attempt_went_unanswered() -> None:
    first = attempt("phone", PHONE, "no-answer", {}, event("call.no-answer"))
    second = attempt("phone", PHONE, "no-answer", {}, event("call.no-answer"))
    answered = attempt("phone", PHONE, "answered", {})

    [found] = observe(first, second)
    assert found.problem == "number_never_answered"
    assert found.proposed_value == ""
    assert len(found.evidence) == 2
    assert observe(first) == []  # one unanswered call proves nothing
    assert observe(first, second, answered) == []


def test_a_bounced_address_gives_the_delivery_report_status() -> None:
    sent, bounce = event("email.sent"), event("email.bounce", AT + timedelta(seconds=20))
    bounced = attempt("email", EMAIL, "bounced", {"bounce": {"reply_id": 7}}, sent, bounce)
    report = BounceReport(7, AT, "5.1.1", "failed", "550 5.1.1 User unknown")

    [found] = observe(bounced, bounces={7: report})

    assert (found.field, found.problem, found.directory_value) == (
        "email",
        "address_bounces",
        EMAIL,
    )
    assert found.observed.startswith("DSN 5.1.1 (550 5.1.1 User unknown)")
    assert [e.kind for e in found.evidence] == ["email.sent", "email.bounce"]


def test_site_mismatches_propose_what_the_site_publishes() -> None:
    web, checked = site_attempt(
        site(
            phones=(OTHER_PHONE,),
            emails=("mairie@boisleroi-exemple.fr",),
            opening_hours_text="Du lundi au vendredi de 9h à 12h et de 14h à 17h.",
        )
    )

    found = {c.problem: c for c in observe(web)}

    assert set(found) == {
        "phone_differs_from_site",
        "email_differs_from_site",
        "opening_hours_differ_from_site",
    }
    assert found["phone_differs_from_site"].proposed_value == OTHER_PHONE
    assert found["email_differs_from_site"].proposed_value == "mairie@boisleroi-exemple.fr"
    assert found["opening_hours_differ_from_site"].proposed_value.startswith("Du lundi")
    assert all(c.evidence == (checked,) for c in found.values())


def test_a_site_down_at_every_check_is_reported_and_its_contents_are_not_compared() -> None:
    down = site(
        reachable=False,
        status=None,
        final_url=None,
        phones=(),
        emails=(),
        opening_hours_text=None,
        outcome="timeout",
        error="no answer in 10 s",
    )
    web, checked = site_attempt(down)

    [found] = observe(web)

    assert (found.field, found.problem, found.directory_value) == ("website", "website_down", SITE)
    assert found.evidence == (checked,)
    later, _ = site_attempt(site(checked_at=AT + timedelta(days=1)))
    assert observe(web, later) == []  # up again at the second check


def test_a_site_moved_to_another_host_proposes_the_new_address() -> None:
    moved = site(
        final_url="https://www.bois-le-roi.fr/", redirects=(SITE, "https://www.bois-le-roi.fr/")
    )
    web, _ = site_attempt(moved)
    same_host = site(final_url="https://boisleroi-exemple.fr/accueil")

    [found] = observe(web)
    assert (found.problem, found.proposed_value) == ("website_moved", "https://www.bois-le-roi.fr/")
    assert observe(site_attempt(same_host)[0]) == []


def test_opening_hours_compare_the_times_a_french_text_names() -> None:
    # 8:30, 12:00, 13:30, 17:30 and 9:00 in minutes since midnight.
    times = frozenset({510, 720, 810, 1050, 540})
    assert hours_in_text("de 8h30 à 12h00 et de 13 h 30 à 17:30, samedi 9h-12h") == times
    assert hours_in_directory(HOURS) == times
    assert hours_in_directory("not hours") is None


def test_the_csv_has_one_row_per_finding_and_inert_cells() -> None:
    failed = attempt("phone", PHONE, "failed", {"sip_response_code": 404}, event("call.failed"))
    web, _ = site_attempt(site(emails=("=HYPERLINK(1)@x.fr",)))
    corrections = observe(failed, web)
    out = io.StringIO()

    rows = write_corrections_csv(corrections, out)

    read = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows == len(read) == 2
    assert list(read[0]) == list(COLUMNS)
    assert read[0]["directory_value"] == "'" + PHONE  # "+..." would be a formula
    assert read_cell(read[1]["proposed_value"]) == "=HYPERLINK(1)@x.fr"
    assert read[1]["proposed_value"].startswith("'")
    assert read[0]["evidence_event_ids"] == str(failed.events[0].id)
    assert read[0]["first_seen"] == AT.isoformat()
