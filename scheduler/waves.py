"""Creating waves and storing their plans: the glue between settings, catalogue and planner."""

from __future__ import annotations

import dataclasses
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
from storage.waves import create_wave, get_wave, replace_plan

_T = TypeVar("_T")

CHANNELS = ("phone", "email", "letter")
# The contact point each channel needs.
CONTACT_KIND = {"phone": "phone", "email": "email", "letter": "postal"}


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
            key, sep, values = clause.partition("=")
            key = key.strip()
            if not sep or key not in PANEL_KEYS or not values.strip():
                raise WaveDefinitionError(
                    f"--panel {clause!r}: expected KEY=VALUE[,VALUE...] with KEY one of "
                    f"{', '.join(PANEL_KEYS)}"
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
            raise WaveDefinitionError(f"--panel departement={value}: {exc}") from None
    return value.lower() if key == "kind" else value


def define_wave(session: Session, settings: Settings, spec: WaveSpec) -> Wave:
    """Validate ``spec`` against the settings and the catalogue files, then store the wave."""
    unknown = [c for c in spec.channels if c not in CHANNELS]
    if unknown or not spec.channels:
        raise WaveDefinitionError(
            f"--channels: expected a comma-separated list of {', '.join(CHANNELS)}, "
            f"got {','.join(spec.channels) or 'nothing'}"
        )
    if spec.ends_on < spec.starts_on:
        raise WaveDefinitionError(
            f"--end {spec.ends_on} is before --start {spec.starts_on}: the window would be empty"
        )
    planning = settings.planning
    quotas = {
        "phone": _default(spec.calls_per_structure, planning.calls_per_structure),
        "email": _default(spec.emails_per_structure, planning.emails_per_structure),
        "letter": spec.letters_per_structure,
    }
    quotas = {channel: quotas[channel] for channel in spec.channels}
    if any(count < 0 for count in quotas.values()):
        raise WaveDefinitionError("probes per structure cannot be negative")

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
                "or drop the channel from --channels"
            )
        for scenario_id in wanted:
            scenario = scenario_catalogue.get(scenario_id)
            if scenario is None or scenario.channel != channel:
                raise WaveDefinitionError(
                    f"--scenario {channel}={scenario_id}: no {channel} scenario with that id in "
                    f"{settings.scenarios_dir} (known: "
                    f"{', '.join(sorted(s.id for s in scenario_catalogue.values()))})"
                )
        chosen_scenarios[channel] = wanted
    extra = set(spec.scenarios) - set(spec.channels)
    if extra:
        raise WaveDefinitionError(
            f"--scenario given for {', '.join(sorted(extra))}, which is not in --channels"
        )
    personas = list(spec.personas) or sorted(persona_catalogue)
    missing = [p for p in personas if p not in persona_catalogue]
    if missing or not personas:
        raise WaveDefinitionError(
            f"--persona {', '.join(missing) or '(none)'}: not in {settings.personas_file} "
            f"(known: {', '.join(sorted(persona_catalogue)) or 'none'})"
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
    parameters: dict[str, Any] = {
        "quotas": quotas,
        "off_hours_calls": _default(spec.off_hours_calls, planning.off_hours_calls_per_structure)
        if "phone" in spec.channels
        else 0,
        "min_spacing_hours": _default(spec.min_spacing_hours, planning.min_spacing_hours),
        "max_calls_per_minute": _default(spec.max_calls_per_minute, planning.max_calls_per_minute),
        "max_emails_per_minute": _default(
            spec.max_emails_per_minute, planning.max_emails_per_minute
        ),
        "closing_margin_minutes": planning.closing_margin_minutes,
        "off_hours_window_minutes": planning.off_hours_window_minutes,
        "scenarios": chosen_scenarios,
        "personas": personas,
        # What the probes will say, frozen with the wave: later edits of the files change nothing.
        "catalogue": {
            "scenarios": {
                scenario_id: _scenario_snapshot(scenario_catalogue[scenario_id])
                for ids in chosen_scenarios.values()
                for scenario_id in ids
            },
            "personas": {
                persona_id: persona_catalogue[persona_id].model_dump(mode="json")
                for persona_id in personas
            },
        },
    }
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


def rules_for(wave: Wave, seed: int) -> PlanRules:
    """The planner's rules, as stored with the wave."""
    p = wave.parameters
    return PlanRules(
        wave=wave.name,
        starts_on=wave.starts_on,
        ends_on=wave.ends_on,
        quotas={channel: int(count) for channel, count in p["quotas"].items()},
        scenarios={channel: tuple(ids) for channel, ids in p["scenarios"].items()},
        personas=tuple(p["personas"]),
        seed=seed,
        off_hours_calls=int(p["off_hours_calls"]),
        min_spacing=timedelta(hours=float(p["min_spacing_hours"])),
        max_calls_per_minute=int(p["max_calls_per_minute"]),
        max_emails_per_minute=int(p["max_emails_per_minute"]),
        closing_margin_minutes=int(p["closing_margin_minutes"]),
        off_hours_window_minutes=int(p["off_hours_window_minutes"]),
    )


def plan_stored_wave(session: Session, name: str, *, seed: int = 0) -> PlanReport:
    """Plan wave ``name`` over its panel and store the probes (replacing an unstarted plan)."""
    wave = get_wave(session, name)
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
    plan = plan_wave(targets, rules_for(wave, seed))
    replace_plan(session, wave, plan.probes, seed=seed)
    wave.parameters = {
        **wave.parameters,
        "plan_shortfalls": [dataclasses.asdict(s) for s in plan.shortfalls],
    }
    session.add(wave)
    return PlanReport(
        wave=name,
        seed=seed,
        structures=len(targets),
        probes=len(plan.probes),
        shortfalls=plan.shortfalls,
    )
