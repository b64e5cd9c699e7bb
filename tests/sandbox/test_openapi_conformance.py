"""The conformance check itself: it must reject what Twilio's OpenAPI description does not allow.

Every test using the `twilio` fixture has its traffic checked on teardown (see conftest); these
tests show that check fails on a wrong request or response.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.validation.request.exceptions import InvalidRequestBody
from openapi_core.validation.response.exceptions import InvalidData
from twilio.rest import Client

from tests.sandbox.conftest import RecordedExchanges
from tests.support.openapi_conformance import check_exchange

TO = "+33142765000"
FROM = "+33970000001"


def tampered(response: requests.Response, **changes: Any) -> requests.Response:
    body = response.json()
    body.update(changes)
    response._content = json.dumps(body).encode()
    return response


@pytest.fixture
def created(twilio: Client, exchanges: RecordedExchanges) -> requests.Response:
    twilio.calls.create(to=TO, from_=FROM, twiml="<Response><Hangup/></Response>")
    response = exchanges.responses.pop()
    assert response.status_code == 201
    return response


def test_a_real_create_conforms(twilio_spec: OpenAPI, created: requests.Response) -> None:
    check_exchange(twilio_spec, created)


@pytest.mark.parametrize(
    "changes",
    [
        {"duration": 15},  # Twilio sends durations as strings
        {"status": "initiated"},  # a callback status, not a resource status
        {"subresource_uris": ["not", "a", "map"]},
    ],
)
def test_a_response_off_the_schema_is_refused(
    twilio_spec: OpenAPI, created: requests.Response, changes: dict[str, Any]
) -> None:
    with pytest.raises(InvalidData, match="not valid for schema"):
        check_exchange(twilio_spec, tampered(created, **changes))


def test_a_request_without_from_is_refused(
    twilio_spec: OpenAPI, created: requests.Response
) -> None:
    request = created.request
    assert isinstance(request.body, str)
    request.body = "&".join(
        part for part in request.body.split("&") if not part.startswith("From=")
    )

    with pytest.raises(InvalidRequestBody) as refused:
        check_exchange(twilio_spec, created)
    assert "'From' is a required property" in str(refused.value.__cause__)


def test_an_error_body_with_extra_keys_is_refused(
    twilio_spec: OpenAPI, created: requests.Response
) -> None:
    created.status_code = 400
    created._content = json.dumps(
        {
            "code": 21211,
            "message": "x",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
            "detail": "not Twilio's legacy shape",
        }
    ).encode()

    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        check_exchange(twilio_spec, created)
