"""Scenario files: what the mystery citizen does on one channel (one ``<id>.toml`` per scenario).

A scenario has exactly one section, named after its channel: ``[phone]`` holds the call script,
``[email]`` and ``[letter]`` hold Jinja2 templates (inline text, or a ``.j2`` file relative to the
scenario file), ``[web]`` marks a visit of the structure's website. Templates are not rendered
here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, model_validator

from config._tomlfile import FileModel, Identifier, Text, invalid, read_toml, show
from config.errors import ConfigError, InvalidFileError, Problem

Channel = Literal["phone", "email", "letter", "web"]
"""The ways a mystery citizen contacts a structure."""

CHANNELS: tuple[Channel, ...] = ("phone", "email", "letter", "web")

TEMPLATE_SUFFIX = ".j2"

_DTMF = re.compile(r"[0-9*#w]+")
_LANGUAGE = re.compile(r"[a-z]{2}(?:-[A-Z]{2})?")


def _dtmf(value: str) -> str:
    if not _DTMF.fullmatch(value):
        raise invalid(
            f"expected keypad digits 0-9, * or #, and w for a half-second pause, got {show(value)}"
        )
    return value


def _language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise invalid(f"expected a language code like 'fr' or 'fr-FR', got {show(value)}")
    return value


def _names_template_file(text: str) -> bool:
    return "\n" not in text and text.strip().endswith(TEMPLATE_SUFFIX)


def _template(value: str, info: ValidationInfo) -> str:
    """Inline template text is kept; a ``.j2`` file name must exist and becomes absolute."""
    if not value.strip():
        raise invalid("expected non-empty template text, or a .j2 file name")
    if not _names_template_file(value):
        return value
    base_dir = (info.context or {}).get("base_dir")
    path = Path(value.strip())
    if base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise invalid(
            f"template file {str(path)!r} not found (a value ending in {TEMPLATE_SUFFIX} names a"
            " file relative to the scenario file; anything else is inline template text)"
        )
    return str(path.resolve())


Template = Annotated[str, AfterValidator(_template)]
"""Jinja2 text, or the absolute path of a ``.j2`` file once loaded (see ``template_path``)."""


def template_path(template: str) -> Path | None:
    """The file a template value names, or None when the value is inline template text."""
    return Path(template.strip()) if _names_template_file(template) else None


class PhoneScript(FileModel):
    """What the caller does and says during a phone probe."""

    request: Text
    """What the caller asks, in the caller's words."""
    transfer_to: Text | None = None
    """The service the caller asks to be transferred to, if any."""
    max_ring_seconds: int = Field(default=60, ge=5, le=300)
    """Hang up after ringing this long without an answer."""
    max_call_seconds: int = Field(default=300, ge=10, le=3600)
    ivr_choice: Annotated[str, AfterValidator(_dtmf)] | None = None
    """Keypad digits to press at a voice menu."""
    record: bool = True


class EmailTemplate(FileModel):
    """The email a mystery citizen sends."""

    subject: Text
    body: Template
    html_body: Template | None = None


class LetterTemplate(FileModel):
    """The letter a mystery citizen posts."""

    body: Template


class WebVisit(FileModel):
    """A visit of a structure's website: how it is checked is the ``[sites]`` settings' business
    (the same for every wave), so the section holds nothing yet."""


class Scenario(FileModel):
    """One scripted request on one channel; the section named after ``channel`` holds it."""

    id: Identifier
    channel: Channel
    title: Text
    description: str | None = None
    language: Annotated[str, AfterValidator(_language)] = "fr"
    phone: PhoneScript | None = None
    email: EmailTemplate | None = None
    letter: LetterTemplate | None = None
    web: WebVisit | None = None

    @model_validator(mode="after")
    def _section_matches_channel(self) -> Self:
        for channel in CHANNELS:
            present = getattr(self, channel) is not None
            if channel == self.channel and not present:
                raise invalid(
                    f"missing section [{channel}]: a scenario with channel = {channel!r} needs it",
                    channel,
                )
            if channel != self.channel and present:
                raise invalid(
                    f"section [{channel}] is not allowed when channel = {self.channel!r};"
                    f" remove it or set channel = {channel!r}",
                    channel,
                )
        return self


class ScenarioDirectoryError(ConfigError):
    """Some scenario files of a directory are invalid; none of the directory was loaded."""

    def __init__(self, directory: Path, errors: list[InvalidFileError]) -> None:
        self.directory = directory
        self.errors = errors
        listing = "\n".join(str(error) for error in errors)
        super().__init__(
            f"{directory}: {len(errors)} invalid scenario file(s), no scenario was loaded:\n"
            f"{listing}"
        )


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file; its ``id`` must be the file name without ``.toml``."""
    document = read_toml(path)
    problems: list[Problem] = []
    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(document.data, context={"base_dir": path.parent})
    except ValidationError as exc:
        problems = document.problems(exc, Scenario)
    written_id = document.data.get("id")
    if isinstance(written_id, str) and written_id != path.stem:
        problems.append(
            document.problem(
                f"expected the file name without .toml, {path.stem!r}, got {written_id!r};"
                " rename the file or change the id",
                ("id",),
            )
        )
    if problems or scenario is None:
        raise InvalidFileError(path, problems)
    return scenario


def load_scenarios(directory: Path) -> dict[str, Scenario]:
    """Load every ``*.toml`` of ``directory``, by id; any invalid file rejects the whole directory.

    Raises ScenarioDirectoryError listing the problems of every invalid file, and ConfigError
    when the directory does not exist.
    """
    if not directory.is_dir():
        raise ConfigError(
            f"{directory}: scenario directory not found; run `prober init` to create one with"
            " example scenarios, or point the settings at an existing directory"
        )
    scenarios: dict[str, Scenario] = {}
    errors: list[InvalidFileError] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            scenario = load_scenario(path)
        except InvalidFileError as exc:
            errors.append(exc)
        else:
            scenarios[scenario.id] = scenario
    if errors:
        raise ScenarioDirectoryError(directory, errors)
    return scenarios
