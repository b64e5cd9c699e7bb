"""Website checks against the sandbox's sites: every field equals the sites' ground truth, and
hostile sites end with a clear outcome in bounded time and memory."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

import pytest

from channels.web import CheckPolicy, SiteChecker, SiteReport, check_site
from sandbox.web import SiteSpec, WebSandbox, site_truth
from sandbox.web.world import HUGE_BYTES, Behaviour
from tests.support.leaks import no_unclosed_resources
from tests.support.web_scene import assert_matches_truth, policy_for, served_when


def _site(sandbox: WebSandbox, behaviour: Behaviour) -> SiteSpec:
    return next(site for site in sandbox.sites if site.behaviour == behaviour)


async def test_every_sandbox_site_is_reported_as_its_truth_says(web_sandbox: WebSandbox) -> None:
    behaviours = {site.behaviour for site in web_sandbox.sites}
    assert len(web_sandbox.sites) >= 20 and len(behaviours) == len(Behaviour.__args__)  # type: ignore[attr-defined]
    async with SiteChecker(policy_for(web_sandbox, timeout_s=5.0)) as checker:
        reports = await asyncio.gather(
            *(checker.check(web_sandbox.url_of(s)) for s in web_sandbox.sites)
        )
    for site, report in zip(web_sandbox.sites, reports, strict=True):
        assert_matches_truth(report, site, web_sandbox)


async def test_one_request_at_a_time_per_host_many_hosts_at_once(web_sandbox: WebSandbox) -> None:
    ordinary = [
        s
        for s in web_sandbox.sites
        if s.behaviour
        in {"ok", "phone_differs", "hours_differ", "no_statement", "obfuscated_email", "slow"}
    ]
    start = time.monotonic()
    async with SiteChecker(policy_for(web_sandbox)) as checker:
        # Each site twice at once: two checks of one host still take turns.
        urls = [web_sandbox.url_of(s) for s in ordinary] * 2
        await asyncio.gather(*(checker.check(url) for url in urls))
    hosts = {s.host for s in ordinary}
    served = served_when(
        web_sandbox,
        lambda log: (
            sum(r.host in hosts and r.path == "/" and r.started >= start for r in log)
            >= 2 * len(hosts)
        ),
    )
    by_host: defaultdict[str, list[tuple[float, float]]] = defaultdict(list)
    for request in served:
        if request.host in hosts and request.started >= start:
            by_host[request.host].append((request.started, request.ended))
            assert request.user_agent.startswith("prober/")
    for host, spans in by_host.items():
        spans.sort()
        for (_, ended), (started, _) in itertools.pairwise(spans):
            assert started >= ended, f"{host} served two requests at once"
    # Meanwhile hosts were served side by side: some request of one host overlaps another's.
    everyone = sorted((a, b, h) for h, ss in by_host.items() for a, b in ss)
    assert any(
        other_start < end and other_host != host
        for (_, end, host), (other_start, _, other_host) in itertools.pairwise(everyone)
    )


async def test_robots_txt_is_obeyed(web_sandbox: WebSandbox) -> None:
    site = _site(web_sandbox, "robots_contact")
    start = time.monotonic()
    report = await check_site(web_sandbox.url_of(site), policy_for(web_sandbox))
    served = served_when(
        web_sandbox,
        lambda log: any(
            r.host == site.host and r.path == "/mentions-legales" and r.started >= start
            for r in log
        ),
    )
    paths = {r.path for r in served if r.host == site.host and r.started >= start}
    assert "/robots.txt" in paths and "/mentions-legales" in paths
    assert "/contact" not in paths
    assert not report.contact_form


async def test_a_site_that_never_answers_costs_its_timeout_and_blocks_nothing(
    web_sandbox: WebSandbox,
) -> None:
    timeout_s = 3.0
    silent = _site(web_sandbox, "silent")
    others = [
        s
        for s in web_sandbox.sites
        if s.behaviour in {"ok", "http_only", "latin1", "expiring_certificate"}
    ]
    finished: list[str] = []
    async with SiteChecker(policy_for(web_sandbox, timeout_s=timeout_s, concurrency=2)) as checker:

        async def check(site: SiteSpec) -> tuple[SiteReport, float]:
            started = time.monotonic()
            report = await checker.check(web_sandbox.url_of(site))
            finished.append(site.behaviour)
            return report, time.monotonic() - started

        # Two slots, the silent site holding one: the others go through the other one.
        (report, elapsed), *rest = await asyncio.gather(check(silent), *(check(s) for s in others))
    assert report.outcome == "timeout" and not report.reachable
    assert "3 s" in (report.error or "")
    assert timeout_s <= elapsed < timeout_s + 5  # its timeout, and not a second one for robots.txt
    assert all(other.outcome == "ok" for other, _ in rest)
    assert set(finished[: len(others)]) == {s.behaviour for s in others}


@pytest.mark.parametrize("checker", ["check_site", "SiteChecker"])
async def test_a_check_cut_in_the_middle_of_a_tls_handshake_closes_its_connection(
    checker: str,
) -> None:
    """What the site-wide limit (``site_timeout_s``) does to a check, or the daemon to one it
    abandons: a cancellation, here once the server has the TLS ClientHello."""
    handshake_begun, closed = asyncio.Event(), asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        handshake_begun.set()
        with contextlib.suppress(ConnectionError):
            while await reader.read(65_536):
                pass  # never answer, until the client closes
        closed.set()
        writer.close()

    policy = CheckPolicy(timeout_s=60.0, site_timeout_s=60.0, respect_robots=False)
    with no_unclosed_resources():
        async with await asyncio.start_server(mute, "127.0.0.1", 0) as server:
            url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/"

            async def check() -> SiteReport:
                if checker == "check_site":
                    return await check_site(url, policy)
                async with SiteChecker(policy) as site_checker:
                    return await site_checker.check(url)

            task = asyncio.create_task(check())
            async with asyncio.timeout(10.0):  # failure bounds, not measures
                await handshake_begun.wait()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                await closed.wait()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://mairie.example.fr/",
        "javascript:alert(1)",
        "mailto:maire@example.fr",
        "file:///etc/passwd",
        "http://",
        "data:text/html,x",
    ],
)
async def test_a_url_that_is_not_http_ends_at_once(url: str) -> None:
    report = await check_site(url, CheckPolicy(timeout_s=1.0))
    assert report.outcome == "not_http" and not report.reachable
    assert "http" in (report.error or "")


@pytest.mark.parametrize("behaviour", ["huge", "gzip_bomb"])
async def test_a_page_too_large_is_cut_at_the_cap_in_bounded_memory(
    web_sandbox: WebSandbox, behaviour: Behaviour
) -> None:
    site = _site(web_sandbox, behaviour)
    max_bytes = 500_000
    tracemalloc.start()
    try:
        report = await check_site(
            web_sandbox.url_of(site), policy_for(web_sandbox, max_bytes=max_bytes)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.outcome == "too_large" and report.reachable
    assert f"{max_bytes} octets" in (report.error or "")
    assert report.phones == (site.phone,)  # what came before the cap was read
    # The 50 MB (or 100 MB gunzipped) never held: memory follows the cap (parsing a page takes
    # about twenty times its size), not the page.
    assert peak < min(HUGE_BYTES // 2, 50 * max_bytes)


async def test_a_redirect_loop_and_an_endless_chain_end_with_their_outcome(
    web_sandbox: WebSandbox,
) -> None:
    loop = await check_site(
        web_sandbox.url_of(_site(web_sandbox, "redirect_loop")), policy_for(web_sandbox)
    )
    assert loop.outcome == "redirect_loop" and "boucle" in (loop.error or "")
    chain = await check_site(
        web_sandbox.url_of(_site(web_sandbox, "redirect_chain")),
        policy_for(web_sandbox, max_redirects=3),
    )
    assert chain.outcome == "too_many_redirects" and "3 redirections" in (chain.error or "")


async def test_an_html_bomb_is_read_without_its_excess(web_sandbox: WebSandbox) -> None:
    site = _site(web_sandbox, "nesting_bomb")
    report = await check_site(web_sandbox.url_of(site), policy_for(web_sandbox))
    assert report.outcome == "too_deep" and "512" in (report.error or "")
    assert_matches_truth(report, site, web_sandbox)  # the footer after the bomb was read


async def test_a_latin1_page_without_charset_is_read_as_written(web_sandbox: WebSandbox) -> None:
    site = _site(web_sandbox, "latin1")
    report = await check_site(web_sandbox.url_of(site), policy_for(web_sandbox))
    assert report.accessibility == site.accessibility  # "Accessibilité" decoded right
    assert_matches_truth(report, site, web_sandbox)


async def test_an_expired_certificate_says_since_when(web_sandbox: WebSandbox) -> None:
    report = await check_site(
        web_sandbox.url_of(_site(web_sandbox, "expired_certificate")), policy_for(web_sandbox)
    )
    assert report.outcome == "bad_certificate" and not report.https
    assert report.certificate_days_left == -10
    assert report.error == "certificat expiré depuis 10 jours"


async def test_javascript_pages_rendered_by_chromium_when_asked(web_sandbox: WebSandbox) -> None:
    pytest.importorskip("playwright.async_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed (scripts/ensure-services.sh installs it)")
    site = _site(web_sandbox, "javascript_only")
    policy = policy_for(web_sandbox, javascript=True)
    async with SiteChecker(policy) as checker:
        report = await checker.check(web_sandbox.url_of(site))
    truth = site_truth(site, web_sandbox, javascript=True)
    assert report.phones == (site.phone,) and report.contact_form
    assert_matches_truth(report, site, web_sandbox, truth)
