"""Calling a store from async code: inline for a local one, in a worker thread for a remote one."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from tinyreg.storage.interfaces import BlobStore, MetaStore

T = TypeVar("T")

#: One limiter per remote metadata store, as many threads as it has connections: a thread more
#: would only wait inside the pool, holding one of trio's shared worker threads meanwhile.
_limiters: weakref.WeakKeyDictionary[Any, trio.CapacityLimiter] = weakref.WeakKeyDictionary()


async def call_store(store: BlobStore, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, which calls `store`: a file store's quick calls stay on the event loop
    (cheaper than a thread hop), a remote store's (S3: a request each) never block it."""
    if store.remote:
        return await trio.to_thread.run_sync(function, *args)
    return function(*args)


async def call_meta(meta: MetaStore, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, which reads or writes `meta`: inline on LMDB (microseconds), in a worker
    thread on a database server (round trips during which every other request would wait).

    A cancelled request waits for its call to finish (`abandon_on_cancel=False`): the thread
    then ends its transaction and gives its connection back, rather than leaving both to a
    thread nobody waits for."""
    if not meta.remote:
        return function(*args)
    limiter = _limiters.get(meta)
    if limiter is None:
        limiter = _limiters[meta] = trio.CapacityLimiter(meta.threads)
    return await trio.to_thread.run_sync(function, *args, limiter=limiter)


async def call_stores(meta: MetaStore, store: BlobStore, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, which calls both `meta` and `store`: in a worker thread if either is remote."""
    if meta.remote:
        return await call_meta(meta, function, *args)
    return await call_store(store, function, *args)
