"""`--out` always holds one run's results, whole.

A run writes everything (汇总.xlsx, 评分细则/, pdf/ …) into a staging folder inside
``--out`` and only then publishes it: a journal (``READY``: which names the run puts in
place and which older ones it drops) is written and synced, and each name is moved into
place with a rename. A run that fails, is interrupted or is killed before ``READY`` leaves
the previous results untouched; one killed while moving (a few renames) is finished by the
next run, which first rolls every journaled publish forward and removes every other
leftover temporary name (``.qz-*``). Ctrl-C and SIGTERM are held back while the renames run.

A lock (``.qz-lock``, an OS record lock, released by the system whatever way the process
ends) keeps a second run from writing into the same folder at the same time.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

from qz_excel.common.files import TEMP_PREFIX, temp_dir

LOCK_NAME = ".qz-lock"
RUN_PREFIX = ".qz-run-"
JOURNAL = "READY"
NEW, OLD = "new", "old"
PUT, DROP = "put", "drop"


class ResultsBusy(Exception):
    """Another run holds the results folder."""

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.folder = folder


def _lock(path: Path):
    """An exclusive lock on ``path``, or ResultsBusy. POSIX record locks (not flock) are not
    inherited by forked workers, so the lock ends with this process, not with its children.
    The file stays empty: two runs leave identical folders."""
    fh = open(path, "a+", encoding="ascii")
    try:
        if os.name == "nt":
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]  # Windows only
        else:
            import fcntl

            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise ResultsBusy(path.parent) from None
    if os.name == "nt":  # a dot does not hide a file there
        import ctypes

        ctypes.windll.kernel32.SetFileAttributesW(str(path), 0x2)  # type: ignore[attr-defined]  # hidden
    return fh


@contextmanager
def signals_held():
    """Ctrl-C and SIGTERM wait until the block ends, then act as usual (main thread only:
    Python runs signal handlers there, whichever thread the signal reached)."""
    caught: list[int] = []
    held = [s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s]
    try:
        previous = {s: signal.signal(s, lambda number, _frame: caught.append(number)) for s in held}
    except ValueError:  # not the main thread: nothing to hold
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if caught:
            raise KeyboardInterrupt


def _sync_write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _roll_forward(out_dir: Path, run: Path, undo_on_error: bool = False) -> None:
    """Carry out a journaled publish; safe to repeat after an interruption at any point.

    ``undo_on_error``: a rename that fails (on Windows, a result open in Excel cannot be
    moved) puts back what was moved and removes the journal, so the previous results stand
    whole; if even that fails, the journal stays and the next run finishes the publish."""
    old = run / OLD
    old.mkdir(exist_ok=True)
    done: list[tuple[Path, Path]] = []  # (from, to) renames, in order
    try:
        for line in (run / JOURNAL).read_text(encoding="utf-8").splitlines():
            action, _, name = line.partition(" ")
            target, staged = out_dir / name, run / NEW / name
            if action == PUT and not os.path.lexists(staged):
                continue  # moved in before the interruption
            if os.path.lexists(target):
                os.replace(target, old / name)
                done.append((target, old / name))
            if action == PUT:
                os.replace(staged, target)
                done.append((staged, target))
    except OSError:
        if not undo_on_error:
            raise
        for source, moved_to in reversed(done):
            os.replace(moved_to, source)  # an error here leaves the journal for the next run
        (run / JOURNAL).unlink()
        raise
    (run / JOURNAL).unlink()  # all moved: from here on the folder is only rubbish
    shutil.rmtree(run, ignore_errors=True)


def recover(out_dir: Path) -> None:
    """Finish what an earlier run journaled; remove every other temporary leftover."""
    for entry in sorted(out_dir.iterdir()):
        if not entry.name.startswith(TEMP_PREFIX) or entry.name == LOCK_NAME:
            continue
        if entry.name.startswith(RUN_PREFIX) and (entry / JOURNAL).is_file():
            _roll_forward(out_dir, entry)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif os.path.lexists(entry):
            entry.unlink()


class ResultsFolder:
    """``with ResultsFolder(out, names) as results:`` write into ``results.staged(name)``,
    then ``results.publish(produced)``. ``names``: every name a run's results may have, so
    a name this run does not produce (pdf/ without --pdf) is dropped, not left over from
    an earlier run."""

    def __init__(self, out_dir: Path, names: Iterable[str]):
        self.out_dir, self.names = out_dir, list(names)
        self._lock = None
        self.run: Path | None = None

    def __enter__(self) -> ResultsFolder:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.out_dir / LOCK_NAME)
        try:
            recover(self.out_dir)
            self.run = temp_dir(self.out_dir, prefix=RUN_PREFIX)
            (self.run / NEW).mkdir()
        except BaseException:
            self._release()
            raise
        return self

    @property
    def staging(self) -> Path:
        assert self.run is not None, "use ResultsFolder in a with block"
        return self.run / NEW

    def staged(self, name: str) -> Path:
        return self.staging / name

    def publish(self) -> list[Path]:
        """Move the staged results into place; returns their final paths."""
        assert self.run is not None
        produced = [n for n in self.names if os.path.lexists(self.staged(n))]
        journal = [f"{PUT if n in produced else DROP} {n}" for n in self.names]
        # journal and renames under one hold: an interrupt between them would leave a
        # journaled run for the next one to publish
        with signals_held():
            _sync_write(self.run / JOURNAL, "\n".join(journal) + "\n")
            _roll_forward(self.out_dir, self.run, undo_on_error=True)
        return [self.out_dir / n for n in produced]

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def __exit__(self, *exc) -> None:
        try:
            # unpublished: the old results stay; a journal left by a failed undo is kept
            # for the next run to finish
            if self.run is not None and self.run.exists() and not (self.run / JOURNAL).exists():
                shutil.rmtree(self.run, ignore_errors=True)
        finally:
            self._release()
