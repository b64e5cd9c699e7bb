"""Runtime settings: ``prober.toml`` in the working directory, overridden by ``PROBER_*`` variables.

Secrets (Twilio auth token, SMTP, IMAP and MQTT passwords) are read only from the environment
(``PROBER_TWILIO__AUTH_TOKEN``, ...) or from a secrets directory (``PROBER_SECRETS_DIR``: one file
per secret, named like the variable), never from ``prober.toml``, and are never printed: they
are ``SecretStr``. A database URL carrying a password belongs in ``PROBER_DATABASE_URL`` too.
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.errors import SettingsError

CONFIG_FILE_NAME = "prober.toml"
DEFAULT_DATABASE_FILE = "prober.db"

# Keys that hold secrets: refused in prober.toml so that a config file can be shared safely.
SECRET_KEYS: tuple[tuple[str, str], ...] = (
    ("twilio", "auth_token"),
    ("smtp", "password"),
    ("imap", "password"),
    ("mqtt", "password"),
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


_OWN_LEG = re.compile(r"client:[A-Za-z0-9_\-]{1,121}|sip:[^@\s]+@[A-Za-z0-9.\-]+(:\d+)?(;[^\s]*)?")


class TwilioSettings(_Section):
    """Where and as whom phone probes are placed."""

    account_sid: str = ""
    auth_token: SecretStr | None = None
    api_base_url: str = "https://api.twilio.com"
    # Where the Pricing API is (Twilio serves it on its own host); the sandbox serves both.
    pricing_base_url: str = "https://pricing.twilio.com"
    calls_per_second: float = Field(default=1.0, gt=0)
    # The address Twilio reaches prober's web app at (https in production); webhook URLs and
    # their signatures are built on it, so it must be exactly what Twilio requests.
    webhook_base_url: str = ""
    # The text-to-speech voice for what the caller says, e.g. "Polly.Lea"; empty: Twilio's default.
    voice: str = ""
    machine_detection: bool = True
    # Real seconds per call second: 1 against Twilio; the sandbox's --time-scale when it runs
    # calls faster than real time (menu and hold times are measured on prober's clock).
    time_scale: float = Field(default=1.0, gt=0)
    # Record from the first ring: the call is placed to `own_leg`, whose TwiML <Dial>s the
    # structure with record="record-from-ringing-dual" (Twilio records ringing only on <Dial>).
    record_from_ringing: bool = False
    # prober's own leg: a Twilio Client identity ("client:prober") or a SIP URI
    # ("sip:prober@example.sip.twilio.com") that answers at once; required by record_from_ringing.
    own_leg: str = ""

    @field_validator("own_leg")
    @classmethod
    def _own_leg(cls, value: str) -> str:
        value = value.strip()
        if value and not _OWN_LEG.fullmatch(value):
            raise ValueError(
                "expected a Twilio Client identity (client:NAME, letters, digits, _ and -) or a"
                " SIP URI (sip:USER@HOST)"
            )
        return value

    @model_validator(mode="after")
    def _own_leg_when_recording_from_ringing(self) -> TwilioSettings:
        if self.record_from_ringing and not self.own_leg:
            raise ValueError(
                "twilio.record_from_ringing needs twilio.own_leg: the Twilio Client identity"
                " (client:NAME) or SIP URI that the call is placed to before it dials the"
                " structure"
            )
        return self

    @field_validator("api_base_url", "webhook_base_url", "pricing_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")


class SmtpSettings(_Section):
    """The outgoing mail server used for email probes."""

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["plain", "starttls", "tls"] = "plain"
    username: str = ""
    password: SecretStr | None = None


class ImapSettings(_Section):
    """The mailbox where replies to email probes arrive."""

    host: str = "127.0.0.1"
    port: int = Field(default=143, ge=1, le=65535)
    security: Literal["plain", "starttls", "tls"] = "plain"
    username: str = ""
    password: SecretStr | None = None
    mailbox: str = "INBOX"
    processed_folder: str = "prober/processed"
    # A copy of every probe email is kept here (as a mail client would): after a crash it tells
    # whether a probe left. Empty: no copies, and an unconfirmed send is never retried.
    sent_folder: str = "Sent"
    # Seconds between two looks at the mailbox when the server has no IDLE (and IDLE renewals).
    poll_interval_s: float = Field(default=30.0, gt=0)
    # Whether this daemon watches the reply mailbox (and checks it at start-up). With several
    # daemons on one database, exactly one should (PROBER_IMAP__WATCH=false on the others).
    watch: bool = True


class DispatchSettings(_Section):
    """How the daemon carries probes out."""

    # Tries per probe when the structure is busy, does not answer, or the contact failed.
    max_attempts: int = Field(default=3, ge=1, le=10)
    # A retry waits at least this long, and falls in another opening slot.
    retry_delay_minutes: int = Field(default=120, ge=0)
    max_in_flight: int = Field(default=50, ge=1)
    tick_seconds: float = Field(default=1.0, gt=0)
    # A claimed probe whose daemon disappears is given back after this long.
    lease_minutes: int = Field(default=10, ge=1)
    # How often the daemon looks up at Twilio the calls still open well past their time limit
    # (their final status callback was lost) and renews its hold on its calls under way; at
    # most a third of the lease (a shorter lease makes it run more often).
    sweep_seconds: float = Field(default=60.0, gt=0)


class EmailSettings(_Section):
    """How probe emails are written and replies kept."""

    # Add "(réf. TOKEN)" to the subject: replies whose headers and address lost the token match.
    subject_reference: bool = True
    # Larger replies keep their headers and first part; attachments are listed, not stored.
    max_message_bytes: int = Field(default=10_000_000, ge=10_000)
    # Each reply is read in a worker process: one that takes longer, or needs more memory than
    # this above the worker's own, is stored unread (classification "unparsed").
    parse_timeout_s: float = Field(default=30.0, gt=0)
    parse_memory_mb: int = Field(default=512, ge=1)


class MqttSettings(_Section):
    """The MQTT broker events are published to; no host means an in-process bus only."""

    host: str = ""
    port: int = Field(default=1883, ge=1, le=65535)
    username: str = ""
    password: SecretStr | None = None
    topic_prefix: str = "prober"
    # Published messages are deleted from the outbox this long after the broker acknowledged
    # them (the events stay in the event table).
    keep_published_days: int = Field(default=7, ge=1)
    # Several daemons on one database: one at a time relays the outbox, under a lease it renews
    # every third of this; when it dies, another takes over within this long (plus a second).
    relay_lease_seconds: float = Field(default=10.0, ge=1.0, le=600.0)
    # TLS to the broker (usually port 8883): its certificate is checked against ``ca_file`` (or
    # the system's trusted authorities) and must name ``host``. A client certificate is
    # presented when ``cert_file`` and ``key_file`` are set (a broker with require_certificate).
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _tls_files(self) -> MqttSettings:
        named = [name for name in ("ca_file", "cert_file", "key_file") if getattr(self, name)]
        if named and not self.tls:
            raise ValueError(f"{', '.join(named)} set but tls is false: set tls = true")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a client certificate needs both cert_file and key_file")
        return self


class WebSettings(_Section):
    """Where the webhook listener (Twilio's webhooks and /healthz, nothing else) listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class WorkspaceSettings(_Section):
    """Where the workspace listener (results API, auditors' pages; sign-in or token required)
    listens, and how long its sessions live and how it throttles sign-ins."""

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    # A session unused this long is closed; one opened this long ago is closed whatever its use.
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Failed sign-ins within the window: past the first cap for one login, or the second from one
    # address, sign-ins are refused (correct password or not) until the window has slid by.
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    login_failures_per_account: int = Field(default=5, ge=1, le=1000)
    login_failures_per_address: int = Field(default=20, ge=1, le=100000)


class PlanningSettings(_Section):
    """Defaults for wave planning; each can be overridden per wave on the command line."""

    calls_per_structure: int = Field(default=3, ge=0)
    emails_per_structure: int = Field(default=1, ge=0)
    off_hours_calls_per_structure: int = Field(default=0, ge=0)
    min_spacing_hours: float = Field(default=4.0, ge=0)
    max_calls_per_minute: int = Field(default=10, ge=1)
    max_emails_per_minute: int = Field(default=30, ge=1)
    closing_margin_minutes: int = Field(default=15, ge=0, le=240)
    off_hours_window_minutes: int = Field(default=60, ge=5, le=240)
    # Longest wave window, first and last days included: planning holds every day in memory.
    max_wave_days: int = Field(default=366, ge=1, le=3660)


class SitesSettings(_Section):
    """How structures' websites are checked (``prober site check``, web probes)."""

    # Where a webmaster reads who runs prober and why; sent in the User-Agent of every request.
    contact_url: str = ""
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    site_timeout_s: float = Field(default=30.0, gt=0, le=1800)
    max_bytes: int = Field(default=2_000_000, ge=10_000, le=100_000_000)
    max_pages: int = Field(default=6, ge=1, le=50)
    max_redirects: int = Field(default=5, ge=0, le=30)
    respect_robots: bool = True
    concurrency: int = Field(default=100, ge=1, le=5000)
    # Extra certificate authorities (PEM) trusted besides the system's, e.g. the sandbox's.
    ca_file: Path | None = None
    # Host name (or "*.domain") -> IP address, like curl's --resolve; empty: DNS.
    resolve: dict[str, str] = Field(default_factory=dict)
    # Run pages' JavaScript in chromium (Playwright, the "javascript" extra) before reading them.
    javascript: bool = False
    chromium_path: Path = Path("/usr/bin/chromium")


class CostSettings(_Section):
    """What a wave costs beyond the per-minute prices Twilio's Pricing API gives.

    Amounts are in ``currency``, the unit of the account's Twilio prices (Twilio's
    ``price_unit``); defaults are Twilio's list prices and La Poste's stamp, to be adjusted.
    """

    currency: str = Field(default="USD", min_length=3, max_length=3)
    # Answering-machine detection, per call placed with it (twilio.machine_detection).
    amd_per_call: Decimal = Field(default=Decimal("0.0075"), ge=0)
    # Recording, per recorded minute, and keeping it at Twilio, per minute and month.
    recording_per_minute: Decimal = Field(default=Decimal("0.0025"), ge=0)
    recording_storage_per_minute_month: Decimal = Field(default=Decimal("0.0005"), ge=0)
    recording_storage_months: int = Field(default=1, ge=0)
    email_per_message: Decimal = Field(default=Decimal(0), ge=0)
    letter_postage: Decimal = Field(default=Decimal("1.52"), ge=0)
    # Minutes a structure's call lasts, expected, when no past call of it is known: a share of
    # the scenario's time limit (1.0: every call lasts until the limit).
    time_limit_share: float = Field(default=0.5, gt=0, le=1)
    # How often the daemon asks Twilio for the prices of ended calls (Twilio sets a call's price
    # some time after it ends) and checks the waves' budgets.
    price_poll_s: float = Field(default=60.0, gt=0)
    # Ended calls whose price Twilio has not given after this long are not asked again.
    price_wait_hours: float = Field(default=48.0, gt=0)


class AlertSettings(_Section):
    """Where alerts go; the rules themselves are data (``rules_file``)."""

    # The operators' address: every alert raised or cleared is emailed there (through [smtp]).
    operators_email: str = ""
    from_address: str = "prober@localhost"
    # Empty: the rules shipped with prober (config/defaults/alerts.toml).
    rules_file: Path | None = None
    check_interval_s: float = Field(default=60.0, gt=0)


class MeasureSettings(_Section):
    """Which witness rings and hold come from when a call was measured twice."""

    # "audio": the recording's timeline when it covers the interval (recorded from the first
    # ring for rings; from the transfer request on for hold); "callbacks": Twilio's callbacks.
    prefer: Literal["audio", "callbacks"] = "audio"
    # A recording larger than this is not analysed (8 kHz dual 16-bit WAV: ~1.9 MB a minute).
    max_recording_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    # An analysis that takes longer is abandoned (it runs in a worker process).
    analysis_timeout_s: float = Field(default=120.0, gt=0)
    # The two witnesses disagree (the call goes to an auditor) beyond these.
    disagreement_rings: int = Field(default=1, ge=0)
    disagreement_hold_s: float = Field(default=2.0, ge=0)


PeerKey = Literal["kind", "population_band", "region", "departement"]


class ScoringSettings(_Section):
    """How scores are grouped and compared; the criteria themselves live in ``criteria_file``."""

    # Structures are compared with peers sharing these attributes.
    peer_group_by: list[PeerKey] = Field(default=["kind", "population_band"], min_length=1)
    # Population band limits (inhabitants): [2000, 10000, 50000] gives <2k, 2k-10k, 10k-50k, 50k+.
    population_bands: list[int] = Field(default=[2_000, 10_000, 50_000])
    # Fewer scored contacts than this on either side of a comparison: too few to conclude.
    min_sample: int = Field(default=5, ge=1)
    # A peer group smaller than this gets no percentile ranks (only its mean and median).
    min_peers: int = Field(default=3, ge=1)

    @field_validator("population_bands")
    @classmethod
    def _increasing(cls, bands: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(bands)) or any(b <= 0 for b in bands):
            raise ValueError("expected positive, strictly increasing limits, e.g. [2000, 10000]")
        return bands


class ReviewSettings(_Section):
    """Auditors' reviews: the share reviewed blind by two auditors, and the agreement bar."""

    # Share of a wave's reviewable contacts drawn (reproducibly) for a blind double review.
    double_share: float = Field(default=0.10, ge=0, le=1)
    # An auditor agreeing with their partners less often than this (0 to 1) is flagged...
    agreement_threshold: float = Field(default=0.85, ge=0, le=1)
    # ...once they have at least this many double-reviewed judgements.
    agreement_min_pairs: int = Field(default=10, ge=1)


class EnrolmentSettings(_Section):
    """Enrolment of participants through the workspace's public form, and the emails sent."""

    # Last day (included, Europe/Paris) the form takes enrolments; none: open.
    closes_on: date | None = None
    # Free-offer places; confirmed free enrolments are ranked (first-time participants first,
    # then by confirmation time) and only the first ``free_places`` may be accepted. None: no cap.
    free_places: int | None = Field(default=None, ge=0)
    # How long an address-confirmation link and a password invitation link stay valid.
    confirm_hours: int = Field(default=48, ge=1, le=24 * 30)
    invite_hours: int = Field(default=7 * 24, ge=1, le=24 * 90)
    # Base of the links sent by email (e.g. https://barometre.example.fr); empty: the
    # workspace's own http://host:port.
    public_url: str = ""
    from_address: str = "prober@localhost"
    terms_url: str = ""


class Settings(BaseSettings):
    """Every setting prober reads, from ``prober.toml`` then ``PROBER_*`` (``__`` nests)."""

    model_config = SettingsConfigDict(
        env_prefix="PROBER_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    database_url: str = ""
    scenarios_dir: Path = Path("scenarios")
    personas_file: Path = Path("personas.toml")
    criteria_file: Path = Path("criteria.toml")
    # Call recordings and other downloaded evidence, one folder per probe.
    recordings_dir: Path = Path("recordings")
    # Raw replies (.eml), one folder per probe; unmatched ones under "unmatched".
    replies_dir: Path = Path("replies")
    # Printed probe letters (PDF, as posted), one folder per probe.
    letters_dir: Path = Path("letters")
    twilio: TwilioSettings = TwilioSettings()
    smtp: SmtpSettings = SmtpSettings()
    imap: ImapSettings = ImapSettings()
    mqtt: MqttSettings = MqttSettings()
    web: WebSettings = WebSettings()
    workspace: WorkspaceSettings = WorkspaceSettings()
    email: EmailSettings = EmailSettings()
    dispatch: DispatchSettings = DispatchSettings()
    planning: PlanningSettings = PlanningSettings()
    scoring: ScoringSettings = ScoringSettings()
    sites: SitesSettings = SitesSettings()
    costs: CostSettings = CostSettings()
    alerts: AlertSettings = AlertSettings()
    review: ReviewSettings = ReviewSettings()
    enrolment: EnrolmentSettings = EnrolmentSettings()
    measure: MeasureSettings = MeasureSettings()

    # Where the settings were read from; relative paths in the file are relative to its folder.
    base_dir: Path = Field(default=Path(), exclude=True)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("expected a sqlite:/// or postgresql:// URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: explicit arguments, environment, secrets directory, ``prober.toml``."""
        kwargs = init_settings.init_kwargs  # type: ignore[attr-defined]
        toml_file = kwargs.pop("_toml_file", None)
        secrets_dir = kwargs.pop("_prober_secrets_dir", None)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if secrets_dir is not None:
            sources.append(_SecretFilesSource(settings_cls, secrets_dir))
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def resolve(self, path: Path) -> Path:
        """A path from the settings, made absolute against the config file's folder."""
        return path if path.is_absolute() else self.base_dir / path

    @property
    def effective_database_url(self) -> str:
        """The database URL; ``prober.db`` and relative SQLite paths are beside the config file."""
        if not self.database_url:
            return f"sqlite:///{(self.base_dir / DEFAULT_DATABASE_FILE).resolve()}"
        prefix, sep, path = self.database_url.partition(":///")
        if prefix.startswith("sqlite") and sep and path and not path.startswith(("/", ":memory:")):
            return f"{prefix}:///{(self.base_dir / path).resolve()}"
        return self.database_url


class _SecretFilesSource(PydanticBaseSettingsSource):
    """Secrets from files named like their variable (``PROBER_SMTP__PASSWORD``) in one folder.

    ``PROBER_DATABASE_URL`` may be given the same way.
    """

    def __init__(self, settings_cls: type[BaseSettings], directory: Path) -> None:
        super().__init__(settings_cls)
        self.directory = directory

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        url_file = self.directory / "PROBER_DATABASE_URL"
        if url_file.is_file():
            values["database_url"] = url_file.read_text(encoding="utf-8").strip()
        for section, key in SECRET_KEYS:
            path = self.directory / f"PROBER_{section.upper()}__{key.upper()}"
            if path.is_file():
                secret = path.read_text(encoding="utf-8").rstrip("\n")
                values.setdefault(section, {})[key] = secret
        return values


def _refuse_secrets_in_file(path: Path, data: dict[str, Any]) -> None:
    url = data.get("database_url")
    if isinstance(url, str) and "@" in url and ":" in url.partition("@")[0].partition("://")[2]:
        raise SettingsError(
            f"{path}: database_url: a password is not read from the config file; "
            "set the whole URL in PROBER_DATABASE_URL instead"
        )
    for section, key in SECRET_KEYS:
        table = data.get(section)
        if isinstance(table, dict) and key in table:
            variable = f"PROBER_{section.upper()}__{key.upper()}"
            raise SettingsError(
                f"{path}: {section}.{key}: secrets are not read from the config file; "
                f"remove it and set {variable} in the environment (or a secrets file) instead"
            )


def load_settings(
    config_file: Path | None = None,
    *,
    secrets_dir: Path | None = None,
) -> Settings:
    """Read the settings once; the result is passed down, never re-read.

    ``config_file`` defaults to ``PROBER_CONFIG`` or ``./prober.toml`` (optional: without it,
    the defaults and environment apply). Raises :class:`SettingsError` naming the key at fault.
    """
    if config_file is None:
        config_file = Path(os.environ.get("PROBER_CONFIG", CONFIG_FILE_NAME))
    toml_file: Path | None = None
    if config_file.exists():
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config_file}: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{config_file}: cannot be read: {exc}") from exc
        _refuse_secrets_in_file(config_file, data)
        toml_file = config_file
    elif "PROBER_CONFIG" in os.environ:
        raise SettingsError(f"{config_file}: PROBER_CONFIG names a file that does not exist")
    if secrets_dir is None and os.environ.get("PROBER_SECRETS_DIR"):
        secrets_dir = Path(os.environ["PROBER_SECRETS_DIR"])
    kwargs: dict[str, Any] = {
        "_toml_file": toml_file,
        "base_dir": config_file.parent.resolve(),
    }
    if secrets_dir is not None:
        if not secrets_dir.is_dir():
            raise SettingsError(
                f"{secrets_dir}: the secrets directory does not exist: create it or unset "
                "PROBER_SECRETS_DIR"
            )
        kwargs["_prober_secrets_dir"] = secrets_dir
    try:
        return Settings(**kwargs)
    except ValidationError as exc:
        where = config_file if toml_file is not None else "settings"
        lines = [
            f"  {'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            + (f" (got {error['input']!r})" if _shows_input(error) else "")
            for error in exc.errors()
        ]
        raise SettingsError(
            f"{where}: invalid settings (from the file or PROBER_* variables):\n" + "\n".join(lines)
        ) from None


def _shows_input(error: Any) -> bool:
    """Whether the offending value may be echoed: never for a secret field."""
    location = error["loc"]
    return not any(str(part) in {"auth_token", "password"} for part in location) and not isinstance(
        error.get("input"), dict
    )
