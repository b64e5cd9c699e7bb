"""Benchmark: hundreds of concurrent phone probes through the sandbox; prober's webhook throughput.

Goal (issue 3): at least 300 Twilio callbacks handled per second on one core with SQLite.
The sandbox runs in its own process (the outside world); prober (web app, Twilio client, SQLite)
runs in this one, on one core. Every call sends about ten webhooks (status callbacks, machine
detection, TwiML steps, partial speech results, recording); their handling time is measured
from the request's arrival to the end of the response.

    python bench/phone_calls.py [--calls 300] [--time-scale 0.05] [--calls-per-second 50]

Prints: webhooks handled, the span they arrived over, webhooks per second over that span,
p50/p99 handling latency, and prober's CPU time per webhook (the capacity on one core).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import Engine, text
from starlette.types import ASGIApp, Receive, Scope, Send

from storage.db import make_engine, upgrade
from tests.support.phone_scene import (
    ACCOUNT,
    Target,
    attempts_of,
    phone_scenario,
    running_prober,
    seed_probes,
)

# Every structure answers, hears the request, and puts the caller on hold for two minutes
# before a colleague picks up: long calls, so that hundreds are under way at once.
WORLD = """
[default]
rings = 2
answer = "human"
greeting = "Mairie, bonjour."

[default.transfer]
hold_s = 120
then = "human"
greeting = "Service état civil, bonjour."
"""
SCENARIO = phone_scenario(
    "transfer",
    request="Bonjour, pourriez-vous me passer le service de l'état civil ?",
    transfer_to="service état civil",
    max_call_seconds=600,
)


class Timer:
    """ASGI middleware: when each request arrived and how long it took to answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.samples: list[tuple[str, float, float]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.samples.append((scope["path"], started, time.perf_counter() - started))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def sandbox_process(folder: Path, time_scale: float, *, world: str = WORLD) -> Iterator[str]:
    """`python -m sandbox` on a free port, living ``world``; its base URL."""
    world_file = folder / "world.toml"
    world_file.write_text(world, encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [
            sys.executable, "-m", "sandbox", "--port", str(port),
            "--account-sid", ACCOUNT.sid, "--auth-token", ACCOUNT.auth_token,
            "--world", str(world_file), "--time-scale", str(time_scale),
            "--calls-per-second", "1000", "--truth", str(folder / "truth.jsonl"),
        ],
    )  # fmt: skip
    # The outside world gets the other cores; prober keeps its one.
    others = os.sched_getaffinity(0) ^ {min(os.sched_getaffinity(0))}
    if others:
        os.sched_setaffinity(process.pid, others)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base_url}/2010-04-01/Accounts/{ACCOUNT.sid}/Calls.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def ended_attempts(engine: Engine) -> int:
    with engine.connect() as connection:
        query = text("SELECT count(*) FROM attempt WHERE ended_at IS NOT NULL")
        return int(connection.execute(query).scalar_one())


def peak_concurrency(samples: list[tuple[str, float, float]]) -> int:
    """The most calls under way at once: each spans its first to its last webhook."""
    spans: dict[str, list[float]] = {}
    for path, started, _ in samples:
        call = path.split("/")[3]  # /twilio/calls/<probe>/<attempt>/<hook>
        spans.setdefault(call, []).append(started)
    edges = sorted(
        [(min(times), 1) for times in spans.values()]
        + [(max(times), -1) for times in spans.values()]
    )
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


async def run(calls: int, time_scale: float, calls_per_second: float, folder: Path) -> None:
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    targets = [Target(f"+3314276{index:04d}", "ask") for index in range(calls)]
    probe_ids = seed_probes(engine, targets, {"ask": phone_scenario("ask", max_call_seconds=120)})
    timers: list[Timer] = []

    def timed(app: ASGIApp) -> ASGIApp:
        timers.append(Timer(app))
        return timers[-1]

    with sandbox_process(folder, time_scale) as sandbox_url:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # prober on one core
        cpu_before = time.process_time()
        async with running_prober(
            engine, sandbox_url, folder / "recordings", time_scale=time_scale,
            calls_per_second=calls_per_second, wrap_app=timed,
        ) as prober:  # fmt: skip
            placed = await asyncio.gather(*(prober.probes.place(probe) for probe in probe_ids))
            deadline = time.monotonic() + 600
            while ended_attempts(engine) < calls:
                if time.monotonic() > deadline:
                    raise SystemExit("gave up: calls still running after 10 minutes")
                await asyncio.sleep(1.0)
            await asyncio.sleep(1.0)  # recording callbacks come after the final status
        cpu_s = time.process_time() - cpu_before
    samples = timers[0].samples
    arrivals = [start for _, start, _ in samples]
    span_s = max(arrivals) - min(arrivals)
    latencies_ms = sorted(duration * 1000 for _, _, duration in samples)
    answered = sum(1 for a in attempts_of(engine, probe_ids) if a.outcome == "answered")
    p99 = latencies_ms[int(len(latencies_ms) * 0.99) - 1]
    print(f"calls placed           {sum(1 for p in placed if p is not None)} ({answered} answered)")
    print(f"calls at once (peak)   {peak_concurrency(samples)}")
    print(f"webhooks handled       {len(samples)}")
    print(f"arrival span           {span_s:.1f} s")
    print(f"webhooks per second    {len(samples) / span_s:.0f} (as the sandbox sent them)")
    print(f"handling latency       p50 {statistics.median(latencies_ms):.1f} ms, p99 {p99:.1f} ms")
    print(f"prober CPU per webhook {cpu_s / len(samples) * 1000:.2f} ms (all of prober's work)")
    print(f"capacity on one core   {len(samples) / cpu_s:.0f} webhooks/s")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS               {peak_mib:.0f} MiB")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--calls-per-second", type=float, default=50.0)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(
            run(arguments.calls, arguments.time_scale, arguments.calls_per_second, Path(folder))
        )


if __name__ == "__main__":
    main()
