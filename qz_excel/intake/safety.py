"""Checks a returned file must pass before any workbook parser sees it.

The limits follow Apache POI's ZipSecureFile (part count, declared sizes, a minimum
compression ratio) plus what our own form allows: its cells lie in a small rectangle (rows
below 10000, columns up to GR), so a cell far away (python-calamine allocates the whole grid up to the furthest cell and aborts
the process on A1…XFD1048576) is refused here. XML parts may not carry a DOCTYPE or ENTITY
(billion laughs, external entities). A filled template is about 20 KB; the limits are
generous for real files and cheap to check.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

MiB = 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"  # a zip's first bytes: the local header of its first part


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 20 * MiB
    parts: int = 1000
    part_bytes: int = 100 * MiB  # declared uncompressed size of one part
    total_bytes: int = 300 * MiB  # declared uncompressed size of all parts
    min_inflate_ratio: float = 0.01  # compressed / uncompressed, as POI
    ratio_grace_bytes: int = 100 * 1024  # small parts compress as they like


LIMITS = Limits()


class Unsafe(Exception):
    """A file refused before parsing; ``code`` is a problem code."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


_XML_PART = re.compile(r"\.(xml|rels|vml)$", re.I)
# parts no workbook reader we use ever parses: their XML cannot hurt us
_UNREAD_PART = re.compile(r"^(docProps/|xl/theme/|xl/printerSettings/|customXml/|Thumbnails/)", re.I)
_WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.I)
# A reference beyond the form's bounds (columns after GR = 200, rows from 10000 on), in a
# cell's or row's r="…" or the sheet's <dimension ref="…">. This check runs on every file:
# a regex with a literal prefix runs in C at ~1 µs per KB, and a hit is then confirmed to be
# an attribute named r (whitespace before it) rather than the end of another name.
_FAR = rb"(?:(?:[A-Z]{3,}|G[S-Z]|[H-Z][A-Z])[0-9]|[A-Z]*[0-9]{5,}\b)"
_FAR_REF = re.compile(rb'r="' + _FAR)
_ATTRIBUTE_SPACE = b" \t\r\n"
_FAR_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*?\bref="(?:[^":]*:)?' + _FAR)
_ROOT_TAG = re.compile(rb"<[A-Za-z_]")  # the first element: the prolog ends here
PROLOG_BYTES = 4096
_REF_TEXT = re.compile(rb'="(?:[^":]*:)?([A-Z]*[0-9]+)')


def check_size(size: int, limits: Limits = LIMITS) -> None:
    if size > limits.file_bytes:
        raise Unsafe("TOO_LARGE", f"文件大小 {size / MiB:.1f} MB，超过 {limits.file_bytes // MiB} MB 上限")


@dataclass
class Checked:
    """What the check opened, for whoever reads the file next: the archive (its directory
    parsed) and the worksheets it inflated whole, by part name."""

    archive: zipfile.ZipFile
    worksheets: dict[str, bytes]


def check_zip(data: bytes, limits: Limits = LIMITS) -> Checked:
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
        raise Unsafe(
            "TOO_LARGE", f"解压后声明 {total / MiB:.0f} MB，超过 {limits.total_bytes // MiB} MB 上限（疑似压缩炸弹）"
        )
    for info in infos:
        if info.file_size > limits.part_bytes:
            raise Unsafe("TOO_LARGE", f"部件 {info.filename} 解压后 {info.file_size / MiB:.0f} MB，疑似压缩炸弹")
        if info.file_size > limits.ratio_grace_bytes and info.compress_size / info.file_size < limits.min_inflate_ratio:
            raise Unsafe(
                "TOO_LARGE",
                f"部件 {info.filename} 压缩比异常（{info.file_size // max(1, info.compress_size)}:1），疑似压缩炸弹",
            )
    _check_not_encrypted(data, infos)
    worksheets = {}
    for info in infos:
        if (_XML_PART.search(info.filename) and not _UNREAD_PART.match(info.filename)) or info.filename in (
            "content.xml",
            "styles.xml",
        ):
            xml = _check_xml_part(data, info)
            if xml is not None:
                worksheets[info.filename] = xml
    return Checked(archive, worksheets)


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # as zipfile's structFileHeader
ODF_MANIFEST = "META-INF/manifest.xml"


def _check_not_encrypted(data: bytes, infos: list[zipfile.ZipInfo]) -> None:
    """An .ods saved with a password keeps its parts encrypted and says so in its manifest
    (an encrypted .xlsx is an OLE file, caught before this)."""
    manifest = next((i for i in infos if i.filename == ODF_MANIFEST), None)
    if manifest is None:
        return
    try:
        text = read_part(data, manifest, 1024 * 1024)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError):
        return  # the XML checks below report a broken manifest
    if b"encryption-data" in text:
        raise Unsafe("ENCRYPTED", "文件设有密码")


def read_part(data: bytes, info: zipfile.ZipInfo, limit: int) -> bytes:
    """At most ``limit`` bytes of a part, inflated straight from the archive's bytes.
    zipfile has parsed the directory; opening each member through it costs more than the
    inflating itself on a 20 KB workbook, and this check runs on every file."""
    start = info.header_offset
    header = data[start : start + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or header[:4] != ZIP_MAGIC:
        raise zipfile.BadZipFile("局部文件头不正确")
    fields = _LOCAL_HEADER.unpack(header)
    start += _LOCAL_HEADER.size + fields[10] + fields[11]  # then the name and extra field
    raw = memoryview(data)[start : start + info.compress_size]
    if info.flag_bits & 0x1:
        raise NotImplementedError("部件已加密")
    if info.compress_type == zipfile.ZIP_STORED:
        return bytes(raw[:limit])
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, limit)  # never past the limit
    raise NotImplementedError(f"不支持的压缩方式 {info.compress_type}")


def _check_xml_part(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """DOCTYPE (and so ENTITY, which can only be declared inside one) may only stand in the
    prolog, before the root element: that is all a part needs decompressed for it. A
    worksheet is read whole, for the bounds check."""
    whole = bool(_WORKSHEET.match(info.filename))
    try:
        # never more than declared: a lying header stops here
        xml = read_part(data, info, info.file_size + 1 if whole else PROLOG_BYTES)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
        raise Unsafe("CORRUPT", f"部件 {info.filename} 无法解压：{exc}") from None
    root = _ROOT_TAG.search(xml, 0, PROLOG_BYTES)
    if root is None and len(xml) >= PROLOG_BYTES:
        raise Unsafe("UNSAFE_XML", f"部件 {info.filename} 的 XML 开头异常（超过 {PROLOG_BYTES} 字节仍无根元素）")
    prolog = xml[: root.start()] if root else xml
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise Unsafe("UNSAFE_XML", f"部件 {info.filename} 含 DOCTYPE/ENTITY 声明")
    if whole:
        _check_bounds(info.filename, xml)
        return xml
    return None


def _check_bounds(name: str, xml: bytes) -> None:
    far = next(
        (m for m in _FAR_REF.finditer(xml) if m.start() and xml[m.start() - 1] in _ATTRIBUTE_SPACE), None
    ) or _FAR_DIMENSION.search(xml, 0, 4096)
    if far:
        found = _REF_TEXT.search(xml, far.start(), far.start() + 200)
        ref = found.group(1).decode("ascii") if found else "?"
        raise Unsafe(
            "TOO_LARGE",
            f"工作表 {name.rsplit('/', 1)[-1]} 用到了单元格 {ref}，远超填报表范围（请勿在表格远处填写内容）",
        )
