"""Upserting structures in chunks: created, updated and unchanged, contact points replaced."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

import storage.structures
from config.structures import ContactRecord, StructureRecord
from storage.db import session_scope
from storage.structures import contacts_of, list_structures, upsert_structures


def record(
    n: int, *, phone: str = "+33164000000", hours: str | None = "Mo-Fr 09:00-12:00"
) -> StructureRecord:
    contacts = [ContactRecord("phone", phone, "switchboard")]
    if n % 2:
        contacts.append(ContactRecord("email", f"accueil{n}@exemple.fr", "general"))
    alsace = n % 3 == 0
    return StructureRecord(
        official_id=f"S{n:03d}",
        name=f"Mairie {n}",
        kind="mairie",
        departement="57" if alsace else "77",
        region="Grand Est" if alsace else "Île-de-France",
        timezone="Europe/Paris",
        holiday_subdivision="57" if alsace else None,
        population=None if n % 4 == 0 else 1_000 + n,
        opening_hours=hours,
        opening_hours_note="",
        contacts=tuple(contacts),
        source_line=n + 2,
    )


def test_upsert_across_chunks_counts_and_replaces_contacts(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage.structures, "_UPSERT_CHUNK", 3)
    first = [record(n) for n in range(10)]
    with session_scope(engine) as session:
        counts = upsert_structures(session, first, source="csv:a.csv")
    assert (counts.created, counts.updated, counts.unchanged) == (10, 0, 0)
    with session_scope(engine) as session:
        ids = {s.official_id: s.id for s in list_structures(session)}
        counts = upsert_structures(session, first, source="csv:b.csv")
    assert (counts.created, counts.updated, counts.unchanged) == (0, 0, 10)

    second = [record(n) for n in range(12)]
    second[1] = record(1, phone="+33164000009")  # a contact changed
    second[4] = record(4, hours=None)  # a field changed
    with session_scope(engine) as session:
        counts = upsert_structures(session, second, source="csv:c.csv")
    assert (counts.created, counts.updated, counts.unchanged) == (2, 2, 8)

    with session_scope(engine) as session:
        stored = {s.official_id: s for s in list_structures(session)}
        assert len(stored) == 12
        assert all(stored[k].id == v for k, v in ids.items())  # updated in place
        assert stored["S004"].opening_hours is None and stored["S004"].source == "csv:c.csv"
        assert stored["S000"].holiday_subdivision == "57" and stored["S000"].population is None
        assert stored["S002"].source == "csv:a.csv"  # unchanged rows keep their source
        contacts = contacts_of(session, [s.id for s in stored.values() if s.id is not None])
        by_official = {s.official_id: contacts[s.id] for s in stored.values() if s.id is not None}
    assert [(c.kind, c.value, c.position) for c in by_official["S001"]] == [
        ("phone", "+33164000009", 0),
        ("email", "accueil1@exemple.fr", 1),
    ]
    assert [(c.kind, c.value) for c in by_official["S011"]] == [
        ("phone", "+33164000000"),
        ("email", "accueil11@exemple.fr"),
    ]


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_postgresql_knows_how_many_rows_an_import_wrote(engine: Engine, database_url: str) -> None:
    """The planner's statistics are refreshed by the import itself, whether autovacuum runs or
    not: otherwise the next queries are planned for an empty table."""
    with session_scope(engine) as session:
        upsert_structures(session, [record(n) for n in range(300)], source="csv:a.csv")
    with engine.connect() as connection:
        estimated = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE relname = 'structure'"
        ).scalar_one()
    assert estimated == 300
