"""Checks a returned file must pass before any workbook parser sees it.

The limits follow Apache POI's ZipSecureFile (part count, declared sizes, a minimum
compression ratio) plus what our own form allows: its cells lie in a small rectangle, so
a cell far away (python-calamine allocates the whole grid up to the furthest cell and aborts
the process on A1…XFD1048576) is refused here. XML parts may not carry a DOCTYPE or ENTITY
(billion laughs, external entities). A filled template is about 20 KB; the limits are
generous for real files and cheap to check.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 20 * MiB
    parts: int = 1000
    part_bytes: int = 100 * MiB  # declared uncompressed size of one part
    total_bytes: int = 300 * MiB  # declared uncompressed size of all parts
    min_inflate_ratio: float = 0.01  # compressed / uncompressed, as POI
    ratio_grace_bytes: int = 100 * 1024  # small parts compress as they like
    rows: int = 10_000  # the form has about 70; room for notes users add
    columns: int = 200


LIMITS = Limits()


class Unsafe(Exception):
    """A file refused before parsing; ``code`` is a problem code."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


_XML_PART = re.compile(r"\.(xml|rels|vml)$", re.I)
_WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.I)
_CELL_REF = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,3})([0-9]{1,7})"')
_ROW_REF = re.compile(rb'<(?:\w+:)?row\b[^>]*?\br="([0-9]{1,7})"')
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*?\bref="[A-Z]*[0-9]*:?([A-Z]{1,3})([0-9]{1,7})"')


def column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def check_size(size: int, limits: Limits = LIMITS) -> None:
    if size > limits.file_bytes:
        raise Unsafe("TOO_LARGE", f"文件大小 {size / MiB:.1f} MB，超过 {limits.file_bytes // MiB} MB 上限")


def check_zip(data: bytes, limits: Limits = LIMITS) -> None:
    """An OOXML or ODS container: sizes, ratios, XML safety, cell bounds."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise Unsafe("CORRUPT", f"压缩包不完整或已损坏：{exc}") from None
    if len(infos) > limits.parts:
        raise Unsafe("TOO_LARGE", f"包含 {len(infos)} 个部件，超过 {limits.parts} 个上限")
    total = sum(i.file_size for i in infos)
    if total > limits.total_bytes:
        raise Unsafe("TOO_LARGE", f"解压后声明 {total / MiB:.0f} MB，超过 {limits.total_bytes // MiB} MB 上限（疑似压缩炸弹）")
    for info in infos:
        if info.file_size > limits.part_bytes:
            raise Unsafe("TOO_LARGE", f"部件 {info.filename} 解压后 {info.file_size / MiB:.0f} MB，疑似压缩炸弹")
        if info.file_size > limits.ratio_grace_bytes and info.compress_size / info.file_size < limits.min_inflate_ratio:
            raise Unsafe("TOO_LARGE", f"部件 {info.filename} 压缩比异常（{info.file_size // max(1, info.compress_size)}:1），疑似压缩炸弹")
    for info in infos:
        if _XML_PART.search(info.filename) or info.filename in ("content.xml", "styles.xml"):
            _check_xml_part(archive, info, limits)


def _check_xml_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> None:
    try:
        with archive.open(info) as fh:
            xml = fh.read(info.file_size + 1)  # never more than declared: a lying header stops here
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise Unsafe("CORRUPT", f"部件 {info.filename} 无法解压：{exc}") from None
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise Unsafe("UNSAFE_XML", f"部件 {info.filename} 含 DOCTYPE/ENTITY 声明")
    if _WORKSHEET.match(info.filename):
        _check_bounds(info.filename, xml, limits)


def _check_bounds(name: str, xml: bytes, limits: Limits) -> None:
    far_row = far_col = 0
    for match in _CELL_REF.finditer(xml):
        far_col = max(far_col, column_number(match.group(1)))
        far_row = max(far_row, int(match.group(2)))
    for match in _ROW_REF.finditer(xml):
        far_row = max(far_row, int(match.group(1)))
    dim = _DIMENSION.search(xml[:4096])
    if dim:
        far_col = max(far_col, column_number(dim.group(1)))
        far_row = max(far_row, int(dim.group(2)))
    if far_row > limits.rows or far_col > limits.columns:
        raise Unsafe("TOO_LARGE", f"工作表 {name.rsplit('/', 1)[-1]} 用到了第 {far_row} 行、第 {far_col} 列，"
                                  f"远超填报表范围（请勿在表格远处填写内容）")
