"""A raw email read into plain values, whatever state it arrives in.

Replies come from every mail system there is: broken MIME, charsets that are wrong or unknown,
missing headers, 8-bit bytes where 7-bit is required, attachments of tens of megabytes.
``parse_message`` never raises on such input: what it could not read is listed in ``defects``.
The structure is parsed by the standard library (``policy.default``, then ``compat32`` when that
fails); header values are decoded here from their raw text, so one bad header cannot sink the
others.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import itertools
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_KEPT_TEXT_BYTES = 64 * 1024
MAX_HEADERS = 1000
MAX_DEPTH = 50
MAX_PARTS = 1000
MAX_HTML_CHARS = 1_000_000

# Charset labels seen in the wild that Python does not know, or knows under a narrower meaning.
# ISO-8859-1 is read as windows-1252, its superset, as browsers do (WHATWG Encoding); 8-bit bytes
# declared ASCII are tried as UTF-8 first (see ``decode_bytes``).
_CHARSET_ALIASES = {
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-sjis": "shift_jis",
    "windows-874": "cp874",
}
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(=\?)")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
_EIGHT_BIT_RUN = re.compile(rb"[\x80-\xff]+")
_BOUNDARY_LINE = re.compile(rb"--([!-~]{1,200}?)(--)?")
_PART_HEADER = re.compile(rb"[A-Za-z][A-Za-z0-9-]*:")


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """Header fields in their order, looked up by name without regard to case."""

    items: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or None."""
        wanted = name.lower()
        return next((value for key, value in self.items if key.lower() == wanted), None)

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of ``name``, in order."""
        wanted = name.lower()
        return tuple(value for key, value in self.items if key.lower() == wanted)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


@dataclass(frozen=True, slots=True)
class Attachment:
    """What is known of an attachment: its contents are never kept."""

    filename: str | None
    content_type: str
    size: int  # bytes once decoded; estimated from the encoded length above the size cap


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A received message as plain values.

    Message ids are bare (``abc@host``, no angle brackets). ``return_path`` is None when the
    header is absent and ``""`` for the null sender ``<>`` that bounces and auto-replies use.
    ``text`` is the plain-text body, or a text rendering of the HTML when there is no plain
    part; ``html`` is the raw HTML exactly as received: unsanitised, never to be rendered as is.
    ``delivery_status`` holds the field blocks of any ``message/delivery-status`` part (RFC 3464:
    the per-message block, then one per recipient). ``size`` is the raw message's in bytes.
    """

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    from_address: str | None
    from_name: str
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    return_path: str | None
    headers: HeaderFields
    content_type: str
    report_type: str | None
    delivery_status: tuple[HeaderFields, ...]
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    size: int
    truncated: bool = False


def parse_message(
    raw: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    kept_text_bytes: int = DEFAULT_KEPT_TEXT_BYTES,
) -> ParsedMessage:
    """Read ``raw``; never raises. Above ``max_size`` bytes, only the headers, the first
    ``kept_text_bytes`` of text and HTML, and attachments' metadata (sizes estimated) are kept.
    """
    defects: list[str] = []
    over_cap = len(raw) > max_size
    if over_cap:
        defects.append(
            f"message of {len(raw)} bytes is over the {max_size}-byte cap: text cut to "
            f"{kept_text_bytes} bytes, attachment sizes estimated"
        )
    text_budget = kept_text_bytes if over_cap else None
    raw_read = _cut_after_parts(raw, defects)
    for message_policy in (policy.default, policy.compat32):
        try:
            parsed = BytesParser(policy=message_policy).parsebytes(raw_read)
            return _read(parsed, raw, list(defects), text_budget)
        except Exception as exc:  # the stdlib parser has edge cases that raise: try the next
            defects.append(f"parser with policy {_policy_name(message_policy)} failed: {exc!r}")
    return _read_without_mime(raw, defects, kept_text_bytes)


def _cut_after_parts(raw: bytes, defects: list[str]) -> bytes:
    """``raw`` cut before its ``2 * MAX_PARTS + 1``-th line starting with ``--`` (a boundary):
    the standard library's parser takes a quarter of a millisecond per part, and nobody writes
    thousands of parts to a town hall.
    """
    position = 0
    for _ in range(2 * MAX_PARTS + 1):
        position = raw.find(b"\n--", position)
        if position < 0:
            return raw
        position += 3
    defects.append(f"more than {2 * MAX_PARTS} boundary lines: the message read up to there")
    return raw[: position - 2]


def _policy_name(message_policy: object) -> str:
    return "compat32" if message_policy is policy.compat32 else "default"


# ---------------------------------------------------------------- the whole message


@dataclass
class _Body:
    """What the walk over MIME parts collects."""

    text_budget: int | None
    defects: list[str]
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    delivery_status: list[HeaderFields] = field(default_factory=list)
    report_type: str | None = None
    parts: int = 0


def _read(msg: Message, raw: bytes, defects: list[str], text_budget: int | None) -> ParsedMessage:
    raw_headers = _raw_header_fields(msg, defects)
    body = _Body(text_budget=text_budget, defects=defects)
    _walk(msg, body, depth=0)
    _collect_defects(msg, defects)
    if body.report_type == "delivery-status" and not body.delivery_status:
        body.delivery_status = _dsn_blocks_in_text("\n".join(body.texts))
        if body.delivery_status:
            defects.append("delivery-status fields found in the text, not in their own part")
    html = "\n".join(body.htmls) if body.htmls else None
    text = "\n".join(body.texts)
    if not body.texts and html is not None:
        if len(html) > MAX_HTML_CHARS:
            defects.append(f"HTML of {len(html)} characters: only the first {MAX_HTML_CHARS} read")
        text = html_to_text(html)
    return _assemble(
        raw_headers,
        raw,
        defects,
        content_type=_content_type(msg),
        report_type=body.report_type,
        delivery_status=tuple(body.delivery_status),
        text=text,
        html=html,
        attachments=tuple(body.attachments),
        truncated=text_budget is not None,
    )


def _assemble(
    raw_headers: HeaderFields,
    raw: bytes,
    defects: list[str],
    *,
    content_type: str,
    report_type: str | None,
    delivery_status: tuple[HeaderFields, ...],
    text: str,
    html: str | None,
    attachments: tuple[Attachment, ...],
    truncated: bool,
) -> ParsedMessage:
    headers = HeaderFields(
        tuple((name, decode_header_text(value)) for name, value in raw_headers.items)
    )
    from_name, from_address = _first_address(raw_headers.get("From"))
    if headers.get("From") is None:
        defects.append("no From header")
    if headers.get("Message-ID") is None:
        defects.append("no Message-ID header")
    return ParsedMessage(
        message_id=_first_id(headers.get("Message-ID")),
        in_reply_to=_first_id(headers.get("In-Reply-To")),
        references=tuple(_ANGLE_ID.findall(" ".join(headers.get_all("References")))),
        subject=headers.get("Subject") or "",
        from_address=from_address,
        from_name=from_name,
        reply_to=_addresses(raw_headers.get_all("Reply-To")),
        to=_addresses(raw_headers.get_all("To")),
        cc=_addresses(raw_headers.get_all("Cc")),
        date=_date(headers.get("Date"), defects),
        return_path=_return_path(headers.get("Return-Path")),
        headers=headers,
        content_type=content_type,
        report_type=report_type,
        delivery_status=delivery_status,
        text=text,
        html=html,
        attachments=attachments,
        defects=tuple(dict.fromkeys(defects)),
        size=len(raw),
        truncated=truncated,
    )


def _read_without_mime(raw: bytes, defects: list[str], kept_text_bytes: int) -> ParsedMessage:
    """Last resort when no parser copes: header lines up to the first blank line, then text."""
    head, _, rest = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    items: list[tuple[str, str]] = []
    for line in _FOLD.sub("", head.decode("ascii", "surrogateescape")).split("\n"):
        name, colon, value = line.partition(":")
        if colon and name and " " not in name:
            items.append((name.strip(), value.strip()))
    body = rest[:kept_text_bytes]
    return _assemble(
        HeaderFields(tuple(items[:MAX_HEADERS])),
        raw,
        defects,
        content_type="text/plain",
        report_type=None,
        delivery_status=(),
        text=decode_bytes(body, None, defects, where="body"),
        html=None,
        attachments=(),
        truncated=len(rest) > kept_text_bytes,
    )


def _collect_defects(msg: Message, defects: list[str]) -> None:
    for part in itertools.islice(msg.walk(), MAX_PARTS):
        for defect in getattr(part, "defects", ()):
            detail = str(defect)
            name = type(defect).__name__
            defects.append(f"{name}: {detail}" if detail else name)


# ---------------------------------------------------------------- MIME parts


def _walk(part: Message, body: _Body, depth: int) -> None:
    if depth > MAX_DEPTH:
        body.defects.append(f"MIME parts nested deeper than {MAX_DEPTH} levels were skipped")
        return
    body.parts += 1
    if body.parts > MAX_PARTS:
        if body.parts == MAX_PARTS + 1:
            body.defects.append(f"more than {MAX_PARTS} MIME parts: the rest were skipped")
        return
    content_type = _content_type(part)
    if content_type in ("message/delivery-status", "message/global-delivery-status"):
        body.delivery_status.extend(_status_blocks(part, body.defects))
        return
    if content_type.startswith("message/"):
        # An attached message (a forwarded mail, the original returned in a bounce) is not text
        # of this message: it is listed, not read.
        body.attachments.append(Attachment(_filename(part), content_type, _size(part, body)))
        return
    if part.is_multipart():
        if content_type == "multipart/report" and body.report_type is None:
            body.report_type = (_param(part, "report-type") or "").lower() or None
        payload = part.get_payload()
        for child in payload if isinstance(payload, list) else ():
            if isinstance(child, Message):
                _walk(child, body, depth + 1)
        return
    if content_type.startswith("multipart/"):
        _salvage_multipart(part, content_type, body, depth)
        return
    if content_type in ("text/plain", "text/html") and not _is_attachment(part):
        text = _text(part, body)
        (body.texts if content_type == "text/plain" else body.htmls).append(text)
        return
    body.attachments.append(Attachment(_filename(part), content_type, _size(part, body)))


def _salvage_multipart(part: Message, content_type: str, body: _Body, depth: int) -> None:
    """A multipart whose declared boundary matches nothing in its body (or that has none):
    parse it again with the boundary its body actually uses, else read its body as text.
    """
    if content_type == "multipart/report" and body.report_type is None:
        body.report_type = (_param(part, "report-type") or "").lower() or None
    data = _payload_bytes(part, body)
    boundary = _guess_boundary(data)
    if boundary is not None:
        head = b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
        reread = BytesParser(policy=policy.compat32).parsebytes(head + data)
        payload = reread.get_payload()
        children = [child for child in payload if isinstance(child, Message)]
        if reread.is_multipart() and children:
            body.defects.append(f"{content_type} part re-read with the boundary its body uses")
            for child in children:
                _walk(child, body, depth + 1)
            return
    body.defects.append(f"{content_type} part without usable boundary: its body read as text")
    body.texts.append(decode_bytes(data, None, body.defects, where=content_type))


def _guess_boundary(data: bytes) -> bytes | None:
    """The first ``--token`` line that recurs and is followed by MIME part headers."""
    lines = data.splitlines()
    seen: dict[bytes, int] = {}
    first_opening: dict[bytes, int] = {}
    for index, line in enumerate(lines):
        found = _BOUNDARY_LINE.fullmatch(line.strip())
        if found is None:
            continue
        token = found.group(1)
        seen[token] = seen.get(token, 0) + 1
        following = lines[index + 1] if index + 1 < len(lines) else b""
        if not found.group(2) and _PART_HEADER.match(following):
            first_opening.setdefault(token, index)
    recurring = [token for token in first_opening if seen[token] >= 2]
    return min(recurring, key=first_opening.__getitem__) if recurring else None


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231: (charset, language, value)
        value = value[2]
    return str(value) if value is not None else None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    return decode_header_text(name) if name else None


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    return disposition == "attachment"


def _payload_bytes(part: Message, body: _Body) -> bytes:
    """The decoded payload (transfer encoding undone), or its start above the size cap."""
    if body.text_budget is None:
        try:
            data = part.get_payload(decode=True)
        except Exception as exc:
            body.defects.append(f"payload of a {_content_type(part)} part unreadable: {exc!r}")
            return b""
        return data if isinstance(data, bytes) else b""
    return _payload_prefix(part, body.text_budget)


def _payload_prefix(part: Message, limit: int) -> bytes:
    """The first ``limit`` decoded bytes, decoding only that much of the encoded payload."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return b""
    encoded = payload[: limit * 2 + 1024]
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        compact = "".join(encoded.split())
        compact = compact[: len(compact) - len(compact) % 4]
        try:
            return base64.b64decode(compact)[:limit]
        except (binascii.Error, ValueError):
            return b""
    data = encoded.encode("ascii", "surrogateescape")
    if encoding == "quoted-printable":
        data = quopri.decodestring(data)
    return data[:limit]


def _size(part: Message, body: _Body) -> int:
    try:
        if part.is_multipart() or _content_type(part).startswith("message/"):
            return len(part.as_bytes(policy=policy.compat32))
        if body.text_budget is None:
            data = part.get_payload(decode=True)
            return len(data) if isinstance(data, bytes) else 0
        payload = part.get_payload()
        encoded = payload if isinstance(payload, str) else ""
        if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
            return len("".join(encoded.split())) * 3 // 4
        return len(encoded)
    except Exception:
        return 0


def _text(part: Message, body: _Body) -> str:
    data = _payload_bytes(part, body)
    if body.text_budget is not None:
        data = data[: body.text_budget]
        body.text_budget = max(0, body.text_budget - len(data))
    text = decode_bytes(data, _param(part, "charset"), body.defects, where=_content_type(part))
    return text.replace("\r\n", "\n")


def _status_blocks(part: Message, defects: list[str]) -> list[HeaderFields]:
    """The field blocks of a delivery-status part, however the parser split it."""
    payload = part.get_payload()
    if isinstance(payload, str):
        return _parse_blocks(payload)
    blocks: list[HeaderFields] = []
    for item in payload if isinstance(payload, list) else ():
        if not isinstance(item, Message):
            continue
        fields = _header_fields(item, defects)
        if fields.items:
            blocks.append(fields)
        rest = item.get_payload()
        if isinstance(rest, str) and rest.strip():  # message/global-delivery-status
            blocks.extend(_parse_blocks(rest))
    return blocks


_DSN_FIELDS = frozenset({"final-recipient", "original-recipient", "action", "status"})


def _dsn_blocks_in_text(text: str) -> list[HeaderFields]:
    """Per-recipient delivery-status blocks written inline in a text part."""
    return [
        block
        for block in _parse_blocks(text)
        if sum(1 for name, _ in block.items if name.lower() in _DSN_FIELDS) >= 2
    ]


def _parse_blocks(text: str) -> list[HeaderFields]:
    blocks = []
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        items = []
        for line in _FOLD.sub("", chunk).splitlines():
            name, colon, value = line.partition(":")
            if colon and name.strip() and " " not in name.strip():
                items.append((name.strip(), decode_header_text(value)))
        if items:
            blocks.append(HeaderFields(tuple(items)))
    return blocks


# ---------------------------------------------------------------- headers


def _raw_header_fields(msg: Message, defects: list[str]) -> HeaderFields:
    """The header fields as received (unfolded, still encoded)."""
    items: list[tuple[str, str]] = []
    for name, value in msg.raw_items():
        if len(items) == MAX_HEADERS:
            defects.append(f"more than {MAX_HEADERS} header fields: the rest were dropped")
            break
        items.append((str(name), _FOLD.sub("", str(value)).strip()))
    return HeaderFields(tuple(items))


def _header_fields(msg: Message, defects: list[str]) -> HeaderFields:
    raw = _raw_header_fields(msg, defects)
    return HeaderFields(tuple((name, decode_header_text(value)) for name, value in raw.items))


def decode_header_text(value: str) -> str:
    """A raw header value as text: unfolded, RFC 2047 encoded words decoded, 8-bit bytes read
    as UTF-8 (else windows-1252). Never raises.
    """
    value = _FOLD.sub("", value)
    value = _BETWEEN_WORDS.sub(r"\1\2", value)  # whitespace between encoded words is dropped
    decoded = _ENCODED_WORD.sub(_decode_word, value)
    return _repair_8bit(decoded).strip()


def _decode_word(match: re.Match[str]) -> str:
    charset, encoding, text = match.group(1), match.group(2).lower(), match.group(3)
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
    try:
        if encoding == "b":
            data = base64.b64decode(text + "=" * (-len(text) % 4))
        else:
            data = quopri.decodestring(text.replace("_", " ").encode("ascii", "surrogateescape"))
    except (binascii.Error, ValueError):
        return match.group(0)
    return decode_bytes(data, charset, [], where="header")


def _repair_8bit(text: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes: read each run of them as UTF-8, else
    windows-1252 (one header may mix both). Raw ISO-2022-JP (7-bit escapes) is decoded too.
    """
    if "\x1b" in text:
        try:
            text = text.encode("ascii").decode("iso2022_jp")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    return _EIGHT_BIT_RUN.sub(lambda run: _decode_run(run.group(0)), data).decode("utf-8")


def _decode_run(run: bytes) -> bytes:
    for codec in ("utf-8", "cp1252"):
        try:
            return run.decode(codec).encode("utf-8")
        except UnicodeDecodeError:
            continue
    return run.decode("latin-1").encode("utf-8")  # latin-1 decodes any byte


def decode_bytes(data: bytes, charset: str | None, defects: list[str], *, where: str) -> str:
    """Bytes as text in the declared charset, else UTF-8, else windows-1252; never raises."""
    declared = (charset or "").strip().strip('"').lower() or None
    codec = _codec(declared)
    if declared and codec is None and declared not in ("unknown-8bit", "x-unknown"):
        defects.append(f"unknown charset {declared!r} in {where}")
    candidates = list(dict.fromkeys(c for c in (codec, "utf-8", "cp1252") if c))
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
        if codec and candidate != codec:
            defects.append(f"{where} declared {declared!r} but reads as {candidate}")
        return text
    defects.append(f"{where} has bytes undecodable in {declared or 'utf-8'}: replaced")
    return data.decode("utf-8", "replace")


def _codec(declared: str | None) -> str | None:
    if declared is None:
        return None
    name = _CHARSET_ALIASES.get(declared, declared)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _first_address(value: str | None) -> tuple[str, str | None]:
    pairs = _address_pairs([value] if value else [])
    if not pairs:
        return "", None
    name, address = pairs[0]
    return decode_header_text(name), address or None


def _addresses(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(address for _, address in _address_pairs(list(values)) if address)


def _address_pairs(values: list[str]) -> list[tuple[str, str]]:
    try:
        pairs = getaddresses(values)
        return [(name.strip(), _repair_8bit(address).strip()) for name, address in pairs]
    except Exception:
        found = re.findall(r"[^\s<>,;\"]+@[^\s<>,;\"]+", " ".join(values))
        return [("", address) for address in found]


def _first_id(value: str | None) -> str | None:
    if not value:
        return None
    found = _ANGLE_ID.search(value)
    if found:
        return found.group(1)
    bare = value.strip()
    return bare if bare and " " not in bare else None


def _return_path(value: str | None) -> str | None:
    if value is None:
        return None
    address = value.strip().strip("<>").strip()
    return address


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        defects.append("no Date header")
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"unreadable Date header {value[:80]!r}")
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------- HTML as text


_SKIPPED_ELEMENTS = ("script", "style", "head", "title")
_BLOCK_ELEMENTS = frozenset(
    {"br", "p", "div", "tr", "li", "ul", "ol", "table", "blockquote", "hr"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "pre", "section", "article"}
)
_TAG_NAME = re.compile(r"/?([a-zA-Z][a-zA-Z0-9]*)")


def html_to_text(html: str, *, max_chars: int = MAX_HTML_CHARS) -> str:
    """The readable text of an HTML body: tags, scripts and styles dropped, one line per block.

    One pass, each character looked at a bounded number of times: the standard library's
    ``html.parser`` is quadratic on some inputs (CVE-2025-6069: repeated ``<a `` took minutes
    for 100 KiB). Only the first ``max_chars`` characters are read.
    """
    html = html[:max_chars]
    lowered = html.lower()
    chunks: list[str] = []
    position, end = 0, len(html)
    while position < end:
        opening = html.find("<", position)
        if opening < 0:
            chunks.append(unescape(html[position:]))
            break
        chunks.append(unescape(html[position:opening]))
        if html.startswith("<!--", opening):
            closing = html.find("-->", opening + 4)
            position = end if closing < 0 else closing + 3
            continue
        closing = html.find(">", opening + 1)
        if closing < 0:
            # No ">" anywhere after: no tag can follow either.
            break
        if html[opening + 1 : opening + 2] not in ("!", "?", "/") and not (
            html[opening + 1 : opening + 2].isalpha()
        ):
            chunks.append("<")  # "a < b": text, not a tag
            position = opening + 1
            continue
        tag = _TAG_NAME.match(html, opening + 1, closing)
        position = closing + 1
        if tag is None:  # "<!DOCTYPE", "<?xml": nothing readable
            continue
        name = tag.group(1).lower()
        if name in _SKIPPED_ELEMENTS and not tag.group(0).startswith("/"):
            skipped_end = lowered.find(f"</{name}", position)
            position = end if skipped_end < 0 else skipped_end
        elif name in _BLOCK_ELEMENTS:
            chunks.append("\n")
        elif name in ("td", "th") and not tag.group(0).startswith("/"):
            chunks.append(" ")
    lines = (" ".join(line.split()) for line in "".join(chunks).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
