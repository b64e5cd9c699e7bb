"""How politely and how far a website check goes: ``CheckPolicy``, from the ``[sites]`` settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.settings import SitesSettings

PRODUCT = "prober"


@dataclass(frozen=True)
class CheckPolicy:
    """Limits and manners of a check; the defaults suit a national wave."""

    # Sent with every request: names prober and where a webmaster can reach its operators.
    user_agent: str = f"{PRODUCT}/0.1"
    # One request (connect, headers and body) may last this long; a site that never answers
    # costs this much and no more.
    timeout_s: float = 10.0
    # A whole site (robots.txt, home page, the few linked pages) may last this long.
    site_timeout_s: float = 30.0
    # Bytes read of one page after decompression; the rest is never downloaded.
    max_bytes: int = 2_000_000
    # Pages read per site: the home page and those linked as contact, accessibility...
    max_pages: int = 6
    max_redirects: int = 5
    respect_robots: bool = True
    # Sites checked at once by a SiteChecker (always one request at a time per host).
    concurrency: int = 100
    # Extra certificate authorities to trust (the sandbox's test CA), besides the system's.
    ca_file: Path | None = None
    # Host name -> IP address, like curl's --resolve; "*.example.test" covers its subdomains.
    resolve: tuple[tuple[str, str], ...] = ()
    # Region of national phone numbers written without a country code (FR, RE, GP...).
    phone_region: str = "FR"
    # Run the pages' JavaScript in Debian's chromium (Playwright) before reading them.
    javascript: bool = False
    chromium_path: Path = Path("/usr/bin/chromium")

    @classmethod
    def from_settings(cls, sites: SitesSettings, *, base_dir: Path | None = None) -> CheckPolicy:
        """The policy the ``[sites]`` settings describe; a relative ``ca_file`` is taken
        against ``base_dir`` (the settings file's folder, ``Settings.base_dir``)."""
        ca_file = sites.ca_file
        if ca_file is not None and base_dir is not None and not ca_file.is_absolute():
            ca_file = base_dir / ca_file
        contact = f" (+{sites.contact_url})" if sites.contact_url else ""
        return cls(
            user_agent=f"{PRODUCT}/0.1{contact}",
            timeout_s=sites.timeout_s,
            site_timeout_s=sites.site_timeout_s,
            max_bytes=sites.max_bytes,
            max_pages=sites.max_pages,
            max_redirects=sites.max_redirects,
            respect_robots=sites.respect_robots,
            concurrency=sites.concurrency,
            ca_file=ca_file,
            resolve=tuple(sorted(sites.resolve.items())),
            javascript=sites.javascript,
            chromium_path=sites.chromium_path,
        )

    def address_for(self, host: str) -> str:
        """Where to connect for ``host``: its ``resolve`` entry, else the host itself (DNS)."""
        for name, address in self.resolve:
            if name == host or (name.startswith("*.") and host.endswith(name[1:])):
                return address
        return host
