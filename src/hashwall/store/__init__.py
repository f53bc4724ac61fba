"""The store: SQLAlchemy Core tables, Alembic migrations, the repositories and the event log.

- ``tables.py``: the schema (DESIGN.md's data model).
- ``engine.py``: ``make_engine(url)`` for SQLite (default) or PostgreSQL (psycopg 3).
- ``migrate.py``: ``upgrade``/``current_revision``/``schema_diff`` over the packaged migrations.
- ``repo.py``: ``Store`` (transactions) and ``Repository`` (the unit of work: every
  repository of ``repositories/`` over one transaction).
- ``repositories/``: one module per aggregate (tenancy, keys, cases, signals, matches,
  allowlist, events, audit) and the check's own statements (checks); rows come back as the
  types of :mod:`hashwall.domain`.
- ``events.py``: the append-only event log (``append_event``, ``read_events``, erasure);
  ``notify.py``: PostgreSQL's word of each new event (LISTEN).
- ``ids.py``: random public identifiers; ``credentials.py``: PIN and API key hashing.
"""
