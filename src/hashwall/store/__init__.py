"""The store: SQLAlchemy Core tables, Alembic migrations, the repository and the event log.

- ``tables.py``: the schema (DESIGN.md's data model).
- ``engine.py``: ``make_engine(url)`` for SQLite (default) or PostgreSQL (psycopg 3).
- ``migrate.py``: ``upgrade``/``current_revision``/``schema_diff`` over the packaged migrations.
- ``repo.py``: ``Store`` (transactions) and ``Repository`` (typed reads and writes).
- ``events.py``: the append-only event log (``append_event``, ``read_events``, erasure).
- ``ids.py``: random public identifiers; ``credentials.py``: PIN and API key hashing.
"""
