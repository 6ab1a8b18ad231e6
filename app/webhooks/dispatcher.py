"""The webhook dispatcher: fans outbox events out to endpoints and delivers them, at least once.

Endpoints are isolated from one another, as in Svix: each endpoint with work has its own
*lane* (a task with its own queue, request window and connection pool), so an endpoint that
answers in 10 s, hangs until the timeout or fails delays nobody else's deliveries.

The loop (``run_forever``) does passes that never wait for sending:

1. **fan out** — outbox events not yet fanned out become one ``webhook_deliveries`` row per
   enabled endpoint whose filters match (event type; agency, for events that have one);
2. **claim** — due pending deliveries are leased to this dispatcher (``FOR UPDATE SKIP LOCKED``
   on PostgreSQL, so replicas never claim the same row; on SQLite the conditional ``UPDATE``
   itself is the claim, and one dispatcher is expected), at most ``batch_size`` per pass and
   per endpoint, skipping endpoints whose lane is full, and handed to the endpoints' lanes;
3. **send** — each lane starts its deliveries in creation order with at most
   ``endpoint_in_flight`` awaiting an answer; the leases of everything held are renewed;
4. **record** — each attempt is written as soon as it completes (a group commit of whatever
   finished meanwhile; a request's window slot is freed only once its result is committed, so
   a crash resends at most the requests in flight): attempt logged, delivery delivered,
   rescheduled with back-off or failed; endpoints that answered 410 or have failed for longer
   than the window are disabled and ``endpoint.disabled`` is emitted, in the same transaction.

A failed delivery is rescheduled and the endpoint's other deliveries carry on (best-effort
order). With ``WEBHOOK_ORDERED=true`` an endpoint's deliveries go one at a time and a
delivery is never started while an earlier one of the same endpoint is still pending: a
failure holds the endpoint's queue back until it is delivered or has failed for good.

A dispatcher killed mid-send leaves leases that expire; whoever claims next sends the same
message again with the same ``webhook-id``, which is what subscribers de-duplicate on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Table, and_, bindparam, exists, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
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
# Per endpoint, how many answered deliveries may wait for their group commit while the lane
# goes on sending: what a crash can resend is at most this plus the requests in flight. Small
# enough to bound duplicates, large enough that a commit records many answers at once.
RECORD_BEHIND = 16
# How long the recorder lets answers gather before it commits them together: 20 ms gathers
# a busy endpoint's answers into a few commits (SQLite has one writer) and is nothing beside
# the 5 s of the first retry; bench/webhooks.py measured 5 ms at 752–1011/s, 20 ms 999–1179/s.
RECORD_LINGER_S = 0.02
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
    ordered: bool = False

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
            endpoint_in_flight=1
            if settings.webhook_ordered
            else settings.webhook_endpoint_in_flight,
            ordered=settings.webhook_ordered,
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
    body: bytes | None = None  # None: the event is gone (retention); it can never be sent


@dataclass
class _Target:
    url: str
    secrets: list[str]
    failing_since: datetime | None


@dataclass
class _Lane:
    """One endpoint's deliveries held by this dispatcher and the task that sends them."""

    endpoint_id: str
    target: _Target
    queue: deque[_Claimed] = field(default_factory=deque)
    held: set[int] = field(default_factory=set)  # claimed and not yet recorded
    task: asyncio.Task[None] | None = None
    stopped: bool = False  # disabled, or (ordered) a failure: take nothing more


@dataclass
class _Sent:
    claimed: _Claimed
    at: datetime
    result: AttemptResult


@dataclass
class _Entry:
    """One thing to write: an attempt, a vanished message, or leases to give back."""

    lane: _Lane
    sent: _Sent | None = None
    vanished: _Claimed | None = None
    released: list[int] = field(default_factory=list)
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


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
        self._box = settings.webhook_secret_box()
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
        self._lanes: dict[str, _Lane] = {}
        self._held: set[int] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._requests = asyncio.Semaphore(self._config.max_concurrency)
        self._unrecorded: list[_Entry] = []
        self._writer: asyncio.Task[None] | None = None

    @property
    def _lane_capacity(self) -> int:
        return max(self._config.batch_size, self._config.endpoint_in_flight)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever(), name=f"dispatcher {self.owner}")

    def wake(self) -> None:
        """Look for work now rather than at the next poll (called after events are committed)."""
        self._wake.set()

    async def run_forever(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                busy = await self._pass()
            except Exception:
                logger.exception("webhook dispatcher pass failed")
                busy = 0
            if busy or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.poll_interval_s)

    async def aclose(self, grace_s: float = 10.0) -> None:
        """Stop claiming, let the requests in flight finish and be recorded (cancelled after
        ``grace_s``: a cancelled request only means its message is sent again, same id) and
        give back the leases of everything not started."""
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
        for lane in self._lanes.values():
            lane.stopped = True
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer, grace_s)
            self._writer = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
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
                evicted_id, evicted = self._clients.popitem(last=False)
                if evicted_id in self._lanes:  # still sending: keep it, evict nothing now
                    self._clients[evicted_id] = evicted
                    self._clients.move_to_end(evicted_id, last=False)
                else:
                    await evicted.aclose()
        self._clients.move_to_end(endpoint_id)
        return client

    async def run_once(self) -> int:
        """One pass, then wait until everything claimed so far is sent and recorded (tests);
        returns the number of events fanned out and deliveries claimed."""
        handled = await self._pass()
        await self.settle()
        return handled

    async def settle(self) -> None:
        """Wait until no lane has work left."""
        while True:
            tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Run passes until nothing is due and nothing is held (tests, the demo, benchmarks);
        bound it by the caller's ``asyncio.timeout``. Passes do not wait for slow lanes."""
        while True:
            self._wake.clear()
            if await self._pass():
                continue
            if not self._lanes:
                return
            await self._wake.wait()

    # --- one pass --------------------------------------------------------------------------

    async def _pass(self) -> int:
        """Fan out, claim and hand the claims to the lanes; returns events + deliveries."""
        fanned = await fan_out(self._factory)
        if self._stopping:
            return fanned
        return fanned + await self._claim()

    async def _claim(self) -> int:
        now = utcnow()
        capacity = self._lane_capacity
        full = [
            endpoint_id
            for endpoint_id, lane in self._lanes.items()
            if not lane.stopped and len(lane.held) >= capacity
        ]
        room = {
            endpoint_id: capacity - len(lane.held)
            for endpoint_id, lane in self._lanes.items()
            if not lane.stopped
        }
        lease_free = or_(
            col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now
        )
        query = (
            select(col(WebhookDelivery.id), col(WebhookDelivery.endpoint_id))
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
        if full:
            query = query.where(col(WebhookDelivery.endpoint_id).not_in(full))
        if self._config.ordered:
            # Strict order: nothing starts while an earlier delivery of the endpoint is still
            # pending and not ours to send next (backing off, or leased by another replica).
            earlier = aliased(WebhookDelivery)
            query = query.where(
                ~exists().where(
                    col(earlier.endpoint_id) == col(WebhookDelivery.endpoint_id),
                    col(earlier.id) < col(WebhookDelivery.id),
                    col(earlier.status) == DeliveryStatus.PENDING.value,
                    or_(
                        col(earlier.next_attempt_at) > now,
                        and_(
                            col(earlier.lease_until) >= now,
                            col(earlier.lease_owner) != self.owner,
                        ),
                    ),
                )
            )
        async with self._factory() as session:
            due = await session.exec(query)
            ids: list[int] = []
            for delivery_id, endpoint_id in due.all():
                left = room.get(endpoint_id, capacity)
                if delivery_id is not None and left > 0:
                    ids.append(delivery_id)
                    room[endpoint_id] = left - 1
            if not ids:
                await session.rollback()
                return 0
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
                return 0
            items = [_Claimed(*row) for row in rows]
            self._held.update(item.delivery_id for item in items)
            try:
                targets = await self._targets(session, {c.endpoint_id for c in items}, now)
                payloads = await self._payloads(session, {c.event_id for c in items})
            except BaseException:
                self._held.difference_update(item.delivery_id for item in items)
                raise
        self._ensure_heartbeat()
        for item in items:
            item.body = payloads.get(item.event_id)
            lane = self._lanes.get(item.endpoint_id)
            if lane is None or lane.stopped:
                lane = _Lane(item.endpoint_id, targets[item.endpoint_id])
                self._lanes[item.endpoint_id] = lane
            else:
                lane.target.url = targets[item.endpoint_id].url
                lane.target.secrets = targets[item.endpoint_id].secrets
            lane.queue.append(item)
            lane.held.add(item.delivery_id)
        for lane in self._lanes.values():
            if lane.task is None and lane.queue:
                lane.task = asyncio.create_task(
                    self._run_lane(lane), name=f"webhook lane {lane.endpoint_id}"
                )
        return len(items)

    async def _targets(
        self, session: AsyncSession, endpoint_ids: set[str], now: datetime
    ) -> dict[str, _Target]:
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
            secrets[secret.endpoint_id].append(self._reveal(secret))
        return {
            endpoint.id: _Target(endpoint.url, secrets[endpoint.id], endpoint.failing_since)
            for endpoint in endpoints.all()
        }

    def _reveal(self, secret: WebhookSecret) -> str:
        return self._box.open(secret.secret)

    async def _payloads(self, session: AsyncSession, event_ids: Iterable[str]) -> dict[str, bytes]:
        rows = await session.exec(
            select(col(OutboxEvent.id), col(OutboxEvent.payload)).where(
                col(OutboxEvent.id).in_(list(event_ids))
            )
        )
        return {event_id: encode_payload(payload) for event_id, payload in rows.all()}

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._renew_leases(), name="webhook leases")

    async def _renew_leases(self) -> None:
        """Renew the lease of everything held (queued or in flight) until nothing is."""
        interval = self._config.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            held = list(self._held)
            if not held:
                return
            try:
                async with self._factory() as session:
                    await session.exec(
                        update(WebhookDelivery)
                        .where(
                            col(WebhookDelivery.id).in_(held),
                            col(WebhookDelivery.lease_owner) == self.owner,
                        )
                        .values(lease_until=utcnow() + self._config.lease)
                    )
                    await session.commit()
            except Exception:
                logger.exception("renewing webhook delivery leases failed")

    # --- one endpoint's lane ---------------------------------------------------------------

    async def _run_lane(self, lane: _Lane) -> None:
        """Start the lane's deliveries in creation order, at most ``endpoint_in_flight``
        awaiting an answer and at most ``RECORD_BEHIND`` more answered but not yet committed
        (waiters are woken first-in, first-out, so starts stay ordered)."""
        window = asyncio.Semaphore(self._config.endpoint_in_flight)
        budget = asyncio.Semaphore(self._config.endpoint_in_flight + RECORD_BEHIND)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            http = await self._client_for(lane.endpoint_id)
            while True:
                if lane.queue and not lane.stopped:
                    await budget.acquire()
                    await window.acquire()
                    if lane.stopped or not lane.queue:
                        window.release()
                        budget.release()
                        continue
                    item = lane.queue.popleft()
                    task = asyncio.create_task(self._deliver(lane, item, http, window))
                    task.add_done_callback(lambda _: budget.release())
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                elif in_flight:
                    await asyncio.wait(set(in_flight), return_when=asyncio.FIRST_COMPLETED)
                else:
                    break
            if lane.queue:  # stopped: give the rest back untouched, for a later pass
                left = [item.delivery_id for item in lane.queue]
                lane.queue.clear()
                try:
                    await self._record(_Entry(lane, released=left))
                finally:
                    self._forget(lane, left)
        except BaseException:
            for task in in_flight:
                task.cancel()
            raise
        finally:
            self._forget(lane, [item.delivery_id for item in lane.queue])
            lane.queue.clear()
            lane.task = None
            if self._lanes.get(lane.endpoint_id) is lane:
                del self._lanes[lane.endpoint_id]
            self._wake.set()

    def _forget(self, lane: _Lane, delivery_ids: Iterable[int]) -> None:
        for delivery_id in delivery_ids:
            lane.held.discard(delivery_id)
            self._held.discard(delivery_id)

    async def _deliver(
        self, lane: _Lane, item: _Claimed, http: httpx.AsyncClient, window: asyncio.Semaphore
    ) -> None:
        answered = False
        try:
            if item.body is None:
                answered = True
                window.release()
                await self._record(_Entry(lane, vanished=item))
                return
            target = lane.target
            try:
                async with self._requests:
                    at = utcnow()
                    result = await attempt_delivery(
                        http,
                        target.url,
                        msg_id=item.event_id,
                        timestamp=at,
                        body=item.body,
                        secrets=target.secrets,
                        timeout=self._config.timeout_s,
                    )
                if result.outcome != "delivered" and (
                    self._config.ordered or result.outcome == "gone"
                ):
                    lane.stopped = True  # before the window opens: nothing more starts
            finally:
                answered = True
                window.release()
            WEBHOOK_ATTEMPTS.labels(result.outcome).inc()
            WEBHOOK_ATTEMPT_SECONDS.observe(result.duration_ms / 1000)
            await self._record(_Entry(lane, sent=_Sent(item, at, result)))
        except Exception:
            # Not recorded (the database is unreachable?): the lease expires and the message
            # is sent again later, with the same id.
            logger.exception("recording a webhook delivery failed")
            lane.stopped = True
            if not answered:
                window.release()
        finally:
            before = len(lane.held)
            self._forget(lane, [item.delivery_id])
            low = self._lane_capacity // 2
            if before > low >= len(lane.held):
                self._wake.set()  # room in this lane: claim more without waiting for the poll

    async def _record(self, entry: _Entry) -> None:
        """Queue ``entry`` for the next group commit and return once it is committed (raises
        if that write failed)."""
        self._unrecorded.append(entry)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="webhook recorder")
        await entry.done

    async def _write_loop(self) -> None:
        """Group commit: write whatever has been answered in the last few milliseconds in one
        transaction (SQLite has one writer; PostgreSQL is spared a commit per attempt)."""
        while self._unrecorded:
            await asyncio.sleep(RECORD_LINGER_S)  # let the answers arriving meanwhile join
            group, self._unrecorded = self._unrecorded, []
            try:
                await self._write(group)
            except Exception as exc:
                for queued in group:
                    if not queued.done.done():
                        queued.done.set_exception(exc)
            except BaseException:
                for queued in group + self._unrecorded:
                    if not queued.done.done():
                        queued.done.set_exception(RuntimeError("the recorder was cancelled"))
                self._unrecorded = []
                raise
            else:
                for queued in group:
                    if not queued.done.done():
                        queued.done.set_result(None)

    async def _write(self, group: list[_Entry]) -> None:
        now = utcnow()
        sent = [(entry.lane, entry.sent) for entry in group if entry.sent is not None]
        vanished = [entry.vanished.delivery_id for entry in group if entry.vanished is not None]
        released = [delivery_id for entry in group for delivery_id in entry.released]
        async with self._factory() as session:
            if sent:
                connection = await session.connection()
                # Core executemany: the ORM's bulk path costs more per row than the insert.
                await connection.execute(
                    insert(ATTEMPTS_TABLE),
                    [
                        {
                            "delivery_id": s.claimed.delivery_id,
                            "endpoint_id": lane.endpoint_id,
                            "event_id": s.claimed.event_id,
                            "attempted_at": s.at,
                            "outcome": s.result.outcome,
                            "status_code": s.result.status_code,
                            "duration_ms": round(s.result.duration_ms, 3),
                            "response_excerpt": s.result.response_excerpt,
                            "error": (s.result.error or "")[:1024] or None,
                            "dispatcher": self.owner[:128],
                        }
                        for lane, s in sent
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
            if released:
                await session.exec(
                    update(WebhookDelivery)
                    .where(
                        col(WebhookDelivery.id).in_(released),
                        col(WebhookDelivery.lease_owner) == self.owner,
                    )
                    .values(lease_owner=None, lease_until=None)
                )
            by_lane: dict[int, tuple[_Lane, list[_Sent]]] = {}
            for lane, s in sent:
                by_lane.setdefault(id(lane), (lane, []))[1].append(s)
            health = [
                (lane, await self._update_endpoint_health(session, lane, lane_sent, now))
                for lane, lane_sent in by_lane.values()
            ]
            await session.commit()
        for lane, (failing_since, disabled) in health:
            lane.target.failing_since = failing_since
            if disabled:
                lane.stopped = True

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
        self, session: AsyncSession, lane: _Lane, sent: list[_Sent], now: datetime
    ) -> tuple[datetime | None, bool]:
        """The endpoint's failure window after ``sent``: (failing since, disabled now)."""
        endpoint_id, target = lane.endpoint_id, lane.target
        last = sent[-1]
        if last.result.outcome == "delivered":
            if target.failing_since is not None:
                await session.exec(
                    update(WebhookEndpoint)
                    .where(col(WebhookEndpoint.id) == endpoint_id)
                    .values(failing_since=None)
                )
            return None, False
        if last.result.outcome == "gone":
            await disable_endpoint(
                session, endpoint_id, reason="the receiver answered 410 Gone", now=now, emit=True
            )
            return target.failing_since, True
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
            return failing_since, True
        return failing_since, False
