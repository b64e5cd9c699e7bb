"""Creating waves and storing their plans: the glue between settings, catalogue and planner."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlmodel import Session

from config.errors import ConfigError
from config.personas import load_personas
from config.scenarios import Scenario, load_scenarios, template_path
from config.settings import Settings
from config.territory import normalize_departement
from scheduler.errors import WaveDefinitionError
from scheduler.plan import PlanRules, PlanTarget, Shortfall, plan_wave
from storage.catalog import PersonaRow, ScenarioRow, upsert_personas, upsert_scenarios
from storage.models import Wave
from storage.structures import PANEL_KEYS, planning_rows
from storage.wave_parameters import (
    PlanShortfall,
    WaveCatalogue,
    WaveParameters,
    store_parameters,
    wave_parameters,
)
from storage.waves import create_wave, get_wave, replace_plan

_T = TypeVar("_T")

CHANNELS = ("phone", "email", "letter", "web")
# The contact point each channel needs.
CONTACT_KIND = {"phone": "phone", "email": "email", "letter": "postal", "web": "web"}
# Names appear in file names, sheet titles, URLs and MQTT topics: keep them plain.
WAVE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
WAVE_NAME_RULE = (
    "1 to 64 lower-case letters, digits, '-', '_' or '.', starting with a letter or a digit, "
    "e.g. 2026-pre-elections"
)


@dataclass(frozen=True, slots=True)
class WaveSpec:
    """Everything ``prober wave create`` is told; ``None`` means the settings' default."""

    name: str
    starts_on: date
    ends_on: date
    channels: tuple[str, ...]
    panel: dict[str, list[str]]
    calls_per_structure: int | None = None
    emails_per_structure: int | None = None
    letters_per_structure: int = 1
    site_checks_per_structure: int = 1
    off_hours_calls: int | None = None
    min_spacing_hours: float | None = None
    max_calls_per_minute: int | None = None
    max_emails_per_minute: int | None = None
    scenarios: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    personas: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanReport:
    """What ``prober wave plan`` did."""

    wave: str
    seed: int
    structures: int
    probes: int
    shortfalls: list[Shortfall]


def parse_panel(expressions: list[str]) -> dict[str, list[str]]:
    """``["kind=mairie", "departement=57,974"]`` (or ``;``-joined) → ``{key: [values]}``."""
    panel: dict[str, list[str]] = {}
    for expression in expressions:
        for clause in filter(None, (part.strip() for part in expression.split(";"))):
            if clause == "participants":  # the accepted participants' structures
                clause = "participants=accepted"
            key, sep, values = clause.partition("=")
            key = key.strip()
            if not sep or key not in PANEL_KEYS or not values.strip():
                raise WaveDefinitionError(
                    f"{clause!r}: expected KEY=VALUE[,VALUE...] with KEY one of "
                    f"{', '.join(PANEL_KEYS)}",
                    field="panel",
                )
            panel.setdefault(key, []).extend(
                _panel_value(key, v.strip()) for v in values.split(",") if v.strip()
            )
    return panel


def _panel_value(key: str, value: str) -> str:
    """A panel value written the way import stores it (``2a`` → ``2A``, ``Mairie`` → ``mairie``)."""
    if key == "departement":
        try:
            return normalize_departement(value)
        except ConfigError as exc:
            raise WaveDefinitionError(f"departement={value}: {exc}", field="panel") from None
    return value.lower() if key == "kind" else value


def check_wave_name(name: str) -> None:
    """:class:`WaveDefinitionError` unless ``name`` is a plain slug (``WAVE_NAME_RULE``)."""
    if not WAVE_NAME.fullmatch(name):
        raise WaveDefinitionError(f"{name!r:.80}: expected {WAVE_NAME_RULE}", field="name")


def check_window(starts_on: date, ends_on: date, max_days: int) -> None:
    """:class:`WaveDefinitionError` unless the window holds 1 to ``max_days`` days."""
    if ends_on < starts_on:
        raise WaveDefinitionError(
            f"{ends_on} is before the start {starts_on}: the window would be empty", field="end"
        )
    days = (ends_on - starts_on).days + 1
    if days > max_days:
        raise WaveDefinitionError(
            f"{ends_on} makes a window of {days} days from the start {starts_on}: a wave lasts "
            f"at most {max_days} days (planning.max_wave_days); split it, or raise the setting",
            field="end",
        )


def define_wave(session: Session, settings: Settings, spec: WaveSpec) -> Wave:
    """Validate ``spec`` against the settings and the catalogue files, then store the wave."""
    check_wave_name(spec.name)
    unknown = [c for c in spec.channels if c not in CHANNELS]
    if unknown or not spec.channels:
        raise WaveDefinitionError(
            f"expected a comma-separated list of {', '.join(CHANNELS)}, "
            f"got {','.join(spec.channels) or 'nothing'}",
            field="channels",
        )
    planning = settings.planning
    check_window(spec.starts_on, spec.ends_on, planning.max_wave_days)
    quotas = {
        "phone": _default(spec.calls_per_structure, planning.calls_per_structure),
        "email": _default(spec.emails_per_structure, planning.emails_per_structure),
        "letter": spec.letters_per_structure,
        "web": spec.site_checks_per_structure,
    }
    quotas = {channel: quotas[channel] for channel in spec.channels}
    if any(count < 0 for count in quotas.values()):
        raise WaveDefinitionError("probes per structure cannot be negative", field="quotas")

    scenario_catalogue = load_scenarios(settings.resolve(settings.scenarios_dir))
    persona_catalogue = load_personas(settings.resolve(settings.personas_file))
    chosen_scenarios: dict[str, list[str]] = {}
    for channel in spec.channels:
        wanted = spec.scenarios.get(channel) or sorted(
            s.id for s in scenario_catalogue.values() if s.channel == channel
        )
        if not wanted:
            raise WaveDefinitionError(
                f"no {channel} scenario in {settings.scenarios_dir}: add one, "
                "or drop the channel from the wave's channels",
                field="scenarios",
            )
        for scenario_id in wanted:
            scenario = scenario_catalogue.get(scenario_id)
            if scenario is None or scenario.channel != channel:
                raise WaveDefinitionError(
                    f"{channel}={scenario_id}: no {channel} scenario with that id in "
                    f"{settings.scenarios_dir} (known: "
                    f"{', '.join(sorted(s.id for s in scenario_catalogue.values()))})",
                    field="scenarios",
                )
        chosen_scenarios[channel] = wanted
    extra = set(spec.scenarios) - set(spec.channels)
    if extra:
        raise WaveDefinitionError(
            f"given for {', '.join(sorted(extra))}, which is not among the wave's channels",
            field="scenarios",
        )
    personas = list(spec.personas) or sorted(persona_catalogue)
    missing = [p for p in personas if p not in persona_catalogue]
    if missing or not personas:
        raise WaveDefinitionError(
            f"{', '.join(missing) or '(none)'}: not in {settings.personas_file} "
            f"(known: {', '.join(sorted(persona_catalogue)) or 'none'})",
            field="personas",
        )

    upsert_scenarios(
        session,
        [
            ScenarioRow(
                id=scenario_catalogue[scenario_id].id,
                channel=channel,
                title=scenario_catalogue[scenario_id].title,
                source_path=settings.scenarios_dir / f"{scenario_id}.toml",
                definition=scenario_catalogue[scenario_id].model_dump(mode="json"),
            )
            for channel, ids in chosen_scenarios.items()
            for scenario_id in ids
        ],
    )
    upsert_personas(
        session,
        [
            PersonaRow(
                id=p.id,
                display_name=p.display_name,
                caller_id=p.caller_id,
                reply_mailbox=p.reply_mailbox,
                postal_address=p.postal_address or "",
            )
            for p in (persona_catalogue[persona_id] for persona_id in personas)
        ],
    )
    parameters = WaveParameters(
        quotas=quotas,
        off_hours_calls=_default(spec.off_hours_calls, planning.off_hours_calls_per_structure)
        if "phone" in spec.channels
        else 0,
        min_spacing_hours=_default(spec.min_spacing_hours, planning.min_spacing_hours),
        max_calls_per_minute=_default(spec.max_calls_per_minute, planning.max_calls_per_minute),
        max_emails_per_minute=_default(spec.max_emails_per_minute, planning.max_emails_per_minute),
        closing_margin_minutes=planning.closing_margin_minutes,
        off_hours_window_minutes=planning.off_hours_window_minutes,
        scenarios={channel: tuple(ids) for channel, ids in chosen_scenarios.items()},
        personas=tuple(personas),
        # What the probes will say, frozen with the wave: later edits of the files change nothing.
        catalogue=WaveCatalogue(
            scenarios={
                scenario_id: _scenario_snapshot(scenario_catalogue[scenario_id])
                for ids in chosen_scenarios.values()
                for scenario_id in ids
            },
            personas={
                persona_id: persona_catalogue[persona_id].model_dump(mode="json")
                for persona_id in personas
            },
        ),
    )
    return create_wave(
        session,
        name=spec.name,
        starts_on=spec.starts_on,
        ends_on=spec.ends_on,
        channels=spec.channels,
        panel=spec.panel,
        parameters=parameters,
    )


def _scenario_snapshot(scenario: Scenario) -> dict[str, Any]:
    """The scenario as validated, with the text of each template file it names."""
    snapshot = scenario.model_dump(mode="json")
    for section in ("email", "letter"):
        fields = snapshot.get(section) or {}
        for name in ("subject", "body", "html_body"):
            value = fields.get(name)
            path = template_path(value) if isinstance(value, str) else None
            if path is not None:
                fields[f"{name}_text"] = path.read_text(encoding="utf-8")
    return snapshot


def _default(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def rules_for(wave: Wave, parameters: WaveParameters, seed: int) -> PlanRules:
    """The planner's rules, as stored with the wave."""
    return PlanRules(
        wave=wave.name,
        starts_on=wave.starts_on,
        ends_on=wave.ends_on,
        quotas=dict(parameters.quotas),
        scenarios=dict(parameters.scenarios),
        personas=parameters.personas,
        seed=seed,
        off_hours_calls=parameters.off_hours_calls,
        min_spacing=timedelta(hours=parameters.min_spacing_hours),
        max_calls_per_minute=parameters.max_calls_per_minute,
        max_emails_per_minute=parameters.max_emails_per_minute,
        closing_margin_minutes=parameters.closing_margin_minutes,
        off_hours_window_minutes=parameters.off_hours_window_minutes,
    )


def plan_stored_wave(
    session: Session, name: str, *, max_wave_days: int, seed: int = 0
) -> PlanReport:
    """Plan wave ``name`` over its panel and store the probes (replacing an unstarted plan).

    A wave stored by an older prober with a window over ``max_wave_days`` is refused.
    """
    wave = get_wave(session, name)
    check_window(wave.starts_on, wave.ends_on, max_wave_days)
    parameters = wave_parameters(wave)
    rows = planning_rows(session, wave.panel)
    if not rows:
        raise WaveDefinitionError(
            f"wave {name!r}: its panel {wave.panel or '(all)'} matches no structure; "
            "import some with `prober structures import`"
        )
    targets = [
        PlanTarget(
            structure_id=row.structure_id,
            official_id=row.official_id,
            timezone=row.timezone,
            holiday_subdivision=row.holiday_subdivision,
            opening_hours=row.opening_hours,
            contact_ids={
                channel: row.first_contact_of_kind.get(kind)
                for channel, kind in CONTACT_KIND.items()
            },
        )
        for row in rows
    ]
    plan = plan_wave(targets, rules_for(wave, parameters, seed))
    replace_plan(session, wave, plan.probes, seed=seed)
    shortfalls = tuple(PlanShortfall(**dataclasses.asdict(s)) for s in plan.shortfalls)
    store_parameters(wave, parameters.model_copy(update={"plan_shortfalls": shortfalls}))
    session.add(wave)
    return PlanReport(
        wave=name,
        seed=seed,
        structures=len(targets),
        probes=len(plan.probes),
        shortfalls=plan.shortfalls,
    )
