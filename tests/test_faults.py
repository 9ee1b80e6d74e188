"""Faults a clerk's machine produces, on a real `qz` process: a full disk, a file-size
limit, Ctrl-C at any moment, SIGTERM, SIGKILL, a second run into the same folder, the
umask. After each: one Chinese sentence, a documented exit code, no traceback, and a
results folder that is one run's, whole."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, result_digests

from qz_excel.common.files import TEMP_PREFIX
from qz_excel.results.publish import LOCK_NAME

SAMPLES = REPO / "sample_workbooks"
QZ = [sys.executable, "-m", "qz_excel"]
INTERRUPTED, NOT_WRITTEN = 130, 3


def qz(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*QZ, *map(str, args)], capture_output=True, text=True, timeout=300, **kwargs)


def score_args(inbox: Path, towns: Path, out: Path) -> list[str]:
    return ["score", str(inbox), "--towns", str(towns), "--out", str(out)]


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(TEMP_PREFIX) and p.name != LOCK_NAME)


def wait_until_mid_run(out: Path, process: subprocess.Popen, within: float = 120) -> None:
    """Until the run is visibly half-way: its staging folder holds a first 评分细则 (more than
    a hundred still to write, and nothing published). Timing-free, however loaded the machine."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(out.glob(".qz-run-*/new/评分细则/*.xlsx")):
            return
        assert process.poll() is None, "the run ended before it was half-way"
        time.sleep(0.005)
    raise AssertionError("the run never got half-way")


def group_gone(pgid: int, within: float) -> bool:
    """True once no process of the group is left (checked for ``within`` seconds)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def two_results(tmp_path_factory, big_inbox):
    """The previous run's results (the sample inbox) and, for the same folder, what the
    next run (120 towns, with worker processes) writes; each as file digests."""
    inbox, towns, _ = big_inbox
    tmp = tmp_path_factory.mktemp("two")
    previous, new = tmp / "previous", tmp / "new"
    assert qz(*score_args(SAMPLES / "returned", SAMPLES / "towns.csv", previous)).returncode in (0, 1)
    started = time.monotonic()
    assert qz(*score_args(inbox, towns, new)).returncode in (0, 1)
    duration = time.monotonic() - started
    return previous, result_digests(previous), result_digests(new), duration


def start_over_previous(tmp_path: Path, big_inbox, two_results, **popen) -> tuple[subprocess.Popen, Path]:
    """A 120-town run started (in a session of its own, as from a terminal) into a folder
    that holds the previous run's results."""
    inbox, towns, _ = big_inbox
    out = tmp_path / "out"
    shutil.copytree(two_results[0], out)
    popen = popen or {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    return subprocess.Popen([*QZ, *score_args(inbox, towns, out)], start_new_session=True, **popen), out


def test_the_two_runs_differ(two_results):
    _, previous, new, _ = two_results
    assert previous != new and len(new) == 124  # 汇总, 核定表, 120 评分细则, the rerun cache (2 files)


@pytest.mark.parametrize("fraction", [0.15, 0.35, 0.55, 0.75, 0.9, 1.0])
def test_ctrl_c_at_any_moment_leaves_one_runs_results(tmp_path, big_inbox, two_results, fraction):
    """Ctrl-C reaches the whole foreground process group, workers included."""
    _, previous, new, duration = two_results
    process, out = start_over_previous(tmp_path, big_inbox, two_results)
    time.sleep(duration * fraction)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode in (INTERRUPTED, 0, 1), stderr
    if process.returncode == INTERRUPTED:
        assert "已中断" in stderr and "Aborted" not in stderr
    assert "Traceback" not in stderr, stderr
    found = result_digests(out)
    assert found in (previous, new), (process.returncode, sorted(set(found.items()) ^ set(new.items()))[:6])
    assert leftovers(out) == []
    assert group_gone(process.pid, within=3), "a worker outlived the interrupted run"


def test_sigterm_is_an_interrupt(tmp_path, big_inbox, two_results):
    _, previous, _, _ = two_results
    process, out = start_over_previous(tmp_path, big_inbox, two_results)
    wait_until_mid_run(out, process)
    process.terminate()  # the main process only, as a service manager does
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == INTERRUPTED, stderr
    assert "已中断" in stderr and "Traceback" not in stderr
    assert result_digests(out) == previous and leftovers(out) == []
    assert group_gone(process.pid, within=3)


def test_a_killed_run_leaves_no_workers_and_the_next_run_cleans_up(tmp_path, big_inbox, two_results):
    inbox, towns, _ = big_inbox
    _, previous, new, _ = two_results
    process, out = start_over_previous(
        tmp_path, big_inbox, two_results, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_until_mid_run(out, process)
    process.kill()
    process.wait(timeout=30)
    assert group_gone(process.pid, within=3), "workers outlived their killed parent"
    assert result_digests(out) == previous  # the killed run published nothing
    # what earlier versions left behind, beside the killed run's staging folder
    (out / ".qz-评分细则-abc123").mkdir()
    (out / ".qz-old-评分细则-999").mkdir()
    (out / ".qz-k2j3h4.xlsx").write_bytes(b"half")
    rerun = qz(*score_args(inbox, towns, out))
    assert rerun.returncode in (0, 1), rerun.stderr
    assert leftovers(out) == []
    assert result_digests(out) == new


def test_a_second_run_into_the_same_folder_is_refused(tmp_path, two_results):
    previous_dir, previous, _, _ = two_results
    out = tmp_path / "out"
    shutil.copytree(previous_dir, out)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from qz_excel.results.publish import ResultsFolder\n"
            "with ResultsFolder(Path(sys.argv[1]), []):\n    print('held', flush=True); time.sleep(60)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        second = qz(*score_args(SAMPLES / "returned", SAMPLES / "towns.csv", out))
        assert second.returncode == NOT_WRITTEN
        assert "另一个 qz score 正在向" in second.stderr and "Traceback" not in second.stderr
        assert result_digests(out) == previous
    finally:
        holder.kill()
        holder.wait()
    assert qz(*score_args(SAMPLES / "returned", SAMPLES / "towns.csv", out)).returncode in (0, 1)


def _file_size_limit(limit: int):
    def limit_writes():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_writes


def test_a_write_that_fails_is_one_sentence_and_keeps_the_previous_results(tmp_path, two_results):
    previous_dir, previous, _, _ = two_results
    out = tmp_path / "out"
    shutil.copytree(previous_dir, out)
    result = subprocess.run(
        [*QZ, *score_args(SAMPLES / "returned", SAMPLES / "towns.csv", out)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_file_size_limit(16_000),
    )
    assert result.returncode == NOT_WRITTEN, result.stderr
    assert "无法写入" in result.stderr and "文件超过了系统允许的大小" in result.stderr
    assert "Traceback" not in result.stderr and "FileCreateError" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result_digests(out) == previous and leftovers(out) == []


FULL_DISK = r"""
import json, os, subprocess, sys
out, report = sys.argv[1], sys.argv[2]
qz = [sys.executable, "-m", "qz_excel", "score", sys.argv[3], "--towns", sys.argv[4], "--out", out]
def digests():
    import hashlib
    return {os.path.relpath(os.path.join(d, f), out): hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
            for d, _, files in os.walk(out) for f in files if f != ".qz-lock"}
first = subprocess.run(qz, capture_output=True, text=True)
before = digests()
fh = open(os.path.join(out, "filler"), "wb")  # fill the disk to the last byte
try:
    while True:
        fh.write(b"x" * 4096)
        fh.flush()
except OSError:
    pass
try:
    fh.close()
except OSError:
    pass
second = subprocess.run(qz, capture_output=True, text=True)
after = {k: v for k, v in digests().items() if k != "filler"}
names = sorted(os.listdir(out))
os.unlink(os.path.join(out, "filler"))
third = subprocess.run(qz, capture_output=True, text=True)
json.dump({"codes": [first.returncode, second.returncode, third.returncode], "stderr": second.stderr,
           "same": before == after, "count": len(before), "names": names,
           "third_same": digests() == before}, open(report, "w"), ensure_ascii=False)
"""


def test_a_full_disk_is_one_sentence_and_keeps_the_previous_results(tmp_path):
    """A real ENOSPC: a 1 MiB tmpfs mounted as --out in a private mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to mount a small disk without root")
    out, report = tmp_path / "out", tmp_path / "report.json"
    out.mkdir()
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK, encoding="utf-8")
    command = (
        f"mount -t tmpfs -o size=1m tmpfs '{out}' && '{sys.executable}' '{script}' '{out}' '{report}' "
        f"'{SAMPLES / 'returned'}' '{SAMPLES / 'towns.csv'}'"
    )
    namespace = subprocess.run(["unshare", "-Urm", "sh", "-c", command], capture_output=True, text=True, timeout=300)
    if namespace.returncode != 0 and "Operation not permitted" in namespace.stderr:
        pytest.skip("this machine does not allow a private mount namespace")
    assert namespace.returncode == 0, namespace.stderr
    result = json.loads(report.read_text(encoding="utf-8"))
    first, second, third = result["codes"]
    assert first in (0, 1) and third in (0, 1)
    assert second == NOT_WRITTEN
    assert "磁盘空间不足" in result["stderr"] and "Traceback" not in result["stderr"]
    assert (
        result["same"] and result["count"] == 14
    )  # 汇总.xlsx, 核定表.xlsx, 9 评分细则, 1 反馈, the cache's 2 files, untouched
    assert [n for n in result["names"] if n.startswith(TEMP_PREFIX) and n != LOCK_NAME] == []
    assert result["third_same"]  # with room again, the same results as before the failure


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_results_get_the_umask_modes(tmp_path, mask):
    out, templates = tmp_path / "out", tmp_path / "templates"
    umask = lambda: os.umask(mask)  # noqa: E731
    assert qz(*score_args(SAMPLES / "returned", SAMPLES / "towns.csv", out), preexec_fn=umask).returncode in (0, 1)
    assert qz("template", "--towns", SAMPLES / "towns.csv", "--out", templates, preexec_fn=umask).returncode == 0
    for folder in (out, templates):
        for path in folder.rglob("*"):
            expected = (0o777 if path.is_dir() else 0o666) & ~mask
            assert path.stat().st_mode & 0o777 == expected, path
