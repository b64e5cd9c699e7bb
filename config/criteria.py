"""Criteria grids: what is scored on each channel, with the thresholds kept as data.

An *objective* criterion has a rule (``metric op threshold``) evaluated on a measured value; a
*reviewed* criterion is judged by a person and has no rule. Each criterion feeds one index.
"""

from __future__ import annotations

import math
import operator
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from config._tomlfile import (
    FileModel,
    Identifier,
    Text,
    first_duplicate,
    invalid,
    read_toml,
    show,
)
from config.errors import InvalidFileError
from config.scenarios import Channel

GRID_FORMAT_VERSION = 1

Metric = Literal[
    "answered",
    "answered_by_human",
    "rings_to_answer",
    "ring_seconds",
    "menu_seconds",
    "transfer_succeeded",
    "hold_seconds",
    "off_hours_message_gives_hours",
    "email_ack_days",
    "email_reply_working_days",
    "email_bounced",
    "letter_ack_days",
    "letter_reply_working_days",
    "site_reachable",
    "accessibility_statement_published",
    "contact_information_consistent",
    "contact_form",
]
"""The measurable facts a rule can test; scoring computes them from a probe's events."""

METRIC_CHANNELS: Mapping[Metric, Channel] = {
    "answered": "phone",
    "answered_by_human": "phone",
    "rings_to_answer": "phone",
    "ring_seconds": "phone",
    "menu_seconds": "phone",
    "transfer_succeeded": "phone",
    "hold_seconds": "phone",
    "off_hours_message_gives_hours": "phone",
    "email_ack_days": "email",
    "email_reply_working_days": "email",
    "email_bounced": "email",
    "letter_ack_days": "letter",
    "letter_reply_working_days": "letter",
    "site_reachable": "web",
    "accessibility_statement_published": "web",
    "contact_information_consistent": "web",
    "contact_form": "web",
}

BOOLEAN_METRICS: frozenset[Metric] = frozenset(
    {
        "answered",
        "answered_by_human",
        "transfer_succeeded",
        "off_hours_message_gives_hours",
        "email_bounced",
        "site_reachable",
        "accessibility_statement_published",
        "contact_information_consistent",
        "contact_form",
    }
)
"""Yes/no metrics; every other metric is a number."""

Operator = Literal["<", "<=", ">", ">=", "==", "!="]
CriterionKind = Literal["objective", "reviewed"]
ScoreIndex = Literal["accessibility", "responsiveness", "quality"]

_COMPARE: Mapping[Operator, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _threshold(value: object) -> bool | int | float:
    if isinstance(value, bool) or (isinstance(value, int | float) and math.isfinite(value)):
        return value
    raise invalid(f"expected a number or true/false, got {show(value)}")


Threshold = Annotated[bool | int | float, PlainValidator(_threshold)]


class Rule(FileModel):
    """``metric op threshold``, e.g. ``rings_to_answer <= 5``."""

    metric: Metric
    op: Operator
    threshold: Threshold
    unit: str | None = None
    applies_when: Metric | None = None
    """A yes/no metric that must be true for the rule to apply; otherwise 'not applicable'."""

    @model_validator(mode="after")
    def _threshold_suits_metric(self) -> Self:
        if self.metric in BOOLEAN_METRICS:
            if not isinstance(self.threshold, bool):
                raise invalid(
                    f"expected true or false, since {self.metric!r} is a yes/no metric,"
                    f" got {show(self.threshold)}",
                    "threshold",
                )
            if self.op not in ("==", "!="):
                raise invalid(
                    f"expected == or !=, since {self.metric!r} is a yes/no metric, got {self.op!r}",
                    "op",
                )
        elif isinstance(self.threshold, bool):
            raise invalid(
                f"expected a number, since {self.metric!r} is measured as a number,"
                f" got {show(self.threshold)}",
                "threshold",
            )
        if self.applies_when is not None and self.applies_when not in BOOLEAN_METRICS:
            raise invalid(
                "expected a yes/no metric (one of"
                f" {', '.join(sorted(BOOLEAN_METRICS))}), got {self.applies_when!r}",
                "applies_when",
            )
        return self


class Anchors(FileModel):
    """What passes and what fails a reviewed criterion, as behaviours an auditor can check
    (``[criterion.anchors]``: ``passed``, ``failed``, optionally ``not_applicable``)."""

    passed: list[Text] = Field(min_length=1, max_length=20)
    failed: list[Text] = Field(min_length=1, max_length=20)
    not_applicable: list[Text] = Field(default_factory=list, max_length=20)


RECOMMENDATION_FIGURES: Mapping[str, str] = {
    "failed": "contacts that failed the criterion",
    "decided": "contacts judged on it (passed or failed)",
    "passed": "contacts that passed it",
    "share": "the share that failed, in percent (e.g. 70)",
    "threshold": "the rule's threshold (e.g. 5)",
    "unit": "the rule's unit (e.g. sonneries)",
}
"""The figures a recommendation text may name, as ``{failed}``; a report fills them in."""

COUNTED_FIGURES = ("failed", "decided", "passed")
"""The figures a word may agree with: ``{failed:appel|appels}`` is the singular form when
``failed`` is 0 or 1 (French usage), the plural one from 2 on; the number itself is not shown."""


class _Figures(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if "|" in format_spec:
            singular, plural = format_spec.split("|", 1)
            return singular if abs(value) < 2 else plural
        return str(super().format_field(value, format_spec))


def fill_recommendation(text: str, figures: Mapping[str, object]) -> str:
    """A recommendation text with its figures and singular/plural forms filled in."""
    return _Figures().vformat(text, (), figures)


def _placeholders(value: str) -> list[tuple[str, str]]:
    """Each ``{name:spec}`` of ``value`` as (name, spec), those nested in a spec included."""
    found = []
    for _, name, spec, _ in string.Formatter().parse(value):
        if name is None:
            continue
        found.append((name, spec or ""))
        if spec:
            found.extend(_placeholders(spec))
    return found


def _recommendation_text(value: str) -> str:
    try:
        fields = _placeholders(value)
    except ValueError as exc:
        raise invalid(
            f"malformed {{placeholder}} ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    for name, spec in fields:
        if name not in RECOMMENDATION_FIGURES:
            known = ", ".join(f"{{{key}}}" for key in RECOMMENDATION_FIGURES)
            raise invalid(f"unknown figure {{{name}}}: expected one of {known}")
        if "|" not in spec:
            continue
        if name not in COUNTED_FIGURES:
            counted = ", ".join(f"{{{key}}}" for key in COUNTED_FIGURES)
            raise invalid(
                f"{{{name}:{spec}}}: only the counts {counted} take a singular|plural form"
            )
        forms = spec.split("|")
        if len(forms) != 2 or not all(form.strip() for form in forms):
            raise invalid(
                f"{{{name}:{spec}}}: expected two forms, singular then plural, as"
                f" {{{name}:appel|appels}}"
            )
    for count in (1, 2):
        sample = {"failed": count, "decided": count, "passed": count, "share": 50}
        try:
            fill_recommendation(value, {**sample, "threshold": "5", "unit": "jours"})
        except (ValueError, TypeError) as exc:
            raise invalid(f"cannot be filled in ({exc})") from None
    return value


RecommendationText = Annotated[Text, AfterValidator(_recommendation_text)]


class Recommendations(FileModel):
    """What to advise a structure that failed the criterion, keyed by how it failed
    (``[criterion.recommendation]``): ``failed`` when some judged contacts failed,
    ``all_failed`` (optional, else ``failed``) when every one did. Texts may name the figures
    of ``RECOMMENDATION_FIGURES``, filled in per structure, and words agreeing with a count
    (``COUNTED_FIGURES``)."""

    failed: RecommendationText
    all_failed: RecommendationText | None = None

    def text_for(self, *, failed: int, decided: int) -> str:
        """The text that fits how the criterion failed (unfilled)."""
        if failed == decided and self.all_failed is not None:
            return self.all_failed
        return self.failed


class Criterion(FileModel):
    """One scored line of the grid."""

    id: Identifier
    channel: Channel
    kind: CriterionKind
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    title: Text
    index: ScoreIndex
    """The index (accessibility, responsiveness, quality) this criterion feeds."""
    description: str | None = None
    source: str | None = None
    """The commitment the criterion comes from, for reports."""
    rule: Rule | None = None
    anchors: Anchors | None = None
    """Behavioural anchors of a reviewed criterion, shown to auditors beside the verdict."""
    recommendation: Recommendations | None = None
    """What a structure's report advises when the criterion failed."""

    @model_validator(mode="after")
    def _rule_matches_kind_and_channel(self) -> Self:
        if self.kind == "objective" and self.rule is None:
            raise invalid(
                "missing section [criterion.rule]: an objective criterion needs a rule"
                " (or set kind = 'reviewed')",
                "rule",
            )
        if self.kind == "objective" and self.anchors is not None:
            raise invalid(
                "anchors describe what an auditor judges: an objective criterion is judged by"
                " its rule; remove [criterion.anchors] or set kind = 'reviewed'",
                "anchors",
            )
        if self.kind == "reviewed" and self.rule is not None:
            raise invalid(
                "a reviewed criterion is judged by a person and takes no rule;"
                " remove [criterion.rule] or set kind = 'objective'",
                "rule",
            )
        if self.rule is not None:
            for key in ("metric", "applies_when"):
                metric: Metric | None = getattr(self.rule, key)
                if metric is not None and METRIC_CHANNELS[metric] != self.channel:
                    raise invalid(
                        f"expected a metric of the {self.channel} channel, got {metric!r}"
                        f" (measured on {METRIC_CHANNELS[metric]} probes)",
                        "rule",
                        key,
                    )
        return self


class CriteriaGrid(FileModel):
    """A named set of criteria; ``criterion`` in the file, ``criteria`` in code."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    version: int
    name: Text
    criteria: list[Criterion] = Field(alias="criterion", min_length=1)

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != GRID_FORMAT_VERSION:
            raise invalid(
                f"expected {GRID_FORMAT_VERSION} (the grid format this prober reads), got {version}"
            )
        return version

    @field_validator("criteria")
    @classmethod
    def _unique_ids(cls, criteria: list[Criterion]) -> list[Criterion]:
        duplicate = first_duplicate(criterion.id for criterion in criteria)
        if duplicate is not None:
            first, again = duplicate
            raise invalid(
                f"duplicate id {criteria[again].id!r}, already used by criterion[{first}]",
                again,
                "id",
            )
        return criteria

    def for_channel(self, channel: str) -> list[Criterion]:
        """The criteria scored on ``channel``, in file order."""
        return [criterion for criterion in self.criteria if criterion.channel == channel]


def load_criteria(path: Path) -> CriteriaGrid:
    """Read and validate a criteria grid file."""
    document = read_toml(path)
    try:
        return CriteriaGrid.model_validate(document.data)
    except ValidationError as exc:
        raise InvalidFileError(path, document.problems(exc, CriteriaGrid)) from None


def evaluate(rule: Rule, value: float | bool | None) -> bool | None:
    """Whether a measured ``value`` passes ``rule``; None when nothing was measured.

    Raises TypeError when a yes/no rule gets a number or a numeric rule gets a yes/no value,
    rather than comparing ``True <= 5``.
    """
    if value is None:
        return None
    if isinstance(value, bool) != isinstance(rule.threshold, bool):
        raise TypeError(f"{rule.metric} {rule.op} {show(rule.threshold)}: got {show(value)}")
    return bool(_COMPARE[rule.op](value, rule.threshold))
