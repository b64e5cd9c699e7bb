"""The sandbox's websites for tests: a running ``WebSandbox`` and the policy to check it with."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from channels.web import CheckPolicy, SiteReport
from sandbox.web import SiteSpec, SiteTruth, WebSandbox, site_truth
from sandbox.web.server import Served


def policy_for(sandbox: WebSandbox, **changes: object) -> CheckPolicy:
    """A check policy that trusts the sandbox's CA and finds its hosts on loopback."""
    policy = CheckPolicy(
        timeout_s=10.0,
        site_timeout_s=60.0,
        ca_file=sandbox.ca_file,
        resolve=tuple(sandbox.resolve.items()),
    )
    return dataclasses.replace(policy, **changes)  # type: ignore[arg-type]


def served_when(
    sandbox: WebSandbox, done: Callable[[list[Served]], bool], timeout_s: float = 30.0
) -> list[Served]:
    """The sandbox's request log once ``done`` holds (a server logs a request after sending it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        served = list(sandbox.app.served)
        if done(served) or time.monotonic() > deadline:
            return served
        time.sleep(0.02)


def assert_matches_truth(
    report: SiteReport | dict[str, object],
    site: SiteSpec,
    sandbox: WebSandbox,
    truth: SiteTruth | None = None,
) -> None:
    """Every field of ``report`` (a report or its JSON) equals ``site``'s ground truth."""
    truth = truth or site_truth(site, sandbox)
    found = dict(report.to_json() if isinstance(report, SiteReport) else report)
    assert list(found) == list(truth.expected), "the JSON keys, in the documented order"
    load_s = found.pop("load_s")
    expected = {key: value for key, value in truth.expected.items() if key != "load_s"}
    assert found == expected, site.behaviour
    if truth.min_load_s is None:
        assert load_s is None, site.behaviour
    else:
        assert isinstance(load_s, float) and load_s >= truth.min_load_s, site.behaviour
    if isinstance(report, SiteReport):
        assert report.outcome == truth.outcome, (site.behaviour, report.error)
        assert (report.error is None) == (truth.outcome == "ok"), site.behaviour
