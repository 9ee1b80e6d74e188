"""Both cores for batch work: chunks of items to a process pool, results in order.

Chunks (up to 50 items) keep the pool's per-task overhead small: measured here, chunks of
50 gave 1.6× on 2 cores where chunks of 1 gave 1.2×. Small batches stay in this process,
where starting workers would cost more than it saves.
"""

from __future__ import annotations

import gc
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed, wait

# before Python 3.11 the pool's time-out is its own class, not the built-in TimeoutError
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

CHUNK_SIZE = 50
MIN_CHUNK = 10
MIN_PARALLEL = 100


def worker_count() -> int:
    env = os.environ.get("QZ_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _chunked(items: Sequence[T], size: int | None) -> list[list[T]]:
    size = size or chunk_size_for(len(items))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def chunk_size_for(n: int) -> int:
    """CHUNK_SIZE items a chunk, but at least four chunks a worker for smaller batches (no
    fewer than MIN_CHUNK items): a core left waiting for the other's last big chunk is what
    small batches lose most to."""
    return max(MIN_CHUNK, min(CHUNK_SIZE, -(-n // (4 * worker_count()))))


class Workers:
    """A process pool forked now, while this process is still small, to be used later by
    :class:`Chunks`: workers forked after the results have grown would each carry (and,
    through reference counting, slowly copy) the grown heap."""

    def __init__(self, background: bool = False):
        self.count = worker_count()
        self.pool = None
        if self.count > 1:
            self.pool = ProcessPoolExecutor(
                max_workers=self.count, initializer=_init_worker, initargs=(os.getpid(), background, None)
            )
            # the executor starts its workers on the first submissions (all at once under
            # fork, one per submission with no idle worker otherwise): start them now
            with _forking():
                wait([self.pool.submit(os.getpid) for _ in range(self.count)])

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if self.pool:
            if exc_type is None:
                self.pool.shutdown(wait=True, cancel_futures=True)
            else:  # failed or interrupted: what the workers are doing is of no use now
                _kill(self.pool)


class Chunks:
    """Chunks of items sent to a process pool as its workers become free, from a feeder
    thread; results collected later with :meth:`results`, so the caller can do other work
    meanwhile. Small batches are computed in this process, at :meth:`results`.
    ``fn(chunk, *args)`` returns one result per item and must be a module-level function
    (it is pickled).

    ``prepare(chunk)``, if given, turns a chunk of items into what ``fn`` receives, in this
    process and only shortly before a worker needs it: a feeder thread keeps at most
    ``in_flight`` chunks (default: two per worker) submitted, so what is prepared for 2,000
    towns never lies in memory at once."""

    def __init__(
        self,
        fn: Callable[..., list[R]],
        items: Sequence[T],
        *args,
        prepare: Callable[[list[T]], list] | None = None,
        chunk_size: int | None = None,
        min_parallel: int = MIN_PARALLEL,
        workers: Workers | None = None,
        in_flight: int | None = None,
    ):
        """``workers``: a pool forked earlier (see :class:`Workers`); else one is forked now
        and shut down after :meth:`results`."""
        self.fn, self.args, self.prepare = fn, args, prepare or (lambda chunk: chunk)
        self.chunks = _chunked(items, chunk_size)
        self.own, self.pool = None, None
        if worker_count() > 1 and len(items) >= min_parallel:
            if workers is None:
                # forked here, before the feeder thread starts: never fork from a thread
                workers = self.own = Workers()
            self.pool = workers.pool
        if self.pool and workers is not None:
            self._submitted: queue.Queue = queue.Queue()
            self._slots = threading.BoundedSemaphore(in_flight or 2 * workers.count)
            threading.Thread(target=self._feed, name="qz-chunk-feeder", daemon=True).start()

    def _feed(self) -> None:
        """Submit the chunks in order, each once a slot is free; a failure (here, or a pool
        that was shut down) is handed to :meth:`results` in place of the next future."""
        assert self.pool is not None
        try:
            for chunk in self.chunks:
                self._slots.acquire()
                future = self.pool.submit(self.fn, self.prepare(chunk), *self.args)
                future.add_done_callback(lambda _: self._slots.release())
                self._submitted.put(future)
        except BaseException as exc:  # noqa: BLE001 — re-raised in the caller's thread
            self._submitted.put(exc)

    def _next(self) -> list:
        item = self._submitted.get()
        if isinstance(item, BaseException):
            raise item
        return item.result()

    def results(self, progress: Callable[[int], None] | None = None) -> list:
        out: list = []
        try:
            for chunk in self.chunks:
                out.extend(self._next() if self.pool else self.fn(self.prepare(chunk), *self.args))
                if progress:
                    progress(len(chunk))
        except BaseException:
            if self.own:
                self.own.__exit__(*sys.exc_info())
            raise
        if self.own:
            self.own.__exit__(None, None, None)
        return out


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _init_worker(creator: int, background: bool, memory_mb: int | None) -> None:
    """Every worker: ends with its parent, leaves Ctrl-C to it, optionally runs at a lower
    priority or with a memory cap."""
    _die_with_parent(creator)
    # Ctrl-C reaches the whole process group: the parent stops the run and kills its
    # workers; a worker's own KeyboardInterrupt would only print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _SIGINT_MASKABLE:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by _forking
    if background:
        _lower_priority()
    if memory_mb:
        _limit_memory(memory_mb)


def _die_with_parent(creator: int) -> None:
    """A killed parent cannot stop its workers, which would otherwise wait for work that
    never comes, each holding its memory. On Linux the kernel kills them with the parent;
    elsewhere a thread notices within half a second."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    parent = os.getppid()
    if parent != creator and parent == 1:  # the parent died before the line above
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="qz-parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _lower_priority() -> None:
    try:
        os.nice(10)
    except (AttributeError, OSError):  # not on this platform: run at normal priority
        pass


_SIGINT_MASKABLE = hasattr(signal, "pthread_sigmask")


@contextmanager
def _forking():
    """Workers are forked while the heap is frozen, so their garbage collector never walks
    (and so never copies) the parent's objects: without it every worker slowly duplicates
    the parent's whole heap, and memory grows with the number of towns.

    Ctrl-C is held back meanwhile (the children inherit the mask until their initializer
    ignores it): a worker interrupted before it could would print a traceback."""
    gc.freeze()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if _SIGINT_MASKABLE else None
    try:
        yield
    finally:
        if old_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)  # a held Ctrl-C acts now
        gc.unfreeze()


def map_chunks(
    fn: Callable[..., list[R]],
    items: Sequence[T],
    *args,
    progress: Callable[[int], None] | None = None,
    chunk_size: int | None = None,
    min_parallel: int = MIN_PARALLEL,
) -> list[R]:
    """All results of ``fn`` over ``items`` in item order, on every core for large batches."""
    return Chunks(fn, items, *args, chunk_size=chunk_size, min_parallel=min_parallel).results(progress)


def _limit_memory(megabytes: int) -> None:
    """Cap the address space, so a reader that tries to allocate a huge grid fails in this
    worker instead of eating the machine. (No such cap on Windows.)"""
    import faulthandler

    faulthandler.disable()  # a crash here is reported as a problem, not as a stack dump
    try:
        import resource
    except ImportError:
        return
    limit = megabytes * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _kill(pool: ProcessPoolExecutor) -> None:
    # The executor has no public way to stop a hung worker; its process table is the only
    # handle on them. Before Python 3.11 the executor then joins the thread that feeds its
    # workers, which waits for ever on a pipe nobody reads any more: let that thread go.
    call_queue = getattr(pool, "_call_queue", None)
    if call_queue is not None:
        call_queue.cancel_join_thread()
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def map_isolated(
    fn: Callable[..., list[R]],
    items: Sequence[T],
    *args,
    on_failure: Callable[[T, str], R],
    item_timeout: float = 30.0,
    memory_mb: int = 1024,
    progress: Callable[[int], None] | None = None,
    chunk_size: int | None = None,
) -> list[R]:
    """Like :func:`map_chunks`, but always in worker processes with a memory cap and a time
    budget, so even an abort inside a native reader costs one item, not the batch.

    A chunk whose worker died or ran out of time is retried item by item, each in a
    process of its own; an item that fails alone gets ``on_failure(item, reason)``.
    """
    chunks = _chunked(items, chunk_size)
    if not chunks:
        return []
    workers = min(worker_count(), len(chunks))
    done: dict[int, list[R]] = {}
    budget = item_timeout * len(chunks[0]) * -(-len(chunks) // workers) + 30
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(os.getpid(), False, memory_mb))
    try:
        with _forking():
            futures = {pool.submit(fn, chunk, *args): k for k, chunk in enumerate(chunks)}
        for future in as_completed(futures, timeout=budget):
            try:
                done[futures[future]] = future.result()
            except Exception:  # BrokenProcessPool: a worker died; its chunk is retried below
                continue
            if progress:
                progress(len(chunks[futures[future]]))
    except FutureTimeout:
        pass
    finally:
        _kill(pool)
    results: list[R] = []
    for k, chunk in enumerate(chunks):
        if k in done:
            results.extend(done[k])
            continue
        for item in chunk:
            results.append(_one_isolated(fn, item, args, on_failure, item_timeout, memory_mb))
            if progress:
                progress(1)
    return results


def _one_isolated(fn, item, args, on_failure, timeout: float, memory_mb: int):
    pool = ProcessPoolExecutor(max_workers=1, initializer=_init_worker, initargs=(os.getpid(), False, memory_mb))
    try:
        with _forking():
            future = pool.submit(fn, [item], *args)
        return future.result(timeout=timeout)[0]
    except FutureTimeout:
        return on_failure(item, "timeout")
    except Exception:  # the worker died (abort, out of memory) or raised
        return on_failure(item, "crash")
    finally:
        _kill(pool)
