"""Twilio's JSON shapes for the 2010-04-01 API: resources, list pages and error bodies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import phonenumbers

from sandbox.calls import Call, Recording
from sandbox.errors import ApiError

API_VERSION = "2010-04-01"

# Keys of a call's `subresource_uris`, in the order Twilio lists them.
CALL_SUBRESOURCES = {
    "notifications": "Notifications",
    "recordings": "Recordings",
    "payments": "Payments",
    "events": "Events",
    "siprec": "Siprec",
    "streams": "Streams",
    "transcriptions": "Transcriptions",
    "user_defined_message_subscriptions": "UserDefinedMessageSubscriptions",
    "user_defined_messages": "UserDefinedMessages",
}

Json = dict[str, Any]


def rfc2822(instant: datetime | None) -> str | None:
    """Twilio's date format, in UTC: `Tue, 31 Aug 2010 20:36:28 +0000`."""
    if instant is None:
        return None
    return format_datetime(instant.astimezone(UTC).replace(microsecond=0))


def seconds(value: int | None) -> str | None:
    """Durations travel as strings of seconds, or null while unknown."""
    return None if value is None else str(value)


def account_path(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}"


def formatted_number(number: str) -> str:
    """The human-readable form Twilio shows beside a number (`to_formatted`)."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def call_resource(call: Call, account_sid: str) -> Json:
    base = f"{account_path(account_sid)}/Calls/{call.sid}"
    return {
        "account_sid": account_sid,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "direction": "outbound-api" if call.parent_call_sid is None else "outbound-dial",
        "duration": seconds(call.duration_s),
        "end_time": rfc2822(call.end_time),
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": formatted_number(call.from_),
        "group_sid": None,
        "parent_call_sid": call.parent_call_sid,
        "phone_number_sid": None,
        "price": None if call.shown_price is None else str(call.shown_price),
        "price_unit": "USD",
        "queue_time": str(call.queue_time_ms),
        "sid": call.sid,
        "start_time": rfc2822(call.start_time),
        "status": str(call.status),
        "subresource_uris": {key: f"{base}/{name}.json" for key, name in CALL_SUBRESOURCES.items()},
        "to": call.to,
        "to_formatted": formatted_number(call.to),
        "trunk_sid": None,
        "uri": f"{base}.json",
    }


def recording_resource(recording: Recording, account_sid: str, public_base_url: str) -> Json:
    base = f"{account_path(account_sid)}/Recordings/{recording.sid}"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "channels": recording.channels,
        "conference_sid": None,
        "date_created": rfc2822(recording.date_created),
        "date_updated": rfc2822(recording.date_updated),
        "duration": seconds(recording.duration_s),
        "encryption_details": None,
        "error_code": None,
        # Twilio's media_url has no extension: `.wav` (default) or `.mp3` is appended to fetch.
        "media_url": f"{public_base_url.rstrip('/')}{base}",
        "price": None,
        "price_unit": "USD",
        "sid": recording.sid,
        "source": recording.source,
        "start_time": rfc2822(recording.start_time),
        "status": recording.status,
        "subresource_uris": {
            "add_on_results": f"{base}/AddOnResults.json",
            "transcriptions": f"{base}/Transcriptions.json",
        },
        "uri": f"{base}.json",
    }


def page_envelope(
    *,
    key: str,
    items: Sequence[Json],
    list_path: str,
    filters: Sequence[tuple[str, str]],
    page: int,
    page_size: int,
    next_page_token: str | None,
    previous_page_token: str | None,
) -> Json:
    """A list page with Twilio's paging keys; `*_page_uri` are relative and carry the filters."""

    def page_uri(number: int, token: str | None = None) -> str:
        query = [*filters, ("PageSize", str(page_size)), ("Page", str(number))]
        if token is not None:
            query.append(("PageToken", token))
        return f"{list_path}?{urlencode(query)}"

    start = page * page_size
    return {
        key: list(items),
        "end": start + max(len(items), 1) - 1,
        "first_page_uri": page_uri(0),
        "next_page_uri": None if next_page_token is None else page_uri(page + 1, next_page_token),
        "page": page,
        "page_size": page_size,
        "previous_page_uri": (
            None if previous_page_token is None else page_uri(page - 1, previous_page_token)
        ),
        "start": start,
        "uri": page_uri(page),
    }


def error_body(error: ApiError) -> Json:
    """Twilio's legacy error body, which twilio-python turns into `TwilioRestException`."""
    return {
        "code": error.code,
        "message": error.message,
        "more_info": error.more_info,
        "status": error.status,
    }
