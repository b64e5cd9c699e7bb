"""Queries on structures and their contact points."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, bindparam, delete, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from config.structures import StructureRecord
from storage.bulk import analyze, bulk_insert
from storage.errors import NotFoundError
from storage.models import ContactPoint, Participant, ParticipantSite, Structure
from storage.types import utcnow

# Ids per IN (…) look-up: keeps SQLite's bound-parameter count well under its limit.
_CHUNK = 500
# Structures per import chunk: one look-up and a few multi-row statements each, bounded memory.
_UPSERT_CHUNK = 2_000
_STRUCTURE: Table = Structure.__table__  # type: ignore[attr-defined]
_CONTACT: Table = ContactPoint.__table__  # type: ignore[attr-defined]
# The columns an import compares to tell an unchanged structure (its source may differ).
_COMPARED = (
    "name",
    "kind",
    "departement",
    "region",
    "peer_group",
    "population",
    "timezone",
    "holiday_subdivision",
    "opening_hours",
    "opening_hours_note",
)

PANEL_KEYS = ("kind", "departement", "region", "peer_group", "official_id", "participants")
# ``participants=accepted``: the structures (and sites) of the accepted enrolments.
PARTICIPANTS_PANEL = {"participants": ["accepted"]}


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What an import changed."""

    created: int
    updated: int
    unchanged: int


def default_peer_group(record: StructureRecord) -> str:
    """Peers are structures of the same kind and population band (``mairie:2k-10k``)."""
    population = record.population
    if population is None:
        band = "unknown"
    elif population < 2_000:
        band = "<2k"
    elif population < 10_000:
        band = "2k-10k"
    elif population < 50_000:
        band = "10k-50k"
    else:
        band = "50k+"
    return f"{record.kind}:{band}"


def _structure_values(record: StructureRecord, source: str) -> dict[str, object]:
    return {
        "name": record.name,
        "kind": record.kind,
        "departement": record.departement,
        "region": record.region,
        "peer_group": default_peer_group(record),
        "population": record.population,
        "timezone": record.timezone,
        "holiday_subdivision": record.holiday_subdivision,
        "opening_hours": record.opening_hours,
        "opening_hours_note": record.opening_hours_note,
        "source": source,
    }


def _contact_rows(record: StructureRecord) -> list[tuple[str, str, str]]:
    return [(c.kind, c.value, c.label) for c in record.contacts]


def upsert_structures(
    session: Session, records: Sequence[StructureRecord], *, source: str
) -> UpsertCounts:
    """Insert new structures and update known ones (matched by ``official_id``).

    Contact points of an updated structure are replaced by the file's. Running the same import
    twice changes nothing the second time. Works in chunks: per chunk one look-up of the stored
    structures, one bulk insert (or executemany update) of structures and one of contact points.
    """
    created = updated = unchanged = 0
    now = utcnow()
    connection = session.connection()
    for start in range(0, len(records), _UPSERT_CHUNK):
        chunk = records[start : start + _UPSERT_CHUNK]
        stored = _stored(connection, [r.official_id for r in chunk])
        new_rows: list[dict[str, object]] = []
        changed_rows: list[dict[str, object]] = []
        rewritten: list[tuple[int | None, StructureRecord]] = []  # (id if known, record)
        for record in chunk:
            values = _structure_values(record, source)
            current = stored.get(record.official_id)
            if current is None:
                new_rows.append(
                    {
                        "official_id": record.official_id,
                        **values,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                rewritten.append((None, record))
                continue
            same_fields = all(current.fields[k] == values[k] for k in _COMPARED)
            if same_fields and current.contacts == _contact_rows(record):
                unchanged += 1
                continue
            changed_rows.append({"b_id": current.id, **values, "updated_at": now})
            rewritten.append((current.id, record))
        if changed_rows:
            connection.execute(
                update(_STRUCTURE).where(_STRUCTURE.c.id == bindparam("b_id")), changed_rows
            )
            connection.execute(
                delete(_CONTACT).where(
                    _CONTACT.c.structure_id.in_([r["b_id"] for r in changed_rows])
                )
            )
            updated += len(changed_rows)
        id_of: dict[str, int] = {}
        if new_rows:
            bulk_insert(connection, _STRUCTURE, new_rows)
            created += len(new_rows)
            looked_up = connection.execute(
                sa_select(_STRUCTURE.c.official_id, _STRUCTURE.c.id).where(
                    _STRUCTURE.c.official_id.in_([r["official_id"] for r in new_rows])
                )
            )
            id_of = {official_id: structure_id for official_id, structure_id in looked_up}
        contact_rows = [
            {
                "structure_id": id_of[record.official_id] if structure_id is None else structure_id,
                "kind": kind,
                "value": value,
                "label": label,
                "position": position,
            }
            for structure_id, record in rewritten
            for position, (kind, value, label) in enumerate(_contact_rows(record))
        ]
        bulk_insert(connection, _CONTACT, contact_rows)
    analyze(connection, _STRUCTURE, _CONTACT)
    return UpsertCounts(created=created, updated=updated, unchanged=unchanged)


@dataclass(slots=True)
class _Stored:
    id: int
    fields: dict[str, object]
    contacts: list[tuple[str, str, str]]


def _stored(connection: Connection, official_ids: list[str]) -> dict[str, _Stored]:
    """The stored structures among ``official_ids``, with their contact points in order."""
    columns = [_STRUCTURE.c[name] for name in _COMPARED]
    query = (
        sa_select(
            _STRUCTURE.c.id,
            _STRUCTURE.c.official_id,
            *columns,
            _CONTACT.c.kind,
            _CONTACT.c.value,
            _CONTACT.c.label,
        )
        .select_from(_STRUCTURE.outerjoin(_CONTACT, _CONTACT.c.structure_id == _STRUCTURE.c.id))
        .where(_STRUCTURE.c.official_id.in_(official_ids))
        .order_by(_STRUCTURE.c.id, _CONTACT.c.position)
    )
    stored: dict[str, _Stored] = {}
    width = len(columns)
    for row in connection.execute(query):
        structure_id, official_id = row[0], row[1]
        current = stored.get(official_id)
        if current is None:
            fields = dict(zip(_COMPARED, row[2 : 2 + width], strict=True))
            current = stored[official_id] = _Stored(structure_id, fields, [])
        kind, value, label = row[2 + width :]
        if kind is not None:
            current.contacts.append((kind, value, label))
    return stored


def _panel_conditions(panel: dict[str, list[str]]) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for key, values in panel.items():
        if key not in PANEL_KEYS:
            raise ValueError(f"unknown panel key {key!r}: expected one of {', '.join(PANEL_KEYS)}")
        if key == "participants":
            conditions.append(col(Structure.id).in_(_participant_structures(values)))
            continue
        conditions.append(col(getattr(Structure, key)).in_(values))
    return conditions


def _participant_structures(statuses: list[str]) -> Any:
    return (
        sa_select(col(ParticipantSite.structure_id))
        .join(Participant, col(Participant.id) == col(ParticipantSite.participant_id))
        .where(col(Participant.status).in_(statuses))
        .where(col(ParticipantSite.structure_id).is_not(None))
    )


def panel_query(panel: dict[str, list[str]]) -> SelectOfScalar[Structure]:
    """A SELECT of the structures matching a panel filter (AND across keys, OR within a key)."""
    return select(Structure).where(*_panel_conditions(panel)).order_by(col(Structure.official_id))


@dataclass(frozen=True, slots=True)
class PlanningRow:
    """What wave planning reads of a structure: no ORM object, so 35,000 of them stay cheap."""

    structure_id: int
    official_id: str
    timezone: str
    holiday_subdivision: str | None
    opening_hours: str | None
    first_contact_of_kind: dict[str, int]


def planning_rows(session: Session, panel: dict[str, list[str]]) -> list[PlanningRow]:
    """The panel's structures with the first contact point of each kind, by official id."""
    conditions = _panel_conditions(panel)
    first_contact: dict[int, dict[str, int]] = {}
    contacts = (
        sa_select(col(ContactPoint.structure_id), col(ContactPoint.kind), col(ContactPoint.id))
        .join(Structure, col(Structure.id) == col(ContactPoint.structure_id))
        .where(*conditions)
        .order_by(col(ContactPoint.structure_id), col(ContactPoint.position).desc())
    )
    for structure_id, kind, contact_id in session.execute(contacts):
        # Descending positions: the last write per kind is the first contact point.
        first_contact.setdefault(structure_id, {})[kind] = contact_id
    structures = (
        sa_select(
            col(Structure.id),
            col(Structure.official_id),
            col(Structure.timezone),
            col(Structure.holiday_subdivision),
            col(Structure.opening_hours),
        )
        .where(*conditions)
        .order_by(col(Structure.official_id))
    )
    return [
        PlanningRow(
            structure_id=structure_id,
            official_id=official_id,
            timezone=timezone,
            holiday_subdivision=subdivision,
            opening_hours=hours,
            first_contact_of_kind=first_contact.get(structure_id, {}),
        )
        for structure_id, official_id, timezone, subdivision, hours in session.execute(structures)
    ]


def list_structures(session: Session, panel: dict[str, list[str]] | None = None) -> list[Structure]:
    """The structures matching ``panel`` (all of them without one), by official id."""
    return list(session.exec(panel_query(panel or {})).all())


def get_structure(session: Session, official_id: str) -> Structure:
    """The structure with this official id; :class:`NotFoundError` if there is none."""
    structure = session.exec(
        select(Structure).where(col(Structure.official_id) == official_id)
    ).one_or_none()
    if structure is None:
        raise NotFoundError(
            f"no structure with official id {official_id!r}: see `prober structures list`"
        )
    return structure


def contacts_of(session: Session, structure_ids: Iterable[int]) -> dict[int, list[ContactPoint]]:
    """Contact points per structure id, in file order."""
    ids = list(structure_ids)
    result: dict[int, list[ContactPoint]] = {i: [] for i in ids}
    for start in range(0, len(ids), _CHUNK):
        rows = session.exec(
            select(ContactPoint)
            .where(col(ContactPoint.structure_id).in_(ids[start : start + _CHUNK]))
            .order_by(col(ContactPoint.structure_id), col(ContactPoint.position))
        )
        for contact in rows:
            result[contact.structure_id].append(contact)
    return result
