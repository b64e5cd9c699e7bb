"""A website check: robots.txt, the home page, the few pages linked by topic, one report.

``check_site`` checks one URL; ``SiteChecker`` checks many at once (``concurrency`` sites) while
each host sees one request at a time. Nothing a site does raises: every ending is an outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from channels.web.decode import page_text
from channels.web.extract import TOPIC_WORDS, Link, PageFacts, page_facts
from channels.web.fetch import (
    Fetcher,
    FetchFailed,
    HostGates,
    Page,
    build_client,
    days_left,
    ssl_context,
)
from channels.web.nesting import MAX_DEPTH
from channels.web.policy import CheckPolicy
from channels.web.render import Renderer
from channels.web.report import AccessibilityLevel, SiteReport

HTML_TYPES = ("text/html", "application/xhtml+xml")


def normalized_url(url: str) -> str:
    """``url`` with ``http://`` in front when it names no scheme (``www.mairie.fr``)."""
    url = url.strip()
    if "://" not in url and not url.lower().startswith(("mailto:", "javascript:", "tel:", "data:")):
        return "http://" + url
    return url


def _ended(report: SiteReport, failure: FetchFailed) -> SiteReport:
    return replace(report, outcome=failure.outcome, error=str(failure))


def _same_site(url: str, home: str) -> bool:
    def bare(u: str) -> str:
        host = (urlsplit(u).hostname or "").lower()
        return host.removeprefix("www.")

    return bare(url) == bare(home)


def topic_links(links: tuple[Link, ...], home: str, max_links: int) -> list[Link]:
    """The home page's links to its contact, accessibility, legal notice and hours pages."""
    chosen: list[Link] = []
    seen = {home}
    for topic_words in TOPIC_WORDS.values():
        for link in links:
            path = urlsplit(link.url).path.lower().replace("-", " ").replace("_", " ")
            if link.url in seen or not _same_site(link.url, home):
                continue
            if any(word in link.text or word in path for word in topic_words):
                chosen.append(link)
                seen.add(link.url)
                break
    return chosen[:max_links]


async def _read(fetcher: Fetcher, page: Page, phone_region: str) -> PageFacts | None:
    content_type = page.answer.content_type
    if content_type and not content_type.lower().startswith(HTML_TYPES):
        return None
    text = page_text(page.answer.body, content_type)
    if fetcher.renderer is not None:
        async with fetcher.gates.hold(urlsplit(page.url).hostname or ""):
            text = await fetcher.renderer.render(page.url) or text
    # Parsing is CPU work of up to max_bytes: off the event loop, other checks go on meanwhile.
    async with fetcher.parse_slots:
        return await asyncio.to_thread(page_facts, text, page.url, phone_region)


async def _check(fetcher: Fetcher, url: str, phone_region: str, checked_at: datetime) -> SiteReport:
    report = SiteReport.blank(url, checked_at)
    try:
        home = await fetcher.page(url)
    except FetchFailed as failed:
        report = replace(
            report,
            status=failed.status,
            certificate_days_left=failed.certificate_days_left,
            reachable=failed.outcome == "robots_disallowed",
        )
        return _ended(report, failed)
    answer = home.answer
    not_after = answer.certificate_not_after
    report = replace(
        report,
        final_url=home.url,
        status=answer.status,
        https=urlsplit(home.url).scheme == "https",
        certificate_days_left=days_left(not_after) if not_after else None,
        load_s=round(home.load_s, 3),
        ttfb_s=round(home.ttfb_s, 3),
        redirects=home.redirects,
    )
    if answer.status >= 400:
        return _ended(
            report, FetchFailed("http_error", f"la page d'accueil répond {answer.status}")
        )
    report = replace(report, reachable=True)
    facts = await _read(fetcher, home, phone_region)
    if facts is None:
        kind = (answer.content_type or "?")[:80]
        return _ended(
            report, FetchFailed("unreadable", f"la page d'accueil n'est pas du HTML ({kind})")
        )
    report = await _linked_pages(fetcher, report, home, facts, phone_region)
    if answer.truncated:
        cap = fetcher.policy.max_bytes
        return _ended(report, FetchFailed("too_large", f"page d'accueil coupée à {cap} octets"))
    if facts.too_deep:
        message = f"page d'accueil imbriquée au-delà de {MAX_DEPTH} niveaux : l'excès est ignoré"
        return _ended(report, FetchFailed("too_deep", message))
    return report


async def _linked_pages(
    fetcher: Fetcher, report: SiteReport, home: Page, facts: PageFacts, phone_region: str
) -> SiteReport:
    """``report`` completed with what the home page and its topic pages publish."""
    pages = [facts]
    statement_url: str | None = None
    statement_level: AccessibilityLevel | None = None
    for link in topic_links(facts.links, home.url, fetcher.policy.max_pages - 1):
        try:
            linked = await fetcher.page(link.url)
        except FetchFailed:
            continue  # a broken inner page is not the site being down
        if (
            linked.answer.status >= 400
            or (more := await _read(fetcher, linked, phone_region)) is None
        ):
            continue
        pages.append(more)
        if "accessibilite" in link.text or "accessibilite" in link.url:
            statement_url = statement_url or linked.url
            statement_level = statement_level or more.statement_accessibility
    return replace(
        report,
        accessibility=facts.footer_accessibility or statement_level,
        accessibility_statement_url=statement_url,
        contact_form=any(p.contact_form for p in pages),
        phones=tuple(sorted({n for p in pages for n in p.phones})),
        emails=tuple(sorted({e for p in pages for e in p.emails})),
        opening_hours_text=next(
            (p.opening_hours_text for p in pages if p.opening_hours_text), None
        ),
        social=facts.social,
        mobile_viewport=facts.mobile_viewport,
    )


async def _check_within_budget(fetcher: Fetcher, url: str, phone_region: str | None) -> SiteReport:
    checked_at = datetime.now(UTC)
    url = normalized_url(url)
    if urlsplit(url).scheme.lower() not in {"http", "https"} or not urlsplit(url).hostname:
        failure = FetchFailed("not_http", f"{url[:200]!r} n'est pas une adresse http(s)")
        return _ended(SiteReport.blank(url, checked_at), failure)
    region = phone_region or fetcher.policy.phone_region
    try:
        async with asyncio.timeout(fetcher.policy.site_timeout_s):
            return await _check(fetcher, url, region, checked_at)
    except TimeoutError:
        budget = fetcher.policy.site_timeout_s
        failure = FetchFailed("timeout", f"site non vérifié en {budget:g} s")
        return _ended(SiteReport.blank(url, checked_at), failure)


async def check_site(
    url: str,
    policy: CheckPolicy,
    *,
    client: httpx.AsyncClient | None = None,
    phone_region: str | None = None,
) -> SiteReport:
    """Check one website; ``client`` (from ``build_client(policy)``) may be shared."""
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(build_client(policy))
        renderer = None
        if policy.javascript:
            renderer = await stack.enter_async_context(Renderer(policy))
        fetcher = Fetcher(policy, client, renderer=renderer)
        return await _check_within_budget(fetcher, url, phone_region)
    raise AssertionError("unreachable")  # pragma: no cover


class SiteChecker:
    """Checks many sites at once: ``policy.concurrency`` sites, one request per host at a time.

    Each check has its own small HTTP client (its pool holds that site's connections only:
    httpcore scans a whole pool at every request, which a shared pool of thousands of hosts
    would make quadratic); the TLS context, host gates and parsing slots are shared.
    """

    def __init__(self, policy: CheckPolicy) -> None:
        self.policy = policy
        self._context = ssl_context(policy)
        self._gates = HostGates()
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._parse_slots = asyncio.Semaphore(2)
        self._renderer = Renderer(policy) if policy.javascript else None

    async def __aenter__(self) -> SiteChecker:
        if self._renderer is not None:
            await self._renderer.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._renderer is not None:
            await self._renderer.__aexit__(exc_type, exc, traceback)

    async def check(self, url: str, *, phone_region: str | None = None) -> SiteReport:
        """Check ``url`` when a slot is free; never raises for what the site does."""
        async with (
            self._slots,
            build_client(self.policy, context=self._context, connections=4) as client,
        ):
            fetcher = Fetcher(
                self.policy,
                client,
                gates=self._gates,
                parse_slots=self._parse_slots,
                renderer=self._renderer,
            )
            return await _check_within_budget(fetcher, url, phone_region)
