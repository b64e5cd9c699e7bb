"""Web contacts judged by the shipped grid's four web criteria, on measurements stored as the
web probes store them (``site_measurement`` of a ``SiteReport`` and the directory's contacts)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from channels.web import SiteReport
from config.criteria import load_criteria
from prober.probes.web import abandoned_report, site_measurement
from prober.results.scoring.aggregate import aggregate
from prober.results.scoring.judge import score_contact
from prober.results.scoring.metrics import reached_structure
from prober.results.scoring.model import Contact
from storage.corrections import DirectoryEntry

GRID = load_criteria(Path(__file__).resolve().parents[2] / "config" / "defaults" / "criteria.toml")
AT = datetime(2027, 2, 3, 9, 30, tzinfo=UTC)
PHONE, EMAIL, SITE = "+33164810011", "accueil@boisleroi-exemple.fr", "https://boisleroi.example"
DIRECTORY = DirectoryEntry(1, "21770001800011", "Mairie", None, (PHONE,), (EMAIL,), (SITE,))
OK = SiteReport(
    url=SITE, final_url=SITE + "/", reachable=True, status=200, https=True,
    certificate_days_left=80, load_s=0.4, ttfb_s=0.1, redirects=(),
    accessibility="partiellement conforme", accessibility_statement_url=SITE + "/accessibilite",
    contact_form=True, phones=(PHONE,), emails=(EMAIL,), opening_hours_text=None, social=(),
    mobile_viewport=True, outcome="ok", error=None, checked_at=AT,
)  # fmt: skip


def verdicts(report: SiteReport) -> dict[str, str]:
    contact = Contact(
        probe_id=uuid.uuid4(),
        structure_id=1,
        channel="web",
        slot_kind="open",
        scenario_id="site-web",
        attempt_id=1,
        attempt_number=1,
        started_at=AT,
        outcome=report.outcome,
        measurement=site_measurement(report, DIRECTORY),
    )
    assert reached_structure(contact)
    scored = score_contact(GRID, contact, AT)
    return {result.criterion_id: result.verdict for result in scored.results}


def test_a_site_that_does_everything_passes_every_criterion() -> None:
    assert verdicts(OK) == {
        "web.site_reachable": "passed",
        "web.accessibility_statement": "passed",
        "web.contact_information_consistent": "passed",
        "web.contact_form": "passed",
    }


def test_a_site_that_never_answered_fails_reachability_and_nothing_else_applies() -> None:
    assert verdicts(abandoned_report(SITE, 35, AT)) == {
        "web.site_reachable": "failed",
        "web.accessibility_statement": "not_applicable",
        "web.contact_information_consistent": "not_applicable",
        "web.contact_form": "not_applicable",
    }


def test_what_the_site_publishes_is_judged_against_the_directory() -> None:
    other_number = replace(OK, phones=("+33164819999",))
    nothing = replace(OK, phones=(), emails=(), contact_form=False)
    no_statement = replace(OK, accessibility=None, accessibility_statement_url=None)
    only_email = replace(OK, phones=())

    assert verdicts(other_number)["web.contact_information_consistent"] == "failed"
    assert verdicts(nothing)["web.contact_information_consistent"] == "failed"
    assert verdicts(nothing)["web.contact_form"] == "failed"
    assert verdicts(no_statement)["web.accessibility_statement"] == "failed"
    assert verdicts(only_email)["web.contact_information_consistent"] == "passed"


def test_a_structure_s_web_score_weighs_the_criteria() -> None:
    contact = Contact(
        probe_id=uuid.uuid4(), structure_id=1, channel="web", slot_kind="open",
        scenario_id="site-web", attempt_id=1, attempt_number=1, started_at=AT,
        outcome="ok", measurement=site_measurement(replace(OK, contact_form=False), DIRECTORY),
    )  # fmt: skip
    score = aggregate(GRID, 1, "web", [score_contact(GRID, contact, AT)], probes=1, excluded=0)

    # Weights: reachable 3, statement 2 (quality), consistent 2, form 1: accessibility 5/6.
    assert score.accessibility == 83.3
    assert score.quality == 100.0
    assert score.score == 87.5  # 7 of 8
    assert score.figures["site_reachable_rate"] == 100.0
    assert score.figures["contact_form_rate"] == 0.0
