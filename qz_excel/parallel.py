"""Both cores for batch work: chunks of items to a process pool, results in order.

Chunks (50 items by default) keep the pool's per-task overhead small: measured here,
chunks of 50 gave 1.6× on 2 cores where chunks of 1 gave 1.2×. Small batches stay in this
process, where starting workers would cost more than it saves.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

CHUNK_SIZE = 50
MIN_PARALLEL = 100


def worker_count() -> int:
    env = os.environ.get("QZ_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_chunks(fn: Callable[..., list[R]], items: Sequence[T], *args,
               progress: Callable[[int], None] | None = None,
               chunk_size: int = CHUNK_SIZE, min_parallel: int = MIN_PARALLEL) -> list[R]:
    """``fn(chunk, *args)`` returns one result per item of its chunk; this returns all the
    results in item order. ``fn`` must be a module-level function (it is pickled)."""
    chunks = [items[i:i + chunk_size] for i in range(0, len(items), chunk_size)]
    workers = min(worker_count(), len(chunks))
    if workers <= 1 or len(items) < min_parallel:
        results = []
        for chunk in chunks:
            results.extend(fn(chunk, *args))
            if progress:
                progress(len(chunk))
        return results
    done: dict[int, list[R]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fn, chunk, *args): k for k, chunk in enumerate(chunks)}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            if progress:
                progress(len(done[futures[future]]))
    return [r for k in range(len(chunks)) for r in done[k]]
