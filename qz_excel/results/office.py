"""LibreOffice in headless mode: converting workbooks to PDF (for the printer), or to
.xls/.ods/.xlsx (how tests check that our files survive another office suite).

One soffice call converts many files, but it has been seen to stop early on long batches,
so every expected output is checked and the missing ones are retried in smaller batches.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

FILTERS = {
    "pdf": "pdf:calc_pdf_Export",
    "xls": "xls:MS Excel 97",
    "ods": "ods:calc8",
    "xlsx": "xlsx:Calc MS Excel 2007 XML",
}
BATCH = 100
WINDOWS_PATHS = (
    r"C:\Program Files\LibreOffice\program\soffice.exe",
    r"C:\Program Files (x86)\LibreOffice\program\soffice.exe",
)


class OfficeMissing(RuntimeError):
    """LibreOffice is not installed (or not on PATH)."""


def find_soffice() -> str | None:
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in WINDOWS_PATHS if os.path.exists(p)), None)


def _run(soffice: str, files: list[Path], target: str, out_dir: Path, timeout: float) -> None:
    # a private profile: no clash with a LibreOffice the user has open, no first-run dialogs
    with tempfile.TemporaryDirectory(prefix="qz-lo-") as profile:
        cmd = [
            soffice,
            f"-env:UserInstallation={Path(profile).as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            FILTERS[target],
            "--outdir",
            str(out_dir),
            *map(str, files),
        ]
        try:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            pass  # whatever was converted is kept; the caller retries the rest


def convert(
    files: list[Path], target: str, out_dir: Path, timeout_per_file: float = 30.0, attempts: int = 3
) -> tuple[list[Path], list[Path]]:
    """Convert ``files`` to ``target`` ('pdf', 'xls', 'ods', 'xlsx') into ``out_dir``.
    Returns (converted outputs, inputs that still failed after the retries)."""
    soffice = find_soffice()
    if soffice is None:
        raise OfficeMissing("未找到 LibreOffice（soffice）：请安装 LibreOffice 后重试，或不加 --pdf 只生成 Excel 结果")
    out_dir.mkdir(parents=True, exist_ok=True)
    # convert into a fresh folder and move the results in: an old file under the same
    # name is never mistaken for a new conversion, and never half-overwritten
    with tempfile.TemporaryDirectory(prefix=".qz-convert-", dir=out_dir) as tmp:
        work = Path(tmp)
        expected = {f: work / f"{f.stem}.{target}" for f in files}
        pending, batch = list(files), BATCH
        for _ in range(attempts):
            for i in range(0, len(pending), batch):
                chunk = pending[i : i + batch]
                _run(soffice, chunk, target, work, timeout=60 + timeout_per_file * len(chunk))
            pending = [f for f in pending if not expected[f].exists()]
            if not pending:
                break
            batch = max(1, batch // 4)
        converted = []
        for f in files:
            if expected[f].exists():
                os.replace(expected[f], out_dir / expected[f].name)
                converted.append(out_dir / expected[f].name)
    return converted, pending
