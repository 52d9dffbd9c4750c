"""Delivering queued events to their endpoints (see `tinyreg.registry.notifier` for the queueing).

`Delivery.run` is a task of the server's nursery. It takes a lease in the metadata store, so with
`--workers N` one process delivers (a killed holder's lease expires and another takes over), and
runs one task per target (each configured endpoint, each project's hook): a slow or dead endpoint
holds back only its own queue. A target's task posts the oldest pending events in one envelope;
a 2xx answer removes them (delivered), anything else, or no answer within the endpoint's
`timeout`, is a failed attempt: counted, retried after the endpoint's `backoff` (doubling, capped),
and after `threshold` failures in a row the endpoint is logged as failing, once, until it recovers.
Delivery is at least once: a crash between a 2xx and the removal sends those events again.

`run_pull_flusher` runs in every process: it queues the pulls noted on the request path in one
unit of work about every `PULL_FLUSH_INTERVAL`.

Cancellation waits for a unit of work in a worker thread to finish, never abandons it midway.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import trio

from tinyreg.registry.cleanup import release_lease, take_lease
from tinyreg.registry.events import EVENTS_MEDIA_TYPE, envelope
from tinyreg.registry.notification_settings import Endpoint, retry_delay
from tinyreg.registry.notifier import PULL_FLUSH_INTERVAL, Notifier
from tinyreg.storage.interfaces import MetaStore

log = logging.getLogger("tinyreg.notifications")

DELIVERY_LEASE = "notifications"
LEASE_TTL = 30.0
#: How often the targets are looked up again (a hook added or removed) and the lease renewed.
LOOK_INTERVAL = 1.0
RENEW_INTERVAL = LEASE_TTL / 3
#: How often an idle target looks for new events.
POLL_INTERVAL = 0.2
#: Events per envelope (~0.5 MiB of pulls): a POST costs about what a few events' queueing does, so
#: busy registries send few, large envelopes; a quiet one sends each event as it comes.
BATCH = 500


async def run_pull_flusher(notifier: Notifier) -> None:
    """Queue the noted pulls every `PULL_FLUSH_INTERVAL`; look for hooks about every second."""
    ticks = 0
    try:
        while True:
            await trio.sleep(PULL_FLUSH_INTERVAL)
            ticks += 1
            try:
                if notifier.has_pulls:
                    await trio.to_thread.run_sync(notifier.flush, notifier.take_pulls())
                elif ticks % 10 == 0:
                    notifier.look_for_hooks()
            except Exception:  # a failed flush loses those pull events only; serving goes on
                log.exception("queueing pull events failed")
    finally:
        if notifier.has_pulls:  # stopping: keep what was noted (a short unit of work)
            notifier.flush()


class Delivery:
    """Delivers every target's queue while this process holds the delivery lease."""

    def __init__(self, meta: MetaStore, notifier: Notifier, holder: str) -> None:
        self.meta = meta
        self.notifier = notifier
        self.holder = holder
        self._running: dict[str, tuple[Endpoint, trio.CancelScope]] = {}

    def _targets(self) -> list[Endpoint]:
        with self.meta.read() as tx:
            return self.notifier.targets(tx)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        holding, renewed = False, -RENEW_INTERVAL
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                while True:
                    try:
                        targets = self._targets()
                        if not targets:
                            holding = False  # nothing to deliver: no lease taken, no write
                        elif not holding or trio.current_time() - renewed >= RENEW_INTERVAL:
                            holding = await trio.to_thread.run_sync(
                                take_lease, self.meta, DELIVERY_LEASE, self.holder, time.time(), LEASE_TTL
                            )
                            renewed = trio.current_time()
                        self._adjust(nursery, targets if holding else [])
                    except Exception:  # looked at again in a moment; serving goes on
                        log.exception("looking for notification targets failed")
                    await trio.sleep(LOOK_INTERVAL)
        finally:
            if holding:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(release_lease, self.meta, DELIVERY_LEASE, self.holder)

    def _adjust(self, nursery: trio.Nursery, targets: list[Endpoint]) -> None:
        """Start a task for each new target; stop those of targets gone or changed."""
        wanted = {endpoint.queue: endpoint for endpoint in targets}
        for queue, (endpoint, scope) in list(self._running.items()):
            if wanted.get(queue) != endpoint:
                scope.cancel()
                del self._running[queue]
        for queue, endpoint in wanted.items():
            if queue not in self._running:
                scope = trio.CancelScope()
                self._running[queue] = (endpoint, scope)
                nursery.start_soon(self._deliver, endpoint, scope)

    async def _deliver(self, endpoint: Endpoint, scope: trio.CancelScope) -> None:
        import httpx  # imported once something is to be delivered, not at start-up

        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per delivery would drown the access log
        queue = endpoint.queue
        with scope:
            log.info("delivering events to %s (%s), timeout %gs", endpoint.name, endpoint.url, endpoint.timeout)
            async with httpx.AsyncClient(verify=endpoint.verify_tls, timeout=endpoint.timeout) as client:
                failures = 0
                while True:
                    batch = await trio.to_thread.run_sync(_pending, self.meta, queue)
                    if not batch:
                        await trio.sleep(POLL_INTERVAL)
                        continue
                    problem = await _post(client, endpoint, envelope([event for _, event in batch]))
                    if problem is None:
                        await trio.to_thread.run_sync(_acknowledge, self.meta, queue, batch[-1][0])
                        if failures >= endpoint.threshold:
                            log.info("endpoint %s (%s) is delivered to again", endpoint.name, endpoint.url)
                        failures = 0
                        continue
                    failures += 1
                    await trio.to_thread.run_sync(_count_failure, self.meta, queue)
                    if failures == endpoint.threshold:  # once per failing stretch, not per event or attempt
                        log.warning(
                            "endpoint %s (%s) is failing: %d attempts in a row failed (%s); its events wait and are retried",
                            endpoint.name,
                            endpoint.url,
                            failures,
                            problem,
                        )
                    await trio.sleep(retry_delay(endpoint.backoff, failures))


def _pending(meta: MetaStore, queue: str) -> list[tuple[int, bytes]]:
    # In a worker thread: reading a full batch takes a millisecond or two, the loop serves meanwhile.
    with meta.read() as tx:
        return tx.pending_events(queue, limit=BATCH)


def _acknowledge(meta: MetaStore, queue: str, last: int) -> None:
    meta.write(lambda tx: tx.ack_events(queue, last))


def _count_failure(meta: MetaStore, queue: str) -> None:
    meta.write(lambda tx: tx.count_event_failure(queue))


async def _post(client: Any, endpoint: Endpoint, body: bytes) -> str | None:
    """Post one envelope; None when delivered (2xx), else what went wrong."""
    import httpx

    headers = [("Content-Type", EVENTS_MEDIA_TYPE), *endpoint.header_pairs()]
    with trio.move_on_after(endpoint.timeout) as bounded:  # the whole attempt, however slowly bytes trickle
        try:
            response = await client.post(endpoint.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
    if bounded.cancelled_caught:
        return f"no answer within {endpoint.timeout:g}s"
    return None if 200 <= response.status_code < 300 else f"answered {response.status_code}"
