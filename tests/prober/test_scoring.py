"""Scoring on measurements shaped as the channels store them: verdicts per criterion of the
default grid (config/defaults/criteria.toml), weighted scores and indices, comparisons.

Phone measurements are ``CallMeasurement.to_json()``; email ones come from
``email_measurement`` over replies, as ``remeasure_email_attempt`` stores them. Every expected
figure is counted by hand from the grid's weights in the comments.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from channels.phone.measure import CallMeasurement
from channels.phone.speech import mentions_opening_hours
from config.criteria import CriteriaGrid, load_criteria
from config.settings import ScoringSettings
from prober.probes.email import email_measurement
from prober.results.scoring.aggregate import aggregate
from prober.results.scoring.compare import compare, compare_waves, percentile_rank
from prober.results.scoring.judge import score_contact
from prober.results.scoring.metrics import reached_structure
from prober.results.scoring.model import ChannelScore, Contact, ContactScore, Verdict
from storage.mail import StructureHours
from storage.models import Reply
from storage.scores import StructureInfo

GRID_PATH = Path(__file__).resolve().parents[2] / "config" / "defaults" / "criteria.toml"
GRID = load_criteria(GRID_PATH)
PARIS = ZoneInfo("Europe/Paris")

MENU = "Bonjour et bienvenue à la mairie. Tapez 1 pour l'état civil, 2 pour l'urbanisme."
VOICEMAIL = "Vous êtes sur la messagerie de la mairie, laissez votre message après le bip."
CLOSED = (
    "Mairie de Bois-le-Roi. Nos bureaux sont fermés. Nous sommes ouverts du lundi au vendredi"
    " de 9 h à 17 h. Laissez un message après le bip."
)
PHONE_OBJECTIVE = (
    "phone.answered",
    "phone.answered_within_5_rings",
    "phone.answered_by_agent",
    "phone.menu_under_30s",
    "phone.transfer_succeeded",
    "phone.hold_under_60s",
    "phone.off_hours_message_gives_hours",
)
PHONE_REVIEWED = (
    "phone.greeting_names_structure",
    "phone.courtesy",
    "phone.personalisation",
    "phone.answer_quality",
)
EMAIL_OBJECTIVE = (
    "email.not_bounced",
    "email.acknowledged_within_7_days",
    "email.replied_within_5_working_days",
)
P, F, NA, PE, TR = "passed", "failed", "not_applicable", "pending", "to_review"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


# -- Measurements as the channels store them ------------------------------------------------


def call(
    outcome: str = "answered",
    *,
    rings: int | None = 2,
    answered_by: str | None = "human",
    greeting: str | None = "Mairie de Vincennes, bonjour.",
    menu_s: float | None = None,
    menu_key: str | None = None,
    transfer_requested: str | None = None,
    transfer_outcome: str | None = None,
    hold_s: float | None = None,
    sip_response_code: int | None = None,
) -> dict[str, Any]:
    """A call attempt's measurement; ``rings`` as heard (5 s per ring, France)."""
    answered = outcome == "answered"
    ring_s = None if rings is None else ((rings - 1) * 5 + 1 if answered else rings * 5)
    return CallMeasurement(
        outcome=outcome,
        final_status="completed" if answered else outcome,
        post_dial_delay_s=1,
        ring_s=ring_s,
        rings=rings,
        answered_by=answered_by if answered else None,
        amd_answered_by=None,
        greeting=greeting if answered else None,
        greeting_gives_opening_hours=mentions_opening_hours(greeting) if answered else None,
        menu_s=menu_s,
        menu_key=menu_key,
        transfer_requested=transfer_requested,
        transfer_outcome=transfer_outcome,
        hold_s=hold_s,
        transferred_greeting="État civil, bonjour." if transfer_outcome == "human" else None,
        talk_s=40 if answered else 0,
        sip_response_code=sip_response_code
        or {"answered": 200, "busy": 486, "no-answer": 487}.get(outcome, 404),
        recording_sid="RE" + "0" * 32 if answered else None,
    ).to_json()


def ivr_call(*, hold_s: float | None, transfer_outcome: str | None = "human") -> dict[str, Any]:
    """One ring, a voice menu, key 1 after 6.2 s, then a hold to ``transfer_outcome``."""
    return call(
        rings=1,
        answered_by="ivr",
        greeting=MENU,
        menu_s=6.2,
        menu_key="1",
        transfer_requested="menu",
        transfer_outcome=transfer_outcome,
        hold_s=hold_s,
    )


def reply(reply_id: int, classification: str, received_at: datetime) -> Reply:
    return Reply(
        id=reply_id,
        channel="email",
        sha256=f"{reply_id:064d}",
        received_at=received_at,
        header_date=received_at,
        classification=classification,
    )


def email(
    sent_at: datetime, replies: list[Reply] | None = None, *, subdivision: str | None = None
) -> dict[str, Any]:
    structure = StructureHours(
        timezone="Europe/Paris",
        holiday_subdivision=subdivision,
        opening_hours="Mo-Fr 08:30-12:00,13:30-17:00",
    )
    return email_measurement(sent_at, replies or [], structure)


def contact(
    channel: str,
    measurement: dict[str, Any],
    *,
    slot_kind: str = "open",
    reviews: dict[str, str] | None = None,
    subdivision: str | None = None,
    structure_id: int = 1,
) -> Contact:
    return Contact(
        probe_id=uuid.uuid4(),
        structure_id=structure_id,
        channel=channel,
        slot_kind=slot_kind,
        scenario_id=f"s-{channel}",
        attempt_id=1,
        attempt_number=1,
        started_at=at("2026-11-09T10:00"),
        outcome=measurement["outcome"],
        measurement=measurement,
        reviews=reviews or {},
        holiday_subdivision=subdivision,
    )


AS_OF = at("2026-12-01T12:00")


def judged(item: Contact, as_of: datetime = AS_OF, grid: CriteriaGrid = GRID) -> ContactScore:
    return score_contact(grid, item, as_of)


def verdicts(score: ContactScore, ids: tuple[str, ...]) -> tuple[Verdict, ...]:
    by_id = {result.criterion_id: result.verdict for result in score.results}
    return tuple(by_id[criterion_id] for criterion_id in ids)


def channel_score(
    *items: Contact, as_of: datetime = AS_OF, grid: CriteriaGrid = GRID
) -> ChannelScore:
    judged_items = [score_contact(grid, item, as_of) for item in items]
    return aggregate(grid, 1, items[0].channel, judged_items, probes=len(items), excluded=0)


# -- Phone ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rings", "verdict", "score"),
    [
        # answered 3 + 5 rings 2 + agent 2 all passed: 7/7.
        (5, P, 100.0),
        # The 6th ring fails the 2 of "within 5 rings": 5/7.
        (6, F, 71.4),
        (1, P, 100.0),
    ],
)
def test_five_rings_pass_and_six_fail(rings: int, verdict: Verdict, score: float) -> None:
    item = contact("phone", call(rings=rings))
    result = judged(item)
    assert verdicts(result, PHONE_OBJECTIVE) == (P, verdict, P, NA, NA, NA, NA)
    rings_result = next(r for r in result.results if r.criterion_id.endswith("5_rings"))
    assert rings_result.value == rings
    scored = channel_score(item)
    assert (scored.score, scored.accessibility) == (score, score)
    assert (scored.responsiveness, scored.quality) == (None, None)


@pytest.mark.parametrize(
    ("answered_by", "transfer_outcome", "verdict"),
    [
        ("human", None, P),
        ("human", "not_transferred", P),  # the person asked answered the request at once
        ("human", "voicemail", P),  # a person did pick up, before a failed transfer
        ("ivr", "human", P),  # the menu put us through to a person
        ("ivr", "voicemail", F),
        ("ivr", "dropped", F),
        ("ivr", "abandoned", F),
        ("ivr", None, F),  # no menu choice led anywhere
        ("machine", None, F),
        ("unknown", None, NA),  # nobody can tell: neither passed nor failed
    ],
)
def test_an_agent_is_reached_directly_or_through_the_menu(
    answered_by: str, transfer_outcome: str | None, verdict: Verdict
) -> None:
    measurement = call(
        answered_by=answered_by,
        transfer_requested=None if transfer_outcome is None else "menu",
        transfer_outcome=transfer_outcome,
    )
    (result,) = verdicts(judged(contact("phone", measurement)), ("phone.answered_by_agent",))
    assert result == verdict


def test_a_menu_then_a_person_after_40_s_passes_everything_70_s_fails_the_hold() -> None:
    quick = judged(contact("phone", ivr_call(hold_s=40.3)))
    assert verdicts(quick, PHONE_OBJECTIVE) == (P, P, P, P, P, P, NA)
    # 3 + 2 + 2 + 1 + 2 (accessibility, the transfer included) + 1 (responsiveness) = 11 of 11.
    assert channel_score(quick.contact).score == 100.0

    slow = judged(contact("phone", ivr_call(hold_s=70.1)))
    assert verdicts(slow, PHONE_OBJECTIVE) == (P, P, P, P, P, F, NA)
    hold = next(r for r in slow.results if r.criterion_id == "phone.hold_under_60s")
    assert hold.value == 70.1
    assert "70.1 s on hold, then human" in hold.note
    scored = channel_score(slow.contact)
    # 10 of 11; the hold is the only responsiveness criterion; quality waits for reviews.
    assert scored.score == 90.9
    assert (scored.accessibility, scored.responsiveness, scored.quality) == (100.0, 0.0, None)


def test_a_menu_transfer_that_ends_on_a_voicemail_fails_agent_and_transfer() -> None:
    result = judged(contact("phone", ivr_call(hold_s=25.0, transfer_outcome="voicemail")))
    assert verdicts(result, PHONE_OBJECTIVE) == (P, P, F, P, F, P, NA)
    # passed 3 + 2 + 1 + 1 = 7 of 11.
    assert channel_score(result.contact).score == 63.6


def test_a_menu_without_the_requested_service_fails_the_menu_criterion() -> None:
    measurement = call(rings=1, answered_by="ivr", greeting=MENU)  # nothing keyed in
    result = judged(contact("phone", measurement))
    # No transfer was requested: its criteria do not apply; the menu led nowhere: failed.
    assert verdicts(result, PHONE_OBJECTIVE) == (P, P, F, F, NA, NA, NA)
    # 3 + 2 passed of 3 + 2 + 2 + 1.
    assert channel_score(result.contact).score == 62.5


@pytest.mark.parametrize("outcome", ["busy", "no-answer"])
def test_an_unanswered_call_fails_only_the_answer(outcome: str) -> None:
    measurement = call(outcome, rings=6 if outcome == "no-answer" else None)
    result = judged(contact("phone", measurement))
    assert verdicts(result, PHONE_OBJECTIVE) == (F, NA, NA, NA, NA, NA, NA)
    gated = next(r for r in result.results if r.criterion_id == "phone.answered_within_5_rings")
    assert gated.note.startswith("applies only when answered")
    assert gated.value is None  # 6 rings heard, but nobody answered: not judged
    scored = channel_score(result.contact)
    assert (scored.score, scored.accessibility, scored.responsiveness) == (0.0, 0.0, None)


def test_an_off_hours_call_is_judged_on_the_message_only() -> None:
    with_hours = judged(
        contact(
            "phone", call(rings=3, answered_by="machine", greeting=CLOSED), slot_kind="off_hours"
        )
    )
    assert verdicts(with_hours, PHONE_OBJECTIVE) == (NA, NA, NA, NA, NA, NA, P)
    assert channel_score(with_hours.contact).score == 100.0

    without = judged(
        contact(
            "phone", call(rings=3, answered_by="machine", greeting=VOICEMAIL), slot_kind="off_hours"
        )
    )
    assert verdicts(without, PHONE_OBJECTIVE) == (NA, NA, NA, NA, NA, NA, F)
    scored = channel_score(without.contact)
    assert (scored.score, scored.accessibility) == (0.0, 0.0)

    # Nobody and nothing answered outside opening hours: no message either.
    silent = judged(contact("phone", call("no-answer", rings=6), slot_kind="off_hours"))
    assert verdicts(silent, PHONE_OBJECTIVE) == (NA, NA, NA, NA, NA, NA, F)
    # A person answered outside opening hours: no message to judge, and no score.
    person = judged(contact("phone", call(), slot_kind="off_hours"))
    assert verdicts(person, PHONE_OBJECTIVE) == (NA,) * 7
    assert channel_score(person.contact).score is None

    # The same voicemail within opening hours: judged as a call, not on its message.
    in_hours = judged(contact("phone", call(rings=3, answered_by="machine", greeting=CLOSED)))
    assert verdicts(in_hours, PHONE_OBJECTIVE) == (P, P, F, NA, NA, NA, NA)


def test_reviewed_criteria_wait_for_an_auditor_then_count() -> None:
    unreviewed = judged(contact("phone", call()))
    assert verdicts(unreviewed, PHONE_REVIEWED) == (TR, TR, TR, TR)
    assert channel_score(unreviewed.contact).score == 100.0  # 7 of 7: reviews not yet counted

    reviews = {"phone.courtesy": "passed", "phone.answer_quality": "failed"}
    reviewed = judged(contact("phone", call(), reviews=reviews))
    assert verdicts(reviewed, PHONE_REVIEWED) == (TR, P, TR, F)
    scored = channel_score(reviewed.contact)
    # 7 + courtesy 1 passed of 7 + 1 + answer quality 2: 8/10; quality 1 of 1 + 2.
    assert (scored.score, scored.accessibility, scored.quality) == (80.0, 100.0, 33.3)
    assert scored.criteria["phone.personalisation"].to_review == 1
    assert scored.criteria["phone.answer_quality"].failed == 1

    # An auditor may also rule a criterion out.
    ruled_out = judged(contact("phone", call(), reviews={"phone.personalisation": NA}))
    assert verdicts(ruled_out, PHONE_REVIEWED) == (TR, TR, NA, TR)


def test_reviewed_criteria_need_an_exchange() -> None:
    reviews = {"phone.courtesy": "passed", "email.courtesy": "passed"}
    nothing = [
        contact("phone", call("busy", rings=None), reviews=reviews),
        contact(
            "phone", call(rings=3, answered_by="machine", greeting=CLOSED), slot_kind="off_hours"
        ),
        contact("email", email(SENT, [reply(3, "auto_ack", SENT + timedelta(minutes=1))])),
        contact("email", email(SENT, [reply(9, "bounce", SENT + timedelta(minutes=5))])),
    ]
    for item in nothing:
        result = judged(item)
        assert {
            r.verdict
            for r in result.results
            if r.criterion_id.split(".")[1]
            in ("greeting_names_structure", "courtesy", "personalisation", "answer_quality")
        } == {NA}, item.measurement
    # A voicemail within opening hours was answered: its greeting can be reviewed.
    voicemail = judged(contact("phone", call(answered_by="machine", greeting=VOICEMAIL)))
    assert verdicts(voicemail, PHONE_REVIEWED) == (TR, TR, TR, TR)
    # A person's reply can be reviewed, and the review counts in quality.
    answered = contact(
        "email",
        email(SENT, [reply(5, "human_reply", SENT + timedelta(hours=3))]),
        reviews={"email.courtesy": "passed", "email.answer_quality": "failed"},
    )
    scored = channel_score(answered)
    # 2 + 1 + 2 objective, courtesy 1 passed, answer quality 2 failed: 6/8.
    assert (scored.score, scored.quality, scored.responsiveness) == (75.0, 33.3, 100.0)


def test_weights_decide_the_score() -> None:
    slow = contact("phone", ivr_call(hold_s=70.1))
    heavy_hold = GRID.model_copy(
        update={
            "criteria": [
                c.model_copy(update={"weight": 4.0}) if c.id == "phone.hold_under_60s" else c
                for c in GRID.criteria
            ]
        }
    )
    assert channel_score(slow).score == 90.9  # 10 of 11
    assert channel_score(slow, grid=heavy_hold).score == 71.4  # 10 of 14
    seven_rings = contact("phone", call(rings=7))
    assert channel_score(seven_rings).score == 71.4  # 5 of 7: rings weigh 2


def test_a_structure_score_weighs_every_contact() -> None:
    answered = contact("phone", call(rings=2))
    busy = contact("phone", call("busy", rings=None))
    scored = channel_score(answered, busy)
    # 7 of 7 and 0 of 3: 7/10.
    assert scored.score == 70.0
    assert scored.contacts == 2
    tally = scored.criteria["phone.answered"]
    assert (tally.passed, tally.failed, tally.rate) == (1, 1, 0.5)
    assert scored.criteria["phone.answered_within_5_rings"].not_applicable == 1
    assert scored.figures["answer_rate"] == 50.0
    assert scored.figures["median_rings"] == 2.0


def test_only_calls_that_reached_the_line_and_emails_that_left_are_contacts() -> None:
    assert reached_structure(contact("phone", call("busy", rings=None)))
    assert reached_structure(contact("phone", call("no-answer", rings=6)))
    # A number not in service is the structure's failure; a network failure is ours.
    dead = contact("phone", call("failed", rings=None, sip_response_code=404))
    assert reached_structure(dead)
    assert verdicts(judged(dead), PHONE_OBJECTIVE) == (F, NA, NA, NA, NA, NA, NA)
    assert not reached_structure(
        contact("phone", call("failed", rings=None, sip_response_code=503))
    )
    assert not reached_structure(
        contact("phone", call("canceled", rings=None, sip_response_code=487))
    )
    assert reached_structure(contact("email", email(at("2026-11-09T10:00"))))
    assert not reached_structure(contact("email", {"outcome": "not_sent"}))
    assert not reached_structure(contact("email", {"outcome": "uncertain"}))


# -- Email ----------------------------------------------------------------------------------

SENT = at("2026-11-09T10:00")  # Monday; Wednesday 11 November is a public holiday


@pytest.mark.parametrize(
    ("replied_at", "working_days", "acknowledged", "verdict", "score"),
    [
        # Tue 10 (1), Wed 11 holiday, Thu 12 (2), Fri 13 (3), Mon 16 (4), Tue 17 (5). The
        # reply is also the first acknowledgement, 8 calendar days late: 2 + 2 of 2 + 1 + 2.
        ("2026-11-17T14:00", 5, F, P, 80.0),
        # Wed 18 (6): 2 of 5.
        ("2026-11-18T09:30", 6, F, F, 40.0),
        # Monday 16 (4), within the week: 5 of 5.
        ("2026-11-16T09:30", 4, P, P, 100.0),
        ("2026-11-09T16:00", 0, P, P, 100.0),
    ],
)
def test_a_reply_within_5_working_days_over_a_public_holiday(
    replied_at: str, working_days: int, acknowledged: Verdict, verdict: Verdict, score: float
) -> None:
    measurement = email(SENT, [reply(7, "human_reply", at(replied_at))])
    result = judged(contact("email", measurement))
    assert verdicts(result, EMAIL_OBJECTIVE) == (P, acknowledged, verdict)
    reply_result = next(r for r in result.results if r.criterion_id.endswith("working_days"))
    assert (reply_result.value, reply_result.replies) == (working_days, (7,))
    assert channel_score(result.contact).score == score


def test_working_days_follow_the_structure_s_regional_holidays() -> None:
    # Sent Monday 22 March 2027; Good Friday 26 March is a holiday in Moselle only, Easter
    # Monday 29 March everywhere. A reply on Wednesday 31 March is 5 working days in Moselle,
    # 6 elsewhere.
    sent, replied = at("2027-03-22T10:00"), at("2027-03-31T10:00")
    moselle = email(sent, [reply(1, "human_reply", replied)], subdivision="57")
    paris = email(sent, [reply(2, "human_reply", replied)])
    assert verdicts(judged(contact("email", moselle, subdivision="57")), EMAIL_OBJECTIVE) == (
        P,
        F,  # 9 calendar days for the first acknowledgement (the reply itself)
        P,
    )
    assert verdicts(judged(contact("email", paris)), EMAIL_OBJECTIVE) == (P, F, F)


def test_a_missing_reply_is_pending_until_the_deadline_then_failed() -> None:
    silent = contact("email", email(SENT))
    # Mon 16 Nov 09:00: 4 working days, 6.96 days: both deadlines still ahead.
    early = channel_score(silent, as_of=at("2026-11-16T09:00"))
    assert verdicts(early.contact_scores[0], EMAIL_OBJECTIVE) == (P, PE, PE)
    assert (early.score, early.pending) == (100.0, 1)  # only "not bounced" decided: 2 of 2
    # Tue 17 Nov 16:00: 8.25 days without acknowledgement (> 7: failed), 5 working days
    # without reply (still allowed).
    later = channel_score(silent, as_of=at("2026-11-17T16:00"))
    assert verdicts(later.contact_scores[0], EMAIL_OBJECTIVE) == (P, F, PE)
    assert (later.score, later.pending) == (66.7, 1)  # 2 of 2 + 1
    ack = next(r for r in later.contact_scores[0].results if "acknowledged" in r.criterion_id)
    assert ack.value == 8.25
    # Wed 18 Nov 08:00: the 6th working day began: failed.
    late = channel_score(silent, as_of=at("2026-11-18T08:00"))
    assert verdicts(late.contact_scores[0], EMAIL_OBJECTIVE) == (P, F, F)
    assert (late.score, late.pending) == (40.0, 0)  # 2 of 5
    reply_result = late.contact_scores[0].results[2]
    assert reply_result.value == 6.0  # already that late
    assert "no reply yet after 6 working days" in reply_result.note


def test_an_acknowledgement_alone_does_not_answer() -> None:
    acked = contact("email", email(SENT, [reply(3, "auto_ack", SENT + timedelta(minutes=1))]))
    assert verdicts(judged(acked, at("2026-11-12T12:00")), EMAIL_OBJECTIVE) == (P, P, PE)
    final = channel_score(acked, as_of=at("2026-11-30T12:00"))
    assert verdicts(final.contact_scores[0], EMAIL_OBJECTIVE) == (P, P, F)
    assert (final.score, final.accessibility, final.responsiveness) == (60.0, 100.0, 33.3)
    # An absence notice is neither an acknowledgement nor a reply.
    away = contact("email", email(SENT, [reply(4, "out_of_office", SENT + timedelta(seconds=5))]))
    assert verdicts(judged(away, at("2026-11-30T12:00")), EMAIL_OBJECTIVE) == (P, F, F)


def test_a_week_for_the_acknowledgement_ends_to_the_minute() -> None:
    week = SENT + timedelta(days=7)
    (on_time,) = verdicts(
        judged(contact("email", email(SENT, [reply(1, "auto_ack", week)]))),
        ("email.acknowledged_within_7_days",),
    )
    (five_minutes_late,) = verdicts(
        judged(contact("email", email(SENT, [reply(2, "auto_ack", week + timedelta(minutes=5))]))),
        ("email.acknowledged_within_7_days",),
    )
    assert (on_time, five_minutes_late) == (P, F)
    # Still nothing five minutes after the week: already late.
    silent = judged(contact("email", email(SENT)), week + timedelta(minutes=5))
    assert verdicts(silent, ("email.acknowledged_within_7_days",)) == (F,)


def test_a_bounce_fails_the_address_and_every_reply_criterion() -> None:
    bounced = contact("email", email(SENT, [reply(9, "bounce", SENT + timedelta(minutes=5))]))
    # Judged the same day: no waiting for a reply that cannot come.
    result = judged(bounced, SENT + timedelta(hours=1))
    assert verdicts(result, EMAIL_OBJECTIVE) == (F, F, F)
    assert all(r.replies == (9,) for r in result.results if r.criterion_id in EMAIL_OBJECTIVE)
    assert channel_score(bounced, as_of=SENT + timedelta(hours=1)).score == 0.0

    # Refused at RCPT TO: what prober stores for a synchronous bounce.
    refused = contact(
        "email",
        {"outcome": "bounced", "error": "550 5.1.1 User unknown", "code": 550, "synchronous": True},
    )
    assert verdicts(judged(refused, SENT), EMAIL_OBJECTIVE) == (F, F, F)


def test_a_delay_notice_is_not_a_bounce() -> None:
    notice = reply(9, "bounce", SENT + timedelta(hours=4))
    notice.details = {"bounce": {"recipients": ["a@x.fr"], "status": "4.4.7", "action": "delayed"}}
    measured = email(SENT, [notice])
    assert measured["outcome"] == "sent" and measured["bounce"] is None
    assert measured["delivery_delayed"]["reply_id"] == 9
    # The email may still arrive: nothing failed, the replies are awaited.
    result = judged(contact("email", measured), SENT + timedelta(days=1))
    assert verdicts(result, EMAIL_OBJECTIVE) == (P, PE, PE)
    # A final failure after the delay is a bounce.
    final = reply(10, "bounce", SENT + timedelta(days=2))
    final.details = {"bounce": {"recipients": ["a@x.fr"], "status": "5.4.7", "action": "failed"}}
    assert email(SENT, [notice, final])["bounce"]["reply_id"] == 10


# -- Comparisons ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    structure_id: int
    channel: str
    score: float | None
    accessibility: float | None = None
    responsiveness: float | None = None
    quality: float | None = None
    sample_size: int = 5


def info(structure_id: int, *, kind: str = "mairie", population: int = 5_000) -> StructureInfo:
    return StructureInfo(
        id=structure_id,
        official_id=f"s{structure_id}",
        name=f"Mairie {structure_id}",
        kind=kind,
        departement="77",
        region="Île-de-France" if structure_id < 5 else "Grand Est",
        population=population,
        peer_group="",
        timezone="Europe/Paris",
        holiday_subdivision=None,
    )


def test_percentile_ranks_count_ties_half() -> None:
    scores = [100.0, 100.0, 50.0, 0.0]
    assert percentile_rank(100.0, scores) == 75.0  # 2 below, 2 equal: (2 + 1) / 4
    assert percentile_rank(50.0, scores) == 37.5  # (1 + 0.5) / 4
    assert percentile_rank(0.0, scores) == 12.5

    structures = {i: info(i) for i in range(1, 6)}
    structures[6] = info(6, kind="cpam")
    structures[7] = info(7, kind="cpam")
    rows = [
        Row(1, "phone", 100.0),
        Row(2, "phone", 100.0),
        Row(3, "phone", 50.0),
        Row(4, "phone", 0.0),
        Row(5, "phone", None),  # nothing decided: no rank
        Row(6, "phone", 80.0),
        Row(7, "phone", 60.0),
    ]
    result = compare(rows, structures, ScoringSettings(min_peers=3))
    standing = {sid: result.standings[(sid, "phone")] for sid in structures}
    assert result.group_of[1] == "mairie · 2k-10k"
    assert [(standing[i].percentile, standing[i].rank) for i in (1, 2, 3, 4, 5)] == [
        (75.0, 1),
        (75.0, 1),
        (37.5, 3),
        (12.5, 4),
        (None, None),
    ]
    assert standing[1].peers == 4
    # Two CPAM only: fewer than min_peers, ranked but without percentile.
    assert [(standing[i].percentile, standing[i].rank) for i in (6, 7)] == [(None, 1), (None, 2)]
    mairies = result.peer_stats(1, "phone")["score"]
    assert (mairies.structures, mairies.mean, mairies.median) == (4, 62.5, 75.0)
    national = result.national["phone"]["score"]
    assert (national.structures, national.mean) == (6, 65.0)  # 390 / 6
    assert result.regions[("phone", "Grand Est")]["score"].structures == 2  # 6 and 7


def test_a_change_between_waves_is_conclusive_only_with_enough_contacts() -> None:
    before = [Row(1, "phone", 60.0, sample_size=5), Row(2, "phone", 80.0, sample_size=4)]
    before += [Row(3, "email", 40.0), Row(4, "phone", None)]
    after = [Row(1, "phone", 75.5, sample_size=6), Row(2, "phone", 90.0, sample_size=8)]
    after += [Row(4, "phone", 50.0), Row(5, "phone", 100.0)]
    changes = {(c.structure_id, c.channel): c for c in compare_waves(before, after, min_sample=5)}
    assert (changes[(1, "phone")].delta, changes[(1, "phone")].conclusive) == (15.5, True)
    assert (changes[(2, "phone")].delta, changes[(2, "phone")].conclusive) == (10.0, False)
    assert (changes[(3, "email")].after, changes[(3, "email")].conclusive) == (None, False)
    assert (changes[(4, "phone")].delta, changes[(4, "phone")].conclusive) == (None, False)
    assert (changes[(5, "phone")].contacts_before, changes[(5, "phone")].conclusive) == (0, False)
