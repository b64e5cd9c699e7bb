"""The simulated structures' mailboxes: how each address answers a probe, from a TOML file.

A mail world file holds a `[mailboxes]` table: one quoted address per structure mailbox, and
`[mailboxes.default]` for every unlisted address. The phone world's keys (`ring_cadence_s`,
`default`, `numbers`) are ignored, so one file may some day describe both; today the phone
loader (`sandbox.world`) refuses `mailboxes`, so the mail world is a file of its own.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sandbox.world import WorldFileError


class MailBehaviourKind(StrEnum):
    """What a structure's mailbox does with a probe."""

    REPLY = "reply"  # a person replies after `delay_s`, threading headers set
    ACK_THEN_REPLY = "ack_then_reply"  # automatic acknowledgement, then a person
    OUT_OF_OFFICE = "out_of_office"  # an automatic absence notice, nothing else
    BOUNCE = "bounce"  # accepted, then a DSN: the mailbox does not exist
    REPLY_FROM_OTHER_ADDRESS = "reply_from_other_address"  # a colleague, no threading headers
    STRIP_THREADING = "strip_threading"  # no In-Reply-To/References, subject without tag
    NONE = "none"  # never answers
    REJECT = "reject"  # refused at RCPT with 550 5.1.1 (a synchronous bounce)


HUMAN_REPLIES = frozenset(
    {
        MailBehaviourKind.REPLY,
        MailBehaviourKind.ACK_THEN_REPLY,
        MailBehaviourKind.REPLY_FROM_OTHER_ADDRESS,
        MailBehaviourKind.STRIP_THREADING,
    }
)
# Simulated seconds from the probe's arrival to the message the behaviour sends.
DEFAULT_HUMAN_DELAY_S = 3600
DEFAULT_AUTOMATIC_DELAY_S = 5
DEFAULT_ACK_DELAY_S = 60


@dataclass(frozen=True, slots=True)
class MailboxBehaviour:
    """How one address answers. `delay_s` is None for behaviours that send nothing."""

    behaviour: MailBehaviourKind = MailBehaviourKind.REPLY
    delay_s: int | None = DEFAULT_HUMAN_DELAY_S
    ack_delay_s: int | None = None
    reply_from: str | None = None  # reply_from_other_address; None: etat-civil@<same domain>
    name: str | None = None  # display name in From
    body: str | None = None  # the person's reply text; None: a generic French answer

    def to_json(self) -> dict[str, Any]:
        return {
            "behaviour": str(self.behaviour),
            "delay_s": self.delay_s,
            "ack_delay_s": self.ack_delay_s,
            "reply_from": self.reply_from,
            "name": self.name,
        }


DEFAULT_MAILBOX = MailboxBehaviour()


@dataclass(frozen=True, slots=True)
class MailWorld:
    """Every listed address's behaviour (keys in lower case); unlisted ones get `default`."""

    mailboxes: Mapping[str, MailboxBehaviour] = field(default_factory=dict)
    default: MailboxBehaviour = DEFAULT_MAILBOX

    def behaviour_of(self, address: str) -> MailboxBehaviour:
        return self.mailboxes.get(address.lower(), self.default)


def load_mail_world(path: Path) -> MailWorld:
    """Read and validate a mail world file; `WorldFileError` names the offending key."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise WorldFileError(source, "(file)", f"cannot be read ({error.strerror})") from None
    return parse_mail_world(text, source=source)


_TOP_KEYS = frozenset({"mailboxes"})
_PHONE_KEYS = frozenset({"ring_cadence_s", "default", "numbers"})  # sandbox.world's
_KEYS = frozenset({"behaviour", "delay_s", "ack_delay_s", "reply_from", "name", "body"})


def parse_mail_world(text: str, *, source: str = "<mail world>") -> MailWorld:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WorldFileError(source, "(syntax)", f"not valid TOML ({error})") from None
    mail_keys = {name: value for name, value in document.items() if name not in _PHONE_KEYS}
    _reject_unknown(source, "", mail_keys, _TOP_KEYS)
    table = _table(source, "mailboxes", document.get("mailboxes", {}))
    default = DEFAULT_MAILBOX
    mailboxes: dict[str, MailboxBehaviour] = {}
    for address, entry in table.items():
        if address == "default":
            default = _mailbox(source, "mailboxes.default", _table(source, address, entry))
            continue
        key = f'mailboxes."{address}"'
        if not _is_address(address):
            raise WorldFileError(source, key, "is not a mail address such as accueil@mairie.fr")
        if address.lower() in mailboxes:
            raise WorldFileError(source, key, "is listed twice (addresses ignore case)")
        mailboxes[address.lower()] = _mailbox(source, key, _table(source, key, entry))
    return MailWorld(mailboxes=mailboxes, default=default)


def _mailbox(source: str, key: str, table: dict[str, Any]) -> MailboxBehaviour:
    _reject_unknown(source, f"{key}.", table, _KEYS)
    raw = table.get("behaviour", str(MailBehaviourKind.REPLY))
    try:
        kind = MailBehaviourKind(raw)
    except ValueError:
        expected = ", ".join(f'"{k}"' for k in MailBehaviourKind)
        raise WorldFileError(
            source, f"{key}.behaviour", f"{raw!r} is not one of {expected}"
        ) from None
    sends = kind not in (MailBehaviourKind.NONE, MailBehaviourKind.REJECT)
    allowed = {"behaviour", "name"}
    if sends:
        allowed.add("delay_s")
    if kind in HUMAN_REPLIES:
        allowed.add("body")
    if kind is MailBehaviourKind.ACK_THEN_REPLY:
        allowed.add("ack_delay_s")
    if kind is MailBehaviourKind.REPLY_FROM_OTHER_ADDRESS:
        allowed.add("reply_from")
    for name in table:
        if name not in allowed:
            raise WorldFileError(source, f"{key}.{name}", f'means nothing with behaviour "{kind}"')
    default_delay_s = DEFAULT_HUMAN_DELAY_S if kind in HUMAN_REPLIES else DEFAULT_AUTOMATIC_DELAY_S
    delay_s = _seconds(source, f"{key}.delay_s", table, default_delay_s) if sends else None
    ack_delay_s = None
    if kind is MailBehaviourKind.ACK_THEN_REPLY:
        ack_delay_s = _seconds(source, f"{key}.ack_delay_s", table, DEFAULT_ACK_DELAY_S)
        if delay_s is not None and ack_delay_s > delay_s:
            raise WorldFileError(
                source, f"{key}.ack_delay_s", f"comes after the reply (delay_s = {delay_s})"
            )
    reply_from = table.get("reply_from")
    if reply_from is not None and (not isinstance(reply_from, str) or not _is_address(reply_from)):
        raise WorldFileError(source, f"{key}.reply_from", "must be a mail address")
    return MailboxBehaviour(
        behaviour=kind,
        delay_s=delay_s,
        ack_delay_s=ack_delay_s,
        reply_from=reply_from.lower() if reply_from else None,
        name=_text(source, f"{key}.name", table.get("name")),
        body=_text(source, f"{key}.body", table.get("body")),
    )


def _is_address(text: str) -> bool:
    local, at, domain = text.partition("@")
    return (
        bool(local and at and domain)
        and "@" not in domain
        and "." in domain
        and not any(c.isspace() or c in '<>",;:' for c in text)
    )


def _text(source: str, key: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise WorldFileError(source, key, "must be a string")
    return value


def _seconds(source: str, key: str, table: dict[str, Any], default: int) -> int:
    value = table.get(key.rpartition(".")[2], default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise WorldFileError(source, key, "must be a whole number of simulated seconds, at least 0")
    return value


def _table(source: str, key: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WorldFileError(source, key, "must be a table")
    return value


def _reject_unknown(source: str, prefix: str, table: dict[str, Any], known: frozenset[str]) -> None:
    for name in table:
        if name not in known:
            expected = ", ".join(sorted(known))
            raise WorldFileError(source, prefix + name, f"unknown key (expected one of {expected})")
