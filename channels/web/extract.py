"""What one page publishes: phones, emails, opening hours, contact form, accessibility, links.

Parsing is lexbor's (selectolax): linear in the page's size, whatever its nesting. Every scan is
capped (text length, links, candidates) so that a hostile page costs bounded time.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from selectolax.lexbor import LexborHTMLParser, LexborNode

from channels.web.nesting import flattened
from channels.web.report import ACCESSIBILITY_LEVELS, AccessibilityLevel

MAX_TEXT_CHARS = 400_000
MAX_LINKS = 2_000
MAX_CANDIDATES = 200
MAX_HOURS_CHARS = 500
MAX_LABEL_CHARS = 40
MAX_NODES = 500_000
MAX_HOURS_NODES = 5_000

Topic = str  # "contact" | "accessibility" | "legal" | "hours"
# Words (lowercase, without accents) that mark a link to one of the pages worth reading.
TOPIC_WORDS: dict[Topic, tuple[str, ...]] = {
    "contact": ("contact", "nous ecrire", "ecrire a la mairie"),
    "accessibility": ("accessibilite",),
    "legal": ("mentions legales",),
    "hours": ("horaires",),
}
SOCIAL_HOSTS = (
    "facebook.com",
    "twitter.com",
    "x.com",
    "instagram.com",
    "linkedin.com",
    "youtube.com",
    "tiktok.com",
    "bsky.app",
    "threads.net",
    "mastodon.social",
)

_PHONE_CANDIDATE = re.compile(r"(?:\+|00)\s?\d[\d .\-()/]{7,20}\d|\b0\d(?:[ .\-/]?\d\d){4}\b")
# name@domain, and the usual obfuscations: [at] (at) {at} « arobase », [dot] (point).
_AT = r"(?:@|\s*[\[({]\s*(?:at|arobase)\s*[\])}]\s*|\s+arobase\s+)"
_DOT = r"(?:\.|\s*[\[({]\s*(?:dot|point)\s*[\])}]\s*)"
_EMAIL = re.compile(
    rf"[A-Za-z0-9][A-Za-z0-9._%+-]{{0,63}}{_AT}[A-Za-z0-9-]{{1,63}}(?:{_DOT}[A-Za-z0-9-]{{1,63}}){{1,5}}",
    re.I,
)
_FOOTER_LEVEL = re.compile(
    r"accessibilite[^.:]{0,40}:\s*(?:site\s+)?(totalement|partiellement|non)\s+conforme\b"
)
_ACCESSIBILITY_WORD = re.compile(r"accessibilit", re.I)
_STATEMENT_LEVEL = re.compile(r"\b(totalement|partiellement|non)\s+conforme\b(?!s)")
_HOURS_LABEL = re.compile(r"^horaires\b")
_DAY = re.compile(r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\b")
_BLOCK_TAGS = frozenset(
    "p div li ul ol tr table tbody dl dd dt h1 h2 h3 h4 h5 h6 section article footer "
    "header aside nav address br hr form".split()
)
_HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())
_INLINE_TAGS = frozenset("span strong b em i u a abbr small label font".split())
_MESSAGE_FIELD = re.compile(r"message|commentaire|demande|question|texte", re.I)


@dataclass(frozen=True, slots=True)
class Link:
    """An absolute http(s) link of the page and its text (lowercase, without accents)."""

    url: str
    text: str


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What one page publishes."""

    phones: tuple[str, ...]
    emails: tuple[str, ...]
    opening_hours_text: str | None
    contact_form: bool
    footer_accessibility: AccessibilityLevel | None
    statement_accessibility: AccessibilityLevel | None
    mobile_viewport: bool
    social: tuple[str, ...]
    links: tuple[Link, ...]
    # Tags nested deeper than nesting.MAX_DEPTH were removed before parsing (an HTML bomb).
    too_deep: bool


def folded(text: str) -> str:
    """Lowercase without accents, spaces collapsed: what keyword matching compares."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def page_facts(html: str, url: str, phone_region: str) -> PageFacts:
    """Parse ``html`` (served at ``url``) and read what it publishes."""
    html, too_deep = flattened(html)
    tree = LexborHTMLParser(html)
    for junk in tree.css("script, style, noscript, template"):
        junk.decompose()
    body = tree.body
    text = body.text(separator=" ")[:MAX_TEXT_CHARS] if body is not None else ""
    links = _links(tree, url)
    return PageFacts(
        phones=_phones(text, tree, phone_region),
        emails=_emails(text, tree),
        opening_hours_text=_opening_hours(tree),
        contact_form=_contact_form(tree),
        footer_accessibility=_footer_level(text),
        statement_accessibility=_level(_STATEMENT_LEVEL, text.lower()),
        mobile_viewport=_mobile_viewport(tree),
        social=tuple(sorted({link.url for link in links if _is_social(link.url)})),
        links=links,
        too_deep=too_deep,
    )


def _links(tree: LexborHTMLParser, base: str) -> tuple[Link, ...]:
    found: list[Link] = []
    for anchor in tree.css("a[href]")[:MAX_LINKS]:
        href = (anchor.attributes.get("href") or "").strip()
        absolute = urljoin(base, href).split("#", 1)[0]
        if urlsplit(absolute).scheme in {"http", "https"}:
            label = anchor.text(separator=" ") + " " + (anchor.attributes.get("title") or "")
            found.append(Link(absolute, folded(label)))
    return tuple(found)


def _hrefs(tree: LexborHTMLParser, scheme: str) -> list[str]:
    values = []
    for anchor in tree.css(f'a[href^="{scheme}" i]')[:MAX_LINKS]:
        values.append((anchor.attributes.get("href") or "")[len(scheme) :])
    return values


def _phones(text: str, tree: LexborHTMLParser, region: str) -> tuple[str, ...]:
    candidates = _PHONE_CANDIDATE.findall(text)[:MAX_CANDIDATES] + _hrefs(tree, "tel:")
    found: set[str] = set()
    for candidate in candidates[: 2 * MAX_CANDIDATES]:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return tuple(sorted(found))


def _emails(text: str, tree: LexborHTMLParser) -> tuple[str, ...]:
    mailto = [href.split("?", 1)[0] for href in _hrefs(tree, "mailto:")]
    found: set[str] = set()
    for candidate in _EMAIL.findall(text)[:MAX_CANDIDATES] + mailto[:MAX_CANDIDATES]:
        cleaned = re.sub(_AT, "@", candidate, count=1, flags=re.I)
        cleaned = re.sub(_DOT, ".", cleaned.split("@", 1)[-1], flags=re.I)
        address = candidate_local(candidate) + "@" + cleaned
        try:
            found.add(validate_email(address, check_deliverability=False).normalized.lower())
        except EmailNotValidError:
            continue
    return tuple(sorted(found))


def candidate_local(candidate: str) -> str:
    """The local part of a (maybe obfuscated) address found in a page."""
    return re.split(_AT, candidate, maxsplit=1, flags=re.I)[0]


def _footer_level(text: str) -> AccessibilityLevel | None:
    """The level next to "Accessibilité" (the mention the law requires on every page)."""
    for mention in itertools.islice(_ACCESSIBILITY_WORD.finditer(text), 50):
        # Only this window is folded: folding a whole large page would cost ten times its size.
        window = folded(text[mention.start() : mention.start() + 120])
        if level := _level(_FOOTER_LEVEL, window):
            return level
    return None


def _level(pattern: re.Pattern[str], plain: str) -> AccessibilityLevel | None:
    if (found := pattern.search(plain)) is None:
        return None
    wanted = f"{found.group(1)} conforme"
    return next(level for level in ACCESSIBILITY_LEVELS if level == wanted)


def _mobile_viewport(tree: LexborHTMLParser) -> bool:
    for meta in tree.css('meta[name="viewport" i]'):
        if "width=device-width" in (meta.attributes.get("content") or "").replace(" ", "").lower():
            return True
    return False


def _contact_form(tree: LexborHTMLParser) -> bool:
    for form in tree.css("form")[:50]:
        if form.css_first("textarea") is not None:
            return True
        for field in form.css("input")[:100]:
            name = " ".join(filter(None, (field.attributes.get(a) for a in ("name", "id"))))
            if _MESSAGE_FIELD.search(name):
                return True
    return False


def _is_social(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in SOCIAL_HOSTS)


def _lines(node: LexborNode) -> list[str]:
    """The text of ``node`` as a reader sees it: one line per block, inline parts joined."""
    lines: list[str] = []
    current: list[str] = []
    for visited, child in enumerate(node.traverse(include_text=True)):
        if child.tag in _BLOCK_TAGS and current:
            lines.append(" ".join(" ".join(current).split()))
            current = []
        elif child.tag == "-text" and (piece := (child.text_content or "").strip()):
            current.append(piece)
        if visited > MAX_HOURS_NODES or sum(map(len, lines)) > MAX_HOURS_CHARS:
            break
    if current:
        lines.append(" ".join(" ".join(current).split()))
    return [line for line in lines if line]


def _hours_labels(tree: LexborHTMLParser) -> Iterator[LexborNode]:
    """Elements whose whole text is a short "Horaires..." label, in document order.

    Text nodes are scanned, not elements: an element's text is its whole subtree, and asking it
    of every element of a deeply nested page would be quadratic.
    """
    body = tree.body
    if body is None:
        return
    for visited, node in enumerate(body.traverse(include_text=True)):
        if visited > MAX_NODES:
            return
        text = (node.text_content or "").strip() if node.tag == "-text" else ""
        if len(text) > MAX_LABEL_CHARS or not _HOURS_LABEL.match(folded(text)):
            continue
        label = node.parent
        # <h3><span>Horaires</span></h3>: the label is the heading the inline element fills.
        while (
            label is not None
            and label.tag in _INLINE_TAGS
            and label.parent is not None
            and label.parent.text(separator=" ").strip() == text
        ):
            label = label.parent
        if label is not None:
            yield label


def _opening_hours(tree: LexborHTMLParser) -> str | None:
    """The text under the first "Horaires..." label that names a day of the week."""
    for label in itertools.islice(_hours_labels(tree), 20):
        after = itertools.dropwhile(lambda line: not _about_hours(line), _hours_after(label))
        lines = list(itertools.takewhile(_about_hours, after))
        if lines and _DAY.search(folded(" ".join(lines))):
            return "; ".join(lines).lstrip(":; ")[:MAX_HOURS_CHARS]
    return None


def _about_hours(line: str) -> bool:
    """A line of an opening hours block: a time, a day, "fermé"..."""
    plain = folded(line)
    return bool(re.search(r"\d|ferme|ouvert|sur rendez-vous", plain) or _DAY.search(plain))


def _hours_after(label: LexborNode) -> list[str]:
    """The lines after ``label`` up to the next heading (or the next label like it); for an
    inline label with nothing after it (``<p><b>Horaires :</b> lundi...</p>``), its parent's."""
    lines = _lines_after(label, stop_tag=label.tag)
    if not lines and label.tag not in _HEADING_TAGS and label.parent is not None:
        lines = _lines_after(label.parent, stop_tag=None)
    return lines


def _lines_after(label: LexborNode, *, stop_tag: str | None) -> list[str]:
    lines: list[str] = []
    sibling = label.next
    while sibling is not None and len(lines) < 12:
        if sibling.tag in _HEADING_TAGS or sibling.tag == stop_tag:
            break
        if sibling.tag == "-text":
            if piece := " ".join((sibling.text_content or "").split()).lstrip(": "):
                lines.append(piece)
        elif sibling.tag != "br":
            lines.extend(_lines(sibling))
        sibling = sibling.next
    return lines
