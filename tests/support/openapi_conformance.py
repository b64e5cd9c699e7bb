"""Checks one HTTP exchange against Twilio's OpenAPI description of the 2010-04-01 API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jsonschema
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

SPEC_PATH = Path(__file__).parent.parent / "data" / "twilio_api_v2010.json"
# The spec's only server; requests sent to the sandbox are checked as if sent there.
SPEC_SERVER = "https://api.twilio.com"
PRICING_SPEC_PATH = Path(__file__).parent.parent / "data" / "twilio_pricing_v2.json"
PRICING_SERVER = "https://pricing.twilio.com"
# The pricing description types prices as numbers marked `x-twilio.overrideType: string`:
# Twilio sends strings ("0.013"), as its examples show; checked as decimal strings.
DECIMAL_STRING: dict[str, Any] = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}

# The spec describes no error responses; this is Twilio's legacy error body.
ERROR_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer"},
    },
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
}


def load_spec() -> OpenAPI:
    return OpenAPI.from_dict(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


def load_pricing_spec() -> OpenAPI:
    """Twilio's Pricing v2 description, prices read as the decimal strings Twilio sends."""
    spec = json.loads(PRICING_SPEC_PATH.read_text(encoding="utf-8"))
    _prices_as_strings(spec)
    return OpenAPI.from_dict(spec)


def _prices_as_strings(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if (
                isinstance(value, dict)
                and value.get("type") == "number"
                and value.get("x-twilio", {}).get("overrideType") == "string"
            ):
                node[key] = DECIMAL_STRING
            else:
                _prices_as_strings(value)
    elif isinstance(node, list):
        for item in node:
            _prices_as_strings(item)


def as_sent_to_twilio(
    request: requests.PreparedRequest, server_url: str = SPEC_SERVER
) -> RequestsOpenAPIRequest:
    moved = request.copy()
    assert moved.url is not None
    parts = urlsplit(moved.url)
    server = urlsplit(server_url)
    moved.url = urlunsplit((server.scheme, server.netloc, parts.path, parts.query, ""))
    return RequestsOpenAPIRequest(moved)


def check_exchange(
    spec: OpenAPI, response: requests.Response, *, server: str = SPEC_SERVER
) -> None:
    """Raise unless the request matches its operation and the response its schema.

    Success responses are checked against the operation's response schema; error responses,
    absent from the spec, against Twilio's error body.
    """
    request = as_sent_to_twilio(response.request, server)
    spec.validate_request(request)
    if response.status_code < 400:
        spec.validate_response(request, RequestsOpenAPIResponse(response))
        return
    body = response.json()
    jsonschema.validate(body, ERROR_BODY_SCHEMA)
    assert body["status"] == response.status_code
