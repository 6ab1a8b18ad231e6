"""Bulk writes for runs that stage hundreds of thousands of rows.

On PostgreSQL rows go through ``COPY`` (asyncpg's binary copy), which skips SQLAlchemy's
per-row parameter processing, the largest single cost of a dossier run's writes. Elsewhere
(SQLite) they go through one ``executemany``.

Values must already be what the column stores: aware UTC datetimes, JSON-able objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asyncpg.exceptions import UniqueViolationError  # type: ignore[import-untyped]
from sqlalchemy import JSON, Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import json_dumps

Row = Mapping[str, Any]


def _records(table: Table, rows: Sequence[Row], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    # The driver's JSON codec takes text, which SQLAlchemy's bind step would have produced.
    as_json = {i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)}
    if not as_json:
        return [tuple(row[c] for c in columns) for row in rows]
    return [
        tuple(
            json_dumps(row[c]) if i in as_json and row[c] is not None else row[c]
            for i, c in enumerate(columns)
        )
        for row in rows
    ]


async def _copy(
    connection: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    into: str | None = None,
) -> None:
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(
        into or table.name, columns=list(columns), records=_records(table, rows, columns)
    )


async def insert_rows(connection: AsyncConnection, table: Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` (same keys each) into ``table`` within ``connection``'s transaction."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        await connection.execute(table.insert(), list(rows))
        return
    await _begin(connection)
    await _copy(connection, table, list(rows[0]), rows)


async def upsert_rows(
    connection: AsyncConnection, table: Table, rows: Sequence[Row], key: Sequence[str]
) -> None:
    """Insert ``rows``, replacing the other columns of a row whose ``key`` exists already.
    A statement may not touch a key twice: callers pass each key once."""
    if not rows:
        return
    columns = list(rows[0])
    updated = [c for c in columns if c not in key]
    if connection.dialect.name != "postgresql":
        statement = sqlite.insert(table)
        upsert = statement.on_conflict_do_update(
            index_elements=list(key), set_={c: statement.excluded[c] for c in updated}
        )
        await connection.execute(upsert, list(rows))
        return
    # Almost every page brings only new keys: COPY straight into the table, under a savepoint
    # so that the rare page repeating a key (the contract's shifting pages) can be merged instead.
    await _begin(connection)
    try:
        async with connection.begin_nested():
            await _copy(connection, table, columns, rows)
        return
    except UniqueViolationError:  # raised by the driver itself: COPY bypasses SQLAlchemy
        pass
    # COPY cannot resolve conflicts: copy into a transaction-scoped twin, then merge in SQL.
    incoming = f"incoming_{table.name}"
    await connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {incoming} (LIKE {table.name}) ON COMMIT DELETE ROWS"
    )
    await _copy(connection, table, columns, rows, into=incoming)
    names = ", ".join(columns)
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    await connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {incoming} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {assignments}"
    )
    await connection.exec_driver_sql(f"DELETE FROM {incoming}")


async def _begin(connection: AsyncConnection) -> None:
    # asyncpg's adapter opens the database transaction on its first statement; COPY goes to the
    # driver directly, so without one it would commit on its own, outside the caller's unit.
    await connection.exec_driver_sql("SELECT 1")
