"""Where a reply says which probe it answers, most trustworthy first.

1. ``In-Reply-To``, then ``References``: our own Message-ID, exactly;
2. for a bounce, the Message-ID of the returned original (inside the delivery report);
3. the token of a plus-address among the recipients (``To``, ``Cc``, ``Delivered-To``,
   ``X-Original-To``): survives a reply sent from another address of the structure, or a client
   that drops threading headers;
4. the reference in the subject ("réf. K7Q2-M6XA-B3CD-EF45", dashes optional).

Each key says how it was found; the application keeps the first that names a known attempt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from channels.email.compose import TOKEN_LENGTH, token_in_address, token_of_reference

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_SUBJECT_TOKEN = re.compile(
    r"r[ée]f(?:[ée]rence)?\.?\s*:?\s*((?:[a-z2-7]{4}-?){" + str(TOKEN_LENGTH // 4 - 1) + r"}"
    r"[a-z2-7]{4})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class MatchKey:
    """One clue: ``method`` is how it was found; ``message_id`` or ``token`` what it names."""

    method: str
    message_id: str | None = None
    token: str | None = None


def message_ids(header: str | None) -> list[str]:
    """The ``<...>`` ids of an In-Reply-To or References header, in order."""
    return _MESSAGE_ID.findall(header or "")


def token_of_message_id(message_id: str) -> str | None:
    """The token our Message-IDs start with (``<token.random@domain>``)."""
    local = message_id.strip("<>").partition("@")[0]
    token = local.partition(".")[0].lower()
    return token if len(token) == TOKEN_LENGTH else None


def match_keys(
    *,
    in_reply_to: str | None,
    references: str | None,
    recipients: Iterable[str],
    subject: str | None,
    returned_message_ids: Iterable[str] = (),
) -> list[MatchKey]:
    """Every clue of a reply, in the order of trust."""
    keys: list[MatchKey] = []
    keys += [MatchKey("in_reply_to", message_id=m) for m in message_ids(in_reply_to)]
    # References lists the thread oldest first: our probe is usually the first entry.
    keys += [MatchKey("references", message_id=m) for m in message_ids(references)]
    keys += [MatchKey("returned_message", message_id=m) for m in returned_message_ids]
    for address in recipients:
        token = token_in_address(address)
        if token is not None:
            keys.append(MatchKey("address_token", token=token))
    if subject and (found := _SUBJECT_TOKEN.search(subject)):
        keys.append(MatchKey("subject_token", token=token_of_reference(found.group(1))))
    return keys


def sender_is_known(sender: str, known_addresses: Iterable[str]) -> bool:
    """Whether ``sender`` is one of ``known_addresses`` or writes from one of their domains (or a
    subdomain: ``accueil@mail.mairie.fr`` for ``mairie.fr``). Case is ignored."""
    domain = sender.strip().rpartition("@")[2].lower().rstrip(".")
    if not domain:
        return False
    for address in known_addresses:
        known = address.strip().rpartition("@")[2].lower().rstrip(".")
        if known and (domain == known or domain.endswith("." + known)):
            return True
    return False
