"""The results folder's journal: a run dies after any rename of its publish, or a rename
fails, and the folder still ends up one run's, whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qz_excel.results.publish import JOURNAL, LOCK_NAME, ResultsFolder, recover

NAMES = ["汇总.xlsx", "评分细则", "pdf"]
OLD = {
    "汇总.xlsx": "old summary",
    "评分细则/甲镇.xlsx": "old 甲",
    "评分细则/已撤销镇.xlsx": "old 撤",
    "pdf/汇总排名.pdf": "old pdf",
}
NEW = {"汇总.xlsx": "new summary", "评分细则/甲镇.xlsx": "new 甲", "评分细则/乙镇.xlsx": "new 乙"}  # no pdf/


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def tree(root: Path) -> dict[str, str]:
    """What a reader of the folder sees: temporary names (.qz-*) left out."""
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".qz-") for part in p.relative_to(root).parts)
    }


class Died(BaseException):
    """The process ends here (a kill: no except clause of ours runs)."""


def rename_fails(monkeypatch, number: int, error: BaseException) -> None:
    """The rename with this number (0 = the first) raises ``error``; the others happen."""
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == number + 1:
            raise error
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def staged_run(out: Path) -> ResultsFolder:
    results = ResultsFolder(out, NAMES).__enter__()
    write_tree(results.staging, NEW)
    return results


def test_publish_replaces_the_old_results_and_drops_names_not_produced(tmp_path):
    out = tmp_path / "out"
    write_tree(out, OLD)
    with ResultsFolder(out, NAMES) as results:
        write_tree(results.staging, NEW)
        assert tree(out) == OLD  # nothing visible before publishing
        assert (results.staging / "汇总.xlsx").read_text(encoding="utf-8") == "new summary"
        results.publish()
    assert tree(out) == NEW
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, "汇总.xlsx", "评分细则"])


@pytest.mark.parametrize("step", range(5))  # 汇总 out, 汇总 in, 评分细则 out, 评分细则 in, pdf out
def test_a_death_after_any_rename_is_rolled_forward_by_the_next_run(tmp_path, monkeypatch, step):
    out = tmp_path / "out"
    write_tree(out, OLD)
    results = staged_run(out)
    rename_fails(monkeypatch, step, Died())
    with pytest.raises(Died):
        results.publish()
    results._release()  # the dead process's lock is gone with it
    monkeypatch.undo()
    assert (results.run / JOURNAL).exists()
    recover(out)
    assert tree(out) == NEW
    assert [p.name for p in out.iterdir() if p.name.startswith(".qz-") and p.name != LOCK_NAME] == []


@pytest.mark.parametrize("step", range(5))
def test_a_rename_that_fails_puts_the_old_results_back(tmp_path, monkeypatch, step):
    """On Windows a result open in Excel cannot be moved: PermissionError mid-publish."""
    out = tmp_path / "out"
    write_tree(out, OLD)
    with pytest.raises(PermissionError):
        with ResultsFolder(out, NAMES) as results:
            write_tree(results.staging, NEW)
            rename_fails(monkeypatch, step, PermissionError(13, "in use", str(out / "汇总.xlsx")))
            try:
                results.publish()
            finally:
                monkeypatch.undo()
    assert tree(out) == OLD
    assert [p.name for p in out.iterdir() if p.name.startswith(".qz-") and p.name != LOCK_NAME] == []


def test_an_unpublished_run_leaves_the_old_results(tmp_path):
    out = tmp_path / "out"
    write_tree(out, OLD)
    with pytest.raises(RuntimeError):
        with ResultsFolder(out, NAMES) as results:
            write_tree(results.staging, NEW)
            raise RuntimeError("the 汇总 could not be made")
    assert tree(out) == OLD
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [LOCK_NAME]


def test_an_interrupt_while_publishing_waits_for_the_publish(tmp_path, monkeypatch):
    """Ctrl-C arriving as the journal is written: the publish completes, then the interrupt."""
    import signal

    out = tmp_path / "out"
    write_tree(out, OLD)
    real_write = __import__("qz_excel.results.publish", fromlist=["_sync_write"])._sync_write

    def write_then_interrupt(path, text):
        real_write(path, text)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr("qz_excel.results.publish._sync_write", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with ResultsFolder(out, NAMES) as results:
            write_tree(results.staging, NEW)
            results.publish()
    assert tree(out) == NEW
    assert [p.name for p in out.iterdir() if p.name.startswith(".qz-") and p.name != LOCK_NAME] == []
