"""Reading TOML input files and turning validation errors into located, human problems.

Shared by the scenario, persona and criteria loaders; not part of the package's public surface.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from config.errors import InvalidFileError, Problem

Loc = tuple[str | int, ...]

ERROR_TYPE = "prober_config"


class FileModel(BaseModel):
    """Base of the models read from input files: unknown keys refused, values immutable.

    ``strict`` because TOML values are typed: ``record = "yes"`` or ``weight = "2"`` is a mistake
    worth reporting, not something to coerce.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def invalid(message: str, *at: str | int) -> PydanticCustomError:
    """A validation error for a validator to raise; ``at`` locates it below the validated value.

    A model validator sees the whole model, so without ``at`` its error would point at the
    table rather than at the key that is wrong.
    """
    return PydanticCustomError(ERROR_TYPE, message, {"at": at})


def show(value: object) -> str:
    """A value as it would be written in TOML, shortened, for 'got ...' in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_IDENTIFIER = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


def _identifier(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise invalid(
            "expected an identifier of lowercase letters and digits, separated by '-', '_' or '.'"
            f" (like 'etat-civil-phone'), got {show(value)}"
        )
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise invalid("expected non-empty text")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
"""A stable id used in file names, URLs and reports: ``marie-dupont``, ``phone.answered``."""

Text = Annotated[str, AfterValidator(_text)]
"""Text that must not be empty or blank."""


def first_duplicate(ids: Iterable[str]) -> tuple[int, int] | None:
    """Indexes of the first entry whose id repeats an earlier one, and of that earlier one."""
    seen: dict[str, int] = {}
    for index, identifier in enumerate(ids):
        if identifier in seen:
            return seen[identifier], index
        seen[identifier] = index
    return None


def format_loc(loc: Loc) -> str:
    """``("criterion", 3, "rule", "threshold")`` -> ``criterion[3].rule.threshold``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# --- locating keys in the TOML text -----------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')"""
_KEY = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=(.*)$")


def _split_key(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in re.findall(_KEY_PART, dotted))


def _key_lines(text: str) -> dict[Loc, int]:
    """Map key paths (as pydantic locates them) to the 1-based line that defines them.

    A cheap line scanner, not a parser: it follows table headers, arrays of tables and dotted
    keys, and skips multi-line strings. Keys inside inline tables and arrays are not indexed;
    callers fall back to the nearest indexed parent.
    """
    lines: dict[Loc, int] = {}
    array_lengths: dict[Loc, int] = {}
    table: Loc = ()
    open_string: str | None = None

    def resolve(parts: tuple[str, ...]) -> Loc:
        path: Loc = ()
        for part in parts:
            path = (*path, part)
            if path in array_lengths:
                path = (*path, array_lengths[path] - 1)
        return path

    for number, line in enumerate(text.splitlines(), start=1):
        if open_string is not None:
            if line.count(open_string) % 2 == 1:
                open_string = None
            continue
        header = _HEADER.match(line)
        if header:
            parts = _split_key(header.group(2))
            if header.group(1) == "[[":
                parent = resolve(parts[:-1])
                array = (*parent, parts[-1])
                array_lengths[array] = array_lengths.get(array, 0) + 1
                lines.setdefault(array, number)
                table = (*array, array_lengths[array] - 1)
            else:
                table = resolve(parts)
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault((*table, *_split_key(key.group(1))), number)
            value = key.group(2)
            for quote in ('"""', "'''"):
                if value.count(quote) % 2 == 1:
                    open_string = quote
                    break
    return lines


# --- reading and validating -------------------------------------------------------------------

_DECODE_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


@dataclass(frozen=True)
class TomlDocument:
    """A parsed TOML file, with what is needed to say where a key is."""

    path: Path
    data: dict[str, Any]
    key_lines: dict[Loc, int] = field(repr=False)

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc``, else of its nearest parent found in the text, else None."""
        for end in range(len(loc), 0, -1):
            line = self.key_lines.get(loc[:end])
            if line is not None:
                return line
        return None

    def problem(self, message: str, loc: Loc) -> Problem:
        """A problem located at key path ``loc``."""
        return Problem(message=message, line=self.line_of(loc), column=format_loc(loc) or None)

    def problems(self, error: ValidationError, model: type[BaseModel]) -> list[Problem]:
        """Every error of ``error`` (raised validating ``model``) as a located problem."""
        problems = []
        for details in error.errors(include_url=False):
            loc: Loc = tuple(details["loc"])
            if details["type"] == ERROR_TYPE:
                loc = (*loc, *(details.get("ctx") or {}).get("at", ()))
            problems.append(self.problem(describe(details, model, loc), loc))
        return sorted(problems, key=lambda problem: problem.line or 0)


def read_toml(path: Path) -> TomlDocument:
    """Read and parse a TOML file; unreadable or malformed files raise InvalidFileError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidFileError(path, [Problem("file not found")]) from None
    except UnicodeDecodeError as exc:
        raise InvalidFileError(
            path, [Problem(f"expected UTF-8 text, found byte {exc.object[exc.start]:#04x}")]
        ) from None
    except OSError as exc:
        raise InvalidFileError(path, [Problem(f"cannot be read: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no lineno attribute: the position is in the message.
        message = str(exc)
        position = _DECODE_POSITION.search(message)
        line = None
        if position:
            message = f"{message[: position.start()]} (column {position.group(2)})"
            line = int(position.group(1))
        raise InvalidFileError(path, [Problem(f"not valid TOML: {message}", line=line)]) from None
    return TomlDocument(path=path, data=data, key_lines=_key_lines(text))


# --- describing validation errors -------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` around a type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _model_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _type_at(model: type[BaseModel], loc: Loc) -> Any:
    """The declared type found at ``loc`` inside ``model``, or None if it cannot be followed."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            if get_origin(current) is not list:
                return None
            current = get_args(current)[0]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            fields = _model_fields(current)
            if part not in fields:
                return None
            current = fields[part]
        else:
            return None
    return _unwrap(current)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def describe(details: ErrorDetails, model: type[BaseModel], loc: Loc) -> str:
    """Say in human words what was expected where pydantic found a problem."""
    kind = details["type"]
    ctx = details.get("ctx") or {}
    got = show(details["input"])
    key = str(loc[-1]) if loc and isinstance(loc[-1], str) else ""
    if kind == "missing":
        expected = _type_at(model, loc)
        if get_origin(expected) is list and _is_model(_unwrap(get_args(expected)[0])):
            return f"missing: add at least one [[{format_loc(loc)}]] table"
        if _is_model(expected):
            return f"missing section [{format_loc(loc)}]"
        return f"missing required key '{key}'"
    if kind == "extra_forbidden":
        parent = _type_at(model, loc[:-1])
        allowed = sorted(_model_fields(parent)) if _is_model(parent) else []
        guess = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{guess[0]}'? " if guess else ""
        return f"unknown key '{key}'; {hint}expected one of: {', '.join(allowed)}"
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace(" or ", ", ").replace("'", "")
        return f"expected one of {choices}, got {got}"
    simple = {
        "string_type": "text in quotes",
        "int_type": "a whole number",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "bool_type": "true or false",
        "model_type": "a table",
        "dict_type": "a table",
        "list_type": "an array",
    }
    if kind in simple:
        return f"expected {simple[kind]}, got {got}"
    bounds = {
        "greater_than": ("greater than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        limit = ctx.get(key)
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"expected a number {words} {limit}, got {got}"
    if kind == "finite_number":
        return f"expected a finite number, got {got}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "value_error":
        return str(details["msg"]).removeprefix("Value error, ")
    return str(details["msg"])
