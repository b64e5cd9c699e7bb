"""What a wave is told beyond its window and panel, stored as JSON with it and read back typed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import col

from storage.errors import StorageError
from storage.models import Wave


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class WaveCatalogue(_Frozen):
    """The scenarios and personas as they were when the wave was created, by id.

    Each is the validated file's content (a scenario with the text of its templates), kept as
    JSON: later edits of the files change nothing for the wave.
    """

    scenarios: dict[str, dict[str, Any]] = Field(default_factory=dict)
    personas: dict[str, dict[str, Any]] = Field(default_factory=dict)


class PlanShortfall(_Frozen):
    """Probes that could not be planned for a structure, and why (kept with the plan)."""

    official_id: str
    channel: str
    wanted: int
    planned: int
    reason: str


class WaveParameters(_Frozen):
    """A wave's quotas, pacing, scenarios and personas, settled when it was created."""

    quotas: dict[str, int]
    """Probes per structure for each channel of the wave (``{"phone": 3, "email": 1}``)."""
    off_hours_calls: int
    min_spacing_hours: float
    max_calls_per_minute: int
    max_emails_per_minute: int
    closing_margin_minutes: int
    off_hours_window_minutes: int
    scenarios: dict[str, tuple[str, ...]]
    """The scenario ids each channel draws from."""
    personas: tuple[str, ...]
    catalogue: WaveCatalogue = WaveCatalogue()
    plan_shortfalls: tuple[PlanShortfall, ...] = ()
    """What the last ``wave plan`` could not place."""


class WaveParametersError(StorageError):
    """A wave's stored parameters cannot be read (written by hand, or by a much older prober)."""


def wave_parameters(wave: Wave) -> WaveParameters:
    """The wave's parameters, typed; :class:`WaveParametersError` names the wave and the field."""
    try:
        return WaveParameters.model_validate(wave.parameters)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "parameters"
        raise WaveParametersError(
            f"wave {wave.name!r}: its stored parameters are unreadable ({field}: {error['msg']});"
            " create the wave again"
        ) from None


def wave_catalogue(wave: Wave) -> WaveCatalogue:
    """The scenarios and personas frozen with the wave (empty for a wave stored without)."""
    return catalogue_of(wave.parameters.get("catalogue"))


def catalogue_of(stored: Any) -> WaveCatalogue:
    """A wave's frozen catalogue from its stored ``catalogue`` parameter (None: empty)."""
    return WaveCatalogue.model_validate(stored or {})


def wave_parameter(key: str) -> Any:
    """One top-level parameter of a wave, read in the database (``select(wave_parameter(…))``):
    the parameters of a planned national wave hold megabytes of shortfalls, which what runs for
    every probe must not load and parse."""
    return col(Wave.parameters)[key]


def store_parameters(wave: Wave, parameters: WaveParameters) -> None:
    """Replace the wave's stored parameters (the caller adds the wave to its session)."""
    wave.parameters = parameters.model_dump(mode="json")
