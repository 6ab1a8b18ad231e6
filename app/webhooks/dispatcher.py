"""The webhook dispatcher's loop: fans outbox events out and delivers them, at least once.

Endpoints are isolated from one another, as in Svix: each endpoint with work has its own
*lane* (a task with its own queue, request window and connection pool), so an endpoint that
answers in 10 s, hangs until the timeout or fails delays nobody else's deliveries.

The loop (``run_forever``) does passes that never wait for sending; the jobs live in their own
modules (``fan_out``, ``claims``, ``sending``, ``outcomes``), this one runs them:

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
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import httpx

from app.db import SessionFactory
from app.metrics import WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_ATTEMPTS
from app.models import WebhookSecret
from app.models.types import utcnow
from app.settings import Settings
from app.webhooks.claims import Claimed, Lane, claim_due, renew_leases
from app.webhooks.endpoints import ssrf_policy
from app.webhooks.fan_out import fan_out
from app.webhooks.outcomes import Entry, Sent, write_outcomes
from app.webhooks.sending import attempt_delivery, build_client

logger = logging.getLogger(__name__)

# Per endpoint, how many answered deliveries may wait for their group commit while the lane
# goes on sending: what a crash can resend is at most this plus the requests in flight. Small
# enough to bound duplicates, large enough that a commit records many answers at once.
RECORD_BEHIND = 16
# How long the recorder lets answers gather before it commits them together: 20 ms gathers
# a busy endpoint's answers into a few commits (SQLite has one writer) and is nothing beside
# the 5 s of the first retry; bench/webhooks.py measured 5 ms at 752–1011/s, 20 ms 999–1179/s.
RECORD_LINGER_S = 0.02
MAX_CLIENTS = 256


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
        self._lanes: dict[str, Lane] = {}
        self._held: set[int] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._requests = asyncio.Semaphore(self._config.max_concurrency)
        self._unrecorded: list[Entry] = []
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
        claim = await claim_due(
            self._factory,
            owner=self.owner,
            lease=self._config.lease,
            batch_size=self._config.batch_size,
            ordered=self._config.ordered,
            capacity=self._lane_capacity,
            lanes=self._lanes,
            held=self._held,
            reveal=self._reveal,
        )
        if claim is None:
            return 0
        items, targets = claim.items, claim.targets
        self._ensure_heartbeat()
        for item in items:
            lane = self._lanes.get(item.endpoint_id)
            if lane is None or lane.stopped:
                lane = Lane(item.endpoint_id, targets[item.endpoint_id])
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

    def _reveal(self, secret: WebhookSecret) -> str:
        return self._box.open(secret.secret)

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
                await renew_leases(self._factory, held, owner=self.owner, lease=self._config.lease)
            except Exception:
                logger.exception("renewing webhook delivery leases failed")

    # --- one endpoint's lane ---------------------------------------------------------------

    async def _run_lane(self, lane: Lane) -> None:
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
                    await self._record(Entry(lane, released=left))
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

    def _forget(self, lane: Lane, delivery_ids: Iterable[int]) -> None:
        for delivery_id in delivery_ids:
            lane.held.discard(delivery_id)
            self._held.discard(delivery_id)

    async def _deliver(
        self, lane: Lane, item: Claimed, http: httpx.AsyncClient, window: asyncio.Semaphore
    ) -> None:
        answered = False
        try:
            if item.body is None:
                answered = True
                window.release()
                await self._record(Entry(lane, vanished=item))
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
            await self._record(Entry(lane, sent=Sent(item, at, result)))
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

    async def _record(self, entry: Entry) -> None:
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

    async def _write(self, group: list[Entry]) -> None:
        await write_outcomes(
            self._factory,
            group,
            owner=self.owner,
            schedule=self._config.schedule,
            retry_after_cap=self._config.retry_after_cap,
            disable_after=self._config.disable_after,
        )
