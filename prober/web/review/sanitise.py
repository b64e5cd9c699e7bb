"""A reply's HTML as an auditor may see it: no script, no remote content, no form.

``nh3`` (ammonia) keeps a short list of text and layout tags; no ``style`` attribute or element
survives (CSS can fetch ``url(...)``). Images keep their ``src`` only when it is embedded in the
message: a ``data:image/...`` URI, or a ``cid:`` reference to one of its parts, turned into a
``data:`` URI here; any other ``src`` is dropped, so nothing is fetched from the sender's servers.
Links keep ``http``, ``https`` and ``mailto`` targets, open in a new tab without referrer.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import nh3

MAX_INLINE_IMAGE_BYTES = 2 * 1024 * 1024
MAX_INLINE_IMAGES = 20
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "dd", "div", "dl",
        "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol",
        "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "abbr": {"title"},
}
# Elements removed with everything inside them (not only their tags).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "title", "head", "noscript", "template"})


def inline_images(raw: bytes) -> dict[str, str]:
    """``Content-ID`` (without brackets) → ``data:`` URI of the message's embedded images, at most
    ``MAX_INLINE_IMAGES`` of at most ``MAX_INLINE_IMAGE_BYTES`` each."""
    found: dict[str, str] = {}
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:  # a message the parser cannot read has no image to show
        return found
    if not isinstance(message, EmailMessage):
        return found
    for part in message.walk():
        if len(found) >= MAX_INLINE_IMAGES:
            break
        content_id = str(part.get("Content-ID", "")).strip().strip("<>")
        if not content_id or part.get_content_type() not in _IMAGE_TYPES:
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # an undecodable part is left out, the others stay
            payload = None
        if isinstance(payload, bytes) and 0 < len(payload) <= MAX_INLINE_IMAGE_BYTES:
            encoded = base64.b64encode(payload).decode("ascii")
            found[content_id] = f"data:{part.get_content_type()};base64,{encoded}"
    return found


def sanitise_html(html: str, images: Mapping[str, str] | None = None) -> str:
    """``html`` safe to show inside a workspace page; ``cid:`` images from ``images``."""
    embedded = images or {}

    def keep(tag: str, attribute: str, value: str) -> str | None:
        lowered = value.strip().lower()
        if tag == "img" and attribute == "src":
            if lowered.startswith("cid:"):
                return embedded.get(value.strip()[4:].strip("<>"))
            if any(lowered.startswith(f"data:{kind};") for kind in _IMAGE_TYPES):
                return value
            return None
        if tag == "a" and attribute == "href":
            return value if lowered.startswith(("http://", "https://", "mailto:")) else None
        return value

    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=keep,
        url_schemes={"http", "https", "mailto", "data", "cid"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
