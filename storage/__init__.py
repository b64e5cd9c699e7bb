"""The store: SQLModel tables, the queries on them, and Alembic migrations."""
