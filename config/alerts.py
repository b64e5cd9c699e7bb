"""Alert rules: which conditions to tell operators of, with their thresholds, kept as data.

A rules file holds ``[[rule]]`` tables; each names a ``check`` prober knows how to run and
its thresholds. Shipped defaults: config/defaults/alerts.toml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from config._tomlfile import FileModel, Identifier, Text, first_duplicate, invalid, read_toml
from config.errors import InvalidFileError
from config.shipped import shipped_path

Check = Literal[
    "number_not_in_service",
    "address_bouncing",
    "structure_unreachable",
    "twilio_error_rate",
    "imap_unreachable",
    "wave_behind_schedule",
    "budget_reached",
]
Severity = Literal["info", "warning", "critical"]


class AlertRule(FileModel):
    """One rule: its check, how severe, the operator's message and the check's thresholds."""

    id: Identifier
    check: Check
    severity: Severity = "warning"
    message: Text
    min_attempts: int = Field(default=1, ge=1, le=100)
    window_minutes: int = Field(default=60, ge=1, le=10_080)
    min_calls: int = Field(default=10, ge=1)
    threshold: float = Field(default=0.2, gt=0, le=1)
    lag_minutes: int = Field(default=30, ge=0)
    min_probes: int = Field(default=1, ge=1)


class _RulesFile(FileModel):
    rule: list[AlertRule] = Field(default_factory=list)

    @field_validator("rule")
    @classmethod
    def _unique_ids(cls, rules: list[AlertRule]) -> list[AlertRule]:
        duplicate = first_duplicate(rule.id for rule in rules)
        if duplicate is not None:
            first, again = duplicate
            raise invalid(
                f"duplicate id {rules[again].id!r}, already used by rule[{first}]", again, "id"
            )
        return rules


def default_rules_path() -> Path:
    return shipped_path("alerts.toml")


def load_alert_rules(path: Path | None = None) -> list[AlertRule]:
    """Read and validate a rules file (the shipped one when ``path`` is None)."""
    path = path or default_rules_path()
    document = read_toml(path)
    try:
        rules = _RulesFile.model_validate(document.data)
    except ValidationError as exc:
        raise InvalidFileError(path, document.problems(exc, _RulesFile)) from None
    return rules.rule
