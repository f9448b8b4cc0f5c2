"""A photo's metadata: every EXIF tag as exifread names it, the raw EXIF block, capture time."""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import exifread
from PIL import Image

from photorescue_batch import photo  # noqa: F401  (registers the HEIF opener with Pillow)

EXIF_HEADER = b"Exif\x00\x00"
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


def read_metadata(path: Path) -> PhotoMetadata:
    """Read the metadata of any supported photo without decoding its pixels.

    The raw block comes from Pillow (which reads it from JPEG, PNG, TIFF, WebP and, through
    pillow-heif, HEIC alike); exifread then names its tags, so HEIC files that exifread cannot
    open directly still get every tag.
    """
    try:
        with Image.open(path) as image:
            raw = image.info.get("exif") or _tiff_ifd(image)
            pillow_orientation = _pillow_orientation(image)
    except Exception as error:  # not an image at all: the frame step reports it
        return PhotoMetadata(problem=f"no metadata: {error}")
    if not raw:
        return PhotoMetadata(orientation=pillow_orientation)
    raw = raw.removeprefix(EXIF_HEADER)
    try:
        tags = exifread.process_file(io.BytesIO(raw), details=False)
    except Exception as error:  # exifread raises many types on corrupt blocks
        return PhotoMetadata(
            orientation=pillow_orientation, exif=raw, problem=f"corrupt EXIF: {error}"
        )
    if not tags:
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
    try:
        value = int(image.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # a corrupt block must not stop the photo from being kept
        return 1
    return value if 1 <= value <= 8 else 1


# Tags restore rewrites in place: orientation (the pixels are upright now) and pixel sizes.
_TAG_WIDTHS = (0x0100, 0xA002)  # ImageWidth (IFD0), PixelXDimension (Exif IFD)
_TAG_HEIGHTS = (0x0101, 0xA003)  # ImageLength (IFD0), PixelYDimension (Exif IFD)
_TAG_EXIF_IFD = 0x8769
_SHORT, _LONG = 3, 4


def upright_exif(raw: bytes, width: int, height: int) -> bytes:
    """The raw EXIF block, byte for byte, but with Orientation 1 and the new pixel size.

    The values are patched where they stand, so every other byte (maker notes included) stays
    as the camera wrote it. Raises ValueError on a block too damaged to patch safely.
    """
    if raw[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ValueError("not a TIFF-structured EXIF block")
    order = "<" if raw[:2] == b"II" else ">"
    data = bytearray(raw)
    values = {ORIENTATION_TAG: 1}
    values.update(dict.fromkeys(_TAG_WIDTHS, width))
    values.update(dict.fromkeys(_TAG_HEIGHTS, height))
    ifd0 = struct.unpack_from(order + "I", data, 4)[0]
    exif_ifd = _patch_ifd(data, order, ifd0, values)
    if exif_ifd:
        _patch_ifd(data, order, exif_ifd, values)
    return bytes(data)


def _patch_ifd(data: bytearray, order: str, offset: int, values: dict[int, int]) -> int | None:
    """Patch one IFD's entries in place; returns the Exif sub-IFD's offset if it points to one."""
    try:
        (count,) = struct.unpack_from(order + "H", data, offset)
        exif_ifd = None
        for n in range(count):
            entry = offset + 2 + 12 * n
            tag, kind, number = struct.unpack_from(order + "HHI", data, entry)
            if tag == _TAG_EXIF_IFD:
                exif_ifd = struct.unpack_from(order + "I", data, entry + 8)[0]
            elif tag in values and number == 1 and kind in (_SHORT, _LONG):
                struct.pack_into(
                    order + ("H" if kind == _SHORT else "I"), data, entry + 8, values[tag]
                )
    except struct.error as error:
        raise ValueError(f"damaged IFD at offset {offset}") from error
    return exif_ifd
