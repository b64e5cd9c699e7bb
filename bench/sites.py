"""Website checks at national scale: 5,000 sandbox sites checked, throughput and memory printed,
extrapolated to the 35,000 sites of a national wave (goal: under an hour).

The sites are served by ``python -m sandbox.web`` in a child process (its CPU is not counted);
prober checks them with one ``SiteChecker``: ``--concurrency`` sites at once, one request per
host at a time. Every report is compared with the sandbox's ground truth.

    .venv/bin/python bench/sites.py [--sites 5000] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from channels.web import CheckPolicy, SiteChecker, SiteReport

NATIONAL_SITES = 35_000
# Checking a real site takes longer than a loopback one: its round trips. A typical town hall's
# site answers in 0.3 s a request and a check makes about 5 (robots.txt, home, 3 linked pages).
REAL_SITE_S = 5 * 0.3


def _differences(report: SiteReport, truth: dict[str, object]) -> dict[str, object]:
    """The fields of ``report`` that differ from the truth: {field: (found, expected)}."""
    found = report.to_json() | {"outcome": report.outcome}
    expected = dict(truth["expected"]) | {"outcome": truth["outcome"]}  # type: ignore[call-overload]
    load_s, _ = found.pop("load_s"), expected.pop("load_s")
    differences: dict[str, object] = {
        k: (found[k], v) for k, v in expected.items() if found[k] != v
    }
    if (load_s is None) != (truth["min_load_s"] is None):
        differences["load_s"] = (load_s, truth["min_load_s"])
    return differences


async def check_all(policy: CheckPolicy, urls: list[str]) -> tuple[list[SiteReport], float]:
    async with SiteChecker(policy) as checker:
        started = time.monotonic()
        reports = await asyncio.gather(*(checker.check(url) for url in urls))
        return list(reports), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=100)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        info_file = Path(folder) / "sites.json"
        command = [sys.executable, "-m", "sandbox.web", "--count", str(arguments.sites)]
        server = subprocess.Popen(  # noqa: S603 (this interpreter, our own module)
            [*command, "--info", str(info_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            if server.stdout is None or server.stdout.readline() != b"ready\n":
                raise SystemExit("the sandbox's sites did not start")
            info = json.loads(info_file.read_text(encoding="utf-8"))
            policy = CheckPolicy(
                timeout_s=10.0,
                concurrency=arguments.concurrency,
                ca_file=Path(info["ca_file"]),
                resolve=tuple(info["resolve"].items()),
            )
            truths = info["sites"]
            urls = [truth["expected"]["url"] for truth in truths]
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            reports, wall_s = asyncio.run(check_all(policy, urls))
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=60)
        server_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    differing = [
        (report, differences)
        for report, truth in zip(reports, truths, strict=True)
        if (differences := _differences(report, truth))
    ]
    matching = len(reports) - len(differing)
    outcomes: dict[str, int] = {}
    for report in reports:
        outcomes[report.outcome] = outcomes.get(report.outcome, 0) + 1
    count = len(reports)
    print(
        f"sites checked            {count} ({arguments.concurrency} at once, one request per host)"
    )
    print(f"outcomes                 {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}")
    print(f"equal to ground truth    {matching}/{count}")
    for report, differences in differing[:5]:
        print(f"  differs: {report.url} {report.error or ''} {differences}")
    print(f"wall time                {wall_s:.1f} s  ({count / wall_s:.0f} sites/s)")
    print(f"prober CPU               {cpu_s:.1f} s  ({1000 * cpu_s / count:.1f} ms a site)")
    print(f"sandbox CPU (not ours)   {server_cpu.ru_utime + server_cpu.ru_stime:.1f} s")
    print(f"prober peak memory       {cpu_after.ru_maxrss / 1024:.0f} MB (max RSS)")
    cpu_bound_s = NATIONAL_SITES * cpu_s / count
    latency_bound_s = NATIONAL_SITES * REAL_SITE_S / arguments.concurrency
    print(
        f"35,000 sites             ~{max(cpu_bound_s, latency_bound_s) / 60:.0f} min "
        f"(CPU {cpu_bound_s / 60:.1f} min on one core; real round trips "
        f"{NATIONAL_SITES} x {REAL_SITE_S:g} s / {arguments.concurrency} "
        f"= {latency_bound_s / 60:.1f} min)"
    )


if __name__ == "__main__":
    main()
