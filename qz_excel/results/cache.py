"""What a run into a results folder may take over from the run before it.

A correction round changes a few files of hundreds; reading and writing everything again
is most of what a rerun would cost. The previous run left in ``--out/.qz_cache``:

- ``intake.pickle``: each returned file's record as intake read it, keyed by the file's
  name and a SHA-256 of its content. A file whose name and content are unchanged is not
  read again (its modification time, which decides among a town's files, is taken anew).
- ``manifest.json``: for each 评分细则 and 反馈 workbook, a key of everything it was made
  from (the town's page or request, the file name) and the SHA-256 of the file written.
  When the key is the same and the published file is still the one written (nobody has
  saved over it), the file is linked or copied into the new results instead of written.

Both are valid only for the same program and rules: the program fingerprint covers this
package's own source, the libraries that read and write workbooks, the Python version and
the documents' timestamp; the rules fingerprint covers the rules file. Anything else —
a missing, damaged or foreign cache, a file changed by hand — only means work done again:
the results are the same bytes a run without a cache writes (a test holds them to it).

The cache is written into the staging folder with the results and published with them,
whole or not at all (:mod:`.publish`). Its records are loaded by an unpickler that knows
only intake's record types, so a cache file planted in a shared folder runs no code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import sys
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from qz_excel.common.xlsx import fixed_timestamp
from qz_excel.intake import read as intake
from qz_excel.intake import safety
from qz_excel.rules.ruleset import Rules

CACHE_DIR = ".qz_cache"
MANIFEST = "manifest.json"
INTAKE = "intake.pickle"
FORMAT = 1
_LIBRARIES = ("XlsxWriter", "python-calamine", "xlrd", "odfpy", "pandas", "numpy")


@lru_cache(maxsize=1)
def program_fingerprint() -> str:
    """This program as far as its outputs go: its source files, the versions of what reads
    and writes workbooks, Python's version, the documents' fixed timestamp."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name in _LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}={version}\0".encode())
    digest.update(f"{sys.version_info[:2]}\0{fixed_timestamp().isoformat()}".encode())
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file's content; None when it is too large to be a return (intake
    refuses it without reading) or cannot be read now."""
    try:
        if path.stat().st_size > safety.LIMITS.file_bytes:
            return None
        return _sha256(path.read_bytes())
    except OSError:
        return None


class _RecordUnpickler(pickle.Unpickler):
    """Only what intake's records are made of: nothing in a cache file can call anything else."""

    ALLOWED = {
        ("qz_excel.intake.read", "Returned"),
        ("qz_excel.common.problems", "Problem"),
        ("copyreg", "_reconstructor"),
        ("copyreg", "__newobj__"),
        ("builtins", "object"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("decimal", "Decimal"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not an intake record")
        return super().find_class(module, name)


def _load_record(blob: bytes) -> intake.Returned | None:
    try:
        record = _RecordUnpickler(io.BytesIO(blob)).load()
    except Exception:  # noqa: BLE001 — a damaged entry is only a file read again
        return None
    return record if isinstance(record, intake.Returned) else None


def _intake_key(name: str, digest: str) -> str:
    return _sha256(f"{name}\0{digest}".encode())


class RunCache:
    """The previous run's cache in ``out_dir`` (read on creation) and this run's, built in
    ``staging`` by :meth:`read_returns` and the writers' :func:`reuse_or_write`, and saved
    there by :meth:`save`."""

    def __init__(self, out_dir: Path, staging: Path, rules: Rules):
        self.out_dir, self.staging = out_dir, staging
        self.program, self.rules_fingerprint = program_fingerprint(), rules.fingerprint
        self.stamp: dict[str, object] = {"format": FORMAT, "program": self.program, "rules": self.rules_fingerprint}
        self.old_outputs: dict[str, list[str]] = {}
        self.old_records: dict[str, bytes] = {}
        self.outputs: dict[str, list[str]] = {}
        self.records: dict[str, bytes] = {}
        self.reused: dict[str, int] = {}
        self._load(out_dir / CACHE_DIR)

    def _load(self, folder: Path) -> None:
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            if {k: manifest.get(k) for k in self.stamp} != self.stamp:
                return  # another program, rules or format: nothing carries over
            outputs = manifest.get("outputs", {})
            with open(folder / INTAKE, "rb") as fh:
                records = _RecordUnpickler(fh).load()
        except Exception:  # noqa: BLE001 — no cache, or a damaged one: everything is done anew
            return
        if isinstance(outputs, dict) and isinstance(records, dict):
            self.old_outputs = {k: v for k, v in outputs.items() if isinstance(v, list) and len(v) == 2}
            self.old_records = {k: v for k, v in records.items() if isinstance(k, str) and isinstance(v, bytes)}

    def count(self, kind: str, n: int = 1) -> None:
        self.reused[kind] = self.reused.get(kind, 0) + n

    # ---- intake ---------------------------------------------------------------------------

    def read_returns(self, paths: list[Path], names: list[str], rules: Rules, progress=None) -> list[intake.Returned]:
        """:func:`intake.read.read_returns`, reading only the files whose name or content
        changed since the previous run."""
        returns: list[intake.Returned | None] = [None] * len(paths)
        keys: list[str | None] = [None] * len(paths)
        todo = []
        for k, (path, name) in enumerate(zip(paths, names)):
            digest = file_digest(path)
            key = keys[k] = _intake_key(name, digest) if digest else None
            blob = self.old_records.get(key) if key else None
            record = _load_record(blob) if blob is not None else None
            if key and blob is not None and record is not None:  # the key holds the name
                record.mtime = path.stat().st_mtime  # not content: taken anew
                returns[k] = record
                self.records[key] = blob
            else:
                todo.append(k)
        self.count("回报文件", len(paths) - len(todo))
        if progress and len(paths) > len(todo):
            progress(len(paths) - len(todo))
        fresh = intake.read_returns([paths[k] for k in todo], rules, [names[k] for k in todo], progress)
        for k, record in zip(todo, fresh):
            returns[k] = record
            key = keys[k]
            if key and intake.is_settled(record):
                mtime, record.mtime = record.mtime, 0.0  # the same content pickles the same
                self.records[key] = pickle.dumps(record, protocol=5)
                record.mtime = mtime
        return returns  # type: ignore[return-value]

    # ---- outputs --------------------------------------------------------------------------

    def reuse_context(self) -> ReuseContext:
        return ReuseContext(self.out_dir, self.staging, self.program, self.rules_fingerprint)

    def previous(self, path: Path) -> tuple[str, str] | None:
        """(key, digest) the previous run recorded for the output at ``path`` (in staging)."""
        entry = self.old_outputs.get(path.relative_to(self.staging).as_posix())
        return (entry[0], entry[1]) if entry else None

    def record(self, kind: str, made: list[Made]) -> None:
        for path, key, digest, reused in made:
            self.outputs[Path(path).relative_to(self.staging).as_posix()] = [key, digest]
            if reused:
                self.count(kind)

    def save(self) -> Path:
        folder = self.staging / CACHE_DIR
        folder.mkdir()
        with open(folder / INTAKE, "wb") as fh:
            pickle.dump(dict(sorted(self.records.items())), fh, protocol=5)
        manifest = {**self.stamp, "outputs": dict(sorted(self.outputs.items()))}
        (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=0), encoding="utf-8")
        if os.name == "nt":  # a dot does not hide a folder there
            import ctypes

            ctypes.windll.kernel32.SetFileAttributesW(str(folder), 0x2)  # type: ignore[attr-defined]
        return folder


#: (path written, key, digest, whether it was taken over from the previous run)
Made = tuple[Path, str, str, bool]


class ReuseContext:
    """What a worker process needs to decide whether an output can be taken over (picklable)."""

    def __init__(self, out_dir: Path, staging: Path, program: str, rules: str):
        self.out_dir, self.staging, self.program, self.rules = out_dir, staging, program, rules

    def key(self, path: Path, content: object) -> str:
        """Everything the file at ``path`` is made from: program, rules, its name, ``content``
        (pickled: equal bytes mean equal content; unequal only costs a rewrite)."""
        return _sha256(pickle.dumps((self.program, self.rules, path.name, content), protocol=5))

    def reuse_or_write(
        self, path: Path, content: object, previous: tuple[str, str] | None, write: Callable[[], Path]
    ) -> Made:
        """The previous run's file when it was made from the same and is unchanged on disk;
        else ``write()``."""
        key = self.key(path, content)
        if previous is not None and previous[0] == key:
            old = self.out_dir / path.relative_to(self.staging)
            try:
                if _sha256(old.read_bytes()) == previous[1]:
                    _link_or_copy(old, path)
                    return path, key, previous[1], True
            except OSError:
                pass  # gone, locked or unreadable: written anew
        write()
        return path, key, _sha256(path.read_bytes()), False


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link (the previous results are removed once these are published); a copy
    where the file system has none (FAT on a USB stick)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
