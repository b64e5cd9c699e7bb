"""What a reply to a probe email is: a person's answer, an automatic one, or a bounce.

A cascade, first match wins:

1. **Reports** (RFC 6522 ``multipart/report``): a delivery-status report (RFC 3464) with a
   recipient whose ``Action`` is ``failed`` or ``delayed`` is a bounce; one whose recipients were
   all ``delivered``/``relayed``/``expanded`` is ``other_auto``, as are spam-complaint (ARF) and
   read-receipt (MDN) reports.
2. **Bounces without a report**: Exim's ``X-Failed-Recipients``; or an automatic message (null
   sender, ``Auto-Submitted``) whose subject says delivery failed ("Undeliverable", "Mail
   delivery failed", "Non remis"...); or a message from MAILER-DAEMON or postmaster whose
   subject or text, before the returned original, says so in a mail system's words or SMTP
   failure codes ("User unknown", "550 5.1.1", "n'a pas pu être remis"...).
3. **Automatic messages**: a machine marker in the headers (RFC 3834 ``Auto-Submitted`` other
   than ``no``, vendor auto-reply headers, null sender, a mail-system or no-reply sender, list
   headers), a subject that *starts* with an automatic prefix ("Réponse automatique :",
   "Automatic reply:", "Accusé de réception"...), or the opening lines saying the message is
   automatic. Weak markers (list headers, ``Precedence: bulk``, a no-reply sender) give way to
   a reply prefix in the subject: a person's answer relayed by a list or a helpdesk stays human.
   The automatic kind then comes from cues in the subject and the first lines of the *new* text
   (never the quoted original): out of office, acknowledgement, else ``other_auto``.
4. Anything else is a **human reply**.

``X-Auto-Response-Suppress`` is never a marker: it asks others not to auto-reply and is stamped
on ordinary mail too.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from channels.email.message import HeaderFields, ParsedMessage


class ReplyKind(StrEnum):
    """What a received message is, for the measurement."""

    HUMAN_REPLY = "human_reply"
    AUTO_ACK = "auto_ack"
    OUT_OF_OFFICE = "out_of_office"
    BOUNCE = "bounce"
    OTHER_AUTO = "other_auto"

    @property
    def is_automatic(self) -> bool:
        """An automatic answer that is not a bounce."""
        return self in (ReplyKind.AUTO_ACK, ReplyKind.OUT_OF_OFFICE, ReplyKind.OTHER_AUTO)


@dataclass(frozen=True, slots=True)
class BounceInfo:
    """What a bounce says about the failed delivery, as far as it says it.

    ``recipients`` are the addresses as we wrote them (a DSN's ``Original-Recipient``, else its
    ``Final-Recipient``, else addresses named in the bounce's text); ``status`` is the RFC 3463
    code (``5.1.1``); ``action`` is ``failed`` or ``delayed`` (a delay is not final: the mail
    system is still trying).
    """

    recipients: tuple[str, ...]
    status: str | None
    action: str | None
    diagnostic: str | None

    @property
    def permanent(self) -> bool | None:
        """True for a permanent failure, False for a delay or temporary one, None if unknown."""
        if self.action == "delayed" or (self.status or "").startswith("4."):
            return False
        if self.action == "failed" and (self.status or "5.").startswith("5."):
            return True
        return None


@dataclass(frozen=True, slots=True)
class Classification:
    """The kind of a message and the rule that decided it, for auditors."""

    kind: ReplyKind
    reason: str
    bounce: BounceInfo | None = None


def classify(message: ParsedMessage) -> Classification:
    """Class a received message; ``reason`` names the rule that fired."""
    return (
        _report(message)
        or _bounce_without_report(message)
        or _automatic(message)
        or Classification(ReplyKind.HUMAN_REPLY, _human_reason(message))
    )


# ---------------------------------------------------------------- text helpers


@functools.cache
def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFD", char)[:1].lower()
    return decomposed if len(decomposed) == 1 else char


_FOLD_SPECIAL = {"’": "'", "\u00a0": " ", "\u202f": " "}


def _fold(text: str) -> str:
    """Lower case without accents, typographic apostrophes and spaces made plain; same length
    as ``text``, so positions found in the folded text hold in the original.
    """
    return "".join(_FOLD_SPECIAL.get(char) or _fold_char(char) for char in text)


def _pattern(*alternatives: str) -> re.Pattern[str]:
    """Alternatives matched on folded text (write them without accents, in lower case)."""
    return re.compile("|".join(f"(?:{alternative})" for alternative in alternatives))


def _search(pattern: re.Pattern[str], text: str) -> str | None:
    """The original words that ``pattern`` matches in folded ``text``."""
    found = pattern.search(_fold(text))
    return " ".join(text[found.start() : found.end()].split()) if found else None


# Lines that open the quoted original in a reply (Outlook, Gmail, Thunderbird, Zimbra, Notes).
_QUOTE_OPENERS = re.compile(
    r"^[ \t]*(?:"
    r"-{2,}[ \t]*(?:original message|message d'origine|mail original|message original|"
    r"forwarded message|message transfere|ursprungliche nachricht|mensaje original)[ \t]*-{2,}"
    r"|_{10,}[ \t]*$"
    r"|(?:le|on|am|el|il)\b[^\n]{0,200}\n?[^\n]{0,120}\b(?:a\s+ecrit|wrote|schrieb|escribio|"
    r"ha scritto)[ \t]*:"
    r"|(?:de|from|von)[ \t]*:[^\n]*\n[ \t]*(?:envoye|sent|date|gesendet|a|to)[ \t]*:"
    r"|begin forwarded message"
    r")",
    re.MULTILINE,
)
NEW_TEXT_LINES = 15
NEW_TEXT_SCAN_CHARS = 20_000


def new_text(text: str) -> str:
    """The opening of what the sender wrote: before the quoted original, without "> " lines,
    at most ``NEW_TEXT_LINES`` non-blank lines.
    """
    text = text[:NEW_TEXT_SCAN_CHARS]
    opener = _QUOTE_OPENERS.search(_fold(text))
    if opener is not None:
        text = text[: opener.start()]
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(">")
    ]
    return "\n".join(lines[:NEW_TEXT_LINES])


_REPLY_PREFIX = re.compile(r"^\s*(?:re|ref|aw|sv|antw|odp|r|tr|fw|fwd|wg)\s*(?:\[\d+\])?\s*:")


def _starts_as_reply(subject: str) -> bool:
    """The subject starts with a reply or forward prefix (Re:, RE :, Réf :, TR:, Fwd:, AW:...)."""
    return _REPLY_PREFIX.match(_fold(subject)) is not None


# ---------------------------------------------------------------- 1. reports


_FAILED_ACTIONS = ("failed", "delayed")
_STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_FAILURE_STATUS_CODE = re.compile(r"\b([45])\.(\d{1,3})\.(\d{1,3})\b")


def _report(message: ParsedMessage) -> Classification | None:
    report_type = message.report_type
    if report_type == "feedback-report":
        return Classification(
            ReplyKind.OTHER_AUTO, "multipart/report; report-type=feedback-report (ARF complaint)"
        )
    if report_type == "disposition-notification":
        return Classification(
            ReplyKind.OTHER_AUTO,
            "multipart/report; report-type=disposition-notification (read receipt)",
        )
    recipients = [block for block in message.delivery_status if _is_recipient_block(block)]
    if not recipients:
        return None
    where = f"multipart/report; report-type={report_type}" if report_type else "delivery-status"
    failing = [block for block in recipients if _block_action(block) in _FAILED_ACTIONS]
    if not failing:
        actions = ", ".join(dict.fromkeys(_block_action(block) or "?" for block in recipients))
        return Classification(ReplyKind.OTHER_AUTO, f"{where}, no failure (Action: {actions})")
    action = "failed" if any(_block_action(b) == "failed" for b in failing) else "delayed"
    first = next(block for block in failing if _block_action(block) == action)
    bounce = BounceInfo(
        recipients=tuple(
            dict.fromkeys(
                address
                for block in failing
                if (address := _recipient(_address_field(block))) is not None
            )
        ),
        status=_status_code(first.get("Status") or ""),
        action=action,
        diagnostic=_without_type(first.get("Diagnostic-Code")),
    )
    return Classification(ReplyKind.BOUNCE, f"{where}, Action: {action}", bounce)


def _is_recipient_block(block: HeaderFields) -> bool:
    return "Final-Recipient" in block or "Action" in block


def _block_action(block: HeaderFields) -> str | None:
    """The block's Action; a block without one is read from its Status class."""
    action = (block.get("Action") or "").strip().lower().split(" ")[0]
    if action:
        return action
    status = _status_code(block.get("Status") or "")
    if status is None:
        return None
    return {"5": "failed", "4": "delayed"}.get(status[0], "delivered")


def _status_code(text: str, pattern: re.Pattern[str] = _STATUS_CODE) -> str | None:
    found = pattern.search(text)
    return ".".join(found.groups()) if found else None


def _without_type(value: str | None) -> str | None:
    """``smtp; 550 ...`` as ``550 ...`` (the address or diagnostic type dropped)."""
    if not value:
        return None
    kind, semicolon, rest = value.partition(";")
    return " ".join((rest if semicolon and " " not in kind.strip() else value).split()) or None


def _address_field(block: HeaderFields) -> str:
    """The address we wrote to (``Original-Recipient``), else the one that failed."""
    return block.get("Original-Recipient") or block.get("Final-Recipient") or ""


def _recipient(value: str) -> str | None:
    address = (_without_type(value) or "").strip("<> ")
    return address or None


# ---------------------------------------------------------------- 2. bounces without a report


_BOUNCE_SUBJECT = _pattern(
    r"undeliver(?:able|ed)",
    r"delivery status notification(?!\s*\((?:success|relay)\))",
    r"delivery (?:has )?fail",
    r"delivery failure",
    r"failure notice",
    r"mail (?:delivery )?fail",
    r"returned mail",
    r"returned to sender",
    r"could not be delivered",
    r"delivery notification",
    r"mail system error",
    r"non remis",
    r"non distribu",
    r"non delivre",
    r"echec de (?:la )?(?:remise|distribution|livraison)",
    r"impossible de (?:remettre|distribuer)",
    r"notification d'etat de (?:la )?remise",
    r"rapport de non-remise",
    r"non recapitabile",
    r"unzustellbar",
    r"onbestelbaar",
    r"no se puede entregar",
    r"\bdelayed\b",
    r"still being retried",
)
# A mail system's own words for a failed delivery, and SMTP reply and status codes of failure.
_BOUNCE_TEXT = _pattern(
    r"could ?n[o']t be delivered",
    r"was not delivered",
    r"undeliverable",
    r"delivery (?:has |to the following recipients? )?failed",
    r"permanent (?:fatal )?error",
    r"failed recipient",
    r"following address(?:es|\(es\))? failed",
    r"(?:user|recipient|address) (?:unknown|not found|rejected)",
    r"unknown (?:user|recipient)",
    r"no such (?:user|recipient|mailbox)",
    r"mailbox unavailable",
    r"requested action not taken",
    r"\b5[0-5]\d[ -](?:[45]\.\d{1,3}\.\d{1,3}|requested|mailbox|user|recipient)",
    r"\b4[25]\d[ -]4\.\d{1,3}\.\d{1,3}\b",
    r"\b5\.[1-7]\.\d{1,3}\b",
    r"resolver\.adr\.",
    r"n'a pas pu etre (?:remis|distribue|delivre|livre)",
    r"ne (?:peut|pouvait) pas etre (?:remis|distribue)",
    r"echec de (?:la )?remise",
    r"(?:adresse|destinataire) (?:inconnue?|introuvable|invalide|inexistante?)",
    r"erreur permanente",
    r"non remis",
)
_DELAY_CUE = _pattern(
    r"\bdelayed\b", r"still being retried", r"will (?:continue to )?(?:be )?retr", r"\bretard"
)
_MAIL_SYSTEM_SENDER = re.compile(
    r"mailer[-_.]?daemon|post[-_.]?master|mail delivery (?:sub)?system", re.IGNORECASE
)
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+\.[a-z]{2,}", re.IGNORECASE)
_BOUNCE_TEXT_CHARS = 6000


def _bounce_without_report(message: ParsedMessage) -> Classification | None:
    failed_header = message.headers.get("X-Failed-Recipients")
    if failed_header:
        return Classification(
            ReplyKind.BOUNCE,
            f"X-Failed-Recipients: {failed_header}",
            _bounce_info(message, _ADDRESS.findall(failed_header)),
        )
    sender = _mail_system_sender(message)
    if sender is None:
        return None
    cue, where = _search(_BOUNCE_SUBJECT, message.subject), "subject"
    if cue is None and _is_mail_system(message):
        # Only a mail system's own text is read for failure words: an auto-reply's text
        # ("cette adresse n'existe plus") is not a delivery report.
        cue, where = _search(_BOUNCE_TEXT, _failure_section(message.text)), "text"
    if cue is None or (_starts_as_reply(message.subject) and not _is_mail_system(message)):
        return None
    return Classification(
        ReplyKind.BOUNCE, f"{sender}, {where} says '{cue}'", _bounce_info(message, [])
    )


def _is_mail_system(message: ParsedMessage) -> bool:
    names = f"{message.from_name} {message.from_address or ''} {message.return_path or ''}"
    return _MAIL_SYSTEM_SENDER.search(names) is not None


def _mail_system_sender(message: ParsedMessage) -> str | None:
    """How the message shows it was sent by a mail system rather than a person, if it does."""
    if _is_mail_system(message):
        return f"from {message.from_address or message.from_name or message.return_path}"
    if message.return_path == "":
        return "Return-Path: <> (null sender)"
    auto_submitted = message.headers.get("Auto-Submitted")
    if auto_submitted and not auto_submitted.lower().startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    return None


def _bounce_info(message: ParsedMessage, recipients: list[str]) -> BounceInfo:
    """Recipients and status read from a bounce's text, the returned original excluded."""
    section = _failure_section(message.text)
    own = {address.lower() for address in (message.from_address, *message.to) if address}
    if not recipients:
        recipients = [
            address for address in _ADDRESS.findall(section) if address.lower() not in own
        ]
    delayed = _search(_DELAY_CUE, f"{message.subject}\n{section}") is not None
    return BounceInfo(
        recipients=tuple(dict.fromkeys(address.strip(".") for address in recipients)),
        status=_status_code(section, _FAILURE_STATUS_CODE),
        action="delayed" if delayed else "failed",
        diagnostic=None,
    )


_ORIGINAL_STARTS = re.compile(
    r"original message|copy of the message|message headers? follow|returned message|"
    r"below this line|message d'origine|^(?:received|return-path):",
    re.IGNORECASE | re.MULTILINE,
)


def _failure_section(text: str) -> str:
    """The opening of a bounce's text, before the returned original."""
    text = text[:_BOUNCE_TEXT_CHARS]
    found = _ORIGINAL_STARTS.search(text)
    return text[: found.start()] if found else text


# ---------------------------------------------------------------- 3. automatic messages


_NEGATIVE = {"no", "false", "0", "none"}
_NO_REPLY_SENDER = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|ne[-_.]?pas[-_.]?repondre|nepasrepondre|"
    r"noreponse|no[-_.]?response|ne[-_.]?repondez[-_.]?pas)[^@]*@",
    re.IGNORECASE,
)


def _header_marker(headers: HeaderFields, message: ParsedMessage) -> tuple[str, bool] | None:
    """The first machine marker in the headers, and whether it is strong."""
    auto_submitted = headers.get("Auto-Submitted")
    if auto_submitted and auto_submitted.strip().lower() not in _NEGATIVE:
        return f"Auto-Submitted: {auto_submitted}", True
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"):
        value = headers.get(name)
        if value is not None and value.strip().lower() not in _NEGATIVE:
            return f"{name}: {value}".strip(), True
    for name in ("Precedence", "X-Precedence"):
        value = (headers.get(name) or "").strip().lower()
        if value in ("auto_reply", "auto-reply"):
            return f"{name}: {value}", True
    vendor = (
        ("X-Autogenerated", None),
        ("X-POST-MessageClass", "autoresponder"),
        ("X-Apple-Action", "vacation"),
        ("X-FC-MachineGenerated", "true"),
        ("X-MS-Exchange-Generated-Message-Source", None),
        ("Delivered-To", "autoresponder"),
    )
    for name, needle in vendor:
        value = headers.get(name)
        if value and (needle is None or needle in value.lower()):
            return f"{name}: {value}", True
    if message.return_path == "":
        return "Return-Path: <> (null sender)", True
    if _is_mail_system(message):
        return f"from {message.from_address or message.from_name or message.return_path}", True
    for name in ("Precedence", "X-Precedence"):
        value = (headers.get(name) or "").strip().lower()
        if value in ("bulk", "junk", "list"):
            return f"{name}: {value}", False
    for name in ("List-Id", "List-Unsubscribe"):
        if name in headers:
            return f"{name} header", False
    if message.from_address and _NO_REPLY_SENDER.match(message.from_address):
        return f"no-reply sender {message.from_address}", False
    return None


# Subjects that automatic systems write at the start (the original subject follows).
_AUTO_SUBJECT_START = _pattern(
    r"^\s*auto(?:matic)?\s*[:\-]",
    r"^\s*(?:automatic|auto)[ -]?(?:reply|response|respons|answer)",
    r"^\s*autoreply",
    r"^\s*out of (?:the )?office",
    r"^\s*reponse automatique",
    r"^\s*reponse auto\b",
    r"^\s*message automatique",
    r"^\s*(?:message|notification|avis) d'absence",
    r"^\s*absen(?:ce|te?)(?:\(e\))?s? (?:du|hors du) bureau",
    r"^\s*absen(?:ce|te?)(?:\(e\))?\s*:",
    r"^\s*accuse (?:de reception|d'enregistrement|reception)",
    r"^\s*confirmation de (?:reception|depot)",
    r"^\s*votre (?:demande|message|courriel|saisine|requete|e-?mail) a (?:bien )?ete "
    r"(?:recue?|enregistree?|transmise?|prise? en compte)",
    r"^\s*ne pas repondre",
    r"^\s*(?:autosvar|automatisk svar|automatisch antwoord|abwesenheitsnotiz|"
    r"respuesta automatica|risposta automatica|fuori sede|franvaro)",
    r"\bis out of (?:the )?office\b",
    r"^\s*(?:your|we have received your) (?:e-?mail )?(?:message|e-?mail|request|enquiry)"
    r"(?: has been| was)? received",
)
# Opening lines that say the message is automatic (checked in the new text only).
# A message describing itself: "ceci est un message automatique", "this is an automated reply".
_AUTO_TEXT = _pattern(
    r"(?:ceci est|il s'agit d'|this is) (?:un |une |an |a )?"
    r"(?:message|reponse|courriel|mail|e-?mail|notification|reply|response|accuse de reception) "
    r"(?:genere(?:e)? )?(?:automatique|automated|automatic|auto-generated)",
    r"(?:ce|cet|this) (?:message|courriel|mail|e-?mail|accuse de reception) "
    r"(?:vous )?(?:a ete |est |has been |was |is )?(?:genere|envoye|generated|sent) "
    r"(?:automatiquement|automatically)",
)
_OUT_OF_OFFICE = _pattern(
    r"out of (?:the )?office",
    r"\boof\b",
    r"away from (?:the |my )?(?:office|desk)",
    r"\bon (?:annual |parental |sick )?(?:leave|vacation|holiday)",
    r"i am (?:currently )?(?:away|out)",
    r"i'm (?:currently )?(?:away|out)",
    r"\baway until\b",
    r"(?:will be |i'm |i am )back (?:in the office )?on",
    r"(?:limited|intermittent|no) access to (?:my )?e-?mail",
    r"i (?:will be|am) travell?ing",
    r"(?:je suis|je serai|suis|serai|actuellement|est|sera) (?:actuellement )?absente?s?\b",
    r"absente?(?:\(e\))? (?:du|jusqu|a partir|pour|cette)",
    r"(?:message|notification|avis) d'absence",
    r"absence du bureau",
    r"hors du bureau",
    r"(?:en|pour) conges?\b",
    r"conges? (?:annuels?|payes?|maternite|paternite)",
    r"en vacances",
    r"(?:je serai |serai )?de retour (?:le|a partir|au bureau|lundi|mardi|mercredi|jeudi|vendredi)",
    r"(?:je suis |suis )(?:actuellement )?(?:en deplacement|en formation|en arret|indisponible)",
    r"acces (?:limite|restreint) a (?:ma|mes) (?:messagerie|courriels|mails)",
    r"abwesenheit",
)
_ACKNOWLEDGEMENT = _pattern(
    r"accuse (?:de )?reception",
    r"accusons (?:bonne )?reception",
    r"accuse d'enregistrement",
    r"(?:nous avons|j'ai|avons) bien recu votre",
    r"a (?:bien )?ete (?:recue?|enregistree?|prise? en compte|transmise? (?:au|a|aux))",
    r"confirmation de (?:reception|depot)",
    r"(?:numero|n°|no) (?:d'enregistrement|de dossier|de demande|de ticket|de suivi)",
    r"\bticket\b",
    r"\[(?:glpi|ticket|request|demande|incident|case)\s*#",
    r"(?:your|we have received your) (?:e-?mail )?(?:message|e-?mail|request|enquiry|inquiry)"
    r"(?: has been| was)? received",
    r"thank you for (?:your )?(?:e-?mail|message|contacting|enquiry)",
    r"(?:nous vous repondrons|il (?:y )?sera repondu|sera traitee?) dans les "
    r"(?:meilleurs|plus brefs) delais",
)
_GENERIC_AUTO_REPLY = _pattern(
    r"reponse automatique", r"automatic reply", r"auto[ -]?reply", r"autosvar", r"\bauto\s*:"
)


def _automatic(message: ParsedMessage) -> Classification | None:
    opening = new_text(message.text)
    marker = _header_marker(message.headers, message)
    subject_start = _search(_AUTO_SUBJECT_START, message.subject)
    text_says = _search(_AUTO_TEXT, opening)
    replying = _starts_as_reply(message.subject)
    if marker is not None and (marker[1] or not replying or subject_start or text_says):
        why = marker[0]
    elif subject_start is not None and not replying:
        why = f"subject starts '{subject_start}'"
    elif text_says is not None:
        why = f"text says '{text_says}'"
    else:
        return None
    kind, cue = _automatic_kind(message.subject, opening)
    return Classification(kind, f"{why}; {cue}" if cue else why)


def _automatic_kind(subject: str, opening: str) -> tuple[ReplyKind, str | None]:
    """Out of office, acknowledgement or other, from the subject and the opening lines."""
    for pattern, kind in (
        (_OUT_OF_OFFICE, ReplyKind.OUT_OF_OFFICE),
        (_ACKNOWLEDGEMENT, ReplyKind.AUTO_ACK),
        (_GENERIC_AUTO_REPLY, ReplyKind.OUT_OF_OFFICE),
    ):
        for where, text in (("subject", subject), ("text", opening)):
            cue = _search(pattern, text)
            if cue is not None:
                return kind, f"{where} says '{cue}'"
    return ReplyKind.OTHER_AUTO, None


# ---------------------------------------------------------------- 4. human replies


def _human_reason(message: ParsedMessage) -> str:
    if not _starts_as_reply(message.subject):
        return "no bounce or automatic marker"
    marker = _header_marker(message.headers, message)
    if marker is not None:  # necessarily weak: a strong one would have made it automatic
        return f"{marker[0]} overridden: the subject is a reply"
    return "no bounce or automatic marker; subject is a reply"
