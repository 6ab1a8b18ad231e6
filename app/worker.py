"""``recon worker``: a webhook dispatcher in its own process (any number on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from app.db import create_engine, create_session_factory, is_sqlite
from app.main import replica_name
from app.migrate import upgrade
from app.settings import Settings
from app.webhooks.dispatcher import Dispatcher
from app.webhooks.secretbox import prepare_secrets

logger = logging.getLogger(__name__)


async def run_worker(settings: Settings) -> None:
    """Deliver webhooks until SIGINT/SIGTERM; a SIGKILL loses nothing (leases expire).
    It calls no upstream, so it needs no upstream settings."""
    engine = create_engine(settings.database_url)
    if settings.recon_auto_migrate:
        await upgrade(engine)
    if is_sqlite(settings.database_url):
        logger.warning(
            "SQLite: run one dispatcher only (this worker, or the service's in-process one "
            "with WEBHOOK_DISPATCHER_ENABLED=false on the service)"
        )
    factory = create_session_factory(engine)
    await prepare_secrets(factory, settings.webhook_secret_box())
    dispatcher = Dispatcher(factory, settings, owner=replica_name())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    dispatcher.start()
    logger.info("webhook worker %s started", dispatcher.owner)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await dispatcher.aclose()
        await engine.dispose()
        logger.info("webhook worker %s stopped", dispatcher.owner)
