"""What a JPEG holds after its image ends: a motion photo's clip, and whatever else is there.

Phones append to the JPEG they write: a Pixel's Motion Photo its MP4 (described by the XMP's
`GCamera:MotionPhoto` and `Container:Directory`, or, on older `MVIMG_` files, by
`GCamera:MicroVideoOffset`), a Galaxy its clip after a `MotionPhoto_Data` marker, apps their own
trailers. A frame cannot hold those bytes, so they are kept byte for byte and put back after the
restored JPEG's end, where every reader looks for them: the directory's lengths and the offsets
count from the end of the file, so they stay true.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path

# A trailer this small (a newline an editor added, padding) goes into the sidecar, as a
# metadata block of this kind, instead of a file of its own beside the frames.
INLINE_TRAILER = 4096
AFTER_IMAGE = "after-image"
_MARKER = re.compile(rb"\xff+([^\x00\xff\xd0-\xd7])")  # a marker in or after entropy-coded data
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


@dataclass(frozen=True)
class Found:
    """A JPEG's trailer: where it starts, what it is, and its bytes where they are few."""

    start: int
    kind: str
    inline: bytes | None  # the bytes themselves, up to INLINE_TRAILER (a stray newline)


def find_trailer(path: Path, xmp: bytes | None) -> Found | None:
    """The file's trailer, or None if it has none (or is not a JPEG). Where the XMP lays out
    what follows the image (a Container:Directory: an HDR gain map, then the clip), that is all
    of it, so the directory's lengths stay true; else the multi-picture images Pillow reads as
    images of their own (a stereo pair's second view) are passed over. One open, one map."""
    described = b"Container:Directory" in (xmp or b"")
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8" or f.seek(0, 2) < 4:
            return None
        f.seek(-2, 2)
        if not described and f.read(2) == b"\xff\xd9":
            return None  # nearly every photo: nothing after its image, and no walk through it
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            start = _after_eoi(data, 2)
            if start is not None and not described:
                while data[start : start + 2] == b"\xff\xd8" and (
                    nxt := _after_eoi(data, start + 2)
                ):
                    start = nxt
            if start is None or start >= len(data):
                return None
            inline = data[start:] if len(data) - start <= INLINE_TRAILER else None
            return Found(start, _kind(data, start, xmp), inline)


def image_end(path: Path) -> int | None:
    """Where the JPEG's first image ends (just after its EOI marker), whatever follows; None
    for a file that is not a JPEG or is cut short."""
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            return None
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _after_eoi(data, 2)


def _after_eoi(data: mmap.mmap, at: int) -> int | None:
    """Walk a JPEG's segments from `at` (after SOI) to its EOI; the offset after it."""
    size = len(data)
    while at + 2 <= size:
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == _EOI:
            return at + 2
        if marker in _STANDALONE:
            at += 2
            continue
        if at + 4 > size:
            return None
        (length,) = struct.unpack_from(">H", data, at + 2)
        at += 2 + length
        if marker == _SOS:  # entropy-coded data runs to the next real marker
            found = _MARKER.search(data, at)
            if found is None:
                return None
            at = found.start(1) - 1
    return None


def _kind(data: mmap.mmap, start: int, xmp: bytes | None) -> str:
    """What a trailer is, from the photo's XMP and the trailer's own bytes, for people."""
    text = (xmp or b"").decode("utf-8", "replace")
    if "MotionPhoto" in text or "MicroVideo" in text:
        return "Google motion photo clip"
    if data.find(b"MotionPhoto_Data", start) >= 0:
        return "Samsung motion photo clip"
    if data[start + 4 : start + 8] == b"ftyp":
        return "video after the JPEG"
    return "bytes after the JPEG's end"
