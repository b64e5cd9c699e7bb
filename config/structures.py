"""Structure files: prober's own CSV and the Service-Public.fr directory (annuaire) JSON.

Every row is checked in full: it becomes a :class:`StructureRecord`, or a :class:`RejectedRow`
listing all its problems so that one pass over the file shows everything to fix. A file that
cannot be read at all raises :class:`~config.errors.InvalidFileError`.

CSV contract (other tools rely on it): UTF-8 (a BOM is accepted), comma-separated, a header row
with the columns ``official_id,name,kind,departement`` (required) and ``population,phone,email,
postal_address,website,opening_hours`` (optional); ``phone`` and ``email`` may hold several values
separated by ``|``. A ``reason`` column, as written by :func:`write_rejected`, is ignored so that a
corrected rejects file can be imported again.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, cast
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from config.cells import SafeCsvWriter, read_cell
from config.errors import InvalidFileError, Problem
from config.opening_hours import (
    OpeningHoursError,
    opening_hours_from_annuaire,
    parse_opening_hours,
)
from config.territory import (
    Territory,
    UnknownDepartementError,
    departement_of_commune,
    territory_for,
)

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

ContactKind = Literal["phone", "email", "postal", "web"]
FileFormat = Literal["csv", "annuaire"]

REQUIRED_COLUMNS = ("official_id", "name", "kind", "departement")
OPTIONAL_COLUMNS = ("population", "phone", "email", "postal_address", "website", "opening_hours")
REASON_COLUMN = "reason"
MULTI_VALUE_SEPARATOR = "|"


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One way to reach a structure; ``value`` is normalized (E.164 phone, normalized email)."""

    kind: ContactKind
    value: str
    label: str


MAX_LENGTHS: dict[str, int] = {
    "official_id": 64,
    "name": 300,
    "kind": 64,
    "opening_hours": 1000,
    "opening_hours_note": 2000,
    "contact_value": 500,
    "contact_label": 200,
}
"""Longest value each field may hold; the database columns are sized from this table."""


@dataclass(frozen=True, slots=True)
class StructureRecord:
    """A valid structure read from a file, with its territory's rules resolved."""

    official_id: str
    name: str
    kind: str
    departement: str
    region: str
    timezone: str
    holiday_subdivision: str | None
    population: int | None
    opening_hours: str | None
    opening_hours_note: str
    contacts: tuple[ContactRecord, ...]
    source_line: int


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row or record that was not imported, as read, with every problem found in it."""

    line: int
    raw: dict[str, object]
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class StructureFile:
    """What a structure file held: the valid records and the rejected rows, in file order.

    ``columns`` is the CSV header as read (empty for the directory JSON).
    """

    path: Path
    format: FileFormat
    records: list[StructureRecord]
    rejected: list[RejectedRow]
    columns: tuple[str, ...] = ()

    @property
    def problems(self) -> list[Problem]:
        """Every problem of every rejected row, in file order."""
        return [problem for row in self.rejected for problem in row.problems]


@dataclass(frozen=True, slots=True)
class StructureRows:
    """A structure file being read: its format, its CSV header, then its rows one at a time.

    ``items`` reads the file as it goes (a CSV is never held whole); it raises
    :class:`~config.errors.InvalidFileError` if the file turns out unreadable further on.
    """

    path: Path
    format: FileFormat
    columns: tuple[str, ...]
    items: Generator[StructureRecord | RejectedRow, None, None]
    count_rest: Callable[[], int]
    """How many rows ``items`` has not given yet, counted without checking them."""

    def __enter__(self) -> StructureRows:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.items.close()


def open_structure_file(
    path: Path, *, file_format: Literal["auto", "csv", "annuaire"] = "auto"
) -> StructureRows:
    """Start reading a structure CSV or a directory JSON export; the header is checked now."""
    resolved: FileFormat
    if file_format != "auto":
        resolved = file_format
    elif path.suffix.lower() == ".csv":
        resolved = "csv"
    elif path.suffix.lower() == ".json":
        resolved = "annuaire"
    else:
        resolved = "annuaire" if _first_character(path) in ("[", "{") else "csv"
    if resolved == "csv":
        return _open_csv(path)
    located = deque(_locate_annuaire(path, _read_text(path)))
    return StructureRows(path, "annuaire", (), _annuaire_items(located), lambda: len(located))


def read_structure_file(
    path: Path, *, file_format: Literal["auto", "csv", "annuaire"] = "auto"
) -> StructureFile:
    """Read a structure CSV or a directory JSON export (bare array, API ``results`` or bulk)."""
    records: list[StructureRecord] = []
    rejected: list[RejectedRow] = []
    with open_structure_file(path, file_format=file_format) as rows:
        for item in rows.items:
            if isinstance(item, RejectedRow):
                rejected.append(item)
            else:
                records.append(item)
    return StructureFile(path, rows.format, records, rejected, rows.columns)


class RejectsWriter:
    """Writes rejected rows where someone can fix them, as they come: the input's format plus
    a reason (a CSV's text cells quoted as ``config.cells`` says; reading them back unquotes)."""

    def __init__(self, file_format: FileFormat, columns: Sequence[str], out: Path) -> None:
        self.format = file_format
        self.columns = [name for name in columns if name != REASON_COLUMN]
        self.count = 0
        self._stream = out.open("w", encoding="utf-8", newline="")
        self._csv: SafeCsvWriter | None = None
        if self.format == "csv":
            self._csv = SafeCsvWriter(self._stream)
            self._csv.writerow([*self.columns, REASON_COLUMN])
        else:
            self._stream.write("[")

    def write(self, row: RejectedRow) -> None:
        """Add one rejected row."""
        if self._csv is not None:
            cells = [str(row.raw.get(name, "")) for name in self.columns]
            self._csv.writerow([*cells, _reason(row.problems)])
        else:
            entry = {"line": row.line, "reason": _reason(row.problems), "record": row.raw}
            text = json.dumps(entry, ensure_ascii=False, indent=1).replace("\n", "\n ")
            self._stream.write((",\n " if self.count else "\n ") + text)
        self.count += 1

    def close(self) -> None:
        """Finish the file."""
        if self._csv is None:
            self._stream.write("\n]\n" if self.count else "]\n")
        self._stream.close()


def write_rejected(structure_file: StructureFile, out: Path) -> None:
    """Write the rejected rows where someone can fix them: the same format plus a reason."""
    columns = list(structure_file.columns)
    if not columns and structure_file.rejected:
        columns = [str(name) for name in structure_file.rejected[0].raw]
    writer = RejectsWriter(structure_file.format, columns, out)
    try:
        for row in structure_file.rejected:
            writer.write(row)
    finally:
        writer.close()


def _reason(problems: tuple[Problem, ...]) -> str:
    return "; ".join(str(problem) for problem in problems)


def _first_character(path: Path) -> str:
    """The file's first non-blank character (after a BOM), to tell JSON from CSV."""
    try:
        with path.open("rb") as stream:
            head = stream.read(4096)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1].decode("ascii", "replace")


def _unreadable(path: Path, exc: OSError) -> InvalidFileError:
    return InvalidFileError(path, [Problem(f"cannot read the file: {exc.strerror or exc}")])


def _not_utf8(path: Path, byte: int, line: int) -> InvalidFileError:
    message = (
        f"not valid UTF-8 (byte 0x{byte:02x}): save the file as UTF-8 "
        "(in a spreadsheet, choose 'CSV UTF-8')"
    )
    return InvalidFileError(path, [Problem(message, line=line)])


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _not_utf8(path, data[exc.start], line) from exc


def _decoded_lines(path: Path, stream: IO[str]) -> Generator[str, None, None]:
    """The file's lines as read; invalid UTF-8 is reported at its line."""
    with stream:
        try:
            yield from stream
        except UnicodeDecodeError:
            pass
        else:
            return
    # Decoding went by blocks: find the line by reading the bytes again, line by line.
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(path, line[exc.start], number) from None
    raise _not_utf8(path, 0xFF, 1)  # pragma: no cover - decoding failed above


class _Row:
    """The problems found so far in one row or record."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.problems: list[Problem] = []

    def problem(self, message: str, column: str | None) -> None:
        self.problems.append(Problem(message, line=self.line, column=column))


class _Contacts:
    """Contacts of one structure in order, without duplicates (storage keys them by value)."""

    def __init__(self) -> None:
        self.items: list[ContactRecord] = []

    def add(self, kind: ContactKind, value: str, label: str) -> None:
        if all((c.kind, c.value) != (kind, value) for c in self.items):
            self.items.append(ContactRecord(kind, value, label))


def _resolve_territory(departement: str, row: _Row, column: str) -> Territory | None:
    try:
        return territory_for(departement)
    except UnknownDepartementError as exc:
        row.problem(str(exc), column)
        return None


def _phone_e164(value: str, territory: Territory | None, row: _Row, column: str) -> str | None:
    if territory is None and not value.startswith("+"):
        return None  # the département problem is reported already; the region is unknown
    region = territory.phone_region if territory else None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        row.problem(f"{value!r:.60} is not a phone number: {_expected_phone(region)}", column)
        return None
    if not phonenumbers.is_valid_number(number):
        where = f" in {territory.name}" if territory else ""
        message = f"{value!r:.60} is not a valid phone number{where}: {_expected_phone(region)}"
        row.problem(message, column)
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=64)
def _expected_phone(region: str | None) -> str:
    """What a phone number of ``region`` looks like, for problem messages."""
    example = phonenumbers.example_number(region) if region is not None else None
    if example is None:
        return "expected a national number of the structure's territory or an international one"
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(
        example, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return f"expected a number like {national} or {international}"


@functools.lru_cache(maxsize=4_096)
def _osm_hours(text: str) -> str:
    """``text`` parsed and written back in OSM syntax; directories repeat a few patterns."""
    return parse_opening_hours(text).to_osm()


def _normalized_email(value: str, row: _Row, column: str) -> str | None:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        message = f"{value!r:.60} is not a valid email address ({exc}): expected name@domain"
        row.problem(message, column)
        return None


def _checked_url(value: str, row: _Row, column: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        message = f"{value!r:.60} is not a web address: expected an http:// or https:// URL"
        row.problem(message, column)
        return None
    return value


def _one_line(text: str) -> str:
    return ", ".join(" ".join(part.split()) for part in text.splitlines() if part.strip())


# --- CSV -----------------------------------------------------------------------------------


def _open_csv(path: Path) -> StructureRows:
    try:
        stream = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    lines = _decoded_lines(path, stream)
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    line = 0
    try:
        with _csv_errors(path, reader):
            for cells in reader:
                line = reader.line_num
                if any(cell.strip() for cell in cells):
                    header = [cell.strip() for cell in cells]
                    break
        if header is None:
            message = f"the file is empty: expected a header row {','.join(REQUIRED_COLUMNS)},..."
            raise InvalidFileError(path, [Problem(message, line=1)])
        _check_header(path, header, line)
    except BaseException:
        lines.close()
        raise
    return StructureRows(
        path,
        "csv",
        tuple(header),
        _csv_items(path, lines, reader, header),
        lambda: _count_rows(reader),
    )


def _count_rows(reader: CsvReader) -> int:
    """The non-blank rows left in ``reader``, up to a row the CSV cannot be split at."""
    count = 0
    try:
        for cells in reader:
            count += any(cell.strip() for cell in cells)
    except csv.Error:
        pass
    return count


@contextmanager
def _csv_errors(path: Path, reader: CsvReader) -> Iterator[None]:
    """Turns the csv module's errors into a problem at the reader's line."""
    try:
        yield
    except csv.Error as exc:
        message = f"the CSV cannot be parsed ({exc}): check the quotes around this line"
        raise InvalidFileError(path, [Problem(message, line=reader.line_num)]) from exc


def _csv_items(
    path: Path, lines: Generator[str, None, None], reader: CsvReader, header: list[str]
) -> Generator[StructureRecord | RejectedRow, None, None]:
    first_line_of: dict[str, int] = {}
    previous_end = reader.line_num
    try:
        with _csv_errors(path, reader):
            for cells in reader:
                line, previous_end = previous_end + 1, reader.line_num
                if any(cell.strip() for cell in cells):
                    cells = [read_cell(cell) for cell in cells]
                    yield _csv_row(header, line, cells, first_line_of)
    finally:
        lines.close()


def _csv_row(
    header: list[str], line: int, cells: list[str], first_line_of: dict[str, int]
) -> StructureRecord | RejectedRow:
    row = _Row(line)
    raw: dict[str, object] = {
        name: cells[index] if index < len(cells) else "" for index, name in enumerate(header)
    }
    if len(cells) != len(header):
        extra = ""
        if len(cells) > len(header):
            surplus = cells[len(header) :]
            shown = ", ".join(f"{value!r:.40}" for value in surplus[:3])
            extra = f" (extra values: {shown}{', ...' if len(surplus) > 3 else ''})"
        row.problem(
            f"the row has {len(cells)} fields, the header has {len(header)}{extra}: "
            "check for a missing or extra comma, or quote values that hold a comma",
            None,
        )
    values = {name: str(value).strip() for name, value in raw.items()}
    record = _csv_record(values, row)
    official_id = values["official_id"]
    if official_id in first_line_of:
        row.problem(
            f"official_id {official_id!r:.70} is already used on line "
            f"{first_line_of[official_id]}: each structure must appear once",
            "official_id",
        )
    elif official_id:
        first_line_of[official_id] = line
    if record is None or row.problems:
        return RejectedRow(line, raw, tuple(row.problems))
    return record


def _check_header(path: Path, header: list[str], line: int) -> None:
    problems: list[Problem] = []
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, REASON_COLUMN)
    expected = (
        f"expected the columns {', '.join(REQUIRED_COLUMNS)} (required) "
        f"and {', '.join(OPTIONAL_COLUMNS)} (optional)"
    )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        problems.append(Problem(f"missing column(s) {', '.join(missing)}: {expected}", line=line))
    unknown = [name for name in header if name not in known]
    if unknown:
        listing = ", ".join(repr(name) for name in unknown)
        problems.append(Problem(f"unknown column(s) {listing}: {expected}", line=line))
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        problems.append(Problem(f"column(s) {', '.join(duplicated)} appear twice", line=line))
    if problems:
        raise InvalidFileError(path, problems)


def _csv_record(values: dict[str, str], row: _Row) -> StructureRecord | None:
    for name in REQUIRED_COLUMNS:
        if not values[name]:
            row.problem(f"{name} is empty: a value is required", name)
    territory: Territory | None = None
    if values["departement"]:
        territory = _resolve_territory(values["departement"], row, "departement")

    population: int | None = None
    if text := values.get("population", ""):
        if re.fullmatch(r"[0-9]+", text):
            population = int(text)
        else:
            message = f"{text!r:.60} is not a population: expected a whole number >= 0"
            row.problem(message, "population")

    contacts = _Contacts()
    phones = _split_values(values.get("phone", ""))
    for position, value in enumerate(phones):
        if (e164 := _phone_e164(value, territory, row, "phone")) is not None:
            contacts.add("phone", e164, "switchboard" if position == 0 else f"phone {position + 1}")
    for position, value in enumerate(_split_values(values.get("email", ""))):
        if (email := _normalized_email(value, row, "email")) is not None:
            contacts.add("email", email, "general" if position == 0 else f"email {position + 1}")
    if postal := _one_line(values.get("postal_address", "")):
        contacts.add("postal", postal, "main")
    if (website := values.get("website", "")) and _checked_url(website, row, "website"):
        contacts.add("web", website, "website")

    opening_hours: str | None = None
    if text := values.get("opening_hours", ""):
        try:
            opening_hours = _osm_hours(text)
        except OpeningHoursError as exc:
            row.problem(str(exc), "opening_hours")

    if row.problems or territory is None:
        return None
    return _within_limits(
        StructureRecord(
            official_id=values["official_id"],
            name=values["name"],
            kind=values["kind"].lower(),
            departement=territory.departement,
            region=territory.region,
            timezone=territory.timezone,
            holiday_subdivision=territory.holiday_subdivision,
            population=population,
            opening_hours=opening_hours,
            opening_hours_note="",
            contacts=tuple(contacts.items),
            source_line=row.line,
        ),
        row,
    )


def _within_limits(record: StructureRecord, row: _Row) -> StructureRecord | None:
    """The record, or None after noting each value too long to store."""
    checks: list[tuple[str, str, str]] = [
        (name, name, getattr(record, name) or "")
        for name in ("official_id", "name", "kind", "opening_hours", "opening_hours_note")
    ]
    for contact in record.contacts:
        checks.append(("contact_value", contact.kind, contact.value))
        checks.append(("contact_label", f"{contact.kind} label", contact.label))
    for limit_name, column, value in checks:
        if len(value) > MAX_LENGTHS[limit_name]:
            row.problem(
                f"{len(value)} characters: at most {MAX_LENGTHS[limit_name]} can be stored", column
            )
    return None if row.problems else record


def _split_values(text: str) -> list[str]:
    return [part.strip() for part in text.split(MULTI_VALUE_SEPARATOR) if part.strip()]


# --- Service-Public.fr directory (annuaire) JSON ------------------------------------------

_WHITESPACE = re.compile(r"[ \t\n\r]*")
MAX_JSON_DEPTH = 6
"""Deepest nesting of a directory export: ``{"service": [record]}``, a record's ``pivot`` list of
objects, their ``code_insee_commune`` list. Deeper files are refused before they are parsed."""
MAX_EMBEDDED_DEPTH = 4
"""Deepest nesting of a list encoded as a string in a record (the API form of ``pivot``...)."""
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep(text: str, limit: int) -> int | None:
    """The line where ``text``'s arrays and objects nest deeper than ``limit``, or None.

    Python's JSON decoder recurses once per level: a small file nested a thousand times deep
    would exhaust the stack.
    """
    bare = _JSON_STRING.sub('""', text)  # brackets inside strings do not count
    depth = 0
    for match in _JSON_BRACKET.finditer(bare):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                # A JSON string holds no raw line break: lines are the same in both texts.
                return bare.count("\n", 0, match.start()) + 1
        else:
            depth -= 1
    return None


_RECORD_KEYS = ("results", "service")


class _JsonScanner:
    """Decodes a JSON document piece by piece to learn the line where each record starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder()
        self.line = 1
        self.counted_to = 0

    def skip_whitespace(self, offset: int) -> int:
        match = _WHITESPACE.match(self.text, offset)
        return match.end() if match else offset

    def line_at(self, offset: int) -> int:
        self.line += self.text.count("\n", self.counted_to, offset)
        self.counted_to = offset
        return self.line

    def expect(self, offset: int, allowed: str, message: str) -> str:
        char = self.text[offset : offset + 1]
        if not char or char not in allowed:
            raise json.JSONDecodeError(message, self.text, offset)
        return char

    def array(self, offset: int) -> tuple[list[tuple[int, object]], int]:
        """The ``(line, value)`` items of the array starting at ``offset``, and its end."""
        items: list[tuple[int, object]] = []
        offset = self.skip_whitespace(offset + 1)
        if self.text[offset : offset + 1] == "]":
            return items, offset + 1
        while True:
            line = self.line_at(offset)
            value, offset = self.decoder.raw_decode(self.text, offset)
            items.append((line, value))
            offset = self.skip_whitespace(offset)
            if self.expect(offset, ",]", "Expecting ',' delimiter") == "]":
                return items, offset + 1
            offset = self.skip_whitespace(offset + 1)

    def object_records(self, offset: int) -> tuple[list[tuple[int, object]] | None, int]:
        """The records under ``results`` (or else ``service``) of the object at ``offset``."""
        found: dict[str, list[tuple[int, object]]] = {}
        offset = self.skip_whitespace(offset + 1)
        if self.text[offset : offset + 1] == "}":
            return None, offset + 1
        while True:
            self.expect(offset, '"', "Expecting property name enclosed in double quotes")
            key, offset = self.decoder.raw_decode(self.text, offset)
            offset = self.skip_whitespace(offset)
            self.expect(offset, ":", "Expecting ':' delimiter")
            offset = self.skip_whitespace(offset + 1)
            if key in _RECORD_KEYS and self.text[offset : offset + 1] == "[":
                found[key], offset = self.array(offset)
            else:
                _, offset = self.decoder.raw_decode(self.text, offset)
            offset = self.skip_whitespace(offset)
            if self.expect(offset, ",}", "Expecting ',' delimiter") == "}":
                break
            offset = self.skip_whitespace(offset + 1)
        for key in _RECORD_KEYS:
            if key in found:
                return found[key], offset + 1
        return None, offset + 1


def _locate_records(path: Path, text: str) -> list[tuple[int, object]]:
    scanner = _JsonScanner(text)
    expected = (
        "expected a JSON array of records, or an object holding them under 'results' or 'service'"
    )
    try:
        offset = scanner.skip_whitespace(0)
        first = text[offset : offset + 1]
        records: list[tuple[int, object]] | None
        if first == "[":
            records, offset = scanner.array(offset)
        elif first == "{":
            records, offset = scanner.object_records(offset)
        else:
            raise InvalidFileError(path, [Problem(expected, line=scanner.line_at(offset))])
        end = scanner.skip_whitespace(offset)
        if end < len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    except json.JSONDecodeError as exc:
        raise InvalidFileError(
            path, [Problem(f"invalid JSON: {exc.msg} (character {exc.colno})", line=exc.lineno)]
        ) from exc
    if records is None:
        raise InvalidFileError(path, [Problem(expected, line=1)])
    return records


def _locate_annuaire(path: Path, text: str) -> list[tuple[int, object]]:
    """The records of a directory export with their lines, not yet checked."""
    deeper = _too_deep(text, MAX_JSON_DEPTH)
    if deeper is not None:
        message = (
            f"JSON nested more than {MAX_JSON_DEPTH} levels deep: a directory export needs at "
            f"most {MAX_JSON_DEPTH} (records holding lists of objects); is this an annuaire file?"
        )
        raise InvalidFileError(path, [Problem(message, line=deeper)])
    return _locate_records(path, text)


def _annuaire_items(
    located: deque[tuple[int, object]],
) -> Generator[StructureRecord | RejectedRow, None, None]:
    """Checks the located records, taking each from ``located`` (what is left is unread)."""
    first_line_of: dict[str, int] = {}
    while located:
        line, item = located.popleft()
        row = _Row(line)
        raw: dict[str, object]
        if isinstance(item, dict):
            raw = item
            record = _annuaire_record(raw, row)
        else:
            raw = {"value": item}
            row.problem(f"expected a JSON object for a structure, got {item!r:.60}", None)
            record = None
        if record is not None:
            official_id = record.official_id
            if official_id in first_line_of:
                row.problem(
                    f"official id {official_id!r} is already used by the record on line "
                    f"{first_line_of[official_id]}: each structure must appear once",
                    "siret" if raw.get("siret") else "id",
                )
            else:
                first_line_of[official_id] = line
        if record is None or row.problems:
            yield RejectedRow(line, raw, tuple(row.problems))
        else:
            yield record


def _text_field(mapping: Mapping[str, object], key: str, row: _Row, path: str) -> str:
    value = mapping.get(key)
    if value is None:
        return ""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip()
    row.problem(f"expected a text value, got {value!r:.60}", path)
    return ""


def _list_field(record: Mapping[str, object], key: str, row: _Row) -> list[object]:
    """A list field; the API form encodes it as JSON inside a string, decoded here."""
    value = record.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        if not value.lstrip().startswith("["):
            if key == "adresse_courriel":
                return [value]
            row.problem(
                f"expected a list (or a string holding a JSON list), got {value!r:.60}", key
            )
            return []
        if _too_deep(value, MAX_EMBEDDED_DEPTH) is not None:
            row.problem(
                f"the JSON list inside the string nests more than {MAX_EMBEDDED_DEPTH} levels "
                "deep: a directory export needs fewer",
                key,
            )
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            row.problem(f"expected a JSON list inside the string: {exc.msg}", key)
            return []
    if not isinstance(value, list):
        row.problem(f"expected a list, got {value!r:.60}", key)
        return []
    return value


def _objects(items: list[object], key: str, row: _Row) -> list[tuple[int, dict[str, object]]]:
    result: list[tuple[int, dict[str, object]]] = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            result.append((index, item))
        else:
            row.problem(f"expected an object, got {item!r:.60}", f"{key}[{index}]")
    return result


def _annuaire_record(record: dict[str, object], row: _Row) -> StructureRecord | None:
    siret = _text_field(record, "siret", row, "siret")
    official_id = siret or _text_field(record, "id", row, "id")
    if not official_id:
        row.problem("expected a siret or an id to identify the structure", "id")
    name = _text_field(record, "nom", row, "nom")
    if not name:
        row.problem("nom is empty: the structure's name is required", "nom")

    pivots = _objects(_list_field(record, "pivot", row), "pivot", row)
    pivot: Mapping[str, object] = pivots[0][1] if pivots else {}
    kind = _text_field(pivot, "type_service_local", row, "pivot[0].type_service_local")
    if not pivots:
        row.problem("expected at least one entry giving type_service_local (the kind)", "pivot")
    elif not kind:
        row.problem("expected the kind of structure, found nothing", "pivot[0].type_service_local")

    commune_path = "code_insee_commune"
    commune = _text_field(record, commune_path, row, commune_path)
    if not commune:
        codes = pivot.get("code_insee_commune")
        if isinstance(codes, list) and codes and isinstance(codes[0], str):
            commune, commune_path = codes[0].strip(), "pivot[0].code_insee_commune[0]"
    territory: Territory | None = None
    if not commune:
        row.problem("expected the INSEE code of the commune (e.g. 77288)", "code_insee_commune")
    else:
        try:
            territory = territory_for(departement_of_commune(commune))
        except UnknownDepartementError as exc:
            row.problem(str(exc), commune_path)

    contacts = _Contacts()
    for index, phone in _objects(_list_field(record, "telephone", row), "telephone", row):
        path = f"telephone[{index}]"
        value = _text_field(phone, "valeur", row, f"{path}.valeur")
        description = _text_field(phone, "description", row, f"{path}.description")
        if value and (e164 := _phone_e164(value, territory, row, f"{path}.valeur")):
            default = "switchboard" if index == 0 else f"phone {index + 1}"
            contacts.add("phone", e164, description or default)
    for index, item in enumerate(_list_field(record, "adresse_courriel", row)):
        path = f"adresse_courriel[{index}]"
        value = item.strip() if isinstance(item, str) else ""
        if not isinstance(item, str):
            row.problem(f"expected an email address, got {item!r:.60}", path)
        elif value and (email := _normalized_email(value, row, path)):
            contacts.add("email", email, "general" if index == 0 else f"email {index + 1}")
    addresses = _objects(_list_field(record, "adresse", row), "adresse", row)
    if addresses:
        # Letters go to the postal address when the directory gives one apart from the site's.
        index, address = next(
            ((i, a) for i, a in addresses if a.get("type_adresse") == "Adresse postale"),
            addresses[0],
        )
        if postal := _postal_line(address, row, f"adresse[{index}]"):
            contacts.add("postal", postal, "main")
    for index, site in _objects(_list_field(record, "site_internet", row), "site_internet", row):
        path = f"site_internet[{index}]"
        value = _text_field(site, "valeur", row, f"{path}.valeur")
        if value and _checked_url(value, row, f"{path}.valeur"):
            contacts.add("web", value, _text_field(site, "libelle", row, path) or "website")

    opening_hours, note = "", ""
    plages = _list_field(record, "plage_ouverture", row)
    try:
        opening_hours, note = opening_hours_from_annuaire(cast(list[dict[str, str]], plages))
    except OpeningHoursError as exc:
        row.problem(exc.reason, exc.field or "plage_ouverture")
    general_note = _text_field(
        record, "commentaire_plage_ouverture", row, "commentaire_plage_ouverture"
    )
    note = " / ".join(part for part in (note, general_note) if part)

    if row.problems or territory is None:
        return None
    return _within_limits(
        StructureRecord(
            official_id=official_id,
            name=name,
            kind=kind.lower(),
            departement=territory.departement,
            region=territory.region,
            timezone=territory.timezone,
            holiday_subdivision=territory.holiday_subdivision,
            population=None,
            opening_hours=opening_hours or None,
            opening_hours_note=note,
            contacts=tuple(contacts.items),
            source_line=row.line,
        ),
        row,
    )


def _postal_line(address: Mapping[str, object], row: _Row, path: str) -> str:
    """``numero_voie, complements, service_distribution, code_postal nom_commune``."""
    parts = [
        _text_field(address, key, row, f"{path}.{key}")
        for key in ("numero_voie", "complement1", "complement2", "service_distribution")
    ]
    town = " ".join(
        _text_field(address, key, row, f"{path}.{key}") for key in ("code_postal", "nom_commune")
    ).strip()
    return ", ".join(" ".join(part.split()) for part in (*parts, town) if part)
