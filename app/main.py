"""create_app() and its lifespan: every long-lived resource is made and closed here."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.metadata
import logging
import os
import platform
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from app.body_limit import BodyLimit
from app.console import install_console
from app.db import create_engine, create_session_factory
from app.docs import install_docs
from app.errors import install_error_handlers
from app.instrumentation import RequestInstrumentation
from app.key_cache import KeyCache, watch_keys
from app.key_cache import stop as stop_task
from app.logs import configure_logging
from app.metrics import BUILD_INFO
from app.migrate import upgrade
from app.models.types import utcnow
from app.read.data_versions import watch_data_versions
from app.reconcile.executor import RunExecutor, Upstreams, default_upstreams, fail_abandoned_runs
from app.reports.monthly import scheduled_freeze
from app.retention import purge_expired
from app.routers import (
    agencies,
    dossiers,
    health,
    keys,
    kpi,
    procedures,
    reconcile,
    reports,
    runs,
    schedules,
    webhooks,
)
from app.scheduler import Scheduler, fireable, registered_jobs
from app.settings import Settings, get_settings
from app.webhooks.dispatcher import Dispatcher
from app.webhooks.secretbox import prepare_secrets

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Reconciles fee-bearing procedures and paid dossiers between the provincial dossier system (P) and
the National Public Service Portal and its payment platform (N).

**Authentication:** `Authorization: Bearer <key>` (`recon keys create --role
reader|operator|admin`). Reads need `reader`, `POST /reconcile` needs `operator`, keys and
webhooks need `admin`; health and metrics need none.

**Errors** are RFC 9457 `application/problem+json` (the `Problem` schema): 400 for an invalid
cursor or a missing `province` on a multi-province deployment, 401/403 for keys and roles, 404,
409 for a conflicting run or a disabled endpoint, 422 for invalid parameters or bodies (with
`errors`), 503 with `Retry-After` when the database is busy or a query took too long.

**Provinces:** every endpoint that reads or writes a province's data takes `?province=` (its
`MaTinh`); a single-province deployment needs none.
"""

PURGE_EVERY_S = 3600  # retention is in days; once an hour is plenty


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def _janitor(app: FastAPI, interval: float, retention_days: float) -> None:
    purged_at = 0.0
    while True:
        try:
            abandoned = await fail_abandoned_runs(app.state.session_factory)
            if abandoned:
                logger.warning("runs declared abandoned: %s", ", ".join(abandoned))
                # One of them may be this replica's own, hung: it must stop, not go on working.
                app.state.executor.abandon(abandoned, "its lease had expired")
            if retention_days and time.monotonic() - purged_at > PURGE_EVERY_S:
                purged_at = time.monotonic()
                purged = await purge_expired(
                    app.state.session_factory, now=utcnow(), keep=timedelta(days=retention_days)
                )
                if purged.events or purged.ticks:
                    logger.info("retention: %s", purged)
        except Exception:
            logger.exception("janitor pass failed")
        await asyncio.sleep(interval)


def build_info() -> dict[str, str]:
    """What is running: the package's version, the commit it was built from (the image's
    ``RECON_BUILD_COMMIT``), the Python."""
    try:
        version = importlib.metadata.version("payment-sync-recon")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "version": version,
        "commit": os.environ.get("RECON_BUILD_COMMIT", "unknown"),
        "python": platform.python_version(),
    }


def database_backend(url: str) -> str:
    """``sqlite`` or ``postgresql``: the URL without anything that could be a credential."""
    return make_url(url).get_backend_name()


def tune_garbage_collector() -> None:
    """A dossier run allocates tens of millions of short-lived containers; at CPython's default
    threshold (700) the cyclic collector runs after every few pages and rescans everything
    alive. Freezing what startup loaded and collecting young objects less often cut a Đồng Tháp
    dossier run from 66 s of CPU to 42 s, with peak memory unchanged (bench/dossiers.py)."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def create_app(
    settings: Settings | None = None, *, upstreams: Upstreams = default_upstreams
) -> FastAPI:
    config = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Here rather than at import: uvicorn configured its loggers when it read its config, and
        # this routes them (and everything else) through our one handler.
        configure_logging(config.log_level, config.log_format)
        config.require_upstreams()
        tune_garbage_collector()
        engine = create_engine(config.database_url)
        if config.recon_auto_migrate:
            await upgrade(engine)
        factory = create_session_factory(engine)
        await prepare_secrets(factory, config.webhook_secret_box())
        dispatcher = Dispatcher(factory, config, owner=replica_name())
        executor = RunExecutor(
            factory,
            config,
            owner=replica_name(),
            upstreams=upstreams,
            on_finished=dispatcher.wake,
        )
        app.state.settings = config
        app.state.engine = engine
        app.state.session_factory = factory
        app.state.executor = executor
        app.state.dispatcher = dispatcher
        # The monthly report's freeze is the ``report`` job; a job set on
        # app.state.scheduled_jobs before start-up (a test's, say) takes its place.
        app.state.scheduled_jobs = {
            "report": scheduled_freeze(factory, config.online_target),
            **registered_jobs(app.state),
        }
        jobs = registered_jobs(app.state)
        configured = config.schedule_cadences() if config.scheduler_enabled else {}
        cadences = fireable(configured, jobs)
        for scope in sorted(set(configured) - set(cadences)):
            logger.info("the %s schedule is idle: no job is registered for it", scope)
        scheduler = Scheduler(
            factory,
            executor,
            provinces=config.province_codes(),
            cadences=cadences,
            poll_seconds=config.scheduler_poll_seconds,
            jobs=jobs,
        )
        app.state.scheduler = scheduler
        key_cache = KeyCache()
        app.state.key_cache = key_cache
        key_watch = asyncio.create_task(watch_keys(factory, key_cache))
        # What the answer cache is keyed by, kept in memory (app/read/data_versions.py).
        version_watch = asyncio.create_task(
            watch_data_versions(engine, factory, config.province_codes())
        )
        janitor = asyncio.create_task(
            _janitor(app, config.janitor_interval_seconds, config.retention_days)
        )
        if config.webhook_dispatcher_enabled:
            dispatcher.start()
        scheduler.start()
        logger.info(
            "service started",
            extra={
                "replica": replica_name(),
                "provinces": config.province_codes(),
                "database_backend": database_backend(config.database_url),
                "scheduled": sorted(cadences),
                "webhook_dispatcher": config.webhook_dispatcher_enabled,
            },
        )
        try:
            yield
        finally:
            logger.info("service stopping", extra={"replica": replica_name()})
            await scheduler.aclose()
            await stop_task(key_watch)
            await stop_task(version_watch)
            janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await janitor
            await executor.aclose()
            await dispatcher.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Payment-sync reconciliation",
        version="0.1.0",
        summary=(
            "Finds fee-bearing procedures and paid dossiers out of sync between the provincial "
            "dossier system and the National Public Service Portal (DVCQG)."
        ),
        description=DESCRIPTION,
        lifespan=lifespan,
        # Served from the package's own files (app/docs.py): they work with no network.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    # Outermost: the request id and the timing cover everything, error handlers included.
    app.add_middleware(RequestInstrumentation)
    BUILD_INFO.info(build_info())
    for router in (
        health.router,
        reconcile.router,
        runs.router,
        schedules.router,
        procedures.router,
        agencies.router,
        dossiers.router,
        kpi.router,
        reports.router,
        keys.router,
        webhooks.router,
    ):
        app.include_router(router)
    install_docs(app)
    install_console(app)
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn app.main:app` works without building an app (and reading settings) at import time.
    if name == "app":
        return create_app()
    raise AttributeError(name)
