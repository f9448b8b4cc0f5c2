"""Metadata blocks besides EXIF, byte for byte: XMP, IPTC, ICC profiles, comments, PNG text.

They are read from the original (JPEG segments as they stand in the file; other formats through
Pillow), kept in the sidecar, and written back into the restored JPEG unchanged: XMP in APP1
(extended XMP in the APP1 segments that carried it), IPTC in APP13, the ICC profile in APP2
chunks, comments as COM. Ratings, keywords, captions, people and edits live in these blocks.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from PIL import Image

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXTENSION_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
PHOTOSHOP_HEADER = b"Photoshop 3.0\x00"
ICC_HEADER = b"ICC_PROFILE\x00"
ICC_CHUNK = 65519  # the most profile bytes one APP2 segment carries after its header
_APP1, _APP2, _APP13, _COM, _SOS = 0xE1, 0xE2, 0xED, 0xFE, 0xDA
_STANDALONE = {0x01, *range(0xD0, 0xDA)}  # markers without a length: TEM, RSTn, SOI, EOI
IPTC_RESOURCE = 0x0404  # the Photoshop image resource that holds the IPTC-IIM records


@dataclass(frozen=True)
class MetadataBlock:
    """One block of a photo's metadata, byte for byte.

    kind: xmp (the packet), xmp-extended (one APP1 payload after its header), iptc (the
    Photoshop image resources of APP13, IPTC-IIM inside), icc (the whole profile), comment,
    png-text (a tEXt, zTXt or iTXt chunk: its type, then its data), after-image (the few bytes
    that followed a JPEG's image, a stray newline say: trailer.py).
    """

    kind: str
    data: bytes


def read_blocks(data: bytes, image: Image.Image) -> tuple[MetadataBlock, ...]:
    """Every metadata block of a photo opened by Pillow as `image`; `data` is a JPEG's header
    or a PNG's bytes, which are parsed here, and empty for formats Pillow reads them from."""
    if data.startswith(b"\xff\xd8"):
        return _jpeg_blocks(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_blocks(data)
    blocks = []
    xmp = image.info.get("xmp") or _tiff_tag(image, 700)
    if xmp:
        blocks.append(MetadataBlock("xmp", xmp if isinstance(xmp, bytes) else xmp.encode()))
    iptc = _tiff_tag(image, 33723)
    if iptc:
        blocks.append(MetadataBlock("iptc", photoshop_resource(IPTC_RESOURCE, iptc)))
    if image.info.get("icc_profile"):
        blocks.append(MetadataBlock("icc", image.info["icc_profile"]))
    return tuple(blocks)


def jpeg_segments(blocks: tuple[MetadataBlock, ...] | list[MetadataBlock]) -> bytes:
    """The JPEG segments that carry `blocks` (PNG text has no place in a JPEG)."""
    out = []
    for block in blocks:
        if block.kind == "xmp":
            out.append(_segment(_APP1, XMP_HEADER + block.data))
        elif block.kind == "xmp-extended":
            out.append(_segment(_APP1, XMP_EXTENSION_HEADER + block.data))
        elif block.kind == "iptc":
            out.append(_segment(_APP13, PHOTOSHOP_HEADER + block.data))
        elif block.kind == "icc" and icc_colour_space(block.data) == b"RGB ":
            chunks = [block.data[i : i + ICC_CHUNK] for i in range(0, len(block.data), ICC_CHUNK)]
            for n, chunk in enumerate(chunks, start=1):
                out.append(_segment(_APP2, ICC_HEADER + bytes([n, len(chunks)]) + chunk))
        elif block.kind == "comment":
            out.append(_segment(_COM, block.data))
    return b"".join(out)


def insert_segments(jpeg: bytes, segments: bytes) -> bytes:
    """A JPEG with `segments` put after its leading APPn segments (JFIF, EXIF)."""
    at = 2
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF and 0xE0 <= jpeg[at + 1] <= 0xEF:
        at += 2 + struct.unpack_from(">H", jpeg, at + 2)[0]
    return jpeg[:at] + segments + jpeg[at:]


def icc_colour_space(profile: bytes) -> bytes:
    """The data colour space an ICC profile's header names: b'RGB ', b'GRAY', b'CMYK'."""
    return profile[16:20]


def capture_time(blocks: tuple[MetadataBlock, ...]) -> str | None:
    """The capture time from XMP (photoshop:DateCreated, exif:DateTimeOriginal, xmp:CreateDate)
    or IPTC (Date Created and Time Created), for photos whose EXIF has none."""
    for block in blocks:
        if block.kind == "xmp":
            text = block.data.decode("utf-8", "replace")
            for name in ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate"):
                found = re.search(rf'{name}(?:="|>)([0-9][^"<]*)', text)
                if found and (moment := _iso(found.group(1))):
                    return moment
    for block in blocks:
        if block.kind == "iptc":
            records = iptc_records(block.data)
            date, time = records.get((2, 55)), records.get((2, 60))
            if date and len(date[0]) == 8:
                d, t = date[0].decode("ascii", "replace"), (time or [b"000000"])[0][:6]
                return _iso(f"{d[:4]}-{d[4:6]}-{d[6:]}T{t[:2].decode()}:{t[2:4].decode()}:"
                            f"{t[4:6].decode()}")  # fmt: skip
    return None


IPTC_NAMES = {
    (2, 5): "Object Name",
    (2, 25): "Keywords",
    (2, 55): "Date Created",
    (2, 80): "By-line",
    (2, 90): "City",
    (2, 101): "Country",
    (2, 105): "Headline",
    (2, 116): "Copyright Notice",
    (2, 120): "Caption",
}


def tags(blocks: tuple[MetadataBlock, ...]) -> dict[str, str]:
    """A readable view of the IPTC records and the XMP fields people search for."""
    named: dict[str, str] = {}
    for block in blocks:
        if block.kind == "iptc":
            for key, values in iptc_records(block.data).items():
                if key in IPTC_NAMES:
                    text = "; ".join(v.decode("utf-8", "replace") for v in values)
                    named[f"IPTC {IPTC_NAMES[key]}"] = text
        elif block.kind == "xmp":
            text = block.data.decode("utf-8", "replace")
            if rating := re.search(r'xmp:Rating(?:="|>)(-?\d+)', text):
                named["XMP Rating"] = rating.group(1)
            if subject := re.search(r"<dc:subject>(.*?)</dc:subject>", text, re.S):
                items = re.findall(r"<rdf:li[^>]*>(.*?)</rdf:li>", subject.group(1), re.S)
                named["XMP Keywords"] = "; ".join(items)
    return named


def iptc_records(resources: bytes) -> dict[tuple[int, int], list[bytes]]:
    """The IPTC-IIM records inside Photoshop image resources, by (record, dataset)."""
    records: dict[tuple[int, int], list[bytes]] = {}
    iim = _resource(resources, IPTC_RESOURCE) or b""
    at = 0
    while at + 5 <= len(iim) and iim[at] == 0x1C:
        record, dataset, size = iim[at + 1], iim[at + 2], struct.unpack_from(">H", iim, at + 3)[0]
        records.setdefault((record, dataset), []).append(iim[at + 5 : at + 5 + size])
        at += 5 + size
    return records


def photoshop_resource(resource_id: int, data: bytes) -> bytes:
    """One Photoshop image resource ('8BIM', id, empty name, size, data padded to even)."""
    padding = b"\x00" if len(data) % 2 else b""
    return b"8BIM" + struct.pack(">HHI", resource_id, 0, len(data)) + data + padding


def jpeg_header(f: BinaryIO) -> bytes:
    """A JPEG file's start, up to where its image data begins: every metadata segment, whole,
    without reading the (much larger) image data."""
    out = bytearray(f.read(2))
    while len(marker := f.read(2)) == 2 and marker[0] == 0xFF and marker[1] != _SOS:
        out += marker
        if marker[1] in _STANDALONE:
            continue
        length = f.read(2)
        out += length + f.read(
            max(0, struct.unpack(">H", length)[0] - 2) if len(length) == 2 else 0
        )
    return bytes(out)


def _jpeg_blocks(data: bytes) -> tuple[MetadataBlock, ...]:
    blocks, icc = [], {}
    for marker, payload in _jpeg_header_segments(data):
        if marker == _APP1 and payload.startswith(XMP_HEADER):
            blocks.append(MetadataBlock("xmp", payload[len(XMP_HEADER) :]))
        elif marker == _APP1 and payload.startswith(XMP_EXTENSION_HEADER):
            blocks.append(MetadataBlock("xmp-extended", payload[len(XMP_EXTENSION_HEADER) :]))
        elif marker == _APP13 and payload.startswith(PHOTOSHOP_HEADER):
            blocks.append(MetadataBlock("iptc", payload[len(PHOTOSHOP_HEADER) :]))
        elif marker == _APP2 and payload.startswith(ICC_HEADER) and len(payload) > 14:
            icc[payload[12]] = payload[14:]
        elif marker == _COM:
            blocks.append(MetadataBlock("comment", payload))
    if icc:
        blocks.append(MetadataBlock("icc", b"".join(icc[n] for n in sorted(icc))))
    return tuple(blocks)


def _jpeg_header_segments(data: bytes):
    """(marker, payload) of every segment before the image data starts."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker == _SOS:
            return
        size = struct.unpack_from(">H", data, at + 2)[0]
        yield marker, data[at + 4 : at + 2 + size]
        at += 2 + size


def _png_blocks(data: bytes) -> tuple[MetadataBlock, ...]:
    """PNG text chunks as they stand, the XMP of an iTXt chunk, and the ICC profile."""
    blocks = []
    at = 8
    while at + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        chunk = data[at + 8 : at + 8 + size]
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            blocks.append(MetadataBlock("png-text", kind + chunk))
            if kind == b"iTXt" and chunk.startswith(b"XML:com.adobe.xmp\x00\x00"):
                # keyword, NUL, compression flag 0, method, language NUL, translated NUL, text
                text = chunk.split(b"\x00", 5)[-1] if chunk.count(b"\x00") >= 5 else b""
                blocks.append(MetadataBlock("xmp", text))
        elif kind == b"iCCP":
            name_end = chunk.index(b"\x00")
            blocks.append(MetadataBlock("icc", zlib.decompress(chunk[name_end + 2 :])))
        elif kind == b"IEND":
            break
        at += 12 + size
    return tuple(blocks)


def _resource(resources: bytes, wanted: int) -> bytes | None:
    at = 0
    while at + 12 <= len(resources) and resources[at : at + 4] == b"8BIM":
        resource_id = struct.unpack_from(">H", resources, at + 4)[0]
        name_length = resources[at + 6]
        name_size = name_length + 1 + ((name_length + 1) % 2)  # a padded Pascal string
        size_at = at + 6 + name_size
        (size,) = struct.unpack_from(">I", resources, size_at)
        start = size_at + 4
        if resource_id == wanted:
            return resources[start : start + size]
        at = start + size + size % 2
    return None


def _tiff_tag(image: Image.Image, tag: int) -> bytes | None:
    value = getattr(image, "tag_v2", {}).get(tag) if image.format == "TIFF" else None
    if isinstance(value, tuple):
        value = bytes(value)
    return value if isinstance(value, bytes) and value else None


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _iso(text: str) -> str | None:
    """An XMP or IPTC date as ISO 8601 (to the second, with its offset where it has one)."""
    try:
        return datetime.fromisoformat(text.strip()).isoformat(timespec="seconds")
    except ValueError:
        return None
