"""The metrics a criterion's rule tests, read from one contact's stored measurement and events.

Each function returns a ``Measured``: the value, what its absence means, and the events and
replies that decided it. Absences are decided here, once, for every grid:

- a call placed outside opening hours is judged only on the off-hours message;
- a criterion about what follows the answer (rings, menu, transfer, hold) does not apply to an
  unanswered call; a call that was not transferred has no hold time;
- a missing email reply is *pending* until the rule's deadline has passed, then failed (the
  value shown is how late it already is); a bounced email fails every reply criterion;
- what a website publishes is judged only on a site that was reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from config.criteria import Metric
from prober.results.scoring.model import Contact, EventRef, Measured
from scheduler.latency import working_days_between

SECONDS_PER_DAY = 86_400.0

PHONE_REACHED = frozenset({"answered", "busy", "no-answer"})
"""Call outcomes that reached the structure's line; others are our side's failures."""
EMAIL_REACHED = frozenset({"sent", "acknowledged", "replied", "bounced", "out_of_office"})
"""Email outcomes of a message that surely left (not ``composed``, ``uncertain``, ``not_sent``)."""
TRANSFER_SUCCEEDED = frozenset({"human", "not_transferred"})
WEB_NOT_CHECKED = frozenset({"robots_disallowed", "check_failed", "no_website", "interrupted"})
"""Site check outcomes where prober chose not to look: no contact with the structure's site."""
NUMBER_NOT_IN_SERVICE = frozenset({404, 410, 484, 604})
"""SIP answers saying the dialled number does not exist: the structure published a dead number."""

_RING_KINDS = ("call.initiated", "call.ringing", "call.answered")
_FINAL_KINDS = ("call.completed", "call.busy", "call.no-answer", "call.failed", "call.canceled")


def reached_structure(contact: Contact) -> bool:
    """Whether the attempt reached the structure (a call rang, an email left)."""
    if contact.channel == "phone":
        return contact.outcome in PHONE_REACHED or _dead_number(contact)
    if contact.channel in ("email", "letter"):
        return contact.outcome in EMAIL_REACHED
    if contact.channel == "web":
        return contact.outcome is not None and contact.outcome not in WEB_NOT_CHECKED
    return False


def has_exchange(contact: Contact) -> bool:
    """Whether there is something for an auditor to judge: a call answered within opening
    hours, or a written reply from a person."""
    if contact.channel == "phone":
        return contact.outcome == "answered" and contact.slot_kind != "off_hours"
    return bool(contact.measurement.get("first_human_reply"))


def _events(contact: Contact, *kinds: str, phase: str | None = None) -> tuple[EventRef, ...]:
    return tuple(
        event
        for event in contact.events
        if event.kind in kinds and (phase is None or event.phase == phase)
    )


def _dead_number(contact: Contact) -> bool:
    return (
        contact.outcome == "failed"
        and contact.measurement.get("sip_response_code") in NUMBER_NOT_IN_SERVICE
    )


def _off_hours(contact: Contact) -> bool:
    return contact.slot_kind == "off_hours"


_OFF_HOURS = Measured(None, note="called outside opening hours: judged on the message only")


def _answered(contact: Contact) -> Measured:
    if _off_hours(contact):
        return _OFF_HOURS
    outcome = contact.outcome
    note = f"call {outcome}"
    if _dead_number(contact):
        note = f"number not in service (SIP {contact.measurement.get('sip_response_code')})"
    return Measured(
        outcome == "answered",
        note=note,
        evidence=_events(contact, *_RING_KINDS, *_FINAL_KINDS),
    )


def _reached_agent(m: Mapping[str, Any]) -> bool | None:
    """A person took the call: at once, or after the menu put us through."""
    who = m.get("answered_by")
    if who == "human":
        return True
    if who == "ivr":
        return m.get("transfer_outcome") in TRANSFER_SUCCEEDED
    if who == "machine":
        return False
    return None


def _answered_by_human(contact: Contact) -> Measured:
    if _off_hours(contact):
        return _OFF_HOURS
    m = contact.measurement
    value = _reached_agent(m)
    who = m.get("answered_by")
    note = f"answered by {who}" if who else "not answered"
    if who == "ivr":
        note += f", then transfer {m.get('transfer_outcome') or 'not reached'}"
    if value is None and who == "unknown":
        note = "could not tell who answered"
    return Measured(
        value,
        note=note,
        evidence=_events(contact, "call.amd", "call.heard", "call.answered"),
    )


def _number(m: Mapping[str, Any], key: str) -> float | None:
    value = m.get(key)
    return None if value is None else float(value)


def _rings(contact: Contact) -> Measured:
    if _off_hours(contact):
        return _OFF_HOURS
    rings = _number(contact.measurement, "rings")
    note = "" if rings is None else f"{rings:g} rings ({contact.measurement.get('ring_s')} s)"
    return Measured(rings, note=note, evidence=_events(contact, "call.ringing", "call.answered"))


def _ring_seconds(contact: Contact) -> Measured:
    if _off_hours(contact):
        return _OFF_HOURS
    seconds = _number(contact.measurement, "ring_s")
    return Measured(
        seconds,
        note="" if seconds is None else f"{seconds:g} s of ringing",
        evidence=_events(contact, "call.ringing", "call.answered"),
    )


def _menu_seconds(contact: Contact) -> Measured:
    if _off_hours(contact):
        return _OFF_HOURS
    m = contact.measurement
    seconds = _number(m, "menu_s")
    evidence = _events(contact, "call.script_started", "call.keyed")
    if seconds is not None:
        return Measured(
            seconds, note=f"key {m.get('menu_key')} after {seconds:.1f} s", evidence=evidence
        )
    if m.get("answered_by") == "ivr":
        return Measured(
            None, absent="failed", note="no menu choice led to the request", evidence=evidence
        )
    return Measured(None, note="no voice menu")


def _transfer_succeeded(contact: Contact) -> Measured:
    if _off_hours(contact):
        return _OFF_HOURS
    m = contact.measurement
    outcome = m.get("transfer_outcome")
    evidence = _events(
        contact, "call.transfer_requested", "call.heard", "call.speech_started", *_FINAL_KINDS
    )
    if outcome is None:
        return Measured(None, note="no transfer requested")
    return Measured(outcome in TRANSFER_SUCCEEDED, note=f"transfer: {outcome}", evidence=evidence)


def _hold_seconds(contact: Contact) -> Measured:
    if _off_hours(contact):
        return _OFF_HOURS
    m = contact.measurement
    seconds = _number(m, "hold_s")
    if seconds is None:
        return Measured(None, note="not put on hold")
    return Measured(
        seconds,
        note=f"{seconds:.1f} s on hold, then {m.get('transfer_outcome')}",
        evidence=_events(
            contact, "call.transfer_requested", "call.speech_started", "call.heard", *_FINAL_KINDS
        ),
    )


def _off_hours_message(contact: Contact) -> Measured:
    if not _off_hours(contact):
        return Measured(None, note="called within opening hours")
    m = contact.measurement
    who = m.get("answered_by")
    evidence = _events(contact, "call.heard", "call.answered", *_FINAL_KINDS)
    if contact.outcome != "answered":
        return Measured(False, note=f"no message: call {contact.outcome}", evidence=evidence)
    if who == "human":
        return Measured(None, note="a person answered outside opening hours", evidence=evidence)
    gives = bool(m.get("greeting_gives_opening_hours"))
    note = "the message gives the opening hours" if gives else "the message gives no opening hours"
    return Measured(gives, note=note, evidence=evidence)


def _sent_at(m: Mapping[str, Any]) -> datetime | None:
    sent = m.get("sent_at")
    return None if sent is None else datetime.fromisoformat(sent)


def _bounced(contact: Contact) -> Measured:
    m = contact.measurement
    bounce = m.get("bounce")
    replies = () if not bounce else (int(bounce["reply_id"]),)
    return Measured(
        contact.outcome == "bounced",
        note="bounced" if bounce else "delivered (no bounce received)",
        evidence=_events(contact, "email.sent"),
        replies=replies,
    )


def _reply_metric(
    figure_key: str,
    read: Callable[[Mapping[str, Any]], float],
    since: Callable[[Contact, datetime, datetime], float],
    what: str,
    unit: str,
) -> Callable[[Contact, datetime], Measured]:
    def metric(contact: Contact, as_of: datetime) -> Measured:
        m = contact.measurement
        evidence = _events(contact, "email.sent", "letter.sent")
        figure = m.get(figure_key)
        if figure and "elapsed_s" in figure:
            value = read(figure)
            return Measured(
                value,
                note=f"{what} after {round(value, 2):g} {unit}",
                evidence=evidence,
                replies=(int(figure["reply_id"]),),
            )
        if contact.outcome == "bounced":
            bounce = m.get("bounce") or {}
            replies = (int(bounce["reply_id"]),) if "reply_id" in bounce else ()
            return Measured(
                None,
                absent="failed",
                note="bounced: no reply can come",
                evidence=evidence,
                replies=replies,
            )
        sent_at = _sent_at(m)
        if sent_at is None:
            return Measured(None, note="not sent")
        waited = since(contact, sent_at, as_of)
        return Measured(
            None,
            absent="pending",
            at_least=waited,
            note=f"no {what} yet after {round(waited, 2):g} {unit}",
            evidence=evidence,
        )

    return metric


# Unrounded: a week and five minutes is late, though it shows as 7 days to two decimals.
def _calendar_days(figure: Mapping[str, Any]) -> float:
    return float(figure["elapsed_s"]) / SECONDS_PER_DAY


def _calendar_days_since(contact: Contact, sent_at: datetime, as_of: datetime) -> float:
    return max(0.0, (as_of - sent_at).total_seconds()) / SECONDS_PER_DAY


def _working_days(figure: Mapping[str, Any]) -> float:
    return float(figure["working_days"])


def _working_days_since(contact: Contact, sent_at: datetime, as_of: datetime) -> float:
    return float(
        working_days_between(
            sent_at, as_of, timezone=contact.timezone, subdivision=contact.holiday_subdivision
        )
    )


_ack_days = _reply_metric(
    "first_acknowledgement", _calendar_days, _calendar_days_since, "acknowledgement", "days"
)
_reply_working_days = _reply_metric(
    "first_human_reply", _working_days, _working_days_since, "reply", "working days"
)


def _site_evidence(contact: Contact) -> tuple[EventRef, ...]:
    return _events(contact, "site.checked")


def _site_reachable(contact: Contact) -> Measured:
    m = contact.measurement
    reachable = bool(m.get("reachable")) and m.get("outcome") == "ok"
    status = m.get("status")
    note = f"{m.get('outcome')}" + (f", HTTP {status}" if status is not None else "")
    if m.get("error"):
        note += f": {m['error']}"
    return Measured(reachable, note=note, evidence=_site_evidence(contact))


def _statement(contact: Contact) -> Measured:
    m = contact.measurement
    level, url = m.get("accessibility"), m.get("accessibility_statement_url")
    published = level is not None or url is not None
    note = f"accessibilité : {level}" if level else "no accessibility statement found"
    if url:
        note += f" ({url})"
    return Measured(published, note=note, evidence=_site_evidence(contact))


def contact_consistency(
    site_phones: Iterable[str],
    site_emails: Iterable[str],
    directory_phones: Iterable[str],
    directory_emails: Iterable[str],
) -> tuple[bool, str]:
    """Whether a site publishes a way to reach the structure that the directory lists too.

    Consistent: the site publishes a phone or an address, and for each kind the directory and
    the site both list, they share one value. Returns the verdict and why.
    """
    phones, emails = set(site_phones), {e.casefold() for e in site_emails}
    listed_phones, listed_emails = set(directory_phones), {e.casefold() for e in directory_emails}
    if not phones and not emails:
        return False, "the site publishes no phone number nor email address"
    differing = []
    if phones and listed_phones and not phones & listed_phones:
        differing.append(
            f"phone {', '.join(sorted(phones))} (directory {', '.join(sorted(listed_phones))})"
        )
    if emails and listed_emails and not emails & listed_emails:
        differing.append(
            f"email {', '.join(sorted(emails))} (directory {', '.join(sorted(listed_emails))})"
        )
    if differing:
        return False, "the site publishes another " + "; another ".join(differing)
    return True, "the site publishes the directory's contact information"


def _consistent(contact: Contact) -> Measured:
    m = contact.measurement
    directory = m.get("directory") or {}
    value, note = contact_consistency(
        m.get("phones") or (),
        m.get("emails") or (),
        directory.get("phones") or (),
        directory.get("emails") or (),
    )
    return Measured(value, note=note, evidence=_site_evidence(contact))


def _contact_form(contact: Contact) -> Measured:
    form = bool(contact.measurement.get("contact_form"))
    note = "a contact form" if form else "no contact form found"
    return Measured(form, note=note, evidence=_site_evidence(contact))


_AT_ONCE: Mapping[Metric, Callable[[Contact], Measured]] = {
    "answered": _answered,
    "answered_by_human": _answered_by_human,
    "rings_to_answer": _rings,
    "ring_seconds": _ring_seconds,
    "menu_seconds": _menu_seconds,
    "transfer_succeeded": _transfer_succeeded,
    "hold_seconds": _hold_seconds,
    "off_hours_message_gives_hours": _off_hours_message,
    "email_bounced": _bounced,
    "site_reachable": _site_reachable,
    "accessibility_statement_published": _statement,
    "contact_information_consistent": _consistent,
    "contact_form": _contact_form,
}
_OVER_TIME: Mapping[Metric, Callable[[Contact, datetime], Measured]] = {
    "email_ack_days": _ack_days,
    "email_reply_working_days": _reply_working_days,
    "letter_ack_days": _ack_days,
    "letter_reply_working_days": _reply_working_days,
}


def measure(metric: Metric, contact: Contact, as_of: datetime) -> Measured:
    """The value of ``metric`` on ``contact``, judged at ``as_of`` for replies still awaited."""
    if metric in _AT_ONCE:
        return _AT_ONCE[metric](contact)
    return _OVER_TIME[metric](contact, as_of)


def figures(contact: Contact) -> dict[str, Any]:
    """The figures a report shows for one contact."""
    m = contact.measurement
    if contact.channel == "phone":
        keys: Iterable[str] = (
            "rings",
            "ring_s",
            "answered_by",
            "menu_s",
            "menu_key",
            "transfer_outcome",
            "hold_s",
            "talk_s",
            "greeting_gives_opening_hours",
        )
        return {key: m.get(key) for key in keys}
    if contact.channel == "web":
        keys = (
            "status",
            "final_url",
            "https",
            "certificate_days_left",
            "load_s",
            "accessibility",
            "contact_form",
            "mobile_viewport",
        )
        return {key: m.get(key) for key in keys}
    data: dict[str, Any] = {"sent_at": m.get("sent_at"), "replies": m.get("replies", 0)}
    for key in ("first_acknowledgement", "first_human_reply", "bounce"):
        figure = m.get(key)
        if figure:
            data[f"{key}_elapsed_s"] = figure.get("elapsed_s")
            data[f"{key}_working_days"] = figure.get("working_days")
    return data
