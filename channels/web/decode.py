"""Bytes of a page to text: BOM, HTTP charset, ``<meta charset>``, valid UTF-8, else windows-1252.

windows-1252 (a superset of Latin-1's printable characters) is what browsers assume for a French
page that declares nothing and is not UTF-8 (the WHATWG encoding standard's default for "fr").
"""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I
)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
FALLBACK = "windows-1252"


def _codec(name: str) -> str | None:
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    # Per WHATWG, a page labelled Latin-1 is decoded as windows-1252.
    return FALLBACK if codec in {"latin_1", "iso8859-1", "ascii"} else codec


def page_encoding(body: bytes, content_type: str | None) -> str:
    """The encoding to read ``body`` with, in the order browsers use."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    if content_type and (found := _HEADER_CHARSET.search(content_type)):
        if codec := _codec(found.group(1)):
            return codec
    if found_meta := _META_CHARSET.search(body[:4096]):
        if codec := _codec(found_meta.group(1).decode("ascii")):
            return codec
    try:
        # final=False: a page cut by the size cap may end inside a character.
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return FALLBACK
    return "utf-8"


def page_text(body: bytes, content_type: str | None) -> str:
    """``body`` decoded; bytes the encoding cannot map become U+FFFD, never an error."""
    encoding = page_encoding(body, content_type)
    text = body.decode(encoding, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text
