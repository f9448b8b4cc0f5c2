"""A photo's metadata: every EXIF tag as exifread names it, the raw EXIF block, capture time."""

from __future__ import annotations

import contextlib
import io
import logging
import struct
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import exifread
from PIL import Image

from photorescue_batch import photo  # noqa: F401  (registers the HEIF opener with Pillow)
from photorescue_batch.blocks import MetadataBlock, jpeg_header, read_blocks
from photorescue_batch.blocks import capture_time as block_capture_time
from photorescue_batch.blocks import tags as block_tags

EXIF_HEADER = b"Exif\x00\x00"
TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
ORIENTATION_TAG = 0x0112
# exifread's own notes about odd files are not our user's business; problems are recorded.
logging.getLogger("exifread").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class PhotoMetadata:
    """What the sidecar keeps of a photo besides its pixels."""

    captured: str | None = None  # ISO 8601, from EXIF DateTimeOriginal
    orientation: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    exif: bytes | None = None  # the raw TIFF-structured EXIF block, without the "Exif\0\0" prefix
    problem: str | None = None  # why some metadata could not be read; the photo is still kept
    blocks: tuple[MetadataBlock, ...] = ()  # XMP, IPTC, ICC, comments..., byte for byte


def read_metadata(path: Path, raw: bool = False, with_blocks: bool = True) -> PhotoMetadata:
    """Read the metadata of any supported photo without decoding its pixels.

    The raw block comes from Pillow (which reads it from JPEG, PNG, TIFF, WebP and, through
    pillow-heif, HEIC alike); exifread then names its tags, so HEIC files that exifread cannot
    open directly still get every tag. The other blocks (XMP, IPTC, ICC...) come byte for byte
    unless `with_blocks` is false; their dates stand in for a missing EXIF capture time.
    """
    if raw:
        return _raw_metadata(path)
    try:
        with Image.open(path) as image:
            block = image.info.get("exif") or _tiff_ifd(image)
            pillow_orientation = _pillow_orientation(image)
            others = read_blocks(_header(path, image.format), image) if with_blocks else ()
    except Exception as error:  # not an image at all: the frame step reports it
        return PhotoMetadata(problem=f"no metadata: {error}")
    meta = _from_block(block, pillow_orientation)
    if not others:
        return meta
    return replace(
        meta,
        blocks=others,
        captured=meta.captured or block_capture_time(others),
        tags={**meta.tags, **block_tags(others)},
    )


def _header(path: Path, image_format: str | None) -> bytes:
    """The bytes `read_blocks` parses itself: a JPEG's segments before the image data, a PNG
    whole (its text may follow the pixels). Other formats' blocks come through Pillow."""
    if image_format not in ("JPEG", "MPO", "PNG"):
        return b""
    with open(path, "rb") as f:
        return jpeg_header(f) if image_format != "PNG" else f.read()


def _from_block(raw: bytes | None, pillow_orientation: int = 1) -> PhotoMetadata:
    """Name the tags of a raw EXIF block; a damaged block is kept, with the problem noted."""
    if not raw:
        return PhotoMetadata(orientation=pillow_orientation)
    raw = raw.removeprefix(EXIF_HEADER)
    with contextlib.suppress(ValueError):  # a damaged block is kept as it is
        raw = without_thumbnail(raw)
    try:
        tags = exifread.process_file(io.BytesIO(raw), details=False)
    except Exception as error:  # exifread raises many types on corrupt blocks
        return PhotoMetadata(
            orientation=pillow_orientation, exif=raw, problem=f"corrupt EXIF: {error}"
        )
    if not tags and not raw.startswith(TIFF_HEADERS):  # an empty but sound block is fine
        return PhotoMetadata(
            orientation=pillow_orientation, exif=raw, problem="corrupt EXIF: no tags could be read"
        )
    named = {name: str(value) for name, value in tags.items() if not name.startswith("JPEG")}
    return PhotoMetadata(
        captured=capture_time(named),
        orientation=_orientation(tags) or pillow_orientation,
        tags=named,
        exif=raw,
    )


# IFD0 tags a RAW file's EXIF block keeps (the rest of its IFD0 describes the sensor data).
_RAW_IFD0 = (0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x8298)  # Make ... Copyright
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825


def _raw_metadata(path: Path) -> PhotoMetadata:
    """A RAW photo's EXIF. Most RAW formats are TIFF files, whose IFD0 and Exif IFD hold the
    camera's tags: they are copied into a block of their own, which restore can put on a JPEG."""
    try:
        exif = Image.Exif()
        exif.load(path.read_bytes())
        block = Image.Exif()
        for tag in _RAW_IFD0:
            if tag in exif:
                block[tag] = exif[tag]
        for pointer in (_EXIF_IFD, _GPS_IFD):
            if ifd := exif.get_ifd(pointer):
                block[pointer] = ifd
        data = block.tobytes() if len(block) else None
    except Exception as error:  # not TIFF-based (CR3, RAF...) or damaged
        return PhotoMetadata(problem=f"no EXIF could be read from this RAW file: {error}")
    return _from_block(data, _orientation_of(exif))


def _orientation_of(exif: Image.Exif) -> int:
    value = exif.get(ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def capture_time(tags: dict[str, str]) -> str | None:
    """DateTimeOriginal as ISO 8601 (with its offset when the camera recorded one)."""
    value = tags.get("EXIF DateTimeOriginal", "").strip()
    try:
        moment = datetime.strptime(value, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = tags.get("EXIF OffsetTimeOriginal", "").strip()
    return moment.isoformat() + (offset if len(offset) == 6 and offset[3] == ":" else "")


def _orientation(tags: dict) -> int | None:
    tag = tags.get("Image Orientation")
    try:
        value = int(tag.values[0])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return value if 1 <= value <= 8 else None


def _tiff_ifd(image: Image.Image) -> bytes | None:
    """A TIFF keeps its camera tags in its own first IFD rather than in an EXIF block."""
    if image.format != "TIFF":
        return None
    try:
        return image.getexif().tobytes()
    except Exception:
        return None


def _pillow_orientation(image: Image.Image) -> int:
    if image.format == "PNG" and "exif" not in image.info:
        # Pillow would decode the whole image to look for an eXIf chunk after the pixels (a
        # 600 MP scan: GBs, outside the memory budget); one before them is in `info` already.
        return 1
    try:
        value = int(image.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # a corrupt block must not stop the photo from being kept
        return 1
    return value if 1 <= value <= 8 else 1


# Tags restore rewrites in place: orientation (the pixels are upright now) and pixel sizes.
_TAG_WIDTHS = (0x0100, 0xA002)  # ImageWidth (IFD0), PixelXDimension (Exif IFD)
_TAG_HEIGHTS = (0x0101, 0xA003)  # ImageLength (IFD0), PixelYDimension (Exif IFD)
_SUB_IFDS = (0x8769, 0x8825, 0xA005)  # Exif, GPS and Interoperability IFD pointers
_THUMBNAIL_OFFSET, _THUMBNAIL_LENGTH = 0x0201, 0x0202
_SHORT, _LONG = 3, 4
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


@dataclass(frozen=True)
class _Entry:
    tag: int
    kind: int
    count: int
    at: int  # where the 12-byte entry starts

    def value(self, data: bytes, order: str) -> int:
        fmt = "H" if self.kind == _SHORT else "I"
        return struct.unpack_from(order + fmt, data, self.at + 8)[0]

    def data_end(self, data: bytes, order: str) -> int:
        """Where this entry's value ends in the block (0 if it sits inside the entry)."""
        size = _TYPE_SIZES.get(self.kind, 1) * self.count
        return 0 if size <= 4 else struct.unpack_from(order + "I", data, self.at + 8)[0] + size


class _Tiff:
    """Just enough of a TIFF-structured EXIF block to patch values and drop the thumbnail."""

    def __init__(self, raw: bytes) -> None:
        if not raw.startswith(TIFF_HEADERS):
            raise ValueError("not a TIFF-structured EXIF block")
        self.order = "<" if raw[:2] == b"II" else ">"
        self.data = bytearray(raw)

    def unpack(self, fmt: str, at: int) -> tuple:
        try:
            return struct.unpack_from(self.order + fmt, self.data, at)
        except struct.error as error:
            raise ValueError(f"damaged EXIF block at offset {at}") from error

    def entries(self, offset: int) -> list[_Entry]:
        (count,) = self.unpack("H", offset)
        return [_Entry(*self.unpack("HHI", offset + 2 + 12 * n), offset + 2 + 12 * n)
                for n in range(count)]  # fmt: skip

    def main_ifds(self) -> list[int]:
        """IFD0 and the Exif, GPS and Interoperability IFDs it leads to (not IFD1)."""
        ifds, todo = [], [self.unpack("I", 4)[0]]
        while todo:
            offset = todo.pop()
            if offset in ifds or not 8 <= offset < len(self.data):
                continue
            ifds.append(offset)
            todo += [e.value(self.data, self.order) for e in self.entries(offset)
                     if e.tag in _SUB_IFDS]  # fmt: skip
        return ifds


def upright_exif(raw: bytes, width: int, height: int) -> bytes:
    """The raw EXIF block, byte for byte, but with Orientation 1 and the new pixel size.

    The values are patched where they stand, so every other byte (maker notes included) stays
    as the camera wrote it. Raises ValueError on a block too damaged to patch safely.
    """
    tiff = _Tiff(raw)
    values = {ORIENTATION_TAG: 1}
    values.update(dict.fromkeys(_TAG_WIDTHS, width))
    values.update(dict.fromkeys(_TAG_HEIGHTS, height))
    for offset in tiff.main_ifds():
        for e in tiff.entries(offset):
            if e.tag in values and e.count == 1 and e.kind in (_SHORT, _LONG):
                fmt = "H" if e.kind == _SHORT else "I"
                struct.pack_into(tiff.order + fmt, tiff.data, e.at + 8, values[e.tag])
    return bytes(tiff.data)


def without_thumbnail(raw: bytes) -> bytes:
    """The EXIF block without its embedded preview (IFD1), which restore does not need.

    The preview is often most of the block. It is unlinked, and cut off when it and IFD1 lie
    past everything else the block holds (the usual layout); otherwise only unlinked.
    """
    tiff = _Tiff(raw)
    ifd0 = tiff.unpack("I", 4)[0]
    (count,) = tiff.unpack("H", ifd0)
    link = ifd0 + 2 + 12 * count
    (ifd1,) = tiff.unpack("I", link)
    if ifd1 == 0:
        return raw
    cut = ifd1
    for e in tiff.entries(ifd1):
        if e.tag == _THUMBNAIL_OFFSET:
            cut = min(cut, e.value(tiff.data, tiff.order))
    kept_end = 8
    for offset in tiff.main_ifds():
        entries = tiff.entries(offset)
        kept_end = max(kept_end, offset + 6 + 12 * len(entries))
        kept_end = max([kept_end, *(e.data_end(tiff.data, tiff.order) for e in entries)])
    struct.pack_into(tiff.order + "I", tiff.data, link, 0)
    if cut >= kept_end:
        del tiff.data[cut:]
    return bytes(tiff.data)
