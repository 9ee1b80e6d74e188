"""Files we write: the user's umask, atomic replacement, and names every file system takes.

Temporary files and folders are made by :mod:`tempfile`, which creates them 0600/0700 for
privacy; our results are not secrets, so each gets the modes any program's output gets
(0666/0777 less the umask) before it is moved into place: colleagues on a shared drive
can open them.

A town's name becomes part of file names. File systems limit a name's length in bytes
(ext4, APFS: 255 bytes of UTF-8, where a Chinese character takes three) or in UTF-16 units
(NTFS: 255); Windows also reserves CON, PRN, AUX, NUL, COM1–9 and LPT1–9 (whatever the
extension) and drops trailing dots and spaces. :func:`safe_file_stem` keeps within all of
them, so the same name works on every machine a results folder is copied to.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

#: every temporary name we create starts so; a later run removes what a killed one left
TEMP_PREFIX = ".qz-"

_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{k}" for k in range(1, 10)), *(f"LPT{k}" for k in range(1, 10))}
#: a stem's UTF-8 bytes at most: with the template's 35-byte prefix, a "(12)" to keep it
#: unique and ".xlsx", a name stays well below 255 bytes
STEM_BYTES_MAX = 150
#: and its UTF-16 units (Windows' count): a path from an ordinary folder stays below the
#: 260 characters Windows allows unless long paths are switched on
STEM_UNITS_MAX = 80
TRUNCATED = "…"


@lru_cache(maxsize=1)
def umask() -> int:
    """This process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(old)
    return old


def _give_umask_mode(path: str | Path, base: int) -> None:
    try:
        os.chmod(path, base & ~umask())
    except OSError:  # a file system without modes (FAT, some network shares)
        pass


def temp_file(directory: Path, suffix: str = "") -> Path:
    """An empty temporary file in ``directory`` with the umask's modes."""
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=directory)
    os.close(fd)
    _give_umask_mode(name, 0o666)
    return Path(name)


def temp_dir(directory: Path, prefix: str = TEMP_PREFIX) -> Path:
    """A new temporary folder in ``directory`` with the umask's modes."""
    name = tempfile.mkdtemp(prefix=prefix, dir=directory)
    _give_umask_mode(name, 0o777)
    return Path(name)


@contextmanager
def replaced_folder(folder: Path):
    """A new folder to fill, put in place of ``folder`` whole once the block ends without
    error (the old one removed), or removed if it fails: ``folder`` is never half-new."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    new = temp_dir(folder.parent)
    try:
        yield new
        old = temp_dir(folder.parent)
        if folder.exists():
            os.replace(folder, old / "old")
        try:
            os.replace(new, folder)
        except OSError:
            if (old / "old").exists():
                os.replace(old / "old", folder)  # as it was
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(new, ignore_errors=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """``data`` under ``path``, written to a temporary file first: a crash never leaves a
    half-written file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file(path.parent)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def clean_text(text: object) -> str:
    """Text from a town's file, safe to put in a cell or a name: control characters removed."""
    return _CONTROL.sub("", "" if text is None else str(text))


def _fits(text: str, max_bytes: int, max_units: int) -> bool:
    return len(text.encode("utf-8")) <= max_bytes and len(text.encode("utf-16-le")) // 2 <= max_units


def _cut(text: str, max_bytes: int, max_units: int) -> str:
    """The longest start of ``text`` within both limits, ending in … (whole characters)."""
    budget_bytes, budget_units = max_bytes - len(TRUNCATED.encode("utf-8")), max_units - 1
    end = 0
    for ch in text:
        budget_bytes -= len(ch.encode("utf-8"))
        budget_units -= 2 if ord(ch) > 0xFFFF else 1
        if budget_bytes < 0 or budget_units < 0:
            break
        end += 1
    return text[:end].rstrip(". ") + TRUNCATED


def safe_file_stem(
    name: str, fallback: str = "未命名", max_bytes: int = STEM_BYTES_MAX, max_units: int = STEM_UNITS_MAX
) -> str:
    """A file-name stem from a town's name that every file system accepts: no separators
    or forbidden characters (so it stays inside its folder), no leading dots, no trailing
    dots or spaces, not a reserved Windows device name, at most ``max_bytes`` of UTF-8 and
    ``max_units`` UTF-16 units (a cut name ends in …; :func:`unique_path` keeps cut names
    apart)."""
    stem = _FORBIDDEN.sub("_", clean_text(name)).strip().lstrip(".").strip()
    if not _fits(stem, max_bytes, max_units):
        stem = _cut(stem, max_bytes, max_units)
    stem = stem.rstrip(". ")
    if stem.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    return stem or fallback


def unique_path(directory: Path, stem: str, suffix: str, taken: set[str]) -> Path:
    """directory/stem.suffix, numbered when two towns' names clean to the same stem
    (compared case-blind, as Windows and macOS compare names)."""
    name, k = f"{stem}{suffix}", 1
    while name.lower() in taken:
        k += 1
        name = f"{stem}({k}){suffix}"
    taken.add(name.lower())
    return directory / name
