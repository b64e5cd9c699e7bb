"""Signed webhook requests, as Twilio sends them: form parameters and `X-Twilio-Signature`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

logger = logging.getLogger(__name__)

Params = Sequence[tuple[str, str]]


def twilio_signature(auth_token: str, url: str, params: Params) -> str:
    """Twilio's request signature: base64 HMAC-SHA1 of the URL then each name+value, sorted.

    Source: twilio-python `request_validator.py` (names sorted, then each name's values sorted).
    """
    message = url
    names = sorted({name for name, _ in params})
    for name in names:
        for value in sorted({value for key, value in params if key == name}):
            message += name + value
    digest = hmac.new(auth_token.encode(), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def without_fragment(url: str) -> str:
    # Connection overrides ride in the fragment (`#rc=…`); it is never sent over HTTP.
    return urlunsplit(urlsplit(url)._replace(fragment=""))


class Webhooks:
    """Sends the signed requests of one account: status callbacks, TwiML fetches, actions."""

    def __init__(self, client: httpx.AsyncClient, auth_token: str) -> None:
        self._client = client
        self._auth_token = auth_token

    async def send(self, url: str, method: str, params: Params) -> httpx.Response | None:
        """POST the form (or GET with the query) signed; None when the receiver is unreachable."""
        url = without_fragment(url)
        headers = {"User-Agent": "TwilioProxy/1.1", "Accept": "*/*"}
        try:
            if method.upper() == "GET":
                separator = "&" if urlsplit(url).query else "?"
                full_url = url + separator + urlencode(list(params))
                headers["X-Twilio-Signature"] = twilio_signature(self._auth_token, full_url, [])
                response = await self._client.get(full_url, headers=headers)
            else:
                headers["X-Twilio-Signature"] = twilio_signature(self._auth_token, url, params)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                response = await self._client.post(
                    url, content=urlencode(list(params)), headers=headers
                )
        except httpx.HTTPError as error:
            logger.warning("webhook %s %s failed: %s", method, url, error)
            return None
        if response.is_error:
            logger.warning("webhook %s %s answered %s", method, url, response.status_code)
        return response
