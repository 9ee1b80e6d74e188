"""The process pool for batch work: results in order, chunks prepared lazily and bounded,
failures surfaced; and `qz score` giving the same bytes on one core and on several."""

import multiprocessing
import os
import subprocess
import sys
import threading
import time

import pytest
from _isolation_helpers import square_and_finish, square_slowly
from conftest import result_digests

from qz_excel.common.parallel import Chunks, map_chunks
from qz_excel.pipeline import run_score
from qz_excel.results.publish import LOCK_NAME


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setenv("QZ_WORKERS", "2")


def test_chunks_come_back_in_order_from_worker_processes(two_workers):
    results = map_chunks(square_slowly, list(range(23)), chunk_size=3, min_parallel=1)
    assert [r for r, _ in results] == [x * x for x in range(23)]
    assert {pid for _, pid in results} - {os.getpid()}, "expected the work to run in worker processes"


def test_prepared_chunks_are_bounded_by_what_is_in_flight(two_workers):
    """A chunk's prepared payload lives until its work is done: at any moment at most
    ``in_flight`` prepared chunks are unfinished, however slowly results are collected."""
    prepared_at = []

    def prepare(chunk):
        prepared_at.append(time.monotonic())
        return chunk

    chunks = Chunks(square_and_finish, list(range(40)), prepare=prepare, chunk_size=2, min_parallel=1, in_flight=3)
    time.sleep(0.3)  # the caller is busy elsewhere (as qz score is, writing 汇总.xlsx)
    results = chunks.results()
    assert [r for r, _ in results] == [x * x for x in range(40)]
    assert len(prepared_at) == 20  # each chunk prepared once
    finished = sorted(done for _, done in results[::2])  # one per chunk
    for k, moment in enumerate(prepared_at):
        unfinished = k + 1 - sum(done < moment for done in finished)
        assert unfinished <= 3, (k, unfinished)
    assert prepared_at[-1] - prepared_at[0] > 0.1, "everything was prepared up front"


def test_a_failure_while_preparing_reaches_the_caller(two_workers):
    def prepare(chunk):
        if chunk[0] == 6:
            raise ValueError("bad chunk")
        return chunk

    chunks = Chunks(square_slowly, list(range(12)), prepare=prepare, chunk_size=2, min_parallel=1)
    with pytest.raises(ValueError, match="bad chunk"):
        chunks.results()


def test_small_batches_stay_in_this_process(two_workers):
    results = map_chunks(square_slowly, [1, 2, 3], min_parallel=100)
    assert results == [(1, os.getpid()), (4, os.getpid()), (9, os.getpid())]


def test_score_gives_the_same_bytes_on_one_core_and_on_two(tmp_path, monkeypatch, rules, big_inbox):
    """Above the parallel threshold the 评分细则 are written by worker processes from pages
    made a chunk at a time, while this process streams the audit trail: the result must
    not depend on any of that."""
    inbox, towns_csv, towns = big_inbox
    digests = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("QZ_WORKERS", workers)
        report = run_score(inbox, towns_csv, tmp_path / f"out{workers}", rules)
        assert len(report.outputs) == 2 + len(towns)  # 汇总, 核定表, the 评分细则
        digests[workers] = result_digests(tmp_path / f"out{workers}")
    assert len(digests["1"]) == 2 + len(towns) + 2  # and the rerun cache's two files
    assert digests["1"] == digests["2"]


def test_a_failed_summary_stops_the_workers_and_leaves_nothing_behind(
    tmp_path, monkeypatch, rules, big_inbox, two_workers
):
    """汇总.xlsx fails while worker processes are writing the 评分细则: the error reaches
    the caller, the workers and the feeder stop, and no staging folder is left."""
    inbox, towns_csv, _ = big_inbox

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("qz_excel.pipeline.write_summary", disk_full)
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(OSError, match="No space"):
        run_score(inbox, towns_csv, tmp_path / "out", rules)
    assert not (tmp_path / "out" / "评分细则").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == [LOCK_NAME]
    assert not multiprocessing.active_children()
    deadline = time.monotonic() + 5
    while "qz-chunk-feeder" in {t.name for t in threading.enumerate()} - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "qz-chunk-feeder" not in {t.name for t in threading.enumerate()} - before


def test_small_batches_get_smaller_chunks(two_workers):
    from qz_excel.common.parallel import chunk_size_for

    assert chunk_size_for(2000) == 50  # the measured sweet spot, for large batches
    assert chunk_size_for(200) == 25  # four chunks a worker: no long wait for the last one
    assert chunk_size_for(30) == 10  # but never so small that per-chunk overhead dominates


class _RecordingBar:
    """Stands in for click.progressbar: records what each phase reported."""

    def __init__(self, log: dict, label: str, total: int):
        self.log, self.label = log, label
        log[label] = {"total": total, "done": 0}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int) -> None:
        self.log[self.label]["done"] += n


def test_every_phase_reports_its_progress_to_the_end(tmp_path, rules, big_inbox, two_workers):
    inbox, towns_csv, towns = big_inbox
    log: dict = {}
    run_score(inbox, towns_csv, tmp_path / "out", rules, progress=lambda label, total: _RecordingBar(log, label, total))
    assert list(log) == ["读取回报文件", "生成汇总表", "生成评分细则"]  # no town has anything to correct
    assert all(phase == {"total": len(towns), "done": len(towns)} for phase in log.values()), log


def test_no_progress_bar_off_a_terminal(tmp_path, big_inbox):
    """Redirected to a file or run by a scheduler, qz score prints its report, no bars."""
    inbox, towns_csv, _ = big_inbox
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "qz_excel",
            "score",
            str(inbox),
            "--towns",
            str(towns_csv),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "读取回报文件" not in result.stderr + result.stdout and "%" not in result.stderr
    assert "共 120 个工作簿" in result.stdout
