"""``/metrics`` on the workspace listener: Prometheus figures of the daemon and its database.

In-process figures (callbacks received, dispatch lag) are counted as they happen; the rest
(probes by state and channel, outbox depth, Twilio errors, spending per wave, reply detection
lag, open alerts) is read from the database at each scrape, so any daemon (or `prober
workspace`) shows the same. The endpoint takes a bearer token with the ``metrics:read`` scope
(Prometheus: ``authorization: {credentials: TOKEN}``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from prober.project.database import Database
from prober.web.access import AccessDenied, TokenCheck
from storage.metrics import StoredFigures, stored_figures
from storage.types import utcnow

SCOPE = "metrics:read"
DISPATCH_LAG_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
REPLY_LAG_BUCKETS_S = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
REPLY_WINDOW = timedelta(days=1)


class Metrics:
    """One daemon's Prometheus registry: its own counters and the database's figures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.callbacks = Counter(
            "prober_twilio_callbacks",
            "Twilio webhook requests received, by endpoint (status, voice, amd, recording...)",
            ["endpoint"],
            registry=self.registry,
        )
        self.dispatch_lag = Histogram(
            "prober_dispatch_lag_seconds",
            "Seconds between a probe's planned instant and its dispatch",
            ["channel"],
            buckets=DISPATCH_LAG_BUCKETS_S,
            registry=self.registry,
        )
        self.stored = _StoredCollector()
        self.registry.register(self.stored)

    async def exposition(self, database: Database) -> bytes:
        since = utcnow() - REPLY_WINDOW
        self.stored.figures = await database.run(lambda s: stored_figures(s, since=since))
        return generate_latest(self.registry)


class _StoredCollector(Collector):
    def __init__(self) -> None:
        self.figures = StoredFigures()

    def collect(self) -> Iterable[Metric]:
        figures = self.figures
        probes = GaugeMetricFamily(
            "prober_probes", "Probes by state and channel", labels=["state", "channel"]
        )
        for (state, channel), count in sorted(figures.probes.items()):
            probes.add_metric([state, channel], count)
        yield probes
        yield GaugeMetricFamily(
            "prober_outbox_depth", "Bus messages not yet published", value=figures.outbox_depth
        )
        errors = CounterMetricFamily(
            "prober_twilio_errors",
            "Calls Twilio failed (failed) or never took (not_placed)",
            labels=["outcome"],
        )
        for outcome, count in sorted(figures.twilio_errors.items()):
            errors.add_metric([outcome], count)
        yield errors
        spending = GaugeMetricFamily(
            "prober_wave_spending", "Twilio's prices of a wave's calls so far", labels=["wave"]
        )
        for wave, amount in sorted(figures.wave_spending.items()):
            spending.add_metric([wave], float(amount))
        yield spending
        budget = GaugeMetricFamily("prober_wave_budget", "A wave's budget", labels=["wave"])
        for wave, amount in sorted(figures.wave_budget.items()):
            budget.add_metric([wave], float(amount))
        yield budget
        alerts = GaugeMetricFamily("prober_open_alerts", "Alerts not cleared", labels=["rule"])
        for rule, count in sorted(figures.open_alerts.items()):
            alerts.add_metric([rule], count)
        yield alerts
        yield _histogram(
            "prober_reply_detection_lag_seconds",
            "Seconds between a reply's arrival in the mailbox and its detection (last day)",
            figures.reply_lags_s,
            REPLY_LAG_BUCKETS_S,
        )


def _histogram(
    name: str, documentation: str, values: list[float], bounds: tuple[float, ...]
) -> HistogramMetricFamily:
    buckets = [(str(bound), sum(1 for v in values if v <= bound)) for bound in bounds]
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum(values))


def metrics_route(metrics: Metrics, database: Database, access: TokenCheck) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            await access.require(request, SCOPE)
        except AccessDenied as denied:
            return JSONResponse(
                {"error": denied.code, "detail": denied.detail},
                status_code=denied.status,
                headers={"WWW-Authenticate": denied.challenge},
            )
        return Response(await metrics.exposition(database), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", endpoint, methods=["GET"])


class CountingCallbacks:
    """Counts the requests reaching the webhook app, by the endpoint a Twilio path ends in."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith("/twilio/"):
            endpoint = str(scope["path"]).rstrip("/").rsplit("/", 1)[-1]
            known = endpoint in ("status", "voice", "amd", "recording", "partial")
            self.metrics.callbacks.labels(endpoint=endpoint if known else "other").inc()
        await self.app(scope, receive, send)
