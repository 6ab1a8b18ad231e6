"""The webhook dispatcher: fans outbox events out to endpoints and delivers them, at least once.

One loop iteration (``run_once``):

1. **fan out** — outbox events not yet fanned out become one ``webhook_deliveries`` row per
   enabled endpoint whose filters match (event type; agency, for events that have one);
2. **claim** — due pending deliveries are leased to this dispatcher (``FOR UPDATE SKIP LOCKED``
   on PostgreSQL, so replicas never claim the same row; on SQLite the conditional ``UPDATE``
   itself is the claim, and one dispatcher is expected);
3. **send** — each endpoint's claimed deliveries go out in creation order, one at a time
   (best-effort order per endpoint), endpoints in parallel; the leases are renewed meanwhile;
4. **record** — every attempt is logged and its delivery moved on: delivered, rescheduled with
   back-off, or failed; endpoints that answered 410 or have failed for longer than the window
   are disabled and ``endpoint.disabled`` is emitted, in the same transaction.

A dispatcher killed mid-send leaves leases that expire; whoever claims next sends the same
message again with the same ``webhook-id``, which is what subscribers de-duplicate on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Table, bindparam, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import SessionFactory
from app.events import encode_payload
from app.metrics import WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_ATTEMPTS
from app.models import (
    DeliveryStatus,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)
from app.models.types import utcnow
from app.settings import Settings
from app.webhooks.deliveries import disable_endpoint
from app.webhooks.delivery import AttemptResult, attempt_delivery, build_client, next_attempt_delay
from app.webhooks.endpoints import ssrf_policy

logger = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
MAX_CLIENTS = 256
DELIVERIES_TABLE: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
ATTEMPTS_TABLE: Table = WebhookAttempt.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DispatcherConfig:
    timeout_s: float
    schedule: tuple[timedelta, ...]
    retry_after_cap: timedelta
    disable_after: timedelta
    lease: timedelta
    poll_interval_s: float
    batch_size: int
    max_concurrency: int
    endpoint_in_flight: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatcherConfig:
        return cls(
            timeout_s=settings.webhook_timeout_s,
            schedule=settings.webhook_schedule(),
            retry_after_cap=timedelta(seconds=settings.webhook_retry_after_cap_s),
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
            lease=timedelta(seconds=settings.webhook_lease_seconds),
            poll_interval_s=settings.webhook_poll_interval_s,
            batch_size=settings.webhook_batch_size,
            max_concurrency=settings.webhook_max_concurrency,
            endpoint_in_flight=settings.webhook_endpoint_in_flight,
        )


def endpoint_wants(endpoint: WebhookEndpoint, event: OutboxEvent) -> bool:
    """An endpoint's filters: empty means everything; events without an agency pass the agency
    filter (a subscriber following one agency still hears that runs completed or failed)."""
    if endpoint.event_types and event.event_type not in endpoint.event_types:
        return False
    return not (
        endpoint.agency_codes
        and event.agency_code is not None
        and event.agency_code not in endpoint.agency_codes
    )


async def fan_out(factory: SessionFactory, limit: int = FAN_OUT_BATCH) -> int:
    """Turn up to ``limit`` new outbox events into deliveries; returns how many events."""
    async with factory() as session:
        rows = await session.exec(
            select(OutboxEvent)
            .where(col(OutboxEvent.fanned_out_at).is_(None))
            .order_by(col(OutboxEvent.created_at), col(OutboxEvent.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        events = list(rows.all())
        if not events:
            return 0
        provinces = {event.province_code for event in events}
        endpoint_rows = await session.exec(
            select(WebhookEndpoint)
            .where(
                col(WebhookEndpoint.enabled).is_(True),
                col(WebhookEndpoint.province_code).in_(provinces),
            )
            .order_by(col(WebhookEndpoint.created_at))
        )
        endpoints = list(endpoint_rows.all())
        now = utcnow()
        deliveries = [
            {
                "endpoint_id": endpoint.id,
                "event_id": event.id,
                "event_type": event.event_type,
                "status": DeliveryStatus.PENDING.value,
                "cycle_attempts": 0,
                "attempt_count": 0,
                "next_attempt_at": now,
                "created_at": event.created_at,
                "updated_at": now,
            }
            for event in events
            for endpoint in endpoints
            if endpoint.province_code == event.province_code and endpoint_wants(endpoint, event)
        ]
        try:
            if deliveries:
                await session.exec(insert(WebhookDelivery), params=deliveries)
            await session.exec(
                update(OutboxEvent)
                .where(col(OutboxEvent.id).in_([event.id for event in events]))
                .values(fanned_out_at=now)
            )
            await session.commit()
        except IntegrityError:
            # Only possible on SQLite with two dispatchers (no SKIP LOCKED): another one fanned
            # these events out first. Nothing is lost; its rows stand.
            await session.rollback()
            return 0
        return len(events)


@dataclass
class _Claimed:
    delivery_id: int
    endpoint_id: str
    event_id: str
    cycle_attempts: int


@dataclass
class _Target:
    url: str
    secrets: list[str]
    failing_since: datetime | None
    claimed: list[_Claimed] = field(default_factory=list)


@dataclass
class _Served:
    """What one endpoint's share of a pass did, waiting to be recorded."""

    endpoint_id: str
    target: _Target
    sent: list[_Sent]
    vanished: list[int]


@dataclass
class _Sent:
    claimed: _Claimed
    at: datetime
    result: AttemptResult


class Dispatcher:
    """Delivers webhooks from one process; any number may share a PostgreSQL database."""

    def __init__(
        self,
        factory: SessionFactory,
        settings: Settings,
        *,
        owner: str,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._factory = factory
        self._config = DispatcherConfig.from_settings(settings)
        self.owner = owner
        self._policy = ssrf_policy(settings.webhook_allowed_networks, settings.webhook_allow_http)
        self._shared_http = http
        # One small connection pool per endpoint: httpcore's pool bookkeeping grows with the
        # requests and connections it holds, and one shared pool made 20 concurrent deliveries
        # slower than 5 (bench/webhooks.py). Least recently used pools are closed past the cap.
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._unrecorded: list[_Served] = []
        self._record_lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever(), name=f"dispatcher {self.owner}")

    def wake(self) -> None:
        """Look for work now rather than at the next poll (called after events are committed)."""
        self._wake.set()

    async def run_forever(self) -> None:
        while not self._stopping:
            try:
                busy = await self.run_once()
            except Exception:
                logger.exception("webhook dispatcher pass failed")
                busy = 0
            if busy or self._stopping:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.poll_interval_s)

    async def aclose(self, grace_s: float = 10.0) -> None:
        """Stop after the current pass (its results recorded), cancelling it after ``grace_s``;
        a cancelled pass only means its messages are sent again, with the same ids."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        while self._clients:
            _, client = self._clients.popitem()
            await client.aclose()

    async def _client_for(self, endpoint_id: str) -> httpx.AsyncClient:
        if self._shared_http is not None:
            return self._shared_http
        client = self._clients.get(endpoint_id)
        if client is None:
            client = build_client(self._policy, timeout=self._config.timeout_s)
            self._clients[endpoint_id] = client
            if len(self._clients) > MAX_CLIENTS:
                _, evicted = self._clients.popitem(last=False)
                await evicted.aclose()
        self._clients.move_to_end(endpoint_id)
        return client

    async def drain(self) -> None:
        """Run passes until nothing is due (tests, the demo, benchmarks); bound it by the caller's
        ``asyncio.timeout``."""
        while await self.run_once():
            pass

    # --- one pass --------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Fan out, claim, send, record; returns the number of events and attempts handled."""
        fanned = await fan_out(self._factory)
        targets = await self._claim()
        if not targets:
            return fanned
        claimed = [c for target in targets.values() for c in target.claimed]
        heartbeat = asyncio.create_task(self._renew_leases([c.delivery_id for c in claimed]))
        limit = asyncio.Semaphore(self._config.max_concurrency)
        try:
            payloads = await self._payloads({c.event_id for c in claimed})
            attempts = await asyncio.gather(
                *(
                    self._serve(endpoint, target, payloads, limit)
                    for endpoint, target in targets.items()
                )
            )
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        return fanned + sum(attempts)

    async def _claim(self) -> dict[str, _Target]:
        now = utcnow()
        lease_free = or_(
            col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now
        )
        async with self._factory() as session:
            due = await session.exec(
                select(col(WebhookDelivery.id))
                .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
                .where(
                    col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
                    col(WebhookDelivery.next_attempt_at) <= now,
                    lease_free,
                    col(WebhookEndpoint.enabled).is_(True),
                )
                .order_by(col(WebhookDelivery.id))
                .limit(self._config.batch_size)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            )
            ids = [row for row in due.all() if row is not None]
            if not ids:
                return {}
            # The lease conditions are repeated so that the UPDATE alone decides who claimed a
            # row where SKIP LOCKED does not exist (SQLite serialises writers).
            claimed = await session.exec(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id).in_(ids),
                    col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
                    lease_free,
                )
                .values(lease_owner=self.owner, lease_until=now + self._config.lease)
                .returning(
                    col(WebhookDelivery.id),
                    col(WebhookDelivery.endpoint_id),
                    col(WebhookDelivery.event_id),
                    col(WebhookDelivery.cycle_attempts),
                )
            )
            rows = sorted(claimed.all(), key=lambda row: row[0])
            await session.commit()
            if not rows:
                return {}
            return await self._targets(session, [_Claimed(*row) for row in rows], now)

    async def _targets(
        self, session: AsyncSession, claimed: Sequence[_Claimed], now: datetime
    ) -> dict[str, _Target]:
        endpoint_ids = {c.endpoint_id for c in claimed}
        endpoints = await session.exec(
            select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(endpoint_ids))
        )
        secrets: dict[str, list[str]] = defaultdict(list)
        secret_rows = await session.exec(
            select(WebhookSecret)
            .where(
                col(WebhookSecret.endpoint_id).in_(endpoint_ids),
                or_(col(WebhookSecret.expires_at).is_(None), col(WebhookSecret.expires_at) > now),
            )
            .order_by(col(WebhookSecret.id).desc())
        )
        for secret in secret_rows.all():
            secrets[secret.endpoint_id].append(secret.secret)
        targets = {
            endpoint.id: _Target(endpoint.url, secrets[endpoint.id], endpoint.failing_since)
            for endpoint in endpoints.all()
        }
        for item in claimed:
            targets[item.endpoint_id].claimed.append(item)
        return targets

    async def _payloads(self, event_ids: Iterable[str]) -> dict[str, bytes]:
        async with self._factory() as session:
            rows = await session.exec(
                select(col(OutboxEvent.id), col(OutboxEvent.payload)).where(
                    col(OutboxEvent.id).in_(list(event_ids))
                )
            )
            return {event_id: encode_payload(payload) for event_id, payload in rows.all()}

    async def _renew_leases(self, delivery_ids: list[int]) -> None:
        interval = self._config.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._factory() as session:
                    await session.exec(
                        update(WebhookDelivery)
                        .where(
                            col(WebhookDelivery.id).in_(delivery_ids),
                            col(WebhookDelivery.lease_owner) == self.owner,
                        )
                        .values(lease_until=utcnow() + self._config.lease)
                    )
                    await session.commit()
            except Exception:
                logger.exception("renewing webhook delivery leases failed")

    async def _serve(
        self,
        endpoint_id: str,
        target: _Target,
        payloads: dict[str, bytes],
        limit: asyncio.Semaphore,
    ) -> int:
        """Send one endpoint's claimed deliveries, then record what happened.

        Requests start in creation order with at most ``endpoint_in_flight`` awaiting an
        answer (best-effort order, as promised; a window of one makes it strict). After a
        failure no new request starts: a failing endpoint is not hammered with the rest of the
        batch, which goes back unchanged and is tried on a later pass.
        """
        http = await self._client_for(endpoint_id)
        async with limit:
            window = asyncio.Semaphore(self._config.endpoint_in_flight)
            failed = False

            async def send(item: _Claimed, body: bytes) -> _Sent | None:
                nonlocal failed
                async with window:  # waiters are woken first-in, first-out: starts stay ordered
                    if failed:
                        return None
                    at = utcnow()
                    result = await attempt_delivery(
                        http,
                        target.url,
                        msg_id=item.event_id,
                        timestamp=at,
                        body=body,
                        secrets=target.secrets,
                        timeout=self._config.timeout_s,
                    )
                    WEBHOOK_ATTEMPTS.labels(result.outcome).inc()
                    WEBHOOK_ATTEMPT_SECONDS.observe(result.duration_ms / 1000)
                    if result.outcome != "delivered":
                        failed = True
                    return _Sent(item, at, result)

            results = await asyncio.gather(
                *(
                    send(item, payloads[item.event_id])
                    for item in target.claimed
                    if item.event_id in payloads
                )
            )
            sent = [result for result in results if result is not None]
            # An event deleted after fan-out (retention) can never be sent.
            vanished = [c.delivery_id for c in target.claimed if c.event_id not in payloads]
        await self._record(_Served(endpoint_id, target, sent, vanished))
        return len(sent) + len(vanished)

    async def _record(self, served: _Served) -> None:
        """Group commit: whoever holds the lock writes everything queued so far in one
        transaction (SQLite has one writer; PostgreSQL is spared a commit per endpoint)."""
        self._unrecorded.append(served)
        async with self._record_lock:
            group, self._unrecorded = self._unrecorded, []
            if group:
                await self._write(group)

    async def _write(self, group: list[_Served]) -> None:
        now = utcnow()
        sent = [(served.endpoint_id, s) for served in group for s in served.sent]
        vanished = [delivery_id for served in group for delivery_id in served.vanished]
        handled = {s.claimed.delivery_id for _, s in sent} | set(vanished)
        untouched = [
            c.delivery_id
            for served in group
            for c in served.target.claimed
            if c.delivery_id not in handled
        ]
        async with self._factory() as session:
            if sent:
                connection = await session.connection()
                # Core executemany: the ORM's bulk path costs more per row than the insert.
                await connection.execute(
                    insert(ATTEMPTS_TABLE),
                    [
                        {
                            "delivery_id": s.claimed.delivery_id,
                            "endpoint_id": endpoint_id,
                            "event_id": s.claimed.event_id,
                            "attempted_at": s.at,
                            "outcome": s.result.outcome,
                            "status_code": s.result.status_code,
                            "duration_ms": round(s.result.duration_ms, 3),
                            "response_excerpt": s.result.response_excerpt,
                            "error": (s.result.error or "")[:1024] or None,
                            "dispatcher": self.owner[:128],
                        }
                        for endpoint_id, s in sent
                    ],
                )
                # Core executemany (one statement, many rows); the lease check fences off a
                # dispatcher whose lease expired and was taken over while it was sending.
                table = DELIVERIES_TABLE
                await connection.execute(
                    update(table)
                    .where(table.c.id == bindparam("b_id"), table.c.lease_owner == self.owner)
                    .values(
                        status=bindparam("b_status"),
                        cycle_attempts=bindparam("b_cycle"),
                        attempt_count=table.c.attempt_count + 1,
                        next_attempt_at=bindparam("b_next"),
                        last_status_code=bindparam("b_code"),
                        last_error=bindparam("b_error"),
                        delivered_at=bindparam("b_delivered"),
                        lease_owner=None,
                        lease_until=None,
                        updated_at=now,
                    ),
                    [self._transition(s, now) for _, s in sent],
                )
            if vanished:
                await session.exec(
                    update(WebhookDelivery)
                    .where(col(WebhookDelivery.id).in_(vanished))
                    .values(
                        status=DeliveryStatus.FAILED.value,
                        last_error="the message no longer exists (removed by retention)",
                        lease_owner=None,
                        lease_until=None,
                        updated_at=now,
                    )
                )
            if untouched:
                await session.exec(
                    update(WebhookDelivery)
                    .where(
                        col(WebhookDelivery.id).in_(untouched),
                        col(WebhookDelivery.lease_owner) == self.owner,
                    )
                    .values(lease_owner=None, lease_until=None)
                )
            for served in group:
                await self._update_endpoint_health(
                    session, served.endpoint_id, served.target, served.sent, now
                )
            await session.commit()

    def _transition(self, sent: _Sent, now: datetime) -> dict[str, Any]:
        result = sent.result
        cycle = sent.claimed.cycle_attempts + 1
        common = {
            "b_id": sent.claimed.delivery_id,
            "b_cycle": cycle,
            "b_code": result.status_code,
            "b_error": (result.error or "")[:1024] or None,
            "b_delivered": None,
            "b_next": now,
        }
        if result.outcome == "delivered":
            return {**common, "b_status": DeliveryStatus.DELIVERED.value, "b_delivered": now}
        delay = None
        if result.outcome != "gone":
            delay = next_attempt_delay(
                cycle,
                self._config.schedule,
                retry_after=result.retry_after,
                retry_after_cap=self._config.retry_after_cap,
            )
        if delay is None:
            return {**common, "b_status": DeliveryStatus.FAILED.value}
        return {**common, "b_status": DeliveryStatus.PENDING.value, "b_next": now + delay}

    async def _update_endpoint_health(
        self,
        session: AsyncSession,
        endpoint_id: str,
        target: _Target,
        sent: list[_Sent],
        now: datetime,
    ) -> None:
        if not sent:
            return
        last = sent[-1]
        if last.result.outcome == "delivered":
            if target.failing_since is not None:
                await session.exec(
                    update(WebhookEndpoint)
                    .where(col(WebhookEndpoint.id) == endpoint_id)
                    .values(failing_since=None)
                )
            return
        if last.result.outcome == "gone":
            await disable_endpoint(
                session, endpoint_id, reason="the receiver answered 410 Gone", now=now, emit=True
            )
            return
        # The failure window starts at the first failure after the last success.
        succeeded_now = any(s.result.outcome == "delivered" for s in sent)
        failing_since = target.failing_since
        if failing_since is None or succeeded_now:
            failing_since = last.at
            await session.exec(
                update(WebhookEndpoint)
                .where(col(WebhookEndpoint.id) == endpoint_id)
                .values(failing_since=failing_since)
            )
        if now - failing_since >= self._config.disable_after:
            hours = self._config.disable_after.total_seconds() / 3600
            await disable_endpoint(
                session,
                endpoint_id,
                reason=f"no successful delivery for {hours:g} h (last error: {last.result.error})",
                now=now,
                emit=True,
            )
