"""Thousands of rows in and out of PostgreSQL at once, past SQLAlchemy's per-row work.

A rating batch reads and writes a row per eSIM and per eSIM-day (10,000s of
them). Bound as array parameters, psycopg encodes them in text at about 10 µs a
row in Python, and SQLAlchemy's result rows cost about as much again on the way
back. Here rows go in by binary COPY into a temporary table, then one set-based
statement, and come back as plain tuples from the driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy.orm import Session

# Fewer rows than this are cheaper as array parameters than a temporary table.
STAGE_FROM = 500


def driver(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session, inside the session's transaction."""
    return cast(psycopg.Connection[Any], session.connection().connection.driver_connection)


def fetch(session: Session, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of a query with psycopg placeholders, as tuples, read in binary (no parsing of text).

    Write array parameters as ``%(name)b``: sent in binary, no element is quoted and escaped in Python.
    """
    return driver(session).execute(query, params, binary=True).fetchall()


def stage(
    session: Session, table: str, columns: str, types: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Fill the temporary ``table`` (created on first use in the transaction, emptied) by binary COPY."""
    connection = driver(session)
    # Dropped at commit: nothing is left on the pooled connection, and no later commit pays for it.
    connection.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns}) ON COMMIT DROP")
    connection.execute(f"TRUNCATE {table}")
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)
