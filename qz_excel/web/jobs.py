"""One long job at a time (scoring, and later sending, fetching, PDFs) in a background
thread, with its progress by phase that any page reload can read, and a cancel that stops
it at the next step — the results folder's whole-or-nothing rule keeps what was there."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field


class Cancelled(Exception):
    """The clerk pressed 取消: the job stops at its next step."""


@dataclass
class Job:
    kind: str  # 评分, …
    phase: str = "准备中"
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    outcome: str = ""  # plain Chinese, for the page
    failed: bool = False
    cancel_requested: bool = False
    result: object = None

    @property
    def running(self) -> bool:
        return self.finished is None


class Jobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Job | None = None

    def start(self, kind: str, work: Callable[[Callable], tuple[str, object]]) -> Job | None:
        """Runs ``work(progress)`` in the background; None while another job runs.
        ``work`` returns (the outcome in words, its result)."""
        with self._lock:
            if self.current is not None and self.current.running:
                return None
            job = self.current = Job(kind)
        threading.Thread(target=self._run, args=(job, work), daemon=True, name=f"qz-{kind}").start()
        return job

    def _run(self, job: Job, work) -> None:
        try:
            job.outcome, job.result = work(self._progress(job))
        except Cancelled:
            job.outcome, job.failed = "已取消：结果目录仍是上一次的完整结果，没有留下半成品。", True
        except Exception as exc:  # noqa: BLE001 — the page says what happened, in one sentence
            job.outcome, job.failed = f"出错了：{exc}", True
            traceback.print_exc()
        finally:
            job.finished = time.time()

    @staticmethod
    def _progress(job: Job):
        """A progress factory as the pipeline takes it: phase, n of N, and the cancel point."""

        @contextmanager
        def phase(label: str, total: int):
            job.phase, job.done, job.total = label, 0, total

            class Bar:
                def update(self, n: int, total: int | None = None) -> None:
                    if job.cancel_requested:
                        raise Cancelled
                    job.done += n

            if job.cancel_requested:
                raise Cancelled
            yield Bar()

        return phase

    def cancel(self) -> bool:
        job = self.current
        if job is None or not job.running:
            return False
        job.cancel_requested = True
        return True
