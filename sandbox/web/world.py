"""The simulated structures' websites: what each one is, publishes and does wrong.

``showcase_sites()`` holds one site per behaviour (down, slow, redirect loop, expired
certificate, hidden contact page, 50 MB page, HTML bombs, Latin-1 without charset...);
``generated_sites(n)`` makes ``n`` ordinary ones for benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

DOMAIN = "sites.test"

Behaviour = Literal[
    "ok",  # HTTPS, everything published where a town hall's site puts it
    "http_only",  # an old site: plain HTTP, no mobile viewport
    "upgrade",  # asked over http://, redirected to https://
    "moved",  # the directory's address redirects to the structure's new domain
    "down",  # nothing listens: connection refused
    "silent",  # accepts the connection and never answers
    "slow",  # answers the home page after SLOW_S seconds
    "redirect_loop",  # / -> /accueil -> /
    "redirect_chain",  # nine redirects in a row
    "expired_certificate",  # its certificate expired ten days ago
    "expiring_certificate",  # its certificate expires in twelve days
    "phone_differs",  # publishes a number other than the directory's
    "hours_differ",  # publishes opening hours other than the directory's
    "no_statement",  # no accessibility statement, no mention in the footer
    "contact_hidden",  # the contact page is two links deep, under "Vie municipale"
    "obfuscated_email",  # its address is written "accueil [at] mairie-....fr"
    "robots_contact",  # robots.txt forbids prober the contact page
    "server_error",  # the home page answers 503
    "javascript_only",  # an empty shell filled by JavaScript
    "huge",  # a 50 MB home page
    "gzip_bomb",  # a home page that decompresses to 100 MB
    "nesting_bomb",  # 150,000 nested <div> in the home page
    "latin1",  # ISO-8859-1 without any charset declared
    "not_http",  # the directory gives an ftp:// address
]
Level = Literal["totalement conforme", "partiellement conforme", "non conforme"]
# Where a site publishes its opening hours: footer, a page of their own (table), contact page.
Layout = Literal["footer", "hours_page", "contact_page"]

LAYOUTS: tuple[Layout, ...] = ("footer", "hours_page", "contact_page")
SLOW_S = 1.5
HUGE_BYTES = 50_000_000
GZIP_BOMB_BYTES = 100_000_000
NESTING_DEPTH = 150_000

STANDARD_HOURS: tuple[tuple[str, str], ...] = (
    ("Lundi au vendredi", "8h30 – 12h00 et 13h30 – 17h00"),
    ("Samedi", "9h00 – 12h00"),
)
OTHER_HOURS: tuple[tuple[str, str], ...] = (
    ("Lundi, mardi, jeudi", "9h00 – 12h00"),
    ("Mercredi", "fermé"),
    ("Vendredi", "14h00 – 18h00"),
)


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """One structure's website and what the directory says of the structure."""

    slug: str
    town: str
    behaviour: Behaviour
    phone: str  # E.164, as the site publishes it
    email: str
    hours: tuple[tuple[str, str], ...] = STANDARD_HOURS
    accessibility: Level | None = "partiellement conforme"
    layout: Layout = "footer"
    social: tuple[str, ...] = ()
    directory_phone: str = ""
    directory_email: str = ""
    directory_hours: tuple[tuple[str, str], ...] = STANDARD_HOURS
    postcode: str = "67000"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"{self.slug}.{DOMAIN}"

    @property
    def new_host(self) -> str:
        """Where a "moved" site went."""
        return f"nouveau-{self.slug}.{DOMAIN}"

    @property
    def https(self) -> bool:
        return self.behaviour not in {"http_only", "latin1"}

    @property
    def mobile(self) -> bool:
        return self.behaviour not in {"http_only", "latin1"}


def _site(index: int, town: str, behaviour: Behaviour, **changes: object) -> SiteSpec:
    default = "mairie-" + town.lower().replace(" ", "-").replace("'", "-")
    slug = str(changes.pop("slug", default))
    phone = f"+333{88 + index % 10:02d}{100000 + index * 7919 % 900000:06d}"
    email = f"accueil@{slug}.fr"
    spec = SiteSpec(
        slug=slug,
        town=town,
        behaviour=behaviour,
        phone=phone,
        email=email,
        social=(f"https://www.facebook.com/{slug}",) if index % 2 == 0 else (),
        directory_phone=phone,
        directory_email=email,
        layout=LAYOUTS[index % len(LAYOUTS)],
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


def showcase_sites() -> list[SiteSpec]:
    """One site per behaviour, every layout and compliance level among them."""
    towns = [
        ("Saint-Aubin", "ok", {}),
        ("Villeneuve", "ok", {"accessibility": "totalement conforme", "layout": "hours_page"}),
        ("Montfort", "ok", {"accessibility": "non conforme", "layout": "contact_page"}),
        ("Beaulieu", "http_only", {"accessibility": "non conforme", "layout": "footer"}),
        ("Fontaine", "upgrade", {}),
        ("Rochefort", "moved", {}),
        ("Chateauneuf", "down", {}),
        ("Belleville", "silent", {}),
        ("Bourg-la-Reine", "slow", {}),
        ("Clairefontaine", "redirect_loop", {}),
        ("Valmont", "redirect_chain", {}),
        ("Roquebrune", "expired_certificate", {}),
        ("Mirabel", "expiring_certificate", {}),
        ("Sainte-Marie", "phone_differs", {"phone": "+33388990011"}),
        ("Lavaur", "hours_differ", {"hours": OTHER_HOURS, "layout": "footer"}),
        ("Pontoise-le-Petit", "no_statement", {"accessibility": None}),
        ("Hautefort", "contact_hidden", {"layout": "footer"}),
        ("Saint-Just", "obfuscated_email", {"layout": "contact_page"}),
        ("Montbrun", "robots_contact", {"layout": "contact_page"}),
        ("Castelnau", "server_error", {}),
        ("Vauclair", "javascript_only", {}),
        ("Grandpre", "huge", {}),
        ("Bellegarde", "gzip_bomb", {}),
        ("Malbosc", "nesting_bomb", {}),
        ("Sainte-Helene", "latin1", {"layout": "footer"}),
        ("Mortagne", "not_http", {}),
    ]
    return [
        _site(index, town, behaviour, **changes)  # type: ignore[arg-type]
        for index, (town, behaviour, changes) in enumerate(towns)
    ]


ORDINARY: tuple[Behaviour, ...] = (
    "ok",
    "ok",
    "ok",
    "upgrade",
    "http_only",
    "phone_differs",
    "hours_differ",
    "no_statement",
    "contact_hidden",
    "obfuscated_email",
    "moved",
    "server_error",
    "down",
    "latin1",
)


def generated_sites(count: int) -> list[SiteSpec]:
    """``count`` sites with the everyday behaviours (no bombs, nothing slow or silent)."""
    sites = []
    for index in range(count):
        behaviour = ORDINARY[index % len(ORDINARY)]
        changes: dict[str, object] = {"slug": f"mairie-commune-{index:05d}"}
        if behaviour == "phone_differs":
            changes["phone"] = f"+33390{index:06d}"
        if behaviour == "hours_differ":
            changes["hours"] = OTHER_HOURS
        if behaviour == "no_statement":
            changes["accessibility"] = None
        spec = _site(index, f"Commune {index}", behaviour, **changes)
        sites.append(spec)
    return sites
