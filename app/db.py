"""Engine and session factory. Commit ownership: the use case that changes state commits, once.

Routers and background workers open a session from ``session_factory`` and the domain function
they call decides when its transaction ends; FastAPI dependency teardown never commits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import MetaData, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import Session, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

SessionFactory = async_sessionmaker[AsyncSession]

logger = logging.getLogger(__name__)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def in_values(column: Any, values: Sequence[str] | Sequence[int], dialect: str) -> Any:
    """``column IN values`` with one parameter whatever the list's length: ``= ANY(array)`` on
    PostgreSQL, ``IN (SELECT value FROM json_each(…))`` on SQLite. An IN list of each chunk's
    length would prepare and cache a new statement per length (both drivers cache hundreds),
    and memory would grow with the province's size."""
    if dialect == "postgresql":
        item = sa.Integer() if values and isinstance(values[0], int) else sa.String()
        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(item)))
    listed = sa.func.json_each(sa.bindparam(None, json_dumps(list(values)), type_=sa.String()))
    return column.in_(sa.select(sa.literal_column("value")).select_from(listed))


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # A dossier run writes and reads back every staged record as JSON; orjson makes that a
    # fraction of the run instead of a fifth of it.
    kwargs.setdefault("json_serializer", json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    # A failed statement's parameters (an API key's prefix and hash, a webhook secret, a
    # client's text) never appear in its error, and so never in a log line.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        # A busy timeout lets the API read while a run commits; WAL lets readers not block it.
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it sat idle for ``IDLE_PING_SECONDS``:
    those are the ones a server restart, a failover or a proxy's idle timeout cut. A busy
    connection goes out without the round trip ``pool_pre_ping`` would cost every request;
    if it was cut anyway, its error invalidates it and the next checkout connects anew."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get("checked_in_at")
        if last is not None and time.monotonic() - last < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError() from exc


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


class TimedSession(Session):
    """The sessions of API requests: on PostgreSQL every transaction they begin first sets
    ``statement_timeout`` (``SET LOCAL``: it ends with the transaction, so a pooled connection
    goes back to a run or the dispatcher without it)."""


STATEMENT_TIMEOUT_MS = "statement_timeout_ms"


@event.listens_for(TimedSession, "after_begin")
def _set_statement_timeout(session: Session, _transaction: Any, connection: Any) -> None:
    timeout_ms = session.info.get(STATEMENT_TIMEOUT_MS)
    if timeout_ms and connection.dialect.name == "postgresql":
        # An integer of milliseconds, formatted by us: SET takes no bind parameters.
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")


def create_read_session_factory(engine: AsyncEngine, statement_timeout_s: float) -> SessionFactory:
    """Sessions for the API's requests, on the same engine and pool as ``create_session_factory``
    but with a statement timeout (none when ``statement_timeout_s`` is 0, or on SQLite)."""
    timeout_ms = max(1, round(statement_timeout_s * 1000)) if statement_timeout_s > 0 else 0
    return async_sessionmaker(
        engine,
        class_=AsyncSession,
        sync_session_class=TimedSession,
        expire_on_commit=False,
        info={STATEMENT_TIMEOUT_MS: timeout_ms},
    )


@asynccontextmanager
async def session_scope(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session


# What each kind of run rewrites in one transaction; their statistics go stale with it.
PROCEDURE_RUN_TABLES = ("findings", "finding_events", "procedure_snapshots", "agencies")
DOSSIER_RUN_TABLES = (
    "findings",
    "finding_events",
    "dossiers",
    "orphan_transactions",
    "agencies",
)


async def analyze(factory: SessionFactory, tables: Sequence[str]) -> None:
    """Fresh planner statistics for tables a run just rewrote (PostgreSQL; a no-op on SQLite).

    Autovacuum may be off or late, and without statistics the planner guesses: a list that
    answers in 0.07 s took over 9 minutes on a Đồng Tháp snapshot nobody had ANALYZEd. A
    failure is logged, never raised: the run it follows has already committed."""
    try:
        async with factory() as session:
            if session.get_bind().dialect.name != "postgresql":
                return
            # Another ANALYZE of the same table (a replica, autovacuum) holds the lock it needs;
            # waiting long for it would only delay the run's end.
            await session.exec(sa.text("SET LOCAL lock_timeout = '10s'"))  # type: ignore[call-overload]
            for table in tables:
                await session.exec(sa.text(f'ANALYZE "{table}"'))  # type: ignore[call-overload]
            await session.commit()
    except Exception as exc:
        logger.warning("ANALYZE %s failed: %s", ", ".join(tables), exc)
