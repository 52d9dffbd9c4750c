"""Calling the blob store from async code: inline for local files, in a worker thread for a remote store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import trio

from tinyreg.storage.interfaces import BlobStore

T = TypeVar("T")


async def call_store(store: BlobStore, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, which calls `store`: a file store's quick calls stay on the event loop
    (cheaper than a thread hop), a remote store's (S3: a request each) never block it."""
    if store.remote:
        return await trio.to_thread.run_sync(function, *args)
    return function(*args)
