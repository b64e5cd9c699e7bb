"""``prober site check``: check structures' websites now and print what each publishes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from channels.web import CheckPolicy, SiteChecker, SiteReport
from config.settings import load_settings
from prober.cli.output import console, print_json_lines, table
from prober.errors import UsageError

site_app = typer.Typer(no_args_is_help=True, help="Websites: check them as a citizen finds them.")


def _resolve_entries(entries: Sequence[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for entry in entries:
        host, sep, address = entry.partition("=")
        if not sep or not host or not address:
            raise UsageError(f"--resolve {entry!r}: expected HOST=ADDRESS, e.g. *.test=127.0.0.1")
        pairs.append((host.strip(), address.strip()))
    return tuple(pairs)


def _urls(urls: Sequence[str], from_file: Path | None) -> list[str]:
    found = list(urls)
    if from_file is not None:
        try:
            lines = from_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--from {from_file}: cannot read it ({exc})") from None
        found += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not found:
        raise UsageError("no URL to check: name some, or pass --from FILE (one URL a line)")
    return found


async def check_all(policy: CheckPolicy, urls: Sequence[str]) -> list[SiteReport]:
    """Check every URL (many sites at once, one request per host at a time), in input order."""
    async with SiteChecker(policy) as checker:
        return list(await asyncio.gather(*(checker.check(url) for url in urls)))


@site_app.command("check")
def site_check(
    urls: Annotated[list[str] | None, typer.Argument(help="Websites to check.")] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from", help="A file of URLs, one a line.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per site.")] = False,
    timeout: Annotated[
        float | None, typer.Option(min=0.1, help="Seconds one request may last ([sites]).")
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option(help="Also trust this CA (PEM), e.g. the sandbox's.")
    ] = None,
    resolve: Annotated[
        list[str] | None,
        typer.Option(help="HOST=ADDRESS (or *.domain=ADDRESS) instead of DNS; repeatable."),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Phone region of national numbers (FR, RE, GP...).")
    ] = None,
    javascript: Annotated[
        bool | None,
        typer.Option(
            "--javascript/--no-javascript", help="Run pages' JavaScript in chromium ([sites])."
        ),
    ] = None,
) -> None:
    """Check websites now: reachability, HTTPS, load time, what they publish."""
    settings = load_settings()
    policy = CheckPolicy.from_settings(settings.sites, base_dir=settings.base_dir)
    changes: dict[str, object] = {}
    if timeout is not None:
        changes["timeout_s"] = timeout
    if ca_file is not None:
        changes["ca_file"] = ca_file
    if resolve:
        changes["resolve"] = policy.resolve + _resolve_entries(resolve)
    if region is not None:
        changes["phone_region"] = region.upper()
    if javascript is not None:
        changes["javascript"] = javascript
    policy = dataclasses.replace(policy, **changes)  # type: ignore[arg-type]
    reports = asyncio.run(check_all(policy, _urls(urls or [], from_file)))
    if as_json:
        print_json_lines(report.to_json() for report in reports)
        return
    console.print(
        table(
            "site",
            "résultat",
            "statut",
            "https (jours)",
            "chargement s",
            "accessibilité",
            "formulaire",
            "téléphones",
            rows=(_row(report) for report in reports),
        )
    )
    for report in reports:
        if report.error:
            console.print(f"{_site_name(report.url)} : {report.error}", markup=False)
    console.print("Courriels, horaires et réseaux sociaux : --json.")


def _site_name(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or url if parts.scheme in {"http", "https"} else url


def _row(report: SiteReport) -> tuple[object, ...]:
    https = "oui" if report.https else "non"
    if report.certificate_days_left is not None:
        https += f" ({report.certificate_days_left})"
    return (
        _site_name(report.url),
        report.outcome,
        report.status,
        https,
        report.load_s,
        report.accessibility,
        "oui" if report.contact_form else "non",
        " ".join(report.phones),
    )
